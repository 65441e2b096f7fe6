"""Model graph (Octopus v4): a router sends each query, rewritten, to a specialist model; against one model."""
from __future__ import annotations

import time

import gradio as gr
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline
from tabs.common import HEAVY, Outputs, export_dicts, export_json, gpu, guarded
from tabs.ui import explain, intro

TITLE = "Model graph"
SUMMARY = ("A graph of models (Octopus v4, Chen & Li 2024): a router sends each query, rewritten, to the specialist"
           " model it picks; routing accuracy and answers against one model for everything.")
INTRO = """
**Octopus v4** (Chen & Li 2024) treats models as nodes of a graph. A small **router** (the master node) reads a
query, picks a **worker** (a specialist model) by emitting one new vocabulary token per worker, a *functional
token*, and **rewrites the query** for it; the worker answers. One step through the graph factorises as
P(y | q; G) = P(worker, q_h | q; router) · P(y | q_h; worker), so each answer activates two small models, never
a big general one. Here the workers are the registry's models, each declared with a speciality and a prompt
template (its docstring), and q_h is the query in the chosen worker's template. The router is one of several,
**chosen by measurement** on a held-out routing set: classifiers on sentence embeddings trained here, similarity
to the node descriptions, an LM reading every description (a prompt), and the paper's functional tokens (new
output embeddings trained on a small LM, the LM frozen).
"""
SCALE_NOTE = """
**How far this is from the paper.** The paper routes MMLU questions with a fine-tuned 3B model (Octopus-V4-3B)
among 17 specialists under 10B parameters each, and reports 74.8 on MMLU; it gives no routing accuracy of its
own. Here the graph has **four workers** on the CPU profile: arithmetic (Qwen2.5-Coder-1.5B, int8), code
(Qwen2.5-Coder-0.5B), State of the Union questions (retrieval over the addresses, read by Qwen2.5-Coder-0.5B)
and chat (SmolLM2-135M); the routing set has 282 generated queries (194 to train, 88 held out by template) and
32 hand-written ones in other styles. The functional tokens are trained with the LM frozen (only the new tokens'
output embeddings), and the reformulation is the node's template, not a fine-tuned rewrite. The end-to-end set
is small (arithmetic word problems and SOTU questions with known answers): read its accuracies as a few items
each, not as benchmark scores. MMLU and the 17 specialists are not reproduced.

**What the measurements show** (CPU profile, `bench/bench_model_graph.py`). Routing, held-out / hand-written:
logistic regression on MiniLM 100 % / 97 % (the default: as good as MPNet's 100 % / 100 % at half the time and a
fifth of the embedder), nearest centroid 100 % / 94 %, similarity to the descriptions without training 89 % /
84 %. The functional tokens on SmolLM2-135M (tiny profile) reach 99 % held-out; the prompt router on SmolLM2
names option 1 for every query (27 %), the paper's point that a small model cannot read every description.
End to end on three SOTU questions: the graph (retrieval read by the 0.5B) answered 2 of 3 in 41 s, one model
(the 1.5B, no retrieval) 1 of 3 in 134 s; the graph kept 5.4 GB of models loaded against 3.5 GB for the one
model (1.55x). On arithmetic both send the problem to the same 1.5B model (the graph adds a step-by-step
template); at 128 tokens neither finished the first problem. Too few items to rank the systems: the direction
on SOTU is the paper's (a specialist beats one general model), its size is not measured here.
"""
GRAPH_EXPLAIN = ("The graph: the router (left) and the workers it can reach, each with its speciality and the "
                 "model that does the work. After a query, the edge taken and the chosen worker turn orange; the "
                 "number on each edge is the router's score for that worker. Nodes you add show in green.")
SCORES_EXPLAIN = ("The router's score per worker for this query: a probability for the classifiers, the prompt "
                  "router (its next-token distribution over the option numbers) and the functional tokens; a "
                  "cosine similarity for the similarity router. The highest wins. A worker a trained router has "
                  "no training queries for cannot be reached (shown at 0, marked 'unreachable').")
ROUTING_EXPLAIN = ("Accuracy of each router: the share of queries sent to their labelled worker. 'Held-out': 88 "
                   "queries whose templates were never seen in training; 'hard': 32 hand-written queries with typos,"
                   " error messages and allusions instead of keywords. Routers without training read only the "
                   "node descriptions.")
CONFUSION_EXPLAIN = ("Where the best router's queries went: rows are the labelled worker, columns the chosen one "
                     "(counts over the splits run). Off-diagonal cells are routing errors; the table below lists "
                     "them.")
E2E_EXPLAIN = ("Answer accuracy of three systems on the same items: the graph (the router's worker, the query in "
               "its template), oracle routing (the labelled worker: what perfect routing would give) and one model "
               "answering every query as it is. Arithmetic answers are checked by their last number, SOTU answers "
               "by containing the gold answer.")
COST_EXPLAIN = ("Left: time spent answering, per system (the graph's includes routing). Right: memory of the "
                "models each system keeps loaded (registry figures): the graph needs every worker and the router "
                "in memory at once, one model only itself. Models not loaded yet count 0 unless 'Load every "
                "model' is ticked.")

ROUTE = Outputs("summary", "graph", "scores", "rewritten", "answer", "single", "calls", "json")
NODES = Outputs("message", "state", "graph", "table")
ROUTING = Outputs("summary", "accuracy", "confusion", "table", "errors", "csv", "json")
E2E = Outputs("summary", "accuracy", "cost", "table", "csv", "json")
NODE_HEADERS = ["node", "speciality", "model", "kind", "template", "training queries"]
SPLIT_CHOICES = [("held-out (88 queries)", "test"), ("hand-written, other styles (32)", "hard")]
CHEAP_ROUTERS = ["logreg-minilm", "centroid-minilm", "similarity-minilm"]
MAX_USER_NODES = 5  # 4 built-in + 5: the prompt router lists at most 9 options
MAX_EXAMPLES = 40  # training queries a user may give one node
# query, router, compare with one model, answer token limit
EXAMPLES = [
    ["Hi! Can you recommend a good board game for a family evening?", "logreg-minilm", False, 48],
    ["In which harbor was the battleship Maine destroyed, according to McKinley's 1898 message?", "logreg-minilm",
     True, 24],
    ["A shop sells pencils at 3 for 75 cents. How much do 12 pencils cost, in cents?", "logreg-minilm", True, 160],
    ["Write a Python function that returns the n-th Fibonacci number.", "logreg-minilm", False, 160],
]
EXAMPLE_LABELS = ["Chat: a board game (quick, the graph alone)", "SOTU question: McKinley and the Maine",
                  "Arithmetic: pencils (about a minute)", "Code: Fibonacci in Python"]
TRANSLATION_EXAMPLES = ('Translate "good morning" into French.\nHow do you say "where is the station" in German?\n'
                        "Put this sentence into Spanish: I like green apples.\n"
                        'What is the French for "thank you very much"?')
ORANGE, GREY, BLUE, GREEN = "#e6550d", "#bdbdbd", "#3182bd", "#31a354"


# ----- the graph --------------------------------------------------------------------------------------------


def build_graph(user_nodes: list[dict] | None):
    """The built-in graph plus the session's nodes (state: a list of {"node": Node dict, "examples": [...]})."""
    from backends import model_graph as MG

    g = MG.load_graph()
    for d in user_nodes or []:
        g = g.with_node(MG.node_from_dict(d["node"]))
    return g


def _router(name, graph, user_nodes):
    """The router by name, trained (for the trained kinds) on the routing set plus the session's examples."""
    from backends import model_graph as MG

    name = name or MG.DEFAULT_ROUTER
    if name not in MG.ROUTERS:
        raise InputError(f"Unknown router {name!r}; routers: {', '.join(MG.ROUTERS)}.")
    extra = [MG.Query(q, d["node"]["name"], "train", "user") for d in user_nodes or [] for q in d.get("examples", [])]
    user = {d["node"]["name"] for d in user_nodes or []}
    train = [q for q in MG.load_routing_set(split="train") if q.node not in user] + extra
    return MG.trained_router(name, graph, train=train)


def graph_figure(graph, route=None, user: set[str] | None = None) -> go.Figure:
    """Master on the left, workers on the right; the route taken (if any) in orange with the scores on the edges."""
    from backends.models import registry

    reg, user = registry(), user or set()
    names = graph.neighbours()
    n = len(names)
    ys = [(n - 1) / 2 - i for i in range(n)]
    fig = go.Figure()
    for name, y in zip(names, ys):
        chosen = route is not None and route.node == name
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, y], mode="lines", hoverinfo="skip", showlegend=False,
                                 line={"color": ORANGE if chosen else GREY, "width": 5 if chosen else 1.5}))
        if route is not None:
            s = route.scores.get(name)
            fig.add_annotation(x=0.55, y=y * 0.55, text="unreachable" if s is None else f"{s:.2f}", showarrow=False,
                               font={"color": ORANGE if chosen else "#636363", "size": 11}, bgcolor="white")
    texts, colors = [], []
    for name in names:
        node = graph.node(name)
        try:
            model = reg.resolve(node.model_for(reg.profile), "chat" if node.kind == "lm" else "reader")
        except Exception:  # a name another profile declares: show it as written
            model = node.model_for(reg.profile)
        how = " + SOTU retrieval" if node.kind == "rag" else ""
        texts.append(f"<b>{name}</b><br>{node.speciality[:48]}<br><i>{model}{how}</i>")
        colors.append(ORANGE if route is not None and route.node == name else GREEN if name in user else BLUE)
    fig.add_trace(go.Scatter(x=[1] * n, y=ys, mode="markers+text", text=texts, textposition="middle right",
                             marker={"size": 26, "color": colors}, hovertext=[graph.node(m).description for m in names],
                             hoverinfo="text", showlegend=False))
    router_text = "<b>router</b>" + (f"<br>{route.router}" if route is not None else "")
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers+text", text=[router_text], textposition="middle left",
                             marker={"size": 34, "color": "#636363", "symbol": "diamond"}, hoverinfo="skip",
                             showlegend=False))
    title = "The graph" if route is None else f"Route taken: router -> {route.node}"
    fig.update_layout(title=title, height=max(300, 90 * n), xaxis={"visible": False, "range": [-0.6, 2.1]},
                      yaxis={"visible": False, "range": [min(ys) - 0.6, max(ys) + 0.6]},
                      margin={"l": 10, "r": 10, "t": 40, "b": 10}, plot_bgcolor="white")
    return fig


def scores_figure(route) -> go.Figure:
    names = list(route.scores)
    vals = [route.scores[n] if route.scores[n] is not None else 0.0 for n in names]
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=[ORANGE if n == route.node else BLUE for n in names],
                           text=[f"{v:.3f}" if route.scores[n] is not None else "unreachable"
                                 for n, v in zip(names, vals)], textposition="outside"))
    fig.update_layout(title=f"{route.router}: score per worker", yaxis_title="score", height=320,
                      yaxis={"range": [min(0.0, min(vals)), max(vals + [0.0]) * 1.2 + 1e-6]},
                      margin={"l": 50, "r": 10, "t": 40, "b": 40})
    return fig


def node_rows(graph, user_nodes) -> list[list]:
    from backends.models import registry

    reg = registry()
    counts = {}
    for q in _train_counts():
        counts[q] = counts.get(q, 0) + 1
    user = {d["node"]["name"]: len(d.get("examples", [])) for d in user_nodes or []}
    return [[n.name, n.speciality, n.model_for(reg.profile), n.kind, n.template,
             user.get(n.name, counts.get(n.name, 0))] for n in graph.nodes]


def _train_counts() -> list[str]:
    from backends import model_graph as MG

    return [q.node for q in MG.load_routing_set(split="train")]


# ----- route one query --------------------------------------------------------------------------------------


def _route_summary(r, single=None, phase: str = "") -> str:
    lines = [f"**Route:** router `{r.router}` ({', '.join(r.models['router']) or 'no model'}) -> worker "
             f"**{r.node}** (`{r.models['worker']}`); routing took {r.route_seconds:.2f} s."]
    if r.answer is not None:
        lines.append(f"The worker answered in {r.answer_seconds:.1f} s.")
    if r.extra.get("passages"):
        lines.append("Retrieved: " + "; ".join(f"{p['title']} ({p['score']:.3f})" for p in r.extra["passages"]))
    if single is not None:
        lines.append(f"One model for everything (`{single.models['worker']}`, the query as it is): "
                     f"{single.answer_seconds:.1f} s.")
    lines.append(phase or f"Done in {r.seconds + (single.seconds if single else 0):.1f} s.")
    return "\n\n".join(lines)


def _pack_route(r, graph, user, single=None, phase="", files=False):
    record = {"route": r.to_dict(), "single": single.to_dict() if single else None}
    return ROUTE.pack(summary=_route_summary(r, single, phase), graph=graph_figure(graph, r, user),
                      scores=scores_figure(r), rewritten=r.rewritten, answer=r.answer or "",
                      single=single.answer if single else "", calls=r.calls + (single.calls if single else []),
                      json=export_json("model-graph-route", record) if files else None)


@guarded
@gpu
def run_route(query, router, compare, max_tokens, user_nodes, progress: gr.Progress = gr.Progress()):
    """Route a query, show the route, then the worker's answer, then (``compare``) one model's answer."""
    from backends import model_graph as MG

    query = MG.check_query(query)
    tokens = check_count(max_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    graph = build_graph(user_nodes)
    user = {d["node"]["name"] for d in user_nodes or []}
    deadline = Deadline(limits().time_budget_s)
    progress(0.05, desc="Routing (the router trains at first use)")
    r = MG.route(query, router=_router(router, graph, user_nodes), graph=graph, answer=False)
    yield _pack_route(r, graph, user, phase=f"*Answering with {r.node} ...*")
    progress(0.3, desc=f"Answering with {r.node}")
    r = MG.answer_route(r, graph, max_new_tokens=tokens, deadline=deadline)
    if not compare:
        yield _pack_route(r, graph, user, files=True)
        return
    yield _pack_route(r, graph, user, phase="*Asking one model for comparison ...*")
    progress(0.7, desc="One model, the query as it is")
    single = MG.single_model(query, max_new_tokens=tokens,
                             time_budget_s=max(1.0, deadline.remaining()) if deadline.seconds else None)
    yield _pack_route(r, graph, user, single, files=True)


# ----- the session's nodes ----------------------------------------------------------------------------------


@guarded
def add_node(name, model, speciality, description, template, examples, user_nodes):
    """Add (or replace) a node for this session: one of the registry's language models with its speciality."""
    from backends import model_graph as MG

    user_nodes = list(user_nodes or [])
    node = MG.user_node(name, model, speciality, description or "", template or "{query}")
    lines = [ln.strip() for ln in (examples or "").splitlines() if ln.strip()]
    if len(lines) > MAX_EXAMPLES:
        raise InputError(f"{len(lines)} example queries; give at most {MAX_EXAMPLES}.")
    lines = [MG.check_query(q) for q in lines]
    user_nodes = [d for d in user_nodes if d["node"]["name"] != node.name]
    if len(user_nodes) >= MAX_USER_NODES:
        raise InputError(f"At most {MAX_USER_NODES} added nodes per session; reset the graph to start again.")
    user_nodes.append({"node": node.to_dict(), "examples": lines})
    graph = build_graph(user_nodes)
    note = (f"with {len(lines)} example queries: the trained routers retrain on the routing set plus these"
            if lines else "with no example queries: only the similarity and prompt routers can reach it (the "
            "trained routers have nothing to learn it from)")
    return NODES.pack(message=f"Added node **{node.name}** (`{node.models['*']}`) {note}.", state=user_nodes,
                      graph=graph_figure(graph, user={d["node"]["name"] for d in user_nodes}),
                      table=node_rows(graph, user_nodes))


@guarded
def reset_nodes():
    graph = build_graph([])
    return NODES.pack(message="The built-in graph (the session's nodes removed).", state=[],
                      graph=graph_figure(graph), table=node_rows(graph, []))


# ----- routing evaluation -----------------------------------------------------------------------------------


def _merge(reports: list) -> dict:
    """Several one-router RoutingReports (per split) as one table-ready dict."""
    rows, errors = [], []
    for rep in reports:
        for name, acc in rep.accuracy.items():
            rows.append({"router": name, "split": rep.split, "n": rep.n, "accuracy": round(acc, 4),
                         "route s": rep.seconds[name], "train s": rep.train_seconds[name],
                         "trained on": rep.trained_on[name], "models": ", ".join(rep.models[name]),
                         **{f"{n} acc": round(v, 3) for n, v in rep.per_node[name].items()}})
        errors += [{**e, "split": rep.split} for e in rep.errors]
    return {"rows": rows, "errors": errors}


def routing_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure()
    for split, label in (("test", "held-out"), ("hard", "hand-written")):
        sub = [r for r in rows if r["split"] == split]
        if sub:
            fig.add_trace(go.Bar(x=[r["router"] for r in sub], y=[r["accuracy"] for r in sub], name=label,
                                 text=[f"{r['accuracy']:.0%}" for r in sub], textposition="outside"))
    fig.update_layout(title="Routing accuracy per router", yaxis={"range": [0, 1.1], "tickformat": ".0%"},
                      barmode="group", height=380, legend={"orientation": "h", "y": -0.25},
                      margin={"l": 50, "r": 10, "t": 40, "b": 60})
    return fig


def confusion_figure(reports: list, router: str | None) -> go.Figure:
    import numpy as np

    fig = go.Figure()
    mats = [np.asarray(r.confusion[router]) for r in reports if router in r.confusion]
    if not mats:
        fig.update_layout(title="Confusion (no router yet)", height=320)
        return fig
    m, nodes = sum(mats), reports[0].nodes
    fig.add_trace(go.Heatmap(z=m, x=nodes, y=nodes, colorscale="Blues", text=m, texttemplate="%{text}",
                             showscale=False))
    fig.update_layout(title=f"{router}: labelled (rows) vs chosen (columns)", height=340,
                      yaxis={"autorange": "reversed"}, margin={"l": 80, "r": 10, "t": 40, "b": 40})
    return fig


@guarded
@gpu
def run_routing(routers, splits, progress: gr.Progress = gr.Progress()):
    """Each chosen router on each chosen split, streamed one router at a time."""
    from backends import model_graph as MG

    routers = [r for r in (routers or []) if r]
    splits = [s for s in (splits or []) if s]
    if not routers:
        raise InputError("Pick at least one router.")
    if not splits:
        raise InputError("Pick at least one split.")
    for r in routers:
        if r not in MG.ROUTERS:
            raise InputError(f"Unknown router {r!r}; routers: {', '.join(MG.ROUTERS)}.")
    for s in splits:
        if s not in ("test", "hard"):
            raise InputError(f"Unknown split {s!r}: test (held-out) or hard.")
    deadline, t0, reports = Deadline(limits().max_run_s), time.perf_counter(), []
    steps = [(r, s) for r in routers for s in splits]
    stopped = ""
    for i, (r, s) in enumerate(steps):
        if deadline.expired:
            stopped = f"Stopped at the time cap ({limits().max_run_s:.0f} s) after {i} of {len(steps)} runs."
            break
        progress(i / len(steps), desc=f"{r} on {s} (training at first use)")
        reports.append(MG.evaluate_routing([r], split=s, time_budget_s=max(1.0, deadline.remaining())))
        if i + 1 < len(steps):
            yield _pack_routing(reports, f"*Running: {i + 1} of {len(steps)} done ...*", files=False)
    yield _pack_routing(reports, stopped or f"Done in {time.perf_counter() - t0:.1f} s.", files=True)


def _pack_routing(reports, phase, *, files):
    merged = _merge(reports)
    rows = merged["rows"]
    best = max(rows, key=lambda r: r["accuracy"])["router"] if rows else None
    lines = [" · ".join(f"**{r['router']}** {r['accuracy']:.0%} ({'held-out' if r['split'] == 'test' else 'hard'},"
                        f" n={r['n']})" for r in rows)]
    if best:
        lines.append(f"Best here: `{best}` (ties go to the first). {len(merged['errors'])} routing errors in all.")
    lines.append(phase)
    table = [[r["router"], r["split"], r["n"], r["accuracy"], r["route s"], r["train s"], r["trained on"],
              r["models"]] for r in rows]
    errs = [[e["router"], e["split"], e["query"], e["gold"], e["chosen"]] for e in merged["errors"][:200]]
    return ROUTING.pack(summary="\n\n".join(lines), accuracy=routing_figure(rows),
                        confusion=confusion_figure(reports, best), table=table, errors=errs,
                        csv=export_dicts("model-graph-routing", rows) if files and rows else None,
                        json=export_json("model-graph-routing", [r.to_dict() for r in reports]) if files else None)


# ----- end to end -------------------------------------------------------------------------------------------


def e2e_figure(rep) -> go.Figure:
    systems = ["graph", "oracle", "single"]
    labels = ["graph (router's worker)", "oracle routing", "one model"]
    vals = [rep.accuracy[s] if rep.n else 0.0 for s in systems]
    fig = go.Figure(go.Bar(x=labels, y=vals, marker_color=[ORANGE, GREY, BLUE],
                           text=[f"{v:.0%}" for v in vals], textposition="outside"))
    fig.update_layout(title=f"Answer accuracy on {rep.n} items", yaxis={"range": [0, 1.1], "tickformat": ".0%"},
                      height=340, margin={"l": 50, "r": 10, "t": 40, "b": 40})
    return fig


def cost_figure(rep, cost: dict) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["answering time (s)", "models kept in memory (MB)"])
    fig.add_trace(go.Bar(x=["graph", "oracle", "one model"], y=[rep.seconds[s] for s in ("graph", "oracle", "single")],
                         marker_color=[ORANGE, GREY, BLUE], showlegend=False), row=1, col=1)
    for m in cost["models"]:
        fig.add_trace(go.Bar(x=["graph"], y=[m.get("memory_mb", 0.0)], name=f"{m['model']} ({m['role']})"),
                      row=1, col=2)
    fig.add_trace(go.Bar(x=["one model"], y=[cost["single_mb"]], name=f"{cost['single']['model']} (one model)",
                         marker_color=BLUE), row=1, col=2)
    fig.update_layout(barmode="stack", height=380, legend={"orientation": "h", "y": -0.3},
                      margin={"l": 50, "r": 10, "t": 40, "b": 60})
    return fig


def _e2e_summary(rep, cost, phase) -> str:
    if not rep.n:
        return phase
    a = rep.accuracy
    lines = [f"**{rep.n} of {rep.total} items: graph {a['graph']:.0%}, oracle routing {a['oracle']:.0%}, one model "
             f"{a['single']:.0%}** (routing accuracy {rep.routing_accuracy:.0%}).",
             f"Answering time: graph {rep.seconds['graph']:.1f} s, one model {rep.seconds['single']:.1f} s. Memory: "
             f"the graph keeps {cost['total_mb']:,.0f} MB of models loaded, one model {cost['single_mb']:,.0f} MB"
             + ("" if cost["all_loaded"] else " (some not loaded yet: counted 0)") + ".", phase]
    return "\n\n".join(lines)


@guarded
@gpu
def run_end_to_end(n_per_kind, router, max_tokens, seed, load_all, progress: gr.Progress = gr.Progress()):
    """The mixed set answered by the graph, by oracle routing and by one model, streamed item by item."""
    from backends import model_graph as MG

    n = check_count(n_per_kind, what="Items per kind", low=1, high=20)
    tokens = check_count(max_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    router = check_text(router or MG.DEFAULT_ROUTER, what="Router", lim=None)
    items = MG.mixed_items(n, seed=seed)
    progress(0.0, desc="Loading the workers and routing the items")
    cost = MG.memory_cost(router=router, load=bool(load_all))
    last = None
    for rep in MG.end_to_end_iter(items, router=router, max_new_tokens=tokens, time_budget_s=limits().max_run_s):
        last = rep
        progress(rep.n / max(rep.total, 1), desc=f"Item {rep.n}/{rep.total}")
        if not rep.complete:
            cost = MG.memory_cost(router=router)
            yield _pack_e2e(rep, cost, f"*Running: {rep.n} of {rep.total} items ...*", files=False)
    cost = MG.memory_cost(router=router)
    phase = f"*{last.stopped}.*" if last.stopped else f"Done in {sum(last.seconds.values()):.1f} s of answering."
    yield _pack_e2e(last, cost, phase, files=True)


def _pack_e2e(rep, cost, phase, *, files):
    table = [[r["node"], r["chosen"], r["query"][:80], " | ".join(r["gold"]),
              r.get("graph answer", "")[-120:], r["graph correct"], r.get("single answer", "")[-120:],
              r["single correct"]] for r in rep.records]
    return E2E.pack(summary=_e2e_summary(rep, cost, phase), accuracy=e2e_figure(rep), cost=cost_figure(rep, cost),
                    table=table,
                    csv=export_dicts("model-graph-end-to-end", [{**r, "gold": " | ".join(r["gold"])}
                                                                for r in rep.records]) if files and rep.n else None,
                    json=export_json("model-graph-end-to-end", {"report": rep.to_dict(), "memory": cost})
                    if files else None)


# ----- layout -----------------------------------------------------------------------------------------------


def _route_panel(reg, MG, state, graph_plot_holder):
    query = gr.Textbox(EXAMPLES[0][0], label="Query", lines=2, max_length=MG.MAX_QUERY_CHARS)
    with gr.Row():
        router = gr.Dropdown(list(MG.ROUTERS), value=MG.DEFAULT_ROUTER, label="Router",
                             info="default: the best measured (logistic regression on MiniLM embeddings)")
        compare = gr.Checkbox(True, label="Also ask one model (the chat model, the query as it is)")
        tokens = gr.Slider(8, limits().max_new_tokens, value=48, step=8, label="Answer token limit")
    inputs = [query, router, compare, tokens]
    ex = gr.Examples(EXAMPLES, inputs=inputs, example_labels=EXAMPLE_LABELS, label="Examples (one click runs them)")
    with gr.Row():
        run = gr.Button("Route and answer", variant="primary")
        stop = gr.Button("Stop")
    summary = gr.Markdown()
    with gr.Row():
        with gr.Column(scale=3):
            graph_plot = gr.Plot(graph_figure(MG.load_graph()), label="The graph")
        with gr.Column(scale=1):
            explain(GRAPH_EXPLAIN)
    with gr.Row():
        with gr.Column(scale=3):
            scores = gr.Plot(label="Router scores")
        with gr.Column(scale=1):
            explain(SCORES_EXPLAIN)
    rewritten = gr.Textbox(label="The rewritten query q_h (the worker's template filled in)", lines=3,
                           interactive=False)
    with gr.Row():
        answer = gr.Textbox(label="The worker's answer", lines=6, interactive=False)
        single = gr.Textbox(label="One model's answer (no routing)", lines=6, interactive=False)
    with gr.Accordion("Every LM call, prompts verbatim", open=False):
        calls = gr.JSON(label="Calls")
    js = gr.File(label="Route and answers (JSON)")
    outputs = ROUTE.wire(summary=summary, graph=graph_plot, scores=scores, rewritten=rewritten, answer=answer,
                         single=single, calls=calls, json=js)
    event = run.click(run_route, [*inputs, state], outputs, api_name="model_graph_route", **HEAVY)
    ex_event = ex.load_input_event.then(run_route, [*inputs, state], outputs, api_name="model_graph_route_example",
                                        api_visibility="undocumented", **HEAVY)
    stop.click(None, None, None, cancels=[event, ex_event])
    graph_plot_holder.append(graph_plot)


def _nodes_panel(reg, MG, state, graph_plot):
    gr.Markdown("Add a worker for this session: one of the registry's language models with your own speciality "
                "and template (no weights are uploaded). Give a few example queries, one per line, so that the "
                "trained routers can learn the new node; without them only the similarity and prompt routers "
                "can reach it.")
    with gr.Row():
        name = gr.Textbox("translation", label="Node name", max_lines=1)
        model = gr.Dropdown(reg.lm_names(), value=reg.resolve("chat"), label="Model")
        speciality = gr.Textbox("translation between languages", label="Speciality", max_lines=1)
    description = gr.Textbox("Translates short texts between English, French, German and Spanish.",
                             label="Description", lines=2)
    template = gr.Textbox("Translate as asked, and give only the translation. {query}",
                          label="Template ({query} marks the query)", max_lines=2)
    examples = gr.Textbox(TRANSLATION_EXAMPLES, lines=4,
                          label=f"Example queries for the routers (one per line, at most {MAX_EXAMPLES})")
    with gr.Row():
        add = gr.Button("Add node", variant="primary")
        reset = gr.Button("Reset the graph")
    message = gr.Markdown()
    table = gr.Dataframe(node_rows(MG.load_graph(), []), headers=NODE_HEADERS, interactive=False, label="Nodes")
    outputs = NODES.wire(message=message, state=state, graph=graph_plot, table=table)
    add.click(add_node, [name, model, speciality, description, template, examples, state], outputs,
              api_name="model_graph_add_node")
    reset.click(reset_nodes, None, outputs, api_name="model_graph_reset")


def build() -> None:
    from backends import model_graph as MG

    reg = intro(INTRO)
    explain(SCALE_NOTE)
    state = gr.State([])
    with gr.Tabs():
        with gr.Tab("Route a query"):
            holder: list = []
            _route_panel(reg, MG, state, holder)
            with gr.Accordion("Add a node to the graph (this session only)", open=False):
                _nodes_panel(reg, MG, state, holder[0])
        with gr.Tab("Routing accuracy"):
            gr.Markdown("Every router on the routing set: the classifiers and the functional tokens train on the "
                        "194 training queries first (seconds for the embedding routers; the prompt router and the "
                        "functional tokens run the chat model, a few minutes on a CPU).")
            with gr.Row():
                routers = gr.CheckboxGroup(list(MG.ROUTERS), value=CHEAP_ROUTERS, label="Routers")
                splits = gr.CheckboxGroup(SPLIT_CHOICES, value=["test", "hard"], label="Splits")
            r_ex = gr.Examples([[CHEAP_ROUTERS, ["test", "hard"]], [["logreg-minilm", "functional-tokens", "prompt"],
                                                                       ["test", "hard"]]],
                               inputs=[routers, splits], label="Examples (one click runs them)",
                               example_labels=["The three embedding routers (quick)",
                                               "Best classifier vs the LM routers (slow: the chat model reads every "
                                               "query)"])
            with gr.Row():
                r_run = gr.Button("Evaluate routing", variant="primary")
                r_stop = gr.Button("Stop")
            r_summary = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    r_acc = gr.Plot(label="Routing accuracy")
                with gr.Column(scale=1):
                    explain(ROUTING_EXPLAIN)
            with gr.Row():
                with gr.Column(scale=3):
                    r_conf = gr.Plot(label="Confusion")
                with gr.Column(scale=1):
                    explain(CONFUSION_EXPLAIN)
            r_table = gr.Dataframe(headers=["router", "split", "n", "accuracy", "route s", "train s", "trained on",
                                            "models"], interactive=False, label="Routers")
            r_errors = gr.Dataframe(headers=["router", "split", "query", "labelled", "chosen"], interactive=False,
                                    label="Routing errors", max_height=300)
            with gr.Row():
                r_csv = gr.File(label="Accuracies (CSV)")
                r_json = gr.File(label="Everything (JSON)")
            r_out = ROUTING.wire(summary=r_summary, accuracy=r_acc, confusion=r_conf, table=r_table, errors=r_errors,
                                 csv=r_csv, json=r_json)
            r_event = r_run.click(run_routing, [routers, splits], r_out, api_name="model_graph_routing", **HEAVY)
            r_ex_event = r_ex.load_input_event.then(run_routing, [routers, splits], r_out,
                                                    api_name="model_graph_routing_example",
                                                    api_visibility="undocumented", **HEAVY)
            r_stop.click(None, None, None, cancels=[r_event, r_ex_event])
        with gr.Tab("End to end: graph vs one model"):
            gr.Markdown("Arithmetic word problems and SOTU questions with known answers, each answered through the "
                        "graph, through its labelled worker, and by one model. On the CPU profile the arithmetic "
                        "items are the slow ones: two step-by-step answers of the 1.5B model (measured on two busy, "
                        "shared cores: about 4 minutes each at 128 tokens; far less on a free machine). A SOTU item "
                        "is a short retrieval-read answer plus the one model's answer.")
            with gr.Row():
                e_n = gr.Slider(1, 20, value=2, step=1, label="Items per kind (arithmetic, SOTU)")
                e_router = gr.Dropdown(list(MG.ROUTERS), value=MG.DEFAULT_ROUTER, label="Router")
                e_tokens = gr.Slider(8, limits().max_new_tokens, value=160, step=8, label="Answer token limit")
                e_seed = gr.Number(0, precision=0, label="Seed (which items)")
                e_load = gr.Checkbox(False, label="Load every model first (complete memory figures)")
            e_inputs = [e_n, e_router, e_tokens, e_seed, e_load]
            e_ex = gr.Examples([[1, MG.DEFAULT_ROUTER, 96, 0, False], [5, MG.DEFAULT_ROUTER, 160, 0, True]],
                               inputs=e_inputs, example_labels=["One item of each kind (quick)",
                                                                "Five of each, every model loaded (long on a CPU)"],
                               label="Examples (one click runs them)")
            with gr.Row():
                e_run = gr.Button("Compare end to end", variant="primary")
                e_stop = gr.Button("Stop")
            e_summary = gr.Markdown()
            with gr.Row():
                with gr.Column(scale=3):
                    e_acc = gr.Plot(label="Answer accuracy")
                with gr.Column(scale=1):
                    explain(E2E_EXPLAIN)
            with gr.Row():
                with gr.Column(scale=3):
                    e_cost = gr.Plot(label="Time and memory")
                with gr.Column(scale=1):
                    explain(COST_EXPLAIN)
            e_table = gr.Dataframe(headers=["labelled", "chosen", "query", "gold", "graph answer (end)", "graph right",
                                            "one model's answer (end)", "one model right"], interactive=False,
                                   label="Items", max_height=400)
            with gr.Row():
                e_csv = gr.File(label="Items (CSV)")
                e_json = gr.File(label="Everything (JSON)")
            e_out = E2E.wire(summary=e_summary, accuracy=e_acc, cost=e_cost, table=e_table, csv=e_csv, json=e_json)
            e_event = e_run.click(run_end_to_end, e_inputs, e_out, api_name="model_graph_end_to_end", **HEAVY)
            e_ex_event = e_ex.load_input_event.then(run_end_to_end, e_inputs, e_out,
                                                    api_name="model_graph_end_to_end_example",
                                                    api_visibility="undocumented", **HEAVY)
            e_stop.click(None, None, None, cancels=[e_event, e_ex_event])
