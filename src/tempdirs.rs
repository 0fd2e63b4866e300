//! The doctor's temporary directories: the config copy it hands to OpenSSH and the
//! known_hosts copies of the transcripts. Like `tempfile`'s, they are removed when
//! dropped; an interrupted run (Ctrl-C, SIGTERM) drops nothing, so the interruption
//! removes every one still listed here before the process exits.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The directories that exist now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A private temporary directory (0700 on Unix), removed when dropped or interrupted.
#[derive(Debug)]
pub struct TempDir {
    inner: tempfile::TempDir,
}

impl TempDir {
    /// A new directory in the system's temporary directory, its name starting `prefix`.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let inner = tempfile::Builder::new().prefix(prefix).tempdir()?;
        live().push(inner.path().to_path_buf());
        Ok(TempDir { inner })
    }

    pub fn path(&self) -> &Path {
        self.inner.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let path = self.inner.path();
        live().retain(|p| p != path);
    }
}

/// Removes every temporary directory still in use; for an interrupted run, just before
/// the process exits.
pub fn remove_all() {
    for path in live().drain(..) {
        let _ = std::fs::remove_dir_all(&path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_directories_are_forgotten_and_live_ones_removed_on_demand() {
        let kept = TempDir::new("mlc-doctor-test-").unwrap();
        let dropped = TempDir::new("mlc-doctor-test-").unwrap();
        let dropped_path = dropped.path().to_path_buf();
        drop(dropped);
        assert!(!dropped_path.exists());
        assert!(!live().contains(&dropped_path));
        let kept_path = kept.path().to_path_buf();
        std::fs::write(kept_path.join("config"), "Host x\n").unwrap();
        remove_all();
        assert!(!kept_path.exists());
        drop(kept);
    }
}
