"""The coder's practitioner votes (session.rs `practitioner_votes`): every
utterance read as the practitioner's, vote = P(question) + P(reflection) of
the therapist_main head, context = the 2 previous utterances (also as
"therapist: ..."), exactly the coder's input format (models/coder/labels.json).

Only for evaluating how the text model combines with what assign_roles has
today; the role model itself never sees these. Writes work/votes.json:
{"annomi": {tid: [vote per utterance]}, "spoken": {session: [vote per utterance]}}.
The coder was trained on the train transcripts, so its votes there are
in-sample (too good); only dev and spoken votes are honest.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

import common

CODER = os.path.join(common.REPO, "models", "coder")
CLS, SEP, MIN_CONTEXT = 101, 102, 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=common.DEFAULT_DATA)
    args = ap.parse_args()
    labels = json.load(open(os.path.join(CODER, "labels.json")))
    fmt = labels["input_format"]
    budget = labels["max_length"] - 3
    tok = Tokenizer.from_file(os.path.join(CODER, "tokenizer.json"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(CODER, "coder.onnx"), so, providers=["CPUExecutionProvider"])

    def ids(text):
        return tok.encode(text, add_special_tokens=False).ids

    def votes(texts):
        out = []
        lines = [f"therapist: {t.strip()}" for t in texts]
        for i, t in enumerate(texts):
            if not t.strip():
                out.append(0.5)
                continue
            ctx = lines[max(0, i - fmt["context_utterances"]):i][::-1]
            b_text = fmt["context_separator"].join(ctx) if ctx else fmt["empty_context_text_b"]
            a, b = ids(lines[i]), ids(b_text)
            if len(a) + len(b) > budget:
                keep_b = max(budget - len(a), min(len(b), MIN_CONTEXT))
                b = b[:keep_b]
                a = a[: budget - len(b)]
            inp = [CLS] + a + [SEP] + b + [SEP]
            types = [0] * (len(a) + 2) + [1] * (len(b) + 1)
            feed = {
                "input_ids": np.array([inp], dtype=np.int64),
                "attention_mask": np.ones((1, len(inp)), dtype=np.int64),
                "token_type_ids": np.array([types], dtype=np.int64),
            }
            m = sess.run(["therapist_main"], feed)[0][0]
            out.append(float(m[0] + m[1]))
        return out

    data = common.load_annomi(args.data_dir)
    res = {"annomi": {}, "spoken": {}}
    for n, (tid, utts) in enumerate(data.items()):
        res["annomi"][str(tid)] = [round(v, 6) for v in votes([t for _, t in utts])]
        print(f"\r{n + 1}/{len(data)} transcripts", end="", file=sys.stderr)
    print(file=sys.stderr)
    for s in common.load_spoken():
        res["spoken"][s["session"]] = [round(v, 6) for v in votes([u[1] for u in s["utterances"]])]
    os.makedirs(common.WORK, exist_ok=True)
    with open(os.path.join(common.WORK, "votes.json"), "w") as f:
        json.dump(res, f)
    # Check against what mitool wrote: talk pattern + votes = roles.scores.
    worst = 0.0
    for s in common.load_spoken():
        v = res["spoken"][s["session"]]
        for spk, want in s["mitool_scores"].items():
            texts = [u[1] for u in s["utterances"] if u[0] == spk]
            vs = [x for u, x in zip(s["utterances"], v) if u[0] == spk]
            got = common.mitool_score(texts, vs)
            worst = max(worst, abs(got - want))
    print(f"spoken sessions: max |python - mitool| speaker score = {worst:.4f}")


if __name__ == "__main__":
    main()
