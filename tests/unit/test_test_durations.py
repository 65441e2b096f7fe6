"""scripts/test_durations.py: reading the run's timeline (old five-column rows too) and the CPU seconds per folder."""
import io
import math

from scripts.test_durations import read_timeline, report_cpu, report_timeline


def test_timeline_rows_and_cpu_per_folder(tmp_path):
    (tmp_path / "timeline-gw0.tsv").write_text(
        "10.0\t14.0\t1.50\tgw0\ttests/app/test_a.py::test_one\t5.25\n"
        "14.0\t15.0\t2.00\tgw0\ttests/app/test_b.py::test_two\t1.75\n"
        "9.0\t11.0\t1.00\tgw0\ttests/unit/test_c.py::test_old\n")  # a row written before the CPU column
    (tmp_path / "timeline-gw1.tsv").write_text("10.0\t12.0\t2.00\tgw1\ttests/unit/test_c.py::test_new\t2.00\n")
    rows = read_timeline(tmp_path)
    assert [r[4].split("::")[1] for r in rows] == ["test_old", "test_new", "test_one", "test_two"]  # by start
    assert math.isnan(rows[0][5]) and rows[2][5] == 5.25
    out = io.StringIO()
    report_cpu(rows, out=out)
    text = out.getvalue()
    assert "9 in all" in text  # 5.25 + 1.75 + 2.00; the old row has no figure
    assert "     7.0  tests/app\n" in text and "     2.0  tests/unit\n" in text
    assert "     5.2  tests/app/test_a.py" in text
    report_timeline(rows, out=out)  # the six-column rows still feed the timeline report
    assert "idle core-seconds" in out.getvalue()
