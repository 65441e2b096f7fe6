"""bGPT (Wu et al. 2024, "Beyond Language Models: Byte Models are Digital World Simulators") at toy scale.

A file is bytes b_1..b_T, cut into N = ceil(T / S) patches of S = 16; the last patch is padded with an
end-of-patch symbol, so there are 257 symbols. The model (``backends/_bgpt_net.py``) embeds a patch as
E_i = Flatten(onehot(P_i)) W_linear, W_linear (257 S) x H; a causal patch-level decoder with positional
embeddings turns the patches before i into features E^_i; a byte-level decoder predicts patch i's bytes one by
one from E^_i and the patch's earlier bytes. Loss: L = -sum log p(b_t | b_<t) over the file's real bytes (nats);
bits per byte BPB = L / (T ln 2).

* :func:`train_byte_model` / :func:`train_byte_model_iter`: train on a mixture of file types made here
  (:mod:`backends.byte_data`: SOTU text, CSV, JSON, 16 x 16 BMP, toy-CPU traces) and report held-out BPB per type
  beside what gzip, bz2, lzma and zstd reach on the same files (their compressed bits per byte: a reference, not
  the same quantity, since a compressor learns from the one file while the model learned from the training set).
* :func:`cpu_experiment` / :func:`cpu_experiment_iter`: the paper's CPU-state modelling with 10^2..10^4 random
  programs of the toy CPU: greedy byte-wise accuracy on the states of held-out programs, and their BPB.
* :func:`analyze_bytes` and :func:`generate_bytes`: per-byte surprisal of a small file and a continuation
  (greedy or sampled with a seed) from a trained model; :func:`read_byte_upload` reads an upload (8 KB cap).

Trained models are kept in a small process cache (:func:`remember`, :func:`trained_model`). No torch at import.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from backends import byte_data as D
from backends.cache import Memo
from backends.config import InputError, check_count, check_number, limits
from backends.decoding import Deadline, ProgressFn

S = 16  # bytes per patch (the paper's)
V = 257  # 256 byte values + the end-of-patch symbol
EOP = 256
MAX_UPLOAD_BYTES = 8192  # the paper's context: 512 patches of 16 bytes
UPLOAD_SUFFIXES = (".txt", ".md", ".csv", ".json", ".jsonl", ".bmp", ".bin", ".dat", ".xml", ".html", ".py",
                   ".log", ".tsv", ".wav", ".mid", ".abc", ".svg", ".ppm", ".pgm")
LN2 = math.log(2)
PAPER = {"cpu_accuracy": "over 99.99 % (byte-wise, greedy; 2.1 M programs, 110 M parameters)",
         "abc_to_midi_bpb": 0.0011, "parameters": "about 110 M (12 patch + 3 byte layers, hidden 768)",
         "context": "512 patches = 8 KB"}
QUICK_STEPS = 60  # the quick default model trained for an upload when none was trained yet (about 20 s)


@dataclass(frozen=True)
class ByteConfig:
    """A tiny bGPT (the defaults: about 1.5 M parameters, a third of them W_linear)."""

    hidden: int = 128  # H, both decoders
    patch_layers: int = 3  # patch-level decoder blocks
    byte_layers: int = 1  # byte-level decoder blocks
    heads: int = 4
    max_patches: int = 64  # longest file in patches (64 x 16 = 1 KB)

    def checked(self) -> "ByteConfig":
        hidden = check_count(self.hidden, what="Hidden size", low=16, high=1024)
        heads = check_count(self.heads, what="Heads", low=1, high=32)
        if hidden % heads:
            raise InputError(f"The hidden size ({hidden}) must be a multiple of the heads ({heads}).")
        return ByteConfig(hidden, check_count(self.patch_layers, what="Patch layers", low=1, high=12),
                          check_count(self.byte_layers, what="Byte layers", low=1, high=6), heads,
                          check_count(self.max_patches, what="Patches per file", low=4, high=512))


QUICK_CONFIG = ByteConfig(hidden=64, patch_layers=2, byte_layers=1)


def build_net(config: ByteConfig | None = None, seed: int = 0) -> Any:
    """A freshly initialised BGPT module (float32, eval mode); same config and seed, same weights."""
    import torch

    from backends._bgpt_net import BGPT

    cfg = (config or ByteConfig()).checked()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = BGPT(cfg.hidden, cfg.patch_layers, cfg.byte_layers, cfg.heads, cfg.max_patches, S)
    return net.float().eval()


def n_params(net: Any) -> int:
    return sum(p.numel() for p in net.parameters())


# ----- patches and scoring ------------------------------------------------------------------------------------


def to_patches(files: list[bytes], n_patches: int | None = None) -> np.ndarray:
    """(B, N, S) int64 symbols: each file's bytes, its last patch and any patch after it filled with EOP (256).
    N is the longest file's patch count unless given."""
    n = n_patches or max(1, max(math.ceil(len(f) / S) for f in files))
    out = np.full((len(files), n * S), EOP, dtype=np.int64)
    for i, f in enumerate(files):
        f = f[: n * S]
        out[i, : len(f)] = np.frombuffer(f, dtype=np.uint8)
    return out.reshape(len(files), n, S)


def _loss(net: Any, x: Any) -> Any:
    """Mean next-byte NLL (nats) over the real bytes of a (B, N, S) batch."""
    import torch.nn.functional as F

    logits, index = net(x)
    target = x.reshape(-1, S)[index]
    return F.cross_entropy(logits.reshape(-1, V), target.reshape(-1), ignore_index=EOP)


def byte_logprobs(net: Any, files: list[bytes], batch_size: int = 16) -> list[np.ndarray]:
    """Per file, (T, V) log-probabilities (natural log) of every byte position given the bytes before it."""
    import torch

    out: list[np.ndarray] = []
    net.eval()
    with torch.inference_mode():
        for i in range(0, len(files), batch_size):
            chunk = files[i: i + batch_size]
            x = torch.from_numpy(to_patches(chunk))
            b, n, _ = x.shape
            logits, index = net(x)
            full = torch.zeros(b * n, S, V)
            full[index] = torch.log_softmax(logits.float(), -1)
            full = full.reshape(b, n * S, V)
            out += [full[j, : len(f)].numpy() for j, f in enumerate(chunk)]
    return out


def file_nll(logp: np.ndarray, data: bytes) -> np.ndarray:
    """(T,) NLL in nats of each actual byte."""
    return -logp[np.arange(len(data)), np.frombuffer(data, dtype=np.uint8)]


def bits_per_byte(net: Any, files: list[bytes]) -> float:
    """Sum of the files' NLL over their bytes, in bits: L / (T ln 2), each file scored from its start."""
    total = sum(float(file_nll(lp, f).sum()) for lp, f in zip(byte_logprobs(net, files), files))
    return total / (sum(len(f) for f in files) * LN2)


# ----- training -----------------------------------------------------------------------------------------------


def _check_common(steps: Any, seed: Any, batch_size: Any, lr: Any) -> tuple[int, int, int, float]:
    steps = check_count(steps, what="Steps", low=1, high=max(1, limits().max_count) * 5)
    seed = check_count(seed, what="Seed", low=0, high=2**31 - 1)
    batch_size = check_count(batch_size, what="Batch size", low=1, high=128)
    lr = check_number(lr, what="Learning rate", low=1e-6, high=0.1)
    return steps, seed, batch_size, lr


def _train_loop(net: Any, batches: Callable[[Any], Any], steps: int, lr: float, seed: int, eval_every: int,
                evaluate: Callable[[int], None], deadline: Deadline, progress: ProgressFn | None,
                label: str) -> Iterator[tuple[str, list[float]]]:
    """AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), 10 % linear warm-up then cosine to a tenth, gradient
    clipping at 1.0. Calls ``evaluate(step)`` at step 0, every ``eval_every`` steps and at the end, yielding
    (stopped, losses) after each evaluation; ``stopped`` is "" until the run ends early."""
    import torch

    from backends.training import _schedule, auto_threads, torch_threads

    params = list(net.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(seed)
    threads = auto_threads(net)
    losses: list[float] = []
    warmup = max(1, steps // 10)
    with torch_threads(threads):
        evaluate(0)
    yield "", losses
    stopped = ""
    for step in range(steps):
        if deadline.expired:
            stopped = "time cap"
            break
        with torch_threads(threads):
            for g in opt.param_groups:
                g["lr"] = lr * _schedule(step, steps, warmup)
            net.train()
            loss = _loss(net, batches(gen))
            if not torch.isfinite(loss):
                stopped = f"diverged at step {step + 1}; try a lower learning rate"
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            net.eval()
        losses.append(float(loss.detach()))
        if progress:
            progress((step + 1) / steps, f"{label}: step {step + 1}/{steps}, loss {losses[-1]:.3f} nats/byte")
        if (step + 1) % eval_every == 0 and step + 1 < steps:
            with torch_threads(threads):
                evaluate(step + 1)
            yield "", losses
    with torch_threads(threads):
        evaluate(len(losses))
    yield stopped, losses


def _batcher(files: list[bytes], batch_size: int, max_patches: int) -> Callable[[Any], Any]:
    """Random batches (with replacement, from the run's generator) trimmed to their longest file."""
    import torch

    padded = torch.from_numpy(to_patches(files, max_patches))
    lengths = torch.tensor([math.ceil(min(len(f), max_patches * S) / S) for f in files])

    def draw(gen: Any) -> Any:
        idx = torch.randint(len(files), (batch_size,), generator=gen)
        return padded[idx, : int(lengths[idx].max())]

    return draw


@dataclass(frozen=True)
class ByteRun:
    """A mixture training run so far. BPB figures are bits per byte on held-out files."""

    steps: list[int]
    losses: list[float]  # training NLL per byte (nats) at each step
    eval_steps: list[int]
    eval_bpb: dict[str, list[float]]  # file type -> held-out BPB at each evaluation
    bits_per_byte: dict[str, float]  # file type -> held-out BPB at the last evaluation
    reference_bpb: dict[str, dict[str, dict[str, float]]]  # type -> per_file / joined -> compressor -> bits/byte
    heldout_bytes: dict[str, int]
    n_params: int
    seconds: float
    stopped: str
    seed: int
    config: dict
    key: str  # the settings' hash: the name of the trained model in the cache
    model: Any = field(default=None, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return bool(self.steps) and self.steps[-1] >= int(self.config["steps"]) or bool(self.stopped)

    @property
    def name(self) -> str:
        c, done = self.config, self.steps[-1] if self.steps else 0
        return (f"bGPT {c['patch_layers']}+{c['byte_layers']} layers x {c['hidden']}, {done} steps on "
                f"{'+'.join(c['mixture'])}, seed {self.seed}")

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        d["name"] = self.name
        return d

    def bpb_rows(self) -> tuple[list[str], list[list]]:
        """(header, rows): per file type, the model's BPB and each compressor's (per file and joined)."""
        header = ["file_type", "heldout_bytes", "bgpt"] + [f"{c}_per_file" for c in D.COMPRESSORS] + [
            f"{c}_joined" for c in D.COMPRESSORS]
        rows = [[k, self.heldout_bytes[k], round(v, 4)]
                + [round(self.reference_bpb[k]["per_file"][c], 4) for c in D.COMPRESSORS]
                + [round(self.reference_bpb[k]["joined"][c], 4) for c in D.COMPRESSORS]
                for k, v in self.bits_per_byte.items()]
        return header, rows


def _settings_key(**kw: Any) -> str:
    return hashlib.sha256(json.dumps(kw, sort_keys=True, default=str).encode()).hexdigest()[:12]


def train_byte_model_iter(steps: int = 300, seed: int = 0, mixture: Any = None, config: ByteConfig | None = None,
                          *, batch_size: int = 8, lr: float = 2e-3, files_per_type: int = 400,
                          heldout_per_type: int = 16, eval_every: int | None = None,
                          deadline: Deadline | float | None = None,
                          progress: ProgressFn | None = None) -> Iterator[ByteRun]:
    """Train a fresh tiny bGPT on a mixture of file types; yield a :class:`ByteRun` at step 0, at each
    evaluation and at the end (the last one is the result; closing the generator stops the run).

    Each step draws ``batch_size`` files uniformly from the pooled training files (``files_per_type`` of each
    type in ``mixture``, default all of :data:`byte_data.FILE_TYPES`). Held-out BPB per type is measured on
    ``heldout_per_type`` separate files. The trained model goes to the process cache under ``run.key``.
    """
    kinds = D.check_mixture(mixture)
    steps, seed, batch_size, lr = _check_common(steps, seed, batch_size, lr)
    cfg = (config or ByteConfig()).checked()
    files_per_type = check_count(files_per_type, what="Training files per type", low=1, high=5000)
    heldout_per_type = check_count(heldout_per_type, what="Held-out files per type", low=1, high=200)
    eval_every = check_count(eval_every or max(1, steps // 6), what="Evaluate every", low=1, high=steps)
    dl = Deadline.of(deadline)
    t0 = time.perf_counter()
    if progress:
        progress(0.0, "Making the files (text, CSV, JSON, BMP, CPU traces)")
    train, held = D.file_sets(kinds, files_per_type, heldout_per_type, seed)
    refs = {k: D.reference_bpb(held[k]) for k in kinds}
    pool = [f for k in kinds for f in train[k]]
    net = build_net(cfg, seed)
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "mixture": list(kinds),
                "files_per_type": files_per_type, "heldout_per_type": heldout_per_type, **dataclasses.asdict(cfg)}
    key = _settings_key(kind="mixture", seed=seed, **settings)
    evals: dict[str, list] = {"steps": [], **{k: [] for k in kinds}}

    def evaluate(step: int) -> None:
        evals["steps"].append(step)
        for k in kinds:
            evals[k].append(bits_per_byte(net, held[k]))

    def snapshot(losses: list[float], stopped: str) -> ByteRun:
        return ByteRun(list(range(1, len(losses) + 1)), list(losses), list(evals["steps"]),
                       {k: list(evals[k]) for k in kinds}, {k: evals[k][-1] for k in kinds}, refs,
                       {k: sum(map(len, held[k])) for k in kinds}, n_params(net), time.perf_counter() - t0,
                       stopped, seed, settings, key, net)

    run = None
    for stopped, losses in _train_loop(net, _batcher(pool, batch_size, cfg.max_patches), steps, lr, seed,
                                       eval_every, evaluate, dl, progress, "bGPT"):
        run = snapshot(losses, stopped)
        yield run
    if run is not None and run.losses:
        remember(run.key, TrainedByteModel(run.name, net, cfg, run.key))


def train_byte_model(steps: int = 300, seed: int = 0, mixture: Any = None, **kwargs: Any) -> ByteRun:
    """:func:`train_byte_model_iter` run to the end: ``run.bits_per_byte`` {type: BPB}, ``run.losses``,
    ``run.reference_bpb`` {type: {"per_file"|"joined": {compressor: bits per byte}}}."""
    import collections

    return collections.deque(train_byte_model_iter(steps, seed, mixture, **kwargs), maxlen=1)[0]


# ----- the toy-CPU experiment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuPoint:
    """One data size of the CPU experiment, evaluated on held-out programs (states after each step)."""

    n_programs: int
    eval_steps: list[int]
    accuracy: list[float]  # greedy byte-wise accuracy on the states at each evaluation
    state_accuracy: list[float]  # share of states with all 16 bytes right
    bpb: list[float]  # bits per byte on the states
    losses: list[float]
    epochs: float  # passes over the training programs
    seconds: float
    stopped: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CpuScaling:
    points: list[CpuPoint]
    sizes: list[int]
    settings: dict
    seconds: float
    stopped: str
    example: dict  # one held-out program: its states and the model's greedy prediction (the largest size)
    paper: dict = field(default_factory=lambda: dict(PAPER))
    baselines: dict = field(default_factory=dict)  # byte_data.rule_baselines on the held-out programs

    @property
    def complete(self) -> bool:
        return len(self.points) == len(self.sizes) and not self.stopped

    def final(self) -> list[dict]:
        return [{"n_programs": p.n_programs, "accuracy": p.accuracy[-1], "state_accuracy": p.state_accuracy[-1],
                 "bpb": p.bpb[-1], "epochs": round(p.epochs, 2), "seconds": round(p.seconds, 1)}
                for p in self.points]

    def to_dict(self) -> dict:
        return {"points": [p.to_dict() for p in self.points], "final": self.final(), "sizes": self.sizes,
                "settings": self.settings, "seconds": self.seconds, "stopped": self.stopped,
                "example": self.example, "paper": self.paper, "baselines": self.baselines}


def cpu_scores(net: Any, traces: list[bytes]) -> dict[str, Any]:
    """Greedy (argmax) next-byte prediction, given the true earlier bytes, on the state bytes after each step:
    byte-wise accuracy, share of whole states right, bits per byte; and the predicted bytes per trace."""
    logps = byte_logprobs(net, traces)
    right = total = states_right = states = 0
    nll = 0.0
    preds = []
    for lp, f in zip(logps, traces):
        a, b = D.cpu_state_span(f)
        truth = np.frombuffer(f, dtype=np.uint8)[a:b]
        pred = lp[a:b, :256].argmax(-1)
        ok = pred == truth
        right += int(ok.sum())
        total += len(truth)
        per_state = ok.reshape(-1, D.STATE_BYTES).all(1)
        states_right += int(per_state.sum())
        states += len(per_state)
        nll += float(file_nll(lp, f)[a:b].sum())
        preds.append(bytes(pred.astype(np.uint8).tolist()))
    return {"accuracy": right / max(total, 1), "state_accuracy": states_right / max(states, 1),
            "bpb": nll / (max(total, 1) * LN2), "predictions": preds}


def _cpu_example(trace: bytes, pred: bytes) -> dict:
    a, _ = D.cpu_state_span(trace)
    states = [trace[i: i + D.STATE_BYTES] for i in range(a, len(trace), D.STATE_BYTES)]
    guesses = [pred[i: i + D.STATE_BYTES] for i in range(0, len(pred), D.STATE_BYTES)]
    return {"program": [D.describe_instr(trace[i: i + 4]) for i in range(0, D.PROGRAM_BYTES, 4) if trace[i] != D.PAD],
            "initial": D.describe_state(trace[D.PROGRAM_BYTES: a]),
            "states": [D.describe_state(s) for s in states], "predicted": [D.describe_state(g) for g in guesses],
            "bytes_wrong": [int(sum(x != y for x, y in zip(s, g))) for s, g in zip(states, guesses)]}


CPU_CONFIG = ByteConfig(hidden=64, patch_layers=2, byte_layers=1)  # the CPU experiment's default: 2.5x faster


def cpu_experiment_iter(sizes: Any = (100, 1000, 10000), steps: int = 600, seed: int = 0, *, bits: int = 4,
                        config: ByteConfig | None = None, batch_size: int = 16, lr: float = 3e-3,
                        heldout: int = 200, eval_every: int | None = None, deadline: Deadline | float | None = None,
                        progress: ProgressFn | None = None) -> Iterator[CpuScaling]:
    """Train a fresh tiny bGPT on the traces of ``n`` random toy-CPU programs for each n in ``sizes`` (the same
    number of steps each, so small sets are seen for many epochs), and score held-out programs; yields a
    :class:`CpuScaling` after every evaluation. Same seed, same programs and numbers."""
    try:
        sizes = sorted({int(s) for s in ([sizes] if isinstance(sizes, (int, str)) else sizes)})
    except (TypeError, ValueError):
        raise InputError(f"Data sizes must be whole numbers of programs, got {sizes!r}.") from None
    cap = 100_000 if limits().max_count >= 1000 else 10_000
    if not sizes or not all(10 <= s <= cap for s in sizes) or len(sizes) > 6:
        raise InputError(f"Data sizes must be 1-6 numbers of programs between 10 and {cap:,}, got {sizes}.")
    steps, seed, batch_size, lr = _check_common(steps, seed, batch_size, lr)
    bits = check_count(bits, what="Register bits", low=1, high=8)
    heldout = check_count(heldout, what="Held-out programs", low=1, high=2000)
    cfg = dataclasses.replace((config or CPU_CONFIG).checked(), max_patches=4 + D.MAX_INSTRUCTIONS)
    eval_every = check_count(eval_every or max(1, steps // 5), what="Evaluate every", low=1, high=steps)
    dl = Deadline.of(deadline)
    cpu = D.ToyCPU(bits=bits)
    t0 = time.perf_counter()
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "bits": bits, "heldout": heldout,
                "registers": cpu.registers, "opcodes": list(D.OPCODES), "seed": seed, **dataclasses.asdict(cfg)}
    _, held = D.cpu_sets(0, heldout, seed, cpu)
    baselines = D.rule_baselines(held)
    points: list[CpuPoint] = []
    example: dict = {}
    stopped = ""
    for i, n in enumerate(sizes):
        train, _ = D.cpu_sets(n, heldout, seed, cpu)
        net = build_net(cfg, seed)
        curve: dict[str, list] = {"steps": [], "accuracy": [], "state_accuracy": [], "bpb": []}
        t1 = time.perf_counter()
        scores: dict = {}

        def evaluate(step: int, net=net, curve=curve, scores=scores) -> None:
            scores.update(cpu_scores(net, held))
            curve["steps"].append(step)
            for k in ("accuracy", "state_accuracy", "bpb"):
                curve[k].append(scores[k])

        def report(f: float, msg: str, i=i) -> None:
            if progress:
                progress((i + f) / len(sizes), msg)

        for stop, losses in _train_loop(net, _batcher(train, batch_size, cfg.max_patches), steps, lr, seed,
                                        eval_every, evaluate, dl, report, f"{n:,} programs"):
            point = CpuPoint(n, *(list(curve[k]) for k in ("steps", "accuracy", "state_accuracy", "bpb")),
                             list(losses), len(losses) * batch_size / n, time.perf_counter() - t1, stop)
            example = _cpu_example(held[0], scores["predictions"][0])
            stopped = stop
            yield CpuScaling(points + [point], sizes, settings, time.perf_counter() - t0, stopped, example,
                             baselines=baselines)
        points.append(point)
        remember(f"cpu-{_settings_key(n=n, **settings)}",
                 TrainedByteModel(f"bGPT on {n:,} toy-CPU programs ({len(losses)} steps, seed {seed})", net, cfg, ""))
        if stopped:
            break


def cpu_experiment(sizes: Any = (100, 1000, 10000), steps: int = 600, seed: int = 0, **kwargs: Any) -> CpuScaling:
    """:func:`cpu_experiment_iter` run to the end."""
    import collections

    return collections.deque(cpu_experiment_iter(sizes, steps, seed, **kwargs), maxlen=1)[0]


# ----- trained models, uploads, surprisal and generation --------------------------------------------------------


@dataclass
class TrainedByteModel:
    name: str  # what it is, for captions
    net: Any = field(repr=False)
    config: ByteConfig
    key: str


_MODELS: Memo[str, TrainedByteModel] = Memo(size=4)
_LAST: list[str] = []  # keys, most recent last


def remember(key: str, model: TrainedByteModel) -> None:
    """Keep a trained model in the process cache (the four most recent)."""
    _MODELS.put(key, model)
    _LAST.append(key)
    del _LAST[:-8]


def cached_model(key: str | None = None) -> TrainedByteModel | None:
    """The model trained under ``key`` (None: the most recent mixture model), if the cache still holds it."""
    if key:
        return _MODELS.get(str(key))
    for k in reversed(_LAST):
        m = _MODELS.get(k)
        if m is not None and not k.startswith("cpu-"):
            return m
    return None


def trained_model(key: str | None = None, *, train_if_none: bool = True,
                  progress: ProgressFn | None = None) -> TrainedByteModel:
    """The model trained under ``key``; else the most recent mixture model in this process; else, with
    ``train_if_none``, a quick default (QUICK_CONFIG, QUICK_STEPS steps, seed 0, all file types; once per process)."""
    m = (cached_model(key) if key else None) or cached_model()
    if m is not None:
        return m
    if not train_if_none:
        raise InputError("No byte model has been trained yet: train one in the training panel first.")
    run = train_byte_model(QUICK_STEPS, 0, config=QUICK_CONFIG, progress=progress)
    return _MODELS.get(run.key) or TrainedByteModel(run.name, run.model, QUICK_CONFIG, run.key)


def read_byte_upload(path: str | Path, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of an uploaded small file (types in UPLOAD_SUFFIXES, at most ``max_bytes``, not empty)."""
    from backends.uploads import check_upload

    p = check_upload(path, UPLOAD_SUFFIXES)
    size = p.stat().st_size
    if size > max_bytes:
        raise InputError(f"The file is {size:,} bytes; the limit is {max_bytes:,} (the paper's 512 patches of 16).")
    return check_bytes(p.read_bytes(), max_bytes)


def check_bytes(data: Any, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """``data`` as bytes (str is UTF-8 encoded), not empty and at most ``max_bytes``."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    if not isinstance(data, (bytes, bytearray)):
        raise InputError(f"Give bytes or text, got {type(data).__name__}.")
    if not data:
        raise InputError("The file is empty: give at least one byte.")
    if len(data) > max_bytes:
        raise InputError(f"The file is {len(data):,} bytes; the limit is {max_bytes:,} (the paper's 512 patches "
                         "of 16).")
    return bytes(data)


@dataclass(frozen=True)
class ByteAnalysis:
    """Per-byte predictions for one file. ``surprisal`` in bits: -log2 p(actual byte | bytes before it)."""

    model: str
    n_bytes: int
    values: list[int]  # the file's bytes
    prob: list[float]  # p(actual byte)
    surprisal: list[float]
    top: list[list[tuple[int, float]]]  # the model's three most likely bytes at each position, with p
    bpb: float
    window_bytes: int  # each window of this many bytes is scored from its start (the model's context)
    compressors: dict[str, float]  # each compressor's bits per byte on this file alone

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def analyze_bytes(data: Any, model: TrainedByteModel | None = None, *, top: int = 3) -> ByteAnalysis:
    """Next-byte probabilities of every byte of ``data`` under ``model`` (default: :func:`trained_model`).
    A file longer than the model's context is scored in consecutive windows of that many patches, each from
    its start, as the model saw files in training."""
    data = check_bytes(data)
    model = model or trained_model()
    window = model.config.max_patches * S
    chunks = [data[i: i + window] for i in range(0, len(data), window)]
    logps = np.concatenate(byte_logprobs(model.net, chunks), 0)
    vals = np.frombuffer(data, dtype=np.uint8)
    p = np.exp(logps[np.arange(len(data)), vals])
    order = np.argsort(-logps[:, :256], axis=1)[:, :top]
    tops = [[(int(b), round(float(np.exp(logps[i, b])), 4)) for b in order[i]] for i in range(len(data))]
    surprisal = -np.log2(np.maximum(p, 1e-30))
    comp = {c: bits / len(data) for c, bits in D.compressed_bits(data).items()}
    return ByteAnalysis(model.name, len(data), vals.tolist(), [float(x) for x in p],
                        [float(x) for x in surprisal], tops, float(surprisal.mean()), window, comp)


def _next_logits(net: Any, data: bytes) -> Any:
    """Logits (V,) of the byte after ``data``: the patch decoder over the last whole patches that fit the context,
    the byte decoder over the current patch's bytes so far."""
    import torch

    full = len(data) // S
    start = max(0, full - (net.max_patches - 1))
    partial = list(data[full * S:])
    x = torch.from_numpy(to_patches([data[start * S: full * S] + bytes(partial)], full - start + 1))
    feats = net.patch_features(x)[0, -1:]
    target = torch.tensor([partial + [0]], dtype=torch.long)
    return net.byte_logits(feats, target)[0, len(partial)]


def generate_bytes(data: Any, n: int = 64, *, model: TrainedByteModel | None = None, greedy: bool = True,
                   temperature: float = 1.0, seed: int = 0) -> bytes:
    """``n`` bytes continuing ``data``: greedy (argmax) or sampled at ``temperature`` from a generator seeded by
    ``seed`` (same seed, same bytes). The end-of-patch symbol is never produced."""
    import torch

    data = check_bytes(data) if data else b""
    n = check_count(n, what="Bytes to generate", low=1, high=min(1024, 4 * limits().max_new_tokens))
    temperature = check_number(temperature, what="Temperature", low=0.05, high=5.0)
    model = model or trained_model()
    gen = torch.Generator().manual_seed(check_count(seed, what="Seed", low=0, high=2**31 - 1))
    out = bytearray()
    model.net.eval()
    with torch.inference_mode():
        for _ in range(n):
            logits = _next_logits(model.net, data + bytes(out))[:256]
            if greedy:
                b = int(logits.argmax())
            else:
                b = int(torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen))
            out.append(b)
    return bytes(out)


def sample_files(seed: int = 0) -> dict[str, bytes]:
    """One held-out-style file of each type (for the tab's examples and tests); the CPU trace runs 8 instructions."""
    out = {k: D.make_file(k, random.Random(f"{seed}:{k}:sample"), heldout=True) for k in D.FILE_TYPES}
    out["cpu"] = D.cpu_file(random.Random(f"{seed}:cpu:sample"), n=D.MAX_INSTRUCTIONS)
    return out
