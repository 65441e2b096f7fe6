"""Property tests through the running app: every named API endpoint against hostile input.

Endpoints are discovered from the app's own API (so new tabs are covered as they land) and their
arguments drawn from each parameter's type: hostile text for strings, NaN/inf/huge/negative/wrong
types for numbers, unknown values for choices, malformed files and bare paths for uploads. Each
request must end within a time bound with a result or an error message fit for a user (no
traceback, no paths of the server), and the server must still answer afterwards.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests import props as P

pytestmark = pytest.mark.app
EXAMPLES_PER_ENDPOINT = 10
# Half of an endpoint's examples are hostile arguments, half hostile text with otherwise valid, cheap settings
# (those run a model or a training step): every hostile one is kept, the valid ones capped (tests/props.py). An
# endpoint without text or file parameters has no hostile text to pair with valid settings, so its valid half is
# one plain run; where its app test (tests/app/test_*_api.py) runs it already, that run is left to the app test.
# The endpoints are split into SHARDS tests, each its own unit of work, so that pytest-xdist's workers share them
# (each worker launches its own app for them).
SHARDS = 4
SECONDS = 120  # per request: generous for a contended 2-core machine; a hang is far longer
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]  # a slow failing input is not re-run to shrink it
TALLY = P.Tally(Path(__file__).resolve().parents[1] / "artifacts" / "props-endpoints.json")
UPLOADS = Path(tempfile.gettempdir()) / "workbench-prop-endpoint-uploads"

# Parameters drawn from bad values only, because their valid values start long jobs (a whole
# benchmark or evaluation) or change what every other user has loaded.
BAD_ONLY: dict[str, set[str]] = {
    "/detect_evaluate": {"target_fpr_pct"},
    "/cot_evaluate": {"n_problems"},
    "/models_load": {"name"},
    "/models_unload": {"name"},
    "/rag_evaluate": {"n_questions"},
    "/gptscore_meta": {"n_sources"},
    # ---- Endpoints of issues #6 (bandits), #8 (RAG) and #9 (framing) whose valid runs are long: add here. ----
}


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    yield
    TALLY.write()


def _file(spec: tuple[str, bytes]):
    suffix, data = spec
    UPLOADS.mkdir(parents=True, exist_ok=True)
    path = UPLOADS / f"u{abs(hash((suffix, data))) % 10**9}{suffix}"
    path.write_bytes(data)
    return handle_file(str(path))


def _uploads() -> st.SearchStrategy:
    files = st.tuples(st.sampled_from([".csv", ".jsonl", ".txt", ".exe", ".html", ".svg", ""]),
                      st.one_of(st.binary(max_size=200),
                                st.sampled_from([b"text\nhello world\n", b"\xff\xfe\x00", b'{"text": "\\ud800"}\n',
                                                 b"<svg onload=alert(1)>", b"text,label\nhi,maybe\n", b""])))
    bare = st.sampled_from(["/etc/passwd", "../../../../etc/passwd", "file:///etc/passwd", "http://127.0.0.1:1/x",
                            {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}, None, 3, []])
    return st.one_of(files.map(_file), bare)


# Valid settings that keep a model call short, for the half of the examples that pair hostile text with
# otherwise valid arguments (parameters not listed take the UI's default).
CHEAP: dict[str, dict[str, object]] = {
    "/cot_explore": {"k": 2, "max_tokens": 8, "model": "gemma3-270m"},
    "/early_exit_generate": {"max_tokens": 4, "speculations": 2, "model": "smollm2-135m-instruct"},
    "/early_exit_sweep": {"max_tokens": 4, "exits": "12", "specs": "2", "model": "smollm2-135m-instruct",
                          "backend": "in-process", "workers": 1},
    "/early_exit_lens": {"model": "smollm2-135m-instruct"},
    "/cosine_experiment": {"preset": "tiny (500 users, 100 items, 4 clusters)", "k": 5},
    "/detect": {"observer": "smollm2-135m-instruct", "performer": "smollm2-135m-instruct"},
    "/detect_batch": {"observer": "smollm2-135m-instruct", "performer": "smollm2-135m-instruct"},
    # Endpoints of issues #6 (bandits), #8 (RAG) and #9 (framing).
    "/bandit_run": {"codes": [], "horizon": 20, "replicates": 50, "llm_replicates": 1, "kind": "hard"},
    # Issue #19: the bandit grid plays one design for four rounds.
    "/bandit_grid": {"code_filter": "BNRN0", "grid_horizon": 4, "grid_replicates": 1, "replicates": 50, "kind": "hard",
                     "model": "smollm2-135m-instruct", "backend": "in-process", "workers": 1},
    "/rag_index": {"kind": "flat", "corpus": "State of the Union addresses (1790-2026)"},
    "/rag_answer": {"k": 2, "max_tokens": 4, "kind": "flat", "corpus": "State of the Union addresses (1790-2026)"},
    "/framing_corpus": {"year_from": 2000, "year_to": 2002, "period": 5},  # not the whole corpus
    "/framing_explore": {"year_from": 2000, "year_to": 2002},
    "/framing_text": {"zero_shot": False},
    "/gptscore_score": {"model": "smollm2-135m-instruct"},
    "/selective_run": {"n_questions": 2, "n_samples": 2, "model": "smollm2-135m-instruct"},
    "/ewok_evaluate": {"domains": ["social interactions"], "per_domain": 1, "model_names": ["smollm2-135m-instruct"]},
    "/ewok_pair": {"model": "smollm2-135m-instruct"},
    # Endpoints of issue #18: the valid half trains the fewest steps on the smallest size (a default run takes
    # minutes and holds the model queue, so the requests after it would time out waiting).
    "/bitnet_twins": {"widths": ["16"], "steps": 10},
    "/bitnet_ptq": {"model": "smollm2-135m-instruct", "blocks": 1},
    "/dus_experiment": {"hidden": "32", "arms": ["DUS"], "layers": 2, "m": 0, "base_steps": 10, "steps": 10},
    "/upcycling_compare": {"size": "2 layers x 64 (default)", "n_experts": 2, "budget_steps": 10, "extra_steps": 5},
    "/dus_step0": {"model": "smollm2-135m-instruct", "blocks": 1},
    "/upcycling_step0": {"model": "smollm2-135m-instruct", "blocks": 1},
    # Endpoints of issue #20: the fewest steps on the smallest networks, in-process.
    "/copying_train": {"archs": ["transformer", "lstm"], "alphabet": 8, "train_len": 4, "test_lens": "2, 4, 8",
                       "steps": 5, "scales": "1", "bits": 32},
    "/copying_pretrained": {"models": ["smollm2-135m-instruct"], "task": "lookup", "sizes": "3", "trials": 1},
    "/byte_models_train": {"size": "2+1 layers x 64 (quick)", "steps": 2, "mixture": ["csv"]},
    "/byte_models_cpu": {"sizes": "10", "steps": 1},
    "/byte_models_upload": {"n_bytes": 1, "sample": "csv"},
    "/lte_run": {"network": "toy", "heads": 2, "rank": 2, "merge_every": 2, "other_ts": "", "steps": 4, "batch": 4,
                 "workers": 1, "backend": "in-process"},
    # Endpoints of issue #21: a few tokens from the tiny models, the untrained router, the smallest sets.
    "/self_discover_discover": {"model": "smollm2-135m-instruct", "tokens": 4},
    "/self_discover_solve": {"model": "smollm2-135m-instruct", "tokens": 4},
    "/self_discover_evaluate": {"model": "smollm2-135m-instruct", "n": 1, "n_examples": 1, "sc_k": "1", "tokens": 4,
                                "cap_s": 30},
    "/model_graph_route": {"router": "similarity-minilm", "compare": False, "max_tokens": 8},
    "/model_graph_add_node": {"model": "smollm2-135m-instruct", "template": "{query}"},
    "/model_graph_routing": {"routers": ["similarity-minilm"], "splits": ["hard"]},
    "/model_graph_end_to_end": {"n_per_kind": 1, "router": "similarity-minilm", "max_tokens": 8, "seed": 0,
                                "load_all": False},
}


_DRAWN = object()  # what _fixed says of a parameter that the valid half draws


def _fixed(endpoint: str, param: dict) -> object:
    """The one value the valid half gives this parameter (a cheap setting or the UI's default), or _DRAWN where it
    draws one (hostile text, a file, a bad-only value)."""
    name, kind = param["parameter_name"], param["python_type"]["type"]
    if name in BAD_ONLY.get(endpoint, set()):
        return _DRAWN
    if name in CHEAP.get(endpoint, {}):
        return CHEAP[endpoint][name]
    if kind in ("str", "filepath"):
        return _DRAWN
    return param.get("parameter_default")


def _valid(endpoint: str, param: dict) -> st.SearchStrategy:
    """Hostile text, every other argument valid and cheap."""
    name, kind = param["parameter_name"], param["python_type"]["type"]
    value = _fixed(endpoint, param)
    if value is not _DRAWN:
        return st.just(value)
    if name in BAD_ONLY.get(endpoint, set()):
        return _strategy(endpoint, param)
    if kind == "str" and name in SHORT_TEXT.get(endpoint, set()):
        return st.text(st.characters(exclude_categories=()), max_size=200)
    if kind == "str":
        return P.texts(200)
    rows = st.lists(P.texts(60), min_size=1, max_size=3)  # a filepath: a small CSV of hostile texts
    return rows.map(lambda ts: (".csv", ("text\n" + "\n".join(
        '"' + t.replace('"', "") + '"' for t in ts)).encode("utf-8", "surrogatepass"))).map(_file)


def endpoints_run_by_app_tests() -> set[str]:
    """Endpoints that a tests/app/test_*_api.py file calls by name: a valid run of their own is owned there."""
    names: set[str] = set()
    for path in Path(__file__).parent.glob("test_*_api.py"):
        names |= set(re.findall(r'api_name="(/\w+)"', path.read_text()))
    return names


def _numbers(param: dict) -> st.SearchStrategy:
    return st.one_of(st.integers(0, 4), st.floats(0, 4), P.bad_numbers())


# Text parameters kept to short hostile text: a pasted RAG corpus may hold 3 million characters, and
# indexing the megabyte-long special cases takes minutes on 2 cores (reported to the RAG tab's owner).
SHORT_TEXT: dict[str, set[str]] = {"/rag_answer": {"pasted"}, "/rag_index": {"pasted"}}


def _strategy(endpoint: str, param: dict) -> st.SearchStrategy:
    kind = param["python_type"]["type"]
    name = param["parameter_name"]
    if kind == "str" and name in SHORT_TEXT.get(endpoint, set()):
        return st.one_of(st.text(st.characters(exclude_categories=()), max_size=200), st.sampled_from(P.WRONG_TYPES))
    bad_only = name in BAD_ONLY.get(endpoint, set())
    if name == "backend":  # a sweep's backend: in-process or invalid here; Ray has its own tier (tests/ray)
        return st.one_of(st.just("in-process"), P.texts(40), st.sampled_from(P.WRONG_TYPES))
    if kind.startswith("Literal["):
        choices = re.findall(r"'((?:[^'\\]|\\.)*)'", kind)
        return st.one_of(P.texts(40), st.sampled_from(P.WRONG_TYPES)) if bad_only else P.choice(choices)
    if kind == "str":
        return P.text_or_wrong(200)
    if kind in ("float", "int"):
        return P.bad_numbers() if bad_only else _numbers(param)
    if kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(P.WRONG_TYPES))
    if kind == "filepath":
        return _uploads()
    return st.sampled_from(P.WRONG_TYPES)


@pytest.fixture(scope="module")
def api(client):
    return client.view_api(print_info=False, return_format="dict")["named_endpoints"]


def _sendable(value):
    """JSON has no bytes or tuples: send bytes as text (latin-1) and tuples as lists."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [_sendable(v) for v in value]
    return value


def _client_can_send(args) -> bool:
    """gradio_client sends strict JSON in UTF-8: no NaN/inf and no lone surrogates."""
    try:
        json.dumps(args, allow_nan=False).encode("utf-8")
        json.dumps(args, ensure_ascii=False).encode("utf-8")
        return True
    except (ValueError, UnicodeEncodeError):
        return False


def raw_call(app_url: str, endpoint: str, args: list, timeout: float):
    """The app's REST API (POST /gradio_api/call/NAME, then read the event stream) with lenient JSON.

    Python's json writes NaN/Infinity and escapes lone surrogates (\\ud800), as any HTTP client could.
    Returns the output list, or raises AppError with the message the server sent.
    """
    name = endpoint.lstrip("/")
    body = json.dumps({"data": args}).encode()
    req = urllib.request.Request(f"{app_url}gradio_api/call/{name}", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        event_id = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
    except urllib.error.HTTPError as e:  # refused before queueing (e.g. the body does not parse)
        raise AppError(f"HTTP {e.code}: {e.read().decode(errors='replace')[:500]}") from None
    stream = urllib.request.urlopen(f"{app_url}gradio_api/call/{name}/{event_id}", timeout=timeout).read().decode()
    events = re.findall(r"event: (\w+)\ndata: (.*)", stream)
    kind, data = events[-1] if events else ("none", "")
    if kind == "complete":
        return json.loads(data)
    message = json.loads(data) if data and data != "null" else f"(no message; event {kind})"
    raise AppError(message.get("error", str(message)) if isinstance(message, dict) else str(message))


def _checker(client, endpoint: str, draw: st.SearchStrategy, app_url: str, examples: int):
    @settings(max_examples=examples, deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck), phases=NO_SHRINK)
    @given(args=draw)
    def check(args):
        args = _sendable(list(args))

        def request():
            if _client_can_send(args):
                return client.submit(*args, api_name=endpoint).result(timeout=SECONDS)
            return raw_call(app_url, endpoint, args, SECONDS)

        outcome, result = P.bounded(request, SECONDS + 10)
        if outcome == "ok":
            TALLY.add(endpoint, "result")
            return
        if isinstance(result, AppError):
            P.assert_clear_message(str(result))
            TALLY.add(endpoint, "error message", str(result))
            return
        TALLY.add(endpoint, f"BUG {type(result).__name__}", repr(result))
        raise AssertionError(f"{endpoint}{args!r:.300} -> {type(result).__name__}: {result}") from result

    return check


def example_plan(hostile: st.SearchStrategy, valid: st.SearchStrategy | None, full: bool = P.FULL,
                 scale: float = P.SCALE, one_valid: bool = False) -> list[tuple[st.SearchStrategy, int]]:
    """The shared plan (tests/props.py); every valid example of an endpoint runs its handler, so it is capped, and
    an endpoint whose valid arguments are all fixed runs them once."""
    return P.example_plan(EXAMPLES_PER_ENDPOINT, hostile, valid, capped=True, full=full, scale=scale,
                          one_valid=one_valid)


def test_ci_keeps_every_hostile_example_and_caps_the_valid_ones():
    hostile, valid = st.just(("bad",)), st.just(("ok",))
    assert [k for _, k in example_plan(hostile, valid, full=False)] == [EXAMPLES_PER_ENDPOINT // 2, P.VALID_CAP]
    assert [k for _, k in example_plan(hostile, valid, full=True)] == [EXAMPLES_PER_ENDPOINT]
    assert [k for _, k in example_plan(hostile, None, full=False)] == [EXAMPLES_PER_ENDPOINT]
    assert [k for _, k in example_plan(hostile, valid, full=False, one_valid=True)] == [EXAMPLES_PER_ENDPOINT // 2, 1]
    text = {"parameter_name": "text", "python_type": {"type": "str"}}
    steps = {"parameter_name": "steps", "python_type": {"type": "int"}}
    assert _fixed("/any", text) is _DRAWN and _fixed("/any", {**steps, "parameter_default": 3}) == 3
    assert _fixed("/lte_run", {"parameter_name": "other_ts", "python_type": {"type": "str"}}) == ""  # CHEAP
    owned = endpoints_run_by_app_tests()
    assert {"/selective_run", "/upcycling_compare", "/dus_experiment"} <= owned and "/no_such_endpoint" not in owned


@pytest.mark.parametrize("shard", range(SHARDS))  # each shard a unit of work (tests/conftest.py: work_unit)
def test_endpoints_reject_hostile_input_with_clear_messages(client, api, app_url, shard):
    assert api, "the app lists no API endpoints"
    failures = {}
    only = [e for e in os.environ.get("WORKBENCH_PROP_ENDPOINTS", "").split(",") if e]  # for a quick rerun
    owned = endpoints_run_by_app_tests()
    for i, (endpoint, info) in enumerate(sorted(api.items())):
        if i % SHARDS != shard or (only and endpoint not in only):
            continue
        params = info["parameters"]
        if params:
            fixed = all(_fixed(endpoint, p) is not _DRAWN for p in params)
            plan = example_plan(st.tuples(*[_strategy(endpoint, p) for p in params]),
                                st.tuples(*[_valid(endpoint, p) for p in params]), one_valid=fixed)
            if fixed and endpoint in owned and not P.FULL:
                # No text or file to make hostile: the valid half would be one plain valid run, and the endpoint's
                # app test (tests/app/test_*_api.py) already runs it and checks its result.
                plan = plan[:1]
        else:
            plan = example_plan(st.just(()), None)
        t0 = time.monotonic()
        try:
            for draw, examples in plan:
                _checker(client, endpoint, draw, app_url, examples)()
        except Exception as e:  # report every endpoint's failure, not just the first
            failures[endpoint] = str(e)[:2000]
        print(f"{endpoint}: {sum(TALLY.counts[endpoint].values())} requests in {time.monotonic() - t0:.1f} s",
              flush=True)
        # The server is still up and serving after each endpoint's batch of bad requests.
        assert json.loads(urllib.request.urlopen(app_url + "config", timeout=30).read())["version"]
    assert not failures, "\n\n".join(f"{e}: {m}" for e, m in failures.items())
