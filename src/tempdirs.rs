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
    /// A new directory, its name starting `prefix`, in the first of [`bases`] where one
    /// can be made.
    pub fn new(prefix: &str) -> std::io::Result<TempDir> {
        let mut last = None;
        for base in bases() {
            let mut builder = tempfile::Builder::new();
            builder.prefix(prefix);
            // tempfile leaves the mode to the umask (0755 as a rule): closed to others.
            #[cfg(unix)]
            builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
            match builder.tempdir_in(&base) {
                Ok(inner) => {
                    live().push(inner.path().to_path_buf());
                    return Ok(TempDir { inner });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no temporary directory")))
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

/// Where the doctor's temporary directories may go, best first: `TMPDIR` when the user
/// set it; else, on Linux, the user's runtime directory and `/dev/shm`, memory file
/// systems (the copies never reach a disk, and a new file there costs no search of a disk
/// file system's inode table: on an ext4 `/tmp` busy with deletions that was most of an
/// `--offline` run's own time); last the system's temporary directory. On Linux a place
/// is used only when no other user can move entries in it or on the way to it (the config
/// copy must stay the one the doctor checked, or a swapped-in `Match exec` would run).
fn bases() -> Vec<PathBuf> {
    let system = std::env::temp_dir();
    let user_set = std::env::var_os("TMPDIR").is_some_and(|v| !v.is_empty());
    #[cfg(target_os = "linux")]
    {
        let mut out = Vec::new();
        if !user_set {
            out.extend(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from));
            out.push(PathBuf::from("/dev/shm"));
        }
        out.push(system);
        if user_set {
            // A TMPDIR that others can rearrange gives way to the system's.
            out.push(PathBuf::from("/tmp"));
        }
        out.retain(|d| d.is_absolute() && safe_place(d));
        out
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = user_set;
        vec![system]
    }
}

/// True when `dir` and every directory on the way to it are closed to others.
#[cfg(target_os = "linux")]
fn safe_place(dir: &Path) -> bool {
    closed_to_others(dir) && dir.ancestors().skip(1).all(closed_to_others)
}

/// True for a real directory (not a link) that only we or root can rearrange: ours or
/// root's and writable by no one else, or root's with the sticky bit.
#[cfg(target_os = "linux")]
fn closed_to_others(dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    let Some(a) = crate::platform::access(&meta) else {
        return false;
    };
    let owner_trusted = a.uid == 0 || a.uid == crate::platform::current_uid();
    let shut = a.mode & 0o022 == 0;
    let roots_sticky = a.uid == 0 && a.mode & 0o1000 != 0;
    meta.is_dir() && owner_trusted && (shut || roots_sticky)
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
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(kept.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "a private directory");
        }
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

    #[test]
    #[cfg(target_os = "linux")]
    fn only_directories_no_one_else_can_rearrange_are_used() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = |name: &str, mode: u32| {
            let d = root.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).unwrap();
            d
        };
        assert!(closed_to_others(&dir("private", 0o700)));
        assert!(safe_place(&dir("private2", 0o700)) == safe_place(root.path()));
        let open = dir("open", 0o777);
        assert!(!closed_to_others(&open));
        // Ours and shut, but inside a directory anyone can rearrange.
        let inside = open.join("inside");
        std::fs::create_dir(&inside).unwrap();
        std::fs::set_permissions(&inside, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(closed_to_others(&inside));
        assert!(!safe_place(&inside), "an open directory on the way");
        assert!(!closed_to_others(&dir("group", 0o770)));
        let link = root.path().join("link");
        std::os::unix::fs::symlink(dir("target", 0o700), &link).unwrap();
        assert!(!closed_to_others(&link), "a link is not followed");
        assert!(!closed_to_others(&root.path().join("missing")));
        // The system's shared memory directory: root's, with the sticky bit.
        if std::path::Path::new("/dev/shm").is_dir() {
            assert!(safe_place(std::path::Path::new("/dev/shm")));
        }
        // The system's temporary directory (root's, sticky) is a place of last resort.
        if std::env::var_os("TMPDIR").is_none() {
            assert_eq!(bases().last(), Some(&std::env::temp_dir()));
        }
    }
}
