//! How many people spoke: the decision, its evidence, and the
//! short-window check of the count (stage 5 of [`super`], before frames
//! are relabelled).
//!
//! The long windows' clustering ([`super::cluster`]) proposes the voices;
//! [`recount`] checks them on 1.5 s windows, which mostly hold one voice:
//! fragments folded in, alike voices merged, a voice that is two people
//! split, and a quiet person kept where their voice is distinct.

use super::refine::{mean, most_alone, owned, owners, short_centroid, Short};
use super::*;

impl CountDecision {
    pub(super) fn none() -> Self {
        Self {
            how: "none".into(),
            ..Self::default()
        }
    }

    /// A given count of `n` reached by adding the most distinct quiet
    /// person to the `n - 1` voices the estimate found.
    pub(super) fn filling(n: usize) -> Self {
        Self {
            how: "given".into(),
            fill: Some(n),
            ..Self::default()
        }
    }

    pub(super) fn new(
        config: &DiarizeConfig,
        speakers: Option<usize>,
        evidence: &CountEvidence,
    ) -> Self {
        if speakers.is_some() {
            return Self {
                how: "given".into(),
                ..Self::default()
            };
        }
        Self::estimated(evidence.margin(config.merge_cosine), config)
    }

    /// The short windows' check replaces the long windows' evidence: the
    /// count is now theirs.
    pub(super) fn merge_short(&mut self, ev: &ShortEvidence, config: &DiarizeConfig) {
        let margins = [
            ev.loosest_merged.map(|c| c - config.short_merge_cosine),
            ev.closest_apart.map(|c| config.short_merge_cosine - c),
            ev.loosest_split.map(|c| config.short_split_cosine - c),
            ev.tightest_whole.map(|c| c - config.short_split_cosine),
            ev.loosest_quiet.map(|c| config.quiet_cosine - c),
            ev.closest_not_quiet.map(|c| c - config.quiet_cosine),
        ];
        let margin = margins.into_iter().flatten().reduce(f32::min);
        if margin.is_some() {
            *self = Self::estimated(margin, config);
        }
    }

    fn estimated(margin: Option<f32>, config: &DiarizeConfig) -> Self {
        let review = margin.filter(|&m| m < config.count_review_margin).map(|_| {
            "the number of speakers is uncertain (two voices are nearly as alike as one); \
                 check the speakers, or give --speakers"
                .to_string()
        });
        Self {
            how: "estimated".into(),
            confidence: margin
                .map(|m| (0.5 + m / (4.0 * config.count_review_margin.max(1e-3))).clamp(0.0, 1.0)),
            margin,
            review,
            fill: None,
        }
    }
}

/// How the number of speakers was decided, so a reader can judge it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountDecision {
    /// "given" (the user's number), "estimated", "channels" or "none" (no
    /// speech, or too little to tell voices apart).
    pub how: String,
    /// For an estimate: 0.5 where the nearest decision sat on the merge
    /// threshold, 1.0 at a margin of twice the review margin or more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// For an estimate: how far the nearest decision was from the
    /// threshold (the score of the closest voices kept apart, or of the
    /// least alike groups joined; see [`cluster::cluster`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f32>,
    /// Set where the count may be wrong: a person should check it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
    /// A given count being reached by [`recount_to`]: not an output.
    #[serde(skip)]
    pub(super) fill: Option<usize>,
}

/// Spherical 2-means (farthest-point start, deterministic): a side per
/// embedding and the two centroids.
fn two_means(embs: &[&[f32]]) -> (Vec<usize>, [Vec<f32>; 2]) {
    let all = mean(embs);
    let far = |from: &[f32]| {
        (0..embs.len())
            .min_by(|&a, &b| cosine(embs[a], from).total_cmp(&cosine(embs[b], from)))
            .unwrap_or(0)
    };
    let a = far(&all);
    let b = far(embs[a]);
    let mut c = [embs[a].to_vec(), embs[b].to_vec()];
    let mut side = vec![0usize; embs.len()];
    for _ in 0..50 {
        let new: Vec<usize> = embs
            .iter()
            .map(|e| usize::from(cosine(&c[1], e) > cosine(&c[0], e)))
            .collect();
        let done = new == side;
        side = new;
        for (k, centre) in c.iter_mut().enumerate() {
            let members: Vec<&[f32]> = embs
                .iter()
                .zip(&side)
                .filter(|(_, s)| **s == k)
                .map(|(e, _)| *e)
                .collect();
            if !members.is_empty() {
                *centre = mean(&members);
            }
        }
        if done {
            break;
        }
    }
    (side, c)
}

/// What the short windows said of the count: the closest decisions to
/// their thresholds (see [`recount`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ShortEvidence {
    /// Lowest cosine of two voices' short-window centroids merged.
    pub loosest_merged: Option<f32>,
    /// Highest cosine of two voices kept apart.
    pub closest_apart: Option<f32>,
    /// Lowest 2-means cosine of a voice split in two.
    pub loosest_split: Option<f32>,
    /// Lowest 2-means cosine of a voice left whole.
    pub tightest_whole: Option<f32>,
    /// Highest likeness (see [`find_quiet`]) of a quiet person kept.
    pub loosest_quiet: Option<f32>,
    /// Lowest likeness of a candidate quiet person not kept.
    pub closest_not_quiet: Option<f32>,
}

/// The count, checked on short windows: voices whose short-window
/// centroids are alike (cosine > `short_merge_cosine`) are merged; a voice
/// whose short windows fall in two clearly different groups (2-means
/// centroids' cosine < `short_split_cosine`, each with at least
/// `MIN_SPLIT_WINDOWS`) is split, the frames of the new voice going to it
/// in [`relabel`]. The thresholds and what they were set on:
/// [`DiarizeConfig::default`].
pub(super) fn recount(
    active: &mut Vec<Vec<bool>>,
    centroids: &mut Vec<Vec<f32>>,
    shorts: &[Short],
    cfg: &DiarizeConfig,
) -> ShortEvidence {
    let mut ev = ShortEvidence::default();
    // A voice no short window hears alone has under about a second of
    // speech of its own: where its long-window centroid is like another
    // voice's (cosine > `fold_cosine`), a fragment of that voice, folded in.
    let mut kept = 0;
    loop {
        let owners = owners(active, shorts);
        let heard = |c: usize| owners.contains(&Some(c));
        let Some(lost) = (kept..active.len()).find(|&c| !heard(c)) else {
            break;
        };
        // Heard in short windows where it is the only voice among the
        // speech (short answers between pauses) and unlike every other voice
        // there: a quiet person, kept (see [`find_quiet`]).
        if let Some(like) = heard_apart(active, shorts, lost) {
            if like < cfg.quiet_cosine {
                ev.loosest_quiet = Some(ev.loosest_quiet.map_or(like, |m| m.max(like)));
                kept = lost + 1;
                continue;
            }
        }
        let Some(into) = (0..active.len())
            .filter(|&c| c != lost && heard(c))
            .max_by(|&a, &b| {
                cosine(&centroids[a], &centroids[lost])
                    .total_cmp(&cosine(&centroids[b], &centroids[lost]))
            })
            .filter(|&c| {
                let speech_s = active[lost].iter().filter(|&&a| a).count() as f64 * FRAME_S;
                speech_s < FOLD_BELOW_S || cosine(&centroids[c], &centroids[lost]) > cfg.fold_cosine
            })
        else {
            // Unlike every other voice: a person heard only in overlap
            // (far-field meetings), kept.
            kept = lost + 1;
            continue;
        };
        centroids.remove(lost);
        let gone = active.remove(lost);
        let into = if into > lost { into - 1 } else { into };
        for (g, on) in gone.into_iter().enumerate() {
            active[into][g] |= on;
        }
    }
    // Merge.
    loop {
        let owners = owners(active, shorts);
        let cents: Vec<Option<Vec<f32>>> = (0..active.len())
            .map(|c| short_centroid(&owned(shorts, &owners, c)))
            .collect();
        let mut best: Option<(f32, usize, usize)> = None;
        for i in 0..cents.len() {
            for j in i + 1..cents.len() {
                if let (Some(a), Some(b)) = (&cents[i], &cents[j]) {
                    let c = cosine(a, b);
                    if best.is_none_or(|(x, _, _)| c > x) {
                        best = Some((c, i, j));
                    }
                }
            }
        }
        let Some((c, i, j)) = best else { break };
        if c <= cfg.short_merge_cosine || active.len() <= cfg.min_speakers {
            ev.closest_apart = Some(c);
            break;
        }
        ev.loosest_merged = Some(ev.loosest_merged.map_or(c, |m| m.min(c)));
        centroids.remove(j);
        let gone = active.remove(j);
        for (g, on) in gone.into_iter().enumerate() {
            active[i][g] |= on;
        }
    }
    // Split.
    let owners = owners(active, shorts);
    let mut splits: Vec<(usize, Option<usize>, Vec<usize>)> = Vec::new();
    for c in 0..active.len() {
        if active.len() + splits.len() >= cfg.max_speakers {
            break;
        }
        let mine = owned(shorts, &owners, c);
        if mine.len() < 2 * MIN_SPLIT_WINDOWS {
            continue;
        }
        // The tenth of windows least like the voice (overlap, a
        // back-channel, breath) is left out: 2-means would split it off.
        let all: Vec<&[f32]> = mine.iter().map(|s| s.emb.as_slice()).collect();
        let centre = mean(&all);
        let mut by_fit: Vec<usize> = (0..mine.len()).collect();
        by_fit.sort_by(|&a, &b| cosine(&centre, all[b]).total_cmp(&cosine(&centre, all[a])));
        by_fit.truncate(mine.len() - mine.len() / 10);
        by_fit.sort_unstable();
        let mine: Vec<&Short> = by_fit.iter().map(|&i| mine[i]).collect();
        let embs: Vec<&[f32]> = mine.iter().map(|s| s.emb.as_slice()).collect();
        let (side, cents) = two_means(&embs);
        let cos = cosine(&cents[0], &cents[1]);
        let second = side.iter().filter(|&&s| s == 1).count();
        let smaller = second.min(side.len() - second);
        // Too few windows on one side is a handful of odd windows, not a
        // person: no evidence either way.
        if smaller < MIN_SPLIT_WINDOWS || smaller * 5 < side.len() {
            continue;
        }
        if cos < cfg.short_split_cosine {
            ev.loosest_split = Some(ev.loosest_split.map_or(cos, |m| m.max(cos)));
            // A side as like another voice as one voice's halves are (far
            // field: three men, one voice holding parts of two) is that
            // voice's speech; its frames go there. Else the second side is a
            // new voice.
            let voices: Vec<(usize, Vec<f32>)> = (0..active.len())
                .filter(|&o| o != c)
                .filter_map(|o| short_centroid(&owned(shorts, &owners, o)).map(|v| (o, v)))
                .collect();
            let cents = &cents;
            let home = (0..2)
                .flat_map(|s| {
                    voices
                        .iter()
                        .map(move |(o, v)| (s, *o, cosine(v, &cents[s])))
                })
                .filter(|&(_, _, like)| like >= cfg.short_split_cosine)
                .max_by(|a, b| a.2.total_cmp(&b.2));
            let moved = home.map_or(1, |(s, _, _)| s);
            let frames: Vec<usize> = mine
                .iter()
                .zip(&side)
                .filter(|(_, s)| **s == moved)
                .flat_map(|(w, _)| w.frames.clone())
                .collect();
            splits.push((c, home.map(|(_, o, _)| o), frames));
        } else {
            ev.tightest_whole = Some(ev.tightest_whole.map_or(cos, |m| m.min(cos)));
        }
    }
    for (c, home, frames) in splits {
        let n = active[c].len();
        let mut new = vec![false; n];
        for g in frames {
            if active[c][g] {
                new[g] = true;
            }
        }
        for (g, on) in new.iter().enumerate() {
            if *on {
                active[c][g] = false;
            }
        }
        match home {
            Some(o) => active[o].iter_mut().zip(&new).for_each(|(a, n)| *a |= n),
            None => {
                active.push(new);
                centroids.push(centroids[c].clone());
            }
        }
    }
    find_quiet(active, centroids, shorts, cfg, &mut ev);
    ev
}

/// The short-window check of a given count `n` the long windows found all
/// but one of: as [`recount`], then the most distinct quiet groups are
/// added whatever their likeness until there are `n` voices (the user
/// said so; the threshold is for estimates). Whether `n` was reached: a
/// person with too few windows of their own to form a group is not.
pub(super) fn recount_to(
    active: &mut Vec<Vec<bool>>,
    centroids: &mut Vec<Vec<f32>>,
    shorts: &[Short],
    cfg: &DiarizeConfig,
    n: usize,
) -> bool {
    // Voices are merged down to `n - 1` at most and split up to `n`.
    let cfg = DiarizeConfig {
        min_speakers: n.saturating_sub(1).max(1),
        max_speakers: n,
        ..cfg.clone()
    };
    recount(active, centroids, shorts, &cfg);
    if active.len() < n {
        let forced = DiarizeConfig {
            quiet_cosine: f32::INFINITY,
            ..cfg
        };
        find_quiet(
            active,
            centroids,
            shorts,
            &forced,
            &mut ShortEvidence::default(),
        );
    }
    active.len() >= n
}

/// A given count `n` the long windows' estimate found all but one of:
/// [`recount_to`] adds the quiet person. Where it cannot, and one voice
/// would be left, the long windows' own `n` groups (`forced`) are kept:
/// one voice cannot be coded. Returns the review where the count falls
/// short.
pub(super) fn reach(
    voices: &mut Voices,
    forced: Option<Voices>,
    shorts: &[Short],
    cfg: &DiarizeConfig,
    n: usize,
) -> Option<String> {
    if recount_to(&mut voices.active, &mut voices.centroids, shorts, cfg, n) {
        return None;
    }
    match forced {
        Some(forced) if voices.active.len() < 2 => {
            *voices = forced;
            None
        }
        _ => Some(format!(
            "{n} speakers were given, but only {} distinct voices were heard; \
             check the speakers",
            voices.active.len()
        )),
    }
}

/// A person who says little inside another voice: a partner's "no", a
/// child's short answers. The segmenter often follows them as the voice
/// they answer (same sex, far microphone), they have too few 10 s windows
/// to form a cluster, and their answers are too short to fill a short
/// window alone, so neither the clustering nor the split above sees them.
///
/// Each voice's short windows in which it is the only one speaking (80% of
/// the window's *speech*, at least half a second of it) are split in two
/// (2-means, no share of talk required). The smaller group is a person of
/// their own when it holds at least `MIN_QUIET_WINDOWS` windows from
/// `MIN_QUIET_EVENTS` separate moments, and its centroid is unlike both the
/// rest of the voice and every other voice (cosine below `quiet_cosine`):
/// distance decides, not how much they said. Its windows' frames of the
/// voice go to the new person; [`super::refine::relabel`] settles the rest.
pub(super) fn find_quiet(
    active: &mut Vec<Vec<bool>>,
    centroids: &mut Vec<Vec<f32>>,
    shorts: &[Short],
    cfg: &DiarizeConfig,
    ev: &mut ShortEvidence,
) {
    let owners = speech_owners(active, shorts);
    let mine = |c: usize| owned(shorts, &owners, c);
    let voices: Vec<Option<Vec<f32>>> = (0..active.len())
        .map(|c| short_centroid(&mine(c)))
        .collect();
    // The most distinct first, where the room for more voices runs out.
    let mut groups: Vec<(usize, Vec<&Short>, Vec<f32>, f32)> = (0..active.len())
        .filter_map(|c| quiet_group(&mine(c), c, &voices).map(|(g, m, l)| (c, g, m, l)))
        .collect();
    groups.sort_by(|a, b| a.3.total_cmp(&b.3));
    let mut found: Vec<(usize, Vec<&Short>, Vec<f32>)> = Vec::new();
    for (c, group, centre, like) in groups {
        if like >= cfg.quiet_cosine {
            ev.closest_not_quiet = Some(ev.closest_not_quiet.map_or(like, |m| m.min(like)));
        } else if active.len() + found.len() < cfg.max_speakers {
            ev.loosest_quiet = Some(ev.loosest_quiet.map_or(like, |m| m.max(like)));
            found.push((c, group, centre));
        }
    }
    // Groups found in two voices that sound alike are one quiet person.
    let mut people: Vec<(Vec<f32>, Vec<Found>)> = Vec::new();
    for (c, group, centre) in found {
        let same = people
            .iter_mut()
            .find(|(p, _)| cosine(p, &centre) >= cfg.short_split_cosine);
        match same {
            Some((_, parts)) => parts.push((c, group)),
            None => people.push((centre, vec![(c, group)])),
        }
    }
    for (centre, parts) in people {
        let mut new = vec![false; active[0].len()];
        for (c, group) in parts {
            for w in group {
                for g in w.frames.clone() {
                    if active[c][g] {
                        new[g] = true;
                        active[c][g] = false;
                    }
                }
            }
        }
        active.push(new);
        centroids.push(centre);
    }
}

/// The voice each short window belongs to where it is the only one
/// speaking in 80% of the window's speech (at least `MIN_QUIET_SPEECH_S`):
/// unlike [`owners`], pauses around a short answer do not count against it.
fn speech_owners(active: &[Vec<bool>], shorts: &[Short]) -> Vec<Option<usize>> {
    let min_speech = (MIN_QUIET_SPEECH_S / FRAME_S).ceil() as usize;
    shorts
        .iter()
        .map(|s| {
            let (c, n, speech) = most_alone(active, s)?;
            (speech >= min_speech && n * 5 >= speech * 4).then_some(c)
        })
        .collect()
}

/// For a voice no short window hears alone: how like another voice it is
/// (the highest cosine of its [`speech_owners`] windows' centroid with
/// another voice's), where it has enough such windows to be a person
/// (`MIN_QUIET_WINDOWS` from `MIN_QUIET_EVENTS` moments).
fn heard_apart(active: &[Vec<bool>], shorts: &[Short], c: usize) -> Option<f32> {
    let owners = speech_owners(active, shorts);
    let windows = owned(shorts, &owners, c);
    if windows.len() < MIN_QUIET_WINDOWS || moments(&windows) < MIN_QUIET_EVENTS {
        return None;
    }
    let centre = short_centroid(&windows)?;
    (0..active.len())
        .filter(|&o| o != c)
        .filter_map(|o| short_centroid(&owned(shorts, &owners, o)))
        .map(|v| cosine(&v, &centre))
        .reduce(f32::max)
}

/// The most distinct small group of a voice's short windows: 2-means
/// splits them, then its smaller side, down to `QUIET_DEPTH` times (a
/// quiet person's few windows are a small part of the far side of a broad
/// voice). Returns the group least like any voice (the rest of voice `c`
/// or another), with its centroid and that likeness.
fn quiet_group<'a>(
    windows: &[&'a Short],
    c: usize,
    voices: &[Option<Vec<f32>>],
) -> Option<(Vec<&'a Short>, Vec<f32>, f32)> {
    let mut best: Option<(Vec<&'a Short>, Vec<f32>, f32)> = None;
    let mut current: Vec<&'a Short> = windows.to_vec();
    for _ in 0..QUIET_DEPTH {
        if current.len() < 2 * MIN_QUIET_WINDOWS {
            break;
        }
        let embs: Vec<&[f32]> = current.iter().map(|s| s.emb.as_slice()).collect();
        let (side, cents) = two_means(&embs);
        let ones = side.iter().filter(|&&s| s == 1).count();
        let small = usize::from(ones * 2 <= side.len());
        let group: Vec<&'a Short> = current
            .iter()
            .zip(&side)
            .filter(|(_, s)| **s == small)
            .map(|(w, _)| *w)
            .collect();
        if group.len() < MIN_QUIET_WINDOWS {
            break;
        }
        let centre = cents[small].clone();
        // A group that is a large part of its voice is a voice in two
        // halves: the split above decides those, on stronger evidence.
        if moments(&group) >= MIN_QUIET_EVENTS && group.len() * QUIET_PART <= windows.len() {
            let rest: Vec<&Short> = windows
                .iter()
                .filter(|w| !group.iter().any(|g| std::ptr::eq(*g, **w)))
                .copied()
                .collect();
            let like = voices
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != c)
                .filter_map(|(_, v)| v.as_ref().map(|v| cosine(v, &centre)))
                .fold(
                    short_centroid(&rest).map_or(f32::MIN, |r| cosine(&r, &centre)),
                    f32::max,
                );
            if best.as_ref().is_none_or(|b| like < b.2) {
                best = Some((group.clone(), centre, like));
            }
        }
        current = group;
    }
    best
}

/// A quiet person's short windows found in one voice.
type Found<'a> = (usize, Vec<&'a Short>);

/// Separate moments among short windows: runs of windows that overlap.
fn moments(windows: &[&Short]) -> usize {
    let mut spans: Vec<(usize, usize)> = windows
        .iter()
        .map(|w| (w.frames.start, w.frames.end))
        .collect();
    spans.sort_unstable();
    let mut n = 0;
    let mut end = 0;
    for (a, b) in spans {
        if n == 0 || a >= end {
            n += 1;
        }
        end = end.max(b);
    }
    n
}

/// A quiet person's group is at most this part (1/n) of the voice it was
/// found in.
const QUIET_PART: usize = 4;
/// How many times [`quiet_group`] splits the far side again.
const QUIET_DEPTH: usize = 3;
/// A quiet person needs this many short windows of their own...
const MIN_QUIET_WINDOWS: usize = 4;
/// ...from this many separate moments (one odd sound is not a person)...
const MIN_QUIET_EVENTS: usize = 2;
/// ...each with this much speech (seconds).
const MIN_QUIET_SPEECH_S: f64 = 0.5;

/// A voice never heard alone in a short window with less speech than this
/// (seconds, overlap included) is a fragment of another voice, folded in.
const FOLD_BELOW_S: f64 = 2.0;

/// Short windows each side of a split needs (0.5 s apart: about 4 s of
/// speech), and at least a fifth of the voice's windows.
const MIN_SPLIT_WINDOWS: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit vector near axis `v` (of 8), jittered by `seed`.
    fn voice(v: usize, seed: usize) -> Vec<f32> {
        let mut e: Vec<f32> = (0..8)
            .map(|d| {
                if d == v {
                    1.0
                } else {
                    0.15 * (((seed * 7 + d * 13) % 10) as f32 / 10.0)
                }
            })
            .collect();
        normalise(&mut e);
        e
    }

    /// Short windows, one per 10 frames; `who[i]` is the voice of window i.
    fn shorts(who: &[usize]) -> Vec<Short> {
        who.iter()
            .enumerate()
            .map(|(i, &v)| Short {
                frames: i * 10..i * 10 + 10,
                emb: voice(v, i),
            })
            .collect()
    }

    #[test]
    fn two_voices_followed_as_one_are_split() {
        // The segmenter gave one voice; its short windows are two people
        // taking turns of 5 windows.
        let who: Vec<usize> = (0..40).map(|i| (i / 5) % 2).collect();
        let sh = shorts(&who);
        let mut active = vec![vec![true; 400]];
        let mut centroids = vec![voice(0, 0)];
        let cfg = DiarizeConfig::default();
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 2);
        assert_eq!(centroids.len(), 2);
        assert!(ev.loosest_split.is_some_and(|c| c < cfg.short_split_cosine));
        // The second voice's frames moved, each frame to one voice (the
        // tenth of windows least like the voice is left where it was).
        let new_is = who[(0..40).find(|&i| active[1][i * 10 + 5]).expect("moved")];
        let mut right = 0;
        for (i, &v) in who.iter().enumerate() {
            let g = i * 10 + 5;
            assert!(active[0][g] ^ active[1][g]);
            right += usize::from(active[1][g] == (v == new_is));
        }
        assert!(right >= 36, "{right} of 40");
    }

    #[test]
    fn one_voice_stays_whole_and_a_voice_split_in_two_is_merged() {
        let sh = shorts(&[0; 40]);
        let mut active = vec![vec![true; 400]];
        let mut centroids = vec![voice(0, 0)];
        let cfg = DiarizeConfig::default();
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 1);
        assert!(ev
            .tightest_whole
            .is_some_and(|c| c > cfg.short_split_cosine));
        // The long windows made two voices of one: merged back.
        let mut active = two_voices(400, 200);
        let mut centroids = vec![voice(0, 1), voice(1, 1)];
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 1);
        assert!(active[0].iter().all(|&a| a));
        assert!(ev.loosest_merged.is_some());
    }

    #[test]
    fn a_voice_no_short_window_hears_alone_is_folded_in() {
        let sh = shorts(&[0; 20]);
        // Voice 1 speaks only under voice 0 (overlap): no window of its own.
        let mut active = vec![vec![true; 200], (0..200).map(|g| g % 10 == 0).collect()];
        let mut centroids = vec![voice(0, 0), voice(0, 3)];
        recount(&mut active, &mut centroids, &sh, &DiarizeConfig::default());
        assert_eq!(active.len(), 1);
    }

    /// Two voices over `n` frames: the first before frame `at`, the second from it.
    fn two_voices(n: usize, at: usize) -> Vec<Vec<bool>> {
        vec![
            (0..n).map(|g| g < at).collect(),
            (0..n).map(|g| g >= at).collect(),
        ]
    }

    /// Windows of 40 frames (0.68 s of speech each, one moment each);
    /// `who[i]` is the voice of window i.
    fn long_shorts(who: &[usize]) -> Vec<Short> {
        who.iter()
            .enumerate()
            .map(|(i, &v)| Short {
                frames: i * 40..i * 40 + 40,
                emb: voice(v, i),
            })
            .collect()
    }

    #[test]
    fn a_quiet_person_inside_a_voice_is_found() {
        // Six short answers of voice 1 among voice 0's speech, all followed
        // as one voice: a share of 15%, far below a fifth.
        let who: Vec<usize> = (0..40).map(|i| usize::from(i % 7 == 5)).collect();
        let sh = long_shorts(&who);
        let mut active = vec![vec![true; 1600]];
        let mut centroids = vec![voice(0, 0)];
        let cfg = DiarizeConfig::default();
        let mut ev = ShortEvidence::default();
        find_quiet(&mut active, &mut centroids, &sh, &cfg, &mut ev);
        assert_eq!(active.len(), 2);
        for (i, &v) in who.iter().enumerate() {
            let g = i * 40 + 20;
            assert_eq!(active[1][g], v == 1, "window {i}");
            assert!(active[0][g] ^ active[1][g]);
        }
        assert!(ev.loosest_quiet.is_some_and(|l| l < cfg.quiet_cosine));
    }

    #[test]
    fn a_given_count_adds_a_quiet_person_the_estimate_leaves_out() {
        // Two voices; six answers inside voice 0 from a relative whose
        // voice is half voice 0's: too alike for an estimate to keep.
        let relative = |i: usize| {
            let mut e: Vec<f32> = voice(0, i)
                .iter()
                .zip(voice(2, i))
                .map(|(a, b)| a + b)
                .collect();
            normalise(&mut e);
            e
        };
        let who: Vec<usize> = (0..60)
            .map(|i| {
                if i >= 40 {
                    1
                } else {
                    usize::from(i % 7 == 5) * 2
                }
            })
            .collect();
        let sh: Vec<Short> = who
            .iter()
            .enumerate()
            .map(|(i, &v)| Short {
                frames: i * 40..i * 40 + 40,
                emb: if v == 2 { relative(i) } else { voice(v, i) },
            })
            .collect();
        let like = cosine(&relative(5), &voice(0, 0));
        let cfg = DiarizeConfig::default();
        assert!(
            like > cfg.quiet_cosine,
            "the relative is {like} like voice 0"
        );
        let estimate = |n: Option<usize>| {
            let mut active = two_voices(2400, 1600);
            let mut centroids = vec![voice(0, 0), voice(1, 0)];
            let reached = match n {
                None => {
                    recount(&mut active, &mut centroids, &sh, &cfg);
                    None
                }
                Some(n) => Some(recount_to(&mut active, &mut centroids, &sh, &cfg, n)),
            };
            (active, reached)
        };
        assert_eq!(estimate(None).0.len(), 2);
        let (active, reached) = estimate(Some(3));
        assert_eq!((active.len(), reached), (3, Some(true)));
        for (i, &v) in who.iter().enumerate() {
            assert_eq!(active[2][i * 40 + 20], v == 2, "window {i}");
        }
    }

    #[test]
    fn a_given_count_one_voice_cannot_reach_keeps_the_long_windows_groups() {
        // Given two, one voice too short to hold a quiet group (six
        // windows): the long windows' two groups are kept. Given three,
        // two voices and no third: they stay, flagged.
        let cfg = DiarizeConfig::default();
        let sh = long_shorts(&[0; 6]);
        let forced = || Voices {
            active: two_voices(240, 120),
            centroids: vec![voice(0, 1), voice(0, 2)],
        };
        let mut voices = Voices {
            active: vec![vec![true; 240]],
            centroids: vec![voice(0, 0)],
        };
        assert_eq!(reach(&mut voices, Some(forced()), &sh, &cfg, 2), None);
        assert_eq!(voices.active, forced().active);
        let sh = long_shorts(&[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
        let mut voices = Voices {
            active: two_voices(480, 240),
            centroids: vec![voice(0, 0), voice(1, 0)],
        };
        let review = reach(&mut voices, None, &sh, &cfg, 3);
        assert_eq!(voices.active.len(), 2);
        assert!(review.is_some_and(|r| r.contains("only 2 distinct voices")));
    }

    #[test]
    fn one_voice_or_a_known_voice_is_no_quiet_person() {
        let cfg = DiarizeConfig::default();
        // One voice: its windows vary, but no group is unlike the rest.
        let sh = long_shorts(&[0; 40]);
        let mut active = vec![vec![true; 1600]];
        let mut centroids = vec![voice(0, 0)];
        let mut ev = ShortEvidence::default();
        find_quiet(&mut active, &mut centroids, &sh, &cfg, &mut ev);
        assert_eq!(active.len(), 1);
        // A few windows of a voice that has its own (turn edges): not a
        // new person.
        let mut who: Vec<usize> = (0..40).map(|i| usize::from(i % 7 == 5)).collect();
        who.extend([1; 20]);
        let sh = long_shorts(&who);
        let mut active = two_voices(2400, 1600);
        let mut centroids = vec![voice(0, 0), voice(1, 0)];
        find_quiet(&mut active, &mut centroids, &sh, &cfg, &mut ev);
        assert_eq!(active.len(), 2);
        // One odd moment is not a person either.
        let who: Vec<usize> = (0..40)
            .map(|i| usize::from((20..24).contains(&i)))
            .collect();
        let sh: Vec<Short> = long_shorts(&who)
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                if (20..24).contains(&i) {
                    s.frames = 800..840 + i;
                }
                s
            })
            .collect();
        let mut active = vec![vec![true; 1600]];
        let mut centroids = vec![voice(0, 0)];
        find_quiet(&mut active, &mut centroids, &sh, &cfg, &mut ev);
        assert_eq!(active.len(), 1);
    }

    #[test]
    fn half_a_voice_like_another_voice_goes_to_it() {
        // Voice 0 holds its own speech and half of voice 1's (a far
        // microphone): the split gives that half to voice 1, no third voice.
        let who: Vec<usize> = (0..60)
            .map(|i| if i < 40 { (i / 5) % 2 } else { 1 })
            .collect();
        let sh = long_shorts(&who);
        let mut active = two_voices(2400, 1600);
        let mut centroids = vec![voice(0, 0), voice(1, 0)];
        recount(&mut active, &mut centroids, &sh, &DiarizeConfig::default());
        assert_eq!(active.len(), 2);
        let moved = (0..40)
            .filter(|&i| who[i] == 1 && active[1][i * 40 + 20])
            .count();
        assert!(moved >= 16, "{moved} of 20 windows moved");
    }
}
