"""Word error rates and times of benches/peers/asr.sh (stdlib only).

Reads the run folder asr.sh leaves (mt/<stem>.json from `mitool transcribe`,
mb/<stem>/transcript.json from `mitool batch`, fw/<stem>.json from
faster-whisper; time-*.json from timed.py; fw.jsonl) and the reference
<stem>.txt beside each WAV (start, end, voice, text per turn, tab-separated:
the validity harness's spoken sessions). WER uses the validity harness's
normalisation (benches/validity/evaluate.py: lower case, punctuation
stripped, hyphens split), word-level Levenshtein, pooled as total edits over
total reference words; also without hesitations (um, uh, mm...).

Usage: python3 asr_report.py RUN_DIR WAV...
"""
import json
import os
import sys
import wave

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "validity"))
from evaluate import FILLERS, edit_distance, norm_words, read_turns  # noqa: E402

TOOLS = [("mitool transcribe", "mt", "mt/{}.json"),
         ("mitool batch", "mb", "mb/{}/transcript.json"),
         ("faster-whisper", "fw", "fw/{}.json")]


def hyp_text(path):
    with open(path, encoding="utf-8") as f:
        return " ".join(s.get("text", "") for s in json.load(f).get("segments", []))


def wer_counts(ref, hyp):
    ref_nf = [w for w in ref if w not in FILLERS]
    return (edit_distance(ref, hyp), len(ref),
            edit_distance(ref_nf, [w for w in hyp if w not in FILLERS]), len(ref_nf))


def duration(path):
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


def pct(e, n):
    return f"{100 * e / n:.1f}%" if n else "—"


def main():
    run, wavs = sys.argv[1], sys.argv[2:]
    load = lambda name: json.load(open(os.path.join(run, name)))  # noqa: E731
    fw_rows = [json.loads(l) for l in open(os.path.join(run, "fw.jsonl"))]
    fw_file_s = {r["file"]: r["seconds"] for r in fw_rows if "file" in r}
    settings = fw_rows[0].get("settings", {})

    per_file, pooled = [], {t: [0, 0, 0, 0] for _, t, _ in TOOLS}
    audio_total = 0.0
    for w in wavs:
        stem = os.path.splitext(os.path.basename(w))[0]
        secs = duration(w)
        audio_total += secs
        ref = norm_words(" ".join(t[3] for t in read_turns(os.path.splitext(w)[0] + ".txt")))
        row = {"file": stem, "min": secs / 60, "ref": len(ref)}
        for _, tag, pattern in TOOLS:
            p = os.path.join(run, pattern.format(stem))
            if not os.path.exists(p):
                row[tag] = None
                continue
            c = wer_counts(ref, norm_words(hyp_text(p)))
            row[tag] = c
            pooled[tag] = [a + b for a, b in zip(pooled[tag], c)]
        row["fw_s"] = fw_file_s.get(stem)
        per_file.append(row)

    print(f"== per file: WER (hesitations counted) ==")
    print(f"{'file':<16}{'min':>6}{'ref words':>10}{'transcribe':>12}{'batch':>10}{'f-whisper':>11}{'f-w s':>8}")
    for r in per_file:
        cells = [pct(r[t][0], r[t][1]) if r[t] else "missing" for t in ("mt", "mb", "fw")]
        fws = f"{r['fw_s']:.1f}" if r["fw_s"] is not None else "—"
        print(f"{r['file']:<16}{r['min']:>6.2f}{r['ref']:>10}{cells[0]:>12}{cells[1]:>10}{cells[2]:>11}{fws:>8}")

    times = {t: load(f"time-{t}.json") for _, t, _ in TOOLS}
    starts = {t: load(f"time-{t}-startup.json") for _, t, _ in TOOLS}
    fw_total, fw_net = times["fw"]["seconds"], times["fw"]["seconds"] - starts["fw"]["seconds"]
    rows = []
    for name, tag, _ in TOOLS:
        total, start = times[tag]["seconds"], starts[tag]["seconds"]
        net = max(total - start, 1e-9)
        e, n, enf, nnf = pooled[tag]
        rows.append([name, f"{total:.1f}", f"{net:.1f}", f"{start:.2f}", f"{net / audio_total:.3f}",
                     f"{total / fw_total:.2f}", f"{net / max(fw_net, 1e-9):.2f}",
                     f"{times[tag]['rss_mb']:.0f}", pct(e, n), pct(enf, nnf)])
    head = ["tool", "s", "s less start-up", "start-up s", "RTF", "× f-w", "× f-w less start-up",
            "peak RSS MB", "WER", "WER w/o hesitations"]
    threads = os.environ.get("THREADS", "2")
    print(f"\n== pooled: {len(wavs)} file(s), {audio_total / 60:.2f} min of audio, {threads} threads each ==")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    for r in [head] + rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    fw_in = sum(fw_file_s.values())
    print(f"(faster-whisper's own clock, model loaded, summed over files: {fw_in:.1f} s, RTF {fw_in / audio_total:.3f};"
          f" its model load {fw_rows[0]['load_s']:.2f} s)")
    print("start-up: each tool's whole process on 1 s of silence (mitool exits 1 there: no speech;"
          " batch's diarizer and coder load only in the real run)")

    print("\n== markdown ==\n")
    vad = "mitool's" if settings.get("vad_parameters") else "its own defaults"
    print(f"{len(wavs)} file(s), {audio_total / 60:.2f} min of audio, {threads} threads each; "
          f"Whisper tiny.en from the same CTranslate2 weights (mitool: ggml q8_0; faster-whisper: int8), "
          f"greedy (beam 1), Silero VAD on (faster-whisper: {vad}).\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
