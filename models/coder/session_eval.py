"""Session-level error of mitool's counts on the dev split, calibration fitted on the other half.

Usage: python session_eval.py --mitool BIN [--data-dir DIR] [--from-cv work/cv] [--out FILE]
       (calibrate.sh's venv; writes session_eval.json unless --out)

The dev transcripts are split as the validity harness splits them (alternate ids: tune / held).
For each half, calibrate.py fits calibration.json on the *other* half; mitool (the given binary,
with a copy of this model folder holding that calibration) codes the half's transcripts and scores
them (a) as shipped, with the probability columns (score.rs counts complex reflections in part),
and (b) from the same codes counted whole (the probability columns dropped). Both are compared with `mitool score` on the
human codes (first annotator, as mitool reads AnnoMI): mean absolute error of R:Q, %CR and %OQ,
and the R:Q ROC AUC for high vs low MI quality over all 22 transcripts. With --from-cv both halves
get the calibration fitted on cv.py's out-of-fold probabilities of the training transcripts
(`calibrate.py --from-cv`), which saw neither half.
"""
import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile

from calibrate import dev_halves
from common import DEFAULT_DATA, HERE, jdump, load_full

MEASURES = ["r_to_q", "pct_complex_reflections", "pct_open_questions"]


def run(*cmd, env=None):
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def read_sessions(path):
    with open(path, newline="") as fh:
        return {r["session_id"]: r for r in csv.DictReader(fh)}


def mae(est, human, ids, key):
    e = [abs(float(est[i][key]) - float(human[i][key])) for i in ids
         if est[i][key] and human[i][key]]
    return {"mae": round(sum(e) / len(e), 3) if e else None, "n": len(e)}


def auc(scores, quality, key="r_to_q"):
    pos = [float(scores[i][key]) for i in scores if quality[i] == "high" and scores[i][key]]
    neg = [float(scores[i][key]) for i in scores if quality[i] == "low" and scores[i][key]]
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in pos for n in neg]
    return round(sum(pairs) / len(pairs), 3) if pairs else None


def strip_probabilities(src, dst):
    with open(src, newline="") as fh:
        rows = list(csv.DictReader(fh))
    keep = [c for c in rows[0] if not c.startswith("p_")]
    with open(dst, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keep, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mitool", required=True)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--from-cv")
    ap.add_argument("--out", default=os.path.join(HERE, "session_eval.json"))
    args = ap.parse_args()
    mitool = os.path.abspath(args.mitool)
    models = os.path.dirname(HERE)

    dev, halves = dev_halves()
    full = load_full(args.data_dir)
    full = full[full.transcript_id.isin(dev)]
    first = full.groupby("transcript_id").annotator_id.transform("first")
    full = full[full.annotator_id == first].sort_values(["transcript_id", "utterance_id"])
    quality = {str(t): q for t, q in full.groupby("transcript_id").mi_quality.first().items()}

    out = {"halves": {h: [t for t in dev if halves[t] == h] for h in ("tune", "held")},
           "calibration": "cv.py out-of-fold, training transcripts" if args.from_cv else "the other half",
           "mitool": os.path.basename(mitool), "measured": {}}
    scored = {"expected": {}, "whole": {}}
    with tempfile.TemporaryDirectory() as tmp:
        human_csv = os.path.join(tmp, "human.csv")
        full.to_csv(human_csv, index=False)
        run(mitool, "score", human_csv, "--out", os.path.join(tmp, "human"), "--quiet")
        human = read_sessions(os.path.join(tmp, "human", "sessions.csv"))
        text_csv = os.path.join(tmp, "text.csv")
        full[["transcript_id", "utterance_id", "interlocutor", "utterance_text"]].to_csv(text_csv, index=False)
        for half, other in (("tune", "held"), ("held", "tune")):
            # A model folder whose coder carries the other half's calibration.
            mdir = os.path.join(tmp, f"models-{half}")
            os.makedirs(os.path.join(mdir, "coder"))
            for name in os.listdir(models):
                if name != "coder":
                    os.symlink(os.path.join(models, name), os.path.join(mdir, name))
            for name in os.listdir(HERE):
                if name != "calibration.json":
                    os.symlink(os.path.join(HERE, name), os.path.join(mdir, "coder", name))
            fitted = ["--from-cv", os.path.abspath(args.from_cv)] if args.from_cv else ["--half", other]
            run(sys.executable, os.path.join(HERE, "calibrate.py"), "--data-dir", args.data_dir,
                *fitted, "--out", os.path.join(mdir, "coder", "calibration.json"))
            env = dict(os.environ, MITOOL_MODELS=mdir)
            work = os.path.join(tmp, half)
            coded = os.path.join(work, "coded.csv")
            run(mitool, "code", text_csv, "--out", coded, "--quiet", env=env)
            run(mitool, "score", coded, "--out", os.path.join(work, "expected"), "--quiet", env=env)
            strip_probabilities(coded, os.path.join(work, "whole.csv"))
            run(mitool, "score", os.path.join(work, "whole.csv"), "--out", os.path.join(work, "whole"),
                "--quiet", env=env)
            ids = [str(t) for t in out["halves"][half]]
            for method in scored:
                s = read_sessions(os.path.join(work, method, "sessions.csv"))
                scored[method].update({i: s[i] for i in ids})
                out["measured"].setdefault(method, {})[half] = {k: mae(s, human, ids, k) for k in MEASURES}
    for method, s in scored.items():
        out["measured"][method]["r_to_q_auc_high_vs_low"] = auc(s, quality)
    out["measured"]["human_r_to_q_auc_high_vs_low"] = auc(human, quality)
    jdump(out, args.out)
    print(json.dumps(out["measured"], indent=1))


if __name__ == "__main__":
    main()
