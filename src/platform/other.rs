//! Windows (and any platform without Unix modes): the account from the profile, no uid.

use std::path::PathBuf;

/// True on platforms where owner and mode bits decide what OpenSSH accepts.
pub const HAS_UNIX_MODES: bool = false;

/// There are no uids; owners are SIDs (see `windows::evaluate`).
pub fn current_uid() -> u32 {
    0
}

/// The login name and the profile directory OpenSSH for Windows uses as `~`.
pub fn passwd_entry() -> Option<(String, PathBuf)> {
    let name = std::env::var("USERNAME").ok()?;
    Some((name, passwd_home()?))
}

/// The profile directory from the registry's ProfileList, else `USERPROFILE`.
pub fn passwd_home() -> Option<PathBuf> {
    #[cfg(windows)]
    if let Some(p) = super::windows::sys::profile_dir() {
        return Some(p);
    }
    std::env::var("USERPROFILE").ok().map(PathBuf::from)
}

pub fn login_name() -> Option<String> {
    std::env::var("USERNAME").ok()
}

pub fn host_name() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

/// True for "too many levels of symbolic links".
pub fn is_link_loop(_e: &std::io::Error) -> bool {
    false
}

/// True for "network/host unreachable" errors the standard library does not classify.
pub fn is_unreachable(e: &std::io::Error) -> bool {
    // WSAENETUNREACH, WSAEHOSTUNREACH
    matches!(e.raw_os_error(), Some(10051) | Some(10065))
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
