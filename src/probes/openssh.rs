//! `ssh.transcript`: the real OpenSSH client's `ssh -vvv`, captured and parsed.

use std::process::Stdio;

use tokio::io::AsyncReadExt;

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::Fact;
use crate::finding::Finding;
use crate::probes::handover::Mode;
use crate::probes::{record, NodePlan, Shared};
use crate::runner::{lock, SharedSlot, Stage};
use crate::settings::OpenSshChoice;
use crate::transcript::{self, Outcome};

/// The largest transcript kept; `ssh -vvv` writes a few tens of KiB.
pub const TRANSCRIPT_CAP: usize = 512 * 1024;

/// How the transcript's ssh was set up, for its header and the finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The config ssh read: a copy of the user's, or one the doctor wrote.
    pub copy_of_user_config: bool,
    /// Why the user's config was not handed over (empty for a copy).
    pub sanitized_because: Vec<String>,
    /// The host key was not verified: only public keys were offered, no agent.
    pub public_keys_only: bool,
}

/// The `ssh` arguments for a node's transcript: BatchMode (never prompts), the plan's
/// host, port and user, absolute paths when the home is not the account's, and known_hosts
/// copies so the user's files are never changed. `verified` says whether the doctor's
/// handshake verified the host key; without that nothing may sign (no agent, public keys
/// only).
pub fn ssh_args(
    ctx: &Context,
    plan: &NodePlan,
    shared: &Shared,
    known_copy: &str,
    verified: bool,
) -> (Vec<String>, Setup) {
    let mut args: Vec<String> = vec!["-vvv".into(), "-T".into(), "-n".into()];
    let handover = shared.handover.as_deref();
    let eff = shared
        .config
        .as_ref()
        .and_then(|c| c.effective.get(&plan.alias));
    let public_keys_only = !verified;
    let copy = handover.is_some_and(|h| h.mode == Mode::Copy) && !public_keys_only;
    let config = handover.and_then(|h| h.for_transcript(&plan.alias, eff, public_keys_only));
    let setup = Setup {
        copy_of_user_config: copy,
        sanitized_because: match handover.map(|h| &h.mode) {
            Some(Mode::Sanitized(r)) => r.clone(),
            _ if public_keys_only => vec![],
            Some(Mode::Copy) => vec![],
            None => vec!["no config was prepared".into()],
        },
        public_keys_only,
    };
    args.extend([
        "-F".into(),
        config
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ctx.os.null_device().into()),
    ]);
    let secs = ctx.timeout.as_secs().max(1);
    let mut opts = vec![
        "BatchMode=yes".to_string(),
        format!("ConnectTimeout={secs}"),
        "IdentitiesOnly=yes".into(),
        "ControlMaster=no".into(),
        "ControlPath=none".into(),
        "StrictHostKeyChecking=accept-new".into(),
        "UpdateHostKeys=no".into(),
        "NumberOfPasswordPrompts=0".into(),
        "ProxyCommand=none".into(),
        "ProxyJump=none".into(),
        "PermitLocalCommand=no".into(),
        "RemoteCommand=none".into(),
        "ClearAllForwardings=yes".into(),
        "ForwardAgent=no".into(),
        "ForwardX11=no".into(),
        format!("HostName={}", plan.hostname),
        format!("Port={}", plan.port),
        format!("UserKnownHostsFile={known_copy}"),
    ];
    if public_keys_only {
        opts.push("IdentityAgent=none".into());
    }
    // Nothing of the run may outlive it or change the user's agent: no keys added to the
    // agent, no tunnel device, and (OpenSSH 8.7+) no fork to the background after login.
    opts.push("AddKeysToAgent=no".into());
    opts.push("Tunnel=no".into());
    if shared
        .openssh
        .as_ref()
        .is_some_and(|o| (o.major, o.minor) >= (8, 7))
    {
        opts.push("ForkAfterAuthentication=no".into());
        opts.push("SessionType=default".into());
    }
    // The post-quantum key exchange costs ~70 ms of CPU per transcript; where the user's
    // config does not choose, prefer curve25519 (the rest of ssh's list stays behind it,
    // `^` needs OpenSSH 8.3). The doctor's own handshake shows what the server offers.
    let config_sets_kex = eff.is_some_and(|e| e.get("kexalgorithms").is_some());
    if !config_sets_kex
        && shared
            .openssh
            .as_ref()
            .is_some_and(|o| (o.major, o.minor) >= (8, 3))
    {
        opts.push("KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org".into());
    }
    // KnownHostsCommand runs a program; OpenSSH knows the option since 8.5.
    if shared
        .openssh
        .as_ref()
        .is_some_and(|o| (o.major, o.minor) >= (8, 5))
    {
        opts.push("KnownHostsCommand=none".into());
    }
    for opt in opts {
        args.push("-o".into());
        args.push(opt);
    }
    if let Some(u) = &plan.user {
        args.extend(["-o".into(), format!("User={u}")]);
    }
    let keys = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias));
    if public_keys_only {
        // Copies of the public keys alone, with no private key beside them: ssh can offer
        // them (the server's answer shows whether one is deployed) but cannot sign.
        for (i, k) in keys.enumerate() {
            let line = k.public().and_then(|p| p.to_openssh().ok());
            let path = line.and_then(|l| {
                handover?.write_file(
                    &format!("offer-{}-{i}.pub", plan.alias),
                    format!("{l}\n").as_bytes(),
                )
            });
            if let Some(p) = path {
                args.extend(["-i".into(), p.display().to_string()]);
            }
        }
    } else if ctx.home_differs_from_passwd() || !copy {
        for k in keys {
            args.extend(["-i".into(), k.path.display().to_string()]);
        }
    }
    args.push("--".into());
    args.push(plan.alias.clone());
    args.push("exit 0".into());
    (args, setup)
}

/// The transcript stage of a node.
pub async fn transcript(
    ctx: &Context,
    plan: &NodePlan,
    shared: &Shared,
    slot: &SharedSlot,
    verified: tokio::sync::oneshot::Receiver<Option<bool>>,
) {
    let alias = plan.alias.as_str();
    let skip = |why: &str| {
        Finding::skip(
            CheckId::SshTranscript,
            alias,
            format!("not captured: {why}"),
        )
    };
    let ssh = match (&ctx.openssh, &shared.openssh) {
        (OpenSshChoice::Disabled, _) => {
            return record(slot, Stage::Transcript, [skip("--no-openssh")], alias)
        }
        (_, None) => return record(slot, Stage::Transcript, [skip("no OpenSSH client")], alias),
        (_, Some(o)) => o.path.clone(),
    };
    // Copies of the user's known_hosts: `accept-new` may add to them, the originals stay as they are.
    let Ok(tmp) = tempfile::Builder::new().prefix("mlc-doctor-kh-").tempdir() else {
        return record(
            slot,
            Stage::Transcript,
            [skip("no temporary directory")],
            alias,
        );
    };
    let mut copies = Vec::new();
    for (i, f) in plan.known_hosts_files.iter().enumerate() {
        let dst = tmp.path().join(format!("known_hosts_{i}"));
        let ok = std::fs::metadata(f)
            .map(|m| m.is_file() && m.len() < 16 << 20)
            .unwrap_or(false)
            && std::fs::copy(f, &dst).is_ok();
        if !ok {
            let _ = std::fs::write(&dst, b"");
        }
        copies.push(dst.display().to_string());
    }
    if copies.is_empty() {
        let dst = tmp.path().join("known_hosts");
        let _ = std::fs::write(&dst, b"");
        copies.push(dst.display().to_string());
    }
    // Quoted: a temp path with spaces (Windows profiles) would split into two files.
    let copies: Vec<String> = copies.iter().map(|c| ctx.os.option_path(c)).collect();
    // Whether the doctor's handshake verified the host key. When it saw none (a silent
    // server, one that speaks no SSH), `ssh -vvv` would only wait out the same timeout
    // again: the handshake's findings say what happened.
    let verified = match tokio::time::timeout(ctx.timeout * 2, verified).await {
        Ok(Ok(Some(v))) => v,
        _ => {
            return record(
                slot,
                Stage::Transcript,
                [skip("the server completed no SSH key exchange with the doctor (see ssh.banner); ssh would fail the same way")],
                alias,
            )
        }
    };
    let (args, setup) = ssh_args(ctx, plan, shared, &copies.join(" "), verified);
    let mut cmd = tokio::process::Command::new(&ssh);
    cmd.args(&args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Windows keeps SystemRoot: without it Winsock fails in the child.
    for var in ctx.os.child_env() {
        if let Some(v) = crate::platform::env_get(ctx.os, &ctx.env, var) {
            cmd.env(var, v);
        }
    }
    cmd.env("LC_ALL", "C");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return record(
                slot,
                Stage::Transcript,
                [skip(&format!("ssh could not be started: {e}"))],
                alias,
            )
        }
    };
    let mut stderr = child.stderr.take();
    let budget = ctx.timeout * 3;
    let read = async {
        let mut buf = Vec::new();
        if let Some(err) = stderr.as_mut() {
            let mut chunk = [0u8; 8192];
            loop {
                match err.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = TRANSCRIPT_CAP.saturating_sub(buf.len());
                        buf.extend_from_slice(&chunk[..n.min(room)]);
                    }
                }
            }
        }
        let status = child.wait().await.ok();
        (buf, status)
    };
    let (bytes, status, timed_out) = match tokio::time::timeout(budget, read).await {
        Ok((b, s)) => (b, s, false),
        Err(_) => (Vec::new(), None, true),
    };
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    // The doctor's temporary copy is named as such, not by its random path.
    if let Some(dir) = shared.handover.as_ref().and_then(|h| h.dir()) {
        text = text.replace(&dir.display().to_string(), "<doctor-copy>");
    }
    let parsed = transcript::parse(&text);
    let outcome = parsed.outcome.clone().unwrap_or(Outcome::Unknown);
    let exit = status.and_then(|s| s.code());
    let mut header = format!("# `ssh -vvv` transcript captured by mlc-doctor for `{alias}`\n# exit status: {}\n# command: {} {}\n", exit.map(|c| c.to_string()).unwrap_or_else(|| "none (stopped)".into()), ssh.display(), args.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect::<Vec<_>>().join(" "));
    header.push_str("# BatchMode=yes: ssh never asked for a passphrase or a code. known_hosts was read from temporary copies (StrictHostKeyChecking=accept-new), so your files were not changed.\n");
    if args.iter().any(|a| a.starts_with("KexAlgorithms=^")) {
        header.push_str("# curve25519 was preferred for the key exchange (your config sets none; it is cheaper than the default post-quantum one); the doctor's own handshake shows the server's choice.\n");
    }
    if setup.copy_of_user_config {
        header.push_str("# ssh read a copy of your config: the same bytes the doctor checked.\n");
    } else if !setup.sanitized_because.is_empty() {
        header.push_str(&format!("# ssh did NOT read your config: {}. It read a config the doctor wrote from the settings it understood (commands, forwardings and proxies left out).\n", setup.sanitized_because.join("; ")));
    }
    if setup.public_keys_only {
        header.push_str("# The host key was not verified (not in known_hosts, no profile pin): ssh was given public keys only and no agent, so nothing could sign for this server.\n");
    }
    if ctx.home_differs_from_passwd() {
        header.push_str("# The home being checked is not the account's home: key paths were passed with -i as absolute paths.\n");
    }
    if bytes.len() >= TRANSCRIPT_CAP {
        header.push_str("# (truncated)\n");
    }
    if let Some(dir) = shared.handover.as_ref().and_then(|h| h.dir()) {
        header = header.replace(&dir.display().to_string(), "<doctor-copy>");
    }
    let kh = tmp.path().display().to_string();
    header = header.replace(&kh, "<known-hosts-copy>");
    text = text.replace(&kh, "<known-hosts-copy>");
    lock(slot).artifacts.insert(
        format!("nodes/{alias}/ssh-vvv.txt"),
        format!("{header}{text}").into_bytes(),
    );
    lock(slot).report.transcript = Some(outcome.describe());

    let finding = if timed_out {
        Finding::warn(
            CheckId::SshTranscript,
            alias,
            format!(
                "`ssh -vvv` did not finish within {:.0} s and was stopped",
                budget.as_secs_f64()
            ),
        )
    } else {
        let how = if setup.copy_of_user_config {
            ""
        } else if setup.public_keys_only {
            " (host key not verified: public keys only, nothing signed)"
        } else {
            " (on a config the doctor wrote: yours was not fully understood or can run programs)"
        };
        Finding::info(
            CheckId::SshTranscript,
            alias,
            format!("OpenSSH: {}{how}", outcome.describe()),
        )
        .fact(Fact::Transcript(outcome.clone()))
    };
    let f = finding
        .with("outcome", &outcome)
        .with("exit_status", exit)
        .with("remote_version", &parsed.remote_version)
        .with("keys_offered", parsed.keys_offered.len())
        .with("keys_accepted", parsed.keys_accepted.len())
        .with(
            "load_errors",
            parsed
                .load_errors
                .iter()
                .map(|(p, r)| format!("{}: {r}", ctx.show(std::path::Path::new(p))))
                .collect::<Vec<_>>(),
        )
        .with("bytes", bytes.len())
        .with("config_copied", setup.copy_of_user_config)
        .with("config_sanitized_because", &setup.sanitized_because)
        .with("public_keys_only", setup.public_keys_only);
    record(slot, Stage::Transcript, [f], alias);
}

/// After both stages: says so when OpenSSH and the doctor's own handshake disagree about
/// whether a key is accepted.
pub fn reconcile(slot: &SharedSlot, alias: &str) {
    let mut s = lock(slot);
    let ours = s.report.accepted_keys.len();
    let handshake_tested = s.findings.iter().any(|f| {
        f.id == CheckId::SshKeyAccepted
            && matches!(
                f.severity,
                crate::finding::Severity::Pass | crate::finding::Severity::Fail
            )
    });
    let Some(f) = s
        .findings
        .iter_mut()
        .find(|f| f.id == CheckId::SshTranscript && f.severity == crate::finding::Severity::Info)
    else {
        return;
    };
    let Some(Fact::Transcript(outcome)) = &f.fact else {
        return;
    };
    let ssh_accepts = matches!(
        outcome,
        Outcome::KeyAccepted { .. }
            | Outcome::KeyUnusable { .. }
            | Outcome::PartialSuccess { .. }
            | Outcome::Authenticated
    );
    let comparable = ssh_accepts || matches!(outcome, Outcome::PermissionDenied { .. });
    if handshake_tested && comparable && ssh_accepts != (ours > 0) {
        f.severity = crate::finding::Severity::Warn;
        f.summary = format!("OpenSSH and the doctor disagree: {} (OpenSSH), {ours} key(s) accepted (the doctor's handshake)", f.summary.trim_start_matches("OpenSSH: "));
        f.detail = Some(format!("Your own ssh uses settings or keys the doctor's check did not (a key it could not load, an option in your config); nodes/{alias}/ssh-vvv.txt in the bundle shows which."));
    }
}
