"""What a candidate encoder would cost the shipped coder at run time, next to MiniLM, on this CPU.

Usage: python speed_layers.py [--data-dir DIR] [--n 400] [--mpnet work/mpnet/all-mpnet-base-v2]
                              [--layers 3 4 12]

Issue #33 asks for a stronger encoder that still codes >= 150 utterances/s on 2 cores; the shipped
MiniLM coder does 380/s in Rust (RUNTIME.md: two single-threaded sessions, each utterance alone,
U8U8 int8). Training cost (encoder_cost.json) is not run-time cost, so this builds each candidate
exactly as export_eval.py ships one (Coder with its four heads -> ONNX fp32 -> per-channel QInt8 ->
U8U8) and times it the way the Rust coder runs: one thread, batch of one, no padding, over the same
dev utterances each encoded with its own tokenizer (pair context). The weights of the heads are
untrained: they do not change the cost. Writes speed_layers.json with utterances/s per candidate, the
ratio to MiniLM, and the Rust estimate 380 / ratio.
"""
import argparse
import os
import random
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import onnxruntime as ort
import torch

from common import DEFAULT_DATA, HERE, MAX_LENGTH, encode_pair, jdump, pad_batch
from export_eval import IN_NAMES, OUT_NAMES, quantize_u8u8

RUST_MINILM_UTT_PER_S = 380  # RUNTIME.md, two single-threaded sessions on this 2-core machine


def build(encoder, layers, tmp):
    """The candidate as the coder would ship it: (path to its U8U8 ONNX, its tokenizer, its
    parameters in millions). layers=None keeps the whole encoder."""
    if encoder:
        os.environ["MITOOL_CODER_ENCODER"] = encoder
    else:
        os.environ.pop("MITOOL_CODER_ENCODER", None)
    if layers:
        os.environ["MITOOL_CODER_LAYERS"] = str(layers)
    else:
        os.environ.pop("MITOOL_CODER_LAYERS", None)
    from train import Coder, Probs, encoder_dir, load_tokenizer
    torch.manual_seed(0)
    model = Probs(Coder(encoder_dir())).eval()
    tok = load_tokenizer()
    ids, tt = encode_pair(tok, "therapist: How are you?", "client: Fine, thanks.")
    i, a, t = (torch.from_numpy(x) for x in pad_batch([(ids, tt)] * 2))
    fp32 = os.path.join(tmp, "fp32.onnx")
    dyn = {n: {0: "batch", 1: "seq"} for n in IN_NAMES}
    with torch.no_grad():
        torch.onnx.export(model, (i, a, t), fp32, input_names=IN_NAMES, output_names=OUT_NAMES,
                          dynamic_axes=dyn, opset_version=17, do_constant_folding=True, dynamo=False)
    int8 = os.path.join(tmp, f"int8-{layers or 0}-{bool(encoder)}.onnx")
    quantize_u8u8(fp32, int8, per_channel=True)  # the shipped model's int8_config
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return int8, tok, params


def time_alone(path, encs, repeats):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    wanted = {x.name for x in sess.get_inputs()}  # MPNet's graph has no token_type_ids
    feeds = []
    for e in encs:
        ids, am, tt = pad_batch([e])
        feeds.append({k: v for k, v in (("input_ids", ids), ("attention_mask", am),
                                        ("token_type_ids", tt)) if k in wanted})
    for f in feeds[:20]:
        sess.run(None, f)
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for f in feeds:
            sess.run(None, f)
        runs.append(time.perf_counter() - t0)
    return len(feeds) / min(runs), statistics.mean(len(e[0]) for e in encs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--mpnet", default=os.path.join(HERE, "work", "mpnet", "all-mpnet-base-v2"))
    ap.add_argument("--layers", type=int, nargs="*", default=[3, 4, 12])
    args = ap.parse_args()
    torch.set_num_threads(1)
    from train import prepare
    split, utts = prepare(args.data_dir)
    dev_t = set(split["dev_transcripts"])
    dev = [u for u in utts if u["transcript_id"] in dev_t]
    dev = random.Random(13).sample(dev, min(args.n, len(dev)))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, enc, layers in [("all-MiniLM-L6-v2 (shipped)", None, None)] + \
                [(f"all-mpnet-base-v2, lower {k} layers", args.mpnet, k) for k in args.layers]:
            path, tok, params = build(enc, layers, tmp)
            encs = [encode_pair(tok, u["a"], u["b"], MAX_LENGTH) for u in dev]
            ups, mean_tokens = time_alone(path, encs, args.repeats)
            rows.append({"name": name, "params_m": round(params, 1), "mean_tokens": round(mean_tokens, 1),
                         "utterances_per_s_one_thread": round(ups, 1)})
            print(rows[-1], flush=True)
    base = rows[0]["utterances_per_s_one_thread"]
    for r in rows:
        r["ratio_to_minilm"] = round(base / r["utterances_per_s_one_thread"], 2)
        r["rust_estimate_utterances_per_s"] = round(RUST_MINILM_UTT_PER_S / r["ratio_to_minilm"])
    jdump({"how": "U8U8 int8 as export_eval.py ships it; python onnxruntime "
                  f"{ort.__version__}, one thread, batch of one, {len(dev)} dev utterances (pair context), "
                  f"best of {args.repeats}; Rust estimate = {RUST_MINILM_UTT_PER_S} / ratio",
           "candidates": rows}, os.path.join(HERE, "speed_layers.json"))


if __name__ == "__main__":
    main()
