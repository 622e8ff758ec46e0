"""Grouped cross-validation of the coder recipe over every AnnoMI transcript the project has.

Usage: python cv.py [--data-dir DIR] [--folds K] [--epochs N] [--threads N] [--fold I ...] [--label NAME]
       MITOOL_CODER_ENCODER=work/mpnet/all-mpnet-base-v2 python cv.py --label mpnet   (fetch_mpnet.sh first)
Folds group transcripts by video_url (transcripts of one video are never split between training and
test) and balance high- and low-quality transcripts across folds. Each fold trains the recipe of
train.py from scratch on the other folds and is scored on its own transcripts (PyTorch fp32).
A fold's result is kept in work/cv/fold-I.json as soon as it is done, so a killed run resumes where
it stopped (--fold picks folds to run; the default is every fold not done yet). cv.json (committed)
and the printed table summarise the folds done so far: mean and sample sd across folds.

Session figures here count utterances in AnnoMI's units (a question, a reflection per utterance),
not the MITI volleys `mitool score` counts, so they compare models with each other, not with the
session figures of the card: argmax = each utterance's most likely code; expected = sum of the
uncalibrated probabilities.
"""
import argparse
import json
import os
import random
import time
from collections import Counter, defaultdict

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from common import (DEFAULT_DATA, HEADS, HERE, MAX_LENGTH, MODEL_VERSION, SEED, encode_pair,
                    jdump, load_full, pad_batch, set_seeds)
from export_eval import OUT_NAMES, evaluate
from train import WORK, Probs, encode_utterance, encoder_layers, fit, load_tokenizer, prepare

CV_DIR = os.path.join(WORK, "cv")
TASKS = ["therapist_main", "therapist_fine", "client_talk", "exists"]
SESSION = ["r_to_q", "pct_complex_reflections", "pct_open_questions"]


def make_folds(full, k, seed=SEED):
    """Transcript ids per fold: video groups dealt, per MI quality, to the fold with fewest transcripts."""
    t = full.groupby("transcript_id").agg(video_url=("video_url", "first"), q=("mi_quality", "first"))
    groups = defaultdict(list)
    for tid, row in t.iterrows():
        groups[row.video_url].append(int(tid))
    quality = {u: Counter(t.loc[tids, "q"]).most_common(1)[0][0] for u, tids in groups.items()}
    rng = random.Random(seed)
    folds = [[] for _ in range(k)]
    for q in ("high", "low"):
        urls = sorted(u for u in groups if quality[u] == q)
        rng.shuffle(urls)
        for u in urls:
            count = [sum(1 for i in f if t.loc[i, "q"] == q) for f in folds]
            folds[int(np.argmin(count))].extend(groups[u])
    return [sorted(f) for f in folds], {int(i): q for i, q in t["q"].items()}


@torch.no_grad()
def predict(model, items, bs=64):
    model.eval()
    probs = Probs(model)
    out = {h: np.zeros((len(items), len(HEADS[h])), dtype=np.float32) for h in OUT_NAMES}
    order = sorted(range(len(items)), key=lambda i: len(items[i]["ids"]))
    for s in range(0, len(order), bs):
        b = order[s:s + bs]
        ids, am, tt = (torch.from_numpy(x) for x in pad_batch([(items[i]["ids"], items[i]["tt"]) for i in b]))
        for h, v in zip(OUT_NAMES, probs(ids, am, tt)):
            out[h][b] = v.numpy()
    return out


def ratio(num, den):
    return num / den if den > 0 else None


def session_scores(counts):
    """R:Q, %CR, %OQ from counts of questions, reflections and their kinds."""
    return {"r_to_q": ratio(counts["R"], counts["Q"]),
            "pct_complex_reflections": ratio(counts["CR"], counts["CR"] + counts["SR"]),
            "pct_open_questions": ratio(counts["OQ"], counts["OQ"] + counts["CQ"])}


# Session count -> (head, its gold key, label counted).
EVENTS = {"Q": ("therapist_main", "main", "question"), "R": ("therapist_main", "main", "reflection"),
          "CR": ("therapist_fine", "fine", "reflection_complex"),
          "SR": ("therapist_fine", "fine", "reflection_simple"),
          "OQ": ("therapist_fine", "fine", "question_open"), "CQ": ("therapist_fine", "fine", "question_closed")}


def sessions(test, probs):
    """Per transcript: session scores from the human plurality codes, argmax codes and expected counts."""
    by_t = defaultdict(lambda: {"gold": Counter(), "argmax": Counter(), "expected": Counter()})
    for i, u in enumerate(test):
        if u["role"] != "therapist":
            continue
        c = by_t[u["transcript_id"]]
        for key, (head, gold, label) in EVENTS.items():
            labels = HEADS[head]
            p = probs[head][i]
            c["gold"][key] += u[gold] == label
            c["argmax"][key] += labels[int(np.argmax(p))] == label
            c["expected"][key] += float(p[labels.index(label)])
    return {str(t): {k: session_scores(v) for k, v in c.items()} for t, c in sorted(by_t.items())}


def run_fold(i, test_ids, utts, tok, args):
    path = os.path.join(args.cv_dir, f"fold-{i}.json")
    test_set = set(test_ids)
    train = [u for u in utts if u["transcript_id"] not in test_set]
    test = [u for u in utts if u["transcript_id"] in test_set]
    for u in train + test:
        if "ids" not in u:
            encode_utterance(u, tok, args.context, args.spoken_marks)
    if args.teacher:
        train = distilled(train, args.teacher, i, args.alpha, args.cross_fitted)
    print(f"fold {i}: train {len(train)} utterances, test {len(test_ids)} transcripts ({len(test)} utterances)",
          flush=True)
    t0 = time.time()
    set_seeds(SEED)
    model, log = fit(train, args)
    probs = predict(model, test)
    res = evaluate(probs, test)
    # Out-of-fold probabilities, kept so session estimators can be chosen by CV without retraining.
    np.savez_compressed(os.path.join(args.cv_dir, f"fold-{i}-probs.npz"),
                        transcript_id=np.array([u["transcript_id"] for u in test]),
                        utterance_id=np.array([u["utterance_id"] for u in test]), **probs)
    out = {"fold": i, "test_transcripts": sorted(test_ids), "n_train_utterances": len(train),
           "train_seconds": round(time.time() - t0),
           "epoch_loss": log["epoch_loss"],
           "macro_f1": {h: res[h]["macro_f1"] for h in TASKS},
           "accuracy": {h: res[h]["accuracy"] for h in TASKS if "accuracy" in res[h]},
           "sessions": sessions(test, probs)}
    tmp = path + ".tmp"
    jdump(out, tmp)
    os.replace(tmp, path)
    if args.label:
        # The fold's small result files, for git: a CV that outlives a session resumes from them.
        from topk import write_probs
        run_dir = os.path.join(HERE, "runs", args.label)
        os.makedirs(run_dir, exist_ok=True)
        write_probs(os.path.join(run_dir, f"fold-{i}-probs.csv"), test, probs)
        jdump({**out, "label": args.label, "recipe": recipe_of(args)}, os.path.join(run_dir, f"fold-{i}.json"))
    print(f"fold {i}: " + ", ".join(f"{h} {out['macro_f1'][h]:.3f}" for h in TASKS)
          + f" ({out['train_seconds'] / 60:.1f} min)", flush=True)


def distilled(train, teacher, fold, alpha, cross_fitted=False):
    """The training utterances with each soft target mixed with a teacher's probabilities:
    (1 - alpha) * human + alpha * teacher. The teacher (topk.py --teacher) was fitted on this fold's
    training transcripts only, so the fold's test transcripts stay unseen by both models. Cross-fitted
    (topk.py --cross-fit), each training utterance's target comes from a teacher that never saw it
    either: a teacher scoring its own training data mostly repeats the human codes."""
    from topk import read_probs
    name = f"fold-{fold}-teacher-xfit.csv.gz" if cross_fitted else f"fold-{fold}-teacher.csv.gz"
    t, n, probs = read_probs(os.path.join(HERE, "runs", teacher, name))
    row = {(int(a), int(b)): j for j, (a, b) in enumerate(zip(t, n))}
    out = []
    for u in train:
        j = row[(u["transcript_id"], u["utterance_id"])]
        u = dict(u)
        for key, head in (("main_soft", "therapist_main"), ("fine_soft", "therapist_fine"),
                          ("exists_soft", "exists"), ("client_soft", "client_talk")):
            if u.get(key) is not None:
                u[key] = ((1 - alpha) * np.asarray(u[key]) + alpha * probs[head][j]).astype(np.float32)
        out.append(u)
    return out


def recipe_of(args):
    return {k: getattr(args, k) for k in ("epochs", "lr", "head_lr", "batch_size", "low_quality_weight",
                                          "spoken_text", "spoken_marks", "context", "teacher", "alpha",
                                          "cross_fitted")} | {
        "encoder": os.path.basename(os.environ.get("MITOOL_CODER_ENCODER", "all-MiniLM-L6-v2")),
        "encoder_layers": encoder_layers(), "seed": SEED}


def restore(args, k):
    """A fold whose result is in runs/<label>/ (from git) but not in work/: rebuild work/'s files."""
    run_dir = os.path.join(HERE, "runs", args.label or "")
    src = os.path.join(run_dir, f"fold-{k}.json")
    if not args.label or not os.path.exists(src) or os.path.exists(os.path.join(args.cv_dir, f"fold-{k}.json")):
        return
    from topk import read_probs
    t, n, probs = read_probs(os.path.join(run_dir, f"fold-{k}-probs.csv"))
    np.savez_compressed(os.path.join(args.cv_dir, f"fold-{k}-probs.npz"), transcript_id=t, utterance_id=n, **probs)
    jdump(json.load(open(src)), os.path.join(args.cv_dir, f"fold-{k}.json"))


def mean_sd(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"mean": float(np.mean(xs)), "sd": float(np.std(xs, ddof=1)) if len(xs) > 1 else None, "n": len(xs)}


def summarise(folds, quality, k, args):
    done = []
    for i, f in enumerate(folds):
        path = os.path.join(args.cv_dir, f"fold-{i}.json")
        if os.path.exists(path):
            r = json.load(open(path))
            if r["test_transcripts"] == f:
                done.append(r)
    recipe = "train.py (every setting as shipped)" if not args.label else f"variant {args.label}: " + ", ".join(
        f"{k} {getattr(args, k)}" for k in ("epochs", "lr", "head_lr", "batch_size", "low_quality_weight", "spoken_text",
                                            "spoken_marks", "context"))
    if os.environ.get("MITOOL_CODER_ENCODER"):
        recipe += f", encoder {os.path.basename(os.environ['MITOOL_CODER_ENCODER'])}"
    summary = {"model_version": MODEL_VERSION, "recipe": recipe,
               "folds": k, "folds_done": [r["fold"] for r in done], "seed": SEED,
               "group_by": "video_url", "fold_transcripts": folds,
               "per_fold": [{"fold": r["fold"], "macro_f1": r["macro_f1"], "train_seconds": r["train_seconds"]}
                            for r in done],
               "macro_f1": {h: mean_sd([r["macro_f1"][h] for r in done]) for h in TASKS}}
    # Session error per fold (MAE over the fold's transcripts), then mean and sd across folds;
    # R:Q's power to tell high- from low-quality sessions pooled over every transcript scored.
    sess = {}
    for kind in ("argmax", "expected"):
        per = {m: [] for m in SESSION}
        pooled = []
        for r in done:
            for m in SESSION:
                errs = [abs(s[kind][m] - s["gold"][m]) for s in r["sessions"].values()
                        if s[kind][m] is not None and s["gold"][m] is not None]
                per[m].append(float(np.mean(errs)) if errs else None)
            pooled += [(quality[int(t)], s[kind]["r_to_q"]) for t, s in r["sessions"].items()
                       if s[kind]["r_to_q"] is not None]
        labels = [q == "high" for q, _ in pooled]
        auc = roc_auc_score(labels, [x for _, x in pooled]) if len(set(labels)) == 2 else None
        # Signed R:Q error by MI quality: where the codes lose the high/low difference.
        bias = {}
        for q in ("high", "low"):
            d = [s[kind]["r_to_q"] - s["gold"]["r_to_q"] for r in done for t, s in r["sessions"].items()
                 if quality[int(t)] == q and s[kind]["r_to_q"] is not None and s["gold"]["r_to_q"] is not None]
            bias[q] = {"mean_signed_error": float(np.mean(d)) if d else None, "n": len(d)}
        sess[kind] = {**{m: mean_sd(per[m]) for m in SESSION}, "r_to_q_auc_high_vs_low": auc,
                      "n_transcripts": len(pooled), "r_to_q_bias_by_quality": bias}
    gold = [(quality[int(t)], s["gold"]["r_to_q"]) for r in done for t, s in r["sessions"].items()
            if s["gold"]["r_to_q"] is not None]
    labels = [q == "high" for q, _ in gold]
    sess["human_r_to_q_auc_high_vs_low"] = (roc_auc_score(labels, [x for _, x in gold])
                                            if len(set(labels)) == 2 else None)
    summary["sessions"] = sess
    jdump(summary, args.summary)
    return summary


def fmt(m):
    if m is None:
        return "-"
    return f"{m['mean']:.3f}" + (f" ± {m['sd']:.3f}" if m["sd"] is not None else "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--fold", type=int, nargs="*", help="folds to run (default: every fold not done)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--low-quality-weight", type=float, default=1.0)
    ap.add_argument("--spoken-text", type=float, default=0.0)
    ap.add_argument("--spoken-marks", choices=["all", "declarative"], default="all")
    ap.add_argument("--context", choices=["pair", "around", "wide"], default="pair")
    ap.add_argument("--label", help="a variant of the recipe: folds in work/cv-LABEL/, summary work/cv-LABEL.json")
    ap.add_argument("--teacher", help="distil: a topk.py --teacher run's label (runs/LABEL/fold-I-teacher.csv.gz)")
    ap.add_argument("--alpha", type=float, default=0.5, help="the teacher's share of each soft target")
    ap.add_argument("--cross-fitted", action="store_true",
                    help="the teacher's cross-fitted targets (runs/LABEL/fold-I-teacher-xfit.csv.gz)")
    ap.add_argument("--summary-only", action="store_true")
    args = ap.parse_args()
    args.time_batches = 0
    args.cv_dir = CV_DIR if not args.label else os.path.join(WORK, f"cv-{args.label}")
    args.summary = os.path.join(HERE, "cv.json") if not args.label else os.path.join(WORK, f"cv-{args.label}.json")
    torch.set_num_threads(args.threads)
    os.makedirs(args.cv_dir, exist_ok=True)
    full = load_full(args.data_dir)
    folds, quality = make_folds(full, args.folds)
    for k in range(args.folds):
        restore(args, k)
    if not args.summary_only:
        _, utts = prepare(args.data_dir)
        tok = load_tokenizer()
        todo = args.fold if args.fold is not None else [
            i for i in range(args.folds) if not os.path.exists(os.path.join(args.cv_dir, f"fold-{i}.json"))]
        for i in todo:
            run_fold(i, folds[i], utts, tok, args)
    s = summarise(folds, quality, args.folds, args)
    print(f"\n{len(s['folds_done'])} of {args.folds} folds done")
    print("| task | macro-F1, mean ± sd across folds |\n|---|---|")
    for h in TASKS:
        print(f"| {h} | {fmt(s['macro_f1'][h])} |")
    print("\n| session (utterance counts) | R:Q MAE | %CR MAE | %OQ MAE | R:Q AUC high vs low |\n|---|---|---|---|---|")
    for kind in ("argmax", "expected"):
        k = s["sessions"][kind]
        auc = k["r_to_q_auc_high_vs_low"]
        auc = f"{auc:.3f}" if auc is not None else "-"
        print(f"| {kind} | " + " | ".join(fmt(k[m]) for m in SESSION) + f" | {auc} |")
    h = s["sessions"]["human_r_to_q_auc_high_vs_low"]
    if h is not None:
        print(f"\nR:Q AUC from the human codes: {h:.3f}")


if __name__ == "__main__":
    main()
