//! Opus packets decoded by libopus.
//!
//! Symphonia demuxes Ogg and WebM/Matroska but has no Opus decoder, so the
//! packets it reads are handed to libopus (built from source by the `opus`
//! crate). The stream's set-up comes from its OpusHead, which both containers
//! carry as the track's codec data.

/// Opus always decodes at 48 kHz; pre-skip and granule positions count at this rate.
pub(super) const RATE: u32 = 48_000;

/// The longest Opus packet: 120 ms at 48 kHz.
const MAX_PACKET_FRAMES: usize = 5_760;

/// The fields of an OpusHead (RFC 7845, section 5.1) that decoding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpusHead {
    pub channels: u8,
    /// Frames at 48 kHz that the encoder put before the audio; they are dropped.
    pub pre_skip: u16,
    /// Output gain in Q7.8 dB.
    pub gain: i16,
    /// 0 for mono/stereo; other families need the multistream decoder.
    pub mapping_family: u8,
}

impl OpusHead {
    /// Reads an OpusHead packet (Ogg, Matroska); `None` if `data` is not one.
    pub fn parse(data: &[u8]) -> Option<Self> {
        Self::read(data, u16::from_le_bytes)
    }

    /// Reads what symphonia makes of an MP4 `dOps` box: "OpusHead" and the
    /// box's body, which has the same layout but big-endian numbers.
    pub fn parse_mp4(data: &[u8]) -> Option<Self> {
        Self::read(data, u16::from_be_bytes)
    }

    fn read(data: &[u8], u16_from: fn([u8; 2]) -> u16) -> Option<Self> {
        if data.len() < 19 || !data.starts_with(b"OpusHead") {
            return None;
        }
        // Versions 0–15 share this layout; a higher major version is incompatible.
        if data[8] > 15 {
            return None;
        }
        Some(Self {
            channels: data[9],
            pre_skip: u16_from([data[10], data[11]]),
            gain: u16_from([data[16], data[17]]) as i16,
            mapping_family: data[18],
        })
    }
}

/// A libopus decoder for one mono or stereo stream.
pub(super) struct OpusDecoder {
    decoder: opus::Decoder,
    channels: usize,
    out: Vec<f32>,
}

impl OpusDecoder {
    /// A decoder for the stream `head` describes. The error says, in words,
    /// what kind of Opus stream this cannot decode.
    pub fn new(head: &OpusHead) -> Result<Self, String> {
        let channels = match (head.mapping_family, head.channels) {
            (0, 1) => opus::Channels::Mono,
            (0, 2) => opus::Channels::Stereo,
            (family, n) => {
                return Err(format!(
                    "Opus audio with {n} channels (channel mapping family {family})"
                ))
            }
        };
        let fail = |e: opus::Error| format!("Opus audio the decoder refuses ({e})");
        let mut decoder = opus::Decoder::new(RATE, channels).map_err(fail)?;
        if head.gain != 0 {
            decoder.set_gain(i32::from(head.gain)).map_err(fail)?;
        }
        Ok(Self {
            decoder,
            channels: usize::from(head.channels),
            out: vec![0.0; MAX_PACKET_FRAMES * usize::from(head.channels)],
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet to interleaved samples at [`RATE`].
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32], opus::Error> {
        // An empty packet asks libopus to conceal a loss as long as the whole
        // output buffer; a container should not hold one, so it adds nothing.
        if packet.is_empty() {
            return Ok(&[]);
        }
        let frames = self.decoder.decode_float(packet, &mut self.out, false)?;
        Ok(&self.out[..frames * self.channels])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(channels: u8, pre_skip: u16, family: u8) -> Vec<u8> {
        let mut h = b"OpusHead".to_vec();
        h.push(1);
        h.push(channels);
        h.extend_from_slice(&pre_skip.to_le_bytes());
        h.extend_from_slice(&48_000u32.to_le_bytes());
        h.extend_from_slice(&0i16.to_le_bytes());
        h.push(family);
        h
    }

    #[test]
    fn reads_the_head_and_refuses_other_packets() {
        let h = OpusHead::parse(&head(2, 312, 0)).unwrap();
        assert_eq!(
            (h.channels, h.pre_skip, h.gain, h.mapping_family),
            (2, 312, 0, 0)
        );
        let mp4 = OpusHead::parse_mp4(&head(2, 312, 0)).unwrap();
        assert_eq!(mp4.pre_skip, 312u16.swap_bytes());
        assert_eq!(OpusHead::parse(b"OpusTags and more bytes"), None);
        assert_eq!(OpusHead::parse(&head(2, 312, 0)[..12]), None);
    }

    #[test]
    fn surround_is_refused_in_words() {
        let h = OpusHead::parse(&head(6, 312, 1)).unwrap();
        let msg = OpusDecoder::new(&h).err().unwrap();
        assert!(msg.contains("6 channels"), "{msg}");
    }

    #[test]
    fn encoded_tone_decodes_at_48k() {
        let mut enc =
            opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Voip).unwrap();
        let frame: Vec<f32> = (0..960)
            .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin())
            .collect();
        let packet = enc.encode_vec_float(&frame, 4000).unwrap();
        let mut dec = OpusDecoder::new(&OpusHead::parse(&head(1, 312, 0)).unwrap()).unwrap();
        assert_eq!(dec.decode(&packet).unwrap().len(), 960);
        assert!(dec.decode(&[]).unwrap().is_empty());
        assert!(dec.decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
