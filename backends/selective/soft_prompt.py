"""ASPIRE's self-evaluation learning (stage 3) at CPU scale: a soft prompt theta_s that makes a frozen model
say " correct" or " wrong" about its own answer.

The judged text is [X; Y; theta_s]: the context and question, the proposed answer, then ``n_soft`` learnable
embedding vectors; the model's next-token logits for " correct" and " wrong", normalised over the two, give
P(correct | x, y). theta_s starts as the embeddings of :data:`INIT_TEXT` (so before tuning it is a prompted
judge) and is trained with AdamW and a cosine schedule on L_c + L_w: the mean -log P(correct) over the
labelled-correct answers plus the mean -log P(wrong) over the labelled-wrong ones. Stage 1's theta_p (the
task-adaptation soft prompt) is omitted: the answers being judged are the untuned model's.

The prefix [X; Y] of every example is run once without gradients into a KV cache; each training step runs
only the ``n_soft`` soft positions against a copy of that cache, and asks autograd for the gradient of theta_s
alone (no weight gradients are computed). Dynamically quantised int8 layers have no backward, so an int8 model
is trained and evaluated through its float32 copy (``name@float32``).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from backends.config import InputError, check_count, check_number
from backends.decoding import Deadline, ProgressFn
from backends.metrics import CoverageCurve
from backends.selective import scores as S
from backends.selective.evaluate import Answered, Item, Selective, judged_text, metrics_of

if TYPE_CHECKING:
    from backends.models import LoadedModel

INIT_TEXT = "\nIs the proposed answer correct or wrong? The proposed answer is"
TARGETS = (" correct", " wrong")
DEFAULT_SOFT_TOKENS = 12  # l: the paper uses 50 on GPUs
DEFAULT_EPOCHS = 3  # the paper: 10
DEFAULT_LR = 3e-3  # the paper: 0.01 for prompts from random init; ours start at real token embeddings
K_CORRECT, K_WRONG = 2, 4  # the paper's k_c = 2; k_w = 10 there, fewer answers to choose from here
TEST_SCORES = ("likelihood", "self_eval", "aspire", "learned_init", "learned", "aspire_learned")


@dataclass(frozen=True)
class Example:
    item: Item
    answer: str
    correct: bool


@dataclass(frozen=True)
class ScoreTable:
    """Scores of a set of answers and how well each separates right from wrong."""

    scores: dict[str, list[float]]
    correct: list[bool]
    auroc: dict[str, float]
    auacc: dict[str, float]
    auroc_ci: dict[str, tuple[float, float]]
    auacc_ci: dict[str, tuple[float, float]]
    curves: dict[str, CoverageCurve]

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.correct)) if self.correct else float("nan")


@dataclass(frozen=True)
class SelfEvalTuning:
    """The outcome of :func:`learn_self_eval`: the held-out split scored before and after tuning."""

    model: str  # the model trained and evaluated (an int8 model's float32 copy)
    n_soft: int
    epochs: int
    lr: float
    n_train: int  # training questions
    n_train_examples: int  # labelled answers trained on
    n_test: int
    losses: list[float]  # training loss (L_c + L_w): at init, running means of middle epochs, after training
    test: ScoreTable
    records: list[dict]
    seconds: float
    stopped_early: bool = False


def training_examples(answered: Sequence[Answered], k_c: int = K_CORRECT, k_w: int = K_WRONG) -> list[Example]:
    """The paper's S_c and S_w per question: the reference and the k_c most likely correct distinct answers
    (greedy and samples), and the k_w most likely wrong ones, labelled by the correctness rule."""
    out: list[Example] = []
    for a in answered:
        cands: dict[str, float] = {}
        if a.answer.strip():
            cands[a.answer.strip()] = float(np.sum(a.answer_logprobs))
        for s, lp in zip(a.samples, a.sample_logprobs):
            if s.strip():
                cands.setdefault(s.strip(), float(lp))
        ranked = sorted(cands, key=lambda t: -cands[t])
        right = [t for t in ranked if S.is_correct(t, a.item.references)][:k_c]
        wrong = [t for t in ranked if not S.is_correct(t, a.item.references)][:k_w]
        out.append(Example(a.item, a.item.references[0], True))
        out += [Example(a.item, t, True) for t in right if t != a.item.references[0]]
        out += [Example(a.item, t, False) for t in wrong]
    return out


def split(n: int, train_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded split of question indices into (train, test), both non-empty."""
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(1, round(n * train_fraction)))
    return sorted(order[:k].tolist()), sorted(order[k:].tolist())


class Judge:
    """P(correct | x, y) from a frozen model and a soft prompt theta_s of shape (n_soft, hidden)."""

    def __init__(self, lm: "LoadedModel", n_soft: int):
        import torch

        self.lm = lm
        tok = lm.tokenizer
        self.targets = [int(tok(t, add_special_tokens=False)["input_ids"][0]) for t in TARGETS]
        if self.targets[0] == self.targets[1]:
            raise InputError(f"{lm.name}'s tokenizer cannot tell{TARGETS[0]!r} from{TARGETS[1]!r} by one token.")
        ids = list(tok(INIT_TEXT, add_special_tokens=False)["input_ids"])
        ids = (ids * math.ceil(n_soft / len(ids)))[-n_soft:] if len(ids) < n_soft else ids[-n_soft:]
        with torch.no_grad():
            emb = lm.model.get_input_embeddings()(torch.tensor(ids, device=lm.device)).float()
        self.init = emb.detach().clone()
        self._caches: dict[tuple[str, str], tuple[Any, int]] = {}

    def prefix(self, item: Item, answer: str) -> tuple[Any, int]:
        """KV cache and length of [X; Y] (run once, no gradients, kept for later steps)."""
        import torch

        key = (item.id, answer)
        if key not in self._caches:
            ids = self.lm.tokenizer(judged_text(item, answer), add_special_tokens=True)["input_ids"]
            with torch.no_grad():
                out = self.lm.model(input_ids=torch.tensor([ids], device=self.lm.device), use_cache=True,
                                    logits_to_keep=1)
            self._caches[key] = (out.past_key_values, len(ids))
        return self._caches[key]

    def logits(self, theta: "Any", item: Item, answer: str) -> "Any":
        """The (2,) logits of " correct" and " wrong" after [X; Y; theta]."""
        import torch

        cache, n = self.prefix(item, answer)
        l_soft = theta.shape[0]
        dev = self.lm.device
        dtype = self.lm.model.get_input_embeddings().weight.dtype
        out = self.lm.model(inputs_embeds=theta[None].to(dev, dtype), past_key_values=copy.deepcopy(cache),
                            attention_mask=torch.ones((1, n + l_soft), dtype=torch.long, device=dev),
                            position_ids=torch.arange(n, n + l_soft, device=dev)[None], use_cache=True,
                            logits_to_keep=1)
        return out.logits[0, -1, self.targets].float()

    def log_p_correct(self, theta: "Any", item: Item, answer: str) -> float:
        import torch

        with torch.no_grad():
            return float(torch.log_softmax(self.logits(theta, item, answer), -1)[0])


def _weights(examples: Sequence[Example]) -> list[float]:
    """Per-example weights making the mean loss L_c + L_w (each class's mean, summed), times 1/2."""
    n_c = sum(e.correct for e in examples)
    n_w = len(examples) - n_c
    n = len(examples)
    return [n / (2 * n_c) if e.correct else n / (2 * n_w) for e in examples]


def train_soft_prompt(judge: Judge, examples: Sequence[Example], *, epochs: int, lr: float, batch_size: int = 8,
                      seed: int = 0, deadline: Deadline | None = None,
                      progress: ProgressFn | None = None) -> tuple["Any", list[float], bool]:
    """(theta_s, losses, stopped_early): AdamW with a cosine schedule on the weighted -log P(label).

    ``losses``: the weighted training loss at init, the running mean during each epoch but the last, and the
    exact loss after training (a full pass costs as much as a third of an epoch, so only the ends get one).
    """
    import torch

    if not any(e.correct for e in examples) or all(e.correct for e in examples):
        raise InputError("Training needs labelled answers of both kinds, right and wrong; use more questions.")
    w = _weights(examples)
    theta = torch.nn.Parameter(judge.init.clone())
    opt = torch.optim.AdamW([theta], lr=lr, weight_decay=0.0)
    steps = epochs * math.ceil(len(examples) / batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
    rng = np.random.default_rng(seed)
    dl = Deadline.of(deadline)
    report = progress or (lambda f, m: None)

    def full_loss() -> float:
        with torch.no_grad():
            return float(np.mean([wi * -float(torch.log_softmax(judge.logits(theta, e.item, e.answer), -1)
                                              [0 if e.correct else 1]) for e, wi in zip(examples, w)]))

    losses = [full_loss()]
    done, stopped = 0, False
    for epoch in range(epochs):
        order = rng.permutation(len(examples))
        running = []
        for start in range(0, len(order), batch_size):
            if dl.expired:
                stopped = True
                break
            batch = order[start:start + batch_size]
            grad = torch.zeros_like(theta)
            for i in batch:
                e = examples[i]
                nll = -torch.log_softmax(judge.logits(theta, e.item, e.answer), -1)[0 if e.correct else 1]
                grad += torch.autograd.grad(w[i] * nll / len(batch), theta)[0]
                running.append(w[i] * float(nll))
            theta.grad = grad
            opt.step()
            sched.step()
            done += 1
            report(done / max(steps, 1), f"Epoch {epoch + 1} of {epochs}: step {done} of {steps}, "
                                         f"running loss {np.mean(running):.3f}")
        if stopped:
            break
        if epoch < epochs - 1 and running:  # the running mean saves a pass; the last epoch gets the exact loss
            losses.append(float(np.mean(running)))
    losses.append(full_loss())
    return theta.detach(), losses, stopped


def _table(scores: dict[str, list[float]], correct: list[bool], n_boot: int, seed: int) -> ScoreTable:
    au, ac, au_ci, ac_ci, curves = metrics_of(scores, correct, n_boot=n_boot, seed=seed)
    return ScoreTable(scores, correct, au, ac, au_ci, ac_ci, curves)


def training_model(lm: "LoadedModel") -> "LoadedModel":
    """The model itself, or its float32 copy when it runs int8 (quantised layers have no backward)."""
    from backends.models import registry

    return registry().get(f"{lm.name.split('@')[0]}@float32") if lm.weights == "int8" else lm


def learn_self_eval(result: Selective, model: "str | LoadedModel | None" = None, *, n_soft: int = DEFAULT_SOFT_TOKENS,
                    epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR, train_fraction: float = 0.5,
                    batch_size: int = 8, alpha: float | None = None, seed: int = 0, n_boot: int = 1000,
                    time_budget_s: float | None = None, progress: ProgressFn | None = None) -> SelfEvalTuning:
    """Train theta_s on a split of ``result``'s questions and score the other split before and after.

    ``model`` defaults to the model that answered (``result.model``). On the held-out questions the greedy
    answers are scored by likelihood, the prompted Yes/No self-evaluation, its ASPIRE mix, the soft prompt
    at its text initialisation (``learned_init``), after tuning (``learned``) and the mix with it
    (``aspire_learned``), at ``alpha`` (default: the result's).
    """
    from backends.models import LoadedModel, registry

    check_count(n_soft, what="Soft tokens", low=1, high=64)
    check_count(epochs, what="Epochs", low=1, high=20)
    check_number(lr, what="Learning rate", low=1e-5, high=1.0)
    check_number(train_fraction, what="Training fraction", low=0.1, high=0.9)
    if result.n < 4:
        raise InputError("Self-evaluation learning needs at least 4 answered questions (2 to train, 2 to test).")
    t0 = time.perf_counter()
    lm = model if isinstance(model, LoadedModel) else registry().get(model or result.model)
    lm = training_model(lm)
    alpha = result.alpha if alpha is None else float(alpha)
    train_idx, test_idx = split(result.n, train_fraction, seed)
    examples = training_examples([result.answered[i] for i in train_idx])
    report = progress or (lambda f, m: None)
    report(0.0, f"Encoding {len(examples)} labelled answers of {len(train_idx)} questions")
    import torch

    torch.manual_seed(seed)
    judge = Judge(lm, n_soft)
    theta, losses, stopped = train_soft_prompt(judge, examples, epochs=epochs, lr=lr, batch_size=batch_size,
                                               seed=seed, deadline=Deadline(time_budget_s),
                                               progress=lambda f, m: report(0.9 * f, m))
    report(0.92, "Scoring the held-out answers before and after tuning")
    test = [result.answered[i] for i in test_idx]
    before = [judge.log_p_correct(judge.init, a.item, a.answer) for a in test]
    after = [judge.log_p_correct(theta, a.item, a.answer) for a in test]
    lik = [result.scores["likelihood"][i] for i in test_idx]
    scores = {"likelihood": lik, "self_eval": [result.scores["self_eval"][i] for i in test_idx],
              "aspire": [float(S.aspire(f, a.log_p_yes, alpha)) for f, a in zip(lik, test)],
              "learned_init": [math.exp(x) for x in before], "learned": [math.exp(x) for x in after],
              "aspire_learned": [float(S.aspire(f, x, alpha)) for f, x in zip(lik, after)]}
    correct = [result.correct[i] for i in test_idx]
    records = [{"id": a.item.id, "question": a.item.question, "answer": a.answer, "correct": c,
                **{k: round(scores[k][j], 4) for k in TEST_SCORES}} for j, (a, c) in enumerate(zip(test, correct))]
    return SelfEvalTuning(lm.name if "@" in lm.name else f"{lm.name} ({lm.weights})", n_soft, epochs, lr,
                          len(train_idx), len(examples), len(test_idx), losses,
                          _table(scores, correct, n_boot, seed), records, time.perf_counter() - t0, stopped)
