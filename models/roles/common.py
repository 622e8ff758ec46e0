"""Shared pieces of the role-model recipe: data, text normalisation, features,
the hand-set talk-pattern score of mitool-core/src/roles.rs, and the spoken
(TTS) sessions of benches/validity.

The normalisation and feature extraction here are mirrored exactly by
mitool-core/src/role_text.rs; change both together (parity test:
mitool-core/data/role_words_parity.json).
"""

import csv
import glob
import json
import math
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_DATA = os.path.join(os.path.dirname(REPO), "shared", "data", "annomi")
SPLIT = os.path.join(REPO, "models", "coder", "split.json")
WORK = os.path.join(HERE, "work")

# ---------------------------------------------------------------- normalisation

NORMALISATION = (
    "lower-case (Unicode); curly apostrophes (U+2018, U+2019) -> \"'\"; drop [...] and (...) "
    "annotations; every character that is not a-z, 0-9 or \"'\" separates tokens; "
    "leading/trailing \"'\" stripped from each token; tokens with a digit -> \"0\"; fillers "
    "um, umm, uh, uhm, er, erm dropped; features = distinct unigrams and adjacent-token "
    "bigrams (\"a b\") of the utterance that are in the feature table, each counted once; "
    "utterance logit = bias + sum of their weights"
)

FILLERS = {"um", "umm", "uh", "uhm", "er", "erm"}
_BRACKETS = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_SPLIT = re.compile(r"[^a-z0-9']+")


def tokens(text):
    """Normalised tokens of one utterance (mirrored in role_text.rs)."""
    t = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    t = _BRACKETS.sub(" ", t)
    out = []
    for w in _SPLIT.split(t):
        w = w.strip("'")
        if not w:
            continue
        if any(c.isdigit() for c in w):
            w = "0"
        if w in FILLERS:
            continue
        out.append(w)
    return out


def features(toks):
    """Distinct unigrams and bigrams, in first-seen order."""
    seen = {}
    for i, w in enumerate(toks):
        seen.setdefault(w, None)
        if i + 1 < len(toks):
            seen.setdefault(w + " " + toks[i + 1], None)
    return list(seen)


# ------------------------------------------------------------------------ data


def load_annomi(data_dir):
    """{transcript_id: [(role, text), ...]} in utterance order; role is
    'therapist' or 'client'."""
    by = {}
    with open(os.path.join(data_dir, "AnnoMI-simple.csv"), newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by.setdefault(int(r["transcript_id"]), []).append(
                (int(r["utterance_id"]), r["interlocutor"], (r["utterance_text"] or "").strip())
            )
    return {k: [(role, text) for _, role, text in sorted(v)] for k, v in sorted(by.items())}


def load_split():
    with open(SPLIT) as f:
        s = json.load(f)
    return sorted(s["train_transcripts"]), sorted(s["dev_transcripts"])


# --------------------------------------------- mitool's talk pattern (roles.rs)

QUESTION_OPENERS = {
    "what", "how", "why", "when", "where", "who", "which", "do", "does", "did", "are", "is",
    "can", "could", "would", "will", "have", "has", "tell",
}
REFLECTION_OPENERS = [
    "so you", "it sounds", "sounds like", "you feel", "you're feeling", "it seems", "you want",
    "you've", "you're", "what i'm hearing", "on the one hand",
]
SECOND = {"you", "your", "you're", "yourself", "you've", "you'd", "you'll", "yours"}
FIRST = {"i", "my", "me", "i'm", "i've", "myself", "mine", "i'd", "i'll"}


def _tp_tokens(text):
    out = []
    for w in text.split():
        w = "".join(c for c in w if c.isalnum() or c in "'\u2019").replace("\u2019", "'").lower()
        if w:
            out.append(w)
    return out


def talk_pattern_score(texts):
    """TalkPattern::score() of one speaker's utterances, as roles.rs has it."""
    n = words = you = me = 0
    q = r = 0.0
    for text in texts:
        toks = _tp_tokens(text)
        if not toks:
            continue
        n += 1
        words += len(toks)
        lower = " ".join(toks)
        if text.rstrip().endswith("?") or toks[0] in QUESTION_OPENERS:
            q += 1
        if any(lower.startswith(o) for o in REFLECTION_OPENERS):
            r += 1
        you += sum(t in SECOND for t in toks)
        me += sum(t in FIRST for t in toks)
    if n == 0:
        return None
    q /= n
    r /= n
    you_minus_i = (you - me) / max(words, 1)
    evidence = words / (words + 20.0)
    return (q + r + 4.0 * you_minus_i) * evidence


VOTE_WEIGHT = 3.0  # roles.rs


def mitool_score(texts, votes):
    """assign_roles' talk-pattern score plus VOTE_WEIGHT * (2 mean vote - 1)."""
    tp = talk_pattern_score(texts)
    if tp is None:
        return None
    if votes is None:
        return tp
    return tp + VOTE_WEIGHT * (2.0 * sum(votes) / len(votes) - 1.0)


# ------------------------------------------------- spoken sessions (validity)

VALIDITY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "benches", "validity", ".cache")


def load_spoken(root=VALIDITY, out="out-baseline"):
    """Spoken AnnoMI dev sessions as mitool heard them: list of dicts with
    session, transcript_id, utterances [(speaker, text, start, end)],
    practitioner (the speaker label whose time is mostly the practitioner
    voice's), mitool_scores (roles.scores as mitool wrote them). Empty when
    the validity cache is absent."""
    voices = {}
    for name in ("manifest-baseline.csv", "sessions.csv"):
        p = os.path.join(root, name)
        if not os.path.exists(p):
            continue
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                sid = os.path.splitext(os.path.basename(r["file"]))[0]
                voices[sid] = (int(r["transcript_id"]), r["practitioner_voice"], r["client_voice"])
    sessions = []
    for path in sorted(glob.glob(os.path.join(root, out, "*", "utterances.json"))):
        sid = os.path.basename(os.path.dirname(path))
        ref = os.path.join(root, "audio", sid + ".txt")
        if sid not in voices or not os.path.exists(ref):
            continue
        tid, pvoice, cvoice = voices[sid]
        turns = []
        with open(ref, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 3:
                    turns.append((float(parts[0]), float(parts[1]), parts[2]))
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        utts = [
            (u["speaker"], u["text"], u.get("start") or 0.0, u.get("end") or 0.0)
            for u in d["utterances"]
        ]
        # speaker label -> seconds overlapping each voice
        cover = {}
        for spk, _, a, b in utts:
            c = cover.setdefault(spk, {pvoice: 0.0, cvoice: 0.0})
            for s, e, v in turns:
                if v in c:
                    c[v] += max(0.0, min(b, e) - max(a, s))
        prac = max(cover, key=lambda k: (cover[k][pvoice], k)) if cover else None
        sessions.append(
            {
                "session": sid,
                "transcript_id": tid,
                "utterances": utts,
                "practitioner": prac,
                "cover": cover,
                "mitool_scores": d["roles"]["scores"],
                "mitool_practitioner": d["roles"]["practitioner"],
                "mitool_confidence": d["roles"]["confidence"],
            }
        )
    return sessions


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))
