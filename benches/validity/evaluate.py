#!/usr/bin/env python3
"""Compare mitool's reading of spoken sessions with the human-coded transcripts (stdlib only).

usage: evaluate.py --batch OUT_DIR --manifest sessions.csv --human HUMAN_SCORES.csv
                   --text TEXT_SCORES.csv --audio AUDIO_DIR --label NAME [--results DIR]

  OUT_DIR           `mitool batch` output (sessions.csv, <session>/utterances.json, diarization.rttm, transcript.json)
  sessions.csv      manifest from speak.py (file, transcript_id, half, family, practitioner_voice, client_voice)
  HUMAN_SCORES.csv  `mitool score` of the human codes (session_id = AnnoMI transcript_id)
  TEXT_SCORES.csv   `mitool score` of `mitool code` on the spoken text with true roles (transcript alone)
  AUDIO_DIR         the clean reference .rttm/.txt per session (ground truth of who spoke when, and what)

Writes RESULTS/results-<label>.md and .json and prints the markdown.
"""
import argparse
import csv
import json
import math
import os
import re
import sys

SCORES = [("r_to_q", "R:Q"), ("pct_complex_reflections", "%CR"), ("pct_open_questions", "%OQ"),
          ("relational", "Relational"), ("technical", "Technical")]


# ---------- reading ----------

def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def num(v):
    """A score cell as a float, None when empty, n/a or not finite (R:Q with no questions)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def read_rttm(path):
    """[(start, end, speaker)]."""
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 8 and p[0] == "SPEAKER":
                st, du = float(p[3]), float(p[4])
                out.append((st, st + du, p[7]))
    return out


def read_turns(path):
    """Reference turns from the .txt triple: [(start, end, voice, text)]."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            p = line.rstrip("\n").split("\t", 3)
            if len(p) == 4:
                out.append((float(p[0]), float(p[1]), p[2], p[3]))
    return out


def find_key(obj, key):
    """First value of `key` anywhere in a JSON object (needs_review may sit at any depth, or not exist)."""
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        obj = list(obj.values())
    if isinstance(obj, list):
        for v in obj:
            r = find_key(v, key)
            if r is not None:
                return r
    return None


def role_of(r):
    r = (r or "").lower()
    return "practitioner" if r in ("therapist", "practitioner") else ("client" if r == "client" else "")


# ---------- measures ----------

def overlap(segs_a, segs_b):
    """Seconds during which both segment lists are active (each list may overlap itself a little)."""
    total = 0.0
    for a0, a1 in segs_a:
        for b0, b1 in segs_b:
            total += max(0.0, min(a1, b1) - max(a0, b0))
    return total


def norm_words(text):
    # Lower case, punctuation stripped; hyphens split words ("mm-hmm" -> "mm hmm"), apostrophes stay inside words.
    text = text.lower().replace("-", " ").replace("\u2019", "'")
    text = re.sub(r"[^a-z0-9' ]+", " ", text)
    return [w.strip("'") for w in text.split() if w.strip("'")]


# Whisper tends to leave hesitations out; WER is also given without them.
FILLERS = {"um", "uh", "uhm", "umm", "erm", "er", "ah", "hmm", "mm", "mhm", "hm"}


def edit_distance(ref, hyp):
    """Word-level Levenshtein distance."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def icc21(pairs):
    """ICC(2,1), Shrout & Fleiss: two-way random effects, absolute agreement, single rater; k = 2."""
    n, k = len(pairs), 2
    if n < 2:
        return None
    grand = sum(a + b for a, b in pairs) / (n * k)
    rows = [(a + b) / 2 for a, b in pairs]
    cols = [sum(p[j] for p in pairs) / n for j in range(k)]
    ssr = k * sum((m - grand) ** 2 for m in rows)
    ssc = n * sum((m - grand) ** 2 for m in cols)
    sst = sum((x - grand) ** 2 for p in pairs for x in p)
    sse = sst - ssr - ssc
    msr, msc, mse = ssr / (n - 1), ssc / (k - 1), sse / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    return None if den <= 0 else (msr - mse) / den


def agreement(pairs):
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return {"n": len(pairs),
            "mae": sum(abs(a - b) for a, b in pairs) / len(pairs) if pairs else None,
            # mean signed error: which way mitool errs (errors of the two paths can cancel)
            "bias": sum(a - b for a, b in pairs) / len(pairs) if pairs else None,
            "icc": icc21(pairs)}


def session_measures(sid, m, batch_dir, audio_dir, batch_row):
    """Speaker and transcription measures of one session."""
    out = {"role_right": None, "speakers_found": None, "prac_overlap_share": None, "role_confidence": None,
           "needs_review": None, "words": 0, "words_right": 0, "ref_words": 0, "edits": 0,
           "ref_words_nofill": 0, "edits_nofill": 0, "questions_said": 0, "questions_kept": 0}
    sdir = os.path.join(batch_dir, sid)
    ref_rttm = read_rttm(os.path.join(audio_dir, sid + ".rttm"))
    turns = read_turns(os.path.join(audio_dir, sid + ".txt"))
    voice_role = {m["practitioner_voice"]: "practitioner", m["client_voice"]: "client"}
    # needs_review holds the reason (empty: no review needed); older binaries lack it (None).
    out["needs_review"] = None
    if batch_row is not None and "needs_review" in batch_row:
        out["needs_review"] = batch_row["needs_review"]
    else:
        try:
            with open(os.path.join(sdir, "session.json")) as f:
                v = find_key(json.load(f), "needs_review")
            out["needs_review"] = None if v is None else str(v)
        except (OSError, ValueError):
            pass
    try:
        with open(os.path.join(sdir, "utterances.json")) as f:
            utt = json.load(f)
    except (OSError, ValueError):
        return out  # the session failed in the batch
    roles = utt.get("roles", {})
    prac = roles.get("practitioner", "")
    out["role_confidence"] = roles.get("confidence")
    out["speakers_found"] = len(utt.get("speakers", {}))  # 1 means role right says little
    # Role right: the practitioner label's diarized speech lies mostly in the practitioner's reference turns.
    hyp = [(s, e) for s, e, spk in read_rttm(os.path.join(sdir, "diarization.rttm")) if spk == prac]
    ov = {r: overlap(hyp, [(s, e) for s, e, v in ref_rttm if voice_role.get(v) == r])
          for r in ("practitioner", "client")}
    if ov["practitioner"] + ov["client"] > 0:
        out["prac_overlap_share"] = ov["practitioner"] / (ov["practitioner"] + ov["client"])
        out["role_right"] = ov["practitioner"] > ov["client"]
    else:
        out["role_right"] = False
    # Words on the right speaker: the role of each word (by its midpoint) against the reference turn there.
    for u in utt.get("utterances", []):
        r = role_of(u.get("role"))
        for w in u.get("words", []):
            if w.get("start") is None or w.get("end") is None:
                continue
            mid = (w["start"] + w["end"]) / 2
            # the covering turn, else the nearest one
            best = min(turns, key=lambda t: max(t[0] - mid, 0.0, mid - t[1]))
            out["words"] += 1
            out["words_right"] += voice_role.get(best[2]) == r
    # WER against everything that was said.
    ref = norm_words(" ".join(t[3] for t in turns))
    try:
        with open(os.path.join(sdir, "transcript.json")) as f:
            hyp_text = " ".join(s.get("text", "") for s in json.load(f).get("segments", []))
    except (OSError, ValueError):
        hyp_text = " ".join(u.get("text", "") for u in utt.get("utterances", []))
    hyp = norm_words(hyp_text)
    out["questions_said"], out["questions_kept"] = question_marks(sdir, turns, voice_role)
    out["ref_words"] = len(ref)
    out["edits"] = edit_distance(ref, hyp)
    ref = [w for w in ref if w not in FILLERS]
    out["ref_words_nofill"] = len(ref)
    out["edits_nofill"] = edit_distance(ref, [w for w in hyp if w not in FILLERS])
    return out


def question_marks(sdir, turns, voice_role):
    """Practitioner turns spoken as questions (the script's text ends in '?') and how many of them
    mitool's transcript also ends in '?': the coder leans on the mark, and Whisper drops it from
    declarative questions ("That's number one?" written "That's number one.")."""
    try:
        with open(os.path.join(sdir, "transcript.json")) as f:
            words = [w for seg in json.load(f).get("segments", []) for w in seg.get("words", [])
                     if w.get("start") is not None and w.get("end") is not None]
    except (OSError, ValueError):
        return 0, 0
    said = kept = 0
    for i, (start, end, voice, text) in enumerate(turns):
        if voice_role.get(voice) != "practitioner" or not text.rstrip().endswith("?"):
            continue
        # The turn's words: midpoints from its start to halfway into the gap after it.
        stop = (end + turns[i + 1][0]) / 2 if i + 1 < len(turns) else end + 1.0
        inside = [w for w in words if start <= (w["start"] + w["end"]) / 2 <= stop]
        if not inside:
            continue
        said += 1
        kept += inside[-1].get("text", "").rstrip().endswith("?")
    return said, kept


# ---------- report ----------

def fmt(x, d=2, pct=False, signed=False):
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    return f"{100 * x:.1f}%" if pct else (f"{x:+.{d}f}" if signed else f"{x:.{d}f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--human", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--label", default="run")
    ap.add_argument("--results", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache"))
    ap.add_argument("--command", default="", help="the command line to record with the results")
    a = ap.parse_args()

    manifest = read_csv(a.manifest)
    human = {r["session_id"]: r for r in read_csv(a.human)}
    text = {r["session_id"]: r for r in read_csv(a.text)}
    bpath = os.path.join(a.batch, "sessions.csv")
    batch = {r["session_id"]: r for r in read_csv(bpath)} if os.path.exists(bpath) else {}

    sessions = []
    for m in manifest:
        sid = os.path.splitext(os.path.basename(m["file"]))[0]
        tid = m["transcript_id"]
        s = {"session": sid, "transcript_id": tid, "half": m["half"], "family": m["family"],
             "voices": f'{m["practitioner_voice"]}/{m["client_voice"]}', "failed": sid not in batch}
        s.update(session_measures(sid, m, a.batch, a.audio, batch.get(sid)))
        nr = s["needs_review"]
        s["review"] = None if nr is None else nr.strip().lower() not in ("", "false", "0", "no")
        s["wer"] = s["edits"] / s["ref_words"] if s["ref_words"] else None
        s["wer_nofill"] = s["edits_nofill"] / s["ref_words_nofill"] if s["ref_words_nofill"] else None
        s["words_right_share"] = s["words_right"] / s["words"] if s["words"] else None
        for col, _ in SCORES:
            s[col] = {"recording": num(batch.get(sid, {}).get(col)),
                      "transcript": num(text.get(tid, {}).get(col)),
                      "human": num(human.get(tid, {}).get(col))}
        sessions.append(s)

    groups = [("tune", lambda s: s["half"] == "tune"), ("held", lambda s: s["half"] == "held"),
              ("all", lambda s: True)]
    for fam in sorted({s["family"] for s in sessions}):
        groups.append((f"all {fam}", lambda s, f=fam: s["family"] == f))
    pooled = []
    for name, keep in groups:
        ss = [s for s in sessions if keep(s)]
        if not ss:
            continue
        conf = [s["role_confidence"] for s in ss if s["role_confidence"] is not None]
        words = sum(s["words"] for s in ss)
        refw = sum(s["ref_words"] for s in ss)
        refn = sum(s["ref_words_nofill"] for s in ss)
        g = {"group": name, "sessions": len(ss), "failed": sum(s["failed"] for s in ss),
             "role_right": sum(bool(s["role_right"]) for s in ss),
             "mean_role_confidence": sum(conf) / len(conf) if conf else None,
             "needs_review": sum(bool(s["review"]) for s in ss),
             "needs_review_known": any(s["review"] is not None for s in ss),
             # the costly case: the wrong person scored as the practitioner and nothing says so
             "role_wrong_unflagged": sum(not s["role_right"] and not s["review"] for s in ss),
             # pooled over words, not averaged over sessions
             "words_right_share": sum(s["words_right"] for s in ss) / words if words else None,
             "wer": sum(s["edits"] for s in ss) / refw if refw else None,
             "wer_nofill": sum(s["edits_nofill"] for s in ss) / refn if refn else None,
             "questions_kept": (sum(s["questions_kept"] for s in ss) / sum(s["questions_said"] for s in ss)
                                if sum(s["questions_said"] for s in ss) else None),
             "questions_said": sum(s["questions_said"] for s in ss),
             "scores": {}}
        for col, _ in SCORES:
            # The transcript-alone path is taken over the same session rows, so both columns weigh
            # transcripts alike (a transcript spoken by two voice families counts twice in both).
            g["scores"][col] = {
                "recording": agreement([(s[col]["recording"], s[col]["human"]) for s in ss]),
                "transcript": agreement([(s[col]["transcript"], s[col]["human"]) for s in ss])}
        pooled.append(g)

    md = [f"# Validity: {a.label}", ""]
    if a.command:
        md += ["```", a.command, "```", ""]
    md += ["Scores are `recording / transcript alone / human codes`.", "",
           "| session | half | voices | speakers found | role right | prac. share | conf. | review | words right | WER | "
           + " | ".join(lbl for _, lbl in SCORES) + " |",
           "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(SCORES)]
    for s in sessions:
        sc = " | ".join(" / ".join(fmt(s[c][k], 1 if c.startswith("pct") else 2)
                                   for k in ("recording", "transcript", "human")) for c, _ in SCORES)
        md.append(f'| {s["session"]}{" (failed)" if s["failed"] else ""} | {s["half"]} | {s["voices"]} | {s["speakers_found"] if s["speakers_found"] is not None else "–"} | '
                  f'{fmt(s["role_right"])} | {fmt(s["prac_overlap_share"])} | {fmt(s["role_confidence"])} | '
                  f'{"n/a" if s["review"] is None else ("yes" if s["review"] else "–")} | {fmt(s["words_right_share"], pct=True)} | {fmt(s["wer"], pct=True)} | {sc} |')
    md += ["", "## Speakers and words (pooled)", "",
           "| group | sessions | failed | role right | mean conf. | needs review | role wrong, not flagged | words on right speaker | WER | WER w/o fillers | practitioner '?' kept (n) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for g in pooled:
        nr = str(g["needs_review"]) if g["needs_review_known"] else "n/a"
        nr += f' | {g["role_wrong_unflagged"]}' if g["needs_review_known"] else " | n/a"
        md.append(f'| {g["group"]} | {g["sessions"]} | {g["failed"]} | {g["role_right"]}/{g["sessions"]} | '
                  f'{fmt(g["mean_role_confidence"])} | {nr} | {fmt(g["words_right_share"], pct=True)} | {fmt(g["wer"], pct=True)} | {fmt(g["wer_nofill"], pct=True)} | '
                  f'{fmt(g["questions_kept"], pct=True)} ({g["questions_said"]}) |')
    md += ["", "## Scores against the human codes (pooled)", "",
           "MAE in the score's units (%CR and %OQ as fractions 0–1, as sessions.csv writes them); "
           "ICC(2,1) absolute agreement; bias = mean signed error (mitool less human: above 0, mitool "
           "reads higher); n = sessions where both sides have a value.", "",
           "| group | score | n rec. | MAE rec. | bias rec. | ICC rec. | n text | MAE text | bias text | ICC text |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for g in pooled:
        for col, lbl in SCORES:
            r, t = g["scores"][col]["recording"], g["scores"][col]["transcript"]
            md.append(f'| {g["group"]} | {lbl} | {r["n"]} | {fmt(r["mae"])} | {fmt(r["bias"], signed=True)} | {fmt(r["icc"])} | '
                      f'{t["n"]} | {fmt(t["mae"])} | {fmt(t["bias"], signed=True)} | {fmt(t["icc"])} |')
    text_md = "\n".join(md) + "\n"
    print(text_md)
    os.makedirs(a.results, exist_ok=True)
    base = os.path.join(a.results, f"results-{a.label}")
    with open(base + ".md", "w") as f:
        f.write(text_md)
    with open(base + ".json", "w") as f:
        json.dump({"label": a.label, "command": a.command, "sessions": sessions, "pooled": pooled}, f, indent=1)
    print(f"wrote {base}.md and .json", file=sys.stderr)


if __name__ == "__main__":
    main()
