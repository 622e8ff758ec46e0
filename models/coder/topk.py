"""A larger encoder at a cost two cores allow: all-mpnet-base-v2's lower layers run once over every
input and their outputs are stored; only the top K layers and the heads are trained, per CV fold.

Usage: python topk.py [--top K] [--context pair|around] [--label NAME] [--fold I ...] [--epochs N]
       (fetch_mpnet.sh first; data from --data-dir, default ../shared/data/annomi)

Folds are cv.py's (grouped by video_url, balanced by MI quality). Each fold's result is written to
runs/<label>/fold-I.json (macro-F1, session figures, train seconds) and its out-of-fold probabilities to
runs/<label>/fold-I-probs.csv as soon as the fold ends, so a CV that outlives a session resumes from
git (a fold with both files is skipped). The stored layer outputs (work/cache-*.pt, ~1 GB) and any
checkpoint stay out of git. runs/<label>/summary.json sums up the folds done.
"""
import argparse
import copy
import csv
import gzip
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModel

from common import (CLIENT, DEFAULT_DATA, EXISTS, FINE, HEADS, HERE, MAIN, MAX_LENGTH, SEED, encode_around,
                    encode_pair, jdump, load_full, set_seeds)
from cv import TASKS, make_folds, mean_sd, sessions
from export_eval import OUT_NAMES, evaluate
from train import WORK, class_weights, prepare, soft_ce

MPNET = os.path.join(WORK, "mpnet", "all-mpnet-base-v2")
RUNS = os.path.join(HERE, "runs")


def encode(tok, u, context):
    if context == "around":
        return encode_around(tok, u["a"], u["b"], u["next"])[0]
    return encode_pair(tok, u["a"], u["b"], MAX_LENGTH)[0]


def additive(am, dtype):
    """Attention mask as the additive [batch, 1, 1, seq] mask MPNet's layers take."""
    return (1.0 - am[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


@torch.no_grad()
def build_cache(enc, utts, tok, args, path):
    """Output of layer 12-K for every utterance (float16, its own length), in utts' order.
    Written in parts of 1000 utterances so a killed run resumes."""
    lower = len(enc.encoder.layer) - args.top
    parts = []
    for s in range(0, len(utts), 1000):
        part = f"{path}.part{s // 1000}"
        if os.path.exists(part):
            parts.append(torch.load(part))
            continue
        t0 = time.time()
        chunk = utts[s:s + 1000]
        seqs = [encode(tok, u, args.context) for u in chunk]
        out = [None] * len(chunk)
        order = sorted(range(len(chunk)), key=lambda i: len(seqs[i]))
        for b in range(0, len(order), 32):
            idx = order[b:b + 32]
            n = max(len(seqs[i]) for i in idx)
            ids = torch.full((len(idx), n), tok.token_to_id("<pad>"), dtype=torch.long)
            am = torch.zeros((len(idx), n), dtype=torch.long)
            for j, i in enumerate(idx):
                ids[j, :len(seqs[i])] = torch.tensor(seqs[i])
                am[j, :len(seqs[i])] = 1
            h = enc.embeddings(input_ids=ids)
            pb = enc.encoder.compute_position_bias(h)
            mask = additive(am, h.dtype)
            for layer in enc.encoder.layer[:lower]:
                h = layer(h, mask, pb)[0]
            for j, i in enumerate(idx):
                out[i] = h[j, :len(seqs[i])].to(torch.float16).clone()
        torch.save(out, part)
        parts.append(out)
        print(f"cache: utterances {s}-{s + len(chunk)} in {time.time() - t0:.0f} s", flush=True)
    return [h for p in parts for h in p]


class Top(nn.Module):
    """The top K MPNet layers (initialised from the pretrained ones) -> masked mean pool -> heads."""

    def __init__(self, enc, k, dropout=0.1):
        super().__init__()
        self.layers = copy.deepcopy(enc.encoder.layer[-k:])
        self.bias = copy.deepcopy(enc.encoder.relative_attention_bias)
        self.bucket = type(enc.encoder).relative_position_bucket
        h = enc.config.hidden_size
        self.drop = nn.Dropout(dropout)
        self.main = nn.Linear(h, len(MAIN))
        self.fine = nn.Linear(h, len(FINE))
        self.exists = nn.Linear(h, len(EXISTS))
        self.client = nn.Linear(h, len(CLIENT))

    def forward(self, h, am):
        # The position bias with this module's own (trainable) bias table.
        q = h.size(1)
        rel = torch.arange(q)[None, :] - torch.arange(q)[:, None]
        bucket = self.bucket(rel, num_buckets=32)
        pb = self.bias(bucket).permute([2, 0, 1]).unsqueeze(0).expand(h.size(0), -1, q, q)
        mask = additive(am, h.dtype)
        for layer in self.layers:
            h = layer(h, mask, pb)[0]
        m = am.unsqueeze(-1).to(h.dtype)
        z = self.drop((h * m).sum(1) / m.sum(1).clamp(min=1e-9))
        return self.main(z), self.fine(z), self.exists(z), self.client(z)


def pad_states(states, idx):
    n = max(states[i].size(0) for i in idx)
    h = torch.zeros((len(idx), n, states[idx[0]].size(1)), dtype=torch.float32)
    am = torch.zeros((len(idx), n), dtype=torch.long)
    for j, i in enumerate(idx):
        h[j, :states[i].size(0)] = states[i].float()
        am[j, :states[i].size(0)] = 1
    return h, am


def batches(lengths, items, bs, rng):
    idx = np.array(items)
    rng.shuffle(idx)
    out = []
    for s in range(0, len(idx), bs * 50):
        c = sorted(idx[s:s + bs * 50], key=lambda i: lengths[i])
        out += [c[j:j + bs] for j in range(0, len(c), bs)]
    rng.shuffle(out)
    return out


def loss_of(out, us, w):
    lm, lf, le, lc = out
    loss = torch.zeros(())
    for logits, key, weight in ((lm, "main_soft", w["main"]), (lf, "fine_soft", w["fine"]),
                                (lc, "client_soft", w["client"])):
        role = "client" if key == "client_soft" else "therapist"
        rows = [j for j, u in enumerate(us) if u["role"] == role and u[key] is not None]
        if rows:
            tgt = torch.tensor(np.stack([us[j][key] for j in rows]))
            loss = loss + soft_ce(logits[rows], tgt, weight, torch.ones(len(rows)))
    rows = [j for j, u in enumerate(us) if u["role"] == "therapist" and u["exists_soft"] is not None]
    if rows:
        tgt = torch.tensor(np.stack([us[j]["exists_soft"] for j in rows]))
        loss = loss + 0.5 * F.binary_cross_entropy_with_logits(le[rows], tgt)
    return loss


def fit(enc, states, utts, train_idx, args):
    set_seeds(SEED)
    model = Top(enc, args.top)
    th = [utts[i] for i in train_idx if utts[i]["role"] == "therapist"]
    cl = [utts[i] for i in train_idx if utts[i]["role"] == "client"]
    w = {"main": class_weights([u["main_soft"] for u in th], len(MAIN)),
         "fine": class_weights([u["fine_soft"] for u in th], len(FINE)),
         "client": class_weights([u["client_soft"] for u in cl], len(CLIENT))}
    body = [p for n, p in model.named_parameters() if n.startswith(("layers.", "bias."))]
    heads = [p for n, p in model.named_parameters() if not n.startswith(("layers.", "bias."))]
    opt = torch.optim.AdamW([{"params": body, "lr": args.lr}, {"params": heads, "lr": args.head_lr}],
                            weight_decay=0.01)
    lengths = [s.size(0) for s in states]
    rng = np.random.RandomState(SEED)
    n_batches = len(batches(lengths, train_idx, args.batch_size, np.random.RandomState(0)))
    total = n_batches * args.epochs
    warm = int(0.06 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    losses = []
    model.train()
    for ep in range(args.epochs):
        t0, tot = time.time(), 0.0
        for b in batches(lengths, train_idx, args.batch_size, rng):
            h, am = pad_states(states, b)
            loss = loss_of(model(h, am), [utts[i] for i in b], w)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += float(loss.detach())
        losses.append(round(tot / n_batches, 4))
        print(f"  epoch {ep} loss {losses[-1]} ({time.time() - t0:.0f} s)", flush=True)
    return model, losses


@torch.no_grad()
def predict(model, states, idx):
    model.eval()
    out = {h: np.zeros((len(idx), len(HEADS[h])), dtype=np.float32) for h in OUT_NAMES}
    order = sorted(range(len(idx)), key=lambda j: states[idx[j]].size(0))
    for s in range(0, len(order), 64):
        js = order[s:s + 64]
        h, am = pad_states(states, [idx[j] for j in js])
        lm, lf, le, lc = model(h, am)
        for name, v in zip(OUT_NAMES, (F.softmax(lm, -1), F.softmax(lf, -1), torch.sigmoid(le), F.softmax(lc, -1))):
            out[name][js] = v.numpy()
    return out


def write_probs(path, test, probs):
    """Out-of-fold probabilities, one row per utterance, 4 decimals: small enough for git
    (a path ending .gz is gzipped: a teacher's probabilities over a fold's training utterances)."""
    tmp = path + ".tmp"
    with (gzip.open(tmp, "wt", newline="") if path.endswith(".gz") else open(tmp, "w", newline="")) as fh:
        wr = csv.writer(fh)
        wr.writerow(["transcript_id", "utterance_id"] + [f"{h}:{l}" for h in OUT_NAMES for l in HEADS[h]])
        for i, u in enumerate(test):
            wr.writerow([u["transcript_id"], u["utterance_id"]]
                        + [f"{float(x):.4f}" for h in OUT_NAMES for x in probs[h][i]])
    os.replace(tmp, path)


def read_probs(path):
    """runs/<label>/fold-I-probs.csv -> (transcript ids, utterance ids, {head: array})."""
    with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as fh:
        rd = csv.reader(fh)
        head = next(rd)
        rows = list(rd)
    t = np.array([int(r[0]) for r in rows])
    n = np.array([int(r[1]) for r in rows])
    x = np.array([[float(v) for v in r[2:]] for r in rows], dtype=np.float32)
    probs, col = {}, 0
    for h in OUT_NAMES:
        k = len(HEADS[h])
        probs[h] = x[:, col:col + k]
        col += k
    assert col == len(head) - 2
    return t, n, probs


def cross_fit(enc, states, utts, folds, k, run_dir, args):
    """Soft targets for fold k's student that no teacher fitted on: each other fold j is scored by a
    model trained on the folds that are neither k nor j. Each part is written as soon as it is done
    (runs/<label>/fold-k-xfit-j.csv.gz, a resumed run skips it); the parts are then joined."""
    out_path = os.path.join(run_dir, f"fold-{k}-teacher-xfit.csv.gz")
    if os.path.exists(out_path):
        return
    parts = []
    for j in range(args.folds):
        if j == k:
            continue
        part = os.path.join(run_dir, f"fold-{k}-xfit-{j}.csv.gz")
        if not os.path.exists(part):
            scored_set = set(folds[j])
            held = set(folds[k]) | scored_set
            train_idx = [i for i, u in enumerate(utts) if u["transcript_id"] not in held]
            score_idx = [i for i, u in enumerate(utts) if u["transcript_id"] in scored_set]
            print(f"fold {k}, part {j}: train {len(train_idx)}, score {len(score_idx)} utterances", flush=True)
            t1 = time.time()
            model, _ = fit(enc, states, utts, train_idx, args)
            probs = predict(model, states, score_idx)
            scored = [utts[i] for i in score_idx]
            res = evaluate(probs, scored)
            # The figures first: the probabilities file is what marks the part done.
            jdump({"fold": k, "part": j, "n_train_utterances": len(train_idx),
                   "train_seconds": round(time.time() - t1),
                   "macro_f1": {h: res[h]["macro_f1"] for h in TASKS}}, part.replace(".csv.gz", ".json"))
            write_probs(part, scored, probs)
            print(f"fold {k}, part {j}: " + ", ".join(f"{h} {res[h]['macro_f1']:.3f}" for h in TASKS)
                  + f" ({(time.time() - t1) / 60:.1f} min)", flush=True)
        parts.append(part)
    tmp = out_path + ".tmp"
    with gzip.open(tmp, "wt") as out:
        for n, part in enumerate(parts):
            with gzip.open(part, "rt") as fh:
                lines = fh.readlines()
            out.writelines(lines if n == 0 else lines[1:])
    os.replace(tmp, out_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--encoder", default=MPNET)
    ap.add_argument("--top", type=int, default=2)
    ap.add_argument("--context", choices=["pair", "around"], default="around")
    ap.add_argument("--label")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fold", type=int, nargs="*")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache-only", action="store_true")
    ap.add_argument("--time-batches", type=int, default=0)
    ap.add_argument("--teacher", action="store_true",
                    help="also write fold-I-teacher.csv.gz: the fold's model's probabilities on its own "
                         "training utterances, for cv.py --teacher (distillation)")
    ap.add_argument("--cross-fit", action="store_true",
                    help="instead of the fold's own model: fold-I-xfit-J.csv.gz for every other fold J, a model "
                         "fitted without folds I and J scoring fold J; together fold-I-teacher-xfit.csv.gz, "
                         "soft targets no model saw the answers to (cv.py --teacher L --cross-fitted)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    label = args.label or f"mpnet-top{args.top}-{args.context}"
    run_dir = os.path.join(RUNS, label)
    os.makedirs(run_dir, exist_ok=True)
    os.makedirs(WORK, exist_ok=True)

    full = load_full(args.data_dir)
    folds, quality = make_folds(full, args.folds)
    _, utts = prepare(args.data_dir)
    tok = Tokenizer.from_file(os.path.join(args.encoder, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    enc = AutoModel.from_pretrained(args.encoder)
    enc.eval()
    t0 = time.time()
    states = build_cache(enc, utts, tok, args, os.path.join(WORK, f"cache-mpnet-{args.context}-l{12 - args.top}.pt"))
    cache_s = time.time() - t0
    print(f"cache ready ({cache_s:.0f} s; mean length {np.mean([s.size(0) for s in states]):.1f})", flush=True)
    if args.cache_only:
        return
    if args.time_batches:
        idx = list(range(len(utts)))
        model = Top(enc, args.top)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        w = {"main": torch.ones(4), "fine": torch.ones(9), "client": torch.ones(3)}
        t1 = time.time()
        for b in batches([s.size(0) for s in states], idx, args.batch_size, np.random.RandomState(0))[:args.time_batches]:
            h, am = pad_states(states, b)
            loss = loss_of(model(h, am), [utts[i] for i in b], w)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"{(time.time() - t1) / args.time_batches:.2f} s per batch of {args.batch_size}")
        return

    todo = args.fold if args.fold is not None else range(args.folds)
    if args.cross_fit:
        for k in todo:
            cross_fit(enc, states, utts, folds, k, run_dir, args)
        return
    for k in todo:
        res_path = os.path.join(run_dir, f"fold-{k}.json")
        probs_path = os.path.join(run_dir, f"fold-{k}-probs.csv")
        teacher_path = os.path.join(run_dir, f"fold-{k}-teacher.csv.gz")
        done = os.path.exists(res_path) and os.path.exists(probs_path)
        if done and (not args.teacher or os.path.exists(teacher_path)):
            continue
        test_set = set(folds[k])
        train_idx = [i for i, u in enumerate(utts) if u["transcript_id"] not in test_set]
        test_idx = [i for i, u in enumerate(utts) if u["transcript_id"] in test_set]
        print(f"fold {k}: train {len(train_idx)}, test {len(test_idx)} utterances", flush=True)
        t1 = time.time()
        model, losses = fit(enc, states, utts, train_idx, args)
        if args.teacher:
            write_probs(teacher_path, [utts[i] for i in train_idx], predict(model, states, train_idx))
        if done:  # refitted only for the teacher file: the fold's figures stand as first written
            continue
        test = [utts[i] for i in test_idx]
        probs = predict(model, states, test_idx)
        res = evaluate(probs, test)
        write_probs(probs_path, test, probs)
        out = {"fold": k, "label": label, "test_transcripts": sorted(folds[k]),
               "recipe": {"encoder": os.path.basename(args.encoder), "top_layers": args.top,
                          "context": args.context, "epochs": args.epochs, "lr": args.lr,
                          "head_lr": args.head_lr, "batch_size": args.batch_size, "seed": SEED},
               "n_train_utterances": len(train_idx), "train_seconds": round(time.time() - t1),
               "cache_seconds_all_utterances": round(cache_s), "epoch_loss": losses,
               "macro_f1": {h: res[h]["macro_f1"] for h in TASKS},
               "sessions": sessions(test, probs)}
        jdump(out, res_path + ".tmp")
        os.replace(res_path + ".tmp", res_path)
        print(f"fold {k}: " + ", ".join(f"{h} {out['macro_f1'][h]:.3f}" for h in TASKS)
              + f" ({out['train_seconds'] / 60:.1f} min)", flush=True)
    done = [json.load(open(os.path.join(run_dir, f"fold-{k}.json"))) for k in range(args.folds)
            if os.path.exists(os.path.join(run_dir, f"fold-{k}.json"))]
    summary = {"label": label, "folds_done": [d["fold"] for d in done],
               "macro_f1": {h: mean_sd([d["macro_f1"][h] for d in done]) for h in TASKS},
               "train_seconds": [d["train_seconds"] for d in done]}
    jdump(summary, os.path.join(run_dir, "summary.json"))
    print(json.dumps(summary["macro_f1"], indent=1))


if __name__ == "__main__":
    main()
