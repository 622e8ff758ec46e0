"""Write parity-avx2.json: parity.json's own_text examples as an AVX2-only CPU computes them.

Usage: python parity_avx2.py        (parity_avx2.sh runs it under qemu-x86_64 -cpu Haswell)

Why: without VNNI, ONNX Runtime's int8 kernels saturate u8*s8 pair sums, so the same coder.onnx gives
other probabilities (up to ~0.14 apart) than on the VNNI CPU parity.json is made on, and
mitool-core/tests/coder.rs holds each CPU to its own reference. Emulating a Haswell (AVX2, no
AVX-512/VNNI) reproduced the parity-avx2.json made on a real AVX2-only EPYC exactly (max difference 0).
"""
import json
import os

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
HEADS = ["therapist_main", "therapist_fine", "exists", "client_talk"]


def main():
    parity = json.load(open(os.path.join(HERE, "parity.json")))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(HERE, parity["model_file"]), so, providers=["CPUExecutionProvider"])
    own = []
    for item in parity["own_text"]:
        ids = np.array([item["input_ids"]], np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.array([item["token_type_ids"]], np.int64)}
        outs = sess.run(HEADS, feed)
        own.append({**item, "probs": {h: o[0].tolist() for h, o in zip(HEADS, outs)}})
    out = {k: parity[k] for k in ("model_version", "model_file", "shipped", "fields")}
    out["how"] = (f"parity.json's own_text examples, recomputed with python onnxruntime {ort.__version__} "
                  "(batch of 1, no padding) on a CPU without VNNI (AVX2 only: qemu-x86_64 -cpu Haswell, "
                  "parity_avx2.sh), where ONNX Runtime's int8 kernels saturate u8*s8 pair sums and give other "
                  "probabilities than the VNNI CPU parity.json was made on; tolerance 1e-4")
    out["own_text"] = own
    tmp = os.path.join(HERE, "parity-avx2.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, os.path.join(HERE, "parity-avx2.json"))


if __name__ == "__main__":
    main()
