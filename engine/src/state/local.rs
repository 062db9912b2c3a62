//! The default backend: a JSON file, written atomically, with the previous version kept as a
//! backup and a lock file beside it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{LockInfo, State, StateBackend, StateError};

pub struct LocalBackend {
    path: PathBuf,
    /// (lineage, serial) of what this instance last read or wrote; `None` before the first
    /// read. A write checks the file still says this, so two processes cannot silently
    /// overwrite each other.
    seen: Mutex<Option<Option<(String, u64)>>>,
}

impl LocalBackend {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        LocalBackend { path: path.into(), seen: Mutex::new(None) }
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

    fn read_file(&self) -> Result<Option<State>, StateError> {
        match fs::read(&self.path) {
            Ok(bytes) => State::from_json(&bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
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

#[async_trait]
impl StateBackend for LocalBackend {
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
        if let Some(expected) = expected {
            if identity(&current) != expected {
                let describe = |i: &Option<(String, u64)>| {
                    i.as_ref().map_or("no state".to_string(), |(l, s)| format!("lineage {l} serial {s}"))
                };
                return Err(StateError::Fenced {
                    detail: format!("expected {}, found {}", describe(&expected), describe(&identity(&current))),
                    recovery_file: None,
                });
            }
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
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        *self.seen.lock().unwrap() = Some(Some((state.lineage.clone(), state.serial)));
        Ok(())
    }

    async fn lock(&self, info: &LockInfo) -> Result<(), StateError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| self.io(e))?;
        }
        // create_new is O_EXCL: exactly one process wins.
        match fs::OpenOptions::new().write(true).create_new(true).open(self.lock_path()) {
            Ok(mut f) => {
                f.write_all(&serde_json::to_vec_pretty(info).expect("lock info serializes")).map_err(|e| self.io(e))?;
                f.sync_all().map_err(|e| self.io(e))?;
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                match self.lock_status().await? {
                    Some(holder) => Err(StateError::Locked { holder }),
                    // Released between our attempt and the read: try once more.
                    None => Box::pin(self.lock(info)).await,
                }
            }
            Err(e) => Err(self.io(e)),
        }
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        match self.lock_status().await? {
            Some(current) if current.id == id => fs::remove_file(self.lock_path()).map_err(|e| self.io(e)),
            current => Err(StateError::LockMismatch { given: id.to_string(), current }),
        }
    }

    async fn lock_status(&self) -> Result<Option<LockInfo>, StateError> {
        match fs::read(self.lock_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StateError::Corrupt { message: format!("lock file {}: {e}", self.lock_path().display()) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(e)),
        }
    }

    async fn force_unlock(&self, id: &str) -> Result<(), StateError> {
        self.unlock(id).await
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
}
