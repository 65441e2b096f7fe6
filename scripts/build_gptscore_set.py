"""Build GPTScore's meta-evaluation set: assets/gptscore/meta_eval.jsonl (seeded, reproducible).

    .venv/bin/python scripts/build_gptscore_set.py [--n 24] [--seed 0]

Sources are State of the Union passages (``backends.rag.corpus.default_passages()``, about 100 words
each): a seeded sample of those with 80-140 words, whole sentences, at least one number and at least
four facts (numbers or mid-sentence names) to change. Each source gets nine damaged versions at graded
strength (``backends.gptscore.graded_hypotheses``): fluency by word shuffles and by cut sentence ends,
consistency by changed numbers and names (the replacement names come from other passages). The
judgement is the damage level, set by rule; see assets/gptscore/GUIDELINES.md.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import gptscore as G  # noqa: E402
from backends.rag.corpus import default_passages  # noqa: E402


def eligible(text: str) -> bool:
    n = len(text.split())
    spans = G.fact_spans(text)
    return (80 <= n <= 140 and text[:1].isupper() and text.rstrip()[-1:] in ".!?" and "--" not in text
            and len(spans) >= 4 and any(k == "number" for _, _, k in spans))


def name_pool(passages, seed: int, n_passages: int = 3000, min_count: int = 5) -> list[str]:
    """Mid-sentence capitalised words seen in at least ``min_count`` of a seeded sample of passages."""
    sample = random.Random(seed + 1).sample(list(passages), min(n_passages, len(passages)))
    counts = Counter(w for p in sample for w in set(re.findall(G._NAME, p.text)))
    return sorted(w for w, c in counts.items() if c >= min_count)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=24, help="number of sources")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=G.META_EVAL_PATH)
    args = ap.parse_args()
    passages = default_passages()
    names = name_pool(passages, args.seed)
    pool = [p for p in passages if eligible(p.text)]
    chosen = sorted(random.Random(args.seed).sample(pool, args.n), key=lambda p: p.pid)
    rows = []
    for i, p in enumerate(chosen):
        rows.append({"source_id": f"{p.doc}#{p.pid}", "year": p.year, "president": p.president, "source": p.text,
                     "hypotheses": G.graded_hypotheses(p.text, args.seed * 1000 + i, names)})
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} sources x {len(rows[0]['hypotheses'])} texts from {len(pool)} eligible passages "
          f"({len(names)} names in the pool) -> {args.out}")


if __name__ == "__main__":
    main()
