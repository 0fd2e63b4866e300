//! `ssh.transcript`: the real OpenSSH client's `ssh -vvv`, captured and parsed.

use std::path::Path;
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
    let config_sets_kex = eff.is_some_and(|e| e.get("kexalgorithms").is_some());
    for opt in options(ctx, plan, shared, known_copy, &setup, config_sets_kex) {
        args.push("-o".into());
        args.push(opt);
    }
    if let Some(u) = &plan.user {
        args.extend(["-o".into(), format!("User={u}")]);
    }
    args.extend(identity_args(ctx, plan, shared, &setup));
    args.push("--".into());
    args.push(plan.alias.clone());
    args.push("exit 0".into());
    (args, setup)
}

/// True when the OpenSSH client is at least `version` (major, minor).
fn openssh_at_least(shared: &Shared, version: (u32, u32)) -> bool {
    shared
        .openssh
        .as_ref()
        .is_some_and(|o| (o.major, o.minor) >= version)
}

/// The `-o` options: nothing may prompt, run a program, forward, or outlive the run.
fn options(
    ctx: &Context,
    plan: &NodePlan,
    shared: &Shared,
    known_copy: &str,
    setup: &Setup,
    config_sets_kex: bool,
) -> Vec<String> {
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
    if setup.public_keys_only {
        opts.push("IdentityAgent=none".into());
    }
    // No library loaded into ssh (a PKCS#11 or FIDO provider runs its code), whatever
    // a config says: the first value wins, and these come before any file. (A config
    // that names a provider is never handed over; this holds even if one slipped by.)
    // OpenSSH knows SecurityKeyProvider, and `none` for PKCS11Provider, since 8.2.
    if openssh_at_least(shared, (8, 2)) {
        opts.push("PKCS11Provider=none".into());
        opts.push("SecurityKeyProvider=internal".into());
    }
    // Nothing of the run may outlive it or change the user's agent: no keys added to the
    // agent, no tunnel device, and (OpenSSH 8.7+) no fork to the background after login.
    opts.push("AddKeysToAgent=no".into());
    opts.push("Tunnel=no".into());
    if openssh_at_least(shared, (8, 7)) {
        opts.push("ForkAfterAuthentication=no".into());
        opts.push("SessionType=default".into());
    }
    // The post-quantum key exchange costs ~70 ms of CPU per transcript; where the user's
    // config does not choose, prefer curve25519 (the rest of ssh's list stays behind it,
    // `^` needs OpenSSH 8.3). The doctor's own handshake shows what the server offers.
    if !config_sets_kex && openssh_at_least(shared, (8, 3)) {
        opts.push("KexAlgorithms=^curve25519-sha256,curve25519-sha256@libssh.org".into());
    }
    // KnownHostsCommand runs a program; OpenSSH knows the option since 8.5.
    if openssh_at_least(shared, (8, 5)) {
        opts.push("KnownHostsCommand=none".into());
    }
    opts
}

/// The `-i` arguments: copies of the public keys alone when the host key is not verified,
/// absolute key paths when ssh would not find them itself.
fn identity_args(ctx: &Context, plan: &NodePlan, shared: &Shared, setup: &Setup) -> Vec<String> {
    let mut args = Vec::new();
    let keys = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias));
    if setup.public_keys_only {
        // Copies of the public keys alone, with no private key beside them: ssh can offer
        // them (the server's answer shows whether one is deployed) but cannot sign.
        let handover = shared.handover.as_deref();
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
    } else {
        // No agent for an unverified host (above); here the agent's keys come first.
        args = agent_identity_args(ctx, plan, shared);
        let own_files = ctx.home_differs_from_passwd() || !setup.copy_of_user_config;
        for k in keys {
            // With any `-i`, ssh drops its default key names: name those it would try.
            if own_files || (!args.is_empty() && !plan.identity_files.contains(&k.path)) {
                args.extend(["-i".into(), k.path.display().to_string()]);
            }
        }
    }
    args
}

/// Without IdentitiesOnly in the user's config, ssh offers the agent's keys too, before
/// the files: so does the transcript. The transcript's own `IdentitiesOnly=yes` lets ssh
/// use an agent key only when a file names it, so each gets a copy of its public key
/// (with `-i`, first); a key that is also one of the node's files is offered as that.
fn agent_identity_args(ctx: &Context, plan: &NodePlan, shared: &Shared) -> Vec<String> {
    let mut args = Vec::new();
    // Never the server's whole budget of refused keys on the agent's alone: past it the
    // server would end the connection before the node's own key files.
    let budget = (ctx.profile.policy.max_auth_tries() as usize).saturating_sub(1);
    let (Some(agent), Some(handover)) = (&shared.agent, shared.handover.as_deref()) else {
        return args;
    };
    if plan.identities_only || plan.other_agent {
        return args;
    }
    let files: Vec<String> = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias))
        .filter_map(|k| k.public().and_then(|p| p.to_openssh().ok()))
        .collect();
    for (i, key) in agent.keys.iter().enumerate() {
        let blob = key
            .public_key
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>();
        if files
            .iter()
            .any(|f| f.split_whitespace().take(2).eq(blob.iter().copied()))
        {
            continue;
        }
        if args.len() / 2 >= budget {
            break;
        }
        let line = format!("{}\n", blob.join(" "));
        if let Some(p) =
            handover.write_file(&format!("agent-{}-{i}.pub", plan.alias), line.as_bytes())
        {
            args.extend(["-i".into(), p.display().to_string()]);
        }
    }
    args
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
    let finding = match capture(ctx, plan, shared, slot, verified).await {
        Ok(f) => f,
        Err(why) => Finding::skip(
            CheckId::SshTranscript,
            alias,
            format!("not captured: {why}"),
        ),
    };
    record(slot, Stage::Transcript, [finding], alias);
}

/// Runs `ssh -vvv` for the node, keeps its transcript for the bundle and its outcome for
/// the report, and says what it showed; or why it was not run.
async fn capture(
    ctx: &Context,
    plan: &NodePlan,
    shared: &Shared,
    slot: &SharedSlot,
    verified: tokio::sync::oneshot::Receiver<Option<bool>>,
) -> Result<Finding, String> {
    let alias = plan.alias.as_str();
    let ssh = match (&ctx.openssh, &shared.openssh) {
        (OpenSshChoice::Disabled, _) => return Err("--no-openssh".into()),
        (_, None) => return Err("no OpenSSH client".into()),
        (_, Some(o)) => o.path.clone(),
    };
    // As for the doctor's own key queries: no login as a guessed user.
    if let (None, Some(why)) = (&plan.user, plan.settings_unknown) {
        return Err(format!("the user ssh sends is unknown (~/.ssh/config {why}); run the doctor with --user NAME to capture it"));
    }
    // Copies of the user's known_hosts: `accept-new` may add to them, the originals stay as they are.
    let Ok(tmp) = crate::tempdirs::TempDir::new("mlc-doctor-kh-") else {
        return Err("no temporary directory".into());
    };
    let copies = known_hosts_copies(ctx, plan, tmp.path());
    // Whether the doctor's handshake verified the host key. When it saw none (a silent
    // server, one that speaks no SSH), `ssh -vvv` would only wait out the same timeout
    // again: the handshake's findings say what happened.
    let verified = match tokio::time::timeout(ctx.timeout * 2, verified).await {
        Ok(Ok(Some(v))) => v,
        _ => return Err("the server completed no SSH key exchange with the doctor (see ssh.banner); ssh would fail the same way".into()),
    };
    let (args, setup) = ssh_args(ctx, plan, shared, &copies, verified);
    let child = ssh_command(ctx, &ssh, &args)
        .spawn()
        .map_err(|e| format!("ssh could not be started: {e}"))?;
    let budget = ctx.timeout * 3;
    let run = run_ssh(child, budget).await;
    let mut text = String::from_utf8_lossy(&run.bytes).into_owned();
    // The doctor's temporary copy is named as such, not by its random path.
    let doctor_copy = shared.handover.as_ref().and_then(|h| h.dir());
    // In every spelling ssh may print it (Windows: `\\` doubled, `/`).
    let named = |text: &str, path: &str, name: &str| {
        let mut spellings = crate::bundle::redact::path_spellings(path);
        spellings.sort_by_key(|s| std::cmp::Reverse(s.len()));
        spellings
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), name))
    };
    if let Some(dir) = doctor_copy {
        text = named(&text, &dir.display().to_string(), "<doctor-copy>");
    }
    let parsed = transcript::parse(&text);
    let outcome = parsed.outcome.clone().unwrap_or(Outcome::Unknown);
    let mut header = header(ctx, alias, &ssh, &args, &setup, &run);
    if let Some(dir) = doctor_copy {
        header = named(&header, &dir.display().to_string(), "<doctor-copy>");
    }
    let kh = tmp.path().display().to_string();
    header = named(&header, &kh, "<known-hosts-copy>");
    text = named(&text, &kh, "<known-hosts-copy>");
    lock(slot).artifacts.insert(
        format!("nodes/{alias}/ssh-vvv.txt"),
        format!("{header}{text}").into_bytes(),
    );
    lock(slot).report.transcript = Some(outcome.describe());
    let facts = TranscriptFacts {
        outcome,
        parsed,
        run,
        budget,
        setup,
    };
    Ok(transcript_finding(ctx, alias, &facts))
}

/// Copies of the node's known_hosts files in `dir` (an empty file for one that cannot be
/// copied, or when there are none), as one `UserKnownHostsFile` value.
fn known_hosts_copies(ctx: &Context, plan: &NodePlan, dir: &Path) -> String {
    let mut copies = Vec::new();
    for (i, f) in plan.known_hosts_files.iter().enumerate() {
        let dst = dir.join(format!("known_hosts_{i}"));
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
        let dst = dir.join("known_hosts");
        let _ = std::fs::write(&dst, b"");
        copies.push(dst.display().to_string());
    }
    // Quoted: a temp path with spaces (Windows profiles) would split into two files.
    let copies: Vec<String> = copies.iter().map(|c| ctx.os.option_path(c)).collect();
    copies.join(" ")
}

/// `ssh` with `args` and a clean environment (what the platform needs, and the C locale
/// so that its messages read as the parser expects), its standard error piped.
fn ssh_command(ctx: &Context, ssh: &Path, args: &[String]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(ssh);
    cmd.args(args)
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
    cmd
}

/// What one run of `ssh -vvv` left.
#[derive(Debug)]
struct SshRun {
    /// Its standard error, at most [`TRANSCRIPT_CAP`] bytes.
    bytes: Vec<u8>,
    /// The exit status; `None` when it was stopped.
    exit: Option<i32>,
    /// It did not finish within the budget and was stopped.
    timed_out: bool,
}

/// Reads ssh's standard error until it exits, or stops it after `budget`; what it wrote
/// until then is kept either way (for a hang, the lines before it are the evidence).
async fn run_ssh(mut child: tokio::process::Child, budget: std::time::Duration) -> SshRun {
    let deadline = tokio::time::Instant::now() + budget;
    let mut buf = Vec::new();
    let mut timed_out = false;
    if let Some(mut err) = child.stderr.take() {
        let mut chunk = [0u8; 8192];
        loop {
            match tokio::time::timeout_at(deadline, err.read(&mut chunk)).await {
                Err(_) => {
                    timed_out = true;
                    break;
                }
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => {
                    let room = TRANSCRIPT_CAP.saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }
    let status = if timed_out {
        None
    } else {
        tokio::time::timeout_at(deadline, child.wait())
            .await
            .ok()
            .and_then(Result::ok)
    };
    if status.is_none() {
        timed_out = true;
        let _ = child.start_kill();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), child.wait()).await;
    }
    SshRun {
        bytes: buf,
        exit: status.and_then(|s| s.code()),
        timed_out,
    }
}

/// The transcript's header: the command and how ssh was set up, so that a reader of the
/// bundle knows what the transcript shows and what it cannot.
fn header(
    ctx: &Context,
    alias: &str,
    ssh: &Path,
    args: &[String],
    setup: &Setup,
    run: &SshRun,
) -> String {
    let exit = run
        .exit
        .map(|c| c.to_string())
        .unwrap_or_else(|| "none (stopped)".into());
    let command = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut header = format!("# `ssh -vvv` transcript captured by mlc-doctor for `{alias}`\n# exit status: {exit}\n# command: {} {command}\n", ssh.display());
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
    if run.bytes.len() >= TRANSCRIPT_CAP {
        header.push_str("# (truncated)\n");
    }
    header
}

/// What `ssh.transcript` saw of one run of `ssh -vvv`.
#[derive(Debug)]
struct TranscriptFacts {
    outcome: Outcome,
    parsed: transcript::Transcript,
    run: SshRun,
    budget: std::time::Duration,
    setup: Setup,
}

/// `ssh.transcript` in words: how OpenSSH's attempt ended (and on which config), or that
/// it was stopped.
fn transcript_finding(ctx: &Context, alias: &str, facts: &TranscriptFacts) -> Finding {
    let (setup, parsed) = (&facts.setup, &facts.parsed);
    let finding = if facts.run.timed_out {
        Finding::warn(
            CheckId::SshTranscript,
            alias,
            format!(
                "`ssh -vvv` did not finish within {:.0} s and was stopped{}",
                facts.budget.as_secs_f64(),
                match facts.run.bytes.iter().filter(|b| **b == b'\n').count() {
                    0 => String::new(),
                    lines => format!("; the {lines} lines it wrote until then are kept"),
                }
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
            format!("OpenSSH: {}{how}", facts.outcome.describe()),
        )
        .fact(Fact::Transcript(facts.outcome.clone()))
    };
    finding
        .with("outcome", &facts.outcome)
        .with("exit_status", facts.run.exit)
        .with("remote_version", &parsed.remote_version)
        .with("keys_offered", parsed.keys_offered.len())
        .with("keys_accepted", parsed.keys_accepted.len())
        .with(
            "load_errors",
            parsed
                .load_errors
                .iter()
                .map(|(p, r)| format!("{}: {r}", ctx.show(Path::new(p))))
                .collect::<Vec<_>>(),
        )
        .with("bytes", facts.run.bytes.len())
        .with("config_copied", setup.copy_of_user_config)
        .with("config_sanitized_because", &setup.sanitized_because)
        .with("public_keys_only", setup.public_keys_only)
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[tokio::test]
    async fn a_stopped_ssh_keeps_what_it_wrote() {
        let child = tokio::process::Command::new("sh")
            .args([
                "-c",
                "echo debug1: one >&2; echo debug1: two >&2; exec sleep 30",
            ])
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        let run = run_ssh(child, std::time::Duration::from_millis(700)).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(run.timed_out);
        assert_eq!(run.exit, None);
        assert_eq!(run.bytes, b"debug1: one\ndebug1: two\n");
        // One that ends in time: all of it, and its status.
        let child = tokio::process::Command::new("sh")
            .args(["-c", "echo done >&2; exit 255"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let run = run_ssh(child, std::time::Duration::from_secs(5)).await;
        assert!(!run.timed_out);
        assert_eq!(
            (run.exit, run.bytes.as_slice()),
            (Some(255), &b"done\n"[..])
        );
    }

    use super::*;
    use crate::probes::keys::{AgentKey, AgentState};
    use std::path::PathBuf;

    /// The `-i` arguments for `slurm` of a home with a config and the fixture key as a
    /// default key, and an agent holding another key.
    fn identities(identities_only: bool, public_keys_only: bool) -> (Vec<String>, PathBuf) {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(
            home.path().join(".ssh/config"),
            "Host slurm\n  User abc123\n",
        )
        .unwrap();
        let ctx = Context::for_home(home.path(), crate::profile::Profile::embedded());
        let mut plan =
            crate::probes::plan_nodes(&ctx, &crate::runner::RunState::default()).remove(0);
        plan.identities_only = identities_only;
        let key = crate::probes::keys::fixture_key("ed25519_100", Some(&plan.alias));
        let other = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/keys/ed25519_plain.pub"),
        )
        .unwrap();
        let shared = Shared {
            openssh: None,
            keys: vec![key.clone()],
            agent: Some(AgentState {
                address: crate::platform::AgentAddress::Socket("/nonexistent".into()),
                keys: vec![AgentKey {
                    algorithm: "ssh-ed25519".into(),
                    fingerprint: "SHA256:other".into(),
                    public_key: other.trim().to_string(),
                    comment: String::new(),
                }],
            }),
            config: None,
            handover: Some(std::sync::Arc::new(
                crate::probes::handover::Handover::prepare(&ctx),
            )),
        };
        let setup = Setup {
            copy_of_user_config: true,
            sanitized_because: vec![],
            public_keys_only,
        };
        (identity_args(&ctx, &plan, &shared, &setup), key.path)
    }

    #[test]
    fn the_agents_keys_come_first_and_the_default_key_stays_named() {
        let (args, key) = identities(false, false);
        assert_eq!(args.len(), 4, "{args:?}");
        assert!(args[1].ends_with("agent-slurm-0.pub"), "{args:?}");
        // Any `-i` ends ssh's default key names: the default key is named itself.
        assert_eq!(args[3], key.display().to_string(), "{args:?}");
        // IdentitiesOnly in the config: the copy's own IdentityFile lines, no agent.
        assert!(identities(true, false).0.is_empty());
        // An unverified host: public keys only, never the agent's.
        let (args, _) = identities(false, true);
        assert!(args.iter().all(|a| !a.contains("agent-")), "{args:?}");
        assert_eq!(args.len(), 2, "{args:?}");
    }
}
