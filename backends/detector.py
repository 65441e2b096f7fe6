"""Binoculars zero-shot detection of machine-generated text (Hans et al. 2024).

For a text tokenised to x_1..x_L, an observer M1 and a performer M2 (sharing one tokenizer):

    log PPL_M1(s)        = -(1/L) sum_i log M1(s)_i[x_i]
    log X-PPL_M1,M2(s)   = -(1/L) sum_i sum_v M1(s)_i[v] * log M2(s)_i[v]
    B(s)                 = log PPL_M1(s) / log X-PPL_M1,M2(s)          (low B: machine)

The sum over i runs over the scored positions (every token after the first, which nothing
predicts). With M1 = M2 the denominator is the mean entropy of the model's predictions and one
forward pass gives both terms ("single-model" mode). The authors' public code takes the numerator
from the performer instead; ``numerator="performer"`` reproduces that.

Everything returned is plain Python/numpy; nothing here imports Gradio.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from backends import lm as L
from backends import sweeps
from backends.config import InputError, check_text, clean_text, limits
from backends.decoding import Deadline
from backends.models import LoadedModel, registry

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "detector"
BENCHMARK_PATH = ASSETS / "benchmark.jsonl"
CALIBRATION_PATH = ASSETS / "calibration.json"

# The public code's thresholds for Falcon-7B / Falcon-7B-instruct; they mean nothing for other pairs.
FALCON_PAIR = ("falcon-7b", "falcon-7b-instruct")
FALCON_THRESHOLDS = {"accuracy": 0.9015310749276843, "low-fpr": 0.8536432310785527}
MIN_TOKENS = 16  # fewer scored tokens than this and the score is mostly noise
REPORT_FPRS = (0.0001, 0.001, 0.01)  # 0.01 %, 0.1 %, 1 %
NUMERATORS = ("observer", "performer")
ProgressFn = Callable[[float, str], None]
ModelArg = str | LoadedModel | None  # a registry name, a loaded model, or None for the profile's default


@dataclass(frozen=True)
class BinocularsResult:
    """The score of one text, with the per-token terms it averages (nats)."""

    text: str
    score: float  # B = log_ppl / log_xppl; lower means more machine-like
    log_ppl: float  # numerator: mean surprise of the actual tokens
    log_xppl: float  # denominator: mean expected surprise (cross-entropy observer -> performer)
    threshold: float  # the threshold the verdict used
    is_machine: bool  # score < threshold
    tokens: list[str]  # the scored tokens (token 2..L), decoded one by one
    token_log_ppl: list[float]  # per token: -log M(x_i), numerator model
    token_log_xppl: list[float]  # per position: sum_v M1[v] * -log M2[v]
    n_tokens: int  # scored tokens
    truncated: bool  # the text was cut to max_tokens
    single_model: bool  # observer and performer are the same model (one forward pass)
    observer: str
    performer: str
    numerator: str  # "observer" (paper) or "performer" (authors' code)
    threshold_source: str  # where the threshold came from


@dataclass(frozen=True)
class Calibration:
    """ROC analysis of a detector score where *lower* means machine."""

    auroc: float
    fpr: list[float]  # ROC points, increasing
    tpr: list[float]
    thresholds: list[float]  # a text is called machine when score < threshold
    tpr_at_fpr: dict[float, float]  # for each FPR in REPORT_FPRS (and target_fpr)
    threshold: float  # threshold whose FPR on the human texts is at most target_fpr
    target_fpr: float
    n_human: int
    n_machine: int


@dataclass(frozen=True)
class PairInfo:
    observer: str
    performer: str
    single_model: bool


def default_pair() -> tuple[str, str]:
    reg = registry()
    return reg.slots["observer"], reg.slots["performer"]


def resolve_pair(observer: ModelArg = None, performer: ModelArg = None) -> tuple[LoadedModel, LoadedModel]:
    """The observer and performer as loaded models, resolved once at an entry point.

    Each is a loaded model, a registry name, or None for the profile's default. Both must be causal
    LMs (checked before either loads); one model named twice is one model (single-model mode).
    """
    reg = registry()
    names: list[str | None] = []
    for m, default in zip((observer, performer), default_pair()):
        name = m.name if isinstance(m, LoadedModel) else reg.resolve(m or default)
        is_lm = m.spec.is_lm if isinstance(m, LoadedModel) else reg.spec(name).is_lm
        if not is_lm:
            raise InputError(f"{name} is not a language model; Binoculars needs two causal LMs.")
        names.append(name)
    obs = observer if isinstance(observer, LoadedModel) else reg.get(names[0])
    if isinstance(performer, LoadedModel):
        perf = performer
    else:
        perf = obs if names[1] == obs.name else reg.get(names[1])
    return obs, perf


def check_pair(observer: LoadedModel, performer: LoadedModel) -> None:
    """Refuse an observer/performer pair that does not share one tokenizer (same vocabulary, same ids)."""
    if observer is performer:
        return
    v1, v2 = observer.tokenizer.get_vocab(), performer.tokenizer.get_vocab()
    if v1 != v2:
        only = len(set(v1) ^ set(v2))
        raise InputError(
            f"{observer.name} and {performer.name} do not share a tokenizer ({len(v1):,} vs {len(v2):,} "
            f"entries, {only:,} tokens in one only). Binoculars compares the two models' predictions "
            "token by token, so both must tokenise every text identically. Pick a base model and its "
            "instruction-tuned sibling, or one model for single-model mode."
        )
    probe = "Binoculars checks tokenizers: 12345, ünïcödé, emoji 😀."
    if observer.tokenizer(probe)["input_ids"] != performer.tokenizer(probe)["input_ids"]:
        raise InputError(f"{observer.name} and {performer.name} share a vocabulary but tokenise text "
                         "differently (special tokens differ), so their predictions cannot be compared.")


def default_threshold(observer: str, performer: str, numerator: str = "observer") -> tuple[float, str]:
    """(threshold, where it came from) for a pair: the paper's for Falcon, else a stored calibration."""
    if (observer, performer) == FALCON_PAIR and numerator == "observer":
        return FALCON_THRESHOLDS["low-fpr"], "paper (Falcon pair, low-FPR threshold)"
    stored = load_calibrations().get(calibration_key(observer, performer, numerator))
    if stored is not None:
        return float(stored["threshold"]), (f"built-in benchmark calibration at {stored['target_fpr']:.0%} FPR "
                                            f"(AUROC {stored['auroc']:.3f})")
    # No calibration for this pair: the paper's accuracy threshold is a placeholder, said as such.
    return FALCON_THRESHOLDS["accuracy"], "uncalibrated (the paper's Falcon threshold; calibrate this pair)"


def calibration_key(observer: str, performer: str, numerator: str = "observer") -> str:
    return f"{observer}|{performer}|{numerator}"


def load_calibrations() -> dict:
    try:
        return json.loads(CALIBRATION_PATH.read_text())
    except (OSError, ValueError):
        return {}


def _terms(obs_logits, perf_logits, input_ids, n: int, numerator: str):
    """Per-position numerator and denominator terms for one text (float64 numpy, length n-1).

    obs_logits, perf_logits: (T, V) logits of each model at the text's positions (the same tensor
    in single-model mode); input_ids: (T,). Position i predicts token i+1.
    """
    import torch

    obs_lp = torch.log_softmax(obs_logits[: n - 1].double(), -1)  # (n-1, V)
    perf_lp = obs_lp if perf_logits is obs_logits else torch.log_softmax(perf_logits[: n - 1].double(), -1)
    target = input_ids[1:n].unsqueeze(-1)
    num_lp = obs_lp if numerator == "observer" else perf_lp
    token_log_ppl = -num_lp.gather(-1, target).squeeze(-1)  # (n-1,)
    token_log_xppl = -(obs_lp.exp() * perf_lp).sum(-1)  # (n-1,) cross-entropy M1 -> M2
    return token_log_ppl.numpy(), token_log_xppl.numpy()


def binoculars(
    texts: Sequence[str],
    observer: ModelArg = None,
    performer: ModelArg = None,
    *,
    numerator: str = "observer",
    threshold: float | None = None,
    max_tokens: int | None = None,
    min_tokens: int = MIN_TOKENS,
    batch_size: int | None = 16,
    time_budget_s: float | None = None,
    progress: ProgressFn | None = None,
    max_texts: int | None = None,
) -> list[BinocularsResult]:
    """Binoculars scores of texts, in order.

    observer/performer: registry names or loaded models (None: the profile's defaults). numerator:
    "observer" (the paper) or "performer" (the authors' code). threshold: None for the pair's default.
    Texts are cut to ``max_tokens`` (default: the configured limit, 512). A text with fewer than
    ``min_tokens`` scored tokens raises InputError naming it.

    Library calls have no limits the server needs: ``max_texts=None`` (the default) scores any number of
    texts and ``time_budget_s=None`` (the default) however long it takes. The app passes its
    ``max_batch_texts`` and time budget; past a budget the call stops with
    :class:`~backends.decoding.TimeBudgetError`.
    """
    if numerator not in NUMERATORS:
        raise InputError(f"numerator must be one of {NUMERATORS}, got {numerator!r}.")
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise InputError("Texts must be a list of strings (one text per item).")
    lim = limits()
    if max_texts is not None and len(texts) > max_texts:
        raise InputError(f"{len(texts)} texts; the limit is {max_texts} per request.")
    for i, t in enumerate(texts):
        check_text(t, what=f"Text {i + 1}")  # a string, not blank, within the length limit
    texts = [clean_text(t) for t in texts]  # unstripped: scores stay those of the text as given
    if not texts:
        raise InputError("No texts to score.")
    max_tokens = min(max_tokens or lim.max_tokens, lim.max_tokens)
    deadline = Deadline(time_budget_s)
    obs, perf = resolve_pair(observer, performer)
    obs_name, perf_name = obs.name, perf.name
    check_pair(obs, perf)
    single = obs is perf
    if threshold is None:
        threshold, source = default_threshold(obs_name, perf_name, numerator)
    else:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
            raise InputError("The threshold must be a finite number.")
        source = "user"

    encoded = L.encode(obs, texts, max_tokens)
    for i, ids in enumerate(encoded[0]):
        if len(ids) - 1 < min_tokens:
            raise InputError(
                f"Text {i + 1} has {max(len(ids) - 1, 0)} scorable tokens; at least {min_tokens} are needed "
                "to judge it (a score over a handful of tokens is mostly noise)."
            )
    # Both models run over identical batches (sized for the larger vocabulary), so their logits line up.
    big = max((obs, perf), key=L.vocab_size)
    groups = L.plan_batches(big, encoded[0], batch_size)
    common = dict(max_tokens=max_tokens, batch_size=batch_size, deadline=deadline, encoded=encoded, groups=groups)
    perf_batches = None if single else L.forward_logits(perf, texts, **common)
    results: list[BinocularsResult | None] = [None] * len(texts)
    for batch in L.forward_logits(obs, texts, progress=progress, **common):
        pbatch = next(perf_batches) if perf_batches is not None else batch
        for row, i in enumerate(batch.indices):
            n = int(batch.attention_mask[row].sum())
            ol = batch.logits[row]
            pl = ol if single else pbatch.logits[row]
            t_ppl, t_x = _terms(ol, pl, batch.input_ids[row], n, numerator)
            log_ppl, log_xppl = float(t_ppl.mean()), float(t_x.mean())
            score = log_ppl / log_xppl if log_xppl > 0 else float("inf")
            ids = batch.input_ids[row, 1:n].tolist()
            results[i] = BinocularsResult(
                text=texts[i], score=score, log_ppl=log_ppl, log_xppl=log_xppl, threshold=float(threshold),
                is_machine=bool(score < threshold), tokens=obs.tokenizer.batch_decode([[t] for t in ids]),
                token_log_ppl=t_ppl.tolist(), token_log_xppl=t_x.tolist(), n_tokens=n - 1,
                truncated=batch.truncated[row], single_model=single, observer=obs_name, performer=perf_name,
                numerator=numerator, threshold_source=source,
            )
    return [r for r in results if r is not None]


def perplexity(texts: Sequence[str], model: ModelArg = None, *, max_tokens: int | None = None,
               time_budget_s: float | None = None) -> list[float]:
    """The baseline the paper argues against: log-perplexity alone (low: machine).

    ``model``: a registry name, a loaded model, or None for the default observer. No time budget
    unless ``time_budget_s`` is given.
    """
    lim = limits()
    m = model if isinstance(model, LoadedModel) else registry().get(model or default_pair()[0])
    scores = L.score(m, list(texts), max_tokens=min(max_tokens or lim.max_tokens, lim.max_tokens), top_k=1,
                     deadline=Deadline(time_budget_s))
    return [s.mean_nll for s in scores]


# ----- calibration ------------------------------------------------------------------------------
def roc(human_scores: Sequence[float], machine_scores: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC of "machine when score < t" (machine is the positive class): (fpr, tpr, thresholds).

    Thresholds sit halfway between consecutive distinct scores (plus one below and one above all of
    them), so every achievable operating point is listed once; ties between classes move together.
    """
    try:
        h = np.asarray(human_scores, dtype=float).ravel()
        m = np.asarray(machine_scores, dtype=float).ravel()
    except (TypeError, ValueError, OverflowError):
        raise InputError("Calibration scores must be lists of numbers.") from None
    if h.size == 0 or m.size == 0:
        raise InputError("Calibration needs at least one human and one machine text.")
    if not (np.isfinite(h).all() and np.isfinite(m).all()):
        raise InputError("Calibration scores must be finite numbers.")
    values = np.unique(np.concatenate([h, m]))  # ascending
    cuts = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    fpr = np.array([(h < t).mean() for t in cuts])
    tpr = np.array([(m < t).mean() for t in cuts])
    return fpr, tpr, cuts


def auroc(human_scores: Sequence[float], machine_scores: Sequence[float]) -> float:
    """P(machine score < human score) + 0.5 P(tie): the area under the ROC curve."""
    h = np.asarray(human_scores, dtype=float)[None, :]
    m = np.asarray(machine_scores, dtype=float)[:, None]
    return float((m < h).mean() + 0.5 * (m == h).mean())


def calibrate_scores(human_scores: Sequence[float], machine_scores: Sequence[float],
                     target_fpr: float = 0.01) -> Calibration:
    """ROC, AUROC, TPR at low FPRs, and the largest threshold whose FPR is at most target_fpr."""
    if isinstance(target_fpr, bool) or not isinstance(target_fpr, (int, float)) or not 0 <= target_fpr < 1:
        raise InputError("The target false-positive rate must be a number in [0, 1).")
    fpr, tpr, cuts = roc(human_scores, machine_scores)
    tpr_at = {}
    for f in sorted(set(REPORT_FPRS) | {target_fpr}):
        ok = fpr <= f + 1e-12
        tpr_at[f] = float(tpr[ok].max())
    ok = np.flatnonzero(fpr <= target_fpr + 1e-12)
    best = ok[np.argmax(tpr[ok])]
    # Where several cuts share the best TPR, the largest is the most permissive one with this FPR.
    same = ok[(tpr[ok] == tpr[best]) & (fpr[ok] == fpr[best])]
    threshold = float(cuts[same.max()])
    return Calibration(auroc=auroc(human_scores, machine_scores), fpr=fpr.tolist(), tpr=tpr.tolist(),
                       thresholds=cuts.tolist(), tpr_at_fpr=tpr_at, threshold=threshold, target_fpr=target_fpr,
                       n_human=len(human_scores), n_machine=len(machine_scores))


def calibrate(human_texts: Sequence[str], machine_texts: Sequence[str], target_fpr: float = 0.01,
              observer: ModelArg = None, performer: ModelArg = None, numerator: str = "observer",
              **kwargs) -> Calibration:
    """Score labelled texts with Binoculars and calibrate a threshold for a target FPR (``kwargs`` go to
    :func:`binoculars`; no time budget unless ``time_budget_s`` is among them)."""
    scores = binoculars(list(human_texts) + list(machine_texts), observer, performer, numerator=numerator,
                        threshold=0.0, **kwargs)
    h = [r.score for r in scores[: len(human_texts)]]
    m = [r.score for r in scores[len(human_texts):]]
    return calibrate_scores(h, m, target_fpr)


# ----- the built-in benchmark ------------------------------------------------------------------
@dataclass(frozen=True)
class BenchmarkItem:
    text: str
    label: str  # "human" or "machine"
    source: str
    generator: str = ""  # registry name of the model that wrote it ("" for human texts)
    meta: dict = field(default_factory=dict)


def load_benchmark(path: Path = BENCHMARK_PATH) -> list[BenchmarkItem]:
    items = []
    for line in path.read_text().splitlines():
        if line.strip():
            d = json.loads(line)
            items.append(BenchmarkItem(d["text"], d["label"], d.get("source", ""), d.get("generator", ""),
                                       {k: v for k, v in d.items() if k not in ("text", "label", "source",
                                                                                  "generator")}))
    return items


def sample_benchmark(items: Sequence[BenchmarkItem], per_kind: int | None = None,
                     generators: Sequence[str] | None = None) -> list[BenchmarkItem]:
    """The first ``per_kind`` human texts and the first ``per_kind`` of each generator's, in file order.

    The benchmark file is shuffled by construction, so a prefix is a fair sample; the stored
    calibrations record which sample they used. ``generators`` keeps only those generators' texts.
    """
    seen: dict[str, int] = {}
    kept = []
    for it in items:
        if it.label == "machine" and generators is not None and it.generator not in generators:
            continue
        kind = it.generator if it.label == "machine" else "human"
        seen[kind] = seen.get(kind, 0) + 1
        if per_kind is None or seen[kind] <= per_kind:
            kept.append(it)
    return kept


@dataclass(frozen=True)
class Evaluation:
    """Binoculars and the perplexity baseline on labelled texts."""

    binoculars: Calibration
    perplexity: Calibration
    by_generator: dict[str, dict[str, float]]  # generator -> {"binoculars_auroc", "perplexity_auroc", "n"}
    scores: list[dict]  # one row per text: label, generator, binoculars, log_ppl, log_xppl, n_tokens
    seconds: float
    tokens: int
    stopped: str = ""  # "" or why the run ended early ("stopped", "time cap"): the figures cover the texts scored
    sweep: dict = field(default_factory=dict)  # how it ran: backend, workers, failed items (SweepResult.summary())


# ----- the benchmark as a sweep ("detector" kind, backends/sweeps.py) ----------------------------------
SWEEP_BATCH = 4  # texts per sweep batch: Binoculars scores a batch in one padded pass per model
ROW_KEYS = ("label", "generator", "binoculars", "log_ppl", "log_xppl", "n_tokens")  # a scored text's row


def benchmark_item(it: BenchmarkItem) -> dict:
    """A benchmark text as a sweep item (what a worker needs to score it and file its row)."""
    return {"text": it.text, "label": it.label, "generator": it.generator}


def sweep_options(observer: ModelArg = None, performer: ModelArg = None, numerator: str = "observer") -> dict:
    """The evaluation's settings as sweep options: the pair by registry name (resolved here, on the driver,
    without loading either model) and the numerator."""
    if numerator not in NUMERATORS:
        raise InputError(f"numerator must be one of {NUMERATORS}, got {numerator!r}.")
    reg = registry()
    names = [m.name if isinstance(m, LoadedModel) else reg.resolve(m or default)
             for m, default in zip((observer, performer), default_pair())]
    return {"observer": names[0], "performer": names[1], "numerator": numerator}


def _sweep_state(observer: ModelArg, performer: ModelArg, numerator: str) -> dict:
    obs, perf = resolve_pair(observer, performer)
    check_pair(obs, perf)
    return {"observer": obs, "performer": perf, "numerator": numerator}


def _sweep_setup(options: dict) -> dict:
    """A worker's pair, loaded once through the registry (one model when both names are the same)."""
    return _sweep_state(options["observer"], options["performer"], options["numerator"])


def score_items(state: dict, items: list[dict]) -> list[dict]:
    """One row per benchmark item (label, generator, binoculars, log_ppl, log_xppl, n_tokens), the items scored
    together (one padded batch per model)."""
    res = binoculars([it["text"] for it in items], state["observer"], state["performer"],
                     numerator=state["numerator"], threshold=0.0, min_tokens=1)
    return [{"label": it["label"], "generator": it.get("generator") or "human", "binoculars": r.score,
             "log_ppl": r.log_ppl, "log_xppl": r.log_xppl, "n_tokens": r.n_tokens} for it, r in zip(items, res)]


def _sweep_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    return score_items(state, items)  # deterministic: the seeds are not needed


SWEEP = sweeps.Kind("detector", _sweep_setup, _sweep_run, models=lambda o: sorted({o["observer"], o["performer"]}),
                    version="1", batch_size=SWEEP_BATCH, defaults=sweep_options,
                    builder="backends.detector.sweep_options(observer, performer, numerator)")


def _check_fpr(target_fpr: float) -> float:
    if isinstance(target_fpr, bool) or not isinstance(target_fpr, (int, float)) or not 0 <= target_fpr < 1:
        raise InputError("The target false-positive rate must be a number in [0, 1).")
    return float(target_fpr)


def evaluation_of(rows: Sequence[dict], target_fpr: float = 0.01, seconds: float = 0.0, stopped: str = "",
                  sweep: dict | None = None) -> Evaluation:
    """Both detectors' ROC analyses and the per-generator AUROCs from scored rows (see :func:`score_items`)."""
    rows = [{k: r[k] for k in ROW_KEYS} for r in rows]  # one column order, whether fresh or from a results file
    human = [r for r in rows if r["label"] == "human"]
    machine = [r for r in rows if r["label"] == "machine"]
    b = calibrate_scores([r["binoculars"] for r in human], [r["binoculars"] for r in machine], target_fpr)
    p = calibrate_scores([r["log_ppl"] for r in human], [r["log_ppl"] for r in machine], target_fpr)
    by_gen = {}
    for gen in sorted({r["generator"] for r in machine}):
        ms = [r for r in machine if r["generator"] == gen]
        by_gen[gen] = {"n": len(ms),
                       "binoculars_auroc": auroc([r["binoculars"] for r in human], [r["binoculars"] for r in ms]),
                       "perplexity_auroc": auroc([r["log_ppl"] for r in human], [r["log_ppl"] for r in ms])}
    return Evaluation(b, p, by_gen, rows, seconds, sum(r["n_tokens"] for r in rows), stopped, sweep or {})


def from_sweep(res: "sweeps.SweepResult", target_fpr: float = 0.01) -> Evaluation:
    """The evaluation of the texts a sweep scored (failed or unreached texts are left out, and counted in
    ``sweep``). A ROC needs both labels: a run stopped before it scored one of each says so."""
    rows = [r for r in res.results if r is not None]
    labels = {r["label"] for r in rows}
    if not {"human", "machine"} <= labels:
        why = f" ({res.stopped})" if res.stopped else ""
        if res.failed:
            why += f"; {len(res.failed)} failed, the first: {next(iter(res.failed.values()))}"
        raise InputError(f"Only {len(rows)} of {len(res.results)} texts were scored{why}, and a ROC needs at least "
                         "one human and one machine text. Run again with resume (the tab's Resume box) to score "
                         "the others.")
    return evaluation_of(rows, target_fpr, res.seconds, res.stopped, res.summary())


def evaluate(items: Sequence[BenchmarkItem], observer: ModelArg = None, performer: ModelArg = None,
             numerator: str = "observer", target_fpr: float = 0.01, time_budget_s: float | None = None,
             progress: ProgressFn | None = None, *, backend: str = "local", workers: int = 1,
             resume: bool = False) -> Evaluation:
    """Run Binoculars (and, from the same passes, the log-perplexity baseline) on labelled items.

    Runs as the "detector" sweep (:mod:`backends.sweeps`), :data:`SWEEP_BATCH` texts a batch:
    ``backend="ray"`` with ``workers`` spreads the batches over Ray workers, each loading the pair once,
    with the same scores (up to float rounding). ``resume`` reuses the texts an earlier run with the same
    settings scored. No time budget unless ``time_budget_s`` is given; past it the run stops between
    batches and the figures cover the texts scored (``stopped`` says so).
    """
    target_fpr = _check_fpr(target_fpr)
    options = sweep_options(observer, performer, numerator)
    loaded = isinstance(observer, LoadedModel) or isinstance(performer, LoadedModel)
    local = _sweep_state(observer, performer, numerator) if loaded and backend != "ray" else None
    res = sweeps.run_sweep("detector", [benchmark_item(it) for it in items], options, backend=backend,
                           workers=workers, resume=resume, time_budget_s=time_budget_s, progress=progress,
                           local_state=local)
    return from_sweep(res, target_fpr)
