"""How far this CPU's probabilities lie from parity.json's (made on an AVX-512 VNNI CPU), per model.

Usage: .venv/bin/python cross_cpu.py [--data-dir DIR] [MODEL.onnx ...]     (default: coder.onnx)

Runs parity.json's 40 AnnoMI dev utterances and 10 own-text examples alone (batch of 1, as mitool runs
them) and prints the largest and median absolute difference over all probabilities and how many
decisions (argmax of a softmax head, an exists flag at 0.5) differ from the reference. The card's
"One model, every CPU" section comes from this.
"""
import argparse
import json
import os

import numpy as np
import onnxruntime as ort

from common import DEFAULT_DATA, HERE, MAX_LENGTH, encode_pair
from export_eval import OUT_NAMES as HEADS
from train import load_tokenizer, prepare


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("models", nargs="*", default=[os.path.join(HERE, "coder.onnx")])
    args = ap.parse_args()
    par = json.load(open(os.path.join(HERE, "parity.json")))
    _, utts = prepare(args.data_dir)
    by_key = {(u["transcript_id"], u["utterance_id"]): u for u in utts}
    tok = load_tokenizer()
    items = []
    for it in par["annomi_dev"]:
        u = by_key[(it["transcript_id"], it["utterance_id"])]
        items.append((encode_pair(tok, u["a"], u["b"], MAX_LENGTH), it["probs"]))
    items += [((it["input_ids"], it["token_type_ids"]), it["probs"]) for it in par["own_text"]]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    for path in args.models:
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        diffs, flips = [], 0
        for (ids, tt), ref in items:
            ids = np.array([ids], np.int64)
            outs = sess.run(HEADS, {"input_ids": ids, "attention_mask": np.ones_like(ids),
                                    "token_type_ids": np.array([tt], np.int64)})
            for h, o in zip(HEADS, outs):
                got, want = o[0], np.array(ref[h])
                diffs.extend(np.abs(got - want).tolist())
                flips += int(((got > 0.5) != (want > 0.5)).sum()) if h == "exists" else int(
                    got.argmax() != want.argmax())
        print(f"{path}: {len(items)} examples, max |difference| {max(diffs):.4f}, median {np.median(diffs):.5f}, "
              f"decisions different {flips}", flush=True)


if __name__ == "__main__":
    main()
