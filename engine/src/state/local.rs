//! The default backend: a JSON file, written atomically, with the previous version kept as a
//! backup, and a lock file beside it that carries an OS advisory lock.
//!
//! The lock is `<path>.lock`: its content says who holds it (for `lock status` and messages),
//! and the holder keeps an exclusive OS lock (`flock` on Unix, `LockFileEx` on Windows) on the
//! open file for as long as it holds the state lock. The OS releases that lock when the process
//! ends, however it ends, so a holder killed with SIGKILL leaves at most a stale file, which the
//! next taker overwrites: a lock file is held only while some process holds its OS lock.

use std::fs;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::{LockInfo, State, StateError, StateLocking, StateStorage};

pub struct LocalBackend {
    path: PathBuf,
    /// (lineage, serial) of what this instance last read or wrote; `None` before the first
    /// read. A write checks the file still says this, so two processes cannot silently
    /// overwrite each other.
    seen: Mutex<Option<Option<(String, u64)>>>,
    /// The lock this handle holds: its id and the open lock file carrying the OS lock (dropping
    /// the file releases it).
    held: Mutex<Option<(String, fs::File)>>,
}

/// How many times [`LocalBackend::lock`] looks again when the lock file is OS-locked but names
/// no holder yet (the holder is between taking the OS lock and writing its details), or when
/// the OS lock was only held for a moment by a `lock status` probe.
const LOCK_RECHECKS: u32 = 50;
const LOCK_RECHECK_PAUSE: Duration = Duration::from_millis(10);

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend { path: path.into(), seen: Mutex::new(None), held: Mutex::new(None) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    fn io(&self, e: std::io::Error) -> StateError {
        StateError::Io { location: self.path.display().to_string(), message: e.to_string() }
    }

    fn lock_io(&self, e: std::io::Error) -> StateError {
        StateError::Io { location: self.lock_path().display().to_string(), message: e.to_string() }
    }

    fn read_file(&self) -> Result<Option<State>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => State::from_json(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    /// The holder the lock file names: `Ok(None)` when there is no file or it is empty.
    fn holder_in_file(&self) -> Result<Option<LockInfo>, StateError> {
        match fs::read(self.lock_path()) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StateError::Corrupt { message: format!("lock file {}: {e}", self.lock_path().display()) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.lock_io(e)),
        }
    }

    /// Whether some live process holds the OS lock on the lock file (this one included, through
    /// any handle). Takes a shared lock for an instant to find out.
    fn os_lock_held(&self) -> Result<bool, StateError> {
        let file = match fs::File::open(self.lock_path()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.lock_io(e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(fs::TryLockError::WouldBlock) => Ok(true),
            Err(fs::TryLockError::Error(e)) => Err(self.lock_io(e)),
        }
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn identity(s: &Option<State>) -> Option<(String, u64)> {
    s.as_ref().map(|s| (s.lineage.clone(), s.serial))
}

/// Whether `path` still names the file `file` has open. A releasing holder removes the lock file
/// before it lets go of the OS lock, so a taker that opened the old file and then got its OS lock
/// must look again.
fn still_at(file: &fs::File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows does not delete a file another handle has open without FILE_SHARE_DELETE.
        let _ = file;
        path.exists()
    }
}

#[async_trait]
impl StateStorage for LocalBackend {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    async fn read(&self) -> Result<Option<State>, StateError> {
        let state = self.read_file()?;
        *self.seen.lock().unwrap() = Some(identity(&state));
        Ok(state)
    }

    async fn write(&self, state: &State) -> Result<(), StateError> {
        let current = self.read_file()?;
        let expected = self.seen.lock().unwrap().clone();
        if let Some(expected) = expected
            && identity(&current) != expected
        {
            let describe = |i: &Option<(String, u64)>| {
                i.as_ref().map_or("no state".to_string(), |(l, s)| format!("lineage {l} serial {s}"))
            };
            return Err(StateError::Fenced {
                detail: format!("expected {}, found {}", describe(&expected), describe(&identity(&current))),
                recovery_file: None,
            });
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        // Temp file in the same directory, fsync, rename: a crash leaves the old or the new
        // state, never half of one.
        let tmp = with_suffix(&self.path, &format!(".tmp-{}", std::process::id()));
        {
            let mut open = fs::OpenOptions::new();
            open.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                // The state holds secrets in plain text: owner only.
                use std::os::unix::fs::OpenOptionsExt;
                open.mode(0o600);
            }
            let mut f = open.open(&tmp).map_err(|e| self.io(e))?;
            f.write_all(&state.to_json()).map_err(|e| self.io(e))?;
            f.sync_all().map_err(|e| self.io(e))?;
        }
        if current.is_some() {
            fs::copy(&self.path, self.backup_path()).map_err(|e| self.io(e))?;
        }
        fs::rename(&tmp, &self.path).map_err(|e| self.io(e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        *self.seen.lock().unwrap() = Some(Some((state.lineage.clone(), state.serial)));
        Ok(())
    }
}

#[async_trait]
impl StateLocking for LocalBackend {
    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        let lock_path = self.lock_path();
        let mut rechecks = 0;
        loop {
            // Never truncate on open: the file may name a live holder.
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lock_path)
                .map_err(|e| self.lock_io(e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    // A live process holds it. Name it, unless it has not written its details
                    // yet (or only a `lock status` probe held it for an instant): look again.
                    let holder = self.holder_in_file().ok().flatten();
                    if rechecks < LOCK_RECHECKS && (holder.is_none() || rechecks < 2) {
                        rechecks += 1;
                        tokio::time::sleep(LOCK_RECHECK_PAUSE).await;
                        continue;
                    }
                    return match holder {
                        Some(holder) => Err(StateError::Locked { holder: Box::new(holder) }),
                        None => Err(self.lock_io(std::io::Error::other(
                            "the lock file is locked by another process that does not say who it is",
                        ))),
                    };
                }
                Err(fs::TryLockError::Error(e)) => return Err(self.lock_io(e)),
            }
            if !still_at(&file, &lock_path) {
                // Released (and removed) between our open and our lock: take the new one.
                continue;
            }
            // Whatever the file says now was left by a holder that is gone: replace it.
            let json = serde_json::to_vec_pretty(info).expect("lock info serializes");
            file.set_len(0).map_err(|e| self.lock_io(e))?;
            file.rewind().map_err(|e| self.lock_io(e))?;
            file.write_all(&json).map_err(|e| self.lock_io(e))?;
            file.sync_all().map_err(|e| self.lock_io(e))?;
            *self.held.lock().unwrap() = Some((info.id.clone(), file));
            return Ok(());
        }
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let held = {
            let mut held = self.held.lock().unwrap();
            match held.take() {
                Some((held_id, file)) if held_id == id => Some(file),
                other => {
                    *held = other;
                    None
                }
            }
        };
        let Some(file) = held else {
            // Not taken through this handle: remove the file only if it names this id.
            return match self.holder_in_file()? {
                Some(current) if current.id == id => fs::remove_file(self.lock_path()).map_err(|e| self.lock_io(e)),
                current => Err(StateError::LockMismatch { given: id.to_string(), current: current.map(Box::new) }),
            };
        };
        // Remove the file while still holding the OS lock, then let go of it (dropping `file`):
        // a taker waiting on the old file sees it is gone and takes a fresh one.
        if still_at(&file, &self.lock_path()) {
            fs::remove_file(self.lock_path()).map_err(|e| self.lock_io(e))
        } else {
            // Someone ran `force-unlock` on this lock: it is not ours any more.
            Err(StateError::LockMismatch {
                given: id.to_string(),
                current: self.holder_in_file().ok().flatten().map(Box::new),
            })
        }
    }

    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
        // A file no live process holds was left by a holder that died: the lock is free.
        if !self.os_lock_held()? {
            return Ok(None);
        }
        self.holder_in_file()
    }

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        // Goes by the file, live holder or not: a stale file can be removed by its id, and a
        // live holder's lock is broken (fencing then refuses its writes if someone else wrote).
        match self.holder_in_file()? {
            Some(current) if current.id == id => fs::remove_file(self.lock_path()).map_err(|e| self.lock_io(e)),
            current => Err(StateError::LockMismatch { given: id.to_string(), current: current.map(Box::new) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_backend_passes_the_suite() {
        let dir = tempfile::tempdir().unwrap();
        let mut n = 0;
        super::super::suite::run(
            || {
                n += 1;
                Box::new(LocalBackend::new(dir.path().join(format!("s{n}/state.json"))))
            },
            |first| {
                // A second handle on the same file.
                Box::new(LocalBackend::new(first.describe()))
            },
        )
        .await;
    }

    #[tokio::test]
    async fn keeps_a_backup_and_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("state.json"));
        b.read().await.unwrap();
        let mut s = State::new();
        b.write(&s).await.unwrap();
        s.serial = 1;
        b.write(&s).await.unwrap();
        let backup = State::from_json(&fs::read(b.backup_path()).unwrap()).unwrap();
        assert_eq!(backup.serial, 0);
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
    }

    /// A holder that went away without unlocking (killed: its handle, and so its OS lock, is
    /// gone) leaves a file naming it; the lock is free and the next taker replaces the file.
    #[tokio::test]
    async fn a_dead_holders_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let dead = LockInfo::for_current_process("apply");
        {
            let holder = LocalBackend::new(&path);
            holder.lock(&dead).await.unwrap();
            // `holder` is dropped without unlocking, as a killed process would be.
        }
        let next = LocalBackend::new(&path);
        assert_eq!(serde_json::from_slice::<LockInfo>(&fs::read(next.lock_path()).unwrap()).unwrap(), dead);
        assert_eq!(next.lock_status().await.unwrap(), None, "no live holder");
        let mine = LockInfo::for_current_process("plan");
        next.lock(&mine).await.unwrap();
        assert_eq!(next.lock_status().await.unwrap(), Some(mine.clone()));
        next.unlock(&mine.id).await.unwrap();
        assert!(!next.lock_path().exists());
    }

    /// `force-unlock` removes a dead holder's file by its id; a wrong id leaves it.
    #[tokio::test]
    async fn force_unlock_removes_a_stale_file_by_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let dead = LockInfo::for_current_process("apply");
        LocalBackend::new(&path).lock(&dead).await.unwrap();
        let b = LocalBackend::new(&path);
        assert!(matches!(b.force_unlock("nope").await, Err(StateError::LockMismatch { current: Some(_), .. })));
        assert!(b.lock_path().exists());
        b.force_unlock(&dead.id).await.unwrap();
        assert!(!b.lock_path().exists());
    }

    /// A holder whose lock was force-unlocked (and taken by someone else) is told so on
    /// release, and does not remove the new holder's lock.
    #[tokio::test]
    async fn releasing_a_broken_lock_leaves_the_new_holders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let (a, b) = (LocalBackend::new(&path), LocalBackend::new(&path));
        let la = LockInfo::for_current_process("apply");
        a.lock(&la).await.unwrap();
        b.force_unlock(&la.id).await.unwrap();
        let lb = LockInfo::for_current_process("plan");
        b.lock(&lb).await.unwrap();
        assert!(matches!(a.unlock(&la.id).await, Err(StateError::LockMismatch { .. })));
        assert_eq!(b.lock_status().await.unwrap().map(|l| l.id), Some(lb.id.clone()));
        b.unlock(&lb.id).await.unwrap();
    }
}
