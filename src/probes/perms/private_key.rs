//! `perm.private-key`: whether OpenSSH accepts who may read a private key file, by its
//! mode and owner or, on Windows, its ACL. The key probe asks it for every key it judges.

use std::path::Path;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Severity};
use crate::platform::windows::{Acl, FileRole};
use crate::probes::keys::{for_key, KeyInfo};

/// Who may use a private key file.
enum KeyAccess {
    /// A file with Unix modes: its mode, and its owner's uid when that is not the user.
    Mode { mode: u32, other_owner: Option<u32> },
    /// Windows: the file's ACL, judged against the user's SID.
    Acl { acl: Acl, user_sid: String },
    /// Windows: the ACL could not be read.
    Unreadable(String),
}

impl KeyAccess {
    /// None when the file's mode cannot be read (`perm.*` reports nothing it cannot see).
    fn of(ctx: &Context, path: &Path) -> Option<KeyAccess> {
        if ctx.os.has_unix_modes() {
            let st = crate::probes::perms::stat(path).ok()?;
            return Some(KeyAccess::Mode {
                mode: st.mode,
                other_owner: (st.uid != ctx.uid).then_some(st.uid),
            });
        }
        // Windows: OpenSSH for Windows' ACL rule for private keys.
        Some(match crate::platform::file_acl(path) {
            Ok(acl) => KeyAccess::Acl {
                acl,
                user_sid: crate::platform::current_user_sid().unwrap_or_default(),
            },
            Err(e) => KeyAccess::Unreadable(e),
        })
    }
}

/// `perm.private-key` for one key file, with the nodes that use it.
pub fn check(ctx: &Context, key: &KeyInfo) -> Option<Finding> {
    let access = KeyAccess::of(ctx, &key.path)?;
    Some(for_key(key, finding(ctx, &key.path, &key.shown, &access)))
}

/// The `perm.private-key` finding.
fn finding(ctx: &Context, path: &Path, s: &str, access: &KeyAccess) -> Finding {
    match access {
        KeyAccess::Mode { mode, other_owner } => {
            mode_finding(ctx, path, s, *mode, *other_owner).with("mode", format!("{mode:04o}"))
        }
        KeyAccess::Acl { acl, user_sid } => crate::probes::perms::acl_finding(
            ctx,
            CheckId::PermPrivateKey,
            path,
            FileRole::PrivateKey,
            acl,
            user_sid,
            Severity::Fail,
        ),
        KeyAccess::Unreadable(e) => Finding::warn(
            CheckId::PermPrivateKey,
            s,
            format!("{s} cannot be checked: {e}"),
        ),
    }
}

/// `perm.private-key` by Unix mode and owner: OpenSSH refuses a key another user owns or
/// others may read.
fn mode_finding(
    ctx: &Context,
    path: &Path,
    s: &str,
    mode: u32,
    other_owner: Option<u32>,
) -> Finding {
    let sp = ctx.shell_path(path);
    if let Some(uid) = other_owner {
        Finding::fail(
            CheckId::PermPrivateKey,
            s,
            format!("{s} belongs to another user (uid {uid}): OpenSSH refuses it"),
        )
        .remedy(crate::probes::perms::mode_remedy(
            ctx,
            path,
            "Take ownership back (as administrator):",
            format!("sudo chown \"$USER\" {sp} && chmod 600 {sp}"),
        ))
    } else if mode & 0o077 != 0 {
        Finding::fail(CheckId::PermPrivateKey, s, format!("{s} has mode {mode:04o}: OpenSSH refuses keys others can read (`UNPROTECTED PRIVATE KEY FILE`)"))
            .remedy(crate::probes::perms::mode_remedy(ctx, path, "Make it readable only by you:", format!("chmod 600 {sp}")))
    } else {
        Finding::pass(
            CheckId::PermPrivateKey,
            s,
            format!("mode {mode:04o}, yours"),
        )
    }
}
