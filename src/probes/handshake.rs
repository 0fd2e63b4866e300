//! `ssh.*` from our own SSH client: banner, algorithms, host key, auth methods, key acceptance.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use russh::keys::{HashAlg, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
use crate::knownhosts::{self, Verdict};
use crate::probes::{record, NodePlan, Shared};
use crate::report::{Algorithms, HostKeyReport};
use crate::runner::{lock, SharedSlot, Stage};

pub const CHECKS: &[CheckDoc] = &[
    CheckDoc {
        id: "ssh.banner",
        title: "The node answers with an SSH banner",
        what: "After the TCP connection, reads the server's identification line (`SSH-2.0-OpenSSH_…`) within --timeout.",
        why: "No banner, a closed connection or something that is not SSH (an HTTP proxy, a captive portal) means ssh fails with `kex_exchange_identification` or `Connection timed out during banner exchange`, whatever your keys are.",
        fix: "Usually a network in the way: a hotel or company network intercepting port 22, or a VPN that is half up. Try another network or the university VPN; if every node behaves the same from a working network, attach the bundle to a ticket.",
    },
    CheckDoc {
        id: "ssh.kex",
        title: "Client and server share key exchange, cipher and MAC algorithms",
        what: "Negotiates the key exchange, host key, cipher and MAC algorithms with the node and records the ones chosen; when nothing is in common, records both lists.",
        why: "A client restricted by old or hand-edited `KexAlgorithms`/`Ciphers`/`MACs`/`HostKeyAlgorithms` lines fails with `Unable to negotiate … no matching … found`.",
        fix: "Remove `KexAlgorithms`, `Ciphers`, `MACs` and `HostKeyAlgorithms` lines from ~/.ssh/config (the defaults of a current OpenSSH work), or upgrade an old client.",
    },
    CheckDoc {
        id: "ssh.host-key",
        title: "The node's host key matches known_hosts and the profile's pins",
        what: "Compares the node's host key with your known_hosts files (hashed entries, [host]:port, wildcards, @revoked and @cert-authority included) and with the fingerprints the profile pins, before any key of yours is offered.",
        why: "A changed host key makes ssh refuse to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). It can be a reinstalled node, or someone in the middle: the doctor offers no key to such a server.",
        fix: "Compare the fingerprint shown with the one the site publishes or support confirms. Only when it is confirmed, remove the old entry with `ssh-keygen -R <host>` (the report gives the exact line) and connect again to accept the new key.",
    },
    CheckDoc {
        id: "ssh.auth-methods",
        title: "The server offers public key authentication",
        what: "Asks the server which authentication methods it accepts (`none` request) and records them.",
        why: "The login nodes accept only public keys (then a TOTP code). If `publickey` is not offered, something other than the login node answered, or the server is misconfigured.",
        fix: "If `publickey` is missing, check that HostName points to the real login node and attach the bundle to a ticket.",
    },
    CheckDoc {
        id: "ssh.key-accepted",
        title: "The server accepts one of your public keys",
        what: "Offers each candidate public key (the node's IdentityFile first, then agent keys, then default keys) and notes which the server would accept, without the private key or passphrase: the server's answer to the unsigned query proves it.",
        why: "If no key is accepted, `ssh slurm` ends in `Permission denied (publickey)`. Usually the public key was never deployed on the cluster, or the username is wrong; the client cannot tell these apart.",
        fix: "Within the 2-day window after account creation run `ssh-copy-id -i ~/.ssh/id_ed25519.pub slurm`; later, open a ticket and attach the bundle (it contains your public key, which support deploys). Also check `User` in ~/.ssh/config is your cluster username.",
    },
    CheckDoc {
        id: "ssh.second-factor",
        title: "The server asks for the TOTP second factor after the key",
        what: "When an accepted key is loaded in ssh-agent, authenticates with it through the agent and reads whether the server then asks for keyboard-interactive (the TOTP code). The doctor stops there and never answers the prompt.",
        why: "Accounts with a second factor need an interactive terminal for the code: BatchMode or PreferredAuthentications without keyboard-interactive make the login fail after the key was accepted.",
        fix: "Make sure your client can answer the code prompt: no `BatchMode yes`, and `PreferredAuthentications` (if set) includes keyboard-interactive. Set up the TOTP app as the site's guide describes.",
    },
];

/// Refused keys offered on one connection; the server's MaxAuthTries is 6.
const MAX_REFUSALS_PER_CONNECTION: usize = 5;
/// Keys offered to one node at most.
const MAX_CANDIDATES: usize = 15;
/// Bytes of the server's first output kept as evidence.
const TEE_BYTES: usize = 2048;

/// A stream that keeps a copy of the first bytes the server sends (the banner, or
/// whatever a non-SSH service answers), so a failed handshake still has evidence.
struct Tee<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tee<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let new = &buf.filled()[before..];
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let room = TEE_BYTES.saturating_sub(seen.len());
            seen.extend_from_slice(&new[..new.len().min(room)]);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tee<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What the handler saw during key exchange.
#[derive(Debug, Default, Clone)]
struct Seen {
    banner: Option<String>,
    algorithms: Option<Algorithms>,
    host_key: Option<HostKeyReport>,
    /// Why the host key was refused (no key is offered then).
    refused_host_key: Option<Finding>,
    login_banner: Option<String>,
}

struct Probe {
    seen: Arc<Mutex<Seen>>,
    /// The names and files to check the host key against.
    known_names: Vec<String>,
    known_files: Vec<(String, Vec<knownhosts::Entry>)>,
    pins: Vec<String>,
    alias: String,
    host: String,
}

impl Probe {
    fn judge_host_key(&self, key: &PublicKey) -> (HostKeyReport, Option<Finding>, Finding) {
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let algorithm = key.algorithm().as_str().to_string();
        let blob = key
            .to_openssh()
            .ok()
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            .unwrap_or_default();
        let mut report = HostKeyReport {
            algorithm: algorithm.clone(),
            fingerprint: fp.clone(),
            known_hosts: "unknown".into(),
            location: None,
        };
        let alias = &self.alias;
        if !self.pins.is_empty() && !self.pins.contains(&fp) {
            report.known_hosts = "pin-mismatch".into();
            let f = Finding::fail("ssh.host-key", alias, format!("host key {fp} is not one the site profile pins ({})", self.pins.join(", ")))
                .detail("The doctor offered no key to this server. Someone may be intercepting the connection, or the site changed its keys.")
                .remedy(Remedy::text("Do not log in. Report the fingerprint to support and attach the bundle."));
            return (report, Some(f.clone()), f);
        }
        for (file, entries) in &self.known_files {
            match knownhosts::check(entries, &self.known_names, &algorithm, &blob) {
                Verdict::Match { line } => {
                    report.known_hosts = if self.pins.is_empty() {
                        "match".into()
                    } else {
                        "pinned".into()
                    };
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::pass(
                        "ssh.host-key",
                        alias,
                        format!("host key {fp} matches {file}:{line}"),
                    );
                    return (report, None, f);
                }
                Verdict::Revoked { line } => {
                    report.known_hosts = "revoked".into();
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::fail(
                        "ssh.host-key",
                        alias,
                        format!("host key {fp} is marked @revoked in {file}:{line}"),
                    )
                    .remedy(Remedy::text(
                        "Do not log in; report this to support with the bundle.",
                    ));
                    return (report, Some(f.clone()), f);
                }
                Verdict::Mismatch { lines } => {
                    let (line, old) = &lines[0];
                    let old_fp = PublicKey::from_openssh(&format!("{algorithm} {old}"))
                        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
                        .unwrap_or_else(|_| "(unreadable)".into());
                    report.known_hosts = "mismatch".into();
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::fail("ssh.host-key", alias, format!("host key changed: the server shows {fp}, {file}:{line} expects {old_fp}"))
                        .detail("ssh refuses to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). The node may have been reinstalled, or someone is in the middle; the doctor offered no key.")
                        .remedy(Remedy::command(format!("Only after support confirms {fp} is the node's new key, remove the old entry (line {line} of {file}):"), format!("ssh-keygen -R {}", knownhosts::host_name(&self.host, 22).replace("[", "'[").replace("]:", "]':"))))
                        .with("expected", old_fp)
                        .with("line", *line);
                    return (report, Some(f.clone()), f);
                }
                Verdict::Unknown { .. } => {}
            }
        }
        let f = Finding::info("ssh.host-key", alias, format!("host key {fp} ({algorithm}) is not in known_hosts yet: ssh will ask you to confirm it the first time"))
            .detail("Compare the fingerprint with the one the site publishes before answering yes.");
        (report, None, f)
    }
}

impl russh::client::Handler for Probe {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            russh::keys::PublicKeyOrCertificate::Certificate(c) => {
                PublicKey::new(c.public_key().clone(), "")
            }
        };
        let (report, refused, finding) = self.judge_host_key(&key);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.host_key = Some(report);
        let ok = refused.is_none();
        seen.refused_host_key = Some(refused.unwrap_or(finding));
        Ok(ok)
    }

    async fn kex_done(
        &mut self,
        _secret: Option<&[u8]>,
        names: &russh::Names,
        session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.banner = Some(
            String::from_utf8_lossy(session.remote_sshid())
                .trim()
                .to_string(),
        );
        seen.algorithms = Some(Algorithms {
            kex: names.kex.as_ref().to_string(),
            host_key: names.key.as_str().to_string(),
            cipher: names.cipher.as_ref().to_string(),
            mac: names.client_mac.as_ref().to_string(),
        });
        Ok(())
    }

    async fn auth_banner(
        &mut self,
        banner: &str,
        _session: &mut russh::client::Session,
    ) -> Result<(), Self::Error> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.login_banner = Some(banner.chars().take(2000).collect());
        Ok(())
    }
}

/// A signer that never signs: being asked proves the server accepted the key (PK_OK).
struct AskedSigner {
    asked: bool,
}

#[derive(Debug)]
enum AskedError {
    Asked,
    Send,
}

impl From<russh::SendError> for AskedError {
    fn from(_: russh::SendError) -> Self {
        AskedError::Send
    }
}

impl russh::Signer for AskedSigner {
    type Error = AskedError;

    #[allow(clippy::manual_async_fn)]
    fn auth_sign(
        &mut self,
        _key: &russh::keys::agent::AgentIdentity,
        _hash: Option<HashAlg>,
        _data: Vec<u8>,
    ) -> impl std::future::Future<Output = Result<Vec<u8>, Self::Error>> + Send {
        self.asked = true;
        async { Err(AskedError::Asked) }
    }
}

/// A public key to offer, and where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: PublicKey,
    pub fingerprint: String,
    /// `~/.ssh/id_ed25519`, or `agent: <comment-less fingerprint>`.
    pub source: String,
    pub in_agent: bool,
}

/// The keys to offer to a node, in OpenSSH's order: the node's IdentityFiles, agent keys
/// (unless IdentitiesOnly excludes them), then default keys.
pub fn candidates(plan: &NodePlan, shared: &Shared) -> Vec<Candidate> {
    let agent_fps: Vec<String> = shared
        .agent
        .as_ref()
        .map(|a| a.keys.iter().map(|k| k.fingerprint.clone()).collect())
        .unwrap_or_default();
    let mut out: Vec<Candidate> = Vec::new();
    let push = |key: PublicKey, source: String, out: &mut Vec<Candidate>| {
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        if out.iter().any(|c| c.fingerprint == fp) {
            return;
        }
        let in_agent = agent_fps.contains(&fp);
        out.push(Candidate {
            key,
            fingerprint: fp,
            source,
            in_agent,
        });
    };
    let node_keys: Vec<&crate::probes::keys::KeyInfo> = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias))
        .collect();
    for k in node_keys.iter().filter(|k| k.explicit) {
        if let Some(pk) = k.public() {
            push(pk, k.shown.clone(), &mut out);
        }
    }
    if let Some(agent) = &shared.agent {
        for a in &agent.keys {
            let listed = out.iter().any(|c| c.fingerprint == a.fingerprint);
            if plan.identities_only && !listed {
                continue;
            }
            if let Ok(pk) = PublicKey::from_openssh(&a.public_key) {
                push(pk, format!("agent key {}", a.fingerprint), &mut out);
            }
        }
    }
    for k in node_keys.iter().filter(|k| !k.explicit) {
        if let Some(pk) = k.public() {
            push(pk, k.shown.clone(), &mut out);
        }
    }
    out.truncate(MAX_CANDIDATES);
    out
}

fn client_config() -> Arc<russh::client::Config> {
    Arc::new(russh::client::Config {
        nodelay: true,
        ..Default::default()
    })
}

fn known_files(ctx: &Context, plan: &NodePlan) -> Vec<(String, Vec<knownhosts::Entry>)> {
    plan.known_hosts_files
        .iter()
        .filter_map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            if !meta.is_file() || meta.len() > 16 << 20 {
                return None;
            }
            let text = String::from_utf8_lossy(&std::fs::read(p).ok()?).into_owned();
            Some((ctx.show(p), knownhosts::parse(&text)))
        })
        .collect()
}

type Connected = russh::client::Handle<Probe>;

/// Everything a (re)connection to one node needs; each connection records into the same
/// `seen` and `tee`.
struct Dialer<'a> {
    ctx: &'a Context,
    plan: &'a NodePlan,
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    tee: Arc<Mutex<Vec<u8>>>,
    known: Vec<(String, Vec<knownhosts::Entry>)>,
}

impl Dialer<'_> {
    async fn connect(&self) -> Result<Connected, String> {
        connect(
            self.ctx,
            self.plan,
            self.addr,
            &self.seen,
            &self.tee,
            &self.known,
        )
        .await
    }
}

async fn connect(
    ctx: &Context,
    plan: &NodePlan,
    addr: SocketAddr,
    seen: &Arc<Mutex<Seen>>,
    tee: &Arc<Mutex<Vec<u8>>>,
    known: &[(String, Vec<knownhosts::Entry>)],
) -> Result<Connected, String> {
    let tcp = tokio::time::timeout(ctx.timeout, ctx.connector.connect(addr))
        .await
        .map_err(|_| "timeout: TCP connect".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let stream = Tee {
        inner: tcp,
        seen: tee.clone(),
    };
    let mut names = vec![knownhosts::host_name(&plan.hostname, plan.port)];
    let ip_name = knownhosts::host_name(&addr.ip().to_string(), plan.port);
    if !names.contains(&ip_name) {
        names.push(ip_name);
    }
    let handler = Probe {
        seen: seen.clone(),
        known_names: names,
        known_files: known.to_vec(),
        pins: plan.host_key_pins.clone(),
        alias: plan.alias.clone(),
        host: plan.hostname.clone(),
    };
    match tokio::time::timeout(
        ctx.timeout,
        russh::client::connect_stream(client_config(), stream, handler),
    )
    .await
    {
        Err(_) => Err("timeout: handshake".to_string()),
        Ok(Err(e)) => Err(match e {
            russh::Error::NoCommonAlgo { kind, ours, theirs } => {
                format!("nocommon:{kind:?}|{}|{}", ours.join(","), theirs.join(","))
            }
            russh::Error::UnknownKey => "hostkey".to_string(),
            russh::Error::Version => "version".to_string(),
            russh::Error::Disconnect => "closed".to_string(),
            other => format!("error:{other}"),
        }),
        Ok(Ok(h)) => Ok(h),
    }
}

fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { '.' } else { c })
        .collect::<String>()
        .replace('\n', "⏎")
}

/// The handshake stage of a node.
pub async fn run(
    ctx: &Context,
    plan: &NodePlan,
    shared: &Shared,
    addr: SocketAddr,
    slot: &SharedSlot,
) {
    let alias = plan.alias.as_str();
    let dialer = Dialer {
        ctx,
        plan,
        addr,
        seen: Arc::new(Mutex::new(Seen::default())),
        tee: Arc::new(Mutex::new(Vec::new())),
        known: known_files(ctx, plan),
    };
    let (seen, tee) = (&dialer.seen, &dialer.tee);
    let user = plan.user.clone().unwrap_or_else(|| ctx.local_user.clone());
    let mut findings: Vec<Finding> = Vec::new();
    let result = dialer.connect().await;
    let snapshot = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let first_bytes = tee.lock().unwrap_or_else(|e| e.into_inner()).clone();
    {
        let mut s = lock(slot);
        s.report.banner = snapshot.banner.clone().or_else(|| {
            first_bytes
                .split(|b| *b == b'\n')
                .next()
                .map(|l| String::from_utf8_lossy(l).trim().to_string())
                .filter(|l| l.starts_with("SSH-"))
        });
        s.report.algorithms = snapshot.algorithms.clone();
        s.report.host_key = snapshot.host_key.clone();
    }
    let mut handle = match result {
        Ok(h) => h,
        Err(e) => {
            let (banner_f, kex_f) = describe_failure(ctx, alias, &e, &first_bytes);
            findings.extend(banner_f);
            findings.extend(kex_f);
            if let Some(f) = snapshot.refused_host_key.clone() {
                findings.push(f);
            }
            if e == "hostkey" {
                findings.push(Finding::skip(
                    "ssh.key-accepted",
                    alias,
                    "not tested: no key is offered to a server whose host key does not match",
                ));
            }
            record(slot, Stage::Handshake, findings, alias);
            return;
        }
    };
    let banner = snapshot.banner.clone().unwrap_or_default();
    findings.push(Finding::pass("ssh.banner", alias, banner.clone()).with("banner", &banner));
    if let Some(a) = &snapshot.algorithms {
        findings.push(
            Finding::pass(
                "ssh.kex",
                alias,
                format!("{} · {} · {} · {}", a.kex, a.host_key, a.cipher, a.mac),
            )
            .with("algorithms", a),
        );
    }
    if let Some(f) = snapshot.refused_host_key.clone() {
        findings.push(f);
    }

    // Methods the server offers.
    let methods =
        match tokio::time::timeout(ctx.timeout, handle.authenticate_none(user.clone())).await {
            Ok(Ok(russh::client::AuthResult::Failure {
                remaining_methods, ..
            })) => remaining_methods
                .iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            Ok(Ok(russh::client::AuthResult::Success)) => vec!["none".to_string()],
            Ok(Err(e)) => {
                findings.push(Finding::warn(
                    "ssh.auth-methods",
                    alias,
                    format!("the server did not answer the methods query: {e}"),
                ));
                vec![]
            }
            Err(_) => {
                findings.push(Finding::warn(
                    "ssh.auth-methods",
                    alias,
                    "the server did not answer the methods query in time",
                ));
                vec![]
            }
        };
    lock(slot).report.auth_methods = methods.clone();
    if !findings.iter().any(|f| f.id == "ssh.auth-methods") {
        let f = if methods.is_empty() {
            Finding::warn("ssh.auth-methods", alias, "the server offers no authentication method at all")
                .detail("The login nodes accept public keys; something else may be answering on this address, or the server refuses every login.")
        } else if methods.iter().any(|m| m == "publickey") {
            Finding::info(
                "ssh.auth-methods",
                alias,
                format!("the server offers: {}", methods.join(", ")),
            )
        } else {
            Finding::warn("ssh.auth-methods", alias, format!("the server does not offer publickey (only {})", methods.join(", ")))
                .detail("The login nodes accept public keys; something else may be answering on this address.")
        };
        findings.push(f.with("methods", &methods).with("user", &user));
    }

    // Which keys the server accepts, without signing.
    let cands = candidates(plan, shared);
    let mut accepted: Vec<&Candidate> = Vec::new();
    let mut refused: Vec<&Candidate> = Vec::new();
    let mut untested: Vec<&Candidate> = Vec::new();
    let mut refusals_here = 0;
    let mut live = Some(handle);
    for c in &cands {
        if refusals_here >= MAX_REFUSALS_PER_CONNECTION
            || live.as_ref().is_none_or(|h| h.is_closed())
        {
            if let Some(h) = live.take() {
                let _ = tokio::time::timeout(
                    ctx.timeout,
                    h.disconnect(russh::Disconnect::ByApplication, "", "en"),
                )
                .await;
            }
            live = dialer.connect().await.ok();
            refusals_here = 0;
            if let Some(h) = live.as_mut() {
                let _ = tokio::time::timeout(ctx.timeout, h.authenticate_none(user.clone())).await;
            }
        }
        let Some(h) = live.as_mut() else {
            untested.push(c);
            continue;
        };
        let hash = if c.key.algorithm().is_rsa() {
            h.best_supported_rsa_hash().await.ok().flatten().flatten()
        } else {
            None
        };
        let mut signer = AskedSigner { asked: false };
        match tokio::time::timeout(
            ctx.timeout,
            h.authenticate_publickey_with(user.clone(), c.key.clone(), hash, &mut signer),
        )
        .await
        {
            Ok(Err(AskedError::Asked)) | Ok(Ok(russh::client::AuthResult::Success)) => {
                accepted.push(c)
            }
            Ok(Ok(russh::client::AuthResult::Failure { .. })) if signer.asked => accepted.push(c),
            Ok(Ok(russh::client::AuthResult::Failure { .. })) => {
                refused.push(c);
                refusals_here += 1;
            }
            Ok(Err(AskedError::Send)) | Err(_) => untested.push(c),
        }
    }
    lock(slot).report.accepted_keys = accepted.iter().map(|c| c.fingerprint.clone()).collect();
    let evidence = |list: &[&Candidate]| {
        list.iter()
            .map(|c| serde_json::json!({"key": c.source, "fingerprint": c.fingerprint}))
            .collect::<Vec<_>>()
    };
    let key_finding = if cands.is_empty() {
        Finding::skip(
            "ssh.key-accepted",
            alias,
            "not tested: there is no public key to offer (see key.present)",
        )
    } else if !accepted.is_empty() {
        Finding::pass(
            "ssh.key-accepted",
            alias,
            format!(
                "the server accepts {} for user {user}",
                accepted
                    .iter()
                    .map(|c| format!("{} ({})", c.source, c.fingerprint))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if refused.is_empty() {
        Finding::skip(
            "ssh.key-accepted",
            alias,
            "not tested: the server closed the connection before any key could be offered",
        )
    } else {
        Finding::fail("ssh.key-accepted", alias, format!("the server accepts none of your {} key(s) for user {user}", refused.len()))
            .detail("From here this looks the same whether the public key was never deployed, the username is wrong, or the server refuses it for its own reasons (permissions of ~/.ssh on the cluster, a locked account). Support can tell them apart from the server log.")
            .remedy(Remedy::command(format!("If your account is less than 2 days old, deploy your key yourself (it asks for your cluster password); otherwise open a ticket and attach the bundle, which contains your public key. Also check that `{user}` is your cluster username."), ctx.os.shell().copy_id(&ctx.shell_shown(&format!("{}.pub", cands.iter().find(|c| !c.source.starts_with("agent")).map(|c| c.source.clone()).unwrap_or_else(|| "~/.ssh/id_ed25519".into()))), alias)))
    };
    findings.push(
        key_finding
            .with("user", &user)
            .with("accepted", evidence(&accepted))
            .with("refused", evidence(&refused))
            .with("untested", evidence(&untested)),
    );

    // The second factor: only visible after a real signature, which only the agent can give.
    let second = match (accepted.iter().find(|c| c.in_agent), shared.agent.as_ref()) {
        _ if accepted.is_empty() => Finding::skip("ssh.second-factor", alias, "not tested: no key is accepted"),
        (None, _) | (_, None) => Finding::skip("ssh.second-factor", alias, "not tested: seeing the second factor needs a signature, and the accepted key is not loaded in ssh-agent (the doctor never asks for your passphrase)")
            .remedy(Remedy::command("To let the doctor check it, load the key into the agent and run it again:", format!("ssh-add {}", ctx.shell_shown("~/.ssh/id_ed25519")))),
        (Some(c), Some(agent)) => second_factor(&dialer, &user, c, &agent.address).await,
    };
    let sf = match second.severity {
        crate::finding::Severity::Skip => "unknown".to_string(),
        _ => second
            .evidence
            .get("status")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string(),
    };
    lock(slot).report.second_factor = Some(sf);
    findings.push(second);
    if let Some(h) = live {
        let _ = tokio::time::timeout(
            ctx.timeout,
            h.disconnect(russh::Disconnect::ByApplication, "", "en"),
        )
        .await;
    }
    record(slot, Stage::Handshake, findings, alias);
}

async fn second_factor(
    dialer: &Dialer<'_>,
    user: &str,
    c: &Candidate,
    address: &crate::platform::AgentAddress,
) -> Finding {
    let (ctx, alias) = (dialer.ctx, dialer.plan.alias.as_str());
    let Ok(mut h) = dialer.connect().await else {
        return Finding::skip(
            "ssh.second-factor",
            alias,
            "not tested: the second connection failed",
        );
    };
    let agent =
        match tokio::time::timeout(ctx.timeout, crate::platform::connect_agent(address)).await {
            Ok(Ok(a)) => a,
            _ => {
                return Finding::skip(
                    "ssh.second-factor",
                    alias,
                    "not tested: the agent could not be reached",
                )
            }
        };
    let mut agent = agent;
    let hash = if c.key.algorithm().is_rsa() {
        h.best_supported_rsa_hash().await.ok().flatten().flatten()
    } else {
        None
    };
    let result = tokio::time::timeout(
        ctx.timeout,
        h.authenticate_publickey_with(user.to_string(), c.key.clone(), hash, &mut agent),
    )
    .await;
    let _ = tokio::time::timeout(
        ctx.timeout,
        h.disconnect(russh::Disconnect::ByApplication, "", "en"),
    )
    .await;
    match result {
        Ok(Ok(russh::client::AuthResult::Failure {
            remaining_methods,
            partial_success: true,
        })) => {
            let rest: Vec<String> = remaining_methods.iter().map(String::from).collect();
            let totp = rest.iter().any(|m| m == "keyboard-interactive");
            let f = if totp {
                Finding::info("ssh.second-factor", alias, "after the key, the server asks for keyboard-interactive (the TOTP code); the doctor stopped there")
            } else {
                Finding::info(
                    "ssh.second-factor",
                    alias,
                    format!("after the key, the server asks for: {}", rest.join(", ")),
                )
            };
            f.with(
                "status",
                if totp {
                    "keyboard-interactive"
                } else {
                    "other"
                },
            )
            .with("remaining", rest)
        }
        Ok(Ok(russh::client::AuthResult::Success)) => {
            let f = Finding::info(
                "ssh.second-factor",
                alias,
                "the key alone logs in: the server asks for no second factor",
            );
            let f = if ctx.profile.policy.second_factor().is_some() {
                f.detail("The site profile expects a TOTP step; support may want to know.")
            } else {
                f
            };
            f.with("status", "none")
        }
        Ok(Ok(russh::client::AuthResult::Failure { .. })) => Finding::skip(
            "ssh.second-factor",
            alias,
            "not tested: the signed attempt was refused",
        ),
        Ok(Err(e)) => Finding::skip(
            "ssh.second-factor",
            alias,
            format!("not tested: the agent did not sign ({e})"),
        ),
        Err(_) => Finding::skip("ssh.second-factor", alias, "not tested: no answer in time"),
    }
}

/// The `SSH-2.0-…` line among the server's first bytes.
fn banner_line(first: &[u8]) -> String {
    String::from_utf8_lossy(first)
        .lines()
        .find(|l| l.starts_with("SSH-"))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn describe_failure(
    ctx: &Context,
    alias: &str,
    e: &str,
    first: &[u8],
) -> (Vec<Finding>, Vec<Finding>) {
    let shown = printable(first);
    let t = ctx.timeout.as_secs_f64();
    let looks_ssh = first.starts_with(b"SSH-") || first.windows(4).any(|w| w == b"SSH-");
    let not_ssh = || {
        let what = if first.starts_with(b"HTTP/") || first.windows(5).any(|w| w == b"HTTP/") {
            "an HTTP server"
        } else {
            "something that is not an SSH server"
        };
        Finding::fail("ssh.banner", alias, format!("{what} answers on this port"))
            .detail(format!("It sent: {shown}"))
            .remedy(Remedy::text("A proxy, captive portal or firewall is answering in place of the login node: try another network or the VPN."))
            .with("received", &shown)
    };
    let mut banner = Vec::new();
    let mut kex = Vec::new();
    if e == "hostkey" {
        banner.push(Finding::pass("ssh.banner", alias, banner_line(first)));
    } else if let Some(rest) = e.strip_prefix("nocommon:") {
        let mut parts = rest.splitn(3, '|');
        let (kind, ours, theirs) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        banner.push(Finding::pass("ssh.banner", alias, banner_line(first)));
        kex.push(Finding::fail("ssh.kex", alias, format!("no {kind} algorithm in common with the server"))
            .detail(format!("ours: {ours}; the server's: {theirs}"))
            .remedy(Remedy::text("Remove KexAlgorithms/Ciphers/MACs/HostKeyAlgorithms lines from ~/.ssh/config or upgrade OpenSSH; if it persists, attach the bundle to a ticket."))
            .with("kind", kind)
            .with("ours", ours.split(',').collect::<Vec<_>>())
            .with("theirs", theirs.split(',').collect::<Vec<_>>()));
    } else if first.is_empty() {
        let summary = if e.starts_with("timeout") {
            format!(
                "no banner within {t:.1} s: the server accepted the connection and stayed silent"
            )
        } else {
            "the server closed the connection without a banner".to_string()
        };
        banner.push(Finding::fail("ssh.banner", alias, summary)
            .detail("ssh would report `Connection timed out during banner exchange` or `kex_exchange_identification: Connection closed by remote host`. A firewall, an overloaded node or a blocked account (fail2ban) looks like this.")
            .remedy(Remedy::text("Wait a few minutes and try again, or try another node; if it persists, attach the bundle to a ticket."))
            .with("error", e));
    } else if !looks_ssh || e == "version" {
        banner.push(not_ssh());
    } else {
        banner.push(Finding::pass("ssh.banner", alias, banner_line(first)));
        let f = if e.starts_with("timeout") {
            Finding::fail(
                "ssh.kex",
                alias,
                format!("key exchange did not finish within {t:.1} s"),
            )
            .detail("The server sent its banner and then stalled.")
            .remedy(Remedy::text(
                "Try again later or another node; attach the bundle if it persists.",
            ))
        } else {
            Finding::fail(
                "ssh.kex",
                alias,
                format!("the handshake failed: {}", e.trim_start_matches("error:")),
            )
        };
        kex.push(f.with("error", e));
    }
    (banner, kex)
}
