"""Can a different decoding of the coder's probabilities raise macro-F1? Nested grouped CV, no retraining.

Usage: python decode_cv.py [--cv-dir work/cv] [--data-dir DIR] [--out FILE]

Reads cv.py's out-of-fold probabilities (every transcript scored by the fold model that never saw it)
and compares, per head, with macro-F1 on the plurality labels as cv.py measures it:

  argmax     each utterance's most likely label (what mitool ships)
  offsets    argmax of log p + b, one offset per label (a per-class threshold), b chosen by coordinate
             ascent on the OTHER folds' utterances to maximise their macro-F1 (grid -2..2 by 0.25), then
             applied to the fold: nested, so the fold's own labels never choose its offsets
  main-gated fine (9-way) only: the fine label times the main head's probability of its group
             (question, reflection, input, other), p_fine * p_main^w for w in 0.5, 1, 2, and the fine
             label restricted to the main head's arg-max group
  main-from-fine main (4-way) only: the main label from the fine head's probabilities summed per group,
             and from the average of the two

Why: the fine head and the client head are the weakest (issue #15); if the class weighting left
their labels mis-balanced, thresholds would recover F1 for free. Reported: mean and sd across folds.
"""
import argparse
import glob
import os

import numpy as np
from sklearn.metrics import f1_score

from common import CLIENT, DEFAULT_DATA, FINE, HERE, MAIN, build_utterances, jdump, load_full, targets
from cv import mean_sd

GRID = np.round(np.arange(-2.0, 2.01, 0.25), 2)
# The fine labels' main behaviour.
GROUP = {"question_open": "question", "question_closed": "question", "reflection_simple": "reflection",
         "reflection_complex": "reflection", "input_information": "therapist_input",
         "input_advice": "therapist_input", "input_negotiation": "therapist_input",
         "input_options": "therapist_input", "other": "other"}
HEADS = [("therapist_main", "main", MAIN, "therapist"), ("therapist_fine", "fine", FINE, "therapist"),
         ("client_talk", "client", CLIENT, "client")]


def macro_f1(y, pred, k):
    return float(f1_score(y, pred, average="macro", labels=list(range(k)), zero_division=0))


def best_offsets(logp, y, k, rounds=3):
    """Per-label additive offsets to log p maximising macro-F1 (coordinate ascent over GRID)."""
    b = np.zeros(k)
    best = macro_f1(y, logp.argmax(1), k)
    for _ in range(rounds):
        for c in range(k):
            for g in GRID:
                trial = b.copy()
                trial[c] = g
                s = macro_f1(y, (logp + trial).argmax(1), k)
                if s > best + 1e-9:
                    best, b = s, trial
    return b


def load_folds(cv_dir, utts):
    """Per fold: {head: (probabilities of every head, labels)} on the utterances that have a label."""
    by_key = {(u["transcript_id"], u["utterance_id"]): u for u in utts}
    folds = []
    for path in sorted(glob.glob(os.path.join(cv_dir, "fold-*-probs.npz"))):
        z = np.load(path)
        us = [by_key[(int(t), int(n))] for t, n in zip(z["transcript_id"], z["utterance_id"])]
        fold = {}
        for head, key, labels, role in HEADS:
            idx = [i for i, u in enumerate(us) if u["role"] == role and u[key] is not None]
            fold[head] = ({h: z[h][idx] for h in z.files if h.startswith(("therapist", "client"))},
                          np.array([labels.index(us[i][key]) for i in idx]))
        folds.append(fold)
    return folds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv-dir", default=os.path.join(HERE, "work", "cv"))
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "decode_cv.json"))
    args = ap.parse_args()
    utts = build_utterances(load_full(args.data_dir))
    for u in utts:
        u.update(targets(u))
    folds = load_folds(args.cv_dir, utts)
    g = np.array([[float(GROUP[f] == m) for m in MAIN] for f in FINE])  # fine label -> its main group
    log = lambda p: np.log(np.clip(p, 1e-9, 1.0))
    out = {"cv_dir": os.path.relpath(os.path.abspath(args.cv_dir), HERE), "folds": len(folds), "heads": {}}
    for head, _, labels, _ in HEADS:
        k = len(labels)
        scores = {"argmax": [], "offsets": []}
        for i, fold in enumerate(folds):
            p, y = fold[head]
            others = [f[head] for j, f in enumerate(folds) if j != i]
            b = best_offsets(np.concatenate([log(o[0][head]) for o in others]),
                             np.concatenate([o[1] for o in others]), k)
            scores["argmax"].append(macro_f1(y, p[head].argmax(1), k))
            scores["offsets"].append(macro_f1(y, (log(p[head]) + b).argmax(1), k))
            if head == "therapist_fine":
                pm = p["therapist_main"] @ g.T  # each fine label's group probability
                for w in (0.5, 1, 2):
                    scores.setdefault(f"main-gated w={w}", []).append(
                        macro_f1(y, (log(p[head]) + w * log(pm)).argmax(1), k))
                top = pm == pm.max(1, keepdims=True)
                scores.setdefault("restricted to main's group", []).append(macro_f1(y, (p[head] * top).argmax(1), k))
            if head == "therapist_main":
                pf = p["therapist_fine"] @ g
                scores.setdefault("main from fine", []).append(macro_f1(y, pf.argmax(1), k))
                scores.setdefault("main + fine averaged", []).append(macro_f1(y, (pf + p[head]).argmax(1), k))
        out["heads"][head] = {m: {**mean_sd(v), "per_fold": [round(x, 4) for x in v]} for m, v in scores.items()}
    jdump(out, args.out)
    print("| head | decoding | macro-F1, mean ± sd across folds |\n|---|---|---|")
    for head, r in out["heads"].items():
        for m, s in r.items():
            print(f"| {head} | {m} | {s['mean']:.3f} ± {s['sd']:.3f} |")


if __name__ == "__main__":
    main()
