//! Writing outputs safely: readable by the owner only (the recordings are
//! about families), and never half-written (temporary file, then rename), so
//! a run killed at any moment, or a disk that fills up, leaves either the old
//! file or the new one. A folder's study tables are written by one run at a
//! time ([`lock_dir`]); its sessions are claimed one by one ([`crate::claim`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically with owner-only permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp = temp_name(path);
    // Errors name the final file: the temporary name means nothing to the reader.
    let result = (|| {
        let mut f = private_file(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })()
    .map_err(|e| Error::io(path, "write", e));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Name of the lock file in an output folder.
pub const LOCK_FILE: &str = ".mitool.lock";

/// An output folder whose study tables this process alone writes, for as
/// long as the guard lives. The lock is the operating system's (`flock`), so it goes with the
/// process however that ends, `kill -9` included: it is never left stale.
#[derive(Debug)]
pub struct DirLock {
    dir: PathBuf,
    file: File,
}

impl DirLock {
    /// The locked folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Forget who held it; closing the file (next) releases the lock.
        let _ = self.file.set_len(0);
    }
}

/// Creates `dir` if needed and locks it, waiting up to `wait` for another
/// run to finish writing its tables, or says which run holds it
/// ([`Error::Locked`]) without writing anything there.
pub fn lock_dir(dir: &Path, wait: std::time::Duration) -> Result<DirLock> {
    create_private_dir(dir)?;
    let path = dir.join(LOCK_FILE);
    let mut file = private_options()
        // Not truncated on opening: while another run holds it, it says who that is.
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(dir, "write in this folder", e))?;
    let t0 = std::time::Instant::now();
    let mut tried = file.try_lock();
    // Polled, not blocking: a run frozen while it holds the lock must not
    // freeze this one for good.
    while matches!(tried, Err(TryLockError::WouldBlock)) && t0.elapsed() < wait {
        std::thread::sleep(std::time::Duration::from_millis(50));
        tried = file.try_lock();
    }
    match tried {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(Error::Locked {
                dir: dir.to_path_buf(),
                holder: if holder.is_empty() {
                    "no details recorded".into()
                } else {
                    holder.to_string()
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(Error::io(&path, "lock", e)),
    }
    // Only words for another run's message: the lock holds without them
    // (on a full disk they may not fit).
    let _ = file.set_len(0).and_then(|()| {
        writeln!(
            file,
            "process {} on {}, started {}",
            std::process::id(),
            host_name(),
            utc_now()
        )
    });
    Ok(DirLock {
        dir: dir.to_path_buf(),
        file,
    })
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this computer".into())
}

/// The time now as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Creates `dir` (and parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| Error::io(dir, "create folder", e))
}

/// Options for a file that only its owner may read, should they create it.
pub(crate) fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

fn private_file(path: &Path) -> std::io::Result<File> {
    private_options()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

/// A temporary name beside `path`, unique per process and call.
fn temp_name(path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/report.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
            let dmode = std::fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o077, 0, "{dmode:o}");
        }
        // No temporary files are left behind.
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sessions.csv");
        write_atomic(&p, b"old").unwrap();
        // A folder in the way of the rename makes the last step fail.
        let q = dir.path().join("in-the-way");
        std::fs::create_dir(&q).unwrap();
        std::fs::write(q.join("x"), b"x").unwrap();
        let e = write_atomic(&q, b"new").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}: cannot write", q.display())),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_locked_folder_is_refused_with_who_holds_it_then_freed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let held = lock_dir(&out, std::time::Duration::ZERO).unwrap();
        assert_eq!(held.dir(), out);
        // A second open file is a second holder, even in one process.
        let e = lock_dir(&out, std::time::Duration::ZERO).unwrap_err();
        let m = e.to_string();
        assert!(matches!(e, Error::Locked { .. }), "{m}");
        assert!(
            m.starts_with(&format!("output folder {} is in use", out.display())),
            "{m}"
        );
        assert!(
            m.contains(&format!("process {}", std::process::id())),
            "{m}"
        );
        assert!(m.contains(" UTC"), "{m}");
        drop(held);
        let again = lock_dir(&out, std::time::Duration::ZERO).unwrap();
        drop(again);
    }

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_453), (2025, 12, 31));
    }
}
