//! The transcript: what Whisper heard and when, with the writers for its
//! output formats (versioned JSON, plain text, WebVTT).

use serde::{Deserialize, Serialize};

/// Version of the transcript JSON schema; bump on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// One recognised word with its time span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Word {
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// Whisper's mean token probability for the word.
    pub p: f32,
}

/// One transcribed segment (roughly a phrase or sentence).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub words: Vec<Word>,
}

/// The model that produced a transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    pub sha256: String,
}

/// The recording a transcript was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub path: String,
    pub format: String,
    pub duration_s: f64,
    pub channels: usize,
}

/// A whole transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    pub schema: String,
    pub version: u32,
    pub source: SourceInfo,
    pub model: ModelInfo,
    pub vad_model: Option<ModelInfo>,
    pub language: String,
    /// Seconds of speech the VAD found.
    pub speech_s: f64,
    pub segments: Vec<Segment>,
}

impl Transcript {
    /// All text, segments joined by single spaces.
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("transcripts always serialise")
    }

    /// Plain text, one segment per line.
    pub fn to_txt(&self) -> String {
        let mut s = String::new();
        for seg in &self.segments {
            let t = seg.text.trim();
            if !t.is_empty() {
                s.push_str(t);
                s.push('\n');
            }
        }
        s
    }

    /// WebVTT, one cue per segment.
    pub fn to_vtt(&self) -> String {
        let mut s = String::from("WEBVTT\n\n");
        for (i, seg) in self.segments.iter().enumerate() {
            s.push_str(&format!(
                "{}\n{} --> {}\n{}\n\n",
                i + 1,
                vtt_time(seg.start),
                vtt_time(seg.end),
                vtt_escape(seg.text.trim())
            ));
        }
        s
    }
}

/// `HH:MM:SS.mmm` as WebVTT wants.
pub fn vtt_time(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        (ms / 60_000) % 60,
        (ms / 1000) % 60,
        ms % 1000
    )
}

/// Escapes the characters WebVTT cue text reserves.
pub fn vtt_escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace("-->", "--&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            schema: "mitool.transcript".into(),
            version: SCHEMA_VERSION,
            source: SourceInfo {
                path: "a.wav".into(),
                format: "WAV".into(),
                duration_s: 5.0,
                channels: 1,
            },
            model: ModelInfo {
                name: "m".into(),
                sha256: "00".into(),
            },
            vad_model: None,
            language: "en".into(),
            speech_s: 3.0,
            segments: vec![Segment {
                start: 3661.5,
                end: 3662.25,
                text: " Hello <there> & you".into(),
                words: vec![],
            }],
        }
    }

    #[test]
    fn vtt_times_and_escaping() {
        let v = sample().to_vtt();
        assert!(v.starts_with("WEBVTT\n\n1\n01:01:01.500 --> 01:01:02.250\n"));
        assert!(v.contains("Hello &lt;there&gt; &amp; you"));
    }

    #[test]
    fn json_round_trips() {
        let t = sample();
        let back: Transcript = serde_json::from_str(&t.to_json()).unwrap();
        assert_eq!(back, t);
    }
}
