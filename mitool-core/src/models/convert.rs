//! Converting Whisper from CTranslate2's `model.bin` to whisper.cpp's ggml
//! format, and quantizing a ggml model to q8_0.
//!
//! The Whisper weights the project can get from package registries ship in
//! CTranslate2 format; whisper.cpp reads only ggml. The layouts are the same
//! tensors under other names, except that CTranslate2 fuses the self-attention
//! query/key/value projections (`linear_0`) and the cross-attention key/value
//! projections (`linear_1`) into one matrix each. Whisper's key projections
//! have no bias; CTranslate2 stores zeros there, which are dropped.
//!
//! Output follows whisper.cpp's `convert-pt-to-ggml.py`: 2-D and 3-D weights
//! in f16, biases, norms, conv biases (as `[n, 1]`) and positional embeddings in f32.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use half::f16;

use crate::error::{Error, Result};

const GGML_MAGIC: u32 = 0x6767_6d6c;

/// One tensor read from a CTranslate2 model.
#[derive(Debug, Clone)]
pub struct Ct2Var {
    pub shape: Vec<usize>,
    pub dtype: Ct2Dtype,
    pub data: Vec<u8>,
}

/// CTranslate2's element types (its `DataType` enum order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Dtype {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Dtype {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }
    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

impl Ct2Var {
    /// The values as f32, whatever the stored float type.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        let b = &self.data;
        Some(match self.dtype {
            Ct2Dtype::F32 => b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Ct2Dtype::F16 => b
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Ct2Dtype::Bf16 => b
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            _ => return None,
        })
    }

    /// A scalar integer attribute (e.g. `encoder/num_heads`).
    fn scalar_int(&self) -> Option<i64> {
        let b = &self.data;
        match self.dtype {
            Ct2Dtype::I8 => b.first().map(|&v| v as i8 as i64),
            Ct2Dtype::I16 => (b.len() >= 2).then(|| i16::from_le_bytes([b[0], b[1]]) as i64),
            Ct2Dtype::I32 => {
                (b.len() >= 4).then(|| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
            }
            _ => None,
        }
    }
}

/// A parsed CTranslate2 model file.
#[derive(Debug)]
pub struct Ct2Model {
    pub spec: String,
    pub revision: u32,
    pub vars: HashMap<String, Ct2Var>,
    pub aliases: HashMap<String, String>,
}

impl Ct2Model {
    /// Reads a CTranslate2 `model.bin` (binary version 6).
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |detail: String| Error::Model {
            path: path.to_path_buf(),
            detail,
        };
        let f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let mut r = BufReader::new(f);
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                bad("the CTranslate2 model file is truncated".into())
            } else {
                Error::io(path, "read", e)
            }
        };
        let version = read_u32(&mut r).map_err(io)?;
        if version != 6 {
            return Err(bad(format!(
                "CTranslate2 binary version {version} is not supported (expected 6)"
            )));
        }
        let spec = read_str(&mut r).map_err(io)?;
        let revision = read_u32(&mut r).map_err(io)?;
        let n = read_u32(&mut r).map_err(io)? as usize;
        if n > 100_000 {
            return Err(bad(format!("implausible variable count {n}")));
        }
        let mut vars = HashMap::with_capacity(n);
        for _ in 0..n {
            let name = read_str(&mut r).map_err(io)?;
            let mut nd = [0u8; 1];
            r.read_exact(&mut nd).map_err(io)?;
            let mut shape = Vec::with_capacity(nd[0] as usize);
            for _ in 0..nd[0] {
                shape.push(read_u32(&mut r).map_err(io)? as usize);
            }
            let mut dt = [0u8; 1];
            r.read_exact(&mut dt).map_err(io)?;
            let dtype = Ct2Dtype::from_id(dt[0])
                .ok_or_else(|| bad(format!("unknown dtype {} for {name}", dt[0])))?;
            let nbytes = read_u32(&mut r).map_err(io)? as usize;
            let expect = shape.iter().product::<usize>().max(1) * dtype.size();
            if nbytes != expect {
                return Err(bad(format!(
                    "{name}: {nbytes} bytes stored for shape {shape:?}, expected {expect}"
                )));
            }
            let mut data = vec![0u8; nbytes];
            r.read_exact(&mut data).map_err(io)?;
            vars.insert(name, Ct2Var { shape, dtype, data });
        }
        let mut aliases = HashMap::new();
        // Aliases are optional in older files: an EOF here is fine.
        if let Ok(na) = read_u32(&mut r) {
            for _ in 0..na {
                let a = read_str(&mut r).map_err(io)?;
                let t = read_str(&mut r).map_err(io)?;
                aliases.insert(a, t);
            }
        }
        Ok(Self {
            spec,
            revision,
            vars,
            aliases,
        })
    }

    fn get(&self, name: &str) -> Option<&Ct2Var> {
        self.vars
            .get(name)
            .or_else(|| self.aliases.get(name).and_then(|t| self.vars.get(t)))
    }
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_str(r: &mut impl Read) -> std::io::Result<String> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    let n = u16::from_le_bytes(b) as usize;
    let mut s = vec![0u8; n];
    r.read_exact(&mut s)?;
    // Stored with a trailing NUL.
    if s.last() == Some(&0) {
        s.pop();
    }
    String::from_utf8(s).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Whisper's hyper-parameters as whisper.cpp's header stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WhisperHparams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
}

/// Whisper's 80- or 128-bin Slaney-style mel filterbank for a 400-point FFT at
/// 16 kHz, as `librosa.filters.mel(sr=16000, n_fft=400, n_mels=n)` computes it.
pub fn mel_filters(n_mels: usize) -> Vec<f32> {
    const SR: f64 = 16_000.0;
    const N_FFT: usize = 400;
    let n_bins = N_FFT / 2 + 1;
    // Slaney's mel scale: linear below 1 kHz, logarithmic above.
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    let hz_to_mel = |hz: f64| {
        if hz >= min_log_hz {
            min_log_mel + (hz / min_log_hz).ln() / logstep
        } else {
            hz / f_sp
        }
    };
    let mel_to_hz = |mel: f64| {
        if mel >= min_log_mel {
            min_log_hz * (logstep * (mel - min_log_mel)).exp()
        } else {
            f_sp * mel
        }
    };
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(SR / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let fft_f: Vec<f64> = (0..n_bins)
        .map(|i| i as f64 * (SR / 2.0) / (n_bins - 1) as f64)
        .collect();
    let mut w = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        let (d0, d1) = (mel_f[m + 1] - mel_f[m], mel_f[m + 2] - mel_f[m + 1]);
        for (k, &f) in fft_f.iter().enumerate() {
            let lower = (f - mel_f[m]) / d0;
            let upper = (mel_f[m + 2] - f) / d1;
            w[m * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    w
}

/// GPT-2's byte-to-character table, inverted: CTranslate2's vocabulary spells
/// bytes as printable characters (space as `Ġ`); whisper.cpp wants raw bytes.
fn byte_decoder() -> HashMap<char, u8> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .map(|(b, c)| (char::from_u32(c).expect("valid"), b as u8))
        .collect()
}

/// Number of plain text tokens in Whisper's vocabularies (GPT-2's 50256 + `<|endoftext|>`);
/// whisper.cpp adds the special tokens itself.
const N_TEXT_TOKENS: usize = 50_257;

/// Converts a CTranslate2 Whisper model directory (`model.bin`, `vocabulary.txt`)
/// to a ggml f16 file at `out`. Returns the hyper-parameters written.
pub fn ct2_to_ggml(model_dir: &Path, out: &Path) -> Result<WhisperHparams> {
    let bin = model_dir.join("model.bin");
    let m = Ct2Model::read(&bin)?;
    let bad = |detail: String| Error::Model {
        path: bin.clone(),
        detail,
    };
    if m.spec != "WhisperSpec" {
        return Err(bad(format!("not a Whisper model (spec {})", m.spec)));
    }
    let var = |name: &str| {
        m.get(name)
            .ok_or_else(|| bad(format!("missing tensor {name}")))
    };
    let count_layers = |prefix: &str| {
        (0..)
            .take_while(|i| {
                m.vars
                    .contains_key(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
            })
            .count()
    };
    let emb = var("decoder/embeddings/weight")?;
    let conv1 = var("encoder/conv1/weight")?;
    let enc_pe = var("encoder/position_encodings/encodings")?;
    let dec_pe = var("decoder/position_encodings/encodings")?;
    let n_audio_state = enc_pe.shape[1];
    let n_text_state = dec_pe.shape[1];
    // Whisper's heads are 64 wide in every size; the stored attribute wins.
    let heads = |name: &str, state: usize| {
        m.vars
            .get(name)
            .and_then(Ct2Var::scalar_int)
            .map_or(state / 64, |h| h as usize)
    };
    let hp = WhisperHparams {
        n_vocab: emb.shape[0],
        n_audio_ctx: enc_pe.shape[0],
        n_audio_state,
        n_audio_head: heads("encoder/num_heads", n_audio_state),
        n_audio_layer: count_layers("encoder"),
        n_text_ctx: dec_pe.shape[0],
        n_text_state,
        n_text_head: heads("decoder/num_heads", n_text_state),
        n_text_layer: count_layers("decoder"),
        n_mels: conv1.shape[1],
    };
    if hp.n_audio_layer == 0 || hp.n_text_layer == 0 {
        return Err(bad("no encoder or decoder layers found".into()));
    }

    // CTranslate2 writes the vocabulary as text lines or as a JSON list.
    let (vocab_path, words) = {
        let txt = model_dir.join("vocabulary.txt");
        let json = model_dir.join("vocabulary.json");
        if txt.is_file() {
            let t = std::fs::read_to_string(&txt).map_err(|e| Error::io(&txt, "read", e))?;
            (txt, t.lines().map(str::to_owned).collect::<Vec<_>>())
        } else {
            let t = std::fs::read_to_string(&json).map_err(|e| Error::io(&json, "read", e))?;
            let words: Vec<String> = serde_json::from_str(&t).map_err(|e| Error::Model {
                path: json.clone(),
                detail: format!("not a JSON list of tokens: {e}"),
            })?;
            (json, words)
        }
    };
    let dec = byte_decoder();
    let tokens: Vec<Vec<u8>> = words
        .iter()
        .take(N_TEXT_TOKENS)
        .map(|t| {
            t.chars()
                .map(|c| dec.get(&c).copied().unwrap_or(b'?'))
                .collect()
        })
        .collect();
    if tokens.len() < N_TEXT_TOKENS {
        return Err(Error::Model {
            path: vocab_path,
            detail: format!("only {} tokens in the vocabulary", tokens.len()),
        });
    }

    let tmp = out.with_extension("bin.tmp");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
    let mut w = BufWriter::new(file);
    let wio = |e: std::io::Error| Error::io(out, "write", e);
    let put = |w: &mut BufWriter<File>, v: i32| w.write_all(&v.to_le_bytes());
    for v in [
        GGML_MAGIC as i32,
        hp.n_vocab as i32,
        hp.n_audio_ctx as i32,
        hp.n_audio_state as i32,
        hp.n_audio_head as i32,
        hp.n_audio_layer as i32,
        hp.n_text_ctx as i32,
        hp.n_text_state as i32,
        hp.n_text_head as i32,
        hp.n_text_layer as i32,
        hp.n_mels as i32,
        1, // ftype: f16 weights
    ] {
        put(&mut w, v).map_err(wio)?;
    }
    let filters = mel_filters(hp.n_mels);
    put(&mut w, hp.n_mels as i32).map_err(wio)?;
    put(&mut w, 201).map_err(wio)?;
    for f in filters {
        w.write_all(&f.to_le_bytes()).map_err(wio)?;
    }
    put(&mut w, tokens.len() as i32).map_err(wio)?;
    for t in &tokens {
        put(&mut w, t.len() as i32).map_err(wio)?;
        w.write_all(t).map_err(wio)?;
    }

    let mut tw = TensorWriter { w: &mut w, out };
    let f32s = |name: &str| -> Result<(Vec<f32>, Vec<usize>)> {
        let v = var(name)?;
        let d = v
            .to_f32()
            .ok_or_else(|| bad(format!("{name} is not a float tensor")))?;
        Ok((d, v.shape.clone()))
    };
    let copy = |tw: &mut TensorWriter, from: &str, to: &str| -> Result<()> {
        let (d, s) = f32s(from)?;
        tw.tensor(to, &d, &s)
    };

    copy(
        &mut tw,
        "encoder/position_encodings/encodings",
        "encoder.positional_embedding",
    )?;
    copy(&mut tw, "encoder/conv1/weight", "encoder.conv1.weight")?;
    let (b, s) = f32s("encoder/conv1/bias")?;
    tw.tensor("encoder.conv1.bias", &b, &[s[0], 1])?;
    copy(&mut tw, "encoder/conv2/weight", "encoder.conv2.weight")?;
    let (b, s) = f32s("encoder/conv2/bias")?;
    tw.tensor("encoder.conv2.bias", &b, &[s[0], 1])?;

    for i in 0..hp.n_audio_layer {
        let src = format!("encoder/layer_{i}");
        let dst = format!("encoder.blocks.{i}");
        self_attention(
            &mut tw,
            &f32s,
            &format!("{src}/self_attention"),
            &format!("{dst}.attn"),
        )?;
        norm(
            &mut tw,
            &f32s,
            &format!("{src}/self_attention/layer_norm"),
            &format!("{dst}.attn_ln"),
        )?;
        ffn(&mut tw, &f32s, &src, &dst)?;
    }
    norm(&mut tw, &f32s, "encoder/layer_norm", "encoder.ln_post")?;

    copy(
        &mut tw,
        "decoder/position_encodings/encodings",
        "decoder.positional_embedding",
    )?;
    copy(
        &mut tw,
        "decoder/embeddings/weight",
        "decoder.token_embedding.weight",
    )?;
    for i in 0..hp.n_text_layer {
        let src = format!("decoder/layer_{i}");
        let dst = format!("decoder.blocks.{i}");
        self_attention(
            &mut tw,
            &f32s,
            &format!("{src}/self_attention"),
            &format!("{dst}.attn"),
        )?;
        norm(
            &mut tw,
            &f32s,
            &format!("{src}/self_attention/layer_norm"),
            &format!("{dst}.attn_ln"),
        )?;
        // Cross-attention: linear_0 query, linear_1 fused key/value, linear_2 output.
        let a = format!("{src}/attention");
        let c = format!("{dst}.cross_attn");
        let (qw, qs) = f32s(&format!("{a}/linear_0/weight"))?;
        let (qb, _) = f32s(&format!("{a}/linear_0/bias"))?;
        tw.tensor(&format!("{c}.query.weight"), &qw, &qs)?;
        tw.tensor(&format!("{c}.query.bias"), &qb, &[qb.len()])?;
        let (kvw, kvs) = f32s(&format!("{a}/linear_1/weight"))?;
        let (kvb, _) = f32s(&format!("{a}/linear_1/bias"))?;
        let n = kvs[0] / 2;
        let cols = kvs[1];
        tw.tensor(&format!("{c}.key.weight"), &kvw[..n * cols], &[n, cols])?;
        tw.tensor(&format!("{c}.value.weight"), &kvw[n * cols..], &[n, cols])?;
        tw.tensor(&format!("{c}.value.bias"), &kvb[n..], &[n])?;
        let (ow, os) = f32s(&format!("{a}/linear_2/weight"))?;
        let (ob, _) = f32s(&format!("{a}/linear_2/bias"))?;
        tw.tensor(&format!("{c}.out.weight"), &ow, &os)?;
        tw.tensor(&format!("{c}.out.bias"), &ob, &[ob.len()])?;
        norm(
            &mut tw,
            &f32s,
            &format!("{a}/layer_norm"),
            &format!("{dst}.cross_attn_ln"),
        )?;
        ffn(&mut tw, &f32s, &src, &dst)?;
    }
    norm(&mut tw, &f32s, "decoder/layer_norm", "decoder.ln")?;
    // decoder/projection is an alias of the token embeddings: whisper.cpp ties them itself.

    w.flush().map_err(wio)?;
    let file = w.into_inner().map_err(|e| wio(e.into_error()))?;
    file.sync_all().map_err(wio)?;
    drop(file);
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, "rename", e))?;
    Ok(hp)
}

type F32s<'a> = dyn Fn(&str) -> Result<(Vec<f32>, Vec<usize>)> + 'a;

fn self_attention(tw: &mut TensorWriter, f32s: &F32s, src: &str, dst: &str) -> Result<()> {
    let (w, s) = f32s(&format!("{src}/linear_0/weight"))?;
    let (b, _) = f32s(&format!("{src}/linear_0/bias"))?;
    let n = s[0] / 3;
    let cols = s[1];
    tw.tensor(&format!("{dst}.query.weight"), &w[..n * cols], &[n, cols])?;
    tw.tensor(&format!("{dst}.query.bias"), &b[..n], &[n])?;
    tw.tensor(
        &format!("{dst}.key.weight"),
        &w[n * cols..2 * n * cols],
        &[n, cols],
    )?;
    tw.tensor(
        &format!("{dst}.value.weight"),
        &w[2 * n * cols..],
        &[n, cols],
    )?;
    tw.tensor(&format!("{dst}.value.bias"), &b[2 * n..], &[n])?;
    let (ow, os) = f32s(&format!("{src}/linear_1/weight"))?;
    let (ob, _) = f32s(&format!("{src}/linear_1/bias"))?;
    tw.tensor(&format!("{dst}.out.weight"), &ow, &os)?;
    tw.tensor(&format!("{dst}.out.bias"), &ob, &[ob.len()])
}

fn norm(tw: &mut TensorWriter, f32s: &F32s, src: &str, dst: &str) -> Result<()> {
    let (g, _) = f32s(&format!("{src}/gamma"))?;
    let (b, _) = f32s(&format!("{src}/beta"))?;
    tw.tensor(&format!("{dst}.weight"), &g, &[g.len()])?;
    tw.tensor(&format!("{dst}.bias"), &b, &[b.len()])
}

fn ffn(tw: &mut TensorWriter, f32s: &F32s, src: &str, dst: &str) -> Result<()> {
    norm(
        tw,
        f32s,
        &format!("{src}/ffn/layer_norm"),
        &format!("{dst}.mlp_ln"),
    )?;
    for (from, to) in [("linear_0", "mlp.0"), ("linear_1", "mlp.2")] {
        let (w, s) = f32s(&format!("{src}/ffn/{from}/weight"))?;
        let (b, _) = f32s(&format!("{src}/ffn/{from}/bias"))?;
        tw.tensor(&format!("{dst}.{to}.weight"), &w, &s)?;
        tw.tensor(&format!("{dst}.{to}.bias"), &b, &[b.len()])?;
    }
    Ok(())
}

struct TensorWriter<'a> {
    w: &'a mut BufWriter<File>,
    out: &'a Path,
}

impl TensorWriter<'_> {
    /// Writes one tensor: f16 for matrices, f32 for vectors, conv biases and
    /// positional embeddings (whisper.cpp's expectations).
    fn tensor(&mut self, name: &str, data: &[f32], shape: &[usize]) -> Result<()> {
        let keep_f32 = shape.len() < 2
            || name.ends_with("conv1.bias")
            || name.ends_with("conv2.bias")
            || name.ends_with("positional_embedding");
        let ftype: i32 = if keep_f32 { 0 } else { 1 };
        let wio = |e: std::io::Error| Error::io(self.out, "write", e);
        let w = &mut *self.w;
        w.write_all(&(shape.len() as i32).to_le_bytes())
            .map_err(wio)?;
        w.write_all(&(name.len() as i32).to_le_bytes())
            .map_err(wio)?;
        w.write_all(&ftype.to_le_bytes()).map_err(wio)?;
        for d in shape.iter().rev() {
            w.write_all(&(*d as i32).to_le_bytes()).map_err(wio)?;
        }
        w.write_all(name.as_bytes()).map_err(wio)?;
        if keep_f32 {
            for v in data {
                w.write_all(&v.to_le_bytes()).map_err(wio)?;
            }
        } else {
            for v in data {
                w.write_all(&f16::from_f32(*v).to_le_bytes()).map_err(wio)?;
            }
        }
        Ok(())
    }
}

/// Quantizes a ggml Whisper model's matrices to q8_0 (as whisper.cpp's
/// `quantize` tool does): 2-D weights other than positional embeddings and
/// conv biases; conv kernels stay f16, vectors f32.
pub fn quantize_q8_0(input: &Path, out: &Path) -> Result<()> {
    use whisper_rs::whisper_rs_sys as sys;
    let bad = |detail: String| Error::Model {
        path: input.to_path_buf(),
        detail,
    };
    let f = File::open(input).map_err(|e| Error::io(input, "open", e))?;
    let mut r = BufReader::new(f);
    let io = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            bad("the ggml model file is truncated".into())
        } else {
            Error::io(input, "read", e)
        }
    };
    let tmp = out.with_extension("bin.tmp");
    let file = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
    let mut w = BufWriter::new(file);
    let wio = |e: std::io::Error| Error::io(out, "write", e);

    let rd_i32 = |r: &mut BufReader<File>| read_u32(r).map(|v| v as i32);
    let mut header = [0i32; 12];
    for h in header.iter_mut() {
        *h = rd_i32(&mut r).map_err(io)?;
    }
    if header[0] as u32 != GGML_MAGIC {
        return Err(bad("not a ggml Whisper model".into()));
    }
    if header[11] != 1 {
        return Err(bad("only f16 models can be quantized".into()));
    }
    // GGML_FTYPE_MOSTLY_Q8_0 = 7, tagged with the quantization version.
    header[11] = sys::GGML_QNT_VERSION as i32 * sys::GGML_QNT_VERSION_FACTOR as i32 + 7;
    for h in header {
        w.write_all(&h.to_le_bytes()).map_err(wio)?;
    }
    // Mel filters and vocabulary pass through unchanged.
    let n_mel = rd_i32(&mut r).map_err(io)?;
    let n_fft = rd_i32(&mut r).map_err(io)?;
    w.write_all(&n_mel.to_le_bytes()).map_err(wio)?;
    w.write_all(&n_fft.to_le_bytes()).map_err(wio)?;
    let mut buf = vec![0u8; (n_mel.max(0) as usize) * (n_fft.max(0) as usize) * 4];
    r.read_exact(&mut buf).map_err(io)?;
    w.write_all(&buf).map_err(wio)?;
    let n_vocab = rd_i32(&mut r).map_err(io)?;
    w.write_all(&n_vocab.to_le_bytes()).map_err(wio)?;
    for _ in 0..n_vocab {
        let len = rd_i32(&mut r).map_err(io)?;
        let mut t = vec![0u8; len.max(0) as usize];
        r.read_exact(&mut t).map_err(io)?;
        w.write_all(&len.to_le_bytes()).map_err(wio)?;
        w.write_all(&t).map_err(wio)?;
    }

    loop {
        let n_dims = match read_u32(&mut r) {
            Ok(v) => v as i32,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io(e)),
        };
        let name_len = rd_i32(&mut r).map_err(io)?;
        let ttype = rd_i32(&mut r).map_err(io)?;
        let mut ne = vec![1i32; n_dims.max(0) as usize];
        for d in ne.iter_mut() {
            *d = rd_i32(&mut r).map_err(io)?;
        }
        let mut name = vec![0u8; name_len.max(0) as usize];
        r.read_exact(&mut name).map_err(io)?;
        let name = String::from_utf8_lossy(&name).into_owned();
        let nelem: usize = ne.iter().map(|&d| d.max(0) as usize).product();
        let bytes = nelem * if ttype == 0 { 4 } else { 2 };
        let mut data = vec![0u8; bytes];
        r.read_exact(&mut data).map_err(io)?;

        let skip = ["encoder.conv1.bias", "encoder.conv2.bias"];
        let quantize = n_dims == 2
            && ttype == 1
            && !skip.contains(&name.as_str())
            && !name.ends_with("positional_embedding")
            && (ne[0] as usize).is_multiple_of(32);
        let (out_type, payload) = if quantize {
            let src: Vec<f32> = data
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect();
            let n_per_row = ne[0] as i64;
            let nrows = ne[1] as i64;
            // q8_0: blocks of 32 values, one f16 scale + 32 int8 = 34 bytes.
            let mut dst = vec![0u8; nelem / 32 * 34];
            let written = unsafe {
                sys::ggml_quantize_chunk(
                    sys::ggml_type_GGML_TYPE_Q8_0,
                    src.as_ptr(),
                    dst.as_mut_ptr().cast(),
                    0,
                    nrows,
                    n_per_row,
                    std::ptr::null(),
                )
            };
            dst.truncate(written);
            (sys::ggml_type_GGML_TYPE_Q8_0 as i32, dst)
        } else {
            (ttype, data)
        };
        w.write_all(&n_dims.to_le_bytes()).map_err(wio)?;
        w.write_all(&name_len.to_le_bytes()).map_err(wio)?;
        w.write_all(&out_type.to_le_bytes()).map_err(wio)?;
        for d in &ne {
            w.write_all(&d.to_le_bytes()).map_err(wio)?;
        }
        w.write_all(name.as_bytes()).map_err(wio)?;
        w.write_all(&payload).map_err(wio)?;
    }
    w.flush().map_err(wio)?;
    let file = w.into_inner().map_err(|e| wio(e.into_error()))?;
    file.sync_all().map_err(wio)?;
    drop(file);
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, "rename", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_filters_match_librosa_reference_values() {
        // Reference values read from openai-whisper's assets/mel_filters.npz
        // (mel_80), which librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) made.
        let f = mel_filters(80);
        assert_eq!(f.len(), 80 * 201);
        assert!((f[1] - 0.024_862_595).abs() < 1e-7, "{}", f[1]);
        let row40 = f[40 * 201..41 * 201].iter().cloned().fold(0f32, f32::max);
        assert!((row40 - 0.014_735_566).abs() < 1e-7, "{row40}");
        let sum: f64 = f.iter().map(|&v| v as f64).sum();
        assert!((sum - 1.999_024_092).abs() < 1e-5, "{sum}");
        // Every filter is non-negative and non-empty.
        for m in 0..80 {
            let row = &f[m * 201..(m + 1) * 201];
            assert!(row.iter().all(|&v| v >= 0.0));
            assert!(row.iter().any(|&v| v > 0.0), "filter {m} is empty");
        }
    }

    #[test]
    fn byte_decoder_restores_spaces_and_newlines() {
        let d = byte_decoder();
        assert_eq!(d[&'Ġ'], b' ');
        assert_eq!(d[&'Ċ'], b'\n');
        assert_eq!(d[&'a'], b'a');
        assert_eq!(d.len(), 256);
    }

    #[test]
    fn truncated_ct2_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("model.bin");
        std::fs::write(&p, 6u32.to_le_bytes()).unwrap();
        let err = Ct2Model::read(&p).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");
    }
}
