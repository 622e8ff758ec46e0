"""Choose how session counts are made from the coder's probabilities, by grouped cross-validation.

Usage: python session_cv.py [--cv-dir work/cv-LABEL] [--data-dir DIR] [--out FILE]

Reads the out-of-fold probabilities cv.py keeps (fold-I-probs.npz: every transcript scored by the
model that did not see it). For each fold in turn, everything is fitted on the other folds' utterances
and measured on the fold's own transcripts, counting as mitool-core/src/score.rs counts: per MITI
volley (consecutive practitioner utterances) the chance of a question, a reflection and a complex
reflection is 1 - prod(1 - p) over its utterances; open or closed counted whole. Methods:

  whole     the codes (calibrated probability at 0.5) counted as 0 or 1
  expected  Platt-calibrated probabilities (calibrate.py's events and features), as mitool ships
  shifted   expected, each event's intercept moved by the offset that minimises the other folds'
            session MAE (question and reflection for R:Q, then complex for %CR; grid of 0.25)
  snapped   expected, but a probability within m of 0 or 1 counts as 0 or 1 (m = 0 is expected,
            0.5 is whole); m the other folds' smallest R:Q + %CR MAE (grid of 0.05). Small chances
            add up over long volleys of advice in low-quality sessions; snapping stops that.
  mixed     questions and reflections counted whole (the codes), complex given a reflection as its
            calibrated probability: R:Q from the codes, %CR from expected counts.

Gold: the same volley counting on the plurality of the annotators (calibrate.gold). Reported per
method: MAE of R:Q, %CR and %OQ (mean and sd across folds), the signed R:Q error by MI quality and
the R:Q ROC AUC for high vs low quality pooled over the folds.
"""
import argparse
import json
import os
from collections import defaultdict

import numpy as np
from sklearn.metrics import roc_auc_score

from calibrate import EVENTS, conditional, fit_rows, gold, oof_rows
from common import DEFAULT_DATA, HERE, build_utterances, jdump, load_full
from cv import make_folds, mean_sd

MEASURES = ["r_to_q", "pct_complex_reflections", "pct_open_questions"]
SHIFTS = np.round(np.arange(-1.5, 1.51, 0.25), 2)
SNAPS = np.round(np.arange(0.0, 0.51, 0.05), 2)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def snapped(p, margin):
    """A probability within `margin` of 0 or 1 counts as that: 0 keeps it, 0.5 is the code itself."""
    if margin >= 0.5:
        return float(p > 0.5)
    return 0.0 if p < margin else 1.0 if p > 1 - margin else p


def chances(rows, cal, shift=None, snap=None):
    """Per utterance: (question, open, reflection, complex) as score.rs's Chances.
    shift and snap: per event, an intercept offset and a snapping margin (default 0)."""
    shift, snap = shift or {}, snap or {}
    out = []
    for r in rows:
        p = {e: snapped(float(sigmoid(cal[e][0] * r["x"][e] + cal[e][1] + shift.get(e, 0.0))), snap.get(e, 0.0))
             for e in EVENTS}
        out.append((p["question"], p["open"] > 0.5, p["reflection"], p["complex"]))
    return out


def gold_chances(rows):
    out = []
    for r in rows:
        g = r["g"]
        # No subtype (a question only by its exists flag): neither open nor closed, as score.rs.
        out.append((float(g["question"]), g["open"], float(g["reflection"]), float(bool(g["complex"]))))
    return out


def session(rows, ch):
    """R:Q, %CR, %OQ per transcript from per-utterance chances, counted per volley."""
    by_t = defaultdict(list)
    for r, c in zip(rows, ch):
        by_t[r["t"]].append((r["n"], c))
    out = {}
    for t, lst in by_t.items():
        lst.sort()
        Q = OQ = CQ = R = CR = 0.0
        i = 0
        while i < len(lst):
            # A volley: practitioner utterances with consecutive utterance ids (no client turn between).
            j = i + 1
            while j < len(lst) and lst[j][0] == lst[j - 1][0] + 1:
                j += 1
            no_q = no_open = no_known_q = no_r = no_cr = 1.0
            for _, (q, is_open, r, c) in lst[i:j]:
                no_q *= 1 - q
                if is_open is not None:
                    no_open *= 1 - (q if is_open else 0.0)
                    no_known_q *= 1 - q
                no_r *= 1 - r
                no_cr *= 1 - r * c
            Q += 1 - no_q
            OQ += 1 - no_open
            CQ += no_open - no_known_q
            R += 1 - no_r
            CR += 1 - no_cr
            i = j
        out[t] = {"r_to_q": R / Q if Q > 1e-9 else None,
                  "pct_complex_reflections": CR / R if R > 1e-9 else None,
                  "pct_open_questions": OQ / (OQ + CQ) if OQ + CQ > 1e-9 else None}
    return out


def mae(est, ref, m):
    e = [abs(est[t][m] - ref[t][m]) for t in est if est[t][m] is not None and ref[t][m] is not None]
    return float(np.mean(e)) if e else None


def best_shift(rows, cal, ref):
    """Offsets on the training folds: (question, reflection) for R:Q MAE, then complex for %CR MAE."""
    best = None
    for dq in SHIFTS:
        for dr in SHIFTS:
            err = mae(session(rows, chances(rows, cal, {"question": dq, "reflection": dr})), ref, "r_to_q")
            if best is None or err < best[0] - 1e-12:
                best = (err, dq, dr)
    _, dq, dr = best
    best_c = None
    for dc in SHIFTS:
        s = {"question": dq, "reflection": dr, "complex": dc}
        err = mae(session(rows, chances(rows, cal, s)), ref, "pct_complex_reflections")
        if best_c is None or err < best_c[0] - 1e-12:
            best_c = (err, dc)
    return {"question": float(dq), "reflection": float(dr), "complex": float(best_c[1])}


def best_snap(rows, cal, ref):
    """The snapping margin with the smallest R:Q MAE + %CR MAE on these rows."""
    def err(m):
        est = session(rows, chances(rows, cal, snap=dict.fromkeys(EVENTS, m)))
        return mae(est, ref, "r_to_q") + mae(est, ref, "pct_complex_reflections")
    return float(min(SNAPS, key=err))


AWARE = ["question", "reflection"]


def aware_features(rows):
    """Per utterance: its own event logits, then what the session around it looks like (the share of
    advice and information and of reflections the coder sees in the whole session, and its length).
    Why: invented reflections are advice phrased as "you ..." and crowd in sessions full of advice."""
    by_t = defaultdict(list)
    for r in rows:
        by_t[r["t"]].append(r)
    sess = {t: (np.mean([r["input"] for r in lst]), np.mean([sigmoid(r["x"]["reflection"]) for r in lst]),
                np.log(len(lst))) for t, lst in by_t.items()}
    return np.array([[r["x"]["question"], r["x"]["reflection"], *sess[r["t"]]] for r in rows])


def fit_aware(rows):
    from sklearn.linear_model import LogisticRegression
    x = aware_features(rows)
    models = {}
    for e in AWARE:
        keep = [i for i, r in enumerate(rows) if conditional(e, r["g"])]
        y = [bool(rows[i]["g"][e]) for i in keep]
        models[e] = LogisticRegression(C=1.0, max_iter=1000).fit(x[keep], y)
    return models


def aware_chances(rows, cal, models):
    """mixed, with question and reflection decided by the session-aware models."""
    base = chances(rows, cal, snap={"question": 0.5, "reflection": 0.5})
    x = aware_features(rows)
    pq = models["question"].predict_proba(x)[:, 1]
    pr = models["reflection"].predict_proba(x)[:, 1]
    return [(float(q > 0.5), o, float(r > 0.5), c) for (_, o, _, c), q, r in zip(base, pq, pr)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv-dir", required=True)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out")
    ap.add_argument("--transcripts", choices=["all", "train"], default="all",
                    help="train: leave the 22 dev transcripts out, so they can check the choice")
    args = ap.parse_args()
    full = load_full(args.data_dir)
    rows = oof_rows(args.cv_dir, build_utterances(full))
    if args.transcripts == "train":
        train_ids = set(json.load(open(os.path.join(HERE, "split.json")))["train_transcripts"])
        rows = [r for r in rows if r["t"] in train_ids]
    _, quality = make_folds(full, 5)
    folds = sorted({r["fold"] for r in rows})
    ref = session(rows, gold_chances(rows))
    methods = ("whole", "expected", "shifted", "snapped", "mixed", "aware")
    per_fold = {m: {k: [] for k in MEASURES} for m in methods}
    pooled = {m: {} for m in methods}
    shifts = []
    for f in folds:
        train = [r for r in rows if r["fold"] != f]
        test = [r for r in rows if r["fold"] == f]
        cal = fit_rows(train)
        ref_train = session(train, gold_chances(train))
        shift = best_shift(train, cal, ref_train)
        snap = best_snap(train, cal, ref_train)
        shifts.append({"fold": f, "platt": cal, "shift": shift, "snap": snap})
        settings = {"whole": {"snap": dict.fromkeys(EVENTS, 0.5)}, "expected": {}, "shifted": {"shift": shift},
                    "snapped": {"snap": dict.fromkeys(EVENTS, snap)},
                    "mixed": {"snap": {"question": 0.5, "reflection": 0.5}}}
        aware = fit_aware(train)
        for m in methods:
            est = session(test, aware_chances(test, cal, aware) if m == "aware" else
                          chances(test, cal, **settings[m]))
            pooled[m].update(est)
            for k in MEASURES:
                per_fold[m][k].append(mae(est, ref, k))
    out = {"cv_dir": os.path.relpath(os.path.abspath(args.cv_dir), HERE), "folds": folds,
           "transcripts": args.transcripts,
           "n_transcripts": len(ref), "fitted_per_fold": shifts, "methods": {}}
    ts = sorted(ref)
    for m in methods:
        est = pooled[m]
        ok = [t for t in ts if est[t]["r_to_q"] is not None]
        bias = {q: float(np.mean([est[t]["r_to_q"] - ref[t]["r_to_q"] for t in ok
                                  if quality[t] == q and ref[t]["r_to_q"] is not None]))
                for q in ("high", "low")}
        out["methods"][m] = {**{k: mean_sd(per_fold[m][k]) for k in MEASURES},
                             "r_to_q_auc_high_vs_low": float(roc_auc_score(
                                 [quality[t] == "high" for t in ok], [est[t]["r_to_q"] for t in ok])),
                             "r_to_q_bias": bias, "n": len(ok),
                             # Low-quality sessions (few reflections) apart: where invented
                             # reflections move R:Q most.
                             "r_to_q_mae_by_quality": {q: float(np.mean(
                                 [abs(est[t]["r_to_q"] - ref[t]["r_to_q"]) for t in ok
                                  if quality[t] == q and ref[t]["r_to_q"] is not None])) for q in ("high", "low")}}
    ok = [t for t in ts if ref[t]["r_to_q"] is not None]
    out["human_r_to_q_auc_high_vs_low"] = float(roc_auc_score(
        [quality[t] == "high" for t in ok], [ref[t]["r_to_q"] for t in ok]))
    if args.out:
        jdump(out, args.out)
    print("| counting | R:Q MAE | %CR MAE | %OQ MAE | R:Q AUC | R:Q bias high / low | R:Q MAE high / low |\n"
          "|---|---|---|---|---|---|---|")
    for m, r in out["methods"].items():
        cells = [f"{r[k]['mean']:.3f} ± {r[k]['sd']:.3f}" if r[k] and r[k]["sd"] is not None else
                 (f"{r[k]['mean']:.3f}" if r[k] else "-") for k in MEASURES]
        print(f"| {m} | " + " | ".join(cells) + f" | {r['r_to_q_auc_high_vs_low']:.3f} | "
              f"{r['r_to_q_bias']['high']:+.2f} / {r['r_to_q_bias']['low']:+.2f} | "
              f"{r['r_to_q_mae_by_quality']['high']:.2f} / {r['r_to_q_mae_by_quality']['low']:.2f} |")
    print(f"human R:Q AUC {out['human_r_to_q_auc_high_vs_low']:.3f}; shifts per fold: "
          + "; ".join(f"{s['fold']}: " + ", ".join(f"{k} {v:+.2f}" for k, v in s["shift"].items())
                     + f", snap {s['snap']:.2f}" for s in shifts))


if __name__ == "__main__":
    main()
