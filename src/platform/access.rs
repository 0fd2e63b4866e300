//! File access as the platform expresses it. Unix keeps it in mode bits and an owner;
//! Windows keeps it in ACLs, which [`super::file_acl`] reads. Code outside `platform`
//! asks here instead of reaching for `std::os::unix`.

use std::fs::{File, Metadata};
use std::path::Path;

/// Who may do what with a file, where files have Unix modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The permission bits (`0o7777`).
    pub mode: u32,
    /// The owner's user id.
    pub uid: u32,
}

/// The mode and owner of a file; `None` where files have no Unix modes.
pub fn access(m: &Metadata) -> Option<Access> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(Access {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
        })
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

/// Makes a file the doctor has just created readable and writable by its owner only
/// (0600). Off Unix a new file in the user's own directories is private already.
pub fn make_private(file: &File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// Sets the permission bits of `path` where files have Unix modes (`chmod`); elsewhere
/// there are none to set and nothing is done.
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

/// True when the file may be run: an execute bit on Unix, any regular file elsewhere
/// (Windows decides by extension, which the caller chose).
pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        std::fs::metadata(path)
            .ok()
            .and_then(|m| access(&m))
            .is_some_and(|a| a.mode & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn modes_and_privacy_are_read_and_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        make_private(&file).unwrap();
        let a = access(&std::fs::metadata(&path).unwrap()).unwrap();
        assert_eq!(a.mode, 0o600);
        assert!(!is_executable(&path));
        assert!(is_executable(Path::new("/bin/sh")));
    }
}
