"""Answers: retrieve, generate with one mode (or several from one prefill), and say where the answer stands."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from backends.config import InputError, check_count, limits
from backends.decoding import Deadline, prefill
from backends.rag.generate import (
    DEFAULT_NEW_TOKENS,
    Generation,
    SequenceResult,
    TokenResult,
    decode_each,
    decode_plain,
    decode_sequence,
    decode_token,
    prefill_passages,
    prompt_ids,
)
from backends.rag.index import Index
from backends.rag.marginal import DEFAULT_TEMPERATURE, log_prior_of
from backends.rag.retrieval import (
    DEFAULT_ALPHA,
    DEFAULT_K,
    RETRIEVAL_MODES,
    Hit,
    check_k,
    check_question,
    check_retrieval,
    retrieve,
)

if TYPE_CHECKING:
    from backends.models import LoadedModel

MODES = ("token", "sequence", "top1", "none")
MODE_LABELS = {"token": "RAG-Token", "sequence": "RAG-Sequence", "top1": "top-1 passage", "none": "no retrieval"}
LOW_SCORE = 0.25  # best inner product below this: the corpus probably does not hold the answer


@dataclass(frozen=True)
class Answer:
    question: str
    mode: str  # one of MODES
    text: str  # the answer as generated (end token removed)
    passages: list[Hit]  # the passages the generator saw (none for "none", the first for "top1")
    retrieved: list[Hit]  # the k retrieved passages (also for "none", for comparison)
    tokens: list[str]  # generated tokens, decoded one by one
    token_posteriors: list[list[float]]  # RAG-Token: [generated token][passage] p(z|x,y_<=i); else []
    token_logprobs: list[list[float]]  # RAG-Token: [generated token][passage] log p(y_i|x,z,y_<i); else []
    passage_posterior: list[float]  # p(z|x,y) of the whole answer per passage (RAG-Sequence, RAG-Token)
    logprob: float  # log p(y|x) under the mode's model, end token included where the answer ended
    candidates: list[dict]  # RAG-Sequence: each candidate, its passage of origin, log p(y|x) and log p(y|x,z)
    spans: list[tuple[int, int] | None]  # per passage in `passages`, where the answer occurs in its text
    model: str
    seconds: float
    warning: str  # e.g. no passage scored well
    retrieval: str = RETRIEVAL_MODES[0]  # the retriever that chose the passages (RETRIEVAL_MODES)
    fusion: str = "rrf"  # hybrid's fusion

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("question", "mode", "text", "tokens", "token_posteriors",
                                           "token_logprobs", "passage_posterior", "logprob", "candidates",
                                           "spans", "model", "seconds", "warning", "retrieval", "fusion")}
        d["passages"] = [h.to_dict() for h in self.passages]
        d["retrieved"] = [h.to_dict() for h in self.retrieved]
        return d


def short_answer(text: str) -> str:
    """The first non-empty line, without a leading 'Answer:' and trailing full stop (what EM/F1 compare)."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    line = re.sub(r"^(the\s+)?answer\s*(is|:)\s*", "", line, flags=re.I)
    return line.rstrip(" .").strip()


_STOP = set("a an the of in on at to for by and or was were is are be been it its this that with as from his her "
            "their our we he she they i you not no".split())


def find_span(passage_text: str, answer_text: str) -> tuple[int, int] | None:
    """Character span of the answer in a passage (case-insensitive), or None.

    The whole short answer where it is written in the passage; otherwise the longest run of its words
    that is (a sentence-long answer usually quotes the passage only in part), if that run holds a
    content word.
    """
    ans = short_answer(answer_text)
    low = passage_text.lower()
    for cand in (ans, re.sub(r"^(the|a|an)\s+", "", ans, flags=re.I)):
        if len(cand) >= 2:
            i = low.find(cand.lower())
            if i >= 0:
                return i, i + len(cand)
    words = re.findall(r"[\w$%,.'-]+", ans)[:40]
    words = [w.strip(".,") for w in words if w.strip(".,")]
    for n in range(len(words) - 1, 0, -1):
        for start in range(len(words) - n + 1):
            run = words[start:start + n]
            if all(w.lower() in _STOP or len(w) < 3 for w in run):
                continue
            m = re.search(r"(?<!\w)" + r"\W+".join(re.escape(w) for w in run) + r"(?!\w)", passage_text, re.I)
            if m:
                return m.start(), m.end()
    return None


def generator(lm: "LoadedModel | str | None") -> "LoadedModel":
    """The generator: a loaded model as given, else the registry's model by name (default: the reader slot)."""
    from backends.models import LoadedModel, registry

    if isinstance(lm, LoadedModel):
        return lm
    return registry().get(lm or None, slot="reader")


def texts_of(lm: "LoadedModel", ids: list[int]) -> tuple[str, list[str]]:
    """(the answer's text, each token's text) of generated ids."""
    tok = lm.tokenizer
    return tok.decode(ids, skip_special_tokens=True).strip(), tok.batch_decode([[i] for i in ids])


def run_modes(lm: "LoadedModel", question: str, hits: list[Hit], modes: Sequence[str], *,
              max_new_tokens: int = DEFAULT_NEW_TOKENS,
              deadline: Deadline | float | None = None) -> dict[str, Generation]:
    """Generate with every requested mode from one prefill of the k passage prompts.

    Returns mode -> :class:`Generation` (:class:`TokenResult` for "token", :class:`SequenceResult` for
    "sequence"). The prior is the hits' own: p(z|x) over exactly these passages.
    """
    out: dict[str, Generation] = {}
    log_prior = log_prior_of([h.prior for h in hits])
    need_k = [m for m in modes if m in ("token", "sequence")]
    if need_k or "top1" in modes:
        shown = hits if need_k else hits[:1]
        pre = prefill_passages(lm, [prompt_ids(lm, question, h.passage) for h in shown])
        if "token" in modes:
            out["token"] = decode_token(lm, pre, log_prior, max_new_tokens, deadline)
        if "sequence" in modes or "top1" in modes:
            seqs = decode_each(lm, pre, max_new_tokens, deadline)
            if "top1" in modes:
                out["top1"] = decode_plain(lm, pre, max_new_tokens, deadline, seq=seqs[0])
            if "sequence" in modes:
                out["sequence"] = decode_sequence(lm, pre, log_prior, max_new_tokens, deadline, seqs=seqs)
    if "none" in modes:
        out["none"] = decode_plain(lm, prefill(lm, [prompt_ids(lm, question, None)]), max_new_tokens, deadline)
    return out


def low_score_warning(hits: list[Hit]) -> str:
    best = max((h.score for h in hits), default=LOW_SCORE)
    if best < LOW_SCORE:
        return (f"No passage matches the question well (best score {best:.2f}, below {LOW_SCORE}): the "
                "corpus may not hold the answer, so treat the answer with extra suspicion.")
    return ""


def _candidates(lm: "LoadedModel", res: SequenceResult) -> list[dict]:
    out = [{"text": texts_of(lm, ids)[0], "from_passages": [z + 1 for z in res.origin[c]],
            "logprob": float(res.marginal[c]), "logprob_per_passage": [float(v) for v in res.loglik[:, c]]}
           for c, ids in enumerate(res.candidates)]
    return sorted(out, key=lambda d: -d["logprob"])


def answer(index: Index, question: str, mode: str = "token", k: int = DEFAULT_K, *,
           temperature: float = DEFAULT_TEMPERATURE, max_new_tokens: int = DEFAULT_NEW_TOKENS,
           lm: "LoadedModel | str | None" = None, time_budget_s: float | None = None,
           retrieval: str = RETRIEVAL_MODES[0], fusion: str = "rrf", alpha: float = DEFAULT_ALPHA) -> Answer:
    """Retrieve k passages and answer with one mode: "token", "sequence", "top1" or "none".

    ``retrieval``: "hybrid" (default), "dense" or "bm25", with ``fusion``/``alpha`` for hybrid (see
    :func:`~backends.rag.retrieval.retrieve`). ``time_budget_s`` bounds retrieval and generation (None: no
    budget; the app passes its request budget).
    """
    if mode not in MODES:
        raise InputError(f"Mode must be one of {', '.join(MODES)}, got {mode!r}.")
    retrieval, fusion, alpha = check_retrieval(retrieval, fusion, alpha)
    question = check_question(question)
    k = check_k(k, index)
    max_new_tokens = check_count(max_new_tokens, what="Answer token limit", low=1, high=limits().max_new_tokens)
    t0 = time.perf_counter()
    model = generator(lm)  # loading is not part of the request's budget: it happens once
    deadline = Deadline(time_budget_s)
    hits = retrieve(index, question, k, temperature, mode=retrieval, fusion=fusion, alpha=alpha)
    res = run_modes(model, question, hits, [mode], max_new_tokens=max_new_tokens, deadline=deadline)[mode]
    text, tokens = texts_of(model, res.ids)
    used = {"none": [], "top1": hits[:1]}.get(mode, hits)
    token = res if isinstance(res, TokenResult) else None
    seq = res if isinstance(res, SequenceResult) else None
    return Answer(question=question, mode=mode, text=text, passages=used, retrieved=hits, tokens=tokens,
                  token_posteriors=token.posteriors.tolist() if token else [],
                  token_logprobs=token.per_passage.tolist() if token else [],
                  passage_posterior=[float(v) for v in getattr(res, "passage_posterior", [])],
                  logprob=float(res.logprob), candidates=_candidates(model, seq) if seq else [],
                  spans=[find_span(h.passage.text, text) for h in used], model=model.name,
                  seconds=time.perf_counter() - t0, warning=low_score_warning(hits), retrieval=retrieval,
                  fusion=fusion)
