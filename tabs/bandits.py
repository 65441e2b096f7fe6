"""Bandit playground: an LLM as a multi-armed bandit agent, against UCB, Thompson sampling and Greedy."""
from __future__ import annotations

import html
import threading

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from backends import bandits as B
from backends.bandits.sweep import from_sweep as grid_from_sweep
from backends.config import InputError, check_count, check_number, limits, public_mode
from tabs.common import HEAVY, Outputs, export_csv, export_dicts, export_json, gpu, guarded, stream_sweep, user_error
from tabs.ui import explain, intro, sweep_controls

TITLE = "Bandit playground"
SUMMARY = ("Can LLMs explore in-context? (Krishnamurthy et al. 2024): an LLM plays a multi-armed bandit beside "
           "UCB and Thompson sampling, with the paper's prompts and failure statistics.")
BASELINE_CHOICES = [("UCB", "ucb"), ("Thompson sampling", "ts"), ("Greedy", "greedy"), ("ε-greedy", "egreedy")]
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
           "#eeca3b", "#1b9e77", "#7570b3"]
MAX_TIMELINE_ROWS = 60

INTRO = """
**Can LLMs explore in-context?** (Krishnamurthy, Harris, Foster, Zhang & Slivkins 2024). A K-armed Bernoulli
bandit: each round the agent picks an arm and sees only that arm's 0/1 reward. A good agent must **explore**
(try arms it knows little about) and **exploit** (play the arm that looks best). The paper put LLMs in the loop
with a space of prompt designs, named by a five-letter code, and found that nearly all of them **fail**: either
they stop playing the best arm early (*suffix failure*, like Greedy) or they keep spreading their choices over
all arms (*uniform-like failure*). Only GPT-4 with **BSSC~0** (buttons, suggestive framing, summarised history,
reinforced chain-of-thought, temperature 0) behaved like the classic algorithms.
"""
CODES_HELP = """
**Prompt code** = scenario **B** buttons / **A** advertisements · framing **N** neutral / **S** suggestive
(hints at the explore-exploit trade-off) · history **R** raw list of rounds / **S** summary per arm ·
reasoning **N** answer only / **C** chain-of-thought / **C~** chain-of-thought reinforced in the user message ·
output **0** temperature 0 / **1** temperature 1 / **D** a distribution over arms, from which the arm is drawn.
The basic prompt is **BNRN0**.
"""
TINY_NOTE = """
*On the tiny profile* the LLM is SmolLM2-135M-Instruct, about a hundred times smaller than the paper's LLaMA-2-13B
and smaller still than GPT-4. Answer-only designs read its next-token distribution over the arm labels, so every
decision is valid; with chain-of-thought it often writes no parseable answer, and such rounds fall back to a random
arm (counted below). What you see is what this small model does, not the paper's GPT-4 or LLaMA-2 results.
Chain-of-thought designs cost a generation per round: keep T and N small here (the run is refused up front if its
estimate exceeds the cap), or use the GPU profile.
"""

CPU_NOTE = """
*On the cpu profile* the LLM is Qwen2.5-Coder-1.5B-Instruct in int8, about a tenth the size of the paper's
LLaMA-2-13B. Unlike the tiny profile's SmolLM2 (which pressed the first label in all 1,000 rounds) it reads the
history. Measured on the hard instance (seed 0): **BNRN0** at T = 100, one replicate (193 s) tried each arm once,
then played the arm with the best record 96 times. That is greedy behaviour (GreedyFrac 0.96). Here the first
pull of the best arm paid off, so the run looks like a success. The Greedy baseline behaves the same way and fails
in 47 % of replicates (SuffFailFreq 0.47 over 1,000), so a single run says nothing about the failure rate: run
N ≥ 10 to see it. **BSSC~0** (the paper's only success, with GPT-4) ran only T = 10 in 189 s: every answer was
parsed (4 from the answer tag, 6 leniently), but the best arm was never tried. Chain-of-thought designs cost
about 20 s per round here: keep T and N small, or use the GPU profile.
"""
NOTES = {"tiny": TINY_NOTE, "cpu": CPU_NOTE}
EXPLAIN_SCATTER = """
**Reading the scatter** (the paper's summary figure). Up the y-axis: **SuffFailFreq(T/2)**, the fraction of
replicates that never pick the best arm in the second half: an *exploration failure*; Greedy sits high.
Right on the x-axis: **K·MinFrac(T)**, K times the smallest share of rounds any arm received (1 = perfectly
uniform): an *exploitation failure*. Good agents sit near the origin, like UCB and Thompson sampling. Most LLM
configurations in the paper landed high (suffix failures) or right (uniform-like, typical of distribution
outputs).
"""
EXPLAIN_CURVES = """
**Cumulative regret**: the sum over rounds of μ* − μ of the arm played (the reward lost to not knowing the best
arm), mean over replicates with a 10–90 % band. A good agent's regret flattens; a failing one grows linearly.
**Best-arm fraction**: the share of rounds 1..t on the best arm, mean over replicates.
"""
EXPLAIN_TIMELINE = """
**Arm-choice timeline**: one row per replicate, one column per round, coloured by the arm played; the best arm
is the saturated red, the others muted. Suffix failures show as rows that stop showing red; uniform-like
failures as rows that never settle.
"""

EXAMPLES = [
    # instance, T, baseline N, baselines, codes, LLM N, reasoning tokens, seed
    ["hard", 100, 1000, ["ucb", "ts", "greedy"], [], 2, 96, 0],
    ["easy", 100, 1000, ["ucb", "ts", "greedy", "egreedy"], [], 2, 96, 0],
    ["hard", 25, 1000, ["ucb", "ts", "greedy"], ["BNRN0"], 2, 96, 0],
    ["hard", 25, 1000, ["ucb", "ts", "greedy"], ["BNRN0", "BNRN1", "BSSN0"], 2, 96, 0],
    ["easy", 4, 200, ["ucb", "ts"], ["BSSC~0"], 1, 48, 0],
]
EXAMPLE_LABELS = ["Baselines, hard instance (1,000 replicates)", "Baselines, easy instance",
                  "Basic prompt BNRN0 (T = 25)", "Temperature and history: BNRN0 / BNRN1 / BSSN0",
                  "Reinforced CoT BSSC~0 (a few rounds)"]


def _instance(kind: str, k: float, delta: float, means_text: str, seed: int) -> B.Instance:
    if kind == "custom" and str(means_text or "").strip():
        return B.make_instance(means=B.parse_means(means_text))
    if kind == "custom":
        return B.make_instance(k=k, delta=delta, seed=seed)
    return B.make_instance(kind, seed=seed)


def _label(run: B.Runs, arm: int) -> str:
    return B.parse_code(run.code).labels(run.instance.k)[arm] if run.code else f"arm {arm + 1}"


def scatter_figure(stats: list[B.Stats], runs: list[B.Runs]) -> go.Figure:
    fig = go.Figure()
    for s, r in zip(stats, runs):
        is_llm = r.kind == "llm"
        fig.add_trace(go.Scatter(
            x=[s.k_min_frac], y=[s.suff_fail_freq], mode="markers+text", name=s.agent, text=[s.agent],
            textposition="top center",
            marker={"size": 14 if is_llm else 11, "symbol": "circle" if is_llm else "diamond",
                    "color": "#e45756" if is_llm else "#4c78a8", "line": {"width": 1, "color": "#222"}},
            hovertemplate=(f"{html.escape(s.agent)}<br>K·MinFrac(T) %{{x:.3f}}<br>SuffFailFreq(T/2) %{{y:.3f}}"
                           f"<br>N = {r.replicates}<extra></extra>")))
    fig.update_layout(title="Exploration vs exploitation failures (one point per agent)",
                      xaxis={"title": "K·MinFrac(T)  → uniform-like failure", "range": [-0.05, 1.05]},
                      yaxis={"title": "SuffFailFreq(T/2)  → suffix failure", "range": [-0.05, 1.05]},
                      showlegend=False, height=420, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def _band(fig: go.Figure, x, mean, lo, hi, name: str, color: str, row: int | None = None) -> None:
    fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                             fillcolor=color, opacity=0.18, line={"width": 0}, hoverinfo="skip", showlegend=False,
                             legendgroup=name))
    fig.add_trace(go.Scatter(x=x, y=mean, mode="lines", name=name, line={"color": color, "width": 2},
                             legendgroup=name))


def curves_figure(stats: list[B.Stats]) -> go.Figure:
    fig = go.Figure()
    for i, s in enumerate(stats):
        x = np.arange(1, len(s.regret_mean) + 1)
        _band(fig, x, s.regret_mean, s.regret_lo, s.regret_hi, s.agent, PALETTE[i % len(PALETTE)])
    fig.update_layout(title="Cumulative regret (mean, 10–90 % band over replicates)", xaxis_title="round t",
                      yaxis_title="regret", height=380, margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def best_arm_figure(stats: list[B.Stats]) -> go.Figure:
    fig = go.Figure()
    for i, s in enumerate(stats):
        x = np.arange(1, len(s.best_frac_curve) + 1)
        fig.add_trace(go.Scatter(x=x, y=s.best_frac_curve, mode="lines", name=s.agent,
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 2}))
    fig.update_layout(title="Fraction of rounds 1..t on the best arm", xaxis_title="round t",
                      yaxis={"title": "fraction", "range": [0, 1.02]}, height=340,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def timeline_figure(run: B.Runs) -> go.Figure:
    n = min(run.replicates, MAX_TIMELINE_ROWS)
    k, best = run.instance.k, run.instance.best
    muted = ["#c6dbef", "#c7e9c0", "#dadaeb", "#fdd0a2", "#d9d9d9", "#9ecae1", "#a1d99b", "#bcbddc", "#fdae6b"]
    colors = []
    others = iter(muted)
    for a in range(k):
        colors.append("#d62728" if a == best else next(others))
    scale = []
    for a, c in enumerate(colors):
        scale += [[a / k, c], [(a + 1) / k, c]]
    labels = [[_label(run, int(a)) for a in row] for row in run.choices[:n]]
    fig = go.Figure(go.Heatmap(
        z=run.choices[:n] + 0.5, x=np.arange(1, run.horizon + 1), y=np.arange(1, n + 1), zmin=0, zmax=k,
        colorscale=scale, customdata=labels, showscale=False,
        hovertemplate="replicate %{y}, round %{x}: %{customdata}<extra></extra>"))
    legend = " · ".join(f"{_label(run, a)}{' (best)' if a == best else ''}" for a in range(k))
    fig.update_layout(title=f"{run.agent}: arm chosen per round ({legend})", xaxis_title="round",
                      yaxis={"title": "replicate", "autorange": "reversed", "dtick": 1 if n <= 20 else None},
                      height=max(220, 60 + 16 * n), margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return fig


def transcript_html(run: B.Runs, replicate: int) -> str:
    if run.kind != "llm":
        return ("<p><i>Transcripts exist for LLM agents only; choose an LLM agent above (baselines have no "
                "prompts).</i></p>")
    r = min(max(replicate, 1), run.replicates) - 1
    parts = [f"<p><b>{html.escape(run.agent)}</b> on <code>{html.escape(run.model or '')}</code>, replicate {r + 1} "
             f"of {run.replicates}. Click a round to see the exact messages the model received.</p>"]
    for t in range(run.horizon):
        msgs = run.prompts[r][t]
        arm = int(run.choices[r, t])
        best = " ★" if arm == run.instance.best else ""
        how = run.parse[r][t]
        flag = {"ok": "", "lenient": " · <i>answer read leniently (no tag)</i>",
                "fallback": " · <b>unparseable: random arm</b>"}[how]
        parts.append(
            f"<details class='bandit-round'><summary>round {t + 1}: chose <b>{html.escape(_label(run, arm))}</b>"
            f"{best}, reward {int(run.rewards[r, t])}{flag}</summary>"
            f"<div><b>System</b><pre>{html.escape(msgs['system'])}</pre><b>User</b>"
            f"<pre>{html.escape(msgs['user'])}</pre><b>Model answer</b>"
            f"<pre>{html.escape(run.answers[r][t])}</pre></div></details>")
    return "".join(parts)


def _summary(runs: list[B.Runs], stats: list[B.Stats], inst: B.Instance) -> str:
    lines = [f"**Instance** {inst.describe()}."]
    for run in runs:
        if run.kind == "llm":
            c = run.parse_counts()
            lines.append(f"**{run.agent}** on `{run.model}`: {run.replicates} replicates × {run.horizon} rounds in "
                         f"{run.seconds:.1f} s; answers parsed {c['ok']}, read leniently {c['lenient']}, "
                         f"unparseable (random arm) {c['fallback']}.")
    base = [r for r in runs if r.kind == "baseline"]
    if base:
        lines.append(f"Baselines: {base[0].replicates} replicates each in {sum(r.seconds for r in base):.2f} s.")
    return "\n\n".join(lines)


def _compute(kind, k, delta, means_text, horizon, replicates, baselines, codes, llm_replicates, model,
             reasoning_tokens, c, epsilon, seed, progress, should_stop):
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    inst = _instance(kind, k, delta, means_text, seed)  # make_instance refuses an unknown kind
    baselines = list(baselines or [])  # run_baseline refuses an unknown name before anything runs
    codes = [str(x) for x in (codes or [])]
    horizon_n = check_count(horizon, what="Horizon T", low=2, high=min(500, limits().max_count))
    runs = B.run_many(baselines, codes, inst, horizon=horizon_n,
                      replicates=check_count(replicates, what="Baseline replicates", low=1, high=5000),
                      llm_replicates=check_count(llm_replicates, what="LLM replicates", low=1, high=20),
                      seed=seed, c=check_number(c, what="UCB constant C", low=0.0, high=10.0),
                      epsilon=check_number(epsilon, what="ε", low=0.0, high=1.0), model=model or None,
                      max_reasoning_tokens=check_count(reasoning_tokens, what="Reasoning token limit", low=8,
                                                       high=limits().max_new_tokens),
                      progress=progress, should_stop=should_stop, time_cap_s=limits().max_run_s)
    return _outputs(runs, inst, horizon_n, seed)


RESULT = Outputs("summary", "table", "scatter", "regret", "best_arm", "timeline", "transcript", "agent", "stats_csv",
                 "decisions_csv", "report_json", "runs")
N_OUTPUTS = len(RESULT)
VIEW = Outputs("timeline", "transcript")


@gpu
def run_experiment(kind: str, k: float, delta: float, means_text: str, horizon: float, replicates: float,
                   baselines: list[str], codes: list[str], llm_replicates: float, model: str, reasoning_tokens: float,
                   c: float, epsilon: float, seed: float, progress: gr.Progress = gr.Progress()):
    """Run the chosen agents. Yields (while running) nothing new, then the outputs named in :data:`RESULT`:
    summary, stats table, scatter, regret, best-arm, timeline, transcript, the choice of agents for the
    viewer, a stats CSV, a decisions CSV, a JSON report and the runs (state). The run is refused up front
    when its estimate exceeds the configured cap on long runs.

    The work runs in a worker thread that polls a stop flag every round; this generator keeps the event
    alive, relays progress, and sets the flag when Gradio cancels it (Stop), so a stopped run really stops.
    """
    stop = threading.Event()
    box: dict = {"progress": (0.0, "Starting")}

    def report(frac: float, msg: str) -> None:
        box["progress"] = (frac, msg)

    def work() -> None:
        try:
            box["out"] = _compute(kind, k, delta, means_text, horizon, replicates, baselines, codes, llm_replicates,
                                  model, reasoning_tokens, c, epsilon, seed, report, stop.is_set)
        except BaseException as e:  # noqa: BLE001 - handed to the event thread, which reports it
            box["err"] = e

    worker = threading.Thread(target=work, name="bandit-run", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.5)
            frac, msg = box["progress"]
            progress(frac, desc=msg)
            if worker.is_alive():
                yield tuple(gr.skip() for _ in range(len(RESULT)))
    finally:
        stop.set()  # also runs when the generator is closed because the user pressed Stop
    if "err" in box:
        raise user_error(box["err"], "run_experiment")
    yield box["out"]


def _outputs(runs: list[B.Runs], inst: B.Instance, horizon_n: int, seed: int):
    stats = [B.failure_stats(r) for r in runs]
    table = [s.row() for s in stats]
    header = list(table[0])
    rows = [[row[h] for h in header] for row in table]
    first = next((r for r in runs if r.kind == "llm"), runs[0])
    names = [r.agent for r in runs]
    report = {"instance": {"name": inst.name, "means": list(inst.means), "best_arm": inst.best + 1},
              "horizon": horizon_n, "seed": seed, "agents": [
                  {**s.row(), "replicates": r.replicates, "kind": r.kind, "model": r.model,
                   "parse": r.parse_counts() if r.kind == "llm" else None,
                   "suff_fail_curve": s.suff_fail_curve.round(4).tolist(),
                   "k_min_frac_curve": s.k_min_frac_curve.round(4).tolist(),
                   "regret_mean": s.regret_mean.round(4).tolist(),
                   "best_frac_curve": s.best_frac_curve.round(4).tolist()} for s, r in zip(stats, runs)]}
    return RESULT.pack(
        summary=_summary(runs, stats, inst), table=pd.DataFrame(rows, columns=header),
        scatter=scatter_figure(stats, runs), regret=curves_figure(stats), best_arm=best_arm_figure(stats),
        timeline=timeline_figure(first), transcript=transcript_html(first, 1),
        agent=gr.Dropdown(choices=names, value=first.agent),
        stats_csv=export_csv("bandit-stats", header, rows, comment=f"{inst.describe()}; T={horizon_n}; seed={seed}"),
        decisions_csv=export_dicts("bandit-decisions", B.runs_table(runs)),
        report_json=export_json("bandit-report", report), runs=runs)


def view_agent(runs: list[B.Runs] | None, agent: str, replicate: float):
    """Re-draw the timeline and transcript for another agent or replicate of the last run."""
    if not runs:
        return VIEW.pack(timeline=None, transcript="<p><i>Run an experiment first.</i></p>")
    run = next((r for r in runs if r.agent == agent), runs[0])
    try:
        rep = int(replicate)
    except (TypeError, ValueError):
        rep = 1
    return VIEW.pack(timeline=timeline_figure(run), transcript=transcript_html(run, rep))


# ----- the grid of prompt designs (the "bandits" sweep) -----------------------------------------------
GRID = Outputs("report", "table", "scatter", "regret", "stats_csv", "decisions_csv")  # run_grid's outputs
GRID_DEFAULT = "BNRN0, BNRN1, BSSN0, BSRN0"  # four answer-only designs: about a minute on the tiny profile
MAX_GRID_CODES, MAX_GRID_CODES_PUBLIC = 72, 12
GRID_HELP = """
**Grid**: many prompt designs on the same instance, as the paper's Figure 3 did for all of them. Each design plays
N replicates of T rounds (its replicates decoded as one batch); every design and baseline faces the same coin flips
(the reward table comes from the seed). Choose the designs as **all**, a list (`BNRN0, BSSC~0`) or patterns
(`*` any characters, `?` one: `B?RN?` is the six answer-only button designs with a raw history, `*N0` every
answer-only design at temperature 0). Designs run one after another in-process, or side by side on Ray
workers (each loads its own copy of the model; same choices). **Stop** keeps the designs already finished: tick
**Resume** and run again to reuse them. The baselines use the instance, replicates, C and ε set above.
"""


def _grid_cap() -> int:
    return MAX_GRID_CODES_PUBLIC if public_mode() else MAX_GRID_CODES


def _grid_estimate(codes: list[str], inst: B.Instance, horizon: int, replicates: int, model: str, reasoning: int,
                   backend: str, workers: int) -> float:
    """Estimated wall time of a grid (the sum of the designs' estimates, shared out among Ray workers); a grid
    over the cap on long runs is refused before it starts."""
    from backends.sweeps import check_backend

    b, w = check_backend(backend, workers, 64)
    lm = B.chat_model(model)
    total = sum(B.estimate_cost(x, inst, horizon, replicates, lm, max_reasoning_tokens=reasoning).seconds
                for x in codes)
    wall = total / (min(w, len(codes)) if b == "ray" else 1)
    cap = limits().max_run_s
    if wall > cap:
        raise InputError(f"These {len(codes)} prompt designs with T = {horizon} and N = {replicates} would take about "
                         f"{wall / 60:.1f} minutes on {lm.name}; the cap is {cap / 60:.0f} minutes. Choose fewer "
                         "designs (answer-only ones are the cheapest), lower T or N, or use more Ray workers.")
    return wall


def _grid_report(grid: B.Grid, line: str, estimate: float) -> str:
    done = [r for r in grid.runs if r.kind == "llm"]
    parts = [f"**Instance** {grid.instance.describe()}. T = {grid.horizon}, N = {grid.replicates} per design, "
             f"seed {grid.seed}: {len(done)} designs in {grid.seconds:.0f} s (estimated {estimate:.0f} s)."]
    if grid.missing:
        parts.append(f"**Stopped early ({grid.stopped}):** {len(grid.missing)} designs not reached "
                     f"({', '.join(grid.missing[:8])}{' ...' if len(grid.missing) > 8 else ''}); tick Resume and "
                     "run again to finish them.")
    if grid.failed:
        parts.append("**Failed:** " + "; ".join(f"{c}: {m}" for c, m in list(grid.failed.items())[:3]))
    fallback = sum(r.parse_counts()["fallback"] for r in done)
    if fallback:
        parts.append(f"{fallback} answers could not be read and fell back to a random arm (the table's fallback).")
    return "\n\n".join([*parts, line])


@guarded
@gpu
def run_grid(kind: str, k: float, delta: float, means_text: str, seed: float, baselines: list[str],
             replicates: float, c: float, epsilon: float, model: str, reasoning_tokens: float,
             code_filter: str = GRID_DEFAULT, grid_horizon: float = 10, grid_replicates: float = 2,
             backend: str = "in-process", workers: float = 2, resume: bool = False,
             progress: gr.Progress = gr.Progress()):
    """Many prompt designs on one instance, as the "bandits" sweep in-process or on Ray workers, beside the
    baselines: streams the outputs named in GRID (the report shows progress while it runs)."""
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    inst = _instance(kind, k, delta, means_text, seed)
    codes = B.select_codes(code_filter)
    if len(codes) > _grid_cap():
        raise InputError(f"{len(codes)} prompt designs chosen; at most {_grid_cap()} per grid run here. Narrow the "
                         "filter (e.g. '*N0' for the answer-only designs at temperature 0).")
    horizon = check_count(grid_horizon, what="Horizon T", low=2, high=min(500, limits().max_count))
    n = check_count(grid_replicates, what="LLM replicates N", low=1, high=20)
    reasoning = check_count(reasoning_tokens, what="Reasoning token limit", low=8, high=limits().max_new_tokens)
    base_n = check_count(replicates, what="Baseline replicates", low=1, high=5000)
    c = check_number(c, what="UCB constant C", low=0.0, high=10.0)
    epsilon = check_number(epsilon, what="ε", low=0.0, high=1.0)
    options = B.grid_options(inst, horizon, n, model or None, seed=seed, max_reasoning_tokens=reasoning)
    estimate = _grid_estimate(codes, inst, horizon, n, options["model"], reasoning, backend, workers)
    base = [B.run_baseline(a, inst, horizon=horizon, replicates=base_n, seed=seed, c=c, epsilon=epsilon)
            for a in (baselines or [])]
    items = B.grid_items(codes)
    for line, res in stream_sweep("bandits", items, options, backend, workers, resume, seed=seed, progress=progress,
                                  time_budget_s=limits().max_run_s):
        if res is None:
            yield GRID.pack(report=f"{line} (estimated {estimate:.0f} s in all)", table=gr.skip(),
                            scatter=gr.skip(), regret=gr.skip(), stats_csv=gr.skip(), decisions_csv=gr.skip())
    grid = grid_from_sweep(res, items, options, base, prompts=False)
    if not grid.runs:
        yield GRID.pack(report=_grid_report(grid, line, estimate), table=None, scatter=None, regret=None,
                        stats_csv=None, decisions_csv=None)
        return
    rows = grid.rows()
    comment = f"{inst.describe()}; T={horizon}; N={n}; seed={seed}; model={options['model']}"
    yield GRID.pack(report=_grid_report(grid, line, estimate), table=pd.DataFrame(rows),
                    scatter=scatter_figure(grid.stats, grid.runs), regret=curves_figure(grid.stats),
                    stats_csv=export_dicts("bandit-grid-stats", rows, comment=comment),
                    decisions_csv=export_dicts("bandit-grid-decisions",  # every row with the LLM rows' parse column
                                               [{**d, "parse": d.get("parse", "")} for d in grid.decisions()],
                                               comment=comment))


@guarded
def show_prompt(code: str, k: float, horizon: float) -> tuple[str, str]:
    """The system and user messages of a prompt code, in round 4 after an example history."""
    pc = B.parse_code(code)
    k = check_count(k, what="Number of arms K", low=2, high=B.MAX_ARMS)
    horizon = check_count(horizon, what="Horizon T", low=4, high=limits().max_count)
    history = [(0, 1), (min(2, k - 1), 0), (0, 0)]
    msgs = B.render_prompt(pc, k, horizon, history)
    return msgs["system"], msgs["user"]


def build() -> None:
    reg = intro(INTRO, NOTES)
    with gr.Row():
        kind = gr.Radio(["hard", "easy", "custom"], value="hard", label="Instance",
                        info="hard: K = 5, Δ = 0.2 · easy: K = 4, Δ = 0.5")
        k = gr.Slider(2, B.MAX_ARMS, value=5, step=1, label="K (custom)")
        delta = gr.Slider(0.05, 0.9, value=0.2, step=0.05, label="Δ (custom)")
        means = gr.Textbox(label="Or explicit means (custom)", placeholder="e.g. 0.3, 0.5, 0.7", max_length=200)
        seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
    with gr.Row():
        horizon = gr.Slider(4, 500, value=100, step=1, label="Horizon T (rounds)")
        replicates = gr.Slider(10, 5000, value=1000, step=10, label="Baseline replicates N")
        baselines = gr.CheckboxGroup(BASELINE_CHOICES, value=["ucb", "ts", "greedy"], label="Baselines")
        c = gr.Number(value=1.0, label="UCB C", minimum=0, maximum=10)
        epsilon = gr.Slider(0.0, 1.0, value=0.1, step=0.01, label="ε (ε-greedy)")
    with gr.Row():
        codes = gr.Dropdown(B.all_codes(), value=[], multiselect=True, allow_custom_value=True,
                            label="LLM prompt codes", info="any number of the 72 designs, e.g. BNRN0, BSSC~0")
        llm_replicates = gr.Slider(1, 20, value=2, step=1, label="LLM replicates N")
        model = gr.Dropdown(reg.lm_names(), value=reg.slots["chat"], label="Model (a chat model)")
        reasoning_tokens = gr.Slider(8, min(256, limits().max_new_tokens), value=96, step=8,
                                     label="Reasoning token limit (C, C~, D)")
    explain(CODES_HELP)
    with gr.Accordion("See the prompt of a code", open=False):
        with gr.Row():
            preview_code = gr.Dropdown(B.all_codes(), value="BSSC~0", label="Prompt code")
            preview_btn = gr.Button("Show the messages of round 4", size="sm")
        with gr.Row():
            sys_box = gr.Textbox(label="System message", lines=6, interactive=False)
            user_box = gr.Textbox(label="User message (after 3 example rounds)", lines=6, interactive=False)
        preview_btn.click(show_prompt, [preview_code, k, horizon], [sys_box, user_box], api_name="bandit_prompt")
        preview_code.change(show_prompt, [preview_code, k, horizon], [sys_box, user_box], api_visibility="private")
    inputs = [kind, horizon, replicates, baselines, codes, llm_replicates, reasoning_tokens, seed]
    gr.Examples(EXAMPLES, inputs=inputs, example_labels=EXAMPLE_LABELS, label="Examples (click, then Run)")
    with gr.Row():
        run = gr.Button("Run", variant="primary")
        stop = gr.Button("Stop")
    summary = gr.Markdown()
    table = gr.Dataframe(label="Failure statistics", interactive=False, wrap=True)
    with gr.Row():
        with gr.Column(scale=3):
            scatter = gr.Plot(label="SuffFailFreq vs K·MinFrac")
        with gr.Column(scale=2):
            explain(EXPLAIN_SCATTER)
    with gr.Row():
        with gr.Column(scale=3):
            regret = gr.Plot(label="Cumulative regret")
            best = gr.Plot(label="Best-arm fraction")
        with gr.Column(scale=2):
            explain(EXPLAIN_CURVES)
    with gr.Row():
        agent = gr.Dropdown([], label="Agent to inspect", allow_custom_value=True)
        replicate = gr.Number(value=1, precision=0, minimum=1, label="Replicate (transcript)")
    explain(EXPLAIN_TIMELINE)
    timeline = gr.Plot(label="Arm-choice timeline")
    transcript = gr.HTML(label="Transcript")
    with gr.Row():
        stats_csv = gr.File(label="Statistics (CSV)")
        decisions_csv = gr.File(label="Every decision (CSV)")
        report_json = gr.File(label="Report with curves (JSON)")
    state = gr.State()
    event = run.click(run_experiment, [kind, k, delta, means, horizon, replicates, baselines, codes, llm_replicates,
                                       model, reasoning_tokens, c, epsilon, seed],
                      RESULT.wire(summary=summary, table=table, scatter=scatter, regret=regret, best_arm=best,
                                  timeline=timeline, transcript=transcript, agent=agent, stats_csv=stats_csv,
                                  decisions_csv=decisions_csv, report_json=report_json, runs=state),
                      api_name="bandit_run", **HEAVY)
    stop.click(None, None, None, cancels=[event])
    view = VIEW.wire(timeline=timeline, transcript=transcript)
    agent.change(view_agent, [state, agent, replicate], view, api_visibility="private")
    replicate.change(view_agent, [state, agent, replicate], view, api_visibility="private")
    _build_grid([kind, k, delta, means, seed, baselines, replicates, c, epsilon, model, reasoning_tokens])


def _build_grid(shared: list) -> None:
    """The Grid section: many prompt designs as one sweep (the instance, baselines and model come from above)."""
    gr.Markdown("### Grid of prompt designs")
    explain(GRID_HELP)
    with gr.Row():
        code_filter = gr.Textbox(GRID_DEFAULT, label="Prompt designs", max_length=400,
                                 info="all, codes, or patterns such as B?RN? or *N0")
        grid_horizon = gr.Slider(2, 500, value=10, step=1, label="Horizon T (grid)")
        grid_replicates = gr.Slider(1, 20, value=2, step=1, label="LLM replicates N (grid)")
        run = gr.Button("Run the grid", variant="primary")
        stop = gr.Button("Stop")
    backend, workers, resume = sweep_controls()
    report = gr.Markdown()
    table = gr.Dataframe(label="Failure statistics per design (baselines first)", interactive=False, wrap=True)
    with gr.Row():
        scatter = gr.Plot(label="SuffFailFreq vs K·MinFrac")
        regret = gr.Plot(label="Cumulative regret")
    with gr.Row():
        stats_csv = gr.File(label="Statistics per design (CSV)")
        decisions_csv = gr.File(label="Every decision (CSV)")
    event = run.click(run_grid, [*shared, code_filter, grid_horizon, grid_replicates, backend, workers, resume],
                      GRID.wire(report=report, table=table, scatter=scatter, regret=regret, stats_csv=stats_csv,
                                decisions_csv=decisions_csv), api_name="bandit_grid", **HEAVY)
    stop.click(None, None, None, cancels=[event])
