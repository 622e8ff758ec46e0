"""Writes MODEL_CARD.md from metrics.json (run by train.sh after train.py)."""

import json
import os

import common

M = json.load(open(os.path.join(common.HERE, "metrics.json")))
EXPORT = json.load(open(os.path.join(common.REPO, "mitool-core", "data", "role_words.json")))

NAMES = {
    "d": "text model",
    "d_sqrtn": "text model",
    "tp": "talk pattern alone (roles.rs, hand-set)",
    "mt": "mitool today: talk pattern + coder votes",
    "d+tp": "combined: text + talk pattern",
    "d_sqrtn+tp": "combined: text + talk pattern",
    "d+mt": "text + (talk pattern + coder votes)",
    "d_sqrtn+mt": "text + (talk pattern + coder votes)",
}


def pct(right, n):
    return f"{right}/{n}"


def main():
    text, comb = M["text_calibration"], M["combined_calibration"]
    votes_kind = "d_sqrtn+mt" if text == "d_sqrtn" else "d+mt"
    kinds = [k for k in (text, "tp", "mt", comb, votes_kind) if k in M["dev_speaker"]]
    ch = M["chosen"]
    cal = M["calibration_train_oof"]
    L = []
    w = L.append
    w(f"# Model card: {M['version']} (which speaker is the practitioner, from their words)")
    w("")
    w("A linear model over word unigrams and bigrams that scores how practitioner-like an utterance reads, "
      "trained on AnnoMI therapist vs client utterances. mitool uses it after transcription and diarization to "
      "decide which speaker is the practitioner, and how sure it is (`mitool-core/src/role_text.rs`). "
      "Everything here is written by `train.sh` from `metrics.json`; do not edit by hand.")
    w("")
    w("## Files")
    w("")
    w("| file | what |")
    w("|---|---|")
    w("| `mitool-core/data/role_words.json` | the shipped model: normalisation, feature weights (4 significant digits), bias, speaker aggregation, calibration, combined weights |")
    w("| `mitool-core/data/role_words_parity.json` | Python scores of a few texts and speaker pairs; the Rust tests must match them within 1e-4 |")
    w("| `train.sh`, `train.py`, `common.py`, `coder_votes.py`, `write_card.py`, `requirements.txt` | the recipe |")
    w("| `metrics.json` | every number in this card, and more (per-session, per-fold) |")
    w("")
    w("## Reproduce")
    w("")
    w("`models/roles/train.sh [--data-dir DIR]` creates `.venv` (git-ignored) and installs the pinned "
      "`requirements.txt` when they differ, computes the coder's votes once into the git-ignored `work/` "
      "(only for the comparison with mitool's current evidence; about 6 min on 2 cores), then trains, evaluates, "
      "exports and rewrites this card (under a minute on an idle core). Fixed seed "
      f"({M['seed']}), deterministic solvers: a rerun writes byte-identical `role_words.json` and parity file. "
      "DIR defaults to `../shared/data/annomi` from the repository root. The spoken-session check reads "
      "`benches/validity/.cache` (the validity harness's outputs) when it exists.")
    w("")
    w("## Data and split")
    w("")
    w(f"AnnoMI (Wu et al., ICASSP 2022; Future Internet 2023), `AnnoMI-simple.csv` of the 106 transcripts available "
      "to the project (27 more are held back by the project and were never used). Split: the coder's "
      "(`models/coder/split.json`, grouped by video, seed 13): "
      f"**train {M['train_transcripts']} transcripts ({M['train_utterances']} utterances), "
      f"dev {M['dev_transcripts']} transcripts ({M['dev_utterances']} utterances)**. Everything chosen "
      "(features, regularisation, speaker aggregation, calibration, combination weights) was chosen on "
      "train transcripts only, by grouped 5-fold cross-validation (folds of whole transcripts). Dev and the "
      "spoken sessions were only evaluated, once, after the choices.")
    w("")
    w("Spoken sessions: mitool's own output (`out-baseline/*/utterances.json`, Whisper text, diarized speaker "
      "labels) for 12 TTS recordings of 8 AnnoMI **dev** transcripts (benches/validity: Festival kal/slt and "
      "Kokoro voices). The true practitioner label of each session is the diarized speaker whose utterances "
      "overlap the practitioner voice's reference turns most. Evaluation only.")
    w("")
    w("## Model")
    w("")
    w(f"- Text normalisation (same in training and in Rust): {EXPORT['normalisation']}.")
    w(f"- Features: the {ch['cap']} most frequent unigrams and bigrams of train utterances (at least "
      f"{M['min_df']} utterances each), binary. {M['export']['features']} shipped "
      f"({M['export']['bytes'] // 1024} KB of JSON).")
    w(f"- L2-regularised logistic regression (scikit-learn, lbfgs), C = {ch['C']}; label 1 = therapist.")
    w(f"- Speaker score: {EXPORT['speaker_score']} (n = the speaker's utterances with a token): a speaker "
      "who said little is pulled towards 0, which matters when diarization finds a third voice with one "
      "remark.")
    c = EXPORT["calibration"]
    w(f"- Calibration (Platt, no intercept so the order of the speakers does not matter, coefficients >= 0): "
      f"P(A is the practitioner) = sigmoid(a d + b d sqrt(n)), d = score(A) - score(B), n = the fewer "
      f"utterances of the two; a = {c['a']}, b = {c['b']}. Fitted on out-of-fold scores of train "
      "transcripts over consecutive windows of 4, 6, 8, 10, 14, 20 and 30 utterances and whole transcripts, "
      "so that short or partial sessions, where mistakes happen, set the slope.")
    cb = EXPORT["combined"]
    w(f"- Combined with mitool's talk pattern (`TalkPattern::score()` of roles.rs): "
      f"sigmoid(a d + b d sqrt(n) + t (tp(A) - tp(B))), a = {cb['a']}, b = {cb['b']}, t = {cb['t']}, fitted the "
      "same way.")
    w("")
    w("### Choice by cross-validation (train transcripts only)")
    w("")
    w("Grid: features {2000, 4000, 8000} x C {0.1, 0.3, 1} x speaker score {mean, mean_k2, word}. Criterion: "
      "the log-loss of the calibrated speaker calls over the windows above (calibration itself "
      "cross-validated), which uses every call's margin; plain accuracy differs by a window or two in "
      "5,000 between settings. Best per speaker score:")
    w("")
    w("| features | C | speaker score | utterance AUC (OOF) | speaker accuracy | speaker log-loss |")
    w("|---|---|---|---|---|---|")
    for agg in ("mean", "mean_k2", "word"):
        rows = [r for r in M["cv"] if r["agg"] == agg]
        if not rows:
            continue
        r = min(rows, key=lambda r: r["speaker_logloss"])
        w(f"| {r['cap']} | {r['C']} | {agg} | {r['utt_auc']} | {r['speaker_acc']} | {r['speaker_logloss']} |")
    w("")
    w("(`mean` = mean utterance logit, `mean_k2` = sum / (n + 2), `word` = sum of feature weights per "
      "word.) Calibration forms compared by cross-validated log-loss on the same windows: "
      + ", ".join(f"{NAMES.get(k, k)} [{k}] {v['cv_logloss']}" for k, v in cal.items()) + ".")
    w("")
    w("## Results")
    w("")
    w("### Utterance level")
    w("")
    w("| data | n | accuracy (logit > 0) | AUC |")
    w("|---|---|---|---|")
    o = M["oof_utterance"]
    w(f"| train, out-of-fold (tuned) | {o['n']} | {o['accuracy']} | {o['auc']} |")
    d = M["dev_utterance"]
    w(f"| **dev (held out)** | {d['n']} | {d['accuracy']} | {d['auc']} |")
    d = M["dev_whisper_style_utterance"]
    w(f"| dev, Whisper-style (no annotations or fillers, backchannel-only utterances dropped) | {d['n']} | "
      f"{d['accuracy']} | {d['auc']} |")
    w("")
    w("### Speaker level: is the therapist's score above the client's")
    w("")
    w("Per transcript, on the whole transcript and on its first 10 and 20 utterances. `p` = the calibrated "
      "probability given to the speaker chosen.")
    w("")
    w("| evidence | data | whole | first 20 | first 10 | mean p, right calls (whole) | min p, right calls (any) | p of wrong calls |")
    w("|---|---|---|---|---|---|---|---|")
    for k in kinds:
        for label, key in (("train OOF (tuned)", "train_oof_speaker"), ("**dev (held)**", "dev_speaker")):
            s = M[key][k]
            cells = [pct(s[p]["right"], s[p]["n"]) for p in ("all", "first20", "first10")]
            wrong = [x for p in ("all", "first20", "first10") for x in s[p]["p_wrong"]]
            w(f"| {NAMES[k]} | {label} | " + " | ".join(cells)
              + f" | {s['all']['mean_p_right']} | {min(s[p]['min_p_right'] for p in ('all', 'first20', 'first10'))} | "
              + (", ".join(str(x) for x in wrong) or "none") + " |")
    s = M["dev_whisper_style_speaker"]
    w(f"| text model | dev, Whisper-style | " + " | ".join(pct(s[p]["right"], s[p]["n"]) for p in ("all", "first20", "first10"))
      + f" | {s['all']['mean_p_right']} | {s['first10']['min_p_right']} | " + (", ".join(str(x) for p in s for x in s[p]["p_wrong"]) or "none") + " |")
    w("")
    w("The coder votes are in-sample on train transcripts (the coder was trained on them), so only their dev "
      "and spoken rows are honest. Given the text model, the fitted weight of mitool's current score "
      f"(talk pattern + votes) is {cal[votes_kind]['coef'][-1]}: the votes add nothing.")
    w("")
    w("### Short windows of dev transcripts (held out): accuracy and calibration")
    w("")
    w("Every consecutive window of N utterances of each dev transcript (both speakers present), as a short "
      "or partial session would be.")
    w("")
    w("| evidence | " + " | ".join(f"N = {n}" for n in (4, 6, 8, 10, 14, 20, 30)) + " |")
    w("|---|" + "---|" * 7)
    for k in kinds:
        s = M["dev_windows"][k]
        w(f"| {NAMES[k]} | " + " | ".join(f"{s[f'win{n}']['accuracy']:.3f} (n={s[f'win{n}']['n']})" for n in (4, 6, 8, 10, 14, 20, 30)) + " |")
    w("")
    w("Reliability of the text model's probability on those dev windows (calls binned by p):")
    w("")
    w("| p given | calls | right | share right | mean p |")
    w("|---|---|---|---|---|")
    for b in M["dev_windows_reliability"][text]:
        w(f"| {b['p']} | {b['n']} | {b['right']} | {b['right'] / b['n']:.3f} | {b['mean_p']} |")
    w("")
    w("### Spoken sessions (mitool output; dev transcripts, never tuned on)")
    w("")
    w("| session | speakers | truth | mitool today: chosen (its confidence) | talk+votes p | text: chosen, p | combined: chosen, p | text, first 10 utts | text, first 20 utts |")
    w("|---|---|---|---|---|---|---|---|---|")
    tally = {k: [0, 0] for k in kinds}
    for sid, e in M["spoken"].items():
        def cell(x):
            return "n/a (one voice)" if x is None else f"{'right' if x['right'] else 'WRONG'}, {x['p']}"
        mt = e.get("mt")
        today = "n/a" if mt is None else f"{'right' if mt['right'] else 'WRONG'} ({e['mitool_confidence']})"
        f10 = M["spoken_first10"][sid][text]
        f20 = M["spoken_first20"][sid][text]
        w(f"| {sid} | {e['speakers']} | {e['truth']} | {today} | {mt['p'] if mt else 'n/a'} | {cell(e[text])} | "
          f"{cell(e[comb])} | {cell(f10)} | {cell(f20)} |")
        for k in kinds:
            if e.get(k):
                tally[k][0] += e[k]["right"]
                tally[k][1] += 1
    w("")
    w("`mitool today` is the call and confidence in those utterances.json files (festival-69 reads 0.478 "
      "there; an earlier run's results-baseline.md shows 0.78); `talk+votes p` is that score difference "
      "put through the same kind of calibration, fitted on train.")
    w("")
    w("Spoken sessions with two or more voices found, right calls: "
      + "; ".join(f"{NAMES[k]} {tally[k][0]}/{tally[k][1]}" for k in kinds) + ".")
    w("")
    w("## Limits")
    w("")
    w("- AnnoMI is demonstration counselling (role-plays for training videos), mostly alcohol, smoking and "
      "health behaviour, in English. Real sessions, other topics, languages and family members who talk like "
      "practitioners are not covered; a practitioner who mostly gives information and a client who asks the "
      "questions (transcript 69) is where the coder votes fail (the talk pattern alone gets it right with a "
      "smaller margin); the word model gets it right, but has seen few such sessions.")
    w("- Whole AnnoMI transcripts are easy at the speaker level (no dev error); the figures that matter are "
      "the short windows and the spoken sessions. The calibration comes from AnnoMI text: it does not know "
      "about diarization errors (a speaker label holding both voices), so on real recordings it is "
      "overconfident when diarization mixes the voices. Use it together with the diarization's own checks.")
    w("- The spoken sessions are TTS renderings of 8 dev transcripts (12 recordings): few, and the same "
      "texts as dev.")
    w("- Unigrams and bigrams only: no context, no word order beyond pairs. Rounding the weights to 4 "
      f"significant digits changes a dev utterance's logit by at most {M['rounding_max_abs_logit_change_dev']}.")
    w("")
    w("## Licence")
    w("")
    w("The weights are derived from AnnoMI, released by its authors into the public domain (cite Wu et al. "
      "2022, 2023). No AnnoMI text is stored in this directory or the crate; the feature table holds single "
      "words and word pairs with weights. The recipe is under the project's licence.")
    w("")
    with open(os.path.join(common.HERE, "MODEL_CARD.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
