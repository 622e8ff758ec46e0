#!/usr/bin/env python3
"""ROC AUC of each summary score and estimated global against AnnoMI's
mi_quality (high vs low), from a sessions.csv written by `mitool score`.

Usage: python3 scripts/eval-scoring.py SESSIONS.csv [models/coder/split.json]
With a split file, reports the dev transcripts and all transcripts separately.
Standard library only.
"""
import csv
import json
import sys

SCORES = ["r_to_q", "pct_complex_reflections", "pct_open_questions", "mi_adherent", "mi_non_adherent",
          "change_talk_share", "cultivating_change_talk", "softening_sustain_talk", "partnership", "empathy",
          "relational", "technical"]


def auc(pos, neg):
    """Mann-Whitney AUC: P(score of a high-quality session > a low-quality one), ties count half."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    groups = {"all": None}
    if len(sys.argv) > 2:
        split = json.load(open(sys.argv[2]))
        groups["dev"] = {str(t) for t in split.get("dev_transcripts", split.get("dev", []))}
    print(f"{'score':<26}" + "".join(f"{g + ' AUC':>12}{'n hi/lo':>10}" for g in groups))
    for s in SCORES:
        line = f"{s:<26}"
        for g, ids in groups.items():
            sel = [r for r in rows if ids is None or r["session_id"] in ids]
            hi = [float(r[s]) for r in sel if r["mi_quality"] == "high" and r[s] != ""]
            lo = [float(r[s]) for r in sel if r["mi_quality"] == "low" and r[s] != ""]
            a = auc(hi, lo)
            # Non-adherent behaviour should be lower in high-quality MI: report AUC of the reversed score.
            if s == "mi_non_adherent" and a is not None:
                a = 1 - a
            line += f"{'' if a is None else f'{a:.3f}':>12}{f'{len(hi)}/{len(lo)}':>10}"
        print(line)
    print("(mi_non_adherent: AUC of its negation, since less is better)")


if __name__ == "__main__":
    main()
