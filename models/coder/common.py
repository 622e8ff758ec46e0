"""Shared definitions for the mitool utterance-coder recipe (data, labels, input format).

Nothing in this directory contains AnnoMI text: data is read at run time from --data-dir
(default ../shared/data/annomi relative to the repository root).
"""
import json
import os
import random
from collections import Counter, defaultdict

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_DATA = os.path.join(REPO, "..", "shared", "data", "annomi")

MODEL_VERSION = "mitool-coder-minilm-v1"
ENCODER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_LENGTH = 128
MIN_CONTEXT_TOKENS = 16
CONTEXT_UTTERANCES = 2
CONTEXT_SEP = " | "
SESSION_START = "(session start)"
SESSION_END = "(session end)"
SEED = 13

MAIN = ["question", "reflection", "therapist_input", "other"]
FINE = ["question_open", "question_closed", "reflection_simple", "reflection_complex",
        "input_information", "input_advice", "input_negotiation", "input_options", "other"]
EXISTS = ["question_exists", "reflection_exists", "therapist_input_exists"]
CLIENT = ["change", "neutral", "sustain"]
HEADS = {"therapist_main": MAIN, "therapist_fine": FINE, "exists": EXISTS, "client_talk": CLIENT}


def set_seeds(seed=SEED):
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------- input format
def clean(text):
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    return str(text).strip()


def role_text(role, text):
    return f"{role}: {clean(text)}"


def make_pair(role, text, previous, n=CONTEXT_UTTERANCES):
    """previous: list of (role, text) of the earlier utterances, oldest first (any length)."""
    a = role_text(role, text)
    ctx = previous[-n:][::-1]  # most recent first
    b = CONTEXT_SEP.join(role_text(r, t) for r, t in ctx) if ctx else SESSION_START
    return a, b


def encode_pair(tok, a, b, max_length=MAX_LENGTH):
    """Exact encoding rule documented in labels.json (tok: tokenizers.Tokenizer, no trunc/pad).
    A RoBERTa-style vocabulary (MPNet, for cv.py --encoder) gets <s> a </s></s> b </s>, no segments."""
    ia = tok.encode(a, add_special_tokens=False).ids
    ib = tok.encode(b, add_special_tokens=False).ids
    # MPNet's vocabulary holds BERT's [CLS] too, but its model was trained with <s> and </s>.
    bert = tok.token_to_id("<s>") is None
    budget = max_length - (3 if bert else 4)
    if len(ia) + len(ib) > budget:
        keep_b = max(budget - len(ia), min(len(ib), MIN_CONTEXT_TOKENS))
        ib = ib[:keep_b]
        ia = ia[:budget - len(ib)]
    if not bert:
        cls, sep = tok.token_to_id("<s>"), tok.token_to_id("</s>")
        ids = [cls] + ia + [sep, sep] + ib + [sep]
        return ids, [0] * len(ids)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    ids = [cls] + ia + [sep] + ib + [sep]
    tt = [0] * (len(ia) + 2) + [1] * (len(ib) + 1)
    return ids, tt


WIDE_CONTEXT_UTTERANCES = 4
WIDE_MAX_LENGTH = 192
# The "wide" context (cv.py --context wide): more of what came before, so the whole previous client
# turn and the practitioner's own lead-in fit. Same rule as the pair, more utterances and tokens.


NEXT_TOKENS = 32
NEXT_PREFIX = "next "
AROUND_MAX_LENGTH = 160


def encode_around(tok, a, b, nxt, max_length=AROUND_MAX_LENGTH):
    """The "around" context: the pair as encode_pair, then the next utterance ("next {role}: {text}",
    its first NEXT_TOKENS tokens; "next (session end)" after the last utterance) as a third segment.
    The reply tells a question from a reflection where the question mark is lost (a yes/no answer)
    and shows how the client took what was said. Why a separate budget: a long reply must not push
    out the previous turn, which the reflection restates."""
    inx = tok.encode(NEXT_PREFIX + nxt, add_special_tokens=False).ids[:NEXT_TOKENS]
    bert = tok.token_to_id("<s>") is None
    ids, tt = encode_pair(tok, a, b, max_length - len(inx) - 1)
    sep = tok.token_to_id("[SEP]") if bert else tok.token_to_id("</s>")
    return ids + inx + [sep], tt + [1] * (len(inx) + 1)


def next_text(lst, i):
    return role_text(lst[i + 1]["role"], lst[i + 1]["text"]) if i + 1 < len(lst) else SESSION_END


def pad_batch(encs, pad_id=0):
    n = max(len(e[0]) for e in encs)
    ids = np.full((len(encs), n), pad_id, dtype=np.int64)
    tt = np.zeros((len(encs), n), dtype=np.int64)
    am = np.zeros((len(encs), n), dtype=np.int64)
    for i, (a, t) in enumerate(encs):
        ids[i, :len(a)] = a
        tt[i, :len(t)] = t
        am[i, :len(a)] = 1
    return ids, am, tt


# ---------------------------------------------------------------- data
def load_full(data_dir):
    f = pd.read_csv(os.path.join(data_dir, "AnnoMI-full.csv"), keep_default_na=True)
    return f


def fine_label(row):
    m = row["main_therapist_behaviour"]
    if m == "question":
        s = row["question_subtype"]
        return f"question_{s}" if isinstance(s, str) else None
    if m == "reflection":
        s = row["reflection_subtype"]
        return f"reflection_{s}" if isinstance(s, str) else None
    if m == "therapist_input":
        s = row["therapist_input_subtype"]
        return f"input_{s}" if isinstance(s, str) else None
    if m == "other":
        return "other"
    return None


def to_bool(v):
    if isinstance(v, str):
        return v.strip().lower() == "true"
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return None


def build_utterances(full):
    """One record per (transcript_id, utterance_id) with the list of annotations and context."""
    full = full.sort_values(["transcript_id", "utterance_id", "annotator_id"])
    recs = {}
    for r in full.to_dict("records"):
        k = (int(r["transcript_id"]), int(r["utterance_id"]))
        if k not in recs:
            recs[k] = {"transcript_id": k[0], "utterance_id": k[1], "role": r["interlocutor"],
                       "text": clean(r["utterance_text"]), "video_url": r["video_url"],
                       "mi_quality": r["mi_quality"], "ann": []}
        a = {"annotator": int(r["annotator_id"])}
        if r["interlocutor"] == "therapist":
            a["main"] = r["main_therapist_behaviour"] if r["main_therapist_behaviour"] in MAIN else None
            a["fine"] = fine_label(r)
            a["exists"] = [to_bool(r[c]) for c in EXISTS]
        else:
            a["client"] = r["client_talk_type"] if r["client_talk_type"] in CLIENT else None
        recs[k]["ann"].append(a)
    by_t = defaultdict(list)
    for k in sorted(recs):
        by_t[k[0]].append(recs[k])
    for t, lst in by_t.items():
        for i, u in enumerate(lst):
            prev = [(p["role"], p["text"]) for p in lst[max(0, i - CONTEXT_UTTERANCES):i]]
            u["a"], u["b"] = make_pair(u["role"], u["text"], prev)
            wide = [(p["role"], p["text"]) for p in lst[max(0, i - WIDE_CONTEXT_UTTERANCES):i]]
            u["b_wide"] = make_pair(u["role"], u["text"], wide, WIDE_CONTEXT_UTTERANCES)[1]
            u["next"] = next_text(lst, i)
    return [recs[k] for k in sorted(recs)]


def soft(values, labels):
    v = [x for x in values if x is not None]
    if not v:
        return None
    c = Counter(v)
    return np.array([c[l] / len(v) for l in labels], dtype=np.float32)


def plurality(values, labels):
    """Most frequent label; ties broken by the label's position in the head's label order."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    c = Counter(v)
    best = max(c.values())
    return next(l for l in labels if c.get(l, 0) == best)


def targets(u):
    """Soft targets (train) and plurality gold labels (eval) for one utterance."""
    ann = u["ann"]
    t = {}
    if u["role"] == "therapist":
        t["main_soft"] = soft([a["main"] for a in ann], MAIN)
        t["fine_soft"] = soft([a["fine"] for a in ann], FINE)
        ex = [a["exists"] for a in ann if all(e is not None for e in a["exists"])]
        t["exists_soft"] = np.mean(np.array(ex, dtype=np.float32), axis=0) if ex else None
        t["main"] = plurality([a["main"] for a in ann], MAIN)
        t["fine"] = plurality([a["fine"] for a in ann], FINE)
        t["exists"] = (t["exists_soft"] > 0.5).astype(int).tolist() if ex else None
    else:
        t["client_soft"] = soft([a["client"] for a in ann], CLIENT)
        t["client"] = plurality([a["client"] for a in ann], CLIENT)
    return t


def make_split(full, seed=SEED, dev_frac=0.2, n_multi_dev=2):
    """Group split by video_url (transcripts sharing a video stay together).
    Stratified by (multiply-annotated?, mi_quality): n_multi_dev multiply-annotated groups go to
    dev (one high-, one low-quality when possible) so a human reference can be computed on dev."""
    t = full.groupby("transcript_id").agg(video_url=("video_url", "first"), q=("mi_quality", "first"),
                                          n_ann=("annotator_id", "nunique"))
    g = t.groupby("video_url").agg(q=("q", lambda s: Counter(s).most_common(1)[0][0]),
                                   multi=("n_ann", lambda s: bool((s > 1).any())),
                                   tids=("n_ann", lambda s: sorted(int(i) for i in s.index)))
    rng = random.Random(seed)
    dev_urls = []
    multi = g[g.multi]
    by_q = {q: sorted(multi[multi.q == q].index) for q in ("high", "low")}
    for q in by_q:
        rng.shuffle(by_q[q])
    picks = []
    while len(picks) < n_multi_dev and any(by_q.values()):
        for q in ("low", "high"):
            if by_q[q] and len(picks) < n_multi_dev:
                picks.append(by_q[q].pop())
    dev_urls += picks
    single = g[~g.multi]
    for q in ("high", "low"):
        urls = sorted(single[single.q == q].index)
        rng.shuffle(urls)
        n_t = sum(len(g.loc[u, "tids"]) for u in urls)
        acc = 0
        for u in urls:
            if acc >= round(dev_frac * n_t):
                break
            dev_urls.append(u)
            acc += len(g.loc[u, "tids"])
    dev = sorted(i for u in dev_urls for i in g.loc[u, "tids"])
    train = sorted(int(i) for i in t.index if int(i) not in set(dev))
    multi_t = sorted(int(i) for i in t.index[t.n_ann > 1])
    return {"seed": seed, "group_by": "video_url", "dev_fraction_target": dev_frac,
            "train_transcripts": train, "dev_transcripts": dev,
            "multiply_annotated_transcripts": multi_t,
            "multiply_annotated_in_dev": [i for i in multi_t if i in dev]}


def jdump(obj, path):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
