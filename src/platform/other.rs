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

/// Accepts an existing directory for [`super::private_dir`]: the ACLs of its parent
/// decide who may enter it.
pub(super) fn keep_private_dir(
    _path: &std::path::Path,
    _m: &std::fs::Metadata,
) -> std::io::Result<()> {
    Ok(())
}

/// Creates a directory (and its parents); the ACLs of the parent apply.
pub(super) fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Lowers a child's scheduling priority: only where `setpriority` exists.
pub fn lower_priority(_pid: u32, _by: i32) {}
