"""Relevance and tone: the shipped logistic regressions on sentence embeddings, and the causal LM's zero-shot tone.

Both classifiers were trained on ``assets/framing/annotations.csv`` by ``scripts/train_framing_classifiers.py``;
their coefficients ship in ``classifier.json``, so nothing is trained at run time.

Models come in as a :class:`~backends.models.LoadedModel`, a registry name, or None (the registry's model
for the slot, :data:`EMBED_SLOT` or :data:`LM_SLOT`). Entry points resolve them once with
:func:`load_model` and pass the loaded model down; nothing below reaches for the registry itself.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, Union

import numpy as np

from backends import decoding
from backends.config import InputError
from backends.framing.lexicon import ASSETS, read_json

if TYPE_CHECKING:
    import torch

    from backends.models import LoadedModel

ANNOTATIONS_PATH = ASSETS / "annotations.csv"
CLASSIFIER_PATH = ASSETS / "classifier.json"
LM_SLOT = "chat"  # causal LM for metaphors and zero-shot tone (Qwen2.5-Coder-1.5B on the cpu profile)
EMBED_SLOT = "embedder"
TONES = ("pro", "anti", "neutral")
RELEVANCE_THRESHOLD = 0.5
ProgressFn = Callable[[float, str], None]
ModelArg = Union["LoadedModel", str, None]  # a loaded model, a registry name, or None: the slot's model


# ----- models -------------------------------------------------------------------------------------
def model_name(model: ModelArg, slot: str) -> str:
    """The registry name of ``model`` (None: the slot's model), without loading anything."""
    if model is None or isinstance(model, str):
        from backends.models import registry

        return registry().resolve(model, slot=slot)
    return model.name


def load_model(model: ModelArg, slot: str) -> "LoadedModel":
    """``model`` itself when it is loaded already; otherwise the registry's model of that name (None: the
    slot's), loaded at first use. The one place the framing pipeline asks the registry for a model."""
    if model is None or isinstance(model, str):
        from backends.models import registry

        return registry().get(model, slot=slot)
    return model


def first_token_ids(lm: "LoadedModel", words: Sequence[str]) -> list[int]:
    """The first token of each word as the model reads it after a space (``" " + word``)."""
    return [lm.tokenizer(" " + w.lstrip(" "), add_special_tokens=False)["input_ids"][0] for w in words]


def next_token_logits(lm: "LoadedModel", texts: Sequence[str], *, max_tokens: int, batch_size: int,
                      progress: ProgressFn | None = None, deadline: decoding.Deadline | float | None = None,
                      what: str = "texts") -> Iterator[tuple[list[int], "torch.Tensor"]]:
    """(indices into ``texts``, float32 logits (B, V) of the token after each text), batch by batch.

    Texts are encoded as :func:`backends.lm.encode` does (special tokens, cut to ``max_tokens``), batched by
    length, left-padded and run once each by :func:`backends.decoding.prefill`, which keeps only the last
    position's logits. ``deadline`` is checked between batches.
    """
    from backends import lm as lm_mod

    ids, _ = lm_mod.encode(lm, texts, max_tokens)
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))  # similar lengths share a batch: little padding
    dl = decoding.Deadline.of(deadline)
    step = max(1, batch_size)
    for start in range(0, len(order), step):
        dl.check(f"Stopped after {start} of {len(ids)} {what}: the request ran past its time budget. Send fewer.")
        group = order[start:start + step]
        logits = decoding.prefill(lm, [ids[i] for i in group]).logits
        if progress:
            done = start + len(group)
            progress(done / len(ids), f"Scored {done}/{len(ids)} {what}")
        yield group, logits


# ----- the trained classifiers ---------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def classifier() -> dict[str, Any]:
    """The shipped logistic-regression weights and their measured accuracy (classifier.json)."""
    if not CLASSIFIER_PATH.exists():
        raise InputError("The framing classifier is missing: run scripts/train_framing_classifiers.py.")
    c = read_json(CLASSIFIER_PATH)
    for key in ("relevance", "tone"):
        c[key]["coef"] = np.asarray(c[key]["coef"], dtype=np.float64)
        c[key]["intercept"] = np.asarray(c[key]["intercept"], dtype=np.float64)
    return c


def linear_proba(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """scikit-learn's LogisticRegression.predict_proba from its coefficients: (n, d) -> (n, classes)."""
    z = X @ coef.T + intercept
    if coef.shape[0] == 1:  # binary: sigmoid of one score, columns (class 0, class 1)
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.stack([1 - p1, p1], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def embed(texts: Sequence[str], *, embedder: ModelArg = None, batch_size: int = 32,
          progress: ProgressFn | None = None, deadline: decoding.Deadline | float | None = None) -> np.ndarray:
    """Unit-normalised sentence embeddings (n, d), float64, of ``texts``: :func:`backends.decoding.embed`
    with ``embedder`` (a loaded model, a name, or None for the registry's embedder slot).

    ``deadline`` (a :class:`~backends.decoding.Deadline` or a ``time.monotonic()`` value) stops the work
    between chunks with TimeBudgetError.
    """
    emb = load_model(embedder, EMBED_SLOT)
    E = decoding.embed(emb, list(texts), batch_size=batch_size, chunk=max(batch_size * 8, 1), progress=progress,
                       deadline=deadline, what="segments")
    return np.asarray(E, dtype=np.float64)


def classify(E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(relevant) (n,), tone probabilities (n, 3) in TONES order) for embeddings E (n, d)."""
    c = classifier()
    width = c["relevance"]["coef"].shape[1]
    if E.ndim != 2 or E.shape[1] != width:
        raise InputError(f"The framing classifiers were trained on {width}-wide embeddings from "
                         f"{c.get('embedder', 'their embedder')}; these are {E.shape[-1]} wide. Use that embedder "
                         "or retrain with scripts/train_framing_classifiers.py.")
    rel = linear_proba(E, c["relevance"]["coef"], c["relevance"]["intercept"])
    rel_classes = list(c["relevance"]["classes"])
    p_rel = rel[:, rel_classes.index(1)]
    tone = linear_proba(E, c["tone"]["coef"], c["tone"]["intercept"])
    order = [list(c["tone"]["classes"]).index(t) for t in TONES]
    return p_rel, tone[:, order]


# ----- zero-shot tone from the causal LM -----------------------------------------------------------
ZERO_SHOT_PROMPT = ("Here is a paragraph from a speech by a US president.\n\n\"{text}\"\n\n"
                    "Question: Is the paragraph's attitude toward immigrants and immigration positive, negative or "
                    "neutral?\nAnswer: The attitude is")
ZERO_SHOT_WORDS = {"pro": " positive", "anti": " negative", "neutral": " neutral"}


def zero_shot_tone(texts: Sequence[str], *, lm: ModelArg = None, batch_size: int = 8,
                   progress: ProgressFn | None = None, max_words: int = 120,
                   deadline: decoding.Deadline | float | None = None) -> np.ndarray:
    """Zero-shot tone from the causal LM ``lm`` (None: the registry's chat slot): (n, 3) probabilities over
    TONES by label-word likelihood.

    The prompt asks for the attitude; each label's probability is that of its first token after
    "The attitude is", renormalised over the three labels. A plain completion prompt, no chat template:
    the stored accuracy figures were measured with it.
    """
    import torch

    model = load_model(lm, LM_SLOT)
    label_ids = first_token_ids(model, [ZERO_SHOT_WORDS[t] for t in TONES])
    prompts = [ZERO_SHOT_PROMPT.format(text=" ".join(t.split()[:max_words])) for t in texts]
    out = np.zeros((len(prompts), 3))
    for idx, logits in next_token_logits(model, prompts, max_tokens=400, batch_size=batch_size, progress=progress,
                                         deadline=deadline, what="texts"):
        out[idx] = torch.softmax(logits[:, label_ids], dim=-1).numpy()
    return out
