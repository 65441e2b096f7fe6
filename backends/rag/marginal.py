"""The arithmetic of both RAG models (Lewis et al. 2020), on log-probabilities.

* Retriever prior: p(z|x) = softmax_z(d(z)^T q(x) / temperature) over the k retrieved passages.
* RAG-Token: p(y_i|x,y_<i) = sum_z p(z|x) p(y_i|x,z,y_<i) at every step, and the posterior
  p(z|x,y_<=i) ∝ p(z|x) p(y_i|x,z,y_<i) says which passage token y_i came from.
* RAG-Sequence: p(y|x) = sum_z p(z|x) prod_i p(y_i|x,z,y_<i), one passage for the whole answer.

The functions take numpy arrays; :func:`token_mixture` also takes a torch tensor of log-probabilities
(the decoder's per-step (k, V) distribution), computed in float64 without leaving torch.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

DEFAULT_TEMPERATURE = 0.1  # cosine scores of unit vectors span ~0.2-0.8: T = 1 would make every prior uniform


def retrieval_prior(scores: Sequence[float], temperature: float = DEFAULT_TEMPERATURE) -> np.ndarray:
    """p(z|x) = softmax(score_z / temperature) over the retrieved passages (float64, sums to 1)."""
    s = np.asarray(scores, dtype=np.float64) / temperature
    s = s - s.max()
    e = np.exp(s)
    return e / e.sum()


def logsumexp(a: np.ndarray, axis: int = 0) -> np.ndarray:
    """log sum exp along ``axis``, stable for -inf entries (an all -inf slice gives -inf)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def token_mixture(log_prior: np.ndarray, logp: Any) -> Any:
    """RAG-Token next-token distribution: log sum_z p(z|x) p(y_i|x,z,y_<i).

    log_prior: (k,) log p(z|x); logp: (k, V) log p(. | x, z, y_<i), a numpy array or a torch tensor.
    Returns (V,) float64 log-probabilities of the same kind as ``logp``.
    """
    if _is_tensor(logp):
        import torch

        prior = torch.as_tensor(np.asarray(log_prior, dtype=np.float64), device=logp.device)
        return torch.logsumexp(prior[:, None] + logp.double(), dim=0)
    return logsumexp(np.asarray(log_prior)[:, None] + np.asarray(logp), axis=0)


def token_posterior(log_prior: np.ndarray, logp_y: np.ndarray) -> np.ndarray:
    """p(z|x, y_<=i) ∝ p(z|x) p(y_i|x,z,y_<i): which passage the token y_i came from. (k,) -> (k,)."""
    a = np.asarray(log_prior) + np.asarray(logp_y)
    return np.exp(a - logsumexp(a, axis=0))


def sequence_marginal(log_prior: np.ndarray, loglik: np.ndarray) -> np.ndarray:
    """RAG-Sequence: log p(y|x) = log sum_z p(z|x) prod_i p(y_i|x,z,y_<i) for each candidate y.

    log_prior: (k,); loglik: (k, C) log p(y_c|x,z) of candidate c under passage z. Returns (C,).
    """
    return logsumexp(np.asarray(log_prior)[:, None] + np.asarray(loglik), axis=0)


def sequence_posterior(log_prior: np.ndarray, loglik_c: np.ndarray) -> np.ndarray:
    """p(z|x,y) for one candidate under RAG-Sequence: prior times the whole answer's likelihood."""
    return token_posterior(log_prior, loglik_c)


def log_prior_of(priors: Sequence[float]) -> np.ndarray:
    """log p(z|x) of the retrieved passages' priors, with zeros floored (log 0 would poison the sums)."""
    return np.log(np.maximum(np.asarray(priors, dtype=np.float64), 1e-300))


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")
