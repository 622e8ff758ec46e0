"""Write parity-avx2.json: parity.json's own_text examples as an AVX2-only CPU computes them.

Usage: python parity_avx2.py        (parity_avx2.sh runs it under qemu-x86_64 -cpu Haswell; on a real
AVX2-only CPU, plain python does the same)

Why: ONNX Runtime's float kernels differ between CPUs (AVX2 against AVX-512), so the probabilities
differ in the last digits, and a dynamically quantized model carries that through the rounding of its
activations: up to 0.003 on these examples, no decision changed (coder.onnx is U8U8, u8u8.py; the
U8S8 model it replaced saturated without VNNI and differed by up to 0.14). mitool-core/tests/coder.rs
holds each CPU to its own reference to 2e-4, and the two references to each other.
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
                  "(batch of 1, no padding) on a CPU with AVX2 and without AVX-512 (qemu-x86_64 -cpu Haswell, "
                  "parity_avx2.sh, or such a CPU), whose float kernels differ in the last digits from the "
                  "AVX-512 VNNI CPU parity.json was made on; tolerance 1e-4")
    out["own_text"] = own
    tmp = os.path.join(HERE, "parity-avx2.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, os.path.join(HERE, "parity-avx2.json"))


if __name__ == "__main__":
    main()
