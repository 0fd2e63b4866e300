//! `config.putty-session`: PuTTY's saved session for each login node (Windows users who
//! log in with PuTTY never touch ~/.ssh/config). Read-only: the registry is never written.

use std::path::Path;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy, Severity};
use crate::keyfile::KeyFormat;
use crate::platform::windows::{Putty, PuttySession};
use crate::profile::Node;
use crate::runner::RunState;

/// Runs on Windows, where PuTTY keeps its sessions in the registry.
pub fn run(ctx: &Context, state: &mut RunState) {
    if ctx.os != crate::platform::Os::Windows {
        return;
    }
    let putty = crate::platform::putty_sessions();
    state.push(session_findings(ctx, &putty));
}

/// The host part of PuTTY's HostName, which may be `user@host`.
fn split_host(value: &str) -> (Option<&str>, &str) {
    match value.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, value),
    }
}

/// One finding per saved session that points at a login node (by host name, or by a
/// session named like the alias).
pub fn session_findings(ctx: &Context, putty: &Putty) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in ctx.profile.nodes() {
        if !ctx.nodes.iter().any(|a| a == node.alias()) {
            continue;
        }
        for s in &putty.sessions {
            let host_value = s.host_name.clone().unwrap_or_default();
            let (host_user, host) = split_host(&host_value);
            let by_host = host.eq_ignore_ascii_case(node.hostname());
            let by_name = s.name.eq_ignore_ascii_case(node.alias());
            if !by_host && !by_name {
                continue;
            }
            let user = host_user
                .map(str::to_string)
                .or_else(|| s.user_name.clone());
            let facts = observe_session(ctx, node, s, by_host, user.as_deref());
            let host_key_cached = putty
                .host_keys
                .iter()
                .any(|(_, p, h)| *p == s.port.unwrap_or(22) && h.eq_ignore_ascii_case(host));
            out.push(session_finding(ctx, &facts).with("host_key_cached", host_key_cached));
        }
    }
    out
}

/// What `config.putty-session` saw of one saved session for a login node.
#[derive(Debug)]
struct SessionFacts<'a> {
    alias: &'a str,
    hostname: &'a str,
    port: u16,
    session: &'a PuttySession,
    /// The session names the node's host (not only a session name like the alias).
    by_host: bool,
    user: Option<&'a str>,
    user_verdict: UserVerdict,
    /// The key file as reports show paths (`~/.ssh/mlcloud.ppk`).
    shown_key: Option<String>,
    key_format: Option<KeyFormat>,
    key: KeyVerdict,
}

/// The session's auto-login username, by the site's rules.
#[derive(Debug, Clone, Copy, PartialEq)]
enum UserVerdict {
    Missing,
    /// Copied from a guide or a form, or an e-mail address.
    Placeholder,
    /// Not of the shape the site's usernames have.
    Unusual,
    Fine,
}

/// The session's private key file.
#[derive(Debug, Clone, PartialEq)]
enum KeyVerdict {
    /// None named: fine only when Pageant holds the key.
    NotNamed,
    Unreadable,
    /// A .ppk, judged by the site's key policy.
    Ppk {
        algorithm: Option<AlgorithmProblem>,
        without_passphrase: bool,
    },
    PublicKey,
    /// An OpenSSH or PEM private key, which PuTTY cannot load.
    NotPpk,
    NotAKey,
}

/// What the site's key policy says of a .ppk's type and size.
#[derive(Debug, Clone, PartialEq)]
enum AlgorithmProblem {
    RsaTooShort { bits: u32, min: u32 },
    Dsa,
    NotRecommended { algorithm: String },
}

/// Observes a session: its username and key file, judged by the site's rules.
fn observe_session<'a>(
    ctx: &Context,
    node: &'a Node,
    s: &'a PuttySession,
    by_host: bool,
    user: Option<&'a str>,
) -> SessionFacts<'a> {
    let (key_format, key) = match s.public_key_file.as_deref() {
        None => (None, KeyVerdict::NotNamed),
        Some(raw) => match std::fs::read(Path::new(raw)) {
            Err(_) => (None, KeyVerdict::Unreadable),
            Ok(bytes) => {
                let facts = crate::keyfile::sniff(&bytes);
                (Some(facts.format), key_verdict(ctx, &facts))
            }
        },
    };
    SessionFacts {
        alias: node.alias(),
        hostname: node.hostname(),
        port: node.port(),
        session: s,
        by_host,
        user,
        user_verdict: user_verdict(ctx, user),
        // Shown like every other path: `~/.ssh/mlcloud.ppk`.
        shown_key: s.public_key_file.as_deref().map(|k| ctx.show(Path::new(k))),
        key_format,
        key,
    }
}

/// Judges the username by the site's rules.
fn user_verdict(ctx: &Context, user: Option<&str>) -> UserVerdict {
    let Some(u) = user else {
        return UserVerdict::Missing;
    };
    let placeholder = ctx
        .profile
        .placeholder_users
        .iter()
        .any(|p| p.eq_ignore_ascii_case(u))
        || u.contains('@')
        || (u.starts_with('<') && u.ends_with('>'));
    if placeholder {
        UserVerdict::Placeholder
    } else if ctx.profile.username_regex().is_some_and(|p| !p.is_match(u)) {
        UserVerdict::Unusual
    } else {
        UserVerdict::Fine
    }
}

/// Judges a key file by its format and, for a .ppk, by the site's key policy (the same
/// as for OpenSSH keys: type, size, passphrase).
fn key_verdict(ctx: &Context, facts: &crate::keyfile::KeyFacts) -> KeyVerdict {
    match facts.format {
        KeyFormat::PuttyV2 | KeyFormat::PuttyV3 => KeyVerdict::Ppk {
            algorithm: algorithm_problem(ctx, facts),
            without_passphrase: facts.encrypted == Some(false)
                && ctx.profile.policy.require_passphrase,
        },
        KeyFormat::PublicKey => KeyVerdict::PublicKey,
        f if f.is_private() => KeyVerdict::NotPpk,
        _ => KeyVerdict::NotAKey,
    }
}

/// What the site's key policy says of a .ppk's type and size, if anything.
fn algorithm_problem(ctx: &Context, facts: &crate::keyfile::KeyFacts) -> Option<AlgorithmProblem> {
    let policy = &ctx.profile.policy;
    let allowed = |n: &str| policy.key_types().iter().any(|t| t == n);
    match (facts.algorithm.as_deref(), facts.bits) {
        (Some("ssh-rsa"), Some(bits)) if bits < policy.min_rsa_bits() => {
            Some(AlgorithmProblem::RsaTooShort {
                bits,
                min: policy.min_rsa_bits(),
            })
        }
        (Some("ssh-rsa"), _) if allowed("rsa") || allowed("ssh-rsa") => None,
        (Some("ssh-dss"), _) => Some(AlgorithmProblem::Dsa),
        (Some(a), _) if !allowed(a) => Some(AlgorithmProblem::NotRecommended {
            algorithm: a.to_string(),
        }),
        _ => None,
    }
}

/// What is wrong with the session, in the order the summary lists it, each with its
/// severity.
fn problems(ctx: &Context, facts: &SessionFacts) -> Vec<(Severity, String)> {
    let (s, hostname, port) = (facts.session, facts.hostname, facts.port);
    let mut problems: Vec<(Severity, String)> = Vec::new();
    if !facts.by_host {
        problems.push((
            Severity::Warn,
            format!(
                "its host name is `{}`, not {hostname}",
                s.host_name.as_deref().unwrap_or("(empty)")
            ),
        ));
    }
    match s.port {
        Some(p) if p != port => problems.push((
            Severity::Fail,
            format!("it connects to port {p}; the node listens on {port}"),
        )),
        _ => {}
    }
    problems.extend(user_problem(facts));
    problems.extend(key_problems(ctx, facts));
    problems
}

/// The username's problem in words, if it has one.
fn user_problem(facts: &SessionFacts) -> Option<(Severity, String)> {
    let u = facts.user.unwrap_or_default();
    match facts.user_verdict {
        UserVerdict::Missing => Some((
            Severity::Warn,
            "it has no auto-login username: PuTTY asks `login as:` every time".to_string(),
        )),
        UserVerdict::Placeholder => Some((
            Severity::Fail,
            format!("its username `{u}` is a placeholder or an e-mail address, not your cluster username"),
        )),
        UserVerdict::Unusual => Some((
            Severity::Warn,
            format!("its username `{u}` does not match the site's username pattern"),
        )),
        UserVerdict::Fine => None,
    }
}

/// The key file's problems in words.
fn key_problems(ctx: &Context, facts: &SessionFacts) -> Vec<(Severity, String)> {
    let k = facts.shown_key.as_deref().unwrap_or("");
    let fail = |words: String| vec![(Severity::Fail, words)];
    match &facts.key {
        KeyVerdict::NotNamed => vec![(
            Severity::Warn,
            "it names no private key file (fine only when Pageant holds your key)".to_string(),
        )],
        KeyVerdict::Unreadable => fail(format!(
            "its private key file {k} cannot be read (moved or deleted?)"
        )),
        KeyVerdict::Ppk {
            algorithm,
            without_passphrase,
        } => {
            let mut out = Vec::new();
            out.extend(algorithm.as_ref().map(|a| match a {
                AlgorithmProblem::RsaTooShort { bits, min } => (
                    Severity::Fail,
                    format!("its key {k} is RSA {bits} bits; the site requires at least {min}"),
                ),
                AlgorithmProblem::Dsa => (
                    Severity::Fail,
                    format!("its key {k} is DSA, which current servers refuse"),
                ),
                AlgorithmProblem::NotRecommended { algorithm } => (
                    Severity::Warn,
                    format!(
                        "its key {k} is {algorithm}; the site recommends {}",
                        ctx.profile.policy.key_types().join(", ")
                    ),
                ),
            }));
            if *without_passphrase {
                out.push((
                    Severity::Fail,
                    format!("its key {k} has no passphrase; the site requires one (PuTTYgen: Load, set a passphrase, Save private key)"),
                ));
            }
            out
        }
        KeyVerdict::PublicKey => fail(format!(
            "{k} is a public key; PuTTY needs the private .ppk"
        )),
        KeyVerdict::NotPpk => fail(format!(
            "{k} is an OpenSSH/PEM key; PuTTY needs a .ppk (PuTTYgen: Conversions > Import key, then Save private key)"
        )),
        KeyVerdict::NotAKey => fail(format!("{k} is not a private key")),
    }
}

/// `config.putty-session` in words: a pass that says how the session connects, or the
/// worst problem's severity with every problem and how to fix them in PuTTY.
fn session_finding(ctx: &Context, facts: &SessionFacts) -> Finding {
    let (s, alias, hostname, port) = (facts.session, facts.alias, facts.hostname, facts.port);
    let subject = format!("PuTTY session \"{}\"", s.name);
    let problems = problems(ctx, facts);
    let worst = problems.iter().map(|(sev, _)| *sev).max();
    let f = match worst {
        None => Finding::pass(
            CheckId::ConfigPuttySession,
            &subject,
            format!(
                "connects to {hostname} port {port} as {} with {}",
                facts.user.unwrap_or("?"),
                facts.shown_key.as_deref().unwrap_or("?")
            ),
        ),
        Some(sev) => Finding::new(
            CheckId::ConfigPuttySession,
            sev,
            &subject,
            format!(
                "PuTTY session \"{}\" for {alias}: {}",
                s.name,
                problems
                    .iter()
                    .map(|(_, p)| p.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
        .remedy(Remedy::text(format!(
            "Open PuTTY, load \"{}\", set Host Name {hostname} and Port {port} (Session), your cluster username (Connection > Data > Auto-login username) and your .ppk key (Connection > SSH > Auth > Credentials), then Save.",
            s.name
        ))),
    };
    f.with("host_name", &s.host_name)
        .with("port", s.port)
        .with("user", facts.user)
        .with("key_file", &facts.shown_key)
        .with("key_format", facts.key_format)
        .node(alias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    fn export(sessions: &str) -> Vec<u8> {
        format!("Windows Registry Editor Version 5.00\r\n\r\n{sessions}").into_bytes()
    }

    #[test]
    fn judges_each_login_nodes_session() {
        let dir = tempfile::tempdir().unwrap();
        let ppk = dir.path().join("mlcloud.ppk");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/keys/putty_v3_enc.ppk"
            ),
            &ppk,
        )
        .unwrap();
        let openssh = dir.path().join("id_ed25519");
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/keys/ed25519_100"),
            &openssh,
        )
        .unwrap();
        let plain = dir.path().join("plain.ppk");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/fixtures/keys/putty_v3_plain.ppk"
            ),
            &plain,
        )
        .unwrap();
        let esc = |p: &Path| p.display().to_string().replace('\\', "\\\\");
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/putty/sessions.reg"
        ))
        .unwrap()
        .replace("@PPK@", &esc(&ppk))
        .replace("@OPENSSH@", &esc(&openssh))
        .replace("@PPKPLAIN@", &esc(&plain));
        let putty = crate::platform::windows::parse_reg_export(&export(&text));
        let ctx = Context::for_home(dir.path(), Profile::embedded());
        let found = session_findings(&ctx, &putty);
        let by = |name: &str| {
            found
                .iter()
                .find(|f| f.subject == format!("PuTTY session \"{name}\""))
                .unwrap_or_else(|| panic!("no finding for {name}: {found:#?}"))
        };
        assert_eq!(
            by("ML Cloud").severity,
            Severity::Pass,
            "{:?}",
            by("ML Cloud")
        );
        let placeholder = by("galvani2");
        assert_eq!(placeholder.severity, Severity::Fail);
        assert!(placeholder.summary.contains("placeholder"));
        let port = by("slurm-r2");
        assert_eq!(port.severity, Severity::Fail);
        assert!(port.summary.contains("port 2222"));
        assert!(port.summary.contains("PuTTY needs a .ppk"));
        // A session for another host is none of the doctor's business.
        assert!(found.iter().all(|f| !f.subject.contains("github")));
        let plain = by("slurm1-r2");
        assert_eq!(plain.severity, Severity::Fail);
        assert!(plain.summary.contains("no passphrase"), "{}", plain.summary);
        assert_eq!(found.len(), 4);
        // PuTTY's cached host keys (SshHostKeys) are read too.
        assert_eq!(by("ML Cloud").evidence["host_key_cached"], true);
        assert_eq!(port.evidence["host_key_cached"], false);
    }
}
