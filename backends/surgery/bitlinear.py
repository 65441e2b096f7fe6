"""BitLinear, the layer of BitNet b1.58 (Ma et al. 2024): ternary weights, 8-bit activations.

This module defines an ``nn.Module`` and imports torch at import time: :mod:`backends.surgery.bitnet` imports it
inside its functions only, so that the app starts without torch.

Forward pass, for an input x (..., in) and a full-precision latent weight W (out, in):

* weights, absmean per tensor: gamma = mean_ij |W_ij|; W~ = RoundClip(W / (gamma + eps), -1, 1), with
  RoundClip(v, a, b) = max(a, min(b, round(v))); W~ is in {-1, 0, +1}.
* activations, absmax per token (b = 8 bits, Q_b = 2^(b-1) = 128): eta = ||x||_inf over the last axis,
  x~ = x * Q_b / eta, rounded and clipped to the int8 range [-Q_b, Q_b - 1]. (The paper writes
  Clip(x * Q_b / eta, -Q_b + eps, Q_b - eps); the rounding, which the formula leaves implicit, is what
  makes the activations 8-bit integers, and a value at exactly +Q_b then has to fall to Q_b - 1.)
* y = W~ x~ * gamma * eta / Q_b: an integer product of ternary weights and int8 activations, dequantised
  by one multiply per output. Computed here as ``F.linear(x~ * eta / Q_b, W~ * gamma)``, the same
  number up to float rounding: there are no ternary kernels on a CPU, so the saving is not realised.
* the optional norm before quantising (``norm=True``) is a parameter-free RMSNorm over the last axis,
  x / sqrt(mean(x^2) + eps): the paper's LN inside BitLinear, which keeps the output variance near 1
  when training from scratch. Parameter-free so that a 1.58-bit twin has exactly the parameter count of
  its full-precision twin (the LLaMA blocks already carry learnable RMSNorm gains before attention and
  the MLP). Ternarising a trained model after the fact leaves it off: an extra norm changes the function.

Training keeps W in full precision and quantises in every forward pass; the straight-through estimator
``v + (q(v) - v).detach()`` passes gradients through both roundings as if they were the identity, so
AdamW updates the latent weights (the BitNet recipe). gamma and eta are treated as constants by the
gradient (they sit inside the detached difference).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5  # the eps of RoundClip's gamma + eps, of eta's floor and of the RMSNorm
Q_B = 128  # 2^(b-1) for b = 8 bit activations


def weight_quant(w: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmean ternarisation of one weight tensor: (W~ in {-1, 0, 1} as w's dtype, gamma as a 0-d tensor)."""
    gamma = w.abs().mean()
    return (w / (gamma + eps)).round().clamp(-1, 1), gamma


def activation_quant(x: torch.Tensor, bits: int = 8, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Absmax quantisation per token (last axis): (x~ integers in [-Q_b, Q_b - 1] as x's dtype, eta (..., 1))."""
    q_b = 2 ** (bits - 1)
    eta = x.abs().amax(dim=-1, keepdim=True).clamp(min=eps)
    return (x * (q_b / eta)).round().clamp(-q_b, q_b - 1), eta


def rms_norm(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """Parameter-free RMSNorm over the last axis."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


class BitLinear(nn.Module):
    """A linear layer whose forward pass uses W~ * gamma and 8-bit activations (see the module docstring).

    ``weight`` (out, in) is the full-precision latent weight (an ``nn.Parameter``, trained with the STE);
    ``bias`` is kept if the source layer had one (LLaMA-style models have none). ``activations=False``
    keeps activations in full precision (weights-only ternarisation); ``norm=True`` adds the
    parameter-free RMSNorm before quantising.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, *, activations: bool = True,
                 norm: bool = False, bits: int = 8, eps: float = EPS, device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activations, self.norm, self.bits, self.eps = bool(activations), bool(norm), int(bits), float(eps)
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(out_features, device=device, dtype=dtype)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Linear's default; from_linear overwrites it

    @classmethod
    def from_linear(cls, linear: nn.Module, weight: torch.Tensor | None = None, bias: torch.Tensor | None = None,
                    **kwargs) -> "BitLinear":
        """A BitLinear holding a copy of ``linear``'s weight (or of ``weight``/``bias`` when given)."""
        w = (linear.weight if weight is None else weight).detach()
        b = linear.bias if weight is None else bias
        layer = cls(w.shape[1], w.shape[0], bias=b is not None, device=w.device, dtype=w.dtype, **kwargs)
        with torch.no_grad():
            layer.weight.copy_(w)
            if b is not None:
                layer.bias.copy_(b.detach())
        return layer

    def ternary(self) -> tuple[torch.Tensor, float]:
        """(W~ as int8 in {-1, 0, 1}, gamma): what the layer stores after training."""
        with torch.no_grad():
            w_t, gamma = weight_quant(self.weight.float(), self.eps)
        return w_t.to(torch.int8), float(gamma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = rms_norm(x, self.eps)
        w = self.weight
        w_t, gamma = weight_quant(w, self.eps)
        w = w + (w_t * gamma - w).detach()  # forward: gamma * W~; backward: identity (STE)
        if self.activations:
            x_q, eta = activation_quant(x, self.bits, self.eps)
            x = x + (x_q * (eta / 2 ** (self.bits - 1)) - x).detach()
        return F.linear(x, w, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
                f"weights=ternary, activations={f'int{self.bits}' if self.activations else 'full'}, "
                f"norm={'rms' if self.norm else 'none'}")
