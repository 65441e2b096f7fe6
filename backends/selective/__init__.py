"""ASPIRE (Chen et al., 2023): selective prediction with self-evaluation, on the workbench's QA sets.

- :mod:`backends.selective.scores`: the selection scores as pure functions (likelihood, predictive and
  cluster entropy, P(Yes), the ASPIRE mix) and the correctness rule.
- :mod:`backends.selective.evaluate`: :func:`evaluate_selective` answers, samples and self-evaluates, then
  scores every answer and reports accuracy-coverage curves, AUACC and AUROC with bootstrap intervals.
- :mod:`backends.selective.soft_prompt`: stage 3 of ASPIRE on a CPU, a soft prompt theta_s tuned to say
  "correct"/"wrong", trained on one split of answered questions and evaluated on the other.

    from backends.selective import evaluate_selective
    s = evaluate_selective(dataset="cot", model=None, n_samples=5, limit=40)
    s.auroc["aspire"], s.auacc["likelihood"], s.curves
"""
from backends.selective.evaluate import DATASETS, Answered, Item, Selective, evaluate_selective, load_items, summarise
from backends.selective.scores import DEFAULT_ALPHA, LABELS, SCORES

__all__ = ["DATASETS", "DEFAULT_ALPHA", "LABELS", "SCORES", "Answered", "Item", "Selective", "evaluate_selective",
           "load_items", "summarise"]
