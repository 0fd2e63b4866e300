//! `config.putty-session`: PuTTY's saved session for each login node (Windows users who
//! log in with PuTTY never touch ~/.ssh/config). Read-only: the registry is never written.

use std::path::Path;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy, Severity};
use crate::keyfile::KeyFormat;
use crate::platform::windows::{Putty, PuttySession};
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
            out.push(
                judge(
                    ctx,
                    node.alias(),
                    node.hostname(),
                    node.port(),
                    s,
                    by_host,
                    user.as_deref(),
                )
                .with(
                    "host_key_cached",
                    putty.host_keys.iter().any(|(_, p, h)| {
                        *p == s.port.unwrap_or(22) && h.eq_ignore_ascii_case(host)
                    }),
                ),
            );
        }
    }
    out
}

fn judge(
    ctx: &Context,
    alias: &str,
    hostname: &str,
    port: u16,
    s: &PuttySession,
    by_host: bool,
    user: Option<&str>,
) -> Finding {
    let subject = format!("PuTTY session \"{}\"", s.name);
    let mut problems: Vec<(Severity, String)> = Vec::new();
    if !by_host {
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
    let pattern = ctx.profile.username_regex();
    match user {
        None => problems.push((
            Severity::Warn,
            "it has no auto-login username: PuTTY asks `login as:` every time".to_string(),
        )),
        Some(u)
            if ctx
                .profile
                .placeholder_users
                .iter()
                .any(|p| p.eq_ignore_ascii_case(u))
                || u.contains('@')
                || (u.starts_with('<') && u.ends_with('>')) =>
        {
            problems.push((
                Severity::Fail,
                format!("its username `{u}` is a placeholder or an e-mail address, not your cluster username"),
            ))
        }
        Some(u) if pattern.as_ref().is_some_and(|p| !p.is_match(u)) => problems.push((
            Severity::Warn,
            format!("its username `{u}` does not look like a {} username", ctx.profile.name),
        )),
        Some(_) => {}
    }
    let mut key_format = None;
    // Shown like every other path: `~/.ssh/mlcloud.ppk`.
    let shown_key = s.public_key_file.as_deref().map(|k| ctx.show(Path::new(k)));
    let k = shown_key.as_deref().unwrap_or("");
    match s.public_key_file.as_deref() {
        None => problems.push((
            Severity::Warn,
            "it names no private key file (fine only when Pageant holds your key)".to_string(),
        )),
        Some(raw) => match std::fs::read(Path::new(raw)) {
            Err(_) => problems.push((
                Severity::Fail,
                format!("its private key file {k} cannot be read (moved or deleted?)"),
            )),
            Ok(bytes) => {
                let facts = crate::keyfile::sniff(&bytes);
                key_format = Some(facts.format);
                match facts.format {
                    KeyFormat::PuttyV2 | KeyFormat::PuttyV3 => {
                        // The same policy as for OpenSSH keys: type and size.
                        let policy = &ctx.profile.policy;
                        let allowed = |n: &str| policy.key_types().iter().any(|t| t == n);
                        match (facts.algorithm.as_deref(), facts.bits) {
                            (Some("ssh-rsa"), Some(b)) if b < policy.min_rsa_bits() => problems.push((
                                Severity::Fail,
                                format!("its key {k} is RSA {b} bits; the site requires at least {}", policy.min_rsa_bits()),
                            )),
                            (Some("ssh-rsa"), _) if allowed("rsa") || allowed("ssh-rsa") => {}
                            (Some("ssh-dss"), _) => problems.push((
                                Severity::Fail,
                                format!("its key {k} is DSA, which current servers refuse"),
                            )),
                            (Some(a), _) if !allowed(a) => problems.push((
                                Severity::Warn,
                                format!("its key {k} is {a}; the site recommends {}", policy.key_types().join(", ")),
                            )),
                            _ => {}
                        }
                        if facts.encrypted == Some(false) && ctx.profile.policy.require_passphrase {
                            problems.push((
                                Severity::Fail,
                                format!("its key {k} has no passphrase; the site requires one (PuTTYgen: Load, set a passphrase, Save private key)"),
                            ));
                        }
                    }
                    KeyFormat::PublicKey => problems.push((
                        Severity::Fail,
                        format!("{k} is a public key; PuTTY needs the private .ppk"),
                    )),
                    f if f.is_private() => problems.push((
                        Severity::Fail,
                        format!("{k} is an OpenSSH/PEM key; PuTTY needs a .ppk (PuTTYgen: Conversions > Import key, then Save private key)"),
                    )),
                    _ => problems.push((Severity::Fail, format!("{k} is not a private key"))),
                }
            }
        },
    }
    let worst = problems
        .iter()
        .map(|(sev, _)| *sev)
        .max_by_key(|s| match s {
            Severity::Fail => 2,
            Severity::Warn => 1,
            _ => 0,
        });
    let f = match worst {
        None => Finding::pass(
            CheckId::ConfigPuttySession,
            &subject,
            format!(
                "connects to {hostname} port {port} as {} with {}",
                user.unwrap_or("?"),
                shown_key.as_deref().unwrap_or("?")
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
        .with("user", user)
        .with("key_file", &shown_key)
        .with("key_format", key_format)
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
