"""Train the framing tab's relevance and tone classifiers on assets/framing/annotations.csv.

Logistic regression (scikit-learn) on normalised sentence embeddings from the registry's embedder.
The models are loaded once here and passed to the framing functions.
The regularisation strength is chosen by an inner cross-validation (LogisticRegressionCV), and the
reported accuracy comes from an outer stratified 5-fold cross-validation around that whole procedure,
so the choice of C does not flatter the figure. The zero-shot comparison (causal LM, label
likelihood) is scored on the same relevant segments. Writes assets/framing/classifier.json
(coefficients plus every figure reported) and prints a summary.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/train_framing_classifiers.py [--no-zero-shot]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from backends import framing as F  # noqa: E402

CS = [0.25, 1.0, 4.0, 16.0, 64.0]
SEED = 0
LABELLED_BY = ("one annotator, following GUIDELINES.md; no inter-annotator agreement measured; "
               "a demonstration set, not a gold standard")


def _estimator(balanced: bool):
    from sklearn.linear_model import LogisticRegressionCV

    return LogisticRegressionCV(Cs=CS, cv=4, max_iter=5000, class_weight="balanced" if balanced else None,
                                scoring="accuracy")


def cross_validate(X: np.ndarray, y: np.ndarray, *, balanced: bool, folds: int = 5) -> dict:
    """Outer stratified k-fold predictions: accuracy, majority baseline, macro F1, confusion matrix."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)
    pred = cross_val_predict(_estimator(balanced), X, y, cv=cv)
    labels = sorted(set(y.tolist()), key=str)
    values, counts = np.unique(y, return_counts=True)
    return {"accuracy": float(accuracy_score(y, pred)), "macro_f1": float(f1_score(y, pred, average="macro")),
            "majority_baseline": float(counts.max() / counts.sum()), "n": int(len(y)), "folds": folds,
            "labels": [str(x) for x in labels],
            "confusion": confusion_matrix(y, pred, labels=labels).tolist(),  # rows: true, columns: predicted
            "predictions": [str(p) for p in pred]}


def fit(X: np.ndarray, y: np.ndarray, *, balanced: bool) -> dict:
    est = _estimator(balanced).fit(X, y)
    classes = est.classes_.tolist()
    return {"coef": est.coef_.tolist(), "intercept": est.intercept_.tolist(),
            "classes": [int(c) if isinstance(c, (int, np.integer)) else str(c) for c in classes],
            "C": float(np.atleast_1d(est.C_)[0])}


def zero_shot_eval(texts: list[str], y: np.ndarray, lm) -> dict:
    """Zero-shot tone of the causal LM ``lm`` (a LoadedModel) against the labels ``y``."""
    from sklearn.metrics import accuracy_score, confusion_matrix

    t0 = time.perf_counter()
    P = F.zero_shot_tone(texts, lm=lm)
    raw = np.array([F.TONES[j] for j in P.argmax(1)])
    # Contextual calibration: divide out the model's average preference for each label word.
    logp = np.log(P + 1e-12)
    cal = np.array([F.TONES[j] for j in (logp - logp.mean(0)).argmax(1)])
    return {"accuracy": float(accuracy_score(y, raw)), "calibrated_accuracy": float(accuracy_score(y, cal)),
            "labels": list(F.TONES), "confusion": confusion_matrix(y, raw, labels=list(F.TONES)).tolist(),
            "confusion_calibrated": confusion_matrix(y, cal, labels=list(F.TONES)).tolist(),
            "mean_probs": P.mean(0).round(4).tolist(), "seconds": round(time.perf_counter() - t0, 1),
            "prompt": F.ZERO_SHOT_PROMPT}


def add_zero_shot() -> dict:
    """Zero-shot tone of the chat slot's model on the relevant annotated segments, stored per model."""
    ann = pd.read_csv(F.ANNOTATIONS_PATH)
    rel = ann["relevant"].astype(bool).to_numpy()
    out = json.loads(F.CLASSIFIER_PATH.read_text(encoding="utf-8"))
    lm = F.load_model(None, F.LM_SLOT)
    model = lm.name
    z = zero_shot_eval(ann.loc[rel, "text"].tolist(), ann.loc[rel, "tone"].astype(str).to_numpy(), lm)
    z["model"] = model
    out.setdefault("zero_shot_models", {})[model] = z
    F.CLASSIFIER_PATH.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"zero-shot tone ({model}) on {int(rel.sum())} relevant segments: accuracy {z['accuracy']:.3f}, calibrated "
          f"{z['calibrated_accuracy']:.3f} ({z['seconds']} s); confusion {z['labels']}: {z['confusion']}; "
          f"trained classifier (CV) {out['tone']['cv']['accuracy']:.3f}")
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-zero-shot", action="store_true")
    ap.add_argument("--zero-shot-only", action="store_true",
                    help="keep the classifiers; add the zero-shot tone of the chat slot's model under zero_shot_models")
    ap.add_argument("--profile", default=None, help="model profile whose chat model runs the zero-shot tone")
    args = ap.parse_args(argv)
    from backends.models import configure

    if args.profile:
        configure(args.profile)
    if args.zero_shot_only:
        return add_zero_shot()

    ann = pd.read_csv(F.ANNOTATIONS_PATH)
    t0 = time.perf_counter()
    emb = F.load_model(None, F.EMBED_SLOT)
    E = F.embed(ann["text"].tolist(), embedder=emb)
    t_embed = time.perf_counter() - t0
    y_rel = ann["relevant"].astype(int).to_numpy()
    rel = ann["relevant"].astype(bool).to_numpy()
    y_tone = ann.loc[rel, "tone"].astype(str).to_numpy()
    out = {"trained": time.strftime("%Y-%m-%d"), "embedder": emb.name,
           "annotations": {"n": int(len(ann)), "relevant": int(rel.sum()),
                           "tone_counts": pd.Series(y_tone).value_counts().to_dict(),
                           "labelled_by": LABELLED_BY},
           "embed_seconds": round(t_embed, 1)}
    t0 = time.perf_counter()
    out["relevance"] = {**fit(E, y_rel, balanced=True), "cv": cross_validate(E, y_rel, balanced=True)}
    out["tone"] = {**fit(E[rel], y_tone, balanced=True), "cv": cross_validate(E[rel], y_tone, balanced=True)}
    out["train_seconds"] = round(time.perf_counter() - t0, 1)
    if not args.no_zero_shot:
        lm = F.load_model(None, F.LM_SLOT)
        out["zero_shot"] = zero_shot_eval(ann.loc[rel, "text"].tolist(), y_tone, lm)
        out["zero_shot"]["model"] = lm.name
    for key in ("relevance", "tone"):
        out[key]["cv"].pop("predictions")
    F.CLASSIFIER_PATH.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"{len(ann)} annotated segments, {int(rel.sum())} relevant; embedding {t_embed:.1f} s, "
          f"training and cross-validation {out['train_seconds']} s")
    for key in ("relevance", "tone"):
        cv = out[key]["cv"]
        print(f"{key}: {cv['folds']}-fold CV accuracy {cv['accuracy']:.3f} (majority baseline "
              f"{cv['majority_baseline']:.3f}, macro F1 {cv['macro_f1']:.3f}), C={out[key]['C']}")
        print(f"  confusion (rows true, columns predicted) {cv['labels']}:")
        for lab, row in zip(cv["labels"], cv["confusion"]):
            print(f"    {lab:>8}: {row}")
    if "zero_shot" in out:
        z = out["zero_shot"]
        print(f"zero-shot tone ({z['model']}): accuracy {z['accuracy']:.3f}, calibrated {z['calibrated_accuracy']:.3f}"
              f" ({z['seconds']} s); confusion {z['labels']}: {z['confusion']}")
    print(f"-> {F.CLASSIFIER_PATH} ({F.CLASSIFIER_PATH.stat().st_size / 1e3:.0f} kB)")
    return out


if __name__ == "__main__":
    main()
