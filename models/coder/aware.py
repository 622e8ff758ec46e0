"""Fit the session-aware count that mitool ships (session_aware.json), from a recipe's out-of-fold
probabilities (runs/<recipe>/, cv.py), on the training transcripts only (the 22 dev transcripts that
session_eval.py and benches/validity measure on are left out).

Usage: python aware.py --cv-dir runs/minilm-pair [--data-dir DIR] [--out session_aware.json]

Why: the coder, utterance by utterance, calls advice phrased as "you ..." a reflection, and such
utterances crowd in low-quality sessions, whose R:Q it then over-counts. The session-aware count
re-decides "is there a question" and "is there a reflection" in each practitioner utterance by a
logistic regression on the utterance's own two logits and on what the whole session looks like:
the mean P(giving information or advice) from the main head, the mean P(reflection) and the log
of the number of practitioner utterances. session_cv.py --cv-dir ... chooses it against the other
counts by grouped CV (method "aware"); mitool-core/src/code.rs applies it per session.
"""
import argparse
import json
import os

from calibrate import oof_rows
from common import DEFAULT_DATA, HERE, build_utterances, jdump, load_full
from session_cv import AWARE, fit_aware

FEATURES = ["logit_own_question", "logit_own_reflection", "session_mean_p_input",
            "session_mean_p_reflection", "session_ln_practitioner_utterances"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv-dir", required=True)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--out", default=os.path.join(HERE, "session_aware.json"))
    args = ap.parse_args()
    full = load_full(args.data_dir)
    rows = oof_rows(args.cv_dir, build_utterances(full))
    train_ids = set(json.load(open(os.path.join(HERE, "split.json")))["train_transcripts"])
    rows = [r for r in rows if r["t"] in train_ids]
    models = fit_aware(rows)
    out = {"method": "session-aware logistic regression (models/coder/aware.py)",
           "fitted_on": {"cv_dir": os.path.relpath(os.path.abspath(args.cv_dir), HERE),
                         "transcripts": "train (split.json)", "n_transcripts": len({r["t"] for r in rows}),
                         "practitioner_utterances": len(rows)},
           "features": FEATURES,
           "formula": "p = 1 / (1 + exp(-(intercept + sum(coef * feature)))); logits are of the "
                      "uncalibrated presence probability max(P(main), P(exists flag)), as calibrate.py",
           "events": {e: {"coef": [round(float(c), 6) for c in models[e].coef_[0]],
                          "intercept": round(float(models[e].intercept_[0]), 6)} for e in AWARE}}
    jdump(out, args.out)
    print(json.dumps(out["events"]))


if __name__ == "__main__":
    main()
