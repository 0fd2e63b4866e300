//! `perm.*`: owners and modes of the files OpenSSH is strict about (upstream's rules:
//! group or world write is refused, whatever a distribution relaxes).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy, Severity};
use crate::runner::RunState;

/// Owner and mode of a path, following symlinks safely.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFacts {
    pub path: PathBuf,
    /// Where a symlink points (the link text).
    pub link: Option<PathBuf>,
    pub mode: u32,
    pub uid: u32,
    pub is_dir: bool,
    pub is_file: bool,
}

/// Why facts could not be had.
#[derive(Debug, Clone, PartialEq)]
pub enum StatError {
    Missing,
    LinkLoop(PathBuf),
    Other(String),
}

/// Stats a path; a symlink is followed once by the OS and its text reported.
pub fn stat(path: &Path) -> Result<FileFacts, StatError> {
    let link = std::fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.file_type().is_symlink())
        .and_then(|_| std::fs::read_link(path).ok());
    match std::fs::metadata(path) {
        Ok(m) => Ok(facts(path, link, &m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && link.is_none() => {
            Err(StatError::Missing)
        }
        Err(e) if crate::platform::is_link_loop(&e) => {
            Err(StatError::LinkLoop(link.unwrap_or_default()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StatError::Other(format!(
            "is a symlink to {} which does not exist",
            link.unwrap_or_default().display()
        ))),
        Err(e) => Err(StatError::Other(e.to_string())),
    }
}

#[cfg(unix)]
fn facts(path: &Path, link: Option<PathBuf>, m: &std::fs::Metadata) -> FileFacts {
    use std::os::unix::fs::MetadataExt;
    FileFacts {
        path: path.to_path_buf(),
        link,
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        is_dir: m.is_dir(),
        is_file: m.is_file(),
    }
}

#[cfg(not(unix))]
fn facts(path: &Path, link: Option<PathBuf>, m: &std::fs::Metadata) -> FileFacts {
    FileFacts {
        path: path.to_path_buf(),
        link,
        mode: 0o600,
        uid: 0,
        is_dir: m.is_dir(),
        is_file: m.is_file(),
    }
}

/// The first link on the way from the home (exclusive) down to `path`, or `path` itself
/// wherever it is, with the link's target.
pub fn link_on_the_way(ctx: &Context, path: &Path) -> Option<(PathBuf, PathBuf)> {
    // Every folder below the home on the way (`~/dotfiles` as a link counts), and the
    // path itself wherever it is; the home itself may be a link (common, and the user's).
    let mut chain: Vec<PathBuf> = path
        .ancestors()
        .enumerate()
        .take_while(|(i, p)| *i == 0 || (p.starts_with(&ctx.home) && *p != ctx.home))
        .map(|(_, p)| p.to_path_buf())
        .collect();
    chain.reverse();
    chain.into_iter().find_map(|p| {
        let is_link = std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink());
        is_link.then(|| {
            let to = std::fs::read_link(&p).unwrap_or_default();
            (p, to)
        })
    })
}

/// A `chmod`/`chown` remedy for `path`, unless the path is reached through a link: a
/// mode change would then land on whatever the link points to (even `/dev/zero`), so
/// the remedy names the link instead.
pub fn mode_remedy(ctx: &Context, path: &Path, text: &str, command: String) -> Remedy {
    match link_on_the_way(ctx, path) {
        None => Remedy::command(text, command),
        Some((link, to)) => Remedy::text(format!(
            "{} is a link to {}: the doctor never suggests changing a file through a link. Replace the link with a real file of your own (or, if the target is yours and meant for this, fix the target's permissions yourself).",
            ctx.show(&link),
            ctx.show(&to)
        )),
    }
}

fn link_note(ctx: &Context, f: &FileFacts) -> String {
    f.link
        .as_ref()
        .map(|l| format!(" (a symlink to {})", ctx.show(l)))
        .unwrap_or_default()
}

fn stat_problem(ctx: &Context, id: CheckId, path: &Path, e: &StatError) -> Option<Finding> {
    let shown = ctx.show(path);
    match e {
        StatError::Missing => None,
        StatError::LinkLoop(to) => Some(
            Finding::fail(
                id,
                &shown,
                format!("{shown} is a symlink loop (points to {})", to.display()),
            )
            .remedy(Remedy::command(
                "Replace the link with the real file.",
                format!("ls -l {}", ctx.shell_path(path)),
            )),
        ),
        StatError::Other(err) => Some(Finding::warn(
            id,
            &shown,
            format!("{shown} cannot be checked: {err}"),
        )),
    }
}

/// Runs the permission checks.
pub fn run(ctx: &Context, state: &mut RunState) {
    if !ctx.os.has_unix_modes() {
        return windows_run(ctx, state);
    }
    let mut out = Vec::new();
    let me = ctx.uid;

    // perm.home
    match stat(&ctx.home) {
        Ok(f) if f.mode & 0o022 != 0 => out.push(
            Finding::warn(CheckId::PermHome, "~", format!("your home is writable by {} (mode {:04o}){}", who(f.mode), f.mode, link_note(ctx, &f)))
                .detail("Servers with StrictModes refuse keys under such a home, and others could replace ~/.ssh.")
                .remedy(Remedy::command("Remove write access for group and others:", "chmod go-w ~"))
                .with("mode", format!("{:04o}", f.mode)),
        ),
        Ok(f) => out.push(Finding::pass(CheckId::PermHome, "~", format!("home is not writable by others (mode {:04o})", f.mode)).with("mode", format!("{:04o}", f.mode))),
        Err(e) => out.extend(stat_problem(ctx, CheckId::PermHome, &ctx.home, &e)),
    }

    // perm.ssh-dir
    let ssh = ctx.ssh_dir();
    match stat(&ssh) {
        Ok(f) if !f.is_dir => out.push(
            Finding::fail(CheckId::PermSshDir, "~/.ssh", "~/.ssh is not a directory").remedy(
                Remedy::text("Move the file away and create the directory: mkdir -m 700 ~/.ssh"),
            ),
        ),
        Ok(f) if f.uid != me && f.uid != 0 => out.push(
            Finding::fail(
                CheckId::PermSshDir,
                "~/.ssh",
                format!("~/.ssh belongs to another user (uid {})", f.uid),
            )
            .remedy(mode_remedy(
                ctx,
                &ssh,
                "Take ownership back (as administrator):",
                "sudo chown -R \"$USER\" ~/.ssh".into(),
            ))
            .with("uid", f.uid),
        ),
        Ok(f) if f.mode & 0o022 != 0 => out.push(
            Finding::fail(
                CheckId::PermSshDir,
                "~/.ssh",
                format!(
                    "~/.ssh is writable by {} (mode {:04o}){}",
                    who(f.mode),
                    f.mode,
                    link_note(ctx, &f)
                ),
            )
            .remedy(mode_remedy(
                ctx,
                &ssh,
                "Make it private:",
                "chmod 700 ~/.ssh".into(),
            ))
            .with("mode", format!("{:04o}", f.mode)),
        ),
        Ok(f) if f.mode & 0o777 != 0o700 => out.push(
            Finding::warn(
                CheckId::PermSshDir,
                "~/.ssh",
                format!(
                    "~/.ssh has mode {:04o}; 0700 is recommended{}",
                    f.mode,
                    link_note(ctx, &f)
                ),
            )
            .remedy(mode_remedy(
                ctx,
                &ssh,
                "Make it private:",
                "chmod 700 ~/.ssh".into(),
            ))
            .with("mode", format!("{:04o}", f.mode)),
        ),
        Ok(f) => out.push(
            Finding::pass(
                CheckId::PermSshDir,
                "~/.ssh",
                format!(
                    "~/.ssh is private (mode {:04o}){}",
                    f.mode,
                    link_note(ctx, &f)
                ),
            )
            .with("mode", format!("{:04o}", f.mode)),
        ),
        Err(StatError::Missing) => out.push(Finding::skip(
            CheckId::PermSshDir,
            "~/.ssh",
            "there is no ~/.ssh yet (`ssh-keygen` creates it)",
        )),
        Err(e) => out.extend(stat_problem(ctx, CheckId::PermSshDir, &ssh, &e)),
    }

    // perm.config: the user's config and everything it includes.
    let mut config_files: Vec<PathBuf> = vec![ssh.join("config")];
    if let Some(cs) = &state.config {
        for f in cs.config.files.iter().filter(|f| !f.system) {
            if !config_files.contains(&f.path) {
                config_files.push(f.path.clone());
            }
        }
    }
    let mut config_ok = 0;
    for path in &config_files {
        let shown = ctx.show(path);
        match stat(path) {
            Ok(f) if (f.uid != me && f.uid != 0) || f.mode & 0o022 != 0 => out.push(
                Finding::fail(
                    CheckId::PermConfig,
                    &shown,
                    format!(
                        "{shown} is {}: OpenSSH stops with `Bad owner or permissions`",
                        if f.uid != me && f.uid != 0 {
                            format!("owned by another user (uid {})", f.uid)
                        } else {
                            format!("writable by {} (mode {:04o})", who(f.mode), f.mode)
                        }
                    ),
                )
                .remedy(if f.uid != me && f.uid != 0 {
                    mode_remedy(
                        ctx,
                        path,
                        "Take ownership back (as administrator) and restrict it:",
                        format!(
                            "sudo chown \"$USER\" {p} && chmod 600 {p}",
                            p = ctx.shell_path(path)
                        ),
                    )
                } else {
                    mode_remedy(
                        ctx,
                        path,
                        "Restrict it:",
                        format!("chmod 600 {}", ctx.shell_path(path)),
                    )
                })
                .with("mode", format!("{:04o}", f.mode))
                .with("uid", f.uid),
            ),
            Ok(_) => config_ok += 1,
            Err(e) => out.extend(stat_problem(ctx, CheckId::PermConfig, path, &e)),
        }
    }
    if config_ok > 0 && !out.iter().any(|f| f.id == CheckId::PermConfig) {
        out.push(Finding::pass(
            CheckId::PermConfig,
            "~/.ssh/config",
            format!("{config_ok} config file(s) owned by you and not writable by others"),
        ));
    }

    // perm.known-hosts
    let mut kh: Vec<PathBuf> = vec![ssh.join("known_hosts"), ssh.join("known_hosts2")];
    for plan in crate::probes::plan_nodes(ctx, state) {
        for f in plan.known_hosts_files {
            if !kh.contains(&f) {
                kh.push(f);
            }
        }
    }
    let mut kh_seen = 0;
    for path in &kh {
        match stat(path) {
            Ok(f) if f.mode & 0o002 != 0 || (f.uid != me && f.uid != 0) => out.push(
                Finding::warn(
                    CheckId::PermKnownHosts,
                    ctx.show(path),
                    format!(
                        "{} is {}",
                        ctx.show(path),
                        if f.mode & 0o002 != 0 {
                            format!("writable by everyone (mode {:04o})", f.mode)
                        } else {
                            format!("owned by another user (uid {})", f.uid)
                        }
                    ),
                )
                .remedy(mode_remedy(
                    ctx,
                    path,
                    "Restrict it:",
                    format!("chmod 644 {}", ctx.shell_path(path)),
                )),
            ),
            Ok(_) => kh_seen += 1,
            Err(e) => out.extend(stat_problem(ctx, CheckId::PermKnownHosts, path, &e)),
        }
    }
    if kh_seen > 0 && !out.iter().any(|f| f.id == CheckId::PermKnownHosts) {
        out.push(Finding::pass(
            CheckId::PermKnownHosts,
            "~/.ssh/known_hosts",
            format!("{kh_seen} known_hosts file(s) not writable by others"),
        ));
    }

    // perm.authorized-keys
    let ak = ssh.join("authorized_keys");
    match stat(&ak) {
        Ok(f) if f.mode & 0o022 != 0 => out.push(
            Finding::warn(
                CheckId::PermAuthorizedKeys,
                "~/.ssh/authorized_keys",
                format!(
                    "~/.ssh/authorized_keys is writable by {} (mode {:04o})",
                    who(f.mode),
                    f.mode
                ),
            )
            .remedy(mode_remedy(
                ctx,
                &ak,
                "Restrict it:",
                "chmod 600 ~/.ssh/authorized_keys".into(),
            )),
        ),
        Ok(f) => out.push(Finding::pass(
            CheckId::PermAuthorizedKeys,
            "~/.ssh/authorized_keys",
            format!("not writable by others (mode {:04o})", f.mode),
        )),
        Err(e) => out.extend(stat_problem(ctx, CheckId::PermAuthorizedKeys, &ak, &e)),
    }

    state.push(out);
    state
        .artifacts
        .insert("ssh/permissions.txt".into(), listing(ctx).into_bytes());
}

/// The files OpenSSH for Windows checks, judged by their ACLs (see `platform::windows`).
fn windows_run(ctx: &Context, state: &mut RunState) {
    use crate::platform::windows::FileRole;
    let user_sid = crate::platform::current_user_sid().unwrap_or_default();
    let ssh = ctx.ssh_dir();
    let mut out = Vec::new();
    let judge = |id: CheckId, path: &Path, bad: Severity, out: &mut Vec<Finding>| -> bool {
        match crate::platform::file_acl(path) {
            Ok(acl) => {
                out.push(acl_finding(
                    ctx,
                    id,
                    path,
                    FileRole::Shared,
                    &acl,
                    &user_sid,
                    bad,
                ));
                true
            }
            Err(_) if !path.exists() => false,
            Err(e) => {
                out.push(Finding::warn(
                    id,
                    ctx.show(path),
                    format!("{} cannot be checked: {e}", ctx.show(path)),
                ));
                true
            }
        }
    };
    judge(CheckId::PermHome, &ctx.home, Severity::Warn, &mut out);
    // OpenSSH for Windows checks the files, not ~/.ssh itself: a writable ~/.ssh is a risk
    // (others could add files), not a refusal.
    if !judge(CheckId::PermSshDir, &ssh, Severity::Warn, &mut out) {
        out.push(Finding::skip(
            CheckId::PermSshDir,
            "~/.ssh",
            "there is no ~/.ssh yet (`ssh-keygen` creates it)",
        ));
    }
    let mut config_files: Vec<PathBuf> = vec![ssh.join("config")];
    if let Some(cs) = &state.config {
        for f in cs.config.files.iter() {
            if !config_files.contains(&f.path) {
                config_files.push(f.path.clone());
            }
        }
    }
    for path in &config_files {
        judge(CheckId::PermConfig, path, Severity::Fail, &mut out);
    }
    let mut kh: Vec<PathBuf> = vec![ssh.join("known_hosts"), ssh.join("known_hosts2")];
    for plan in crate::probes::plan_nodes(ctx, state) {
        for f in plan.known_hosts_files {
            if !kh.contains(&f) {
                kh.push(f);
            }
        }
    }
    for path in &kh {
        judge(CheckId::PermKnownHosts, path, Severity::Warn, &mut out);
    }
    judge(
        CheckId::PermAuthorizedKeys,
        &ssh.join("authorized_keys"),
        Severity::Warn,
        &mut out,
    );
    state.push(out);
    state
        .artifacts
        .insert("ssh/permissions.txt".into(), listing(ctx).into_bytes());
}

/// A `perm.*` verdict from a Windows ACL: OpenSSH for Windows' rule, the offending
/// accounts by name and SID, and the icacls commands (PowerShell) that fix it.
pub fn acl_finding(
    ctx: &Context,
    id: CheckId,
    path: &Path,
    role: crate::platform::windows::FileRole,
    acl: &crate::platform::windows::Acl,
    user_sid: &str,
    bad: Severity,
) -> Finding {
    use crate::platform::windows::{evaluate, icacls_fix, is_trusted, FileRole};
    let shown = ctx.show(path);
    let v = evaluate(acl, user_sid, role);
    // Evidence keeps well-known SIDs and rights only: account names and the user's own SID
    // identify the machine.
    let evidence = |f: Finding| {
        f.with("owner_trusted", v.bad_owner.is_none()).with(
            "other_allowed",
            acl.entries
                .iter()
                .filter(|a| a.allow && !is_trusted(&a.sid, user_sid))
                .map(|a| format!("{} 0x{:08x}", well_known(&a.sid), a.rights))
                .collect::<Vec<_>>(),
        )
    };
    if v.ok() {
        let words = match role {
            FileRole::PrivateKey => "only you, Administrators and SYSTEM have access",
            FileRole::Shared => {
                "owned by you (or an administrator account) and not writable by others"
            }
        };
        return evidence(Finding::pass(id, &shown, words));
    }
    let mut problems = Vec::new();
    if let Some((sid, name)) = &v.bad_owner {
        problems.push(format!("is owned by {name} ({sid})"));
    }
    if !v.offenders.is_empty() {
        problems.push(match role {
            FileRole::PrivateKey => format!("can be read by {}", v.offenders_words()),
            FileRole::Shared => format!("can be changed by {}", v.offenders_words()),
        });
    }
    let consequence = match (role, id) {
        (FileRole::PrivateKey, _) => {
            ": OpenSSH for Windows says `UNPROTECTED PRIVATE KEY FILE!` and skips the key"
        }
        (_, CheckId::PermConfig) => ": OpenSSH for Windows stops with `Bad owner or permissions`",
        _ => "",
    };
    let summary = format!("{shown} {}{consequence}", problems.join(" and "));
    let f = Finding::new(id, bad, &shown, summary)
        .remedy(Remedy::command(
            if v.bad_owner.is_some() {
                "In an administrator PowerShell: make yourself the owner, remove inherited access, give yourself full control and remove the accounts named:"
            } else {
                "In PowerShell: remove inherited access, give yourself full control and remove the accounts named:"
            },
            icacls_fix(&ctx.shell_path(path), &v),
        ))
        .with(
            "offenders",
            v.offenders
                .iter()
                .map(|(sid, _)| well_known(sid))
                .collect::<Vec<_>>(),
        );
    evidence(f)
}

/// A SID for evidence: the well-known ones as they are, others (which name a machine or
/// domain) reduced to their kind.
fn well_known(sid: &str) -> String {
    if sid.starts_with("S-1-5-21-") {
        "S-1-5-21-… (a machine or domain account)".to_string()
    } else {
        sid.to_string()
    }
}

/// A listing line from a Windows ACL: the owner's kind and how many other accounts have
/// access (well-known SIDs by name, no account names: they would identify the user).
fn windows_line(ctx: &Context, path: &Path, kind: &str, out: &mut String) {
    use crate::platform::windows::{is_trusted, SID_ADMINISTRATORS, SID_SYSTEM};
    let me = crate::platform::current_user_sid().unwrap_or_default();
    let (owner, others) = match crate::platform::file_acl(path) {
        Ok(acl) => {
            let owner = if acl.owner_sid.eq_ignore_ascii_case(&me) {
                "you"
            } else if acl.owner_sid == SID_ADMINISTRATORS {
                "Administrators"
            } else if acl.owner_sid == SID_SYSTEM {
                "SYSTEM"
            } else {
                "another"
            };
            let others = acl
                .entries
                .iter()
                .filter(|a| a.allow && !is_trusted(&a.sid, &me))
                .count();
            (owner, others.to_string())
        }
        Err(_) => ("-", "-".to_string()),
    };
    let _ = writeln!(
        out,
        "acl   {owner:14} {kind:8} {} (other accounts with access: {others})",
        ctx.show(path)
    );
}

fn who(mode: u32) -> &'static str {
    match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "group and others",
        (true, false) => "the group",
        _ => "others",
    }
}

/// `ls -l`-like lines for ~, ~/.ssh and every entry in it: names, modes, owners; never contents.
pub fn listing(ctx: &Context) -> String {
    let mut out = String::from("# mode  owner        type     path\n");
    let mut line = |path: &Path| {
        let (mode, owner, kind) = match std::fs::symlink_metadata(path) {
            Ok(m) => {
                let t = m.file_type();
                let kind = if t.is_symlink() {
                    "symlink"
                } else if t.is_dir() {
                    "dir"
                } else if t.is_file() {
                    "file"
                } else {
                    "special"
                };
                #[cfg(unix)]
                let (mode, uid) = {
                    use std::os::unix::fs::MetadataExt;
                    (m.mode() & 0o7777, m.uid())
                };
                #[cfg(not(unix))]
                let (mode, uid) = (0u32, 0u32);
                if !ctx.os.has_unix_modes() {
                    return windows_line(ctx, path, kind, &mut out);
                }
                let owner = if uid == ctx.uid {
                    "you".to_string()
                } else if uid == 0 {
                    "root".to_string()
                } else {
                    format!("uid {uid}")
                };
                (format!("{mode:04o}"), owner, kind)
            }
            Err(_) => ("----".into(), "-".into(), "missing"),
        };
        let target = std::fs::read_link(path)
            .map(|t| format!(" -> {}", ctx.show(&t)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{mode}  {owner:12} {kind:8} {}{target}",
            ctx.show(path)
        );
    };
    line(&ctx.home);
    let ssh = ctx.ssh_dir();
    line(&ssh);
    if let Ok(entries) = std::fs::read_dir(&ssh) {
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .take(5000)
            .collect();
        names.sort();
        for p in names {
            line(&p);
        }
    }
    out
}
