"""Rule detectors for MITI codes AnnoMI does not annotate (Affirm, Seek, Emphasize, Confront, permission).

  python miti_eval.py --sample      print the stratified dev sample to label (text to stdout only; never saved)
  python miti_eval.py               score rules against miti_eval_labels.json, add to metrics.json
Labels in miti_eval_labels.json are keys + 0/1 per code, by a non-expert reading against MITI 4.2.1.
"""
import argparse
import json
import os
import random
import re

from common import DEFAULT_DATA, HERE, SEED, build_utterances, jdump, load_full

CODES = ["affirm", "seek", "emphasize", "confront"]


def load_rules(path=os.path.join(HERE, "miti_rules.json")):
    r = json.load(open(path))
    return {c: [re.compile(p, re.I) for p in v["patterns"]] for c, v in r["codes"].items()}


def norm(text):
    return text.strip().replace("\u2019", "'").replace("\u2018", "'")


def hits(rules, text):
    t = norm(text)
    return {c: int(any(p.search(t) for p in pats)) for c, pats in rules.items()}


def dev_therapist(data_dir):
    split = json.load(open(os.path.join(HERE, "split.json")))
    dev = set(split["dev_transcripts"])
    return [u for u in build_utterances(load_full(data_dir)) if u["transcript_id"] in dev and u["role"] == "therapist"]


def sample(utts, rules, n=150, per_code=15):
    rng = random.Random(SEED)
    chosen = []
    for c in CODES:
        hs = [u for u in utts if hits(rules, u["text"])[c]]
        rng.shuffle(hs)
        for u in hs[:per_code]:
            if u not in chosen:
                chosen.append(u)
    rest = [u for u in utts if u not in chosen and len(u["text"].split()) >= 3]
    rng.shuffle(rest)
    chosen += rest[:n - len(chosen)]
    return sorted(chosen, key=lambda u: (u["transcript_id"], u["utterance_id"]))


def prf(y, p):
    tp = sum(1 for a, b in zip(y, p) if a and b)
    fp = sum(1 for a, b in zip(y, p) if not a and b)
    fn = sum(1 for a, b in zip(y, p) if a and not b)
    pr = tp / (tp + fp) if tp + fp else None
    rc = tp / (tp + fn) if tp + fn else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": pr, "recall": rc, "positives": tp + fn}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--sample", action="store_true")
    args = ap.parse_args()
    rules = load_rules()
    utts = dev_therapist(args.data_dir)
    if args.sample:
        for u in sample(utts, rules):
            h = hits(rules, u["text"])
            print(f"{u['transcript_id']}:{u['utterance_id']}\t{''.join(c[0].upper() if h[c] else '.' for c in CODES)}"
                  f"\t{u['text']}\t<<< {u['b'][:160]}")
        return
    lab = json.load(open(os.path.join(HERE, "miti_eval_labels.json")))
    by = {(u["transcript_id"], u["utterance_id"]): u for u in utts}
    res = {"n_labelled": len(lab["items"]), "labeller": lab["labeller"]}
    for c in CODES:
        y = [it[c] for it in lab["items"]]
        p = [hits(rules, by[(it["transcript_id"], it["utterance_id"])]["text"])[c] for it in lab["items"]]
        res[c] = prf(y, p)
    mpath = os.path.join(HERE, "metrics.json")
    m = json.load(open(mpath)) if os.path.exists(mpath) else {}
    m["miti_rules"] = res
    jdump(m, mpath)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
