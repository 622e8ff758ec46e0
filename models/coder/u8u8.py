"""Rewrite a dynamically quantized coder (uint8 activations x int8 weights) as uint8 x uint8: the same
integers, the same results, on every CPU.

Usage: python u8u8.py IN.onnx OUT.onnx      (export_eval.py runs it on the int8 model it ships)

Why: for u8 x s8 products ONNX Runtime's x86 kernels without VNNI (AVX2 only) add pairs of products
in 16 bits (VPMADDUBSW) and saturate, so the same model gave other probabilities there (up to 0.14
apart, a decision now and then: parity-avx2.json) than on a VNNI CPU, which sums exactly. ONNX
Runtime's quantization guide names the way out: the U8U8 format, whose kernels widen to 16 bits
before multiplying and never saturate. The rewrite is exact: every MatMulInteger weight w (int8,
zero point 0 per column) becomes w + 128 (uint8) with zero point 128, and MatMulInteger computes
(a - a_zero) * (b - b_zero), so every product, and every sum, is the integer it was.
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def convert(model):
    """Rewrites `model` in place; returns how many weight matrices were rewritten."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    done, weights = set(), set()
    for node in g.node:
        if node.op_type != "MatMulInteger" or len(node.input) < 4:
            continue
        w_name, zp_name = node.input[1], node.input[3]
        if w_name not in inits or zp_name not in inits:
            continue
        w, zp = numpy_helper.to_array(inits[w_name]), numpy_helper.to_array(inits[zp_name])
        if w.dtype == np.uint8:
            continue
        if w.dtype != np.int8 or zp.dtype != np.int8:
            raise SystemExit(f"u8u8.py: {node.name}: weights {w.dtype}, zero point {zp.dtype}; expected int8")
        for name, arr in ((w_name, (w.astype(np.int16) + 128).astype(np.uint8)),
                          (zp_name, (zp.astype(np.int16) + 128).astype(np.uint8))):
            if name in done:
                continue
            inits[name].CopyFrom(numpy_helper.from_array(arr, name))
            done.add(name)
        weights.add(w_name)
    return len(weights)


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    model = onnx.load(sys.argv[1])
    n = convert(model)
    if n == 0:
        raise SystemExit(f"u8u8.py: no int8 MatMulInteger weights in {sys.argv[1]}")
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[2])
    print(f"u8u8.py: {n} weight matrices rewritten as uint8 -> {sys.argv[2]}")


if __name__ == "__main__":
    main()
