//! Platforms without Unix modes: permission checks report `skip` until ACL checks exist.

use std::path::PathBuf;

/// True on platforms where owner and mode bits decide what OpenSSH accepts.
pub const HAS_UNIX_MODES: bool = false;

pub fn current_uid() -> u32 {
    0
}

pub fn passwd_entry() -> Option<(String, PathBuf)> {
    let name = std::env::var("USERNAME").ok()?;
    let home = std::env::var("USERPROFILE").ok()?;
    Some((name, PathBuf::from(home)))
}

pub fn passwd_home() -> Option<PathBuf> {
    passwd_entry().map(|(_, h)| h)
}

pub fn login_name() -> Option<String> {
    passwd_entry().map(|(n, _)| n)
}

pub fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// True for "too many levels of symbolic links".
pub fn is_link_loop(_e: &std::io::Error) -> bool {
    false
}

/// True for "network/host unreachable" errors the standard library does not classify.
pub fn is_unreachable(_e: &std::io::Error) -> bool {
    false
}

/// Makes `opts` create a file for its owner (ACLs of the parent directory apply).
pub fn private_create(_opts: &mut std::fs::OpenOptions) {}

/// Creates a directory, or accepts an existing real one; refuses a link.
pub fn private_dir(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::other(format!(
            "{} is a link; the doctor does not write through links",
            path.display()
        ))),
        Ok(m) if !m.is_dir() => Err(std::io::Error::other(format!(
            "{} is not a directory",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(_) => std::fs::create_dir_all(path),
    }
}

/// The null device, for `ssh -F`.
pub const NULL_DEVICE: &str = "NUL";
