"""What a training step costs per encoder on this machine: why the stronger encoder waits for an accelerator.

Usage: python encoder_cost.py [--threads 2] [--steps 4] [--mpnet work/mpnet/all-mpnet-base-v2]

Times forward + backward + AdamW on a batch of 32 x 96 tokens (train.py's batch size; 96 is near the
dev utterances' mean of ~71 tokens plus padding) for the shipped encoder (all-MiniLM-L6-v2) and, when
fetch_mpnet.sh has assembled it, all-mpnet-base-v2: the median of the steps after the first (warm-up),
and its ratio to MiniLM's, which scales train.sh's and cv.sh's measured times.
"""
import argparse
import os
import statistics
import time

import torch
from transformers import AutoModel

from common import HERE, jdump
from train import encoder_dir


def step_seconds(path, steps):
    model = AutoModel.from_pretrained(path)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(1000, 20000, (32, 96))
    mask = torch.ones_like(ids)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model(input_ids=ids, attention_mask=mask).last_hidden_state.mean().backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t)
    return sum(p.numel() for p in model.parameters()) / 1e6, statistics.median(times[1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--mpnet", default=os.path.join(HERE, "work", "mpnet", "all-mpnet-base-v2"))
    ap.add_argument("--out", default=os.path.join(HERE, "encoder_cost.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [("all-MiniLM-L6-v2 (shipped)", encoder_dir())]
    if os.path.exists(args.mpnet):
        rows.append(("all-mpnet-base-v2", args.mpnet))
    base, out = None, {"threads": args.threads, "batch": [32, 96], "steps": args.steps, "encoders": []}
    print(f"| encoder | parameters | seconds per step ({args.threads} threads) | x MiniLM |\n|---|---|---|---|")
    for name, path in rows:
        params, s = step_seconds(path, args.steps)
        base = base or s
        print(f"| {name} | {params:.0f} M | {s:.2f} | {s / base:.1f} |", flush=True)
        out["encoders"].append({"name": name, "params_m": round(params, 1), "step_seconds": round(s, 3),
                                "ratio_to_minilm": round(s / base, 2)})
    jdump(out, args.out)


if __name__ == "__main__":
    main()
