//! Claims on sessions: any number of runs (the tasks of a Slurm array, the
//! pods of a Kubernetes job, on one machine or on many sharing a volume)
//! work in one output folder side by side, and no two ever work on the same
//! session.
//!
//! A run claims a session by creating `<session>/.claim` exclusively
//! (`O_EXCL`: atomic on local disks and on NFS). The file says who holds it
//! (host, process, when), and its modification time says that the holder
//! is alive: [`Claims::beat`], called every [`BEAT`] by the batch, touches
//! every claim the run holds. A claim is stale, and taken over, when its
//! process is gone (same host: the kernel's process table says so at once,
//! `kill -9` included) or it has not been touched for [`LEASE`] (another
//! host, which may have died with the process).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::outfile::{create_private_dir, host_name, private_options, utc_now};

/// A session's claim file, in its folder.
pub const CLAIM_FILE: &str = ".claim";
/// Taken for the moment of replacing a stale claim, so two runs that both
/// find it stale do not both take the session.
const TAKEOVER_FILE: &str = ".claim.takeover";
/// How long a claim of another host lives untouched before it is stale.
pub const LEASE: Duration = Duration::from_secs(600);
/// How often a run touches its claims: well inside the lease, so a slow
/// shared disk or a busy machine never lets a live claim go stale.
pub const BEAT: Duration = Duration::from_secs(60);

/// Who holds a claim, as written in the claim file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Holder {
    host: String,
    /// Where its process id means something: the boot and the process
    /// namespace (Linux). Two containers may share a host name, not these.
    #[serde(default)]
    space: Option<String>,
    pid: u32,
    /// The process's start in clock ticks since boot (Linux), so a process
    /// id used again by another program is not taken for the holder.
    #[serde(default)]
    pid_start: Option<u64>,
    started: String,
    /// Unique to this claim: a run checks it before writing a session's
    /// outputs, to find out whether its claim was taken over meanwhile.
    token: String,
}

impl Holder {
    fn describe(&self) -> String {
        format!(
            "process {} on {}, claimed {}",
            self.pid, self.host, self.started
        )
    }
}

/// The claims one run holds, and what it needs to make more.
#[derive(Debug)]
pub struct Claims {
    host: String,
    space: Option<String>,
    pid: u32,
    pid_start: Option<u64>,
    held: Mutex<Vec<PathBuf>>,
}

impl Default for Claims {
    fn default() -> Self {
        Self::new()
    }
}

/// A session this run holds, until the guard is dropped (a panic in the
/// session's work drops it too): then the claim file is removed.
#[derive(Debug)]
pub struct Claim<'a> {
    claims: &'a Claims,
    path: PathBuf,
    token: String,
}

impl Claims {
    pub fn new() -> Self {
        let pid = std::process::id();
        Self {
            host: host_name(),
            space: process_space(),
            pid,
            pid_start: process_start(pid),
            held: Mutex::new(Vec::new()),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<PathBuf>> {
        // A list of paths cannot be left inconsistent by a panic.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the session whose folder is `dir` (created if needed): the
    /// claim, or `Err(holder)` in words when a live run holds it.
    pub fn claim(&self, dir: &Path) -> Result<std::result::Result<Claim<'_>, String>> {
        create_private_dir(dir)?;
        let path = dir.join(CLAIM_FILE);
        // Twice at most: once more after a stale claim was removed.
        for _ in 0..2 {
            match create_new(&path) {
                Ok(mut f) => {
                    let me = Holder {
                        host: self.host.clone(),
                        space: self.space.clone(),
                        pid: self.pid,
                        pid_start: self.pid_start,
                        started: utc_now(),
                        token: token(),
                    };
                    let text = serde_json::to_string(&me).expect("serialise");
                    // A claim that cannot say who holds it still holds: others
                    // judge it by its age, and it is removed when we are done.
                    let _ = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
                    self.held().push(path.clone());
                    return Ok(Ok(Claim {
                        claims: self,
                        path,
                        token: me.token,
                    }));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let (holder, age) = read_claim(&path);
                    if !self.is_stale(holder.as_ref(), age) {
                        return Ok(Err(holder.map_or_else(
                            || "a run that is starting on it".into(),
                            |h| h.describe(),
                        )));
                    }
                    if let Err(busy) = self.take_over(dir, &path, holder.as_ref())? {
                        return Ok(Err(busy));
                    }
                }
                Err(e) => return Err(Error::io(dir, "claim a session in", e)),
            }
        }
        Ok(Err("another run that claimed it just now".into()))
    }

    /// Removes the stale claim at `path` (held by `stale`) unless another run
    /// is replacing it at this moment: `Err(words)` then.
    fn take_over(
        &self,
        dir: &Path,
        path: &Path,
        stale: Option<&Holder>,
    ) -> Result<std::result::Result<(), String>> {
        let takeover = dir.join(TAKEOVER_FILE);
        match create_new(&takeover) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                // A run that died while taking over leaves this behind.
                if age(&takeover).is_some_and(|a| a > LEASE) {
                    let _ = std::fs::remove_file(&takeover);
                }
                return Ok(Err("another run that is taking it over".into()));
            }
            Err(e) => return Err(Error::io(dir, "claim a session in", e)),
        }
        // Judged again under the takeover file: still the same stale claim?
        let (now, age) = read_claim(path);
        let same = now.as_ref() == stale && self.is_stale(now.as_ref(), age);
        if same {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_file(&takeover);
        Ok(if same {
            Ok(())
        } else {
            Err(now.map_or_else(|| "another run".into(), |h| h.describe()))
        })
    }

    /// Whether a claim (its holder, where readable, and its age) is stale.
    fn is_stale(&self, holder: Option<&Holder>, age: Option<Duration>) -> bool {
        match holder {
            // Its process id is one this process can look up.
            Some(h) if h.host == self.host && h.space.is_some() && h.space == self.space => {
                !(h.pid == self.pid || alive(h.pid, h.pid_start))
            }
            // Another host or container, or a claim still being written: by its age alone.
            _ => age.is_some_and(|a| a > LEASE),
        }
    }

    /// Touches every claim this run holds: they stay fresh for [`LEASE`].
    pub fn beat(&self) {
        let now = SystemTime::now();
        for p in self.held().iter() {
            let _ = OpenOptions::new()
                .write(true)
                .open(p)
                .and_then(|f| f.set_modified(now));
        }
    }
}

impl Claim<'_> {
    /// Whether the claim is still this run's: false when another run took
    /// it over (this one was paused past the lease, say), and this run must
    /// leave the session's outputs to it.
    pub fn still_mine(&self) -> bool {
        read_claim(&self.path)
            .0
            .is_some_and(|h| h.token == self.token)
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.claims.held().retain(|p| p != &self.path);
        if self.still_mine() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn create_new(path: &Path) -> std::io::Result<File> {
    private_options().write(true).create_new(true).open(path)
}

/// The claim at `path`: its holder where readable, and its age.
fn read_claim(path: &Path) -> (Option<Holder>, Option<Duration>) {
    let holder = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    (holder, age(path))
}

fn age(path: &Path) -> Option<Duration> {
    let m = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    // A clock behind the file server's gives a time in the future: age 0.
    Some(SystemTime::now().duration_since(m).unwrap_or_default())
}

/// Whether process `pid` runs on this host, and is the one that started at
/// `start` (where both are known).
fn alive(pid: u32, start: Option<u64>) -> bool {
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return false;
    }
    match (start, process_start(pid)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// This boot and this process namespace (Linux), where process ids are
/// looked up; `None` elsewhere, where claims go by their age alone.
fn process_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{} {}", boot.trim(), ns.display()))
}

/// A process's start time (clock ticks since boot), from `/proc/PID/stat`.
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22; the command name (field 2) may hold spaces, so count after its ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// A token unique to one claim: process, time, and a counter.
fn token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims_as(host: &str, pid: u32) -> Claims {
        Claims {
            host: host.into(),
            space: process_space(),
            pid,
            pid_start: None,
            held: Mutex::new(Vec::new()),
        }
    }

    /// A pid that no process has: above the kernel's largest.
    const GONE: u32 = 4_194_305;

    #[test]
    fn one_claim_at_a_time_and_released_when_dropped() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("visit");
        let a = Claims::new();
        let held = a.claim(&s).unwrap().unwrap();
        assert!(held.still_mine());
        // Another run on this host (its holder, this process, is alive) and
        // one on another host (the claim is fresh) are both refused.
        for other in [claims_as(&a.host, GONE), claims_as("elsewhere", 1)] {
            let words = other.claim(&s).unwrap().unwrap_err();
            assert!(words.contains(&format!("process {}", a.pid)), "{words}");
        }
        drop(held);
        assert!(!s.join(CLAIM_FILE).exists());
        assert!(a.claim(&s).unwrap().is_ok());
    }

    #[test]
    fn a_dead_process_claim_is_taken_over_on_its_host() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("visit");
        let dead = claims_as(&host_name(), GONE);
        let left = dead.claim(&s).unwrap().unwrap();
        // A killed run never drops its guard.
        std::mem::forget(left);
        let me = Claims::new();
        let mine = me
            .claim(&s)
            .unwrap()
            .expect("a dead process's claim is stale");
        assert!(mine.still_mine());
    }

    #[test]
    fn a_container_with_our_host_name_is_judged_by_its_lease() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("visit");
        // Same host name, another process namespace: its process id means
        // nothing here, so it is not looked up.
        let other = Claims {
            space: Some("another boot pid:[1]".into()),
            ..claims_as(&host_name(), GONE)
        };
        std::mem::forget(other.claim(&s).unwrap().unwrap());
        assert!(Claims::new().claim(&s).unwrap().is_err());
    }

    #[test]
    fn another_hosts_claim_lives_for_the_lease() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("visit");
        let other = claims_as("node-7", GONE);
        std::mem::forget(other.claim(&s).unwrap().unwrap());
        let me = Claims::new();
        let words = me.claim(&s).unwrap().unwrap_err();
        assert!(words.contains("node-7"), "{words}");
        // Untouched for longer than the lease: its host is gone.
        let old = SystemTime::now() - LEASE - Duration::from_secs(5);
        File::options()
            .write(true)
            .open(s.join(CLAIM_FILE))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mine = me.claim(&s).unwrap().expect("an expired lease is stale");
        // A run that took over owns it; the first one finds out before writing.
        assert!(mine.still_mine());
        me.beat();
        assert!(age(&s.join(CLAIM_FILE)).unwrap() < Duration::from_secs(60));
    }

    #[test]
    fn a_run_that_lost_its_claim_knows() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("visit");
        let paused = claims_as("node-1", GONE);
        let held = paused.claim(&s).unwrap().unwrap();
        std::fs::remove_file(s.join(CLAIM_FILE)).unwrap();
        let me = Claims::new();
        let mine = me.claim(&s).unwrap().unwrap();
        assert!(!held.still_mine());
        // Dropping the lost claim leaves the new holder's file alone.
        drop(held);
        assert!(mine.still_mine());
    }

    #[test]
    fn process_start_is_read() {
        let me = std::process::id();
        if Path::new("/proc/self/stat").exists() {
            assert!(process_start(me).is_some());
            assert!(alive(me, process_start(me)));
            assert!(!alive(me, process_start(me).map(|s| s + 1)));
            assert!(!alive(GONE, None));
        }
    }
}
