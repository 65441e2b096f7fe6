"""The paper's grid of prompt designs as a sweep ("bandits" kind of :mod:`backends.sweeps`).

Krishnamurthy et al. ran every prompt design (the five-letter codes of :func:`~backends.bandits.all_codes`)
for N replicates of T rounds on one instance, against the baselines. Here each design is one sweep item
(``{"code": "BNRN0"}``); a worker plays its N replicates exactly as :func:`~backends.bandits.run_llm` does
(generating designs decode the replicates of a round as one batch) and returns what rebuilds the
:class:`~backends.bandits.Runs` (choices, rewards, answers, parse outcomes, the distributions drawn from) and
the design's failure statistics, as plain JSON values.

Common random numbers: every design must face the same coin flips, so the reward table
``reward_table(inst, T, N, seed)`` and the agents' own randomness come from the seed in the sweep's
*options* (the grid's base seed), not from the per-item seed the runner derives: a design's result is
the one ``run_llm(code, inst, seed=seed)`` gives, whichever worker plays it and in whatever order.

:func:`run_grid` runs the grid (in-process or on Ray workers) and adds the baselines, computed here
(vectorised numpy, milliseconds).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from backends import sweeps
from backends.bandits.agent import chat_model, run_llm
from backends.bandits.instances import BASELINES, Instance, Runs, check_run_size, make_instance, run_baseline
from backends.bandits.prompts import all_codes, parse_code, render_prompt
from backends.bandits.stats import Stats, failure_stats, runs_table
from backends.config import InputError, check_count, limits

if TYPE_CHECKING:
    from backends.models import LoadedModel

ProgressFn = Callable[[float, str], None]
MAX_GRID_REPLICATES = 100


# ----- items and options ---------------------------------------------------------------------------
def select_codes(spec: str | Sequence[str]) -> list[str]:
    """Prompt codes from a filter: "all", or codes and shell-style patterns separated by commas or spaces
    (``*`` any characters, ``?`` one; e.g. ``B?RN?`` or ``*N0``), in the order given (a pattern's codes in the
    order of :func:`all_codes`), each once. A list is read item by item the same way. Unknown codes and
    patterns that match nothing are refused."""
    parts = [str(p) for p in spec] if not isinstance(spec, str) else str(spec or "").replace(",", " ").split()
    parts = [p.strip().upper() for p in parts if str(p).strip()]
    if not parts:
        raise InputError("Choose prompt codes: 'all', a list such as 'BNRN0, BSSC~0', or a pattern such as 'B?RN?'.")
    codes = all_codes()
    chosen: dict[str, None] = {}  # ordered, without repeats
    for p in parts:
        if p == "ALL":
            hits = codes
        elif any(ch in p for ch in "*?["):
            hits = fnmatch.filter(codes, p)
            if not hits:
                raise InputError(f"The pattern {p[:30]!r} matches no prompt code (codes look like BNRN0 or BSSC~0; "
                                 "* stands for any characters, ? for one).")
        else:
            hits = [parse_code(p).code]
        chosen.update(dict.fromkeys(hits))
    return list(chosen)


def grid_items(codes: str | Sequence[str]) -> list[dict]:
    """The sweep items of a grid: one ``{"code": ...}`` per distinct prompt code (see :func:`select_codes`)."""
    return [{"code": c} for c in select_codes(codes)]


def instance_of(spec: Instance | str | dict, seed: int = 0) -> Instance:
    """An instance from an Instance, a name ("hard", "easy"), or a dict with ``name``, ``k``/``delta`` or
    ``means`` (the arguments of :func:`make_instance`; a paper-style instance's best arm comes from ``seed``)."""
    if isinstance(spec, Instance):
        return spec
    if isinstance(spec, str):
        return make_instance(spec, seed=seed)
    if isinstance(spec, dict):
        if spec.get("means") is not None:
            inst = make_instance(means=spec["means"])
            return Instance(inst.means, str(spec.get("name") or "custom"), spec.get("delta"))
        return make_instance(spec.get("name"), k=spec.get("k"), delta=spec.get("delta"), seed=seed)
    raise InputError("The instance must be a name ('hard', 'easy'), an Instance, or a dict of k/delta or means.")


def grid_options(inst: Instance | str | dict, horizon: int, replicates: int, model: "str | LoadedModel | None" = None,
                 *, seed: int = 0, max_reasoning_tokens: int = 96) -> dict:
    """The grid's settings as sweep options (validated; the model by registry name, the instance by its means).

    ``seed`` is the grid's base seed: it fixes the reward table and the agents' randomness of every design."""
    from backends.models import LoadedModel, registry

    seed = check_count(seed, what="Seed", low=0, high=2**63 - 1)
    inst = instance_of(inst, seed)
    horizon, replicates = check_run_size(horizon, replicates, MAX_GRID_REPLICATES)
    name = model.name if isinstance(model, LoadedModel) else registry().resolve(model, "chat")
    return {"model": name, "instance": {"name": inst.name, "means": list(inst.means), "delta": inst.delta},
            "horizon": horizon, "replicates": replicates, "seed": seed,
            "max_reasoning_tokens": check_count(max_reasoning_tokens, what="Reasoning token limit", low=8,
                                                high=limits().max_new_tokens)}


def _instance(options: dict) -> Instance:
    d = options["instance"]
    return Instance(tuple(float(m) for m in d["means"]), d["name"], d["delta"])


# ----- one design, as a worker plays it ----------------------------------------------------------------
def stats_record(s: Stats) -> dict[str, Any]:
    """A design's failure statistics as JSON values: the scalars and the curves over t = 1..T."""
    out: dict[str, Any] = {}
    for k in Stats.__dataclass_fields__:
        v = getattr(s, k)
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def play_code(lm: "LoadedModel", code: str, options: dict) -> dict:
    """One design's N replicates of T rounds (exactly :func:`run_llm` with the options' seed), as JSON values."""
    runs = run_llm(code, _instance(options), horizon=options["horizon"], replicates=options["replicates"], model=lm,
                   seed=options["seed"], max_reasoning_tokens=options["max_reasoning_tokens"])
    return {"code": runs.code, "agent": runs.agent, "model": runs.model, "choices": runs.choices.tolist(),
            "rewards": runs.rewards.tolist(), "answers": runs.answers, "parse": runs.parse, "probs": runs.probs,
            "seconds": runs.seconds, "tokens_run": runs.tokens_run, "parse_counts": runs.parse_counts(),
            "stats": stats_record(failure_stats(runs))}


def _sweep_setup(options: dict) -> dict:
    return {"lm": chat_model(options["model"]), "options": options}


def _sweep_run(state: dict, items: list[dict], seeds: list[int]) -> list[dict]:
    # The per-item seeds are not used: every design shares the options' seed (common random numbers).
    return [play_code(state["lm"], it["code"], state["options"]) for it in items]


SWEEP = sweeps.Kind("bandits", _sweep_setup, _sweep_run, models=lambda o: [o["model"]], version="1",
                    required=("model", "instance", "horizon", "replicates", "seed", "max_reasoning_tokens"),
                    builder="backends.bandits.sweep.grid_options(instance, horizon, replicates, model)")


def runs_of(result: dict, inst: Instance, seed: int, *, prompts: bool = True) -> Runs:
    """The :class:`Runs` a design's sweep result stands for; ``prompts`` re-renders the messages of every round
    from the history (they are not stored: they follow from the code, the instance and the choices)."""
    choices = np.asarray(result["choices"], dtype=np.int64)
    rewards = np.asarray(result["rewards"], dtype=np.int8)
    n, horizon = choices.shape
    pc = parse_code(result["code"])
    msgs: list[list[dict[str, str]]] = [[] for _ in range(n)]
    if prompts:
        for r in range(n):
            hist = list(zip(choices[r].tolist(), rewards[r].tolist()))
            msgs[r] = [render_prompt(pc, inst.k, horizon, hist[:t]) for t in range(horizon)]
    return Runs(result["agent"], inst, choices, rewards, seed, float(result["seconds"]), kind="llm", code=pc.code,
                model=result["model"], prompts=msgs, answers=result["answers"], parse=result["parse"],
                probs=result["probs"], tokens_run=int(result["tokens_run"]))


# ----- the grid ---------------------------------------------------------------------------------------
@dataclass
class Grid:
    """A grid's outcome: the baselines' and the finished designs' runs, their statistics and how the sweep went."""

    instance: Instance
    horizon: int
    replicates: int  # N of the LLM designs
    seed: int
    runs: list[Runs]  # the baselines first, then each finished design in the order asked
    stats: list[Stats]  # failure_stats of each run, same order
    failed: dict[str, str] = field(default_factory=dict)  # code -> why it failed (after one retry)
    missing: list[str] = field(default_factory=list)  # codes not reached (stopped or time cap)
    stopped: str = ""
    seconds: float = 0.0
    sweep: dict = field(default_factory=dict)  # SweepResult.summary()

    def rows(self) -> list[dict[str, Any]]:
        """Failure statistics per agent (Stats.row()), with the kind, replicates, parse counts and seconds."""
        out = []
        for run, s in zip(self.runs, self.stats):
            c = run.parse_counts() if run.kind == "llm" else {}
            out.append({**s.row(), "kind": run.kind, "code": run.code or "", "replicates": run.replicates,
                        "parsed": c.get("ok", ""), "lenient": c.get("lenient", ""), "fallback": c.get("fallback", ""),
                        "seconds": round(run.seconds, 2)})
        return out

    def decisions(self) -> list[dict[str, Any]]:
        """Every decision as a table row (:func:`runs_table`)."""
        return runs_table(self.runs)


def from_sweep(res: "sweeps.SweepResult", items: Sequence[dict], options: dict, baselines: list[Runs],
               *, prompts: bool = True) -> Grid:
    """The :class:`Grid` of a finished (or stopped) "bandits" sweep, with the baselines' runs put first."""
    inst = _instance(options)
    llm = [runs_of(r, inst, options["seed"], prompts=prompts) for r in res.results if r is not None]
    runs = list(baselines) + llm
    return Grid(inst, options["horizon"], options["replicates"], options["seed"], runs,
                [failure_stats(r) for r in runs], {items[i]["code"]: m for i, m in res.failed.items()},
                [items[i]["code"] for i in res.missing()],
                res.stopped, res.seconds, res.summary())


def run_grid(codes: str | Sequence[str], inst: Instance | str | dict, horizon: int, replicates: int,
             model: "str | LoadedModel | None" = None, seed: int = 0, backend: str = "local", workers: int = 1,
             resume: bool = False, progress: ProgressFn | None = None, time_budget_s: float | None = None, *,
             max_reasoning_tokens: int = 96, baselines: Sequence[str] = ("ucb", "ts", "greedy"),
             baseline_replicates: int | None = None, c: float = 1.0, epsilon: float = 0.1,
             prompts: bool = True) -> Grid:
    """Run prompt designs ``codes`` (codes, patterns or "all": :func:`select_codes`) for ``replicates`` x
    ``horizon`` rounds on ``inst``, as the "bandits" sweep, beside the baselines.

    Each design is one sweep item; ``backend="ray"`` with ``workers`` spreads the designs over Ray workers (each
    loads the model once), with the same choices. Every design and baseline uses ``seed`` for its reward table
    (common random numbers; :func:`run_llm`'s and :func:`run_baseline`'s own seeding), so a design's runs equal
    ``run_llm(code, inst, seed=seed)``'s. ``baseline_replicates``: None uses ``replicates`` (the same coin flips
    as the designs, replicate by replicate). ``time_budget_s``/Stop: designs not reached are listed in
    ``missing``; ``resume=True`` reuses the designs an earlier run with the same settings finished.
    ``prompts=False`` leaves the runs' per-round messages out (re-rendering them costs time on big grids).
    """
    from backends.models import LoadedModel

    items = grid_items(codes)
    options = grid_options(inst, horizon, replicates, model, seed=seed, max_reasoning_tokens=max_reasoning_tokens)
    for a in baselines:
        if a not in BASELINES:
            raise InputError(f"Unknown baseline {a!r}: choose among {', '.join(BASELINES)}.")
    local = None
    if isinstance(model, LoadedModel):
        local = {"lm": model, "options": options}
    inst_ = _instance(options)
    base_n = options["replicates"] if baseline_replicates is None else baseline_replicates
    base = [run_baseline(a, inst_, horizon=options["horizon"], replicates=base_n, seed=options["seed"], c=c,
                         epsilon=epsilon) for a in baselines]
    res = sweeps.run_sweep("bandits", items, options, backend=backend, workers=workers, seed=options["seed"],
                           resume=resume, time_budget_s=time_budget_s, progress=progress, local_state=local)
    return from_sweep(res, items, options, base, prompts=prompts)


__all__ = ["SWEEP", "Grid", "from_sweep", "grid_items", "grid_options", "instance_of", "play_code", "run_grid",
           "runs_of", "select_codes", "stats_record"]
