"""How `make test` splits the suite over its two workers (tests/conftest.py): the units of work and their order."""
from tests.conftest import FIRST, work_unit


def test_a_module_is_a_unit_except_the_default_profile_and_ray_folders_and_the_endpoint_shards():
    assert work_unit("tests/unit/test_lm.py::test_a") == work_unit("tests/unit/test_lm.py::test_b[x]")
    assert work_unit("tests/unit/test_lm.py::test_a") != work_unit("tests/unit/test_cot.py::test_a")
    # every default-profile check on one worker, so that the Qwen models load once
    assert work_unit("tests/defaults/test_ewok_defaults.py::t") == work_unit("tests/defaults/test_browser_smoke.py::u")
    # the Ray tier on one worker, so that Ray starts once
    assert work_unit("tests/ray/test_cot_ray.py::t") == work_unit("tests/ray/test_sweeps_ray.py::u") == "tests/ray"
    shards = {work_unit(f"tests/app/test_props_endpoints.py::test_endpoints_reject[{i}]") for i in range(4)}
    assert len(shards) == 4


def test_the_longest_units_are_scheduled_first():
    assert FIRST[:2] == ("tests/defaults", "tests/ray") and "tests/app/test_props_endpoints.py" in FIRST
