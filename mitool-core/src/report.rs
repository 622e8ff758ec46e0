//! Per-session outputs for people: a self-contained HTML report for a
//! supervisor (inline CSS and SVG, nothing fetched), WebVTT with speaker and
//! codes per cue to play beside the recording, and the versioned session JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::manifest::Columns;
use crate::score::{self, Band, SessionScores, Thresholds};
use crate::transcript::{vtt_escape, vtt_time, ModelInfo};
use crate::utterance::{Miti, Role, Talk, Utterance};

/// Version of the session JSON schema.
pub const SESSION_SCHEMA_VERSION: u32 = 1;

/// Everything known about one scored session, as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRecord {
    pub schema: String,
    pub version: u32,
    #[serde(flatten)]
    pub scores: SessionScores,
    /// Every model used, with its SHA-256.
    pub models: Vec<ModelInfo>,
    /// The options the session was processed with.
    pub options: serde_json::Value,
    /// Hash of input, models and options: a rerun with the same hash can be skipped.
    pub content_hash: Option<String>,
    /// Why a person should check this session before trusting its scores
    /// (e.g. who the practitioner is was not clear); empty when nothing stood out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs_review: Vec<String>,
    /// The sessions manifest's own columns for this session (site, date…),
    /// in its order; carried into sessions.csv.
    #[serde(default, skip_serializing_if = "Columns::is_empty")]
    pub manifest: Columns,
}

impl SessionRecord {
    pub fn new(scores: SessionScores, models: Vec<ModelInfo>, options: serde_json::Value) -> Self {
        Self {
            schema: "mitool.session".into(),
            version: SESSION_SCHEMA_VERSION,
            scores,
            models,
            options,
            content_hash: None,
            needs_review: Vec::new(),
            manifest: Columns::default(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("session records always serialise")
    }
}

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn clock(t: f64) -> String {
    let s = t.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn codes_label(u: &Utterance) -> String {
    match u.role {
        Role::Practitioner => u
            .codes
            .miti
            .as_ref()
            .filter(|m| !m.is_empty())
            .map(|m| m.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| u.codes.main.map_or("—", |m| m.as_str()).to_string()),
        Role::Client => u.codes.talk.map_or("—", |t| t.as_str()).to_string(),
    }
}

/// WebVTT with one cue per timed utterance: `<v Speaker>[codes] text`.
pub fn vtt(utts: &[Utterance]) -> String {
    let mut s = String::from("WEBVTT\n\n");
    for (i, u) in utts.iter().enumerate() {
        let (Some(a), Some(b)) = (u.start, u.end) else {
            continue;
        };
        let who = format!("{} ({})", u.speaker, u.person());
        let _ = write!(
            s,
            "{}\n{} --> {}\n<v {}>[{}] {}\n\n",
            i + 1,
            vtt_time(a),
            vtt_time(b.max(a)),
            vtt_escape(&who),
            vtt_escape(&codes_label(u)),
            vtt_escape(u.text.trim())
        );
    }
    s
}

fn band_class(b: Option<Band>) -> &'static str {
    match b {
        Some(Band::Good) => "good",
        Some(Band::Fair) => "fair",
        Some(Band::BelowFair) => "below",
        None => "none",
    }
}

fn band_text(b: Option<Band>) -> &'static str {
    match b {
        Some(Band::Good) => "good",
        Some(Band::Fair) => "fair",
        Some(Band::BelowFair) => "below fair",
        None => "not enough data",
    }
}

/// An expected count: whole numbers as such, else one decimal.
fn expected(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 {
        format!("{}", x.round() as i64)
    } else {
        format!("{x:.1}")
    }
}

/// A count split in two, as a person reads it: "5 (3 / 2)" where both parts
/// were counted whole; where a part is an expected count (the coder was
/// unsure whether a question was open, a reflection complex), whole numbers
/// that add up to the total, said to be estimated, never "1.9 / 2.1".
fn split(total: f64, a: f64, b: f64) -> String {
    let whole = |x: f64| (x - x.round()).abs() < 0.05;
    if whole(a) && whole(b) {
        return format!("{} ({} / {})", expected(total), expected(a), expected(b));
    }
    let n = total.round().max(0.0);
    let a = a.round().clamp(0.0, n);
    format!(
        "{} (about {} / {}, <span class=\"est\">estimated</span>)",
        n as i64,
        a as i64,
        (n - a) as i64
    )
}

/// A score for people: "—" when empty, a percentage or two decimals.
pub(crate) fn fmt_opt(v: Option<f64>, pct: bool) -> String {
    match v {
        None => "—".into(),
        Some(x) if pct => format!("{:.0}%", x * 100.0),
        Some(x) => format!("{x:.2}"),
    }
}

fn code_colour(u: &Utterance) -> &'static str {
    let m = u.codes.miti.clone().unwrap_or_default();
    match u.role {
        Role::Practitioner => {
            if m.contains(&Miti::Confront) || m.contains(&Miti::Persuade) {
                "#c0392b"
            } else if m.contains(&Miti::ComplexReflection) {
                "#1e8449"
            } else if m.contains(&Miti::SimpleReflection) {
                "#58d68d"
            } else if m.contains(&Miti::Affirm)
                || m.contains(&Miti::Seek)
                || m.contains(&Miti::Emphasize)
            {
                "#8e44ad"
            } else if m.contains(&Miti::Question) {
                "#2e86c1"
            } else if m.contains(&Miti::GivingInformation)
                || m.contains(&Miti::PersuadeWithPermission)
            {
                "#7f8c8d"
            } else {
                "#d5d8dc"
            }
        }
        Role::Client => match u.codes.talk {
            Some(Talk::Change) => "#27ae60",
            Some(Talk::Sustain) => "#e67e22",
            _ => "#bdc3c7",
        },
    }
}

/// The self-contained HTML report of one session.
pub fn html(rec: &SessionRecord, utts: &[Utterance]) -> String {
    let s = &rec.scores;
    let mut h = String::with_capacity(32 * 1024);
    let title = format!("MI fidelity report — {}", s.session_id);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{}</title>
<style>
body{{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;color:#1c2833;background:#fbfcfc}}
h1{{font-size:1.5rem;margin-bottom:.2rem}} h2{{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d5d8dc;padding-bottom:.3rem}}
.meta{{color:#566573;font-size:.9rem}}
.cards{{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.8rem}}
.card{{border-radius:8px;padding:.8rem;border:1px solid #d5d8dc;background:#fff}}
.card .v{{font-size:1.7rem;font-weight:600}} .card .t{{font-size:.8rem;color:#566573}}
.card.good{{border-left:6px solid #1e8449}} .card.fair{{border-left:6px solid #d4ac0d}} .card.below{{border-left:6px solid #c0392b}} .card.none{{border-left:6px solid #aab7b8}}
.badge{{display:inline-block;font-size:.75rem;padding:.1rem .45rem;border-radius:10px;background:#eaeded}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}} td,th{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eaeded;vertical-align:top}}
.est{{font-style:italic;color:#7d6608}} .legend span{{display:inline-block;margin-right:.8rem;font-size:.8rem}}
.sw{{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.25rem;vertical-align:middle}}
.note{{font-size:.85rem;color:#566573}}
.review{{border:2px solid #c0392b;background:#fdedec;border-radius:8px;padding:.6rem 1rem;margin:1rem 0}}
</style></head><body>
<h1>{}</h1>
<p class="meta">Source: {} · Duration: {} · Coder: {} · Everything on this page was computed on this computer.</p>
"#,
        esc(&title),
        esc(&title),
        esc(&s.source),
        s.duration_s.map_or("—".into(), clock),
        esc(&s.model_version)
    );
    if !rec.needs_review.is_empty() {
        h.push_str(
            r#"<div class="review" role="alert"><b>Check this session before using its scores.</b><ul>"#,
        );
        for r in &rec.needs_review {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul></div>\n");
    }

    // --- summary
    let card = |h: &mut String,
                name: &str,
                v: String,
                band: Option<Band>,
                t: Option<Thresholds>,
                pct: bool,
                est: bool| {
        let thr = t.map_or(String::new(), |t| {
            if pct {
                format!(
                    "fair ≥ {:.0}%, good ≥ {:.0}%",
                    t.fair * 100.0,
                    t.good * 100.0
                )
            } else {
                format!("fair ≥ {}, good ≥ {}", t.fair, t.good)
            }
        });
        let _ = write!(
            h,
            r#"<div class="card {}"><div class="t">{}{}</div><div class="v">{}</div><div class="t"><span class="badge">{}</span> {}</div></div>"#,
            band_class(band),
            esc(name),
            if est {
                r#" <span class="est">(estimated)</span>"#
            } else {
                ""
            },
            v,
            band_text(band),
            thr
        );
    };
    h.push_str(
        "<section id=\"summary\"><h2>Summary against the MITI thresholds</h2><div class=\"cards\">",
    );
    card(
        &mut h,
        "Reflection-to-question ratio",
        fmt_opt(s.r_to_q, false),
        s.r_to_q_band,
        Some(score::R_TO_Q),
        false,
        false,
    );
    card(
        &mut h,
        "Complex reflections",
        fmt_opt(s.pct_complex_reflections, true),
        s.pct_complex_reflections_band,
        Some(score::PCT_CR),
        true,
        false,
    );
    card(
        &mut h,
        "Open questions (MITI 3.1.1)",
        fmt_opt(s.pct_open_questions, true),
        s.pct_open_questions_band,
        Some(score::PCT_OQ),
        true,
        false,
    );
    card(
        &mut h,
        "Relational global",
        fmt_opt(s.relational, false),
        s.relational_band,
        Some(score::RELATIONAL),
        false,
        true,
    );
    card(
        &mut h,
        "Technical global",
        fmt_opt(s.technical, false),
        s.technical_band,
        Some(score::TECHNICAL),
        false,
        true,
    );
    h.push_str("</div>");
    let _ = write!(
        h,
        r#"<table><tr><th>Behaviour (per MITI 4.2.1 volley rule)</th><th>Count</th><th>Behaviour</th><th>Count</th></tr>
<tr><td>Questions (open / closed)</td><td>{}</td><td>MI-adherent (Affirm + Seek + Emphasize)</td><td>{} ({} + {} + {})</td></tr>
<tr><td>Reflections (simple / complex)</td><td>{}</td><td>MI non-adherent (Persuade + Confront)</td><td>{} ({} + {})</td></tr>
<tr><td>Giving information</td><td>{}</td><td>Persuade with permission</td><td>{}</td></tr>
<tr><td>Client change / sustain talk</td><td>{} / {}</td><td>Change talk share</td><td>{}</td></tr>
<tr><td>Cultivating change talk <span class="est">(estimated)</span></td><td>{}</td><td>Softening sustain talk <span class="est">(estimated)</span></td><td>{}</td></tr>
<tr><td>Partnership <span class="est">(estimated)</span></td><td>{}</td><td>Empathy <span class="est">(estimated)</span></td><td>{}</td></tr>
</table>
<p class="note">Global ratings are <b>estimated</b> from the coded behaviours (method in the mitool documentation), not rated by a person. Codes come from an automatic coder. Questions and reflections are counted whole, one of each per volley at most; whether a question is open and a reflection complex is estimated from the coder's calibrated confidence, so those splits are marked "about" where it was unsure (a code corrected by hand counts fully). Affirm, Seek, Emphasize and Confront come from phrase detectors and are the least reliable. Check the review list below.</p></section>
"#,
        split(s.questions, s.open_questions, s.closed_questions),
        s.mi_adherent,
        s.affirm,
        s.seek_collaboration,
        s.emphasize_autonomy,
        split(
            s.simple_reflections + s.complex_reflections,
            s.simple_reflections,
            s.complex_reflections
        ),
        s.mi_non_adherent,
        s.persuade,
        s.confront,
        s.giving_information,
        s.persuade_with_permission,
        s.change_talk,
        s.sustain_talk,
        fmt_opt(s.change_talk_share, true),
        fmt_opt(s.cultivating_change_talk, false),
        fmt_opt(s.softening_sustain_talk, false),
        fmt_opt(s.partnership, false),
        fmt_opt(s.empathy, false),
    );

    // --- talk share
    let share = s.practitioner_talk_share.unwrap_or(0.0);
    let _ = write!(
        h,
        r##"<section id="talk-share"><h2>Who talked</h2>
<svg width="100%" height="34" viewBox="0 0 1000 34" preserveAspectRatio="none" role="img" aria-label="talk share">
<rect x="0" y="4" width="{:.1}" height="26" fill="#2e86c1"/><rect x="{:.1}" y="4" width="{:.1}" height="26" fill="#f5b041"/></svg>
<p>Practitioner {} · family {} (of {}).</p></section>
"##,
        share * 1000.0,
        share * 1000.0,
        (1.0 - share) * 1000.0,
        fmt_opt(s.practitioner_talk_share, true),
        fmt_opt(s.practitioner_talk_share.map(|x| 1.0 - x), true),
        if utts.iter().all(|u| u.start.is_some() && u.end.is_some()) {
            "talk time"
        } else {
            "words"
        }
    );

    // --- timeline
    let timed = !utts.is_empty() && utts.iter().all(|u| u.start.is_some());
    let span = if timed {
        utts.iter()
            .filter_map(|u| u.end.or(u.start))
            .fold(0.0, f64::max)
            .max(1.0)
    } else {
        utts.len().max(1) as f64
    };
    h.push_str(r#"<section id="timeline"><h2>Timeline: who spoke, and how it was coded</h2>"#);
    h.push_str(r#"<svg width="100%" height="90" viewBox="0 0 1000 90" preserveAspectRatio="none" role="img" aria-label="timeline">"#);
    h.push_str(r##"<text x="2" y="22" font-size="11" fill="#566573">practitioner</text><text x="2" y="72" font-size="11" fill="#566573">family</text>"##);
    for (i, u) in utts.iter().enumerate() {
        let (a, b) = if timed {
            (
                u.start.unwrap_or(0.0),
                u.end.unwrap_or(u.start.unwrap_or(0.0) + 1.0),
            )
        } else {
            (i as f64, i as f64 + 1.0)
        };
        let x = 80.0 + a / span * 915.0;
        let w = ((b - a) / span * 915.0).max(1.5);
        let y = if u.role == Role::Practitioner {
            28.0
        } else {
            54.0
        };
        let _ = write!(
            h,
            r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="22" fill="{}"><title>{} {} [{}]</title></rect>"#,
            code_colour(u),
            u.start.map_or(String::new(), clock),
            esc(&u.speaker),
            esc(&codes_label(u))
        );
    }
    h.push_str("</svg>");
    h.push_str(r##"<p class="legend"><span><i class="sw" style="background:#2e86c1"></i>question</span><span><i class="sw" style="background:#58d68d"></i>simple reflection</span><span><i class="sw" style="background:#1e8449"></i>complex reflection</span><span><i class="sw" style="background:#8e44ad"></i>affirm / seek / autonomy</span><span><i class="sw" style="background:#7f8c8d"></i>information</span><span><i class="sw" style="background:#c0392b"></i>persuade / confront</span><span><i class="sw" style="background:#27ae60"></i>change talk</span><span><i class="sw" style="background:#e67e22"></i>sustain talk</span></p></section>"##);

    // --- change vs sustain over time (cumulative)
    let clients: Vec<&Utterance> = utts.iter().filter(|u| u.role == Role::Client).collect();
    let total = (s.change_talk + s.sustain_talk).max(1) as f64;
    let (mut c, mut st) = (0.0, 0.0);
    let mut change_pts = String::from("0,120");
    let mut sustain_pts = String::from("0,120");
    for (k, u) in clients.iter().enumerate() {
        match u.codes.talk {
            Some(Talk::Change) => c += 1.0,
            Some(Talk::Sustain) => st += 1.0,
            _ => {}
        }
        let x = (k + 1) as f64 / clients.len().max(1) as f64 * 1000.0;
        let _ = write!(change_pts, " {x:.1},{:.1}", 120.0 - c / total * 110.0);
        let _ = write!(sustain_pts, " {x:.1},{:.1}", 120.0 - st / total * 110.0);
    }
    let _ = write!(
        h,
        r##"<section id="change-sustain"><h2>Change talk and sustain talk over the session</h2>
<svg width="100%" height="130" viewBox="0 0 1000 125" preserveAspectRatio="none" role="img" aria-label="change and sustain talk">
<polyline points="{change_pts}" fill="none" stroke="#27ae60" stroke-width="3"/><polyline points="{sustain_pts}" fill="none" stroke="#e67e22" stroke-width="3"/></svg>
<p class="legend"><span><i class="sw" style="background:#27ae60"></i>change talk (cumulative): {}</span><span><i class="sw" style="background:#e67e22"></i>sustain talk (cumulative): {}</span></p></section>
"##,
        s.change_talk, s.sustain_talk
    );

    // --- examples
    h.push_str(r#"<section id="examples"><h2>Examples from the practitioner</h2>"#);
    let example = |h: &mut String, heading: &str, pick: &dyn Fn(&Utterance) -> bool| {
        let _ = write!(h, "<h3>{}</h3><table>", esc(heading));
        let mut n = 0;
        for u in utts
            .iter()
            .filter(|u| u.role == Role::Practitioner && pick(u))
            .take(8)
        {
            n += 1;
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                u.start.map_or("—".into(), clock),
                esc(&codes_label(u)),
                esc(u.text.trim())
            );
        }
        if n == 0 {
            h.push_str("<tr><td>None in this session.</td></tr>");
        }
        h.push_str("</table>");
    };
    let has = |m: Miti| move |u: &Utterance| u.codes.miti.as_ref().is_some_and(|v| v.contains(&m));
    example(&mut h, "Complex reflections", &has(Miti::ComplexReflection));
    example(&mut h, "Simple reflections", &has(Miti::SimpleReflection));
    example(&mut h, "Questions", &has(Miti::Question));
    example(&mut h, "Persuading or confronting", &|u: &Utterance| {
        u.codes
            .miti
            .as_ref()
            .is_some_and(|v| v.contains(&Miti::Persuade) || v.contains(&Miti::Confront))
    });
    h.push_str("</section>");

    // --- review list
    let mut review: Vec<&Utterance> = utts
        .iter()
        .filter(|u| u.codes.confidence.is_some())
        .collect();
    review.sort_by(|a, b| {
        a.codes
            .confidence
            .unwrap_or(1.0)
            .total_cmp(&b.codes.confidence.unwrap_or(1.0))
    });
    h.push_str(r#"<section id="review"><h2>Codes to review (least confident first)</h2><table><tr><th>Time</th><th>Speaker</th><th>Code</th><th>Confidence</th><th>Utterance</th></tr>"#);
    for u in review.iter().take(12) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}%</td><td>{}</td></tr>",
            u.start.map_or("—".into(), clock),
            esc(&u.speaker),
            esc(&codes_label(u)),
            u.codes.confidence.unwrap_or(0.0) * 100.0,
            esc(u.text.trim())
        );
    }
    if review.is_empty() {
        h.push_str("<tr><td colspan=\"5\">These codes came from a person (no confidence to rank by).</td></tr>");
    }
    h.push_str("</table><p class=\"note\">To listen and correct codes, run <code>mitool review</code> on this folder (or correct the coded CSV and run <code>mitool score</code>).</p></section>");

    let _ = writeln!(
        h,
        "<footer class=\"note\"><p>Models: {}</p></footer></body></html>",
        rec.models
            .iter()
            .map(|m| format!("{} ({}…)", esc(&m.name), &m.sha256.get(..12).unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    );
    h
}

fn rel(from: &Path, to: &Path) -> String {
    match to.strip_prefix(from) {
        Ok(r) => r.display().to_string(),
        Err(_) => to.display().to_string(),
    }
}

/// The study's index page: every session's key scores, sortable, linking
/// its report; failed sessions (id, stage, error) listed below.
pub fn index_html(
    out: &Path,
    done: &BTreeMap<String, (PathBuf, SessionRecord)>,
    corrected: &BTreeMap<String, usize>,
    failed: &[(&str, &str, &str)],
) -> String {
    let mut h = String::from(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>mitool — sessions</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1c2833}table{border-collapse:collapse}th,td{padding:.3rem .6rem;border-bottom:1px solid #eaeded;text-align:right}th{cursor:pointer;background:#f4f6f6}td:first-child,th:first-child{text-align:left}.good{color:#1e8449}.fair{color:#9a7d0a}.below_fair{color:#c0392b}.review{font-size:.75rem;padding:.05rem .4rem;border-radius:8px;background:#fdedec;color:#c0392b;border:1px solid #c0392b}.corrected{font-size:.75rem;padding:.05rem .4rem;border-radius:8px;background:#e8f6f3;color:#117864;border:1px solid #117864}</style>
</head><body><h1>MI fidelity: sessions</h1><p>Click a column to sort. Global ratings are estimated. Sessions marked <span class="review">check</span> need a person's look before their scores are used (hover for why). Sessions marked <span class="corrected">corrected</span> show the scores of a person's corrected codes (<code>mitool review</code>). Computed on this computer.</p>
<table id="sessions"><thead><tr><th>session</th><th>R:Q</th><th>%CR</th><th>%OQ</th><th>MI-adherent</th><th>non-adherent</th><th>change share</th><th>relational (est.)</th><th>technical (est.)</th></tr></thead><tbody>
"#,
    );
    let cell = |v: Option<f64>, pct: bool, band: Option<score::Band>| {
        format!(
            r#"<td class="{}" data-v="{}">{}</td>"#,
            band.map_or("", |b| b.as_str()),
            v.map_or(String::new(), |x| format!("{x}")),
            fmt_opt(v, pct)
        )
    };
    for (id, (dir, rec)) in done {
        let s = &rec.scores;
        let _ = write!(
            h,
            r#"<tr><td><a href="{}">{}</a>{}{}</td>{}{}{}<td data-v="{}">{}</td><td data-v="{}">{}</td>{}{}{}</tr>"#,
            esc(&rel(out, &dir.join("report.html"))),
            esc(id),
            corrected.get(id).map_or(String::new(), |n| format!(
                r#" <span class="corrected" title="{n} change(s) by a person">corrected</span>"#
            )),
            if rec.needs_review.is_empty() {
                String::new()
            } else {
                format!(
                    r#" <span class="review" title="{}">check</span>"#,
                    esc(&rec.needs_review.join("; "))
                )
            },
            cell(s.r_to_q, false, s.r_to_q_band),
            cell(
                s.pct_complex_reflections,
                true,
                s.pct_complex_reflections_band
            ),
            cell(s.pct_open_questions, true, s.pct_open_questions_band),
            s.mi_adherent,
            s.mi_adherent,
            s.mi_non_adherent,
            s.mi_non_adherent,
            cell(s.change_talk_share, true, None),
            cell(s.relational, false, s.relational_band),
            cell(s.technical, false, s.technical_band),
        );
        h.push('\n');
    }
    h.push_str("</tbody></table>");
    if !failed.is_empty() {
        h.push_str("<h2>Failed</h2><ul>");
        for (id, stage, error) in failed {
            let _ = write!(
                h,
                "<li><b>{}</b> ({}): {}</li>",
                esc(id),
                esc(stage),
                esc(error)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str(
        r#"<script>
document.querySelectorAll('#sessions th').forEach((th, col) => th.addEventListener('click', () => {
  const body = document.querySelector('#sessions tbody');
  const rows = Array.from(body.rows);
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = r => { const c = r.cells[col]; const v = c.dataset.v; return v === undefined ? c.textContent : (v === '' ? -Infinity : parseFloat(v)); };
  rows.sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
  rows.forEach(r => body.appendChild(r));
}));
</script></body></html>
"#,
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::{score, ScoreConfig};
    use crate::utterance::Codes;

    #[test]
    fn split_counts_read_as_whole_numbers() {
        assert_eq!(split(5.0, 3.0, 2.0), "5 (3 / 2)");
        // Expected parts: whole numbers that add up, and said to be estimated.
        let s = split(4.0, 1.9, 2.1);
        assert!(s.starts_with("4 (about 2 / 2, "), "{s}");
        assert!(s.contains("estimated") && !s.contains('.'), "{s}");
        let s = split(3.0, 2.6, 0.4);
        assert!(s.starts_with("3 (about 3 / 0, "), "{s}");
    }

    fn utt(role: Role, t: f64, text: &str, miti: &[Miti], talk: Option<Talk>) -> Utterance {
        Utterance {
            session_id: "s1".into(),
            id: format!("{t}"),
            speaker: if role == Role::Practitioner {
                "S1".into()
            } else {
                "S2".into()
            },
            role,
            start: Some(t),
            end: Some(t + 2.0),
            text: text.into(),
            words: vec![],
            overlap: false,
            codes: Codes {
                miti: Some(miti.to_vec()),
                talk,
                confidence: Some(0.5 + t as f32 / 100.0),
                ..Default::default()
            },
            extra: Default::default(),
        }
    }

    #[test]
    fn html_has_every_section_and_escapes_text() {
        let u = vec![
            utt(
                Role::Practitioner,
                0.0,
                "What brings you <here>?",
                &[Miti::Question],
                None,
            ),
            utt(
                Role::Client,
                3.0,
                "I want to change.",
                &[],
                Some(Talk::Change),
            ),
            utt(
                Role::Practitioner,
                6.0,
                "You're ready for something new.",
                &[Miti::ComplexReflection],
                None,
            ),
        ];
        let s = score("s1", "a.wav", &u, "test", &ScoreConfig::default()).unwrap();
        let rec = SessionRecord::new(s, vec![], serde_json::json!({}));
        let h = html(&rec, &u);
        for id in [
            "summary",
            "talk-share",
            "timeline",
            "change-sustain",
            "examples",
            "review",
        ] {
            assert!(h.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(h.contains("&lt;here&gt;"));
        assert!(
            !h.contains("http://") && !h.contains("https://"),
            "no external resources"
        );
        let v = vtt(&u);
        assert!(v.contains("<v S1 (practitioner)>[Q] What brings you &lt;here&gt;?"));
        let j: serde_json::Value = serde_json::from_str(&rec.to_json()).unwrap();
        assert_eq!(j["schema"], "mitool.session");
        assert_eq!(j["r_to_q"], 1.0);
    }
}
