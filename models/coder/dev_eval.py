"""Dev-split macro-F1 of coder.onnx files on this machine, encoded as export_eval.py encodes them.
ONNX Runtime's int8 kernels differ between CPUs (parity-avx2.json), so models compared on one machine
are measured on that machine. Usage: .venv/bin/python dev_eval.py [--data-dir DIR] MODEL.onnx ..."""
import argparse

from common import DEFAULT_DATA, MAX_LENGTH, encode_pair
from export_eval import evaluate, run_onnx
from train import load_tokenizer, prepare


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("models", nargs="+")
    args = ap.parse_args()
    split, utts = prepare(args.data_dir)
    dev_t = set(split["dev_transcripts"])
    dev = [u for u in utts if u["transcript_id"] in dev_t]
    tok = load_tokenizer()
    encs = [encode_pair(tok, u["a"], u["b"], MAX_LENGTH) for u in dev]
    for path in args.models:
        res = evaluate(run_onnx(path, encs)[0], dev)
        print(path, " ".join(f"{h} {r['macro_f1']:.3f}" for h, r in res.items() if "macro_f1" in r), flush=True)


if __name__ == "__main__":
    main()
