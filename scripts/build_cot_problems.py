"""Generate the CoT tab's built-in problems: assets/cot/problems.jsonl (seeded, reproducible).

    .venv/bin/python scripts/build_cot_problems.py [--n 240] [--seed 0]

Grade-school arithmetic word problems from templates of one, two and three steps, some with a
distractor number, with varied names, objects and units; each line has the question, the answer,
the number of steps and the template. Then a fixed set of year-parity and yes/no questions for the
free-form answer path.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "assets" / "cot" / "problems.jsonl"
NAMES = [("Janet", "she"), ("Tom", "he"), ("Aisha", "she"), ("Carlos", "he"), ("Mei", "she"), ("Omar", "he"),
         ("Priya", "she"), ("Lukas", "he"), ("Sofia", "she"), ("Kwame", "he")]
OBJECTS = ["apples", "marbles", "stickers", "pencils", "cookies", "books", "stamps", "shells"]

# Each template: (steps, text, answer function).
# Placeholders: n/p (name, pronoun), o (object), a-d numbers, x distractor.
TEMPLATES = [
    (1, "{n} has {a} {o}. {P} buys {b} more. How many {o} does {n} have now?", lambda a, b, c, d: a + b),
    (1, "{n} had {a} {o} and gave {b} to a friend. How many {o} does {n} have left?", lambda a, b, c, d: a - b),
    (1, "A box holds {a} {o}. How many {o} are in {b} boxes?", lambda a, b, c, d: a * b),
    (1, "{n} is {x} years old and has {a} {o}. {P} finds {b} more. How many {o} does {p} have?",
     lambda a, b, c, d: a + b),
    (2, "{n} buys {a} packs of {o} with {b} in each pack, then gives away {c}. How many {o} are left?",
     lambda a, b, c, d: a * b - c),
    (2, "{n} earns {a} dollars per hour. {P} works {b} hours on Monday and {c} hours on Tuesday. "
        "How many dollars does {p} earn in total?", lambda a, b, c, d: a * (b + c)),
    (2, "A baker makes {a} loaves in the morning and {b} in the afternoon, and sells {c}. "
        "The shop opened {x} years ago. How many loaves are left?", lambda a, b, c, d: a + b - c),
    (2, "{n} reads {a} pages a day for {b} days, and then {c} more pages. How many pages does {p} read?",
     lambda a, b, c, d: a * b + c),
    (3, "{n} has {a} {o}. {P} buys {b} bags with {c} {o} in each bag and then gives away {d}. "
        "How many {o} does {p} have now?", lambda a, b, c, d: a + b * c - d),
    (3, "A train travels {a} km per hour for {b} hours, then {c} km per hour for {d} hours. "
        "How many km does it travel in total?", lambda a, b, c, d: a * b + c * d),
    (3, "{n} has {a} dollars. A book costs {b} dollars and a pen costs {c} dollars. {P} buys {d} books and one pen. "
        "How many dollars are left?", lambda a, b, c, d: a - (b * d + c)),
    (3, "A farm has {a} cows and {b} times as many sheep. {c} sheep are sold and {d} cows are bought. "
        "How many animals are on the farm now?", lambda a, b, c, d: a + a * b - c + d),
]
FREE = [
    ("Was Abraham Lincoln born in an even or odd year?", "odd"),
    ("Was George Washington born in an even or odd year?", "even"),
    ("Was Albert Einstein born in an even or odd year?", "odd"),
    ("Was Winston Churchill born in an even or odd year?", "even"),
    ("Was William Shakespeare born in an even or odd year?", "even"),
    ("Was Barack Obama born in an even or odd year?", "odd"),
    ("Was Nelson Mandela born in an even or odd year?", "even"),
    ("Was Marie Curie born in an even or odd year?", "odd"),
    ("Is 17 a prime number? Answer yes or no.", "yes"),
    ("Is 21 a prime number? Answer yes or no.", "no"),
    ("Is 9 times 7 greater than 60? Answer yes or no.", "yes"),
    ("Is half of 50 smaller than 20? Answer yes or no.", "no"),
]


def make(rng: random.Random, steps: int, text: str, fn) -> dict | None:
    name, pron = rng.choice(NAMES)
    a, b, c, d = rng.randint(2, 20), rng.randint(2, 12), rng.randint(2, 9), rng.randint(1, 6)
    if "gave {b}" in text:
        a, b = max(a, b) + rng.randint(1, 10), min(a, b)
    answer = fn(a, b, c, d)
    if answer <= 0:
        return None
    q = text.format(n=name, p=pron, P=pron.capitalize(), o=rng.choice(OBJECTS), a=a, b=b, c=c, d=d,
                    x=rng.randint(5, 60))
    return {"question": q, "answer": str(answer), "kind": "arithmetic", "steps": steps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=240)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    rows, seen = [], set()
    while len(rows) < args.n:
        t = rng.randrange(len(TEMPLATES))
        row = make(rng, *TEMPLATES[t])
        if row and row["question"] not in seen:
            seen.add(row["question"])
            rows.append({**row, "template": t, "seed": args.seed})
    rows += [{"question": q, "answer": a, "kind": "free", "steps": 1, "template": "free", "seed": args.seed}
             for q, a in FREE]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {len(rows)} problems to {OUT}")


if __name__ == "__main__":
    main()
