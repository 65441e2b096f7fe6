"""The paper's prompt designs (five-letter codes), the messages of one round, and reading the answers."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from backends.bandits.instances import MAX_ARMS
from backends.config import InputError, check_count

BUTTON_LABELS = ("blue", "green", "red", "yellow", "purple", "orange", "brown", "gray", "black", "white")
AD_LABELS = tuple("ABCDEFGHIJ")


@dataclass(frozen=True)
class PromptCode:
    """The five-letter prompt design code, e.g. BNRN0 or BSSC~0.

    scenario B (buttons) / A (advertisements); framing N (neutral) / S (suggestive: hints at the
    explore-exploit trade-off); history R (raw list of rounds) / S (summary per arm); reasoning N
    (answer only) / C (chain-of-thought) / C~ (chain-of-thought, reinforced in the user message);
    output 0 (temperature 0) / 1 (temperature 1) / D (a distribution over arms at temperature 0,
    from which the arm is sampled).
    """

    scenario: str
    framing: str
    history: str
    reasoning: str
    output: str

    @property
    def code(self) -> str:
        return f"{self.scenario}{self.framing}{self.history}{self.reasoning}{self.output}"

    @property
    def generates(self) -> bool:
        """Does this design need the model to write text (reasoning or a distribution)?"""
        return self.reasoning != "N" or self.output == "D"

    @property
    def temperature(self) -> float:
        return 1.0 if self.output == "1" else 0.0

    def labels(self, k: int) -> tuple[str, ...]:
        return (BUTTON_LABELS if self.scenario == "B" else AD_LABELS)[:k]


CODE_RE = re.compile(r"^([BA])([NS])([RS])(C~|C|N)([01D])$")


def parse_code(code: str) -> PromptCode:
    m = CODE_RE.match(str(code or "").strip().upper())
    if not m:
        raise InputError(
            f"Unknown prompt code {str(code)[:40]!r}. A code has five parts: scenario B/A, framing N/S, history R/S, "
            "reasoning N/C/C~, output 0/1/D; for example BNRN0 or BSSC~0.")
    return PromptCode(*m.groups())


def all_codes() -> list[str]:
    return [f"{a}{b}{c}{d}{e}" for a in "BA" for b in "NS" for c in "RS" for d in ("N", "C", "C~") for e in "01D"]


def render_prompt(code: str | PromptCode, k: int, horizon: int,
                  history: Sequence[tuple[int, int]] = ()) -> dict[str, str]:
    """The system and user messages of one round, given the history so far as (arm, reward) pairs."""
    pc = code if isinstance(code, PromptCode) else parse_code(code)
    k = check_count(k, what="Number of arms K", low=2, high=MAX_ARMS)
    horizon = check_count(horizon, what="Horizon T", low=1, high=10**6)
    try:
        history = [(int(a), int(r)) for a, r in history]
    except (TypeError, ValueError):
        raise InputError("History must be a list of (arm, reward) pairs.") from None
    if len(history) >= horizon or any(not 0 <= a < k or r not in (0, 1) for a, r in history):
        raise InputError("History must hold fewer than T rounds of (arm in 0..K-1, reward 0 or 1).")
    labels = pc.labels(k)
    names = ", ".join(labels)
    if pc.scenario == "B":
        noun = "button"
        system = (f"You are in a room with {k} buttons, labelled {names}. Each press of a button pays a reward of 1 "
                  f"or 0 at random; every button has its own fixed chance of paying 1, and you do not know these "
                  f"chances. You will press one button in each of {horizon} rounds. Your goal is to collect as "
                  f"much total reward as you can.")
    else:
        noun = "advertisement"
        system = (f"You are a recommendation system choosing which advertisement to show each visitor of a web "
                  f"page. There are {k} advertisements, labelled {names}. A visitor either clicks the advertisement "
                  f"shown (reward 1) or does not (reward 0); every advertisement has its own fixed click "
                  f"probability, which you do not know. {horizon} visitors will arrive one after another. Your goal "
                  f"is to collect as many clicks as you can.")
    if pc.framing == "S":
        system += (" You are acting as a bandit algorithm, so keep the trade-off in mind: explore the "
                   f"{noun}s you know little about, and exploit the {noun} that has done best so far.")
    if pc.output == "D":
        fmt = (f"a probability for every {noun}, the probabilities summing to 1, in the form "
               f"<Answer>{labels[0]}:p, {labels[1]}:p, ...</Answer> with each p a number")
        drawn = f" Your {noun} is then drawn at random from the distribution you give."
    else:
        fmt = f"the label of one {noun} in the form <Answer>{labels[0]}</Answer>"
        drawn = ""
    if pc.reasoning == "N":
        system += f" In each round, reply only with {fmt}.{drawn}"
    else:
        system += f" In each round, think step by step about what to do, then end your reply with {fmt}.{drawn}"

    t = len(history) + 1
    total = sum(r for _, r in history)
    # The round number and total come after the history, so that with a raw history each round's
    # prompt extends the previous one and the KV cache of the shared prefix can be reused.
    lines = []
    if not history:
        lines.append("No rounds have been played yet.")
    elif pc.history == "R":
        lines.append(f"Your history so far (round: {noun}, reward):")
        lines += [f"{i + 1}: {labels[a]}, {r}" for i, (a, r) in enumerate(history)]
    else:
        counts = np.zeros(k, dtype=int)
        wins = np.zeros(k, dtype=int)
        for a, r in history:
            counts[a] += 1
            wins[a] += r
        lines.append(f"Summary of each {noun} so far:")
        for a in range(k):
            done = "shown" if pc.scenario == "A" else "pressed"
            times = f"{counts[a]} time{'s' if counts[a] != 1 else ''}"
            if counts[a]:
                lines.append(f"{labels[a]}: {done} {times}, average reward {wins[a] / counts[a]:.2f}")
            else:
                lines.append(f"{labels[a]}: {done} {times}")
    lines.append(f"This is round {t} of {horizon}; your total reward so far is {total}. "
                 f"Which {noun} do you choose in round {t}?")
    if pc.reasoning == "C~":
        lines.append(f"Remember to think step by step first, and then end with {fmt}.")
    return {"system": system, "user": "\n".join(lines)}


# --------------------------------------------------------------------------------------------
# Reading the model's answers


ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.IGNORECASE | re.DOTALL)


def _label_positions(text: str, labels: Sequence[str]) -> list[tuple[int, int]]:
    """(position, arm) of every whole-word label mention in text."""
    found = []
    for a, lab in enumerate(labels):
        for m in re.finditer(rf"(?<![A-Za-z]){re.escape(lab)}(?![A-Za-z])", text, flags=0 if len(lab) == 1 else re.I):
            found.append((m.start(), a))
    return sorted(found)


def parse_choice(text: str, labels: Sequence[str]) -> tuple[int | None, str]:
    """The arm named in an answer: inside the last <Answer> tag ("ok"), else the last label
    mentioned anywhere ("lenient"), else None ("fallback")."""
    tags = ANSWER_RE.findall(text)
    if tags:
        hits = _label_positions(tags[-1], labels)
        if hits:
            return hits[0][1], "ok"
    hits = _label_positions(text, labels)
    if hits:
        return hits[-1][1], "lenient"
    return None, "fallback"


def parse_distribution(text: str, labels: Sequence[str]) -> tuple[np.ndarray | None, str]:
    """A distribution 'label:p, label:p' from the last <Answer> tag (or anywhere, "lenient");
    normalised to sum 1. Percentages are accepted."""
    def pairs(s: str) -> np.ndarray | None:
        p = np.zeros(len(labels))
        hit = False
        for a, lab in enumerate(labels):
            m = re.search(rf"(?<![A-Za-z]){re.escape(lab)}(?![A-Za-z])\s*[:=]\s*([0-9]*\.?[0-9]+)\s*(%?)", s,
                          flags=0 if len(lab) == 1 else re.I)
            if m:
                v = float(m.group(1)) / (100.0 if m.group(2) else 1.0)
                if math.isfinite(v) and v >= 0:
                    p[a] = v
                    hit = True
        return p / p.sum() if hit and p.sum() > 0 else None

    tags = ANSWER_RE.findall(text)
    if tags and (p := pairs(tags[-1])) is not None:
        return p, "ok"
    if (p := pairs(text)) is not None:
        return p, "lenient"
    return None, "fallback"

