"""Calibrate the shipped coder's MITI event probabilities (Platt scaling) on the dev split.

Usage: python calibrate.py [--data-dir DIR] [--half all|tune|held] [--out FILE]
       python calibrate.py --from-cv work/cv [--data-dir DIR] [--out FILE]

Why: session summaries (R:Q, %CR, %OQ) from arg-max labels are biased: many 40%-confident
reflections are counted as none and 60%-confident ones as whole reflections. mitool sums
calibrated probabilities per volley instead (mitool-core/src/score.rs). Four binary events per
practitioner utterance, each from the shipped int8 model run on one utterance at a time, as mitool
runs it:

  question   logit(max(therapist_main[question], exists[question_exists]))    gold: a question in it
  reflection logit(max(therapist_main[reflection], exists[reflection_exists])) gold: a reflection in it
  open       logit(P(question_open) / (P(question_open) + P(question_closed)))  gold: open | question
  complex    logit(P(reflection_complex) / (P(simple) + P(complex)))            gold: complex | reflection

Each gets p = sigmoid(a * logit + b), a and b by maximum likelihood on the chosen dev transcripts
(gold: plurality of annotators as in the card; a question or reflection "in it" when it is the
main behaviour or its exists flag is set). --half tune|held fits on alternate dev transcripts (the
validity harness's halves) so the other half measures what calibration does on transcripts it did
not see. --from-cv fits on the out-of-fold probabilities cv.py kept for the 84 training transcripts
instead (each scored by a model of the same recipe that never saw it; fp32): four times the data, 14
low-quality transcripts instead of 4, and none of the 22 dev transcripts, so session_eval.py measures
the shipped model with it on transcripts neither saw.
"""
import argparse
import glob
import json
import math
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import onnxruntime as ort
from scipy.optimize import minimize
from tokenizers import Tokenizer

from common import (DEFAULT_DATA, EXISTS, FINE, HERE, MAIN, build_utterances, encode_pair,
                    jdump, load_full, plurality)

EVENTS = ["question", "reflection", "open", "complex"]


def logit(p):
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def features(main, fine, exists):
    q = max(main[MAIN.index("question")], exists[EXISTS.index("question_exists")])
    r = max(main[MAIN.index("reflection")], exists[EXISTS.index("reflection_exists")])
    o, c = fine[FINE.index("question_open")], fine[FINE.index("question_closed")]
    s, x = fine[FINE.index("reflection_simple")], fine[FINE.index("reflection_complex")]
    return {"question": logit(q), "reflection": logit(r), "open": logit(o / max(o + c, 1e-9)),
            "complex": logit(x / max(s + x, 1e-9))}


def gold(u):
    """Gold events of one practitioner utterance (None where the annotators give no answer)."""
    ann = u["ann"]
    main = plurality([a["main"] for a in ann], MAIN)
    ex = [a["exists"] for a in ann if all(e is not None for e in a["exists"])]
    flags = np.mean(np.array(ex, dtype=float), axis=0) > 0.5 if ex else [False] * 3
    fine = plurality([a["fine"] for a in ann], FINE)
    return {
        "question": main == "question" or bool(flags[0]),
        "reflection": main == "reflection" or bool(flags[1]),
        "open": {"question_open": True, "question_closed": False}.get(fine),
        "complex": {"reflection_complex": True, "reflection_simple": False}.get(fine),
    }


def csv_probs(path):
    from topk import read_probs
    t, n, probs = read_probs(path)
    return {"transcript_id": t, "utterance_id": n, **probs}


def oof_rows(cv_dir, utts):
    """Practitioner utterances with cv.py's out-of-fold features, gold events, fold and MI quality."""
    by_key = {(u["transcript_id"], u["utterance_id"]): u for u in utts}
    rows = []
    paths = sorted(glob.glob(os.path.join(cv_dir, "fold-*-probs.npz")))
    # A runs/<label>/ folder (from git) keeps the same probabilities as CSV.
    paths = paths or sorted(glob.glob(os.path.join(cv_dir, "fold-*-probs.csv")))
    for path in paths:
        fold = int(os.path.basename(path).split("-")[1])
        z = np.load(path) if path.endswith(".npz") else csv_probs(path)
        for i, (t, n) in enumerate(zip(z["transcript_id"], z["utterance_id"])):
            u = by_key[(int(t), int(n))]
            if u["role"] != "therapist" or not u["text"]:
                continue
            rows.append({"fold": fold, "t": int(t), "n": int(n), "q": u["mi_quality"],
                         "x": features(z["therapist_main"][i], z["therapist_fine"][i], z["exists"][i]),
                         "input": float(z["therapist_main"][i][MAIN.index("therapist_input")]),
                         "g": gold(u)})
    return rows


def conditional(e, g):
    """Whether an event's gold counts: open and complex only where the question or reflection is there."""
    if g[e] is None:
        return False
    return not (e == "open" and not g["question"] or e == "complex" and not g["reflection"])


def fit_rows(rows):
    """Platt scaling of every event on rows with features x and gold g: {event: [a, b]}."""
    return {e: fit(*zip(*[(r["x"][e], r["g"][e]) for r in rows if conditional(e, r["g"])])) for e in EVENTS}


def calibration(rows, model_version, fitted_on):
    """calibration.json's content for Platt scaling fitted on these rows."""
    ab = fit_rows(rows)
    return {"method": "platt", "model_version": model_version, "fitted_on": fitted_on,
            "formula": "p = 1 / (1 + exp(-(a * logit(x) + b))), x per event as in calibrate.py",
            "events": {e: {"a": ab[e][0], "b": ab[e][1], "n": sum(conditional(e, r["g"]) for r in rows),
                           "positives": sum(bool(r["g"][e]) for r in rows if conditional(e, r["g"]))}
                       for e in EVENTS}}


def fit(x, y):
    """Platt scaling: a, b maximising the likelihood of y under sigmoid(a x + b)."""
    x, y = np.asarray(x, float), np.asarray(y, float)

    def nll(w):
        z = w[0] * x + w[1]
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    res = minimize(nll, [1.0, 0.0], method="BFGS")
    return [round(float(v), 4) for v in res.x]


def dev_halves():
    """The dev transcript ids, sorted, and each one's half as benches/validity splits them."""
    with open(os.path.join(HERE, "split.json")) as fh:
        dev = sorted(int(t) for t in json.load(fh)["dev_transcripts"])
    return dev, {t: ("tune" if i % 2 == 0 else "held") for i, t in enumerate(dev)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--half", choices=["all", "tune", "held"], default="all")
    ap.add_argument("--from-cv", help="fit on cv.py's out-of-fold probabilities of the training transcripts")
    ap.add_argument("--out", default=os.path.join(HERE, "calibration.json"))
    args = ap.parse_args()
    model_version = json.load(open(os.path.join(HERE, "labels.json")))["model_version"]
    if args.from_cv:
        with open(os.path.join(HERE, "split.json")) as fh:
            train = set(int(t) for t in json.load(fh)["train_transcripts"])
        rows = [r for r in oof_rows(args.from_cv, build_utterances(load_full(args.data_dir))) if r["t"] in train]
        out = calibration(rows, model_version, {
            "half": "cv-train", "transcripts": sorted({r["t"] for r in rows}), "practitioner_utterances": len(rows),
            "probabilities": f"out-of-fold, cv.py ({os.path.basename(os.path.normpath(args.from_cv))}), fp32"})
        jdump(out, args.out)
        print(json.dumps(out["events"]))
        return

    dev, halves = dev_halves()
    chosen = [t for t in dev if args.half == "all" or halves[t] == args.half]

    utts = [u for u in build_utterances(load_full(args.data_dir))
            if u["transcript_id"] in chosen and u["role"] == "therapist"]
    tok = Tokenizer.from_file(os.path.join(HERE, "tokenizer.json"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(os.path.join(HERE, "coder.onnx"), so,
                                providers=["CPUExecutionProvider"])
    rows = []
    for u in utts:
        if not u["text"]:
            continue
        ids, tt = encode_pair(tok, u["a"], u["b"])
        # One utterance per run, unpadded: the int8 model's activation scales
        # depend on the batch, and mitool runs each utterance alone.
        feed = {"input_ids": np.array([ids], np.int64),
                "attention_mask": np.ones((1, len(ids)), np.int64),
                "token_type_ids": np.array([tt], np.int64)}
        main_p, fine_p, exists_p = sess.run(["therapist_main", "therapist_fine", "exists"], feed)
        rows.append({"x": features(main_p[0], fine_p[0], exists_p[0]), "g": gold(u)})
    out = calibration(rows, model_version, {"half": args.half, "transcripts": chosen,
                                            "practitioner_utterances": len(utts)})
    jdump(out, args.out)
    print(json.dumps(out["events"]))


if __name__ == "__main__":
    main()
