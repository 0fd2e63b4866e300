//! Unix: uid, passwd entry, modes.

use std::ffi::CStr;
use std::path::PathBuf;

/// True on platforms where owner and mode bits decide what OpenSSH accepts.
pub const HAS_UNIX_MODES: bool = true;

/// The effective user id of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The passwd entry of the current user: login name and home directory.
pub fn passwd_entry() -> Option<(String, PathBuf)> {
    let uid = current_uid();
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: a zeroed passwd is a valid out-parameter for getpwuid_r.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and buf outlives the use of pwd's fields.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() || pwd.pw_name.is_null() || pwd.pw_dir.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so both are NUL-terminated strings inside buf.
    let name = unsafe { CStr::from_ptr(pwd.pw_name) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: as above.
    let dir = unsafe { CStr::from_ptr(pwd.pw_dir) }
        .to_string_lossy()
        .into_owned();
    Some((name, PathBuf::from(dir)))
}

/// The home directory in the passwd entry (what OpenSSH uses for `~`).
pub fn passwd_home() -> Option<PathBuf> {
    passwd_entry().map(|(_, home)| home)
}

/// The login name of the current user.
pub fn login_name() -> Option<String> {
    passwd_entry().map(|(name, _)| name)
}

/// The local host name, as `gethostname` returns it.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its length.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    (!name.is_empty()).then_some(name)
}

/// True for "too many levels of symbolic links".
pub fn is_link_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// True for "network/host unreachable" errors the standard library does not classify.
pub fn is_unreachable(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH)
    )
}

/// Makes `opts` create a file only its owner can read and never open it through a link.
pub fn private_create(opts: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
}

/// Accepts an existing directory for [`super::private_dir`]: this user's, made private
/// if others may enter it; refuses another user's.
pub(super) fn keep_private_dir(
    path: &std::path::Path,
    m: &std::fs::Metadata,
) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if m.uid() != current_uid() {
        return Err(std::io::Error::other(format!(
            "{} belongs to another user",
            path.display()
        )));
    }
    if m.mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates a directory only its owner can enter (its parents as usual).
pub(super) fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Lowers a child's scheduling priority by `by` steps (`setpriority`): a helper that only
/// needs the spare core then never delays the process that started it. Best effort: a
/// failure (a child already gone) changes nothing the run reports.
pub fn lower_priority(pid: u32, by: i32) {
    // SAFETY: getpriority and setpriority take plain integers; a pid that is gone gives
    // ESRCH. (getpriority's -1 may also be an error: then the child ends a step higher.)
    unsafe {
        let own = libc::getpriority(libc::PRIO_PROCESS, 0);
        libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, (own + by).min(19));
    }
}
