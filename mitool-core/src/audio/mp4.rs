//! Encoder delay and padding of an audio track in an MP4/M4A/MOV file.
//!
//! AAC encoders put ~1024–2112 "priming" samples before the audio, and the
//! file says so in the track's edit list (or, from older iTunes encoders, in
//! an `iTunSMPB` tag). Symphonia's MP4 reader applies neither, so without
//! this every time would come out ~20–45 ms late. Only the few boxes needed
//! are read, straight from the file.

use std::io::{Read, Seek, SeekFrom};

use super::Trim;

/// A `moov` box larger than this is not read (a 12-hour recording's is ~20 MB).
const MAX_MOOV: u64 = 256 << 20;

/// Where the presented audio of the track with `tkhd` id `track_id` lies in
/// its decoded samples; `None` where the file has no usable edit list or
/// `iTunSMPB` tag (the audio is then decoded whole).
pub(super) fn trim(file: &mut (impl Read + Seek), track_id: u32) -> Option<Trim> {
    let moov = read_moov(file)?;
    let mut movie_timescale = None;
    let mut track = None;
    let mut smpb = None;
    for (kind, body) in boxes(&moov) {
        match kind {
            b"mvhd" => movie_timescale = mvhd_timescale(body),
            b"trak" => {
                let t = Trak::parse(body);
                if t.as_ref().is_some_and(|t| t.id == track_id) {
                    track = t;
                }
            }
            b"udta" => smpb = smpb.or_else(|| itunsmpb(body)),
            _ => {}
        }
    }
    let track = track?;
    track.edit(movie_timescale?).or_else(|| {
        smpb.map(|(skip, keep)| Trim {
            skip,
            keep: Some(keep),
            timescale: track.timescale,
            ..Trim::default()
        })
    })
}

/// The body of the top-level `moov` box, skipping over media data without reading it.
fn read_moov(file: &mut (impl Read + Seek)) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(0)).ok()?;
    loop {
        let mut head = [0u8; 8];
        file.read_exact(&mut head).ok()?;
        let size32 = u32::from_be_bytes(head[..4].try_into().ok()?);
        let (size, header) = match size32 {
            // The box runs to the end of the file.
            0 => (u64::MAX, 8),
            1 => {
                let mut large = [0u8; 8];
                file.read_exact(&mut large).ok()?;
                (u64::from_be_bytes(large), 16)
            }
            n => (u64::from(n), 8),
        };
        let body = size.checked_sub(header)?;
        if &head[4..] == b"moov" {
            if body > MAX_MOOV {
                return None;
            }
            let mut moov = Vec::new();
            file.take(body).read_to_end(&mut moov).ok()?;
            return (moov.len() as u64 == body).then_some(moov);
        }
        if size == u64::MAX {
            return None;
        }
        file.seek(SeekFrom::Current(i64::try_from(body).ok()?))
            .ok()?;
    }
}

/// The child boxes in `data` as (type, body); stops at the first malformed one.
fn boxes(mut data: &[u8]) -> impl Iterator<Item = (&[u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
        let kind: &[u8; 4] = data.get(4..8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8, data.len()),
            1 => (16, usize::try_from(be_u64(data.get(8..16)?)).ok()?),
            n => (8, n),
        };
        let body = data.get(header..size)?;
        data = &data[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| *k == kind).map(|(_, b)| b)
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("4 bytes"))
}

fn be_u64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().expect("8 bytes"))
}

/// The `timescale` of an `mvhd` or `mdhd` box (same layout up to it).
fn mvhd_timescale(body: &[u8]) -> Option<u32> {
    let at = if *body.first()? == 1 { 20 } else { 12 };
    Some(be_u32(body.get(at..at + 4)?)).filter(|&t| t > 0)
}

/// One `trak` box: its id, media timescale and edit list.
#[derive(Debug)]
struct Trak {
    id: u32,
    timescale: u32,
    /// (segment duration in the movie's timescale, media time in the track's; -1 = empty edit)
    edits: Vec<(u64, i64)>,
}

impl Trak {
    fn parse(body: &[u8]) -> Option<Self> {
        let tkhd = child(body, b"tkhd")?;
        let id_at = if *tkhd.first()? == 1 { 20 } else { 12 };
        let id = be_u32(tkhd.get(id_at..id_at + 4)?);
        let timescale = mvhd_timescale(child(child(body, b"mdia")?, b"mdhd")?)?;
        let edits = child(body, b"edts")
            .and_then(|e| child(e, b"elst"))
            .and_then(elst)
            .unwrap_or_default();
        Some(Self {
            id,
            timescale,
            edits,
        })
    }

    /// The track's one non-empty edit. Empty edits (a delayed start) are
    /// passed over: the recording's own times are what the analysis needs.
    /// Several real edits (a file cut in an editor) are left alone.
    fn edit(&self, movie_timescale: u32) -> Option<Trim> {
        let mut real = self.edits.iter().filter(|(_, media)| *media >= 0);
        let &(duration, media_time) = real.next()?;
        if real.next().is_some() {
            return None;
        }
        // A zero duration (fragmented files) means "to the end".
        let keep = (duration > 0).then(|| {
            (u128::from(duration) * u128::from(self.timescale) / u128::from(movie_timescale)) as u64
        });
        Some(Trim {
            skip: media_time as u64,
            keep,
            timescale: self.timescale,
            ..Trim::default()
        })
    }
}

fn elst(body: &[u8]) -> Option<Vec<(u64, i64)>> {
    let version = *body.first()?;
    let count = be_u32(body.get(4..8)?) as usize;
    let entry = if version == 1 { 20 } else { 12 };
    let entries = body.get(8..8 + count.checked_mul(entry)?)?;
    Some(
        entries
            .chunks_exact(entry)
            .map(|e| {
                if version == 1 {
                    (be_u64(&e[..8]), be_u64(&e[8..16]) as i64)
                } else {
                    (
                        u64::from(be_u32(&e[..4])),
                        i64::from(be_u32(&e[4..8]) as i32),
                    )
                }
            })
            .collect(),
    )
}

/// (delay, valid length) from an `iTunSMPB` tag in `moov/udta/meta/ilst`,
/// in the track's samples: " 00000000 00000840 000001CA 00000000000D2F76 ...".
fn itunsmpb(udta: &[u8]) -> Option<(u64, u64)> {
    // `meta` is a full box: four bytes of version and flags before its children.
    let ilst = child(child(udta, b"meta")?.get(4..)?, b"ilst")?;
    let text = boxes(ilst)
        .filter(|(k, _)| *k == b"----")
        .find_map(|(_, item)| {
            let name = child(item, b"name")?.get(4..)?;
            if name != b"iTunSMPB" {
                return None;
            }
            // `data`: four bytes of type, four of locale, then the text.
            std::str::from_utf8(child(item, b"data")?.get(8..)?).ok()
        })?;
    let mut fields = text
        .split_whitespace()
        .skip(1)
        .map(|f| u64::from_str_radix(f, 16));
    let delay = fields.next()?.ok()?;
    let _padding = fields.next()?.ok()?;
    let valid = fields.next()?.ok()?;
    (valid > 0).then_some((delay, valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn full(version: u8, fields: &[u32]) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        for f in fields {
            b.extend_from_slice(&f.to_be_bytes());
        }
        b
    }

    /// A file with mdat first and a moov holding one audio track.
    fn file(
        track_id: u32,
        edits: &[(u32, i32)],
        udta: Option<Vec<u8>>,
    ) -> std::io::Cursor<Vec<u8>> {
        let tkhd = mp4_box(b"tkhd", &full(0, &[0, 0, track_id, 0, 0]));
        let mdhd = mp4_box(b"mdhd", &full(0, &[0, 0, 48_000, 221_353]));
        let mut elst = full(0, &[edits.len() as u32]);
        for &(d, m) in edits {
            elst.extend_from_slice(&d.to_be_bytes());
            elst.extend_from_slice(&m.to_be_bytes());
            elst.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        let edts = mp4_box(b"edts", &mp4_box(b"elst", &elst));
        let mdia = mp4_box(b"mdia", &mdhd);
        let trak = mp4_box(b"trak", &[tkhd, edts, mdia].concat());
        let mvhd = mp4_box(b"mvhd", &full(0, &[0, 0, 1000, 4591]));
        let mut moov = [mvhd, trak].concat();
        if let Some(u) = udta {
            moov.extend(mp4_box(b"udta", &u));
        }
        let data = [
            mp4_box(b"ftyp", b"M4A \0\0\0\0"),
            mp4_box(b"mdat", &[0u8; 1000]),
            mp4_box(b"moov", &moov),
        ]
        .concat();
        std::io::Cursor::new(data)
    }

    #[test]
    fn reads_the_priming_edit_of_the_track_asked_for() {
        let mut f = file(2, &[(4590, 1024)], None);
        let t = trim(&mut f, 2).unwrap();
        assert_eq!((t.skip, t.keep, t.timescale), (1024, Some(220_320), 48_000));
        assert_eq!(trim(&mut f, 1), None);
    }

    #[test]
    fn empty_edits_are_passed_over_and_cuts_left_alone() {
        let t = trim(&mut file(1, &[(500, -1), (4590, 2112)], None), 1).unwrap();
        assert_eq!(t.skip, 2112);
        assert_eq!(
            trim(&mut file(1, &[(1000, 0), (1000, 96_000)], None), 1),
            None
        );
    }

    #[test]
    fn itunsmpb_is_the_fallback() {
        let text = b" 00000000 00000840 000001CA 0000000000035CA9 00000000";
        let mut item = mp4_box(b"mean", b"\0\0\0\0com.apple.iTunes");
        item.extend(mp4_box(b"name", b"\0\0\0\0iTunSMPB"));
        item.extend(mp4_box(
            b"data",
            &[&[0, 0, 0, 1, 0, 0, 0, 0][..], text].concat(),
        ));
        let ilst = mp4_box(b"ilst", &mp4_box(b"----", &item));
        let meta = mp4_box(b"meta", &[&[0u8; 4][..], &ilst].concat());
        let t = trim(&mut file(1, &[], Some(meta)), 1).unwrap();
        assert_eq!(
            (t.skip, t.keep, t.timescale),
            (0x840, Some(0x35CA9), 48_000)
        );
    }

    #[test]
    fn damaged_boxes_give_none_not_a_panic() {
        let whole = file(1, &[(4590, 1024)], None).into_inner();
        for cut in (0..whole.len()).step_by(7) {
            let _ = trim(&mut std::io::Cursor::new(whole[..cut].to_vec()), 1);
        }
        // An mdat claiming to run past the end of the file.
        let mut lying = whole.clone();
        lying[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        let _ = trim(&mut std::io::Cursor::new(lying), 1);
    }
}
