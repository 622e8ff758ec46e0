"""Train, evaluate and export mitool's text role model (which speaker is the
practitioner, from their words). See MODEL_CARD.md; run through train.sh.

Steps (all deterministic):
1. AnnoMI utterances of the 84 train transcripts (models/coder/split.json),
   label = therapist (1) vs client (0).
2. Grouped 5-fold CV over train transcripts chooses the feature cap, the
   L2 strength C and the speaker aggregation (by the cross-validated log-loss
   of calibrated speaker calls on windows of train transcripts); out-of-fold (OOF) scores fit
   the speaker-level calibration (and the combination with assign_roles'
   talk-pattern + coder-vote score).
3. Refit on all train transcripts, round weights to 4 significant digits,
   export mitool-core/data/role_words.json (+ parity examples), and evaluate
   the exported (rounded) model on the 22 dev transcripts, never used above,
   and on mitool's output for the spoken dev sessions of benches/validity.
"""

import argparse
import json
import math
import os
import random

import numpy as np
from scipy.optimize import minimize
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

import common

SEED = 13
FOLDS = 5
CAPS = [2000, 4000, 8000]
CS = [0.1, 0.3, 1.0]
MIN_DF = 2  # a feature must occur in >= 2 train utterances
PREFIXES = [10, 20, None]  # first N utterances of a transcript; None = all
CALIB_WINDOWS = [4, 6, 8, 10, 14, 20, 30, None]  # consecutive windows of N utterances; None = all
VERSION = "mitool-role-words-v1"
OUT_JSON = os.path.join(common.REPO, "mitool-core", "data", "role_words.json")
OUT_PARITY = os.path.join(common.REPO, "mitool-core", "data", "role_words_parity.json")
OUT_METRICS = os.path.join(common.HERE, "metrics.json")


def sig4(x):
    """x rounded to 4 significant digits (as a float that prints short)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    return float(f"{x:.4g}")


# ------------------------------------------------------------------- features


def build_vocab(utts, cap):
    """Top `cap` features by utterance frequency (>= MIN_DF), ties by name."""
    df = {}
    for _, _, feats in utts:
        for f in feats:
            df[f] = df.get(f, 0) + 1
    items = sorted(((-c, f) for f, c in df.items() if c >= MIN_DF))[:cap]
    return {f: i for i, f in enumerate(sorted(f for _, f in items))}


def matrix(utts, vocab):
    rows, cols = [], []
    for r, (_, _, feats) in enumerate(utts):
        for f in feats:
            j = vocab.get(f)
            if j is not None:
                rows.append(r)
                cols.append(j)
    data = np.ones(len(rows), dtype=np.float64)
    return csr_matrix((data, (rows, cols)), shape=(len(utts), len(vocab)))


def fit(utts, cap, c):
    vocab = build_vocab(utts, cap)
    x = matrix(utts, vocab)
    y = np.array([1 if role == "therapist" else 0 for _, role, _ in utts])
    m = LogisticRegression(C=c, solver="lbfgs", max_iter=5000, tol=1e-8)
    m.fit(x, y)
    w = {f: float(m.coef_[0][j]) for f, j in vocab.items()}
    return w, float(m.intercept_[0])


def score_feats(feats, w, b):
    return b + sum(w.get(f, 0.0) for f in feats)


# ------------------------------------------------------------ speaker level

AGGS = ["mean", "mean_k2", "word"]


def speaker_scores(items, agg):
    """items: [(speaker, n_tokens, logit, bias)] -> ({speaker: score}, {speaker: n}).
    mean: mean utterance logit (utterances with no token skipped);
    mean_k2: sum of logits / (n + 2), a speaker with few utterances shrunk to 0;
    word: sum of feature weights over the speaker's utterances / tokens."""
    acc = {}
    for spk, ntok, logit, bias in items:
        if ntok == 0:
            continue
        a = acc.setdefault(spk, [0.0, 0, 0.0, 0])
        a[0] += logit
        a[1] += 1
        a[2] += logit - bias
        a[3] += ntok
    n = {k: v[1] for k, v in acc.items()}
    if agg == "mean":
        return {k: v[0] / v[1] for k, v in acc.items()}, n
    if agg == "mean_k2":
        return {k: v[0] / (v[1] + 2.0) for k, v in acc.items()}, n
    return {k: v[2] / v[3] for k, v in acc.items()}, n


def idx(utts, part):
    """(index in utts, row) for a window `part` that is a slice of utts."""
    start = 0
    if part and part[0] is not utts[0]:
        start = next(i for i in range(len(utts)) if utts[i] is part[0])
    return [(start + k, r) for k, r in enumerate(part)]


def calib_rows(transcripts, logits, bias_of, agg, votes=None, talk=True):
    return pair_rows(transcripts, logits, bias_of, agg,
                     [("win", L) for L in CALIB_WINDOWS if L] + [None], votes, talk)


def pair_rows(transcripts, logits, bias_of, agg, prefixes, votes=None, talk=True):
    """One row per (transcript, prefix) where both roles spoke: dict with
    tid, p, d = score(therapist) - score(client), n = the fewer utterances of
    the two, and d_tp / d_mt: the same difference for assign_roles' talk
    pattern alone and talk pattern + coder votes (when votes are given)."""
    rows = []
    for tid, utts in transcripts.items():
        parts = []
        for p in prefixes:
            if isinstance(p, tuple):  # ("win", L): every whole window of L utterances
                parts += [(p, utts[i:i + p[1]]) for i in range(0, len(utts) - p[1] + 1, p[1])]
            else:
                parts.append((p, utts if p is None else utts[:p]))
        for p, part in parts:
            items = [
                (role, len(toks), logits[tid][k], bias_of[tid])
                for k, (role, text, toks, feats) in idx(utts, part)
            ]
            s, n = speaker_scores(items, agg)
            if "therapist" not in s or "client" not in s:
                continue
            row = {"tid": tid, "p": p, "d": s["therapist"] - s["client"], "n": min(n.values())}
            if not talk:
                rows.append(row)
                continue
            by = {"therapist": [], "client": []}
            vby = {"therapist": [], "client": []}
            for i, (role, text, _, _) in idx(utts, part):
                by[role].append(text)
                if votes is not None:
                    vby[role].append(votes[tid][i])
            tp = {r: common.talk_pattern_score(by[r]) or 0.0 for r in by}
            row["d_tp"] = tp["therapist"] - tp["client"]
            if votes is not None:
                mt = {r: common.mitool_score(by[r], vby[r]) or 0.0 for r in by}
                row["d_mt"] = mt["therapist"] - mt["client"]
            rows.append(row)
    return rows


KIND_TERMS = {
    "d": ["d"],
    "d_sqrtn": ["d", "d*sqrt(n)"],
    "tp": ["tp"],
    "mt": ["mt"],
    "d+tp": ["d", "tp"],
    "d+mt": ["d", "mt"],
    "d_sqrtn+mt": ["d", "d*sqrt(n)", "mt"],
    "d_sqrtn+tp": ["d", "d*sqrt(n)", "tp"],
}


def calib_x(row, kind, sign=1.0):
    val = {
        "d": lambda: row["d"],
        "d*sqrt(n)": lambda: row["d"] * math.sqrt(row["n"]),
        "tp": lambda: row["d_tp"],
        "mt": lambda: row["d_mt"],
    }
    return [sign * val[t]() for t in KIND_TERMS[kind]]


def fit_calibration(rows, kind):
    """Platt scaling without intercept (the order of the two speakers must not
    matter), every coefficient >= 0 (more practitioner-like evidence can only
    raise the probability), a weak L2 pull (1e-3) keeping near-separable
    fits finite."""
    x = np.array([calib_x(r, kind) for r in rows])

    def loss(c):
        z = x @ c
        # -log sigmoid(z), stable
        l = np.logaddexp(0.0, -z).sum() + 0.5e-3 * float(c @ c)
        g = -(x * (1.0 / (1.0 + np.exp(z)))[:, None]).sum(0) + 1e-3 * c
        return l, g

    r = minimize(loss, np.full(x.shape[1], 0.1), jac=True, method="L-BFGS-B",
                 bounds=[(0.0, None)] * x.shape[1], options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    return [float(v) for v in r.x]


def calib_z(row, kind, coef):
    """Calibrated log-odds that the therapist is the practitioner."""
    return sum(a * b for a, b in zip(coef, calib_x(row, kind)))


def logloss(rows, kind, coef):
    s = 0.0
    for r in rows:
        p = min(max(common.sigmoid(calib_z(r, kind, coef)), 1e-9), 1 - 1e-9)
        s -= math.log(p)
    return s / max(len(rows), 1)


def cv_logloss(rows, kind):
    """Calibration log-loss, each fold's rows scored by a fit on the others."""
    s = 0.0
    for fold in folds_of(sorted({r["tid"] for r in rows})):
        fs = set(fold)
        coef = fit_calibration([r for r in rows if r["tid"] not in fs], kind)
        held = [r for r in rows if r["tid"] in fs]
        s += logloss(held, kind, coef) * len(held)
    return s / len(rows)


# --------------------------------------------------------------------- main


def prepare(data, tids):
    out = {}
    for tid in tids:
        rows = []
        for role, text in data[tid]:
            toks = common.tokens(text)
            rows.append((role, text, toks, common.features(toks)))
        out[tid] = rows
    return out


def flat(transcripts):
    return [(tid, role, feats) for tid, rows in transcripts.items() for role, _, _, feats in rows]


def folds_of(tids):
    rng = random.Random(SEED)
    t = list(tids)
    rng.shuffle(t)
    return [sorted(t[k::FOLDS]) for k in range(FOLDS)]


def oof_logits(train, cap, c):
    logits, bias_of = {}, {}
    for fold in folds_of(sorted(train)):
        fit_set = flat({t: v for t, v in train.items() if t not in fold})
        w, b = fit(fit_set, cap, c)
        for t in fold:
            logits[t] = [score_feats(feats, w, b) for _, _, _, feats in train[t]]
            bias_of[t] = b
    return logits, bias_of


def utterance_metrics(transcripts, logits):
    y, s = [], []
    for tid, rows in transcripts.items():
        for (role, _, toks, _), z in zip(rows, logits[tid]):
            y.append(1 if role == "therapist" else 0)
            s.append(z)
    y, s = np.array(y), np.array(s)
    return {
        "n": int(len(y)),
        "accuracy": round(float(((s > 0).astype(int) == y).mean()), 4),
        "auc": round(float(roc_auc_score(y, s)), 4),
    }


def speaker_metrics(rows, kind, coef, prefixes=PREFIXES):
    """Per prefix: how often the calibrated log-odds favour the therapist,
    and the probability given to the chosen speaker on right and wrong calls."""
    out = {}
    for p in prefixes:
        r = [x for x in rows if x["p"] == p]
        z = [calib_z(x, kind, coef) for x in r]
        conf = [common.sigmoid(abs(v)) for v in z]
        right = [c for v, c in zip(z, conf) if v > 0]
        wrong = [c for v, c in zip(z, conf) if v <= 0]
        name = "all" if p is None else (f"win{p[1]}" if isinstance(p, tuple) else f"first{p}")
        out[name] = {
            "n": len(r),
            "right": len(right),
            "accuracy": round(len(right) / max(len(r), 1), 4),
            "mean_p_right": round(sum(right) / len(right), 3) if right else None,
            "min_p_right": round(min(right), 3) if right else None,
            "p_wrong": [round(c, 3) for c in wrong],
            "wrong_transcripts": [x["tid"] for x, v in zip(r, z) if v <= 0],
            "logloss": round(logloss(r, kind, coef), 4),
        }
    return out


def reliability(rows, kind, coef):
    """Calls binned by the probability given to the chosen speaker: how many,
    and how many were right."""
    bins = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0001]
    out = []
    for lo, hi in zip(bins, bins[1:]):
        zs = [calib_z(r, kind, coef) for r in rows]
        sel = [z for z in zs if lo <= common.sigmoid(abs(z)) < hi]
        if sel:
            out.append({"p": f"{lo:.2f}-{min(hi, 1.0):.2f}", "n": len(sel),
                        "right": sum(1 for z in sel if z > 0),
                        "mean_p": round(sum(common.sigmoid(abs(z)) for z in sel) / len(sel), 3)})
    return out


def whisper_style(transcripts):
    """Dev text as Whisper would give it, roughly: no bracketed annotations,
    no um/uh (normalisation drops these anyway), and no utterance that is only
    a backchannel (Whisper and the turn builder often swallow "Mm-hmm.")."""
    back = {"mm", "hmm", "mm hmm", "mhm", "uh huh", "huh", "yeah", "okay", "ok", "right", "hm"}
    out = {}
    for tid, rows in transcripts.items():
        keep = [r for r in rows if r[2] and " ".join(r[2]) not in back]
        out[tid] = keep
    return out


def spoken_rows(sessions, w, b, agg, votes):
    """Per spoken session: each speaker label's text score and assign_roles
    score; the row for top-vs-runner-up is built by the caller."""
    out = []
    for s in sessions:
        spk = {}
        for i, (label, text, _, _) in enumerate(s["utterances"]):
            toks = common.tokens(text)
            e = spk.setdefault(label, {"texts": [], "votes": [], "items": []})
            e["texts"].append(text)
            e["votes"].append(votes[s["session"]][i] if votes else 0.5)
            e["items"].append((label, len(toks), score_feats(common.features(toks), w, b), b))
        items = [it for e in spk.values() for it in e["items"]]
        text_s, n = speaker_scores(items, agg)
        mt = {k: common.mitool_score(e["texts"], e["votes"]) for k, e in spk.items()}
        tp = {k: common.talk_pattern_score(e["texts"]) for k, e in spk.items()}
        out.append({"session": s["session"], "truth": s["practitioner"], "text": text_s,
                    "n": n, "mt": mt, "tp": tp, "mitool_confidence": s["mitool_confidence"]})
    return out


def spoken_decision(sess, kind, coef):
    """The speaker who beats every other (largest worst-case calibrated
    log-odds), and the probability that they, not the runner-up, are the
    practitioner."""
    labels = sorted(k for k in sess["text"] if sess["mt"].get(k) is not None)
    if len(labels) < 2:
        return None

    def row(a, c):
        return {"d": sess["text"][a] - sess["text"][c], "n": min(sess["n"][a], sess["n"][c]),
                "d_mt": sess["mt"][a] - sess["mt"][c], "d_tp": sess["tp"][a] - sess["tp"][c]}

    def worst(a):
        return min((calib_z(row(a, c), kind, coef), c) for c in labels if c != a)

    best = max(labels, key=lambda a: (worst(a)[0], a))
    z, runner = worst(best)
    return {"chosen": best, "right": best == sess["truth"], "p": round(common.sigmoid(z), 3)}


def parity_examples(w, b):
    texts = [
        "So what brings you here today?",
        "It sounds like you're worried about your drinking, and you also want to keep your job.",
        "I don't know, I just... I think I drink too much sometimes [sighs].",
        "Um, yeah. My wife keeps telling me to stop, uh, smoking.",
        "Mm-hmm.",
        "On a scale of 0 to 10, how important is it for you to make a change?",
        "I\u2019m the nurse on the ward today. The tablets come in 10, 20 and 40-milligram doses.",
        "Okay, but can I take them with my other pills?",
        "What would you like to do next, if anything?",
        "",
        "[laughs] (inaudible)",
        "ÉCOLE Straße -- don't 'quote' me",
    ]
    return [{"text": t, "tokens": common.tokens(t), "score": round(score_feats(common.features(common.tokens(t)), w, b), 6)} for t in texts]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=common.DEFAULT_DATA)
    ap.add_argument("--quick", action="store_true", help="skip the hyper-parameter grid (use the card's choice)")
    args = ap.parse_args()
    data = common.load_annomi(args.data_dir)
    train_ids, dev_ids = common.load_split()
    assert not set(train_ids) & set(dev_ids)
    train = prepare(data, train_ids)
    dev = prepare(data, dev_ids)
    votes_path = os.path.join(common.WORK, "votes.json")
    votes = json.load(open(votes_path)) if os.path.exists(votes_path) else None
    avotes = {int(k): v for k, v in votes["annomi"].items()} if votes else None
    metrics = {"version": VERSION, "seed": SEED, "folds": FOLDS, "min_df": MIN_DF,
               "train_transcripts": len(train), "dev_transcripts": len(dev),
               "train_utterances": sum(len(v) for v in train.values()),
               "dev_utterances": sum(len(v) for v in dev.values())}

    # ---- 1. grouped CV over train transcripts: cap, C, aggregation
    grid = [(cap, c) for cap in CAPS for c in CS] if not args.quick else [(8000, 0.3)]
    cv, best, oof = [], None, {}
    for cap, c in grid:
        logits, bias_of = oof_logits(train, cap, c)
        um = utterance_metrics(train, logits)
        oof[(cap, c)] = (logits, bias_of)
        for agg in AGGS:
            rows = calib_rows(train, logits, bias_of, agg, talk=False)
            acc = sum(1 for r in rows if r["d"] > 0) / len(rows)
            ll = cv_logloss(rows, "d")
            entry = {"cap": cap, "C": c, "agg": agg, "utt_auc": um["auc"],
                     "speaker_acc": round(acc, 4), "speaker_logloss": round(ll, 4)}
            cv.append(entry)
            key = -ll  # calibrated log-loss: smooth, uses every call's margin
            if best is None or key > best[0]:
                best = (key, entry)
            print(entry, flush=True)
    metrics["cv"] = cv
    metrics["cv_rows"] = "speaker decisions on consecutive windows of %s utterances of each train transcript" % CALIB_WINDOWS
    chosen = best[1]
    cap, c, agg = chosen["cap"], chosen["C"], chosen["agg"]
    metrics["chosen"] = chosen
    print("chosen", chosen, flush=True)

    # ---- 2. calibration (and combination) on OOF train rows
    logits, bias_of = oof[(cap, c)]
    metrics["oof_utterance"] = utterance_metrics(train, logits)
    rows = calib_rows(train, logits, bias_of, agg, avotes)
    kinds = ["d", "d_sqrtn", "tp", "d+tp", "d_sqrtn+tp"] + (["mt", "d+mt", "d_sqrtn+mt"] if avotes else [])
    calib = {}
    for kind in kinds:
        calib[kind] = {"coef": [round(v, 4) for v in fit_calibration(rows, kind)],
                       "cv_logloss": round(cv_logloss(rows, kind), 4)}
        print("calibration", kind, calib[kind], flush=True)
    metrics["calibration_train_oof"] = calib
    text_kind = min(["d", "d_sqrtn"], key=lambda k: calib[k]["cv_logloss"])
    metrics["text_calibration"] = text_kind
    comb_kind = {"d": "d+tp", "d_sqrtn": "d_sqrtn+tp"}[text_kind]
    metrics["combined_calibration"] = comb_kind
    prow = pair_rows(train, logits, bias_of, agg, PREFIXES, avotes)
    metrics["train_oof_speaker"] = {k: speaker_metrics(prow, k, calib[k]["coef"]) for k in kinds}
    metrics["train_oof_windows"] = {k: speaker_metrics(rows, k, calib[k]["coef"], [("win", L) for L in CALIB_WINDOWS if L]) for k in kinds}

    # ---- 3. final fit, rounding, export
    w_raw, b_raw = fit(flat(train), cap, c)
    w = {f: sig4(v) for f, v in sorted(w_raw.items()) if sig4(v) != 0.0}
    b = sig4(b_raw)
    metrics["rounding_max_abs_logit_change_dev"] = float(f"{max(abs(score_feats(feats, w, b) - score_feats(feats, w_raw, b_raw)) for rows_ in dev.values() for _, _, _, feats in rows_):.2g}")
    coef = calib[text_kind]["coef"]
    export = {
        "version": VERSION,
        "normalisation": common.NORMALISATION,
        "fillers": sorted(common.FILLERS),
        "speaker_score": {"mean": "sum of utterance logits / n",
                          "mean_k2": "sum of utterance logits / (n + 2)",
                          "word": "sum of feature weights / tokens"}[agg],
        "speaker_prior_utterances": 2.0 if agg == "mean_k2" else 0.0,
        "calibration": {
            "form": "P(A is the practitioner) = 1 / (1 + exp(-(a * d + b * d * sqrt(n)))), "
                    "d = score(A) - score(B), n = the fewer utterances of the two speakers",
            "a": coef[0],
            "b": coef[1] if len(coef) > 1 else 0.0,
        },
        "combined": {
            "form": "P(A is the practitioner) = 1 / (1 + exp(-(a * d + b * d * sqrt(n) + t * (tp(A) - tp(B))))), "
                    "tp = mitool-core roles::TalkPattern::score()",
            "a": calib[comb_kind]["coef"][0],
            "b": calib[comb_kind]["coef"][1] if comb_kind == "d_sqrtn+tp" else 0.0,
            "t": calib[comb_kind]["coef"][-1],
        },
        "bias": b,
        "features": w,
    }
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w", encoding="utf-8") as f:
        json.dump(export, f, ensure_ascii=False, indent=0, sort_keys=False)
        f.write("\n")
    metrics["export"] = {"features": len(w), "bytes": os.path.getsize(OUT_JSON)}
    parity = {"version": VERSION, "examples": parity_examples(w, b)}
    ex = parity["examples"]
    parity["speaker_examples"] = []
    for a_idx, b_idx in [([0, 1, 5, 8], [2, 3, 4]), ([6, 4], [7, 3]), ([2], [1])]:
        a_t = [ex[i]["text"] for i in a_idx]
        b_t = [ex[i]["text"] for i in b_idx]
        items = [("A", len(common.tokens(t)), score_feats(common.features(common.tokens(t)), w, b), b) for t in a_t]
        items += [("B", len(common.tokens(t)), score_feats(common.features(common.tokens(t)), w, b), b) for t in b_t]
        s, n = speaker_scores(items, agg)
        row = {"d": s["A"] - s["B"], "n": min(n.values())}
        parity["speaker_examples"].append({"a": a_t, "b": b_t, "score_a": round(s["A"], 6), "score_b": round(s["B"], 6),
                                           "probability_a": round(common.sigmoid(calib_z(row, text_kind, coef)), 6)})
    with open(OUT_PARITY, "w", encoding="utf-8") as f:
        json.dump(parity, f, ensure_ascii=False, indent=1)
        f.write("\n")

    # ---- 4. held-out evaluation of the exported model
    dev_logits = {t: [score_feats(feats, w, b) for _, _, _, feats in rows_] for t, rows_ in dev.items()}
    dev_bias = {t: b for t in dev}
    metrics["dev_utterance"] = utterance_metrics(dev, dev_logits)
    drows = pair_rows(dev, dev_logits, dev_bias, agg, PREFIXES, avotes)
    metrics["dev_speaker"] = {k: speaker_metrics(drows, k, calib[k]["coef"]) for k in kinds}
    dwin = pair_rows(dev, dev_logits, dev_bias, agg, [("win", L) for L in CALIB_WINDOWS if L], avotes)
    metrics["dev_windows"] = {k: speaker_metrics(dwin, k, calib[k]["coef"], [("win", L) for L in CALIB_WINDOWS if L]) for k in kinds}
    metrics["dev_windows_reliability"] = {k: reliability(dwin, k, calib[k]["coef"]) for k in kinds}
    metrics["train_oof_windows_reliability"] = {k: reliability(rows, k, calib[k]["coef"]) for k in kinds}
    ws = whisper_style(dev)
    ws_logits = {t: [score_feats(feats, w, b) for _, _, _, feats in rows_] for t, rows_ in ws.items()}
    metrics["dev_whisper_style_utterance"] = utterance_metrics(ws, ws_logits)
    wrows = pair_rows(ws, ws_logits, dev_bias, agg, PREFIXES)
    metrics["dev_whisper_style_speaker"] = speaker_metrics(wrows, text_kind, coef)
    # spoken sessions
    sessions = common.load_spoken()
    svotes = votes["spoken"] if votes else None
    sp = spoken_rows(sessions, w, b, agg, svotes)
    spoken = {}
    for s in sp:
        e = {"truth": s["truth"], "speakers": len(s["text"]), "mitool_confidence": round(s["mitool_confidence"], 3),
             "text_scores": {k: round(v, 3) for k, v in s["text"].items()}}
        for kind in kinds:
            e[kind] = spoken_decision(s, kind, calib[kind]["coef"])
        spoken[s["session"]] = e
    metrics["spoken"] = spoken
    # truncated spoken sessions (first 10 / 20 mitool utterances)
    for p in (10, 20):
        cut = [dict(s, utterances=s["utterances"][:p]) for s in sessions]
        sp_p = spoken_rows(cut, w, b, agg, svotes)
        metrics[f"spoken_first{p}"] = {s["session"]: {k: spoken_decision(s, k, calib[k]["coef"]) for k in kinds} for s in sp_p}
    with open(OUT_METRICS, "w") as f:
        json.dump(metrics, f, indent=1)
        f.write("\n")
    print(json.dumps({k: metrics[k] for k in ("chosen", "dev_utterance", "dev_whisper_style_utterance", "export")}, indent=1))


if __name__ == "__main__":
    main()
