"""Property tests: every backend's public functions against hostile input.

Each call must end within a time bound with a result or the documented validation error
(InputError, or ModelError for a model that cannot be had) whose message is fit for a user; any other
exception or a hang fails. The functions are listed in PUBLIC_FUNCTIONS; a backend module without an
entry fails ``test_every_backend_module_is_covered``. Model functions run with the packaged models on
small valid inputs, so most examples take the cheap validation path.
"""
from __future__ import annotations

import json
import os
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import backends
from backends.config import InputError
from backends.models import ModelError
from tests import props as P

pytestmark = pytest.mark.integration
TALLY = P.Tally(Path(__file__).resolve().parents[1] / "artifacts" / "props-backends.json")


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    yield
    TALLY.write()


@dataclass(frozen=True)
class Prop:
    name: str  # module.function, as reported
    call: Callable[[Any], Any]  # given one drawn value, call the function
    draw: st.SearchStrategy  # what to draw
    examples: int = 40
    seconds: float = 20.0  # time bound per call
    models: bool = False  # needs the packaged models (uses the session registry)
    valid: st.SearchStrategy | None = None  # hostile text with valid settings, drawn half the time
    known: str = ""  # a reported bug in a module this suite does not own: the test is an expected failure


def _sim():
    from backends import cosine as C

    if not hasattr(_sim, "v"):
        _sim.v = C.simulate(200, 40, 4, seed=0)
        _sim.f1 = C.fit(_sim.v.X, 1, 100.0, 5)
    return _sim.v, _sim.f1


def _rag_index():
    """A small RAG index over three paragraphs (not cached), built once."""
    from backends import rag

    if not hasattr(_rag_index, "v"):
        _rag_index.v = rag.build_index(texts=[
            "The harbour of the old town fills with fishing boats every morning before dawn. " * 3,
            "A new bridge across the river opened last spring and halved the journey to the market. " * 3,
            "The library keeps letters written by the first settlers, with maps of the valley. " * 3],
            use_cache=False)
    return _rag_index.v


def _upload(tmp: Path, spec: tuple[str, bytes]) -> Path:
    suffix, data = spec
    path = tmp / f"upload-{abs(hash(data)) % 10**9}{suffix}"
    path.write_bytes(data)
    return path


UPLOAD_TMP = Path(os.environ.get("TMPDIR", "/tmp")) / "workbench-prop-uploads"


def _malformed_uploads() -> st.SearchStrategy:
    good = st.lists(P.texts(80), min_size=0, max_size=4)
    csv_body = good.map(lambda ts: ("text,label\n" + "\n".join(f'"{t.replace(chr(34), "")}",human' for t in ts)))
    return st.tuples(
        st.sampled_from([".csv", ".jsonl", ".txt", ".CSV", ".exe", ".png", "", ".csv.exe", ".json"]),
        st.one_of(
            st.binary(max_size=300),
            csv_body.map(lambda s: s.encode("utf-8", "surrogatepass")),
            st.sampled_from([b"", b"\xff\xfe\x00t\x00e", b"text\n" + b"a," * 5000, b'{"text": 3}\n{"text": "\\ud800"}',
                             b'[1, 2]\n', b'{"text": "ok", "label": "maybe"}\n', b"label\nhuman\n",
                             b"text,label\n\"unclosed,human\n", b"text\n" + b"x\n" * 300, b"\x00" * 100,
                             b"text,label\nhello there,human\n" + b"x" * 1_100_000]),
            good.map(lambda ts: "\n".join(json.dumps({"text": t, "label": "machine"}) for t in ts)
                     .encode("utf-8", "surrogatepass")),
        ),
    )


def _budget_from_env(value: Any) -> int:
    """memory.budget_bytes with WORKBENCH_MEMORY_GB set to a drawn value (as text, as the environment holds it)."""
    import os

    from backends import memory

    saved = os.environ.get("WORKBENCH_MEMORY_GB")
    try:
        os.environ["WORKBENCH_MEMORY_GB"] = str(value).replace("\x00", "").encode("utf-8", "replace").decode()
        return memory.budget_bytes()
    finally:
        if saved is None:
            os.environ.pop("WORKBENCH_MEMORY_GB", None)
        else:
            os.environ["WORKBENCH_MEMORY_GB"] = saved


def _build() -> list[Prop]:
    from backends import bandits as B
    from backends import byte_data as BD
    from backends import byte_model as BM
    from backends import config, memory, models, uploads
    from backends import copying as CP
    from backends import cosine as C
    from backends import cot_decoding as CD
    from backends import detector as D
    from backends import early_exit as EE
    from backends import ewok as E
    from backends import framing as F
    from backends import gptscore as G
    from backends import lte as L
    from backends import model_graph as MG
    from backends import rag as R
    from backends import selective as S
    from backends import self_discover as SD
    from backends import training as T
    from backends.surgery import depth_upscale, ternarize, upcycle
    from backends.surgery.bitnet import twins

    UPLOAD_TMP.mkdir(parents=True, exist_ok=True)
    small_texts = st.one_of(st.lists(P.text_or_wrong(120), min_size=0, max_size=3), P.text_or_wrong(60))
    return [
        Prop("config.check_text", lambda v: config.check_text(v), P.text_or_wrong(400), 150, 5),
        Prop("memory.budget_bytes", _budget_from_env, P.text_or_wrong(40), 80, 5),
        Prop("memory.release_file_pages", lambda v: memory.release_file_pages(v), P.text_or_wrong(200), 60, 5),
        Prop("config.check_count", lambda v: config.check_count(v[0], what="n", low=v[1], high=v[2]),
             st.tuples(P.count(0, 50), st.integers(-5, 5), st.integers(0, 100)), 150, 5),
        Prop("config.check_number", lambda v: config.check_number(v, what="x", low=-1.0, high=1.0),
             P.number(-2, 2), 150, 5),
        Prop("uploads.read_text_table", lambda v: uploads.read_text_table(_upload(UPLOAD_TMP, v)),
             _malformed_uploads(), 80, 10),
        Prop("models.registry.resolve", lambda v: models.registry().resolve(v[0], v[1]),
             st.tuples(P.choice(["smollm2-135m-instruct", "chat", "base", "gemma3-270m"]),
                       st.one_of(st.none(), P.choice(list(models.SLOTS)))), 80, 5),
        Prop("detector.calibrate_scores", lambda v: D.calibrate_scores(*v),
             st.tuples(st.lists(P.number(-5, 5), max_size=6), st.lists(P.number(-5, 5), max_size=6),
                       P.number(0, 0.5)), 80, 10),
        Prop("detector.binoculars", lambda v: D.binoculars(v[0], numerator=v[1], threshold=v[2], min_tokens=1),
             st.tuples(small_texts, P.choice(list(D.NUMERATORS)), st.one_of(st.none(), P.number(0, 2))),
             12, 60, True,
             valid=st.tuples(st.lists(P.texts(120), min_size=1, max_size=2), st.sampled_from(D.NUMERATORS),
                             st.one_of(st.none(), st.floats(0, 2)))),
        Prop("cot_decoding.explore", lambda v: CD.explore(v[0], "gemma3-270m", k=v[1], max_new_tokens=v[2],
                                                          branch_step=v[3], answer_type=v[4]),
             st.tuples(P.text_or_wrong(120), P.count(1, 2), P.count(4, 6), P.count(0, 1),
                       P.choice(["auto", "number", "free"])), 6, 90, True,
             valid=st.tuples(P.texts(120), st.integers(1, 2), st.integers(4, 6), st.integers(0, 1),
                             st.sampled_from(["auto", "number", "free"]))),
        Prop("early_exit.logit_lens", lambda v: EE.logit_lens(v[0], "smollm2-135m-instruct", v[1], max_tokens=32),
             st.tuples(P.text_or_wrong(120), P.count(1, 5)), 8, 60, True,
             valid=st.tuples(P.texts(120), st.integers(1, 5))),
        Prop("early_exit.self_speculative",
             lambda v: EE.self_speculative(v[0], "smollm2-135m-instruct", v[1], v[2], v[3], compare=False),
             st.tuples(P.text_or_wrong(80), P.count(1, 29), P.count(1, 4), P.count(1, 4)), 6, 90, True,
             valid=st.tuples(P.texts(80), st.integers(1, 29), st.integers(1, 4), st.integers(1, 4))),
        Prop("cosine.simulate", lambda v: C.simulate(*v),
             st.tuples(P.count(10, 300), P.count(10, 60), P.count(2, 6), P.count(0, 10)), 40, 20,
             valid=st.tuples(st.integers(10, 300), st.integers(10, 60), st.integers(2, 6), st.integers(0, 10))),
        Prop("cosine.fit", lambda v: C.fit(_sim()[0].X, v[0], v[1], v[2]),
             st.tuples(P.choice([1, 2]), P.number(0, 1e4), P.count(1, 40)), 50, 20),
        Prop("cosine.alpha_view", lambda v: C.alpha_view(*_sim(), v), P.number(-1, 2), 40, 20),
        Prop("cosine.check_sentences", lambda v: C.check_sentences(v),
             st.one_of(st.lists(P.text_or_wrong(80), max_size=6), P.text_or_wrong(60)), 100, 5),
        Prop("cosine.rescale_embeddings",
             lambda v: C.rescale_embeddings(np.random.default_rng(0).normal(size=(3, 8)), ["a", "b", "c"], v[0], v[1]),
             st.tuples(P.number(0, 5), P.count(0, 100)), 60, 10),
        Prop("cosine.embed", lambda v: C.embed(C.check_sentences(v)),
             st.lists(P.text_or_wrong(80), max_size=4), 10, 60, True,
             valid=st.lists(P.texts(80), min_size=2, max_size=4)),
        # ---- Backends of issues #6 (bandits), #8 (RAG) and #9 (framing). ----
        Prop("bandits.make_instance", lambda v: B.make_instance(v[0], k=v[1], delta=v[2], means=v[3], seed=v[4]),
             st.tuples(st.one_of(st.none(), P.choice(["hard", "easy", "custom"])), st.one_of(st.none(), P.count(2, 10)),
                       st.one_of(st.none(), P.number(0, 1)),
                       st.one_of(st.none(), st.lists(P.number(0, 1), max_size=12)), P.count(0, 100)), 100, 5),
        Prop("bandits.parse_means", lambda v: B.parse_means(v), P.text_or_wrong(80), 100, 5),
        Prop("bandits.run_baseline", lambda v: B.run_baseline(v[0], B.make_instance("hard"), horizon=v[1],
                                                              replicates=v[2], seed=v[3]),
             st.tuples(P.choice(list(B.BASELINES)), P.count(1, 30), P.count(1, 20), P.count(0, 100)), 40, 20,
             valid=st.tuples(st.sampled_from(B.BASELINES), st.integers(1, 30), st.integers(1, 20),
                             st.integers(0, 100))),
        Prop("bandits.render_prompt", lambda v: B.render_prompt(v[0], v[1], v[2]),
             st.tuples(P.choice(B.all_codes()[:8]), P.count(2, 10), P.count(1, 100)), 60, 5),
        # These two read a model's answer (always a string): hostile text, not wrong types.
        Prop("bandits.parse_choice", lambda v: B.parse_choice(v, ["blue", "green", "red"]), P.texts(200), 100, 5),
        Prop("bandits.parse_distribution", lambda v: B.parse_distribution(v, ["blue", "green", "red"]),
             P.texts(200), 100, 5),
        Prop("rag.check_question", lambda v: R.check_question(v), P.text_or_wrong(300), 100, 5),
        Prop("rag.check_k", lambda v: R.check_k(v), P.count(1, 10), 100, 5),
        Prop("rag.read_documents", lambda v: R.read_documents(files=[_upload(UPLOAD_TMP, v[0])], texts=v[1]),
             st.tuples(_malformed_uploads(), st.lists(P.text_or_wrong(100), max_size=2)), 60, 20),
        Prop("rag.retrieve", lambda v: R.retrieve(_rag_index(), v[0], v[1], v[2]),
             st.tuples(P.text_or_wrong(120), P.count(1, 3), P.number(0.01, 5)), 30, 30, True,
             valid=st.tuples(P.texts(120), st.integers(1, 3), st.floats(0.01, 5))),
        Prop("rag.retrieve (modes)", lambda v: R.retrieve(_rag_index(), v[0], 2, mode=v[1], fusion=v[2], alpha=v[3]),
             st.tuples(P.text_or_wrong(120), P.choice(list(R.RETRIEVAL_MODES)), P.choice(list(R.FUSIONS)),
                       P.number(0, 1)), 30, 30, True,
             valid=st.tuples(P.texts(120), st.sampled_from(R.RETRIEVAL_MODES), st.sampled_from(R.FUSIONS),
                             st.floats(0, 1))),
        Prop("rag.answer", lambda v: R.answer(_rag_index(), v[0], v[1], v[2], max_new_tokens=v[3]),
             st.tuples(P.text_or_wrong(120), P.choice(list(R.MODES)), P.count(1, 2), P.count(1, 3)), 6, 90, True,
             valid=st.tuples(P.texts(120), st.sampled_from(R.MODES), st.integers(1, 2), st.integers(1, 3))),
        Prop("framing.analyze_text", lambda v: F.analyze_text(v, metaphors=False, zero_shot=False),
             P.text_or_wrong(300), 10, 60, True),
        Prop("framing.segment_text", lambda v: F.segment_text(v), P.texts(400), 80, 10),  # callers check the type
        # ---- Backends of issue #17 (GPTScore, selective prediction, EWoK). ----
        Prop("gptscore.gptscore", lambda v: G.gptscore(v[0], source=v[1], reference=v[1], aspect=v[2], variant=v[3],
                                                       scenario=v[4], model="smollm2-135m-instruct"),
             st.tuples(small_texts, P.text_or_wrong(120), P.choice(["fluency", "consistency", "wit"]),
                       P.choice(list(G.VARIANTS)), P.choice(list(G.SCENARIOS))), 10, 60, True,
             valid=st.tuples(st.lists(P.texts(80), min_size=1, max_size=2), P.texts(120),
                             st.sampled_from(["fluency", "consistency"]), st.sampled_from(G.VARIANTS),
                             st.sampled_from(G.SCENARIOS))),
        Prop("selective.evaluate_selective",
             lambda v: S.evaluate_selective(v[0], "smollm2-135m-instruct", n_samples=v[1], limit=v[2], alpha=v[3],
                                            temperature=v[4], max_new_tokens=4, n_boot=10),
             st.tuples(P.choice(["cot", "rag", "squad"]), P.count(2, 3), P.count(2, 2), P.number(0, 1),
                       P.number(0.05, 2)), 8, 90, True),
        Prop("ewok.score_pair", lambda v: E.score_pair(*v, model="smollm2-135m-instruct"),
             st.tuples(P.text_or_wrong(100), P.text_or_wrong(100), P.text_or_wrong(60), P.text_or_wrong(60)),
             10, 60, True, valid=st.tuples(P.texts(100), P.texts(100), P.texts(60), P.texts(60))),
        Prop("ewok.sample_items", lambda v: E.sample_items(E.load_items(), domains=v[0], per_domain=v[1], seed=v[2]),
             st.tuples(st.one_of(st.none(), st.lists(P.choice(list(E.DOMAINS) + ["cooking"]), max_size=3)),
                       st.one_of(st.none(), P.count(1, 5)), P.count(0, 10)), 40, 10),
        Prop("ewok.evaluate_ewok", lambda v: E.evaluate_ewok(E.load_items()[:v[0]], "smollm2-135m-instruct",
                                                             metric=v[1], n_boot=10),
             st.tuples(st.sampled_from([0, 1]), P.choice(list(E.METRICS))), 6, 60, True),
        # ---- The trainer of issue #18. ----
        Prop("training.scratch_model",
             lambda v: T.scratch_model(T.ScratchConfig(layers=v[0], hidden=v[1], heads=v[2], seq_len=v[3]), seed=v[4]),
             st.tuples(P.count(1, 2), P.count(8, 32), P.count(1, 4), P.count(8, 64), P.count(0, 5)), 30, 20),
        Prop("training.text_data", lambda v: T.text_data(T.byte_tokenizer(), v[0], seq_len=v[1]),
             st.tuples(st.one_of(P.text_or_wrong(200), P.texts(60).map(_long_text)), P.count(8, 64)), 40, 20),
        Prop("training.train", lambda v: T.train(_tiny_scratch(), steps=v[0], batch_size=v[1], lr=v[2], seed=v[3],
                                                 data=_tiny_data(), eval_blocks=2),
             st.tuples(P.count(1, 3), P.count(1, 4), st.one_of(st.none(), P.number(1e-5, 0.1)), P.count(0, 5)), 20, 30),
        # ---- Model surgery (issue #18), on a two-layer scratch model. ----
        Prop("surgery.ternarize", lambda v: ternarize(_tiny_scratch(), activations=v[0], norm=v[1], skip=v[2]),
             st.tuples(P.choice([True, False]), P.choice([True, False]),
                       st.one_of(st.just(("lm_head",)), st.lists(P.text_or_wrong(20), max_size=3),
                                 P.text_or_wrong(20))),
             40, 20),
        Prop("surgery.depth_upscale", lambda v: depth_upscale(_tiny_scratch(), v), st.one_of(st.none(), P.count(0, 1)),
             40, 20),
        Prop("surgery.upcycle", lambda v: upcycle(_tiny_scratch(), n_experts=v[0], top_k=v[1], layers=v[2], router=v[3],
                                                  capacity=v[4], seed=v[5]),
             st.tuples(P.count(1, 4), P.count(1, 4), st.one_of(st.none(), P.text_or_wrong(20), st.lists(P.count(0, 2))),
                       P.choice(["top_k", "expert_choice"]), P.number(0.1, 4), P.count(0, 5)), 40, 20),
        # ---- Sweeps (issue #19), in-process on the runner's test kind (Ray has its own tier, tests/ray). ----
        Prop("sweeps.run_sweep",
             lambda v: _sweeps().run_sweep("square", v[0], v[1], backend=v[2], workers=v[3], batch_size=v[4],
                                           seed=v[5], time_budget_s=v[6], results_path=_sweep_file()),
             st.tuples(st.one_of(st.lists(st.dictionaries(st.sampled_from(["x", "fail", "sleep"]),
                                                          st.one_of(P.count(-3, 3), P.text_or_wrong(10)),
                                                          max_size=2), max_size=4),
                                 P.text_or_wrong(20), st.lists(P.text_or_wrong(10), max_size=2)),
                       st.one_of(st.none(), st.dictionaries(st.just("offset"), P.count(0, 3)), P.text_or_wrong(10)),
                       P.choice(["local", "spark"]), P.count(1, 4), st.one_of(st.none(), P.count(1, 3)),
                       P.count(0, 5), st.one_of(st.none(), P.number(0, 5))), 60, 20),
        Prop("surgery.bitnet.twins", lambda v: twins(v[0], steps=v[1], seed=v[2]),
             st.tuples(st.one_of(st.none(), st.lists(P.count(16, 16), max_size=2), P.text_or_wrong(20)),
                       P.count(10, 10), P.count(0, 3)), 6, 60),
        # ---- The from-scratch tabs of issue #20 (tiny settings: a hostile value must fail fast and clearly). ----
        Prop("byte_data.check_mixture", lambda v: BD.check_mixture(v),
             st.one_of(st.none(), P.text_or_wrong(30), st.lists(P.text_or_wrong(10), max_size=4),
                       st.lists(P.choice(list(BD.FILE_TYPES)), max_size=6)), 100, 5),
        Prop("byte_data.reference_bpb", lambda v: BD.reference_bpb(v),
             st.one_of(st.lists(st.binary(max_size=300), max_size=4), P.text_or_wrong(20)), 40, 10),
        Prop("byte_model.check_bytes", lambda v: BM.check_bytes(v),
             st.one_of(st.binary(max_size=9000), P.text_or_wrong(200), P.bad_numbers()), 60, 5),
        Prop("byte_model.analyze_bytes", lambda v: BM.analyze_bytes(v, _tiny_bgpt()),
             st.one_of(st.binary(max_size=2000), P.text_or_wrong(100)), 20, 10),
        Prop("byte_model.generate_bytes",
             lambda v: BM.generate_bytes(v[0], v[1], model=_tiny_bgpt(), greedy=v[2], temperature=v[3], seed=v[4]),
             st.tuples(st.binary(max_size=600), st.one_of(P.count(-2, 40), P.bad_numbers()), P.choice([True, False]),
                       st.one_of(P.number(0, 3), P.bad_numbers()), st.one_of(P.count(-5, 2**32), P.bad_numbers())),
             20, 20),
        Prop("byte_model.cpu_experiment",
             lambda v: BM.cpu_experiment(v[0], steps=v[1], seed=v[2], config=BM.ByteConfig(32, 1, 1, 2), heldout=3),
             st.tuples(st.one_of(st.lists(P.count(-10, 12), max_size=2), P.text_or_wrong(20)), P.count(-2, 2),
                       P.count(0, 3)), 8, 60),
        Prop("byte_model.train_byte_model",
             lambda v: BM.train_byte_model(v[0], seed=v[1], mixture=v[2], config=BM.ByteConfig(32, 1, 1, 2),
                                           files_per_type=2, heldout_per_type=1),
             st.tuples(P.count(-2, 2), P.count(0, 3),
                       st.one_of(st.none(), P.text_or_wrong(20), st.lists(P.choice(list(BD.FILE_TYPES)), max_size=2))),
             8, 60),
        Prop("copying.copy_experiment",
             lambda v: CP.copy_experiment(v[0], v[1], v[2], v[3], 0, alphabet=v[4], state_scales=v[5], position=v[6],
                                          d_model=16, heads=2, batch_size=4, eval_strings=4),
             st.tuples(st.one_of(P.text_or_wrong(20),
                                 st.lists(P.choice(["transformer", "lstm", "ssm", "mamba", ""]), max_size=3)),
                       st.one_of(P.count(-5, 300), P.bad_numbers(), P.text_or_wrong(5)),
                       st.one_of(P.text_or_wrong(20), st.lists(P.count(-5, 500), max_size=30)), P.count(-3, 3),
                       P.count(-2, 300), st.lists(P.count(-2, 20), max_size=3),
                       st.one_of(P.choice(["hard_alibi", "nope", "alibi", "rope"]), P.text_or_wrong(10))), 25, 20),
        Prop("copying.thm27_error_bound", lambda v: _bound_in_unit_interval(CP, *v),
             st.tuples(P.number(0, 1e6), P.count(1, 10**4), P.count(2, 256)), 200, 5),
        Prop("copying.lookup_experiment",
             lambda v: CP.lookup_experiment(v[0], v[1], v[2], 0),
             st.tuples(st.one_of(P.text_or_wrong(20), st.lists(P.text_or_wrong(20), max_size=2),
                                 st.just(["smollm2-135m-instruct"])),
                       st.one_of(P.count(-5, 5), P.count(6, 1000), P.text_or_wrong(10)), P.count(-1, 1)), 15, 60),
        Prop("lte.check_settings",
             lambda v: L.check_settings(network=v[0], heads=v[1], rank=v[2], alpha=v[3], merge_every=v[4],
                                        steps=v[5], batch=v[6], others=v[7], extra_merge_every=v[8]),
             st.tuples(st.one_of(P.choice(["toy", "lm"]), P.text_or_wrong(10)), *[st.one_of(P.count(-10, 10**9),
                       P.bad_numbers()) for _ in range(2)], st.one_of(st.none(), P.number(-5, 1e5), P.bad_numbers()),
                       *[st.one_of(P.count(-10, 10**9), P.bad_numbers()) for _ in range(3)],
                       st.one_of(P.choice(["average", "frozen"]), P.text_or_wrong(10)),
                       st.one_of(st.just(()), P.text_or_wrong(10), st.lists(P.count(-3, 100), max_size=3))),
             200, 5),
        Prop("self_discover.extract_json", lambda v: SD.extract_json(v),
             st.one_of(P.texts(300), st.builds(lambda a, b: f"{a}```json\n{{{b}\n```", P.texts(40), P.texts(80))),
             150, 5),
        Prop("self_discover.extract_answer", lambda v: SD.extract_answer(v[0], v[1], v[2]),
             st.tuples(P.texts(300), P.choice(["number", "choice", "date"]),
                       st.lists(st.text(max_size=10), max_size=3)), 150, 5),
        Prop("self_discover.parse_selection", lambda v: SD.parse_selection(v), P.texts(400), 150, 5),
        Prop("self_discover.discover", lambda v: SD.discover(v[0], _Scripted(v[1]), time_budget_s=v[2]),
             st.tuples(st.one_of(small_texts, st.lists(P.texts(40), min_size=1, max_size=12)), P.texts(300),
                       st.one_of(st.none(), P.number(0, 5))), 80, 5),
        Prop("self_discover.solve", lambda v: SD.solve(_sd_structure(SD), v[0], _Scripted(v[1]), answer_type=v[2],
                                                       options=v[3]),
             st.tuples(P.text_or_wrong(200), P.texts(300), P.choice(["number", "choice", "date"]),
                       st.one_of(st.none(), st.lists(P.texts(10), max_size=3), P.text_or_wrong(10))), 100, 5),
        Prop("self_discover.baseline", lambda v: SD.baseline(v[0], _Scripted(v[1]), method=v[2], k=v[3]),
             st.tuples(P.text_or_wrong(200), P.texts(200), P.choice(["direct", "cot", "cot-sc"]), P.count(1, 5)),
             100, 5),
        Prop("self_discover.evaluate", lambda v: SD.evaluate(v[0], _Scripted('{"a": "1"} The answer is 1.'), n=v[1],
                                                             n_examples=v[2], sc_k=v[3]),
             st.tuples(P.choice(["arithmetic", *SD.task_names()]), P.count(1, 3), P.count(1, 3),
                       st.one_of(st.none(), st.lists(P.count(1, 3), max_size=2))), 40, 10),
        Prop("self_discover.plan_structure", lambda v: SD.plan_structure(v),
             st.one_of(P.text_or_wrong(300), st.dictionaries(P.texts(20), P.text_or_wrong(20), max_size=45),
                       st.builds(lambda n: {f"step {i}": "" for i in range(n)}, st.integers(0, 60)),
                       st.builds(lambda t: "```json\n{" + t, P.texts(100))), 150, 5),
        Prop("self_discover.evaluate_iter",
             lambda v: list(SD.evaluate_iter("boolean_expressions", _Scripted('{"a": "1"} The answer is True.'), n=1,
                                             n_examples=1, sc_k=v[0], structure=v[1], max_new_tokens=v[2])),
             st.tuples(st.one_of(st.none(), P.text_or_wrong(10), st.lists(P.count(1, 3), max_size=6)),
                       st.one_of(st.none(), P.text_or_wrong(10), st.just({"a": ""})),
                       st.one_of(st.none(), P.count(4, 16), P.count(1025, 2000))), 60, 10),
        Prop("model_graph.check_query", lambda v: MG.check_query(v), P.text_or_wrong(3000), 150, 5),
        Prop("model_graph.load_routing_set", lambda v: MG.load_routing_set(split=v), P.choice([*MG.SPLITS, None]),
             60, 5),
        Prop("model_graph.user_node", lambda v: MG.user_node(*v),
             st.tuples(P.text_or_wrong(30), st.one_of(P.choice(["smollm2-135m-instruct", "chat", "all-minilm-l6-v2"])),
                       P.text_or_wrong(40), P.text_or_wrong(60), P.text_or_wrong(60), st.one_of(st.none(), P.texts(30)),
                       P.count(1, 64)), 100, 5, models=True),
        Prop("model_graph.route", lambda v: MG.route(v, router="similarity-minilm", answer=False),
             P.text_or_wrong(400), 15, 20, models=True),
        Prop("model_graph.evaluate_end_to_end",
             lambda v: MG.evaluate_end_to_end(v[0], router="similarity-minilm", max_new_tokens=v[1]),
             st.tuples(st.one_of(P.text_or_wrong(20), st.lists(st.one_of(
                 st.fixed_dictionaries({"query": P.text_or_wrong(60), "gold": st.one_of(st.lists(P.texts(10),
                                        max_size=2), P.text_or_wrong(10)),
                                        "node": P.choice(["chat", "nope"]),  # sotu: RAG, integration
                                        "check": P.choice(["text", "number"])}), P.text_or_wrong(20)), max_size=2)),
                       P.count(1, 2)),
             12, 60, models=True),
        Prop("model_graph.answer_route",
             lambda v: MG.answer_route(MG.route("Hi there, how are you?", router="similarity-minilm", answer=False),
                                       max_new_tokens=v),
             P.count(1, 2), 12, 30, models=True),
        Prop("model_graph.memory_cost", lambda v: MG.memory_cost(router=v[0], single=v[1]),
             st.tuples(st.one_of(st.none(), P.choice(list(MG.ROUTERS))),
                       st.one_of(st.none(), P.choice(["smollm2-135m-instruct", "chat"]))), 40, 10, models=True),
        Prop("lte.train_lte",
             lambda v: L.train_lte(v[0], v[1], v[2], v[3], v[4], network="toy", batch=v[0] * 2, threads=1),
             st.tuples(P.count(1, 3), P.count(1, 4), P.count(1, 5), P.count(1, 4), P.count(0, 2**31)), 10, 30),
    ]


def _sweeps():
    from backends import sweeps

    sweeps.register_kind("square", "tests.sweep_kinds:SQUARE")
    return sweeps


def _sweep_file() -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / "workbench-prop-sweep.jsonl"


def _long_text(t: str) -> str:
    """A drawn text repeated to past the trainer's minimum (two pieces of 4,000 characters)."""
    return (t + " ") * (9000 // (len(t) + 1) + 1)


class _Scripted:
    """A stand-in LM for Self-Discover that gives the same (drawn) reply to every prompt."""

    name = "scripted"

    def __init__(self, reply: str):
        self.reply = reply

    def complete(self, prompt: str, *, max_new_tokens: int, n: int = 1, **_: Any) -> list[str]:
        return [self.reply] * n


def _sd_structure(SD):
    """A structure discovered with a scripted LM whose plan parses."""
    if not hasattr(_sd_structure, "v"):
        _sd_structure.v = SD.discover(["What is 2 + 3?"], _Scripted('{"Step 1": "add", "Answer": ""}'))
    return _sd_structure.v


def _tiny_scratch():
    from backends import training as T

    if not hasattr(_tiny_scratch, "v"):
        _tiny_scratch.v = T.scratch_model(T.ScratchConfig(layers=2, hidden=16, heads=2, seq_len=32))
    return _tiny_scratch.v


def _bound_in_unit_interval(CP, bits: float, length: int, alphabet: int) -> float:
    """Thm 2.7's bound is a probability; Cor 2.8's length is the first L with bits < L log2 D - 1."""
    import math

    bound = CP.thm27_error_bound(bits, length, alphabet)
    first = CP.cor28_length(bits, alphabet)
    bits, alphabet = float(bits), int(alphabet)  # both calls accepted them as numbers
    assert 0.0 <= bound <= 1.0
    assert bits < first * math.log2(alphabet) - 1 and not bits < (first - 1) * math.log2(alphabet) - 1
    return bound


def _tiny_bgpt():
    from backends import byte_model as BM

    if not hasattr(_tiny_bgpt, "v"):
        config = BM.ByteConfig(32, 1, 1, 2)
        _tiny_bgpt.v = BM.TrainedByteModel("untrained 1+1 x 32", BM.build_net(config), config, "props")
    return _tiny_bgpt.v


def _tiny_data():
    from backends import training as T

    return T.text_data(T.byte_tokenizer(), "A short line of text to train on, again and again. " * 400, seq_len=32)


PUBLIC_FUNCTIONS = _build()
# Backend modules that are infrastructure for the ones above (tested through them and in their own unit tests).
# Take loaded models or internal paths, not user input: tests/unit/test_lm.py, test_quantize.py, test_decoding.py,
# test_cache.py, test_models.py, test_gguf_reading.py.
# metrics takes the numbers the backends computed (tests/unit/test_metrics.py).
# _bgpt_net and _copying_nets are torch modules behind byte_model and copying (tests/unit/test_byte_model.py,
# test_copying.py); sweeps' worker pool is driven by lte.train_lte.
INFRASTRUCTURE = {"lm", "quantize", "decoding", "cache", "model_files", "model_specs", "metrics", "_bgpt_net",
                  "_copying_nets", "gguf_reading",
                  "warmup"}  # no user input: it loads the profile's models (tests/unit/test_warmup.py)


def test_every_backend_module_is_covered():
    covered = {p.name.split(".")[0] for p in PUBLIC_FUNCTIONS} | INFRASTRUCTURE
    modules = {m.name for m in pkgutil.iter_modules(backends.__path__)}
    assert modules - covered == set(), (
        f"backend modules without property tests (add entries to PUBLIC_FUNCTIONS): {sorted(modules - covered)}")


def example_plan(prop: Prop, full: bool = P.FULL, scale: float = P.SCALE) -> list[tuple[st.SearchStrategy, int]]:
    """The shared plan (tests/props.py); the valid half is capped for functions that run a model."""
    return P.example_plan(prop.examples, prop.draw, prop.valid, capped=prop.models, full=full, scale=scale)


def test_ci_keeps_every_hostile_example_and_caps_the_valid_model_runs():
    model = next(p for p in PUBLIC_FUNCTIONS if p.models and p.valid is not None)
    cheap = next(p for p in PUBLIC_FUNCTIONS if not p.models and p.valid is not None)
    n = model.examples
    assert [k for _, k in example_plan(model, full=False)] == [(n + 1) // 2, min(P.VALID_CAP, (n + 1) // 2)]
    assert [k for _, k in example_plan(model, full=True)] == [n]
    assert [k for _, k in example_plan(cheap, full=False)] == [(cheap.examples + 1) // 2] * 2
    assert example_plan(model, full=False, scale=10)[0][1] == (10 * n + 1) // 2


@pytest.mark.parametrize("prop", [pytest.param(p, marks=pytest.mark.xfail(reason=p.known, strict=False))
                                  if p.known else p for p in PUBLIC_FUNCTIONS], ids=lambda p: p.name)
def test_public_function_ends_with_result_or_clear_error(prop, request):
    if prop.models:
        request.getfixturevalue("registry")
    else:
        from backends import models

        models.registry()
    for draw, examples in example_plan(prop):
        _checker(prop, draw, examples)()


def _checker(prop: Prop, draw: st.SearchStrategy, examples: int):
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.reuse, Phase.generate])
    @given(value=draw)
    def check(value):
        outcome, result = P.bounded(lambda: prop.call(value), prop.seconds)
        if outcome == "ok":
            TALLY.add(prop.name, "result")
            return
        if isinstance(result, (InputError, ModelError)):
            P.assert_clear_message(str(result))
            TALLY.add(prop.name, f"rejected ({type(result).__name__})", str(result))
            return
        TALLY.add(prop.name, f"BUG {type(result).__name__}", repr(result))
        raise AssertionError(f"{prop.name}({value!r:.200}) raised {type(result).__name__}: {result}") from result

    return check
