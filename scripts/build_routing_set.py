"""Generate the model graph's routing set: assets/model_graph/routing.jsonl (seeded, reproducible).

    .venv/bin/python scripts/build_routing_set.py [--seed 0] [--per-template 6] [--test-share 0.3]

Queries for each worker node of assets/model_graph/nodes.json, labelled with the node that should get them:

- arithmetic: bare calculations from templates, and the CoT tab's arithmetic word problems;
- code: programming requests from templates (task x language x phrasing);
- sotu: the RAG tab's State of the Union questions (assets/rag/qa.jsonl, qa-reworded.jsonl) and templated ones;
- chat: small talk, advice and creative requests from templates.

Every query belongs to a group (its template, or its source question); the held-out split takes whole groups
(about ``--test-share`` of each node's groups), so a router is tested on phrasings it never saw in training.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "model_graph" / "routing.jsonl"
COT = ROOT / "assets" / "cot" / "problems.jsonl"
QA = [ROOT / "assets" / "rag" / "qa.jsonl", ROOT / "assets" / "rag" / "qa-reworded.jsonl"]

ARITHMETIC = [
    "What is {a} + {b}?",
    "Compute {a} * {c}.",
    "How much is {a} minus {c}?",
    "What is {p}% of {a}?",
    "Calculate ({c} + {d}) * {e}.",
    "If I split {a} dollars equally among {e} people, how much does each get?",
    "What's {b} divided by {e}?",
    "Add up {c}, {d} and {a}.",
    "A shirt costs {a} dollars and is {p}% off. What is the sale price?",
    "What is the square of {c}?",
    "I drove {a} km at {c} km per hour. How many hours did it take?",
    "Multiply {d} by {e} and subtract {c}.",
]
CODE_TASKS = ["reverse a string", "check whether a number is prime", "read a CSV file and sum one column",
              "remove duplicates from a list while keeping the order", "count the words in a text file",
              "sort a list of dictionaries by a key", "parse a date string", "merge two sorted lists",
              "compute the Fibonacci numbers", "send an HTTP GET request", "flatten a nested list",
              "find the most common element of a list"]
LANGUAGES = ["Python", "JavaScript", "Bash", "Go", "Rust", "SQL"]
CODE = [
    "Write a {lang} function to {task}.",
    "How do I {task} in {lang}?",
    "Can you show me {lang} code that does this: {task}?",
    "My {lang} code to {task} throws an error. How do I fix it?",
    "What is the fastest way to {task} in {lang}?",
    "Explain this {lang} snippet: it is supposed to {task} but returns nothing.",
    "Give me a unit test for a function that should {task}.",
    "Refactor my loop that tries to {task} into idiomatic {lang}.",
    "Is there a library in {lang} to {task}?",
    "Write a one-liner to {task}.",
]
PRESIDENTS = [("George Washington", 1793), ("Thomas Jefferson", 1805), ("Abraham Lincoln", 1862),
              ("Theodore Roosevelt", 1904), ("Woodrow Wilson", 1917), ("Franklin D. Roosevelt", 1941),
              ("Harry Truman", 1947), ("John F. Kennedy", 1962), ("Lyndon Johnson", 1965), ("Ronald Reagan", 1984),
              ("Bill Clinton", 1996), ("George W. Bush", 2002), ("Barack Obama", 2010)]
TOPICS = ["the economy", "taxes", "the army", "foreign trade", "education", "the national debt", "immigration",
          "health care", "the railroads", "agriculture", "energy", "civil rights"]
SOTU = [
    "What did {pres} say about {topic} in the {year} State of the Union?",
    "In his {year} annual message, how did {pres} describe {topic}?",
    "Which policy on {topic} did {pres} propose to Congress in {year}?",
    "According to the {year} State of the Union address, what was the state of {topic}?",
    "Did {pres} mention {topic} in his address to Congress in {year}?",
    "Summarise what the president told Congress about {topic} in {year}.",
]
CHAT_FILL = {
    "thing": ["cats", "the ocean", "autumn", "coffee", "the moon", "trains", "friendship", "rainy days"],
    "activity": ["sleeping better", "learning a language", "running a first 5k", "staying focused",
                 "making new friends", "cooking on a budget", "travelling light", "starting a journal"],
}
CHAT = [
    "Tell me a joke about {thing}.",
    "Write a short poem about {thing}.",
    "Give me three tips for {activity}.",
    "Hi! I'm bored, can you suggest something fun related to {thing}?",
    "What's a nice name for a blog about {thing}?",
    "I feel nervous about {activity}. Any encouragement?",
    "Tell me a bedtime story about {thing}.",
    "Can you recommend a hobby related to {thing}?",
    "How are you today? I've been thinking about {activity}.",
    "What should I keep in mind when {activity}?",
]


def _numbers(rng: random.Random) -> dict:
    return {"a": rng.randint(12, 999), "b": rng.randint(100, 5000), "c": rng.randint(2, 60),
            "d": rng.randint(2, 60), "e": rng.randint(2, 12), "p": rng.choice([5, 10, 15, 20, 25, 30, 40, 50])}


def _from_templates(node: str, templates: list[str], fill, rng: random.Random, per_template: int) -> list[dict]:
    rows = []
    for t, template in enumerate(templates):
        seen: set[str] = set()
        for _ in range(per_template * 5):
            if len(seen) >= per_template:
                break
            q = template.format(**fill(rng))
            if q not in seen:
                seen.add(q)
                rows.append({"query": q, "node": node, "group": f"{node}-t{t:02d}", "source": "template"})
    return rows


def build(seed: int = 0, per_template: int = 6, test_share: float = 0.3) -> list[dict]:
    """The routing set: one dict per query (query, node, group, source, split), in a seeded order."""
    rng = random.Random(seed)
    rows = _from_templates("arithmetic", ARITHMETIC, _numbers, rng, per_template)
    problems = [json.loads(line) for line in COT.read_text().splitlines() if line.strip()]
    words = [p for p in problems if p.get("kind") == "arithmetic"]
    for p in rng.sample(words, min(len(words), 3 * per_template)):
        rows.append({"query": p["question"], "node": "arithmetic", "group": f"arithmetic-cot{p['template']:02d}",
                     "source": "cot"})
    rows += _from_templates("code", CODE, lambda r: {"lang": r.choice(LANGUAGES), "task": r.choice(CODE_TASKS)},
                            rng, per_template)

    def sotu_fill(r: random.Random) -> dict:
        pres, year = r.choice(PRESIDENTS)
        return {"pres": pres, "year": year, "topic": r.choice(TOPICS)}

    rows += _from_templates("sotu", SOTU, sotu_fill, rng, per_template)
    qa = [json.loads(line) for path in QA for line in path.read_text().splitlines() if line.strip()]
    for q in rng.sample(qa, min(len(qa), 6 * per_template)):
        rows.append({"query": q["question"], "node": "sotu", "group": f"sotu-{q.get('rewords', q['id'])}",
                     "source": "rag-qa"})
    rows += _from_templates("chat", CHAT, lambda r: {k: r.choice(v) for k, v in CHAT_FILL.items()}, rng,
                            per_template)
    # Hold out whole groups, about test_share of each node's.
    test_groups: set[str] = set()
    for node in sorted({r["node"] for r in rows}):
        groups = sorted({r["group"] for r in rows if r["node"] == node})
        rng.shuffle(groups)
        test_groups.update(groups[: max(1, round(test_share * len(groups)))])
    for r in rows:
        r["split"] = "test" if r["group"] in test_groups else "train"
    rng.shuffle(rows)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-template", type=int, default=6)
    ap.add_argument("--test-share", type=float, default=0.3)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    rows = build(args.seed, args.per_template, args.test_share)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r["node"], r["split"])] = counts.get((r["node"], r["split"]), 0) + 1
    print(f"wrote {len(rows)} queries to {args.out}")
    for (node, split), n in sorted(counts.items()):
        print(f"  {node:12s} {split:5s} {n}")


if __name__ == "__main__":
    main()
