"""LoRA-the-Explorer (Huh et al. 2024): N low-rank heads trained in parallel, merged every T steps, train a network
from scratch. Compared, at an equal number of training samples, with full-rank training and with one LoRA.

The method note's formulas (../shared/methods/lte.md), exactly:

* LoRA: f(x) = W x + s B A x with B (m x r), A (r x n), s = alpha / r. A starts with orthonormal rows (entries
  of size about 1/sqrt(n), drawn per head from its own seed), B = 0.
* LTE, the code's reset-less form: head n keeps its own (A_n, B_n) and its own Adam optimizer, never reset. Between
  merges it computes W x + s (B_n A_n - B_n^prev A_n^prev) x on its own data shard, for T steps. Merge, on the
  driver (the parameter server): W <- W + (1/N) sum_n s (B_n A_n - B_n^prev A_n^prev), then each head's prev :=
  current (so each round starts from the merged W exactly).
* Which layers get LoRA: every matrix the model multiplies by in its blocks (the LM: q, k, v, o, gate, up, down of
  every decoder layer; the toy: its one matrix). **The other parameters** (the LM's byte embeddings, output layer
  and RMSNorm gains) are trained by every head with its own optimizer and **averaged at merges**, as local SGD
  would (``others="average"``, the default, and what the single LoRA does with them too: it trains them); or kept
  at their random init (``others="frozen"``) to see how much of the result is theirs. The bench measures both.
* Samples: full-rank and the single LoRA take ``batch`` samples a step; LTE splits the same batch over its heads
  (``batch / heads`` each, as the paper splits its total batch), so every scheme has seen steps x batch samples.

Two networks: ``"toy"``, the note's least-squares problem (y = W* x, x ~ N(0, I), W* and the init W0 random 64 x 64;
its validation loss is exact, ||W - W*||^2 / 64, and one LoRA can at best remove the top r singular values of
W* - W0: the ``floor``); ``"lm"``, a tiny byte-level LLaMA from :mod:`backends.training` on State of the Union
addresses (validation: held-out addresses).

Communication and memory are the note's cost formulas in float32 bytes (M: all parameters; M_lte: what one head sends
at a merge, its LoRA factors plus the averaged other parameters; q: bytes of W relative to float32, 1 here, 0.25 for
the paper's 4-bit W): DDP all-reduce N(N-1)M a step, a parameter server 2(N-1)M a step, LTE (1/T)(N-1)(qM + M_lte)
a step; memory per device 3M (full) against qM + 3M_lte (LTE).

The heads run as workers of :func:`backends.sweeps.worker_pool` (kind ``"lte"``: :data:`SWEEP`), in-process or on
Ray; head n lives on worker n % W, a round is one ``map()`` carrying the merged weights and returning each head's
factors (A_n, B_n), its other parameters and its losses. Per-head seeds and shards make the result independent of
the backend and the worker count. No torch at import.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from backends import sweeps
from backends.config import InputError, check_count, check_number
from backends.decoding import Deadline

NETWORKS = ("toy", "lm")
NETWORK_LABELS = {"toy": "least-squares toy (64 x 64)", "lm": "tiny byte-level LM on SOTU"}
OTHERS = ("average", "frozen")
SCHEMES = ("full", "lora", "lte")
LABELS = {"full": "full-rank", "lora": "single LoRA (no merging)", "lte": "LTE"}
TOY_DIM = 64
LM_DEFAULT = {"layers": 2, "hidden": 64, "heads": 4, "seq_len": 64}
# Learning rates (Adam) per network: the full-rank weights and the other parameters take ``lr``, the LoRA factors
# ``lora_lr``; with alpha the LoRA step is s * lora_lr. Tuned on the defaults (bench/bench_lte.py --sweep-lr).
DEFAULT_LR = {"toy": 1e-2, "lm": 3e-3}
DEFAULT_LORA_LR = {"toy": 2e-2, "lm": 3e-3}
DEFAULT_ALPHA = {"toy": 32.0, "lm": 128.0}
MAX_HEADS = 32
MAX_RANK = 64
MAX_STEPS = 5000
MAX_BATCH = 256
BYTES = 4  # float32
WARMUP = 0.1


def _no_models(options: dict) -> list[str]:
    return []  # the workers build their networks from the options; no registry model is loaded


# ----- settings -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """One comparison's settings, validated (JSON-able: they are the workers' options)."""

    network: str = "toy"
    heads: int = 4
    rank: int = 8
    alpha: float = 32.0
    merge_every: int = 10
    steps: int = 200
    batch: int = 16
    lr: float = 1e-2
    lora_lr: float = 1e-3
    others: str = "average"
    seed: int = 0
    evals: int = 20
    extra_merge_every: tuple = ()
    layers: int = LM_DEFAULT["layers"]
    hidden: int = LM_DEFAULT["hidden"]
    seq_len: int = LM_DEFAULT["seq_len"]
    eval_blocks: int = 32

    @property
    def scale(self) -> float:
        return self.alpha / self.rank

    @property
    def head_batch(self) -> int:
        return self.batch // self.heads

    def options(self) -> dict:
        d = dataclasses.asdict(self)
        d["extra_merge_every"] = list(self.extra_merge_every)
        return d


def check_settings(network: Any = "toy", heads: Any = 4, rank: Any = 8, alpha: Any = None, merge_every: Any = 10,
                   steps: Any = 200, batch: Any = 16, lr: Any = None, lora_lr: Any = None, others: Any = "average",
                   seed: Any = 0, evals: Any = 20, extra_merge_every: Any = (), layers: Any = None,
                   hidden: Any = None, seq_len: Any = None, eval_blocks: Any = 32) -> Settings:
    """Validated :class:`Settings`, with InputError messages that say what to change."""
    if network not in NETWORKS:
        raise InputError(f"Network must be one of {', '.join(NETWORKS)}, got {network!r}.")
    if others not in OTHERS:
        raise InputError(f"The other parameters are 'average' (trained per head, averaged at merges) or 'frozen', "
                         f"got {others!r}.")
    heads = check_count(heads, what="Heads", low=1, high=MAX_HEADS)
    rank = check_count(rank, what="Rank", low=1, high=MAX_RANK)
    steps = check_count(steps, what="Steps", low=1, high=MAX_STEPS)
    merge_every = check_count(merge_every, what="Merge interval T", low=1, high=steps)
    batch = check_count(batch, what="Batch", low=1, high=MAX_BATCH)
    if batch % heads:
        raise InputError(f"The batch ({batch}) must be a multiple of the heads ({heads}): LTE splits it over its "
                         "heads, so that every scheme sees the same samples.")
    alpha = check_number(DEFAULT_ALPHA[network] if alpha is None else alpha, what="Alpha", low=1e-3, high=1e5)
    lr = check_number(DEFAULT_LR[network] if lr is None else lr, what="Learning rate", low=1e-6, high=1.0)
    lora_lr = check_number(DEFAULT_LORA_LR[network] if lora_lr is None else lora_lr, what="LoRA learning rate",
                           low=1e-7, high=1.0)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    evals = check_count(evals, what="Evaluations", low=1, high=200)
    extra = _check_extra(extra_merge_every, merge_every, steps)
    layers = check_count(LM_DEFAULT["layers"] if layers is None else layers, what="Layers", low=1, high=8)
    hidden = check_count(LM_DEFAULT["hidden"] if hidden is None else hidden, what="Width", low=8, high=512)
    seq_len = check_count(LM_DEFAULT["seq_len"] if seq_len is None else seq_len, what="Sequence length", low=8,
                          high=512)
    if network == "lm" and hidden % (2 * LM_DEFAULT["heads"]):
        raise InputError(f"The LM's width ({hidden}) must be a multiple of {2 * LM_DEFAULT['heads']}.")
    eval_blocks = check_count(eval_blocks, what="Evaluation blocks", low=1, high=512)
    return Settings(network, heads, rank, alpha, merge_every, steps, batch, lr, lora_lr, others, seed, evals, extra,
                    layers, hidden, seq_len, eval_blocks)


def _check_extra(extra: Any, merge_every: int, steps: int) -> tuple:
    """Other merge intervals to run LTE with (T variants): a list of whole numbers or a string "1, 50"."""
    if extra is None or extra == "":
        return ()
    if isinstance(extra, str):
        try:
            extra = [int(p) for p in extra.replace(";", ",").split(",") if p.strip()]
        except ValueError:
            raise InputError(f"Other merge intervals must be whole numbers like '1, 50', got {extra!r}.") from None
    if isinstance(extra, (int, float)):
        extra = [extra]
    try:
        values = [check_count(t, what="Other merge interval", low=1, high=steps) for t in extra]
    except TypeError:
        raise InputError(f"Other merge intervals must be whole numbers, got {extra!r}.") from None
    out = tuple(sorted({t for t in values if t != merge_every}))
    if len(out) > 4:
        raise InputError(f"At most 4 other merge intervals, got {len(out)}.")
    return out


def curve_key(merge_every: int, s: Settings) -> str:
    return "lte" if merge_every == s.merge_every else f"lte_T{merge_every}"


def curve_label(key: str, s: Settings) -> str:
    if key in LABELS and key != "lte":
        return LABELS[key]
    t = s.merge_every if key == "lte" else int(key.split("T")[1])
    return f"LTE, {s.heads} heads x rank {s.rank}, T = {t}"


# ----- costs (the note's formulas) ------------------------------------------------------------------------------


def costs(m_total: int, m_lora: int, m_others: int, s: Settings, *, q: float = 1.0) -> dict:
    """Communication and memory of each scheme, in float32 bytes, from parameter counts (see the module's docstring).

    ``m_total``: M; ``m_lora``: one head's LoRA factors; ``m_others``: the other trainable parameters (sent by each
    head when they are averaged). ``q``: bytes of W relative to float32 (1 here; 0.25 for 4-bit)."""
    n, t, steps = s.heads, s.merge_every, s.steps
    m_lte = m_lora + (m_others if s.others == "average" else 0)
    merges = math.ceil(steps / t)
    per_merge = (n - 1) * (q * m_total + m_lte) * BYTES
    out = {
        "M": m_total, "M_lte": m_lte, "lora_params": m_lora, "other_params": m_others, "q": q, "devices": n,
        "full_allreduce": {"per_step": n * (n - 1) * m_total * BYTES, "total": n * (n - 1) * m_total * BYTES * steps},
        "full_server": {"per_step": 2 * (n - 1) * m_total * BYTES, "total": 2 * (n - 1) * m_total * BYTES * steps},
        "lora": {"per_step": 0, "total": 0},
        "lte": {"per_merge": per_merge, "per_step": per_merge / t, "total": per_merge * merges, "merges": merges},
        "memory": {"full": 3 * m_total * BYTES, "lte": (q * m_total + 3 * m_lte) * BYTES,
                   "lte_4bit": (0.25 * m_total + 3 * m_lte) * BYTES, "lora": (m_total + 3 * m_lte) * BYTES},
    }
    out["lte_4bit"] = {"per_merge": (n - 1) * (0.25 * m_total + m_lte) * BYTES}
    out["lte_4bit"]["total"] = out["lte_4bit"]["per_merge"] * merges
    return out


def toy_floor(s: Settings) -> float:
    """The lowest validation loss one rank-r LoRA on the toy can reach (Eckart-Young): the squared singular values
    of W* - W0 beyond the top r, over the outputs."""
    import torch

    w_star, w0 = _toy_matrices(s)
    sv = torch.linalg.svdvals((w_star - w0).double())
    return float((sv[s.rank:] ** 2).sum() / TOY_DIM)


# ----- the networks (torch inside) ------------------------------------------------------------------------------


def _seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big") & 0x7FFFFFFF


def _toy_matrices(s: Settings):
    import torch

    g = torch.Generator().manual_seed(_seed(s.seed, "toy"))
    w_star = torch.randn(TOY_DIM, TOY_DIM, generator=g) / math.sqrt(TOY_DIM)
    w0 = torch.randn(TOY_DIM, TOY_DIM, generator=g) / math.sqrt(TOY_DIM)
    return w_star, w0


def _lora_linear_cls():
    """The LoRA layer (defined on first use, so that this module imports without torch)."""
    global _LORA_CLS
    if _LORA_CLS is not None:
        return _LORA_CLS
    import torch
    import torch.nn.functional as F

    class LoRALinear(torch.nn.Module):
        """W x + s (B A - B_prev A_prev) x: W a buffer (the main weight), A and B a head's factors, the prev pair
        their values at the last merge (constants). With B_prev = 0 it is plain LoRA, W x + s B A x."""

        def __init__(self, weight: "torch.Tensor", rank: int, scale: float):
            super().__init__()
            out_f, in_f = weight.shape
            self.scale = float(scale)
            self.register_buffer("weight", weight.detach().clone())
            self.A = torch.nn.Parameter(torch.zeros(rank, in_f))
            self.B = torch.nn.Parameter(torch.zeros(out_f, rank))
            self.register_buffer("A_prev", torch.zeros(rank, in_f))
            self.register_buffer("B_prev", torch.zeros(out_f, rank))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            low = F.linear(F.linear(x, self.A), self.B) - F.linear(F.linear(x, self.A_prev), self.B_prev)
            return F.linear(x, self.weight) + self.scale * low

    _LORA_CLS = LoRALinear
    return LoRALinear


_LORA_CLS = None


class _Net:
    """One network's structure, data and evaluation. ``plain``: the model as trained full-rank; ``lora_net``: the
    same with its LoRA layers (weights come from the tensors passed to each call: no state is kept in it)."""

    def __init__(self, s: Settings):
        import copy

        import torch

        self.s = s
        if s.network == "toy":
            self.w_star, w0 = _toy_matrices(s)
            self.plain = torch.nn.Sequential(torch.nn.Linear(TOY_DIM, TOY_DIM, bias=False))
            with torch.no_grad():
                self.plain[0].weight.copy_(w0)
            self.data = None
        else:
            from backends.training import ScratchConfig, byte_tokenizer, scratch_model, text_data

            cfg = ScratchConfig(layers=s.layers, hidden=s.hidden, heads=LM_DEFAULT["heads"], seq_len=s.seq_len)
            self.plain = scratch_model(cfg, seed=s.seed).model
            tokens = max(200_000, min(2_000_000, s.steps * s.batch * s.seq_len))
            self.data = text_data(byte_tokenizer(), seq_len=s.seq_len, max_train_tokens=tokens,
                                  max_heldout_tokens=s.eval_blocks * s.seq_len)
        self.plain.train()
        self.lora_layers = self._lora_layers()
        self.others = [n for n, p in self.plain.named_parameters()
                       if n.rsplit(".", 1)[0] not in self.lora_layers]
        self.lora_net = copy.deepcopy(self.plain)
        cls = _lora_linear_cls()
        for name in self.lora_layers:
            parent, _, attr = name.rpartition(".")
            holder = self.lora_net.get_submodule(parent) if parent else self.lora_net
            setattr(holder, attr, cls(getattr(holder, attr).weight, s.rank, s.scale))
        self.eval_net = copy.deepcopy(self.plain).eval()

    def _lora_layers(self) -> dict[str, tuple[int, int]]:
        import torch

        if self.s.network == "toy":
            return {"0": tuple(self.plain[0].weight.shape)}
        return {n: tuple(m.weight.shape) for n, m in self.plain.named_modules()
                if isinstance(m, torch.nn.Linear) and ".layers." in f".{n}"}

    def main_state(self) -> dict:
        return {n: p.detach().clone() for n, p in self.plain.named_parameters()}

    def counts(self) -> tuple[int, int, int]:
        """(M, one head's LoRA parameters, the other parameters)."""
        total = sum(p.numel() for p in self.plain.parameters())
        lora = sum((o + i) * self.s.rank for o, i in self.lora_layers.values())
        others = sum(p.numel() for n, p in self.plain.named_parameters() if n in self.others)
        return total, lora, others

    def loss(self, module: Any, tensors: dict, batch: Any) -> Any:
        from torch.func import functional_call

        if self.s.network == "toy":
            x, y = batch
            return ((functional_call(module, tensors, (x,)) - y) ** 2).mean()
        return functional_call(module, tensors, (), {"input_ids": batch, "labels": batch, "use_cache": False}).loss

    def sampler(self, shard: int, n_shards: int, seed: int, size: int) -> Callable[[], Any]:
        """A function giving the next batch of ``size`` samples of shard ``shard`` of ``n_shards`` (toy: fresh
        draws from the shard's own generator; LM: the training blocks i with i % n_shards == shard, each pass in a
        new order)."""
        import torch

        gen = torch.Generator().manual_seed(seed)
        if self.s.network == "toy":
            w_star = self.w_star

            def toy() -> Any:
                x = torch.randn(size, TOY_DIM, generator=gen)
                return x, x @ w_star.T

            return toy
        blocks = torch.from_numpy(self.data.train[shard::n_shards])
        if len(blocks) < size:
            raise InputError(f"A data shard has {len(blocks)} blocks, fewer than a head's batch ({size}).")
        state = {"order": torch.randperm(len(blocks), generator=gen), "at": 0}

        def lm() -> Any:
            if state["at"] + size > len(blocks):
                state["order"], state["at"] = torch.randperm(len(blocks), generator=gen), 0
            idx = state["order"][state["at"]: state["at"] + size]
            state["at"] += size
            return blocks[idx]

        return lm

    def eval_loss(self, weights: dict) -> float:
        """Validation loss of the plain model with ``weights`` (toy: exact population loss)."""
        import torch

        if self.s.network == "toy":
            return float(((weights["0.weight"] - self.w_star) ** 2).sum() / TOY_DIM)
        from backends.training import heldout_loss

        with torch.no_grad():
            for n, p in self.eval_net.named_parameters():
                p.copy_(weights[n])
        return heldout_loss(self.eval_net, self.data, self.s.eval_blocks)


def _orthonormal_rows(rank: int, n: int, gen: Any) -> Any:
    """An r x n matrix with orthonormal rows (semi-orthogonal; r > n gives n orthonormal rows and zeros)."""
    import torch

    q, _ = torch.linalg.qr(torch.randn(n, rank, generator=gen))
    a = torch.zeros(rank, n)
    a[: q.shape[1]] = q.T
    return a


class _Head:
    """One LoRA head: its factors, their values at the last merge, its other parameters (averaged mode), its own
    Adam optimizer and data shard. ``n`` < 0 is the single-LoRA baseline (all the data, the whole batch)."""

    def __init__(self, net: _Net, n: int, main: dict, *, key: str = ""):
        import torch

        s = self.s = net.s
        self.n = n
        g = torch.Generator().manual_seed(_seed(s.seed, "head", n, "init"))
        self.params: dict[str, Any] = {}
        self.prev: dict[str, Any] = {}
        for layer, (out_f, in_f) in net.lora_layers.items():
            a = _orthonormal_rows(s.rank, in_f, g)
            self.params[f"{layer}.A"] = torch.nn.Parameter(a.clone())
            self.params[f"{layer}.B"] = torch.nn.Parameter(torch.zeros(out_f, s.rank))
            self.prev[f"{layer}.A_prev"] = a.clone()
            self.prev[f"{layer}.B_prev"] = torch.zeros(out_f, s.rank)
        lora = list(self.params.values())
        if s.others == "average":
            for name in net.others:
                self.params[name] = torch.nn.Parameter(torch.as_tensor(main[name]).clone())
        others = [p for k, p in self.params.items() if k in net.others]
        groups = [{"params": lora, "lr": s.lora_lr}] + ([{"params": others, "lr": s.lr}] if others else [])
        self.base_lrs = [grp["lr"] for grp in groups]
        self.opt = torch.optim.Adam(groups, betas=(0.9, 0.95))
        shard, n_shards, size = (0, 1, s.batch) if n < 0 else (n, s.heads, s.head_batch)
        self.next_batch = net.sampler(shard, n_shards, _seed(s.seed, "data", n), size)

    def begin_round(self, main: dict) -> None:
        """prev := current (the last merge took this head's update in), other parameters := the merged ones."""
        import torch

        with torch.no_grad():
            for k in self.prev:
                self.prev[k].copy_(self.params[k.removesuffix("_prev")])
            for k, p in self.params.items():
                if k in main:
                    p.copy_(torch.as_tensor(main[k]))

    def step(self, net: _Net, base: dict, step: int) -> float:
        import torch

        from backends.training import _schedule

        mult = _schedule(step, self.s.steps, int(WARMUP * self.s.steps))
        for grp, lr in zip(self.opt.param_groups, self.base_lrs):
            grp["lr"] = lr * mult
        tensors = {**base, **self.prev, **self.params}
        loss = net.loss(net.lora_net, tensors, self.next_batch())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(self.params.values()), 1.0)
        self.opt.step()
        return float(loss.detach())

    def update(self) -> dict:
        """What the head sends at a merge: its factors (A, B) per layer and its other parameters (numpy)."""
        return {k: p.detach().numpy().copy() for k, p in self.params.items()}

    def effective(self, net: _Net, base: dict) -> dict:
        """The plain model's weights this head computes with: W + s (B A - B_prev A_prev), its other parameters."""
        import torch

        out = dict(base)
        with torch.no_grad():
            for layer in net.lora_layers:
                w = f"{layer}.weight"
                out[w] = base[w] + self.s.scale * (self.params[f"{layer}.B"] @ self.params[f"{layer}.A"]
                                                   - self.prev[f"{layer}.B_prev"] @ self.prev[f"{layer}.A_prev"])
            out.update({k: p.detach() for k, p in self.params.items() if k in base})
        return out


# ----- the worker kind ------------------------------------------------------------------------------------------


@dataclass
class _WorkerState:
    net: _Net
    heads: dict = field(default_factory=dict)  # (run key, head) -> _Head


def _setup(options: dict) -> _WorkerState:
    opts = dict(options)
    opts["extra_merge_every"] = tuple(opts.get("extra_merge_every") or ())
    return _WorkerState(_Net(Settings(**opts)))


def _run(state: _WorkerState, calls: list[dict], seeds: list[int]) -> list[dict]:
    """One round per call: load the merged weights, run each of this worker's heads for the call's steps from its
    own state, return their updates and losses."""
    return [_round(state, call) for call in calls]


def _round(state: _WorkerState, call: dict) -> dict:
    import torch

    net = state.net
    main = {k: torch.tensor(v) for k, v in call["main"].items()}
    base = {k: v for k, v in main.items() if k.rsplit(".", 1)[0] in net.lora_layers or k in net.others}
    out = []
    for n in call["heads"]:
        key = (call["run"], n)
        if key not in state.heads:
            state.heads[key] = _Head(net, n, main)
        head = state.heads[key]
        head.begin_round(main)
        losses = [head.step(net, base, t) for t in range(call["start"], call["start"] + call["steps"])]
        out.append({"head": n, "update": head.update(), "losses": losses})
    return {"heads": out}


SWEEP = sweeps.Kind("lte", setup=_setup, run=_run, models=_no_models, version="1")


@contextlib.contextmanager
def _pool(s: Settings, workers: int, backend: str, address: str | None, threads: int | None) -> Iterator[Any]:
    """The heads' workers: :func:`backends.sweeps.worker_pool` of kind "lte" (it may start fewer than asked)."""
    with sweeps.worker_pool("lte", s.options(), workers=workers, backend=backend, address=address, threads=threads,
                            seed=s.seed) as pool:
        yield pool


# ----- the comparison -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LTEResult:
    """The comparison so far. Curves by key ("full", "lora", "lte", and "lte_T<k>" for other merge intervals):
    ``samples[key][i]`` training samples seen at evaluation i, ``losses[key][i]`` the validation loss there (nats
    per byte for the LM, mean squared error for the toy); ``train_losses[key]`` per step (LTE: mean over heads)."""

    settings: dict
    samples: dict
    losses: dict
    train_losses: dict
    costs: dict
    floor: float | None  # toy: the best a single rank-r LoRA can reach; None for the LM
    head_similarity: list  # per merge of the main LTE run: mean |cosine| between the heads' updates of W
    backend: str
    workers: int
    note: str
    seconds: float
    stopped: str  # "", "stopped" or "time cap"
    phase: str
    data_source: str = ""

    @property
    def done(self) -> bool:
        return not self.stopped and all(self.samples[k] and self.samples[k][-1] >= self.settings["steps"] *
                                        self.settings["batch"] for k in self.samples)

    def final(self, key: str) -> float:
        return self.losses[key][-1] if self.losses.get(key) else float("nan")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def curve_rows(self) -> tuple[list[str], list[list]]:
        rows = [[k, int(x), round(y, 6)] for k in self.samples for x, y in zip(self.samples[k], self.losses[k])]
        return ["scheme", "samples", "validation_loss"], rows


class _Baseline:
    """Full-rank training or the single LoRA, on the driver, evaluated on the grid."""

    def __init__(self, key: str, net: _Net, main0: dict):
        import copy

        import torch

        self.key, self.net, self.s, self.t = key, net, net.s, 0
        self.losses: list[float] = []
        if key == "full":
            self.model = copy.deepcopy(net.plain).train()
            self.params = list(self.model.parameters())
            self.opt = torch.optim.Adam(self.params, lr=self.s.lr, betas=(0.9, 0.95))
            self.next_batch = net.sampler(0, 1, _seed(self.s.seed, "data", -1), self.s.batch)
        else:
            self.base = {k: v.clone() for k, v in main0.items()}
            self.head = _Head(net, -1, main0)

    def train_to(self, end: int) -> None:
        import torch

        from backends.training import _schedule

        while self.t < end:
            if self.key == "full":
                for grp in self.opt.param_groups:
                    grp["lr"] = self.s.lr * _schedule(self.t, self.s.steps, int(WARMUP * self.s.steps))
                loss = self.net.loss(self.model, {}, self.next_batch())
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.params, 1.0)
                self.opt.step()
                self.losses.append(float(loss.detach()))
            else:
                self.losses.append(self.head.step(self.net, self.base, self.t))
            self.t += 1

    def weights(self) -> dict:
        if self.key == "full":
            return {n: p.detach() for n, p in self.model.named_parameters()}
        return self.head.effective(self.net, self.base)


class _LTERun:
    """One LTE run (merge interval T) on the pool: the driver keeps the main weights and each head's last B A."""

    def __init__(self, key: str, merge_every: int, net: _Net, main0: dict, pool: Any):
        import torch

        self.key, self.T, self.net, self.s, self.pool, self.t = key, merge_every, net, net.s, pool, 0
        self.main = {k: v.clone() for k, v in main0.items()}
        self.prod = {(n, layer): torch.zeros(shape) for n in range(self.s.heads)
                     for layer, shape in net.lora_layers.items()}
        self.losses: list[float] = []
        self.similarity: list[float] = []
        w = pool.workers
        self.assign = [[n for n in range(self.s.heads) if n % w == i] for i in range(w)]

    def round(self) -> None:
        """One round: every head trains ``T`` steps (fewer at the end), then the merge."""
        import torch

        k = min(self.T, self.s.steps - self.t)
        main_np = {n: v.numpy() for n, v in self.main.items()}
        calls = [{"run": self.key, "start": self.t, "steps": k, "heads": heads, "main": main_np}
                 for heads in self.assign]
        results = [h for out in self.pool.map(calls) for h in out["heads"]]
        results.sort(key=lambda h: h["head"])
        s, n_heads = self.s, self.s.heads
        deltas: dict[int, list] = {}
        with torch.no_grad():
            total = {layer: torch.zeros(shape) for layer, shape in self.net.lora_layers.items()}
            for h in results:
                upd = {k2: torch.tensor(v) for k2, v in h["update"].items()}
                for layer in self.net.lora_layers:
                    prod = upd[f"{layer}.B"] @ upd[f"{layer}.A"]
                    delta = s.scale * (prod - self.prod[(h["head"], layer)])
                    self.prod[(h["head"], layer)] = prod
                    total[layer] += delta
                    deltas.setdefault(h["head"], []).append(delta.flatten())
            for layer in self.net.lora_layers:
                self.main[f"{layer}.weight"] += total[layer] / n_heads
            if s.others == "average" and self.net.others:
                for name in self.net.others:
                    self.main[name] = torch.stack([torch.as_tensor(h["update"][name]) for h in results]).mean(0)
        self.similarity.append(_mean_abs_cosine([torch.cat(v) for v in deltas.values()]))
        per_step = [sum(h["losses"][i] for h in results) / len(results) for i in range(k)]
        self.losses += per_step
        self.t += k


def _mean_abs_cosine(vectors: list) -> float:
    import torch

    if len(vectors) < 2:
        return float("nan")
    m = torch.stack(vectors)
    m = m / m.norm(dim=1, keepdim=True).clamp_min(1e-30)
    c = (m @ m.T).abs()
    n = len(vectors)
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1)))


def train_lte_iter(heads: int = 4, rank: int = 8, merge_every: int = 10, steps: int = 200, seed: int = 0,
                   backend: str = "local", *, network: str = "toy", workers: int = 1, alpha: float | None = None,
                   batch: int = 16, lr: float | None = None, lora_lr: float | None = None, others: str = "average",
                   evals: int = 20, extra_merge_every: Any = (), layers: int | None = None, hidden: int | None = None,
                   seq_len: int | None = None, eval_blocks: int = 32, address: str | None = None,
                   threads: int | None = None, deadline: Deadline | float | None = None,
                   progress: Callable[[float, str], None] | None = None) -> Iterator[LTEResult]:
    """The comparison, streamed: yields an :class:`LTEResult` at the start and after every evaluation; the last one
    is the result. Full-rank, the single LoRA and LTE (and LTE at each of ``extra_merge_every``) advance together,
    the one furthest behind first. ``backend``/``workers``/``address``: where the LTE heads run (see
    :func:`backends.sweeps.worker_pool`; ``threads``: torch threads per Ray worker, and the threads this process
    runs on, default one when the machine is busy, see :func:`backends.training.auto_threads`). ``deadline`` ends
    the run with what has been evaluated; closing the generator stops it."""
    t0 = time.perf_counter()
    s = check_settings(network, heads, rank, alpha, merge_every, steps, batch, lr, lora_lr, others, seed, evals,
                       extra_merge_every, layers, hidden, seq_len, eval_blocks)
    backend, workers = sweeps.check_backend(backend, workers, max_workers=64)
    workers = min(workers, s.heads)
    dl = Deadline.of(deadline)
    from backends.training import auto_threads, torch_threads

    with contextlib.ExitStack() as stack:
        net = _Net(s)
        # Tiny networks: one thread on a busy machine (two threads that wait on each other collapse, see training)
        stack.enter_context(torch_threads(threads if threads is not None else auto_threads(net.plain)))
        main0 = net.main_state()
        m_total, m_lora, m_others = net.counts()
        cost = costs(m_total, m_lora, m_others, s)
        floor = toy_floor(s) if s.network == "toy" else None
        pool = stack.enter_context(_pool(s, workers, backend, address, threads))
        runs: list[Any] = [_Baseline("full", net, main0), _Baseline("lora", net, main0)]
        runs += [_LTERun(curve_key(t, s), t, net, main0, pool) for t in (s.merge_every, *s.extra_merge_every)]
        every = max(1, s.steps // s.evals)
        loss0 = net.eval_loss(main0)
        curves = {r.key: ([0], [loss0]) for r in runs}
        state = {"phase": "starting", "stopped": ""}

        def snap() -> LTEResult:
            main = next(r for r in runs if r.key == "lte")
            return LTEResult(s.options(), {k: list(v[0]) for k, v in curves.items()},
                             {k: list(v[1]) for k, v in curves.items()}, {r.key: list(r.losses) for r in runs},
                             cost, floor, list(main.similarity), getattr(pool, "backend", backend),
                             pool.workers, getattr(pool, "note", ""), time.perf_counter() - t0, state["stopped"],
                             state["phase"], net.data.source if net.data is not None else "")

        yield snap()
        while True:
            todo = [r for r in runs if r.t < s.steps]
            if not todo:
                break
            if dl.expired:
                state["stopped"] = "time cap"
                break
            r = min(todo, key=lambda x: x.t)
            before = r.t
            if isinstance(r, _Baseline):
                r.train_to(min(s.steps, (r.t // every + 1) * every))
                weights = r.weights()
            else:
                r.round()
                weights = r.main
            crossed = r.t // every > before // every or r.t == s.steps
            state["phase"] = f"{curve_label(r.key, s)}: step {r.t}/{s.steps}"
            if progress is not None:
                progress(sum(x.t for x in runs) / (s.steps * len(runs)), state["phase"])
            if crossed:
                curves[r.key][0].append(r.t * s.batch)
                curves[r.key][1].append(net.eval_loss(weights))
                yield snap()
        state["phase"] = "done" if not state["stopped"] else state["stopped"]
        yield snap()


def train_lte(heads: int = 4, rank: int = 8, merge_every: int = 10, steps: int = 200, seed: int = 0,
              backend: str = "local", **kwargs: Any) -> LTEResult:
    """:func:`train_lte_iter` run to the end: ``.losses["lte"|"full"|"lora"]`` (validation loss at
    ``.samples[...]``), ``.costs`` (communication and memory), ``.floor``, ``.head_similarity``."""
    import collections

    return collections.deque(train_lte_iter(heads, rank, merge_every, steps, seed, backend, **kwargs), maxlen=1)[0]


__all__ = ["NETWORKS", "OTHERS", "SCHEMES", "Settings", "LTEResult", "SWEEP", "check_settings", "costs", "toy_floor",
           "train_lte", "train_lte_iter", "curve_key", "curve_label"]
