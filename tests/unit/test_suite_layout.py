"""How `make test` splits the suite over its two workers (tests/conftest.py): the units of work and their order."""
from tests.conftest import FIRST, work_unit


def test_a_module_is_a_unit_except_the_default_profile_folder_and_the_endpoint_shards():
    assert work_unit("tests/unit/test_lm.py::test_a") == work_unit("tests/unit/test_lm.py::test_b[x]")
    assert work_unit("tests/unit/test_lm.py::test_a") != work_unit("tests/unit/test_cot.py::test_a")
    # every default-profile check on one worker, so that the Qwen models load once
    assert work_unit("tests/defaults/test_ewok_defaults.py::t") == work_unit("tests/defaults/test_browser_smoke.py::u")
    shards = {work_unit(f"tests/app/test_props_endpoints.py::test_endpoints_reject[{i}]") for i in range(4)}
    assert len(shards) == 4


def test_the_longest_units_are_scheduled_first():
    assert FIRST[0] == "tests/defaults" and "tests/app/test_props_endpoints.py" in FIRST
