//! `perm.*`: owners and modes of the files OpenSSH is strict about (upstream's rules:
//! group or world write is refused, whatever a distribution relaxes).

pub mod private_key;

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

/// Off Unix a file reads as private and the user's own: Windows' ACLs are judged apart.
fn facts(path: &Path, link: Option<PathBuf>, m: &std::fs::Metadata) -> FileFacts {
    let access = crate::platform::access(m).unwrap_or(crate::platform::Access {
        mode: 0o600,
        uid: 0,
    });
    FileFacts {
        path: path.to_path_buf(),
        link,
        mode: access.mode,
        uid: access.uid,
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
    let ssh = ctx.ssh_dir();
    let mut out = Vec::new();
    out.extend(check_home(ctx));
    out.extend(check_ssh_dir(ctx, &ssh));
    out.extend(check_config(ctx, state, &ssh));
    out.extend(check_known_hosts(ctx, state, &ssh));
    out.extend(check_authorized_keys(ctx, &ssh));
    push_with_listing(ctx, state, out);
}

/// Records the findings, and the listing of ~ and ~/.ssh that the bundle ships.
fn push_with_listing(ctx: &Context, state: &mut RunState, out: Vec<Finding>) {
    state.push(out);
    state
        .artifacts
        .insert("ssh/permissions.txt".into(), listing(ctx).into_bytes());
}

/// The mode as reports and evidence show it: four octal digits.
fn mode_text(mode: u32) -> String {
    format!("{mode:04o}")
}

/// Owned by neither this user nor root: OpenSSH distrusts what such a file says.
fn foreign(f: &FileFacts, me: u32) -> bool {
    f.uid != me && f.uid != 0
}

/// The config files ssh reads: `~/.ssh/config` and everything it includes (with the system
/// files too where the ACL rule covers them).
fn config_files(ssh: &Path, state: &RunState, with_system: bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = vec![ssh.join("config")];
    if let Some(cs) = &state.config {
        for f in cs.config.files.iter().filter(|f| with_system || !f.system) {
            if !files.contains(&f.path) {
                files.push(f.path.clone());
            }
        }
    }
    files
}

/// The known_hosts files ssh reads for the login nodes: the two defaults and every file the
/// nodes' configs name.
fn known_hosts_files(ctx: &Context, ssh: &Path, state: &RunState) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = vec![ssh.join("known_hosts"), ssh.join("known_hosts2")];
    for plan in crate::probes::plan_nodes(ctx, state) {
        for f in plan.known_hosts_files {
            if !files.contains(&f) {
                files.push(f);
            }
        }
    }
    files
}

/// The `perm.ssh-dir` skip when there is no ~/.ssh (the same words on every platform).
fn no_ssh_dir() -> Finding {
    Finding::skip(
        CheckId::PermSshDir,
        "~/.ssh",
        "there is no ~/.ssh yet (`ssh-keygen` creates it)",
    )
}

/// What `perm.home` saw of the home.
#[derive(Debug)]
enum HomeFact {
    /// Group or others may write to it: they could replace ~/.ssh.
    Writable(FileFacts),
    NotWritable(FileFacts),
    Unchecked(StatError),
}

/// `perm.home`: whether others may write to the home.
fn check_home(ctx: &Context) -> Option<Finding> {
    home_finding(ctx, observe_home(ctx))
}

/// Stats the home.
fn observe_home(ctx: &Context) -> HomeFact {
    match stat(&ctx.home) {
        Ok(f) if f.mode & 0o022 != 0 => HomeFact::Writable(f),
        Ok(f) => HomeFact::NotWritable(f),
        Err(e) => HomeFact::Unchecked(e),
    }
}

/// `perm.home` in words.
fn home_finding(ctx: &Context, fact: HomeFact) -> Option<Finding> {
    let id = CheckId::PermHome;
    let finding = match fact {
        HomeFact::Writable(f) => Finding::warn(
            id,
            "~",
            format!(
                "your home is writable by {} (mode {:04o}){}",
                who(f.mode),
                f.mode,
                link_note(ctx, &f)
            ),
        )
        .detail("Servers with StrictModes refuse keys under such a home, and others could replace ~/.ssh.")
        .remedy(Remedy::command(
            "Remove write access for group and others:",
            format!("chmod go-w {}", ctx.shell_shown("~")),
        ))
        .with("mode", mode_text(f.mode)),
        HomeFact::NotWritable(f) => Finding::pass(
            id,
            "~",
            format!("home is not writable by others (mode {:04o})", f.mode),
        )
        .with("mode", mode_text(f.mode)),
        HomeFact::Unchecked(e) => return stat_problem(ctx, id, &ctx.home, &e),
    };
    Some(finding)
}

/// What `perm.ssh-dir` saw of ~/.ssh.
#[derive(Debug)]
enum SshDirFact {
    Missing,
    NotADirectory,
    /// Another user (not root) owns it.
    ForeignOwner {
        uid: u32,
    },
    /// Others may write to it (OpenSSH refuses what is in it), or only read or enter it.
    TooOpen {
        f: FileFacts,
        writable: bool,
    },
    Private(FileFacts),
    Unchecked(StatError),
}

/// `perm.ssh-dir`: whether ~/.ssh is a directory of this user's that only they may enter.
fn check_ssh_dir(ctx: &Context, ssh: &Path) -> Option<Finding> {
    ssh_dir_finding(ctx, ssh, observe_ssh_dir(ssh, ctx.uid))
}

/// Stats ~/.ssh and sorts it by what OpenSSH makes of it.
fn observe_ssh_dir(ssh: &Path, me: u32) -> SshDirFact {
    match stat(ssh) {
        Ok(f) if !f.is_dir => SshDirFact::NotADirectory,
        Ok(f) if foreign(&f, me) => SshDirFact::ForeignOwner { uid: f.uid },
        Ok(f) if f.mode & 0o777 != 0o700 => SshDirFact::TooOpen {
            writable: f.mode & 0o022 != 0,
            f,
        },
        Ok(f) => SshDirFact::Private(f),
        Err(StatError::Missing) => SshDirFact::Missing,
        Err(e) => SshDirFact::Unchecked(e),
    }
}

/// `perm.ssh-dir` in words.
fn ssh_dir_finding(ctx: &Context, ssh: &Path, fact: SshDirFact) -> Option<Finding> {
    let id = CheckId::PermSshDir;
    let finding = match fact {
        SshDirFact::Missing => no_ssh_dir(),
        SshDirFact::NotADirectory => Finding::fail(id, "~/.ssh", "~/.ssh is not a directory")
            .remedy(Remedy::text(format!(
                "Move the file away and create the directory: mkdir -m 700 {}",
                ctx.shell_shown("~/.ssh")
            ))),
        SshDirFact::ForeignOwner { uid } => Finding::fail(
            id,
            "~/.ssh",
            format!("~/.ssh belongs to another user (uid {uid})"),
        )
        .remedy(mode_remedy(
            ctx,
            ssh,
            "Take ownership back (as administrator):",
            format!("sudo chown -R \"$USER\" {}", ctx.shell_shown("~/.ssh")),
        ))
        .with("uid", uid),
        SshDirFact::TooOpen { f, writable } => {
            let (severity, summary) = if writable {
                let words = format!(
                    "~/.ssh is writable by {} (mode {:04o})",
                    who(f.mode),
                    f.mode
                );
                (Severity::Fail, words)
            } else {
                let words = format!("~/.ssh has mode {:04o}; 0700 is recommended", f.mode);
                (Severity::Warn, words)
            };
            Finding::new(id, severity, "~/.ssh", summary + &link_note(ctx, &f))
                .remedy(mode_remedy(
                    ctx,
                    ssh,
                    "Make it private:",
                    format!("chmod 700 {}", ctx.shell_shown("~/.ssh")),
                ))
                .with("mode", mode_text(f.mode))
        }
        SshDirFact::Private(f) => Finding::pass(
            id,
            "~/.ssh",
            format!(
                "~/.ssh is private (mode {:04o}){}",
                f.mode,
                link_note(ctx, &f)
            ),
        )
        .with("mode", mode_text(f.mode)),
        SshDirFact::Unchecked(e) => return stat_problem(ctx, id, ssh, &e),
    };
    Some(finding)
}

/// Why OpenSSH distrusts a file it reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Distrust {
    /// Another user (not root) owns it.
    ForeignOwner,
    /// Others may write to it.
    Writable,
}

/// What a check over several files (`perm.config`, `perm.known-hosts`) saw of one of them.
#[derive(Debug)]
enum FileFact {
    Distrusted(FileFacts, Distrust),
    Trusted,
    Unchecked(PathBuf, StatError),
}

/// Observes each file under a check's rule.
fn observe_files(
    paths: &[PathBuf],
    rule: impl Fn(&FileFacts) -> Option<Distrust>,
) -> Vec<FileFact> {
    paths
        .iter()
        .map(|path| match stat(path) {
            Ok(f) => match rule(&f) {
                Some(why) => FileFact::Distrusted(f, why),
                None => FileFact::Trusted,
            },
            Err(e) => FileFact::Unchecked(path.clone(), e),
        })
        .collect()
}

/// A check over several files in words: one finding per distrusted or uncheckable file,
/// or else one pass that counts the files found (missing files count for neither).
fn files_findings(
    ctx: &Context,
    id: CheckId,
    facts: &[FileFact],
    distrusted: impl Fn(&FileFacts, Distrust) -> Finding,
    all_trusted: impl FnOnce(usize) -> Finding,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = facts
        .iter()
        .filter_map(|fact| match fact {
            FileFact::Distrusted(f, why) => Some(distrusted(f, *why)),
            FileFact::Trusted => None,
            FileFact::Unchecked(path, e) => stat_problem(ctx, id, path, e),
        })
        .collect();
    let trusted = facts
        .iter()
        .filter(|fact| matches!(fact, FileFact::Trusted))
        .count();
    if trusted > 0 && out.is_empty() {
        out.push(all_trusted(trusted));
    }
    out
}

/// `perm.config`: the user's config files (not the system's), each under ssh's rule.
fn check_config(ctx: &Context, state: &RunState, ssh: &Path) -> Vec<Finding> {
    let files = config_files(ssh, state, false);
    let facts = observe_files(&files, |f| config_distrust(f, ctx.uid));
    config_findings(ctx, &facts)
}

/// `perm.config`'s rule: ssh stops on a config another user owns or others may write to.
fn config_distrust(f: &FileFacts, me: u32) -> Option<Distrust> {
    if foreign(f, me) {
        Some(Distrust::ForeignOwner)
    } else if f.mode & 0o022 != 0 {
        Some(Distrust::Writable)
    } else {
        None
    }
}

/// `perm.config` in words.
fn config_findings(ctx: &Context, facts: &[FileFact]) -> Vec<Finding> {
    let id = CheckId::PermConfig;
    let distrusted = |f: &FileFacts, why: Distrust| {
        let shown = ctx.show(&f.path);
        let p = ctx.shell_path(&f.path);
        let (problem, remedy) = match why {
            Distrust::ForeignOwner => (
                format!("owned by another user (uid {})", f.uid),
                mode_remedy(
                    ctx,
                    &f.path,
                    "Take ownership back (as administrator) and restrict it:",
                    format!("sudo chown \"$USER\" {p} && chmod 600 {p}"),
                ),
            ),
            Distrust::Writable => (
                format!("writable by {} (mode {:04o})", who(f.mode), f.mode),
                mode_remedy(ctx, &f.path, "Restrict it:", format!("chmod 600 {p}")),
            ),
        };
        Finding::fail(
            id,
            &shown,
            format!("{shown} is {problem}: OpenSSH stops with `Bad owner or permissions`"),
        )
        .remedy(remedy)
        .with("mode", mode_text(f.mode))
        .with("uid", f.uid)
    };
    files_findings(ctx, id, facts, distrusted, |n| {
        Finding::pass(
            id,
            "~/.ssh/config",
            format!("{n} config file(s) owned by you and not writable by others"),
        )
    })
}

/// `perm.known-hosts`: every known_hosts file ssh reads for the login nodes.
fn check_known_hosts(ctx: &Context, state: &RunState, ssh: &Path) -> Vec<Finding> {
    let files = known_hosts_files(ctx, ssh, state);
    let facts = observe_files(&files, |f| known_hosts_distrust(f, ctx.uid));
    known_hosts_findings(ctx, &facts)
}

/// `perm.known-hosts`' rule: a known_hosts file everyone may write to, or another user
/// owns, can be made to vouch for any host key.
fn known_hosts_distrust(f: &FileFacts, me: u32) -> Option<Distrust> {
    if f.mode & 0o002 != 0 {
        Some(Distrust::Writable)
    } else if foreign(f, me) {
        Some(Distrust::ForeignOwner)
    } else {
        None
    }
}

/// `perm.known-hosts` in words.
fn known_hosts_findings(ctx: &Context, facts: &[FileFact]) -> Vec<Finding> {
    let id = CheckId::PermKnownHosts;
    let distrusted = |f: &FileFacts, why: Distrust| {
        let problem = match why {
            Distrust::Writable => format!("writable by everyone (mode {:04o})", f.mode),
            Distrust::ForeignOwner => format!("owned by another user (uid {})", f.uid),
        };
        Finding::warn(
            id,
            ctx.show(&f.path),
            format!("{} is {problem}", ctx.show(&f.path)),
        )
        .remedy(mode_remedy(
            ctx,
            &f.path,
            "Restrict it:",
            format!("chmod 644 {}", ctx.shell_path(&f.path)),
        ))
    };
    files_findings(ctx, id, facts, distrusted, |n| {
        Finding::pass(
            id,
            "~/.ssh/known_hosts",
            format!("{n} known_hosts file(s) not writable by others"),
        )
    })
}

/// What `perm.authorized-keys` saw of ~/.ssh/authorized_keys.
#[derive(Debug)]
enum AuthorizedKeysFact {
    /// Group or others may add keys to it.
    Writable {
        mode: u32,
    },
    NotWritable {
        mode: u32,
    },
    Unchecked(StatError),
}

/// `perm.authorized-keys`: whether others may add keys to ~/.ssh/authorized_keys.
fn check_authorized_keys(ctx: &Context, ssh: &Path) -> Option<Finding> {
    let path = ssh.join("authorized_keys");
    authorized_keys_finding(ctx, &path, observe_authorized_keys(&path))
}

/// Stats ~/.ssh/authorized_keys.
fn observe_authorized_keys(path: &Path) -> AuthorizedKeysFact {
    match stat(path) {
        Ok(f) if f.mode & 0o022 != 0 => AuthorizedKeysFact::Writable { mode: f.mode },
        Ok(f) => AuthorizedKeysFact::NotWritable { mode: f.mode },
        Err(e) => AuthorizedKeysFact::Unchecked(e),
    }
}

/// `perm.authorized-keys` in words.
fn authorized_keys_finding(
    ctx: &Context,
    path: &Path,
    fact: AuthorizedKeysFact,
) -> Option<Finding> {
    let id = CheckId::PermAuthorizedKeys;
    let finding = match fact {
        AuthorizedKeysFact::Writable { mode } => Finding::warn(
            id,
            "~/.ssh/authorized_keys",
            format!(
                "~/.ssh/authorized_keys is writable by {} (mode {mode:04o})",
                who(mode)
            ),
        )
        .remedy(mode_remedy(
            ctx,
            path,
            "Restrict it:",
            format!("chmod 600 {}", ctx.shell_shown("~/.ssh/authorized_keys")),
        )),
        AuthorizedKeysFact::NotWritable { mode } => Finding::pass(
            id,
            "~/.ssh/authorized_keys",
            format!("not writable by others (mode {mode:04o})"),
        ),
        AuthorizedKeysFact::Unchecked(e) => return stat_problem(ctx, id, path, &e),
    };
    Some(finding)
}

/// The files OpenSSH for Windows checks, judged by their ACLs (see `platform::windows`).
fn windows_run(ctx: &Context, state: &mut RunState) {
    let user_sid = crate::platform::current_user_sid().unwrap_or_default();
    let ssh = ctx.ssh_dir();
    let acl = |id: CheckId, path: &Path, bad: Severity| acl_check(ctx, &user_sid, id, path, bad);
    let mut out = Vec::new();
    out.extend(acl(CheckId::PermHome, &ctx.home, Severity::Warn));
    // OpenSSH for Windows checks the files, not ~/.ssh itself: a writable ~/.ssh is a risk
    // (others could add files), not a refusal.
    out.push(acl(CheckId::PermSshDir, &ssh, Severity::Warn).unwrap_or_else(no_ssh_dir));
    for path in config_files(&ssh, state, true) {
        out.extend(acl(CheckId::PermConfig, &path, Severity::Fail));
    }
    for path in known_hosts_files(ctx, &ssh, state) {
        out.extend(acl(CheckId::PermKnownHosts, &path, Severity::Warn));
    }
    let authorized_keys = ssh.join("authorized_keys");
    out.extend(acl(
        CheckId::PermAuthorizedKeys,
        &authorized_keys,
        Severity::Warn,
    ));
    push_with_listing(ctx, state, out);
}

/// One file's `perm.*` verdict from its ACL; `None` when the file does not exist.
fn acl_check(
    ctx: &Context,
    user_sid: &str,
    id: CheckId,
    path: &Path,
    bad: Severity,
) -> Option<Finding> {
    use crate::platform::windows::FileRole;
    match crate::platform::file_acl(path) {
        Ok(acl) => Some(acl_finding(
            ctx,
            id,
            path,
            FileRole::Shared,
            &acl,
            user_sid,
            bad,
        )),
        Err(_) if !path.exists() => None,
        Err(e) => Some(Finding::warn(
            id,
            ctx.show(path),
            format!("{} cannot be checked: {e}", ctx.show(path)),
        )),
    }
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
                "In PowerShell opened with \"Run as administrator\" while signed in as yourself (taking a file from another account needs it; the first command finds your account): make yourself the owner, remove inherited access, give yourself full control and remove the accounts named:"
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
                let (mode, uid) = crate::platform::access(&m).map_or((0, 0), |a| (a.mode, a.uid));
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
