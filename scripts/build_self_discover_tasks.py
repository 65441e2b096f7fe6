"""Build the BBH-style tasks of the Self-Discover tab: boolean expressions, shuffled objects, date arithmetic.

Each task is generated here with its answer computed in Python (no model, no download), seeded, and written
as assets/self_discover/tasks/<task>.jsonl: one {"question", "answer", "kind"} per line.

    python scripts/build_self_discover_tasks.py [--n 60] [--seed 0]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "assets" / "self_discover" / "tasks"
PEOPLE = ["Alice", "Bob", "Claire", "Dave", "Eve"]
COLOURS = ["red", "blue", "green", "yellow", "white"]


def boolean_expression(rng: random.Random, depth: int = 2) -> str:
    """A random expression over True/False with not/and/or and brackets (evaluated by Python's rules)."""
    if depth == 0:
        term = rng.choice(["True", "False"])
        return f"not {term}" if rng.random() < 0.3 else term
    left, right = boolean_expression(rng, depth - 1), boolean_expression(rng, rng.randint(0, depth - 1))
    expr = f"{left} {rng.choice(['and', 'or'])} {right}"
    return f"( {expr} )" if rng.random() < 0.6 else expr


def boolean_item(rng: random.Random) -> dict:
    expr = boolean_expression(rng, 2)
    return {"question": f"Evaluate the boolean expression: {expr} . Is it True or False?",
            "answer": str(eval(expr)), "kind": "choice", "options": ["True", "False"]}  # noqa: S307 - our own expression of True/False/and/or/not


def objects_item(rng: random.Random, n_people: int = 3, n_swaps: int = 3) -> dict:
    people, colours = PEOPLE[:n_people], rng.sample(COLOURS, n_people)
    holds = dict(zip(people, colours))
    intro = ", ".join(f"{p} has a {c} ball" for p, c in holds.items())
    steps = []
    for _ in range(n_swaps):
        a, b = rng.sample(people, 2)
        holds[a], holds[b] = holds[b], holds[a]
        steps.append(f"{a} and {b} swap balls")
    who = rng.choice(people)
    text = (f"{intro}. They trade balls: first {steps[0]}, then " + ", then ".join(steps[1:])
            + f". At the end, what colour is the ball {who} has?")
    return {"question": text, "answer": holds[who], "kind": "choice", "options": colours}


def date_item(rng: random.Random) -> dict:
    start = dt.date(2015, 1, 1) + dt.timedelta(days=rng.randrange(365 * 10))
    days = rng.choice([rng.randint(1, 40), -rng.randint(1, 40), 7 * rng.randint(1, 4)])
    when = f"{days} days after" if days > 0 else f"{-days} days before"
    text = f"Today is {start:%m/%d/%Y}. What is the date {when} today? Answer in MM/DD/YYYY."
    return {"question": text, "answer": f"{start + dt.timedelta(days=days):%m/%d/%Y}", "kind": "date"}


BUILDERS = {"boolean_expressions": boolean_item, "shuffled_objects": objects_item, "date_arithmetic": date_item}


def build(n: int = 60, seed: int = 0) -> dict[str, list[dict]]:
    out = {}
    for i, (name, make) in enumerate(BUILDERS.items()):
        rng = random.Random(seed * 1000 + i)
        items, seen = [], set()
        while len(items) < n:
            it = make(rng)
            if it["question"] not in seen:
                seen.add(it["question"])
                items.append(it)
        out[name] = items
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name, items in build(args.n, args.seed).items():
        (OUT / f"{name}.jsonl").write_text("".join(json.dumps(it) + "\n" for it in items))
        print(f"{name}: {len(items)} items -> {OUT / (name + '.jsonl')}")


if __name__ == "__main__":
    main()
