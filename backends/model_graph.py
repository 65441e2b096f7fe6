"""A graph of models in the manner of Octopus v4 (Chen & Li 2024): a router picks a specialist for each query.

The graph G = (N, E) has one master node (the router) and worker nodes, each a registry model with a declared
speciality, described like a function docstring together with the prompt template it is given
(assets/model_graph/nodes.json; users may add nodes). An edge master -> worker says the router may send a query
there. One step through the graph factorises as

    P(y | q; G) = P(worker, q_h | q; master) * P(y | q_h; worker)

where q_h is the query rewritten for the worker: here the worker's prompt template filled with the query.

Routers (each maps queries to a worker; compared by measurement on the held-out part of the routing set,
assets/model_graph/routing.jsonl, built by scripts/build_routing_set.py):

- ``logreg-<embedder>``: logistic regression on sentence embeddings, trained here on the training split;
- ``centroid-<embedder>``: nearest class centroid of the same embeddings;
- ``similarity-<embedder>``: cosine similarity of the query to each node's description (no training);
- ``prompt``: an LM reads every node's description and names one; we read its next-token distribution
  over the option numbers (one forward pass per query, the prompt shown verbatim);
- the oracle (the routing set's label) gives the upper bound in end-to-end comparisons.

- ``functional-tokens``: Octopus' own kind of router, cut down: one new token per worker (``<node_arithmetic>``
  ...) appended to a small LM's vocabulary, whose output embeddings are trained on the training split
  with the LM frozen, so that after "Query: ...\nFunction:" the LM puts its mass on the right new token
  (against the whole vocabulary). The paper also fine-tunes the LM to write the reformulated query after the
  token; here the reformulation stays the node's template.

``route(query)`` routes one query and (by default) answers it with the chosen worker: an LM node decodes
the rewritten query in its chat template; the ``sotu`` node answers through :mod:`backends.rag` with its
model as the reader. Every LM call is recorded with its prompt and output.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from backends.config import InputError, check_count, check_text, limits
from backends.decoding import Deadline, chat_ids, chat_text, decode, embed

if TYPE_CHECKING:
    from backends.models import LoadedModel

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "model_graph"
NODES_PATH = ASSETS / "nodes.json"
ROUTING_PATH = ASSETS / "routing.jsonl"
# Hand-written queries in other styles than the templates (typos, error messages, allusions): a harder test.
HARD_PATH = ASSETS / "routing-hard.jsonl"
KINDS = ("lm", "rag")
SPLITS = ("train", "test", "hard")
MAX_QUERY_CHARS = 2_000
EMBEDDERS = {"minilm": "all-minilm-l6-v2", "mpnet": "all-mpnet-base-v2"}
ROUTERS = ("logreg-minilm", "centroid-minilm", "similarity-minilm", "logreg-mpnet", "centroid-mpnet",
           "similarity-mpnet", "prompt", "functional-tokens")
DEFAULT_ROUTER = "logreg-minilm"  # chosen by measurement, see README of the closing note / RoutingReport
PROMPT_ROUTER_ROWS = 16  # queries whose prompts share one run of the node list
ProgressFn = Callable[[float, str], None]


# ----- the graph --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    """A worker: a model with a speciality, described like a function with its prompt template."""

    name: str  # short id, also the functional token's name ("arithmetic")
    speciality: str  # one line
    description: str  # what it does and when to use it (the docstring)
    template: str  # the prompt the worker gets; "{query}" marks the query
    models: dict[str, str]  # profile -> registry name or slot of the model that does the work
    kind: str = "lm"  # "lm" (chat-template decoding) or "rag" (retrieval over the SOTU corpus, then reading)
    system: str | None = None  # system turn of an LM node
    max_new_tokens: int = 96

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise InputError(f"A node name must be a word of letters, digits, - or _, got {self.name!r}.")
        if self.kind not in KINDS:
            raise InputError(f"Node {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")
        if "{query}" not in self.template:
            raise InputError(f"Node {self.name!r}: its template must contain {{query}}, where the query goes.")
        if not self.models:
            raise InputError(f"Node {self.name!r} names no model.")

    def model_for(self, profile: str) -> str:
        """The registry name or slot for a profile (a node declared for other profiles: the chat slot)."""
        return self.models.get(profile) or self.models.get("*") or "chat"

    def rewrite(self, query: str) -> str:
        """q_h: the query in this node's template (replace, not str.format: queries may hold braces)."""
        return self.template.replace("{query}", query)

    def docstring(self) -> str:
        """The node as a function with a docstring, the form the router's prompt lists."""
        return (f"def {self.name.replace('-', '_')}(query: str) -> str:\n"
                f'    """{self.speciality.capitalize()}. {self.description}\n\n'
                f"    Prompt template: {self.template!r}\n"
                f'    """')

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Graph:
    """Worker nodes and the edges the master may follow (master -> worker)."""

    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...]
    master: str = "router"

    def __post_init__(self) -> None:
        names = [n.name for n in self.nodes]
        if len(set(names)) != len(names):
            raise InputError(f"Node names must be unique, got {names}.")
        if self.master in names:
            raise InputError(f"A worker cannot be named {self.master!r}, the master's name.")
        known = set(names) | {self.master}
        for a, b in self.edges:
            if a not in known or b not in known:
                raise InputError(f"Edge {a} -> {b} names a node the graph lacks; nodes: {', '.join(sorted(known))}.")

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise InputError(f"Unknown node {name!r}; nodes: {', '.join(self.names)}.")

    def neighbours(self, of: str | None = None) -> list[str]:
        """Workers an edge from ``of`` (default: the master) reaches, in node order."""
        of = of or self.master
        targets = {b for a, b in self.edges if a == of}
        return [n for n in self.names if n in targets]

    def with_node(self, node: Node) -> "Graph":
        """A new graph with ``node`` added (or replacing one of its name) and an edge from the master."""
        nodes = tuple(n for n in self.nodes if n.name != node.name) + (node,)
        edges = tuple(e for e in self.edges if node.name not in e) + ((self.master, node.name),)
        return Graph(nodes, edges, self.master)

    def to_dict(self) -> dict:
        return {"master": self.master, "nodes": [n.to_dict() for n in self.nodes],
                "edges": [list(e) for e in self.edges]}


def node_from_dict(d: dict) -> Node:
    return Node(name=d["name"], speciality=d["speciality"], description=d["description"], template=d["template"],
                models=dict(d["models"]), kind=d.get("kind", "lm"), system=d.get("system"),
                max_new_tokens=int(d.get("max_new_tokens", 96)))


def load_graph(path: Path = NODES_PATH) -> Graph:
    """The built-in graph: every node of the asset, each reachable from the master."""
    d = json.loads(Path(path).read_text())
    master = d.get("master", "router")
    nodes = tuple(node_from_dict(n) for n in d["nodes"])
    return Graph(nodes, tuple((master, n.name) for n in nodes), master)


def user_node(name: str, model: str, speciality: str, description: str = "", template: str = "{query}",
              system: str | None = None, max_new_tokens: int = 96) -> Node:
    """A node for one of the registry's models (the user's additions), checked against the registry."""
    from backends.models import registry

    name = check_text(name, what="Node name", lim=None)
    speciality = check_text(speciality, what="Speciality", lim=None)
    reg = registry()
    resolved = reg.resolve(check_text(model, what="Model", lim=None))
    if not reg.spec(resolved).is_lm:
        raise InputError(f"{resolved} is an embedder, not a language model: a worker has to write answers.")
    return Node(name, speciality, (description or speciality).strip(), template, {"*": resolved},
                system=system, max_new_tokens=check_count(max_new_tokens, what="Token limit", low=1,
                                                           high=limits().max_new_tokens))


# ----- the routing set --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Query:
    query: str
    node: str  # the node that should get it
    split: str  # "train" or "test"
    group: str = ""  # its template or source question: the split holds out whole groups
    source: str = ""


def load_routing_set(path: Path | None = None, split: str | None = None) -> list[Query]:
    """The generated routing set (scripts/build_routing_set.py), optionally one split; ``split="hard"``: the
    hand-written queries of :data:`HARD_PATH`."""
    if split is not None and split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}.")
    path = path or (HARD_PATH if split == "hard" else ROUTING_PATH)
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    out = [Query(r["query"], r["node"], r["split"], r.get("group", ""), r.get("source", "")) for r in rows]
    return [q for q in out if split is None or q.split == split]


def check_query(query: object) -> str:
    q = check_text(query, what="Query")
    if len(q) > MAX_QUERY_CHARS:
        raise InputError(f"The query is {len(q):,} characters long; keep it under {MAX_QUERY_CHARS:,}.")
    return q


# ----- routers ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Routing:
    """A router's decisions on a batch of queries."""

    nodes: list[str]  # chosen node per query
    scores: np.ndarray  # (n_queries, n_candidates) the router's score per candidate node (probability or cosine)
    candidates: list[str]  # the nodes the scores' columns stand for
    calls: list[dict]  # the LM calls made (prompt router): model, prompt, output, seconds
    seconds: float


class Router:
    """Maps queries to one of a graph's nodes. Subclasses set ``name`` and ``models`` and implement ``_scores``."""

    name = "router"
    trained_on = 0  # training queries (0: untrained)

    def __init__(self) -> None:
        self.models: list[str] = []

    def fit(self, queries: Sequence[str], labels: Sequence[str], graph: Graph) -> "Router":
        return self

    def route(self, queries: Sequence[str], graph: Graph, deadline: Deadline | None = None) -> Routing:
        t0 = time.perf_counter()
        candidates = graph.neighbours()
        if not candidates:
            raise InputError("The graph's master has no edges: add a node before routing.")
        scores, calls = self._scores(list(queries), graph, candidates, deadline or Deadline(None))
        picked = [candidates[int(i)] for i in np.argmax(scores, axis=1)] if len(queries) else []
        return Routing(picked, scores, candidates, calls, time.perf_counter() - t0)

    def _scores(self, queries: list[str], graph: Graph, candidates: list[str],
                deadline: Deadline) -> tuple[np.ndarray, list[dict]]:
        raise NotImplementedError


def _embedder(name: "str | LoadedModel") -> "LoadedModel":
    from backends.models import LoadedModel, registry

    if isinstance(name, LoadedModel):
        return name
    reg = registry()
    return reg.get(reg.resolve(EMBEDDERS.get(name, name), "embedder"))


class EmbeddingClassifier(Router):
    """Logistic regression ("logreg") or nearest centroid ("centroid") on unit sentence embeddings."""

    def __init__(self, embedder: "str | LoadedModel" = "minilm", method: str = "logreg", c: float = 10.0):
        super().__init__()
        if method not in ("logreg", "centroid"):
            raise InputError(f"method must be logreg or centroid, got {method!r}.")
        self.emb = _embedder(embedder)
        self.method, self.c = method, c
        short = next((k for k, v in EMBEDDERS.items() if v == self.emb.name), self.emb.name)
        self.name = f"{method}-{short}"
        self.models = [self.emb.name]
        self.classes: list[str] = []
        self.centroids: np.ndarray | None = None
        self.clf: Any = None

    def fit(self, queries: Sequence[str], labels: Sequence[str], graph: Graph) -> "EmbeddingClassifier":
        x = embed(self.emb, list(queries), what="queries")
        y = np.asarray(list(labels))
        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise InputError("A routing classifier needs training queries of at least two nodes.")
        if self.method == "centroid":
            self.centroids = np.stack([x[y == c].mean(0) for c in self.classes])
            self.centroids /= np.maximum(np.linalg.norm(self.centroids, axis=1, keepdims=True), 1e-12)
        else:
            from sklearn.linear_model import LogisticRegression

            self.clf = LogisticRegression(C=self.c, max_iter=2000).fit(x, y)
            self.classes = [str(c) for c in self.clf.classes_]
        self.trained_on = len(y)
        return self

    def _scores(self, queries, graph, candidates, deadline):
        if not self.trained_on:
            raise InputError(f"Router {self.name} is not trained: call fit() (or use trained_router()).")
        x = embed(self.emb, queries, what="queries", deadline=deadline)
        own = (x @ self.centroids.T) if self.method == "centroid" else self.clf.predict_proba(x)
        # Columns in the graph's candidate order; a node the classifier never saw scores -inf.
        out = np.full((len(queries), len(candidates)), -np.inf, dtype=np.float64)
        for j, c in enumerate(candidates):
            if c in self.classes:
                out[:, j] = own[:, self.classes.index(c)]
        return out, []


class SimilarityRouter(Router):
    """Cosine similarity of the query to each node's speciality and description (nothing trained)."""

    def __init__(self, embedder: "str | LoadedModel" = "minilm"):
        super().__init__()
        self.emb = _embedder(embedder)
        short = next((k for k, v in EMBEDDERS.items() if v == self.emb.name), self.emb.name)
        self.name, self.models = f"similarity-{short}", [self.emb.name]

    def _scores(self, queries, graph, candidates, deadline):
        docs = [f"{graph.node(c).speciality}. {graph.node(c).description}" for c in candidates]
        x = embed(self.emb, queries + docs, what="texts", deadline=deadline)
        return (x[: len(queries)] @ x[len(queries):].T).astype(np.float64), []


PROMPT_ROUTER_SYSTEM = "You route requests to the right specialist. Reply with one number only."


def router_prompt(query: str, graph: Graph, candidates: Sequence[str]) -> str:
    """The prompt router's user turn: every candidate as a numbered function with its docstring, then the query."""
    lines = ["Each function below is a specialist model. Which one should answer the request?", ""]
    for i, c in enumerate(candidates, 1):
        n = graph.node(c)
        lines.append(f"{i}. {n.name}: {n.speciality}. {n.description}")
    lines += ["", f"Request: {query}", "", f"Answer with the number (1-{len(candidates)}) of the best function."]
    return "\n".join(lines)


def option_token_ids(lm: "LoadedModel", n: int) -> list[int]:
    """The token id of each option number "1".."n" (each must be a single token)."""
    if n > 9:
        raise InputError(f"The prompt router lists at most 9 nodes, the graph's master has {n}.")
    ids = []
    for i in range(1, n + 1):
        toks = lm.tokenizer.encode(str(i), add_special_tokens=False)
        if len(toks) != 1:
            raise InputError(f"{lm.name} spells the option {i} in {len(toks)} tokens; the prompt router needs one.")
        ids.append(int(toks[0]))
    return ids


class PromptRouter(Router):
    """An LM reads the candidates' descriptions and names one: the argmax of its next-token distribution over
    the option numbers (constrained to them, so every answer is a valid node)."""

    def __init__(self, model: "str | LoadedModel | None" = None):
        super().__init__()
        from backends.models import loaded

        self.lm = loaded(model, "chat")
        self.name, self.models = "prompt", [self.lm.name]

    def _scores(self, queries, graph, candidates, deadline):
        import torch

        from backends.rag.generate import prefill_passages

        options = option_token_ids(self.lm, len(candidates))
        out = np.zeros((len(queries), len(candidates)))
        calls = []
        for start in range(0, len(queries), PROMPT_ROUTER_ROWS):
            deadline.check("Routing ran past the request's time budget; send fewer queries.")
            chunk = queries[start:start + PROMPT_ROUTER_ROWS]
            t0 = time.perf_counter()
            prompts = [router_prompt(q, graph, candidates) for q in chunk]
            # The node list is a prefix every prompt shares: RAG's prefill runs it once per chunk, then each
            # query's own tail alone on a copy of its cache (no padding, no repeats of the long prefix).
            state = prefill_passages(self.lm, [chat_ids(self.lm, p, system=PROMPT_ROUTER_SYSTEM) for p in prompts])
            logp = torch.log_softmax(state.logits, dim=-1)[:, options]
            probs = torch.softmax(logp, dim=-1).numpy()  # renormalised over the options
            out[start:start + len(chunk)] = probs
            each = (time.perf_counter() - t0) / len(chunk)
            for p, row in zip(prompts, probs):
                calls.append({"model": self.lm.name, "role": "router",
                              "prompt": chat_text(self.lm, p, system=PROMPT_ROUTER_SYSTEM),
                              "output": str(int(np.argmax(row)) + 1), "seconds": round(each, 4)})
        return out, calls


FUNCTIONAL_PROMPT = "Query: {query}\nFunction:"


def functional_token(node: str) -> str:
    return f"<node_{node}>"


class FunctionalTokenRouter(Router):
    """New vocabulary tokens, one per node, whose output embeddings are trained with the LM frozen.

    The LM reads ``FUNCTIONAL_PROMPT`` and its last hidden state h (dim d, after the final norm) gives logits
    over the old vocabulary (h E^T, E frozen) and the new tokens (h W^T, W: (nodes, d), trained). Training
    minimises cross-entropy of the right new token against all V + nodes tokens (Adam, full batch); the base
    vocabulary enters only through each query's log-sum-exp, computed once. The shared model is never changed:
    W lives here. Routing takes the most likely new token (``scores``: its probability among the new tokens;
    ``emits``: the share of queries where it also beats every ordinary token).
    """

    def __init__(self, model: "str | LoadedModel | None" = None, *, steps: int = 300, lr: float = 0.01,
                 seed: int = 0):
        super().__init__()
        from backends.models import loaded

        self.lm = loaded(model, "chat")
        self.name, self.models = "functional-tokens", [self.lm.name]
        self.steps, self.lr, self.seed = steps, lr, seed
        self.classes: list[str] = []
        self.weight: np.ndarray | None = None  # (nodes, d) the new tokens' output embeddings
        self.losses: list[float] = []
        self.emits = float("nan")

    def features(self, queries: Sequence[str], deadline: Deadline | None = None) -> tuple["Any", "Any"]:
        """(h (n, d) float32, log-sum-exp of the base vocabulary's logits (n,)) for each query's prompt."""
        import torch

        from backends.decoding import pad_batch, pad_id

        tok, hs, lse = self.lm.tokenizer, [], []
        for start in range(0, len(queries), 16):
            (deadline or Deadline(None)).check("Routing ran past the request's time budget; send fewer queries.")
            rows = [tok(FUNCTIONAL_PROMPT.replace("{query}", q))["input_ids"] for q in queries[start:start + 16]]
            p = pad_batch(rows, pad_id(tok), "left")
            dev = self.lm.device
            with torch.inference_mode():
                out = self.lm.model(input_ids=p.ids.to(dev), attention_mask=p.mask.to(dev),
                                    position_ids=p.positions.to(dev), output_hidden_states=True, logits_to_keep=1)
            hs.append(out.hidden_states[-1][:, -1].float().cpu())
            lse.append(torch.logsumexp(out.logits[:, -1].float().cpu(), dim=-1))
        return torch.cat(hs), torch.cat(lse)

    def output_embeddings(self) -> "Any":
        """The LM's output embeddings (V, d) as float32 (an int8 layer's weight is a method: dequantised)."""
        w = self.lm.model.get_output_embeddings().weight
        w = w() if callable(w) else w
        return (w.dequantize() if getattr(w, "is_quantized", False) else w).detach().float().cpu()

    def fit(self, queries: Sequence[str], labels: Sequence[str], graph: Graph) -> "FunctionalTokenRouter":
        import torch

        self.classes = sorted(set(labels))
        if len(self.classes) < 2:
            raise InputError("A routing classifier needs training queries of at least two nodes.")
        h, base_lse = self.features(list(queries))
        y = torch.as_tensor([self.classes.index(c) for c in labels])
        g = torch.Generator().manual_seed(self.seed)
        emb = self.output_embeddings()
        # Start each new token at a random ordinary token's embedding: the scale of the vocabulary's own.
        start = emb[torch.randint(0, emb.shape[0], (len(self.classes),), generator=g)].clone()
        w = torch.nn.Parameter(start)
        opt = torch.optim.Adam([w], lr=self.lr)
        self.losses = []
        for _ in range(self.steps):
            new = h @ w.T  # (n, nodes)
            total = torch.logsumexp(torch.cat([base_lse[:, None], new], dim=1), dim=1)
            loss = (total - new.gather(1, y[:, None])[:, 0]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            self.losses.append(float(loss.detach()))
        self.weight = w.detach().numpy()
        new = (h @ w.detach().T)
        # Share of training queries whose best new token outweighs the whole old vocabulary together.
        self.emits = float((new.max(1).values > base_lse).float().mean())
        self.trained_on = len(labels)
        return self

    def _scores(self, queries, graph, candidates, deadline):
        import torch

        if self.weight is None:
            raise InputError(f"Router {self.name} is not trained: call fit() (or use trained_router()).")
        h, _ = self.features(queries, deadline)
        own = torch.softmax(h @ torch.as_tensor(self.weight).T, dim=-1).numpy()
        out = np.full((len(queries), len(candidates)), -np.inf, dtype=np.float64)
        for j, c in enumerate(candidates):
            if c in self.classes:
                out[:, j] = own[:, self.classes.index(c)]
        calls = [{"model": self.lm.name, "role": "router", "prompt": FUNCTIONAL_PROMPT.replace("{query}", q),
                  "output": functional_token(self.classes[int(np.argmax(row))]), "seconds": 0.0}
                 for q, row in zip(queries, own)]
        return out, calls


def make_router(name: str, *, model: "str | LoadedModel | None" = None) -> Router:
    """An untrained router by name (see ROUTERS); ``model`` is the prompt router's LM (default: the chat slot)."""
    if name == "prompt":
        return PromptRouter(model)
    if name == "functional-tokens":
        return FunctionalTokenRouter(model)
    method, _, emb = name.partition("-")
    if method in ("logreg", "centroid") and emb:
        return EmbeddingClassifier(emb, method)
    if method == "similarity" and emb:
        return SimilarityRouter(emb)
    raise InputError(f"Unknown router {name!r}; routers: {', '.join(ROUTERS)}.")


_trained: dict[tuple, Router] = {}
MAX_TRAINED = 24  # trained routers kept per process (each user's added nodes make a new training set)
_trained_lock = threading.Lock()


def _set_key(queries: Sequence[Query]) -> str:
    h = hashlib.sha256()
    for q in queries:
        h.update(f"{q.query}\t{q.node}\n".encode())
    return h.hexdigest()[:16]


def trained_router(name: str | Router | None = None, graph: Graph | None = None, *,
                   train: Sequence[Query] | None = None, model: "str | LoadedModel | None" = None) -> Router:
    """A router ready to route: trained once per (name, models, training set) in this process and kept.

    ``train``: the training queries (default: the routing set's train split, restricted to the graph's nodes)."""
    if isinstance(name, Router):
        return name
    graph = graph or load_graph()
    name = name or DEFAULT_ROUTER
    if name not in ROUTERS:
        raise InputError(f"Unknown router {name!r}; routers: {', '.join(ROUTERS)}.")
    router = make_router(name, model=model)
    if not isinstance(router, (EmbeddingClassifier, FunctionalTokenRouter)):
        return router
    rows = [q for q in (train if train is not None else load_routing_set(split="train")) if q.node in graph.names]
    key = (name, tuple(router.models), _set_key(rows))
    with _trained_lock:
        if key not in _trained:
            while len(_trained) >= MAX_TRAINED:  # users' own training sets: keep the newest few
                _trained.pop(next(iter(_trained)))
            _trained[key] = router.fit([q.query for q in rows], [q.node for q in rows], graph)
        return _trained[key]


# ----- routing and answering --------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    """One query through the graph: the node chosen, the query rewritten for it, and its answer."""

    query: str
    node: str
    rewritten: str  # q_h, the query in the node's template
    answer: str | None  # None when route(..., answer=False)
    router: str
    scores: dict[str, float | None]  # the router's score per candidate node (None: it cannot reach that node)
    models: dict[str, list[str] | str]  # "router": models the router used; "worker": the worker's model
    calls: list[dict]  # every LM call: model, role, prompt (verbatim), output, seconds
    route_seconds: float
    answer_seconds: float
    seconds: float
    extra: dict = field(default_factory=dict)  # the RAG node's passages, say

    def to_dict(self) -> dict:
        return asdict(self)


def _profile() -> str:
    from backends.models import registry

    return registry().profile


def worker_model(node: Node, profile: str | None = None) -> "LoadedModel":
    """The loaded model of a node (its registry name or slot for the profile)."""
    from backends.models import registry

    reg = registry()
    name = node.model_for(profile or reg.profile)
    return reg.get(reg.resolve(name, "chat" if node.kind == "lm" else "reader"))


def answer_with(node: Node, rewritten: str, lm: "LoadedModel", *, max_new_tokens: int | None = None,
                deadline: Deadline | None = None) -> tuple[str, list[dict], dict]:
    """The worker's answer to q_h: (text, the LM calls, extra). An LM node decodes greedily in its chat
    template; the RAG node retrieves from the SOTU index and reads the top passage with ``lm``."""
    deadline = deadline or Deadline(None)
    limit = min(max_new_tokens or node.max_new_tokens, limits().max_new_tokens)
    t0 = time.perf_counter()
    if node.kind == "rag":
        from backends import rag

        a = rag.answer(rag.build_index(), rewritten, mode="top1", k=3, max_new_tokens=limit, lm=lm,
                       time_budget_s=None if deadline.seconds is None else max(1.0, deadline.remaining()))
        prompt = rag.prompt_text(rewritten, a.passages[0].passage) if a.passages else rewritten
        call = {"model": lm.name, "role": "worker", "prompt": chat_text(lm, prompt, plain_suffix="\nAnswer:"),
                "output": a.text, "seconds": round(time.perf_counter() - t0, 4)}
        extra = {"passages": [{"title": h.passage.title, "score": round(float(h.score), 4)} for h in a.retrieved]}
        return a.text, [call], extra
    ids = chat_ids(lm, rewritten, system=node.system)
    out = decode(lm, [ids], limit, deadline=deadline)
    text = lm.tokenizer.decode(out.ids[0], skip_special_tokens=True).strip()
    call = {"model": lm.name, "role": "worker", "prompt": chat_text(lm, rewritten, system=node.system),
            "output": text, "seconds": round(time.perf_counter() - t0, 4)}
    return text, [call], {}


def route(query: str, *, router: str | Router | None = None, answer: bool = True, graph: Graph | None = None,
          max_new_tokens: int | None = None, time_budget_s: float | None = None) -> Route:
    """Route one query through the graph and (``answer``) answer it with the chosen worker.

    ``router``: a name from ROUTERS (default :data:`DEFAULT_ROUTER`, trained at first use) or a Router.
    ``graph``: default the built-in one (:func:`load_graph`). ``time_budget_s``: None runs to the end.
    """
    query = check_query(query)
    if max_new_tokens is not None:
        max_new_tokens = check_count(max_new_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    graph = graph or load_graph()
    r = trained_router(router, graph)
    deadline = Deadline(time_budget_s)
    t0 = time.perf_counter()
    routing = r.route([query], graph, deadline)
    route_s = time.perf_counter() - t0
    node = graph.node(routing.nodes[0])
    rewritten = node.rewrite(query)
    # None: a node the router cannot reach (a trained router never saw queries for it)
    scores = {c: float(s) if np.isfinite(s) else None for c, s in zip(routing.candidates, routing.scores[0])}
    out = Route(query, node.name, rewritten, None, r.name, scores, {"router": list(r.models),
                                                                       "worker": node.model_for(_profile())},
                list(routing.calls), route_s, 0.0, time.perf_counter() - t0)
    if not answer:
        return out
    return answer_route(out, graph, max_new_tokens=max_new_tokens, deadline=deadline)


def answer_route(r: Route, graph: Graph | None = None, *, max_new_tokens: int | None = None,
                 deadline: Deadline | None = None) -> Route:
    """A routed query (``route(..., answer=False)``) answered by its node's worker: a new Route with the
    answer, the worker's call appended and the timings added (a UI shows the route before the answer)."""
    if max_new_tokens is not None:
        max_new_tokens = check_count(max_new_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    graph = graph or load_graph()
    node = graph.node(r.node)
    lm = worker_model(node)
    t1 = time.perf_counter()
    text, worker_calls, extra = answer_with(node, r.rewritten, lm, max_new_tokens=max_new_tokens, deadline=deadline)
    answer_s = time.perf_counter() - t1
    return Route(r.query, r.node, r.rewritten, text, r.router, r.scores, {**r.models, "worker": lm.name},
                 r.calls + worker_calls, r.route_seconds, answer_s, r.seconds + answer_s, extra)


def single_model(query: str, model: "str | LoadedModel | None" = None, *, max_new_tokens: int = 128,
                 time_budget_s: float | None = None) -> Route:
    """The baseline: the query as it is, to one model (default: the chat slot), no routing."""
    from backends.models import loaded

    query = check_query(query)
    lm = loaded(model, "chat")
    plain = Node("single", "everything", "Answers every query.", "{query}", {"*": lm.name})
    t0 = time.perf_counter()
    text, calls, _ = answer_with(plain, query, lm, max_new_tokens=max_new_tokens, deadline=Deadline(time_budget_s))
    s = time.perf_counter() - t0
    return Route(query, "single", query, text, "none", {}, {"router": [], "worker": lm.name}, calls, 0.0, s, s)


# ----- evaluation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RoutingReport:
    """Routing accuracy of several routers on one split of the routing set."""

    split: str
    n: int
    nodes: list[str]
    accuracy: dict[str, float]  # router -> share of queries sent to their labelled node
    per_node: dict[str, dict[str, float]]  # router -> node -> accuracy on that node's queries
    confusion: dict[str, list[list[int]]]  # router -> [true node][chosen node] counts, in ``nodes`` order
    seconds: dict[str, float]  # router -> seconds to route the split (training excluded)
    train_seconds: dict[str, float]  # router -> seconds to train (0 for untrained routers)
    models: dict[str, list[str]]  # router -> models it used
    trained_on: dict[str, int]  # router -> training queries
    errors: list[dict]  # per router, the queries it got wrong: router, query, gold, chosen

    def to_dict(self) -> dict:
        return asdict(self)


def evaluate_routing(routers: Sequence[str | Router] = ("logreg-minilm", "centroid-minilm", "similarity-minilm"), *,
                     split: str = "test", graph: Graph | None = None, queries: Sequence[Query] | None = None,
                     prompt_model: "str | LoadedModel | None" = None, progress: ProgressFn | None = None,
                     time_budget_s: float | None = None) -> RoutingReport:
    """Each router's accuracy on a split of the routing set (classifiers are trained on the train split)."""
    graph = graph or load_graph()
    rows = [q for q in (queries if queries is not None else load_routing_set(split=split)) if q.node in graph.names]
    if not rows:
        raise InputError("No routing queries for the graph's nodes in that split.")
    deadline = Deadline(time_budget_s)
    nodes = graph.neighbours()
    acc, per_node, conf, secs, train_s, used, trained, errors = {}, {}, {}, {}, {}, {}, {}, []
    for i, spec in enumerate(routers):
        if progress:
            progress(i / len(routers), f"Router {spec if isinstance(spec, str) else spec.name}")
        t0 = time.perf_counter()
        r = trained_router(spec, graph, model=prompt_model)
        train_s[r.name] = round(time.perf_counter() - t0, 3)
        out = r.route([q.query for q in rows], graph, deadline)
        secs[r.name] = round(out.seconds, 3)
        hits = [p == q.node for p, q in zip(out.nodes, rows)]
        acc[r.name] = float(np.mean(hits))
        per_node[r.name] = {n: float(np.mean([h for h, q in zip(hits, rows) if q.node == n]))
                            for n in nodes if any(q.node == n for q in rows)}
        m = np.zeros((len(nodes), len(nodes)), dtype=int)
        for p, q in zip(out.nodes, rows):
            m[nodes.index(q.node), nodes.index(p)] += 1
        conf[r.name] = m.tolist()
        used[r.name], trained[r.name] = list(r.models), r.trained_on
        errors += [{"router": r.name, "query": q.query, "gold": q.node, "chosen": p}
                   for p, q in zip(out.nodes, rows) if p != q.node]
    if progress:
        progress(1.0, "Routing evaluated")
    return RoutingReport(split, len(rows), nodes, acc, per_node, conf, secs, train_s, used, trained, errors)


def memory_cost(graph: Graph | None = None, *, load: bool = False, router: str | Router | None = None,
                single: "str | None" = None) -> dict:
    """What keeping the graph's models loaded costs, from the registry's own figures, against one model.

    ``load``: load every worker (and the router's and single model) first (minutes on first use); otherwise
    only the ones loaded so far count. ``router``: a router whose models count towards the graph (a name
    counts the models that router would use). ``single``: the one model that answers everything instead
    (default: the chat slot). Returns per model its memory (MB), parameters, load time and role, the graph's
    total (``total_mb``), the single model's (``single_mb``) and the largest worker's (``largest_mb``)."""
    from backends.models import registry

    graph = graph or load_graph()
    reg = registry()
    roles: dict[str, list[str]] = {}
    for n in graph.nodes:
        name = reg.resolve(n.model_for(reg.profile), "chat" if n.kind == "lm" else "reader")
        roles.setdefault(name, []).append(f"worker {n.name}")
    if router is not None:
        names = router.models if isinstance(router, Router) else _router_models(router)
        for m in names:
            roles.setdefault(m, []).append("router")
    one = reg.resolve(single or "chat", "chat")
    if load:
        for m in [*roles, one]:
            reg.get(m)
    info = {d["name"]: d for d in reg.loaded()}

    def row(m: str, role: list[str]) -> dict:
        keys = ("memory_mb", "params_m", "load_s", "weights")
        return {"model": m, "role": ", ".join(role), "loaded": m in info,
                **({k: info[m][k] for k in keys} if m in info else {})}

    rows = [row(m, r) for m, r in roles.items()]
    workers = [r for r in rows if any(x.startswith("worker") for x in roles[r["model"]])]
    return {"profile": reg.profile, "models": rows, "total_mb": round(sum(r.get("memory_mb", 0.0) for r in rows), 1),
            "largest_mb": round(max((r.get("memory_mb", 0.0) for r in workers), default=0.0), 1),
            "single": row(one, ["single"]), "single_mb": round(info.get(one, {}).get("memory_mb", 0.0), 1),
            "all_loaded": all(r["loaded"] for r in rows)}


def _router_models(name: str) -> list[str]:
    """The registry names a router of that name uses, without building it (nothing is loaded)."""
    from backends.models import registry

    if name not in ROUTERS:
        raise InputError(f"Unknown router {name!r}; routers: {', '.join(ROUTERS)}.")
    reg = registry()
    if name in ("prompt", "functional-tokens"):
        return [reg.resolve("chat", "chat")]
    return [reg.resolve(EMBEDDERS[name.partition("-")[2]], "embedder")]


# ----- end to end -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EndToEnd:
    """Answer quality through the graph against one model answering everything, on items with known answers."""

    n: int
    accuracy: dict[str, float]  # "graph" (the router's choices), "oracle" (the labelled node), "single" (one model)
    routing_accuracy: float  # share of items the router sent to their labelled node
    seconds: dict[str, float]  # total answering time per system
    models: dict[str, list[str]]  # system -> models it used
    records: list[dict]  # per item: query, gold, node, chosen node, each system's answer and correctness
    total: int = 0  # items asked for (n: items done so far)
    complete: bool = True  # False while streaming
    stopped: str = ""  # why it ended early, if it did

    def to_dict(self) -> dict:
        return asdict(self)


def mixed_items(n_per_node: int = 5, seed: int = 0) -> list[dict]:
    """A small mixed set with gold answers: arithmetic word problems (assets/cot) and SOTU questions (assets/rag)."""
    import random

    from backends.cot_decoding import load_problems
    from backends.rag import load_qa

    rng = random.Random(seed)
    arith = [p for p in load_problems() if p.kind == "arithmetic"]
    items = [{"query": p.question, "gold": [p.answer], "node": "arithmetic", "check": "number"}
             for p in rng.sample(arith, n_per_node)]
    items += [{"query": q["question"], "gold": [q["answer"], *q.get("aliases", [])], "node": "sotu", "check": "text"}
              for q in rng.sample(load_qa(), n_per_node)]
    return items


def is_right(answer: str | None, item: dict) -> bool:
    """A number compares by value with the last number of the answer; a text gold answer must appear in it."""
    if not answer:
        return False
    if item["check"] == "number":
        from backends.cot_decoding import find_number_answer, is_correct

        found = find_number_answer(answer)
        return bool(found) and is_correct(found[0], item["gold"][0])
    from backends.rag import contains_answer

    return bool(contains_answer(answer, item["gold"]))


def end_to_end_iter(items: Sequence[dict] | None = None, *, router: str | Router | None = None,
                    single: "str | LoadedModel | None" = None, graph: Graph | None = None,
                    max_new_tokens: int = 96, progress: ProgressFn | None = None,
                    time_budget_s: float | None = None) -> Iterator[EndToEnd]:
    """:func:`evaluate_end_to_end` one item at a time: yields the report so far after each item (the last one
    has ``complete``). Once ``time_budget_s`` is spent it stops between items and says so in ``stopped``."""
    from backends.models import loaded

    graph = graph or load_graph()
    if items is not None and not isinstance(items, (list, tuple)):
        raise InputError("items must be a list of dicts, as mixed_items() makes them.")
    max_new_tokens = check_count(max_new_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    items = list(items if items is not None else mixed_items())
    if not items:
        raise InputError("No items to evaluate.")
    for it in items:
        if not isinstance(it, dict) or not isinstance(it.get("query"), str) or not isinstance(it.get("gold"), list) \
                or it.get("check") not in ("number", "text"):
            raise InputError("Each item must be a dict with 'query' (text), 'gold' (a list of answers), 'node' and "
                             "'check' ('number' or 'text'), as mixed_items() makes them.")
        if it.get("node") not in graph.names:
            raise InputError(f"Item {it.get('query', '')[:40]!r} names node {it.get('node')!r}, not in the graph.")
    r = trained_router(router, graph)
    one = loaded(single, "chat")
    deadline = Deadline(time_budget_s)
    routing = r.route([it["query"] for it in items], graph, deadline)
    secs = {"graph": routing.seconds, "oracle": 0.0, "single": 0.0}
    records, used = [], {"graph": set(r.models), "oracle": set(), "single": {one.name}}
    plain = Node("single", "everything", "Answers every query.", "{query}", {"*": one.name})
    stopped = ""
    for i, (it, chosen) in enumerate(zip(items, routing.nodes)):
        if deadline.expired:
            stopped = f"time budget of {time_budget_s:g} s spent after {i} of {len(items)} items"
            break
        if progress:
            progress(i / len(items), f"Item {i + 1}/{len(items)}")
        answers: dict[str, str] = {}
        took: dict[str, float] = {}
        for system, node, query in (("oracle", graph.node(it["node"]), None), ("graph", graph.node(chosen), None),
                                    ("single", plain, it["query"])):
            if system == "graph" and chosen == it["node"]:  # the same node, model and prompt: the same answer
                answers["graph"], took["graph"] = answers["oracle"], took["oracle"]
                used["graph"] |= used["oracle"]
                continue
            lm = one if node is plain else worker_model(node)
            t0 = time.perf_counter()
            answers[system] = answer_with(node, query or node.rewrite(it["query"]), lm,
                                          max_new_tokens=max_new_tokens, deadline=Deadline(None))[0]
            took[system] = time.perf_counter() - t0
            used[system].add(lm.name)
        for k, v in took.items():
            secs[k] += v
        records.append({"query": it["query"], "gold": it["gold"], "node": it["node"], "chosen": chosen,
                        **{f"{k} answer": a for k, a in answers.items()},
                        **{f"{k} correct": is_right(a, it) for k, a in answers.items()},
                        **{f"{k} seconds": round(v, 3) for k, v in took.items()}})
        if i + 1 < len(items):
            yield _end_to_end(records, secs, used, len(items), "")
    yield _end_to_end(records, secs, used, len(items), stopped)


def _end_to_end(records: list[dict], secs: dict, used: dict, total: int, stopped: str) -> EndToEnd:
    done = len(records)
    acc = {s: float(np.mean([rec[f"{s} correct"] for rec in records])) if done else float("nan")
           for s in ("graph", "oracle", "single")}
    routed = float(np.mean([rec["chosen"] == rec["node"] for rec in records])) if done else float("nan")
    return EndToEnd(done, acc, routed, {k: round(v, 2) for k, v in secs.items()},
                    {k: sorted(v) for k, v in used.items()}, list(records), total=total,
                    complete=done == total or bool(stopped), stopped=stopped)


def evaluate_end_to_end(items: Sequence[dict] | None = None, *, router: str | Router | None = None,
                        single: "str | LoadedModel | None" = None, graph: Graph | None = None,
                        max_new_tokens: int = 96, progress: ProgressFn | None = None,
                        time_budget_s: float | None = None) -> EndToEnd:
    """Each item answered three ways: through the router's node, through its labelled node (oracle), and by
    ``single`` (default: the chat slot) with the query as it is. Answers reuse one another where the same
    node and model would answer the same prompt (a router that picks the labelled node costs no second call).
    ``time_budget_s``: stop between items once spent (the report covers the items done)."""
    reports = end_to_end_iter(items, router=router, single=single, graph=graph, max_new_tokens=max_new_tokens,
                              progress=progress, time_budget_s=time_budget_s)
    *_, last = reports
    return last
