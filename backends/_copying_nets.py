"""The tiny sequence models of the copying tab (imported only inside backends.copying's functions: torch).

* :class:`CopyTransformer`: pre-LayerNorm decoder, causal attention with a per-head positional scheme:
  "nope" (no positional information at all: the causal mask is the only order signal), "hard_alibi" (the
  paper's Hard-ALiBi: head h sees only its last m_h positions, bias 0 inside the window and -inf outside;
  m = infinity is a NoPE head), "alibi" (Press et al.'s linear biases -slope_h * distance) and "rope" (rotary
  positions on queries and keys).
* :class:`CopyLSTM`: embedding, a torch LSTM, output head. State: h and c per layer.
* :class:`DiagonalSSM`: a selective diagonal state-space model in plain PyTorch (Mamba-like recurrence
  h_t = a_t * h_{t-1} + b_t * x_t per channel and state index, with input-dependent decay a_t and
  input/output projections), run as a sequential scan: no custom kernels, so it is slow but exact.

Every model maps token ids (B, T) to logits (B, T, V) and is causal.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

INF = 0  # a Hard-ALiBi window of 0 means "no window" (m = infinity: a NoPE head)


def hard_alibi_windows(heads: int) -> list[int]:
    """Per-head windows for Hard-ALiBi: half the heads global (m = infinity, NoPE), the others local with
    m = 2, 3, 4, ... (each sees itself and the m - 1 positions before it), so that together with the residual
    stream the local heads can tell the last few tokens apart: what the n-gram lookup of Thm 2.3 needs."""
    local = heads // 2
    return [INF] * (heads - local) + [2 + i for i in range(local)]


def alibi_slopes(heads: int) -> list[float]:
    """Press et al.'s geometric slopes 2^(-8 i / heads), i = 1..heads."""
    return [2.0 ** (-8.0 * (i + 1) / heads) for i in range(heads)]


def position_bias(kind: str, heads: int, t: int, windows: list[int] | None = None) -> torch.Tensor:
    """(heads, t, t) additive attention bias: the causal mask plus the positional scheme (0 for NoPE/RoPE)."""
    i = torch.arange(t)[:, None]
    j = torch.arange(t)[None, :]
    dist = (i - j).float()
    causal = torch.where(dist >= 0, 0.0, float("-inf"))
    bias = causal.expand(heads, t, t).clone()
    if kind == "hard_alibi":
        for h, m in enumerate(windows or hard_alibi_windows(heads)):
            if m:
                bias[h] = bias[h].masked_fill(dist >= m, float("-inf"))
    elif kind == "alibi":
        slopes = torch.tensor(alibi_slopes(heads))[:, None, None]
        bias = bias - slopes * dist.clamp(min=0)
    return bias


def rope(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of (B, H, T, d) with base 10,000 (d even)."""
    d = x.shape[-1]
    t = x.shape[-2]
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = torch.arange(t, dtype=torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos(), ang.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x: torch.Tensor, bias: torch.Tensor, use_rope: bool) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if use_rope:
            q, k = rope(q), rope(k)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class CopyTransformer(nn.Module):
    """A small causal transformer over the copy vocabulary with a chosen positional scheme."""

    def __init__(self, vocab: int, d: int = 64, layers: int = 2, heads: int = 4, position: str = "hard_alibi"):
        super().__init__()
        self.position, self.heads = position, heads
        self.windows = hard_alibi_windows(heads)
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self._bias: dict[int, torch.Tensor] = {}

    def bias(self, t: int) -> torch.Tensor:
        if t not in self._bias:
            self._bias[t] = position_bias(self.position, self.heads, t, self.windows)
        return self._bias[t]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        bias = self.bias(ids.shape[1])
        for blk in self.blocks:
            x = blk(x, bias, self.position == "rope")
        return self.head(self.ln(x))


class CopyLSTM(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int = 1, emb: int | None = None):
        super().__init__()
        self.hidden, self.layers = hidden, layers
        self.emb = nn.Embedding(vocab, emb or hidden)
        self.rnn = nn.LSTM(emb or hidden, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.emb(ids))
        return self.head(out)

    def state_floats(self) -> int:
        return 2 * self.layers * self.hidden  # h and c of every layer


class SSMLayer(nn.Module):
    """One selective diagonal SSM block: x -> (gate, u); h_t = a_t h_{t-1} + (1 - a_t) B_t u_t per channel
    and state index (a_t = exp(-softplus(dt_t) * exp(A_log))), y_t = (h_t . C_t) + D u_t, times silu(gate)."""

    def __init__(self, d: int, n: int):
        super().__init__()
        self.d, self.n = d, n
        self.ln = nn.LayerNorm(d)
        self.inp = nn.Linear(d, 2 * d)
        self.dt = nn.Linear(d, d)
        self.bc = nn.Linear(d, 2 * n)
        self.a_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1))
        self.skip = nn.Parameter(torch.ones(d))
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        u, gate = self.inp(self.ln(x)).chunk(2, dim=-1)
        decay = torch.exp(-F.softplus(self.dt(u))[..., None] * torch.exp(self.a_log))  # (B, T, d, n)
        bmat, cmat = self.bc(u).chunk(2, dim=-1)  # (B, T, n) each
        drive = (1 - decay) * u[..., None] * bmat[:, :, None, :]
        h = x.new_zeros(b, self.d, self.n)
        ys = []
        for s in range(t):
            h = decay[:, s] * h + drive[:, s]
            ys.append((h * cmat[:, s, None, :]).sum(-1))
        y = torch.stack(ys, dim=1) + self.skip * u
        return x + self.out(y * F.silu(gate))


class DiagonalSSM(nn.Module):
    def __init__(self, vocab: int, d: int = 64, layers: int = 2, n: int = 16):
        super().__init__()
        self.d, self.n, self.layers = d, n, layers
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(SSMLayer(d, n) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.emb(ids)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))

    def state_floats(self) -> int:
        return self.layers * self.d * self.n


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def lstm_params(vocab: int, hidden: int, layers: int = 1) -> int:
    """Parameters of CopyLSTM(vocab, hidden, layers) (embedding width = hidden), without building it."""
    per_layer = 4 * hidden * (2 * hidden) + 8 * hidden
    return vocab * hidden + layers * per_layer + hidden * vocab + vocab


def lstm_hidden_for(budget: int, vocab: int, layers: int = 1) -> int:
    """The LSTM width whose parameter count is closest to ``budget``."""
    a = 8 * layers
    b = 2 * vocab + 8 * layers
    h = int((-b + math.sqrt(b * b + 4 * a * max(1, budget - vocab))) / (2 * a))
    return min((max(1, h + k) for k in (-1, 0, 1, 2)), key=lambda x: abs(lstm_params(vocab, x, layers) - budget))
