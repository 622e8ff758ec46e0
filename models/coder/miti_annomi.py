"""Precision and recall of the MITI codes AnnoMI has a counterpart for, on the dev transcripts.

Usage: python miti_annomi.py [--data-dir DIR] [--coded CODED_CSV]   (calibrate.sh's venv)

AnnoMI labels no Affirm or Confront, but three MITI codes mitool gives have an AnnoMI label close
to them: Persuade (and Persuade with Permission) ~ therapist input "advice", Seek Collaboration ~
"negotiation", Emphasize Autonomy ~ "options". Gold per practitioner utterance: the subtype more
than half of its annotators gave where they marked therapist input. Scored per utterance:

  rules    the phrase detectors of miti_rules.json alone (persuade, seek, emphasize patterns)
  mitool   the MITI codes in CODED_CSV (`mitool code` on the dev transcripts: coder labels
           mapped as in the card, plus the detectors)

The counterparts are not the same codes (MITI Seek is narrower than AnnoMI's negotiation, and
Persuade with Permission needs permission MITI's way), so read these as agreement with the closest
human labels available, not as MITI accuracy. Writes miti_annomi.json.
"""
import argparse
import csv
import json
import os
from collections import Counter

from common import DEFAULT_DATA, HERE, build_utterances, jdump, load_full
from miti_eval import hits, load_rules, prf

PAIRS = {"persuade": ("advice", {"Persuade", "PersuadeWithPermission"}),
         "seek": ("negotiation", {"Seek"}),
         "emphasize": ("options", {"Emphasize"})}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--coded")
    args = ap.parse_args()
    split = json.load(open(os.path.join(HERE, "split.json")))
    dev = set(split["dev_transcripts"])
    full = load_full(args.data_dir)
    full = full[full.transcript_id.isin(dev) & (full.interlocutor == "therapist")]
    subtypes = {}
    for r in full.to_dict("records"):
        k = (str(r["transcript_id"]), str(r["utterance_id"]))
        s = r["therapist_input_subtype"] if str(r["therapist_input_exists"]).lower() == "true" else None
        subtypes.setdefault(k, []).append(s if isinstance(s, str) else None)
    gold = {}
    for k, v in subtypes.items():
        top, n = Counter(v).most_common(1)[0]
        gold[k] = top if top is not None and n * 2 > len(v) else None
    texts = {(str(u["transcript_id"]), str(u["utterance_id"])): u["text"]
             for u in build_utterances(full) if u["role"] == "therapist"}
    rules = load_rules()
    keys = sorted(gold)
    out = {"utterances": len(keys), "gold_definition": "therapist input subtype given by more than "
           "half of the utterance's annotators", "rules": {}, "mitool": {}}
    for code, (label, _) in PAIRS.items():
        y = [gold[k] == label for k in keys]
        out["rules"][code] = prf(y, [bool(hits(rules, texts.get(k, ""))[code]) for k in keys])
    if args.coded:
        with open(args.coded, newline="") as fh:
            coded = {(r["transcript_id"], r["utterance_id"]): set(filter(None, r["miti_codes"].split(";")))
                     for r in csv.DictReader(fh)}
        out["coded"] = os.path.basename(args.coded)
        for code, (label, names) in PAIRS.items():
            y = [gold[k] == label for k in keys]
            out["mitool"][code] = prf(y, [bool(coded.get(k, set()) & names) for k in keys])
    jdump(out, os.path.join(HERE, "miti_annomi.json"))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
