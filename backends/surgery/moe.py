"""The mixture-of-experts MLP that :func:`backends.surgery.upcycling.upcycle` puts in place of a dense MLP.

Imports torch at module level: ``backends.surgery.upcycling`` imports this module inside its functions only.

    y = sum_i G(x)_i * E_i(x)        x: one token's hidden state (H,), E_i: a copy of the dense MLP

Two routers, both over the router logits ``x W_g`` (``W_g``: H x E, new and random at upcycling):

* ``top_k`` (token choice): G(x) = Softmax(KeepTopK(x W_g, k)). The softmax runs over the k kept logits, so a
  token's k weights sum to 1 and no token is ever dropped: with identical experts the layer computes the dense
  MLP exactly. Causal: a token's route depends on that token alone. The paper's choice for the T5 decoder (k = 2).
* ``expert_choice``: S = Softmax(X W_g) over experts, X (n x H) the n tokens of one *group*, here one sequence.
  Each expert takes its top T = ceil(C n / E) tokens (C the capacity factor) and weighs each by its score S.
  A token can reach several experts or none (then only the residual connection carries it). Combine weights
  are left unnormalised by default, as the paper did for language (``normalize=True`` divides each token's
  weights by their sum, the paper's choice for vision). Expert choice ranks each token against the others of
  its sequence, later tokens included: in a decoder that is **not causal** (position t's output depends on
  tokens after t, which a generating model has not seen). The paper used it only in encoders (ViT, the T5
  encoder); here it is offered to show its dropped tokens and their cost, not as a sound decoder.

Load balancing (our choice): the top-K router gets Switch Transformer's auxiliary loss
alpha * E * sum_e f_e P_e (f_e: share of token slots sent to expert e, not differentiated; P_e: mean router
probability of e; 1.0 when balanced, E when one expert takes everything), alpha = ``balance`` (0.01, Switch's
value; 0 turns it off). The shared trainer knows only the language-model loss, so the auxiliary term enters
through the backward pass alone (:class:`_AddAuxLoss`): the losses it reports stay pure LM losses,
comparable with the dense model's. Expert choice is balanced by construction (every expert takes T tokens) and
gets none. Without it, a top-K router trained from copies collapses onto a few experts (measured: 3 of 8
experts took 95 % of the slots after 30 steps).

Each forward pass records the router's load (token slots per expert), the share of tokens no expert took, how
many experts each token reached, and the balance statistic above.
"""
from __future__ import annotations

import math

import torch
from torch import nn

ROUTERS = ("top_k", "expert_choice")
BALANCE = 0.01  # weight of the top-K router's auxiliary balance loss (Switch Transformer's alpha)


class _AddAuxLoss(torch.autograd.Function):
    """Identity on ``x``; in the backward pass ``aux`` receives gradient 1, so d(aux)/d(router) is added to the
    gradients as if ``aux`` had been added to the loss, without changing the loss anyone reads."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:  # noqa: D102
        ctx.dtype = aux.dtype
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        return grad, torch.ones((), dtype=ctx.dtype, device=grad.device)


def capacity_tokens(n_tokens: int, n_experts: int, capacity: float) -> int:
    """Expert choice's T = C n / E tokens per expert, rounded up, at least 1 and at most n."""
    return max(1, min(n_tokens, math.ceil(capacity * n_tokens / n_experts - 1e-9)))


class MoEMLP(nn.Module):
    """A drop-in replacement for a transformer block's MLP: (..., H) -> (..., H).

    ``experts``: E modules mapping (m, H) -> (m, H) (upcycling passes E deep copies of the dense MLP).
    ``router``: "top_k" or "expert_choice" (see the module docstring); ``top_k``: k of the token-choice router;
    ``capacity``: C of expert choice; ``normalize``: expert choice's combine weights divided by their sum per
    token; ``balance``: alpha of the top-K router's auxiliary balance loss (applied in training mode only).
    The router ``W_g`` is a bias-free linear layer H -> E; the caller draws its weights.
    """

    def __init__(self, experts: list[nn.Module], hidden: int, *, router: str = "top_k", top_k: int = 2,
                 capacity: float = 2.0, normalize: bool = False, balance: float = BALANCE):
        super().__init__()
        if router not in ROUTERS:
            raise ValueError(f"router must be one of {ROUTERS}, got {router!r}")
        if not 1 <= top_k <= len(experts):
            raise ValueError(f"top_k must be between 1 and the number of experts ({len(experts)}), got {top_k}")
        self.experts = nn.ModuleList(experts)
        self.router = nn.Linear(hidden, len(experts), bias=False)
        self.kind = router
        self.top_k = int(top_k)
        self.capacity = float(capacity)
        self.normalize = bool(normalize)
        self.balance = float(balance)
        self.tracking = False  # when True, loads accumulate in ``total_load`` across forward passes
        self.reset_stats()

    @property
    def n_experts(self) -> int:
        return len(self.experts)

    def extra_repr(self) -> str:
        how = (f"top_k={self.top_k}, balance={self.balance}" if self.kind == "top_k"
               else f"capacity={self.capacity}, normalize={self.normalize}")
        return f"router={self.kind}, n_experts={self.n_experts}, {how}"

    def reset_stats(self) -> None:
        """Forget the recorded statistics (the last pass's and the accumulated ones)."""
        e = len(self.experts)
        self.last_load = torch.zeros(e, dtype=torch.long)  # token slots per expert, last forward pass
        self.last_dropped = 0.0  # share of tokens no expert took in the last pass (always 0 for top-K)
        self.last_reach = torch.zeros(0, dtype=torch.long)  # experts that took each token, last pass (x's shape[:-1])
        self.last_balance = float("nan")
        self.total_load = torch.zeros(e, dtype=torch.long)
        self.total_tokens = 0
        self.total_dropped = 0  # tokens (not shares) no expert took, while tracking
        self.total_reach = torch.zeros(e + 1, dtype=torch.long)  # tokens by the number of experts reached

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        h = shape[-1]
        if self.kind == "top_k":
            out = self._top_k(x.reshape(-1, h))
        else:  # one routing group per sequence: (B, T, H); a bare (T, H) is one sequence
            out = self._expert_choice(x.reshape(-1, shape[-2] if x.dim() > 1 else 1, h))
        self.last_reach = self.last_reach.reshape(shape[:-1])
        return out.reshape(shape)

    # ----- routers ------------------------------------------------------------------------------------------

    def _top_k(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, H) tokens. G = softmax over the k largest router logits; every token gets weights summing to 1."""
        logits = self.router(x)  # (N, E)
        kept, idx = logits.topk(self.top_k, dim=-1)  # (N, k)
        gates = torch.softmax(kept, dim=-1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            tok, slot = (idx == e).nonzero(as_tuple=True)
            if tok.numel():
                out.index_add_(0, tok, gates[tok, slot].unsqueeze(-1).to(x.dtype) * expert(x[tok]))
        probs = torch.softmax(logits, -1)
        load = torch.bincount(idx.reshape(-1), minlength=self.n_experts)
        if self.training and self.balance > 0 and torch.is_grad_enabled():
            share = load.to(probs.dtype) / max(int(load.sum()), 1)  # f_e: not differentiated
            aux = self.balance * self.n_experts * (share * probs.mean(0)).sum()
            out = _AddAuxLoss.apply(out, aux)
        with torch.no_grad():
            self._record(load, probs, torch.full(x.shape[:1], self.top_k, dtype=torch.long))
        return out

    def _expert_choice(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, n, H), one group per row. Each expert takes its top T = ceil(C n / E) tokens of the group."""
        b, n, h = x.shape
        scores = torch.softmax(self.router(x), dim=-1)  # S: (B, n, E), a distribution over experts per token
        t = capacity_tokens(n, self.n_experts, self.capacity)
        weight, tok = scores.topk(t, dim=1)  # (B, T, E): each expert's chosen tokens and their scores
        # reach[b, j]: how many experts took token j (0 = dropped: only the residual carries it)
        reach = torch.zeros(b, n, dtype=torch.long).scatter_add_(1, tok.reshape(b, -1),
                                                               torch.ones(b, t * self.n_experts, dtype=torch.long))
        if self.normalize:
            total = torch.zeros(b, n, dtype=weight.dtype).scatter_add(1, tok.reshape(b, -1), weight.reshape(b, -1))
            weight = weight / torch.gather(total, 1, tok.reshape(b, -1)).reshape(b, t, -1)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            idx = tok[:, :, e]  # (B, T)
            chosen = torch.gather(x, 1, idx.unsqueeze(-1).expand(b, t, h))
            y = expert(chosen) * weight[:, :, e].unsqueeze(-1).to(x.dtype)
            out = out.scatter_add(1, idx.unsqueeze(-1).expand(b, t, h), y)
        with torch.no_grad():
            load = torch.full((self.n_experts,), b * t, dtype=torch.long)
            self._record(load, scores.reshape(-1, self.n_experts), reach.reshape(-1))
        return out

    def _record(self, load: torch.Tensor, probs: torch.Tensor, reached: torch.Tensor) -> None:
        """load: (E,) token slots per expert; probs: (N, E) router probabilities; reached: (N,) experts per token."""
        load = load.detach().cpu().long()
        n = int(reached.numel())
        dropped = int((reached == 0).sum())
        f = load.double() / max(int(load.sum()), 1)
        p = probs.detach().double().mean(0).cpu()
        self.last_load = load
        self.last_reach = reached.detach().cpu()
        self.last_dropped = dropped / max(n, 1)
        self.last_balance = float(self.n_experts * (f * p).sum())
        if self.tracking:
            self.total_load += load
            self.total_tokens += n
            self.total_dropped += dropped
            self.total_reach += torch.bincount(reached.detach().cpu().clamp(max=self.n_experts),
                                               minlength=self.n_experts + 1)
