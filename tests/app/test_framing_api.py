"""The framing tab through gradio_client: corpus plots for a range of years, a pasted text, bad input."""
import pytest

from backends.framing import corpus
from tabs.framing import CORPUS, EXPLORE, TEXT, UPLOAD

pytestmark = pytest.mark.app


def test_corpus_view_for_a_range_of_years(client, monkeypatch):
    # The app runs in this process: hide any on-disk cache from an earlier run, so that the years are
    # analysed here and now (a fresh CI machine has no cache either).
    monkeypatch.setattr(corpus, "cached_result", lambda **k: None)
    out = CORPUS.unpack(client.predict(1882, 1888, 5, api_name="/framing_corpus"))
    status = out["status"]
    assert "about immigration" in status and "1882–1888" in status and "computed in" in status
    assert out["tone_plot"] is not None and "The study" in out["tone_reading"]
    assert all("**Reading.**" in out[f"{k}_reading"] for k in ("president", "frames", "groups", "metaphors"))
    table = out["decade_table"]
    rows = table["data"] if isinstance(table, dict) else table
    assert [r[0] for r in rows] == [1880] and rows[0][5] is not None  # the 1880s row with an overall tone
    head = open(out["segments_csv"]).read()
    assert "tone_score" in head and "Chinese" in head
    aggregates = open(out["aggregates_csv"]).read()
    assert "tone_by_party" in aggregates and "tone_all" in aggregates


def test_pasted_text_is_analysed(client):
    text = ("The Chinese laborers who crowd into our Pacific ports depress the wages of American workingmen. "
            "I recommend that their further immigration be restricted by law.")
    out = TEXT.unpack(client.predict(text, False, api_name="/framing_text"))
    assert "about immigration" in out["summary"] and "labor" in out["summary"] and "Chinese ×" in out["summary"]
    assert 'class="fr-group"' in out["segments_html"] and 'class="fr-frame"' in out["segments_html"]
    assert out["tone_plot"] is not None and out["metaphor_plot"] is not None
    assert "p_anti" in open(out["csv"]).read()


def test_bad_inputs_are_clear(client):
    with pytest.raises(Exception, match="Text is empty"):
        client.predict("   ", False, api_name="/framing_text")
    with pytest.raises(Exception, match="after to year"):
        client.predict(1900, 1890, 10, api_name="/framing_corpus")
    out = EXPLORE.unpack(client.predict(1882, 1884, "any", "any", "quantity", "Cuban", "pro",
                                        api_name="/framing_explore"))
    assert "No segment matches" in out["summary"] and out["csv"] is None


def test_own_corpus_upload(client, tmp_path):
    from gradio_client import handle_file

    good = tmp_path / "mine.csv"
    good.write_text("text,year,party,speaker\n"
                    "\"We welcome immigrants and refugees; they enrich our nation.\",1990,Democratic,A\n"
                    "\"Illegal aliens must be deported and the border closed to criminals.\",2019,Republican,B\n"
                    "\"The tariff on steel will be lowered next year.\",2001,Republican,C\n", encoding="utf-8")
    out = UPLOAD.unpack(client.predict(handle_file(str(good)), 10, api_name="/framing_upload"))
    assert "3 rows read" in out["summary"] and "2 have a relevance keyword" in out["summary"]
    table = out["table"]
    rows = table["data"] if isinstance(table, dict) else table
    assert [r[0] for r in rows] == ["row2", "row3", "row4"] and rows[2][6] in (False, "false")  # no keyword
    assert out["tone_plot"] is not None and "tone_score" in open(out["csv"]).read()
    bad = tmp_path / "bad.csv"
    bad.write_text("text,year,party\nfine text,1990,D\nother,19x0,R\n", encoding="utf-8")
    with pytest.raises(Exception, match="Row 3: year '19x0'"):
        client.predict(handle_file(str(bad)), 10, api_name="/framing_upload")
