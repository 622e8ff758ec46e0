"""Average recipes' out-of-fold probabilities and score the average like one fold of cv.py.

Usage: python ensemble_cv.py minilm-pair minilm-wide [--weights 0.5,0.5] [--data-dir DIR]

Reads runs/<label>/fold-I-probs.csv for every label (folds done by all of them), averages each head's
probabilities with the weights and prints macro-F1 per head, mean and sd across folds, next to each
recipe alone on the same folds. Nothing is fitted: the weights are given, so the figures are as
out-of-fold as the recipes' own.
"""
import argparse
import os

import numpy as np

from common import DEFAULT_DATA, HERE, build_utterances, load_full, targets
from cv import TASKS, mean_sd
from export_eval import OUT_NAMES, evaluate
from topk import read_probs


def fold_probs(label):
    run_dir = os.path.join(HERE, "runs", label)
    out = {}
    for i in range(5):
        path = os.path.join(run_dir, f"fold-{i}-probs.csv")
        if os.path.exists(path):
            t, n, probs = read_probs(path)
            out[i] = ({(int(a), int(b)): j for j, (a, b) in enumerate(zip(t, n))}, probs)
    return out


def score(utts, keyed, weights):
    """Macro-F1 per head of the weighted average of several recipes' probabilities on one fold."""
    keys = [(u["transcript_id"], u["utterance_id"]) for u in utts]
    avg = {}
    for h in OUT_NAMES:
        avg[h] = sum(w * probs[h][[index[k] for k in keys]] for w, (index, probs) in zip(weights, keyed))
    res = evaluate(avg, utts)
    return {h: res[h]["macro_f1"] for h in TASKS}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", nargs="+")
    ap.add_argument("--weights")
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    args = ap.parse_args()
    weights = [float(w) for w in args.weights.split(",")] if args.weights else [1 / len(args.labels)] * len(args.labels)
    assert len(weights) == len(args.labels), "one weight per label"
    utts = build_utterances(load_full(args.data_dir))
    for u in utts:
        u.update(targets(u))
    runs = {lab: fold_probs(lab) for lab in args.labels}
    folds = sorted(set.intersection(*(set(r) for r in runs.values())))
    rows = {lab: [] for lab in args.labels}
    rows["average"] = []
    for i in folds:
        index = runs[args.labels[0]][i][0]
        test = [u for u in utts if (u["transcript_id"], u["utterance_id"]) in index]
        for lab in args.labels:
            rows[lab].append(score(test, [runs[lab][i]], [1.0]))
        rows["average"].append(score(test, [runs[lab][i] for lab in args.labels], weights))
    print(f"folds {folds}; weights {dict(zip(args.labels, weights))}")
    print("| recipe | " + " | ".join(TASKS) + " |")
    print("|---|" + "---|" * len(TASKS))
    for name, fs in rows.items():
        cells = []
        for h in TASKS:
            m = mean_sd([f[h] for f in fs])
            cells.append(f"{m['mean']:.3f} ± {m['sd'] or 0:.3f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for i, f in zip(folds, rows["average"]):
        print(f"fold {i}, average: " + ", ".join(f"{h} {f[h]:.3f}" for h in TASKS))


if __name__ == "__main__":
    main()
