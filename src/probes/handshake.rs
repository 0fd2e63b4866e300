//! `ssh.*` from our own SSH client: banner, algorithms, host key, auth methods, key acceptance.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use russh::keys::{HashAlg, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::{BannerKind, Fact};
use crate::finding::{Finding, Remedy};
use crate::knownhosts::{self, Verdict};
use crate::probes::{record, NodePlan, Shared};
use crate::report::{Algorithms, HostKeyReport, KnownHosts, SecondFactor};
use crate::runner::{lock, SharedSlot, Stage};

/// New connections the key queries may open after the first (a server with a small
/// MaxAuthTries and many keys would otherwise cost one connection per few keys).
const MAX_RECONNECTIONS: usize = 3;
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
    /// The host key matched known_hosts or a profile pin: only then does anything sign.
    host_verified: bool,
    login_banner: Option<String>,
    /// The message of the server's last SSH_MSG_DISCONNECT.
    disconnect: Option<String>,
}

struct Probe {
    seen: Arc<Mutex<Seen>>,
    /// The names and files to check the host key against.
    known_names: Vec<String>,
    known_files: Vec<(String, Vec<knownhosts::Entry>)>,
    pins: Vec<String>,
    alias: String,
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
            known_hosts: KnownHosts::Unknown,
            location: None,
        };
        let alias = &self.alias;
        if !self.pins.is_empty() && !self.pins.contains(&fp) {
            report.known_hosts = KnownHosts::PinMismatch;
            let f = Finding::fail(CheckId::SshHostKey, alias, format!("host key {fp} is not one the site profile pins ({})", self.pins.join(", ")))
                .detail("The doctor offered no key to this server. Someone may be intercepting the connection, or the site changed its keys.")
                .remedy(Remedy::text("Do not log in. Report the fingerprint to support and attach the bundle."));
            return (report, Some(f.clone()), f);
        }
        // As OpenSSH: @revoked in any file wins, then a match in any file, then a change.
        let mut verdicts: Vec<(&String, Verdict)> = self
            .known_files
            .iter()
            .map(|(file, entries)| {
                (
                    file,
                    knownhosts::check(entries, &self.known_names, &algorithm, &blob),
                )
            })
            .collect();
        verdicts.sort_by_key(|(_, v)| match v {
            Verdict::Revoked { .. } => 0,
            Verdict::Match { .. } => 1,
            Verdict::Mismatch { .. } => 2,
            Verdict::Unknown { .. } => 3,
        });
        for (file, verdict) in verdicts {
            match verdict {
                Verdict::Match { line } => {
                    report.known_hosts = if self.pins.is_empty() {
                        KnownHosts::Match
                    } else {
                        KnownHosts::Pinned
                    };
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::pass(
                        CheckId::SshHostKey,
                        alias,
                        format!("host key {fp} matches {file}:{line}"),
                    );
                    return (report, None, f);
                }
                Verdict::Revoked { line } => {
                    report.known_hosts = KnownHosts::Revoked;
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::fail(
                        CheckId::SshHostKey,
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
                    let file = &file;
                    let old_fp = PublicKey::from_openssh(&format!("{algorithm} {old}"))
                        .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
                        .unwrap_or_else(|_| "(unreadable)".into());
                    report.known_hosts = KnownHosts::Mismatch;
                    report.location = Some(format!("{file}:{line}"));
                    let f = Finding::fail(CheckId::SshHostKey, alias, format!("host key changed: the server shows {fp}, {file}:{line} expects {old_fp}"))
                        .detail("ssh refuses to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). The node may have been reinstalled, or someone is in the middle; the doctor offered no key.")
                        .remedy(Remedy::command(format!("Only after support confirms {fp} is the node's new key, remove the old entry (line {line} of {file}):"), keygen_remove(&self.known_names[0], file)))
                        .with("expected", old_fp)
                        .with("line", *line);
                    return (report, Some(f.clone()), f);
                }
                Verdict::Unknown { .. } => {}
            }
        }
        let f = Finding::info(CheckId::SshHostKey, alias, format!("host key {fp} ({algorithm}) is not in known_hosts yet: ssh will ask you to confirm it the first time"))
            .detail("Compare the fingerprint with the one the site publishes before answering yes.");
        (report, None, f)
    }
}

/// `ssh-keygen -R` for an entry as it is stored (`[host]:port` for a port other than 22),
/// with `-f` when the file is not the default one.
fn keygen_remove(stored_name: &str, shown_file: &str) -> String {
    let name = if stored_name.starts_with('[') {
        format!("'{stored_name}'")
    } else {
        stored_name.to_string()
    };
    if shown_file == "~/.ssh/known_hosts" {
        format!("ssh-keygen -R {name}")
    } else {
        format!("ssh-keygen -R {name} -f {shown_file}")
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
        seen.host_verified = refused.is_none()
            && (matches!(report.known_hosts, KnownHosts::Match | KnownHosts::Pinned)
                || !self.pins.is_empty());
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

    async fn disconnected(
        &mut self,
        reason: russh::client::DisconnectReason<Self::Error>,
    ) -> Result<(), Self::Error> {
        match reason {
            russh::client::DisconnectReason::ReceivedDisconnect(info) => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.disconnect = Some(info.message.chars().take(200).collect());
                Ok(())
            }
            russh::client::DisconnectReason::Error(e) => Err(e),
        }
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

/// The keys to offer to a node, in the order the user's ssh offers them, and only those:
/// agent keys in the agent's order (with IdentitiesOnly only those that are also the
/// node's IdentityFiles), then the node's key files not in the agent (its IdentityFiles,
/// or the default names when it has none). DSA keys are left out: OpenSSH has not
/// offered them since 7.0.
pub fn candidates(plan: &NodePlan, shared: &Shared) -> Vec<Candidate> {
    let offerable = |key: &PublicKey| key.algorithm() != russh::keys::Algorithm::Dsa;
    let node_keys: Vec<&crate::probes::keys::KeyInfo> = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias))
        .collect();
    // The node's key files in the order ssh reads them: IdentityFile lines first.
    let mut files: Vec<(PublicKey, String, String)> = Vec::new();
    let explicit = plan
        .identity_files
        .iter()
        .filter_map(|p| node_keys.iter().find(|k| k.explicit && &k.path == p));
    let rest = node_keys
        .iter()
        .filter(|k| k.explicit)
        .chain(node_keys.iter().filter(|k| !k.explicit));
    for k in explicit.chain(rest) {
        let Some(pk) = k.public().filter(offerable) else {
            continue;
        };
        let fp = pk.fingerprint(HashAlg::Sha256).to_string();
        if !files.iter().any(|(_, f, _)| *f == fp) {
            files.push((pk, fp, k.shown.clone()));
        }
    }
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(agent) = &shared.agent {
        for a in &agent.keys {
            if out.iter().any(|c| c.fingerprint == a.fingerprint) {
                continue;
            }
            if let Some(i) = files.iter().position(|(_, fp, _)| *fp == a.fingerprint) {
                let (key, fingerprint, source) = files.remove(i);
                out.push(Candidate {
                    key,
                    fingerprint,
                    source,
                    in_agent: true,
                });
            } else if !plan.identities_only {
                let Some(pk) = PublicKey::from_openssh(&a.public_key)
                    .ok()
                    .filter(offerable)
                else {
                    continue;
                };
                out.push(Candidate {
                    key: pk,
                    fingerprint: a.fingerprint.clone(),
                    source: format!("agent key {}", a.fingerprint),
                    in_agent: true,
                });
            }
        }
    }
    out.extend(
        files
            .into_iter()
            .map(|(key, fingerprint, source)| Candidate {
                key,
                fingerprint,
                source,
                in_agent: false,
            }),
    );
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
/// `seen` and `tee`. The first connection is the TCP check's own socket; later ones go to
/// the same address (no new DNS lookup) and are counted.
struct Dialer<'a> {
    ctx: &'a Context,
    plan: &'a NodePlan,
    addr: SocketAddr,
    first: Mutex<Option<tokio::net::TcpStream>>,
    opened: std::sync::atomic::AtomicUsize,
    seen: Arc<Mutex<Seen>>,
    tee: Arc<Mutex<Vec<u8>>>,
    known: Vec<(String, Vec<knownhosts::Entry>)>,
}

impl Dialer<'_> {
    async fn connect(&self) -> Result<Connected, String> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        let tcp = match first {
            Some(stream) => stream,
            None => tokio::time::timeout(self.ctx.timeout, self.ctx.connector.connect(self.addr))
                .await
                .map_err(|_| "timeout: TCP connect".to_string())?
                .map_err(|e| format!("connect: {e}"))?,
        };
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .disconnect = None;
        handshake(
            self.ctx,
            self.plan,
            self.addr,
            tcp,
            &self.seen,
            &self.tee,
            &self.known,
        )
        .await
    }

    /// TCP connections this node's handshake used so far.
    fn connections(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the server ended the last connection, in its own words.
    fn disconnect_message(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .disconnect
            .clone()
    }
}

/// Says goodbye properly, so the server logs a disconnect, not a dropped connection.
async fn hang_up(ctx: &Context, h: Connected) {
    let _ = tokio::time::timeout(
        ctx.timeout,
        h.disconnect(russh::Disconnect::ByApplication, "", "en"),
    )
    .await;
}

async fn handshake(
    ctx: &Context,
    plan: &NodePlan,
    addr: SocketAddr,
    tcp: tokio::net::TcpStream,
    seen: &Arc<Mutex<Seen>>,
    tee: &Arc<Mutex<Vec<u8>>>,
    known: &[(String, Vec<knownhosts::Entry>)],
) -> Result<Connected, String> {
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
    reached: crate::probes::net::Reached,
    slot: &SharedSlot,
    verified_tx: tokio::sync::oneshot::Sender<Option<bool>>,
) {
    let alias = plan.alias.as_str();
    let dialer = Dialer {
        ctx,
        plan,
        addr: reached.addr,
        first: Mutex::new(Some(reached.stream)),
        opened: std::sync::atomic::AtomicUsize::new(0),
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
    // None: no host key was seen (the server was silent or spoke no SSH).
    let _ = verified_tx.send(snapshot.host_key.as_ref().map(|h| {
        result.is_ok() && matches!(h.known_hosts, KnownHosts::Match | KnownHosts::Pinned)
    }));
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
                    CheckId::SshKeyAccepted,
                    alias,
                    "not tested: no key is offered to a server whose host key does not match",
                ));
            }
            record(slot, Stage::Handshake, findings, alias);
            return;
        }
    };
    let banner = snapshot.banner.clone().unwrap_or_default();
    findings.push(Finding::pass(CheckId::SshBanner, alias, banner.clone()).with("banner", &banner));
    if let Some(a) = &snapshot.algorithms {
        findings.push(
            Finding::pass(
                CheckId::SshKex,
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
                    CheckId::SshAuthMethods,
                    alias,
                    format!("the server did not answer the methods query: {e}"),
                ));
                vec![]
            }
            Err(_) => {
                findings.push(Finding::warn(
                    CheckId::SshAuthMethods,
                    alias,
                    "the server did not answer the methods query in time",
                ));
                vec![]
            }
        };
    lock(slot).report.auth_methods = methods.clone();
    if !findings.iter().any(|f| f.id == CheckId::SshAuthMethods) {
        let f = if methods.is_empty() {
            Finding::warn(CheckId::SshAuthMethods, alias, "the server offers no authentication method at all")
                .detail("The login nodes accept public keys; something else may be answering on this address, or the server refuses every login.")
        } else if methods.iter().any(|m| m == "publickey") {
            Finding::info(
                CheckId::SshAuthMethods,
                alias,
                format!("the server offers: {}", methods.join(", ")),
            )
        } else {
            Finding::warn(CheckId::SshAuthMethods, alias, format!("the server does not offer publickey (only {})", methods.join(", ")))
                .detail("The login nodes accept public keys; something else may be answering on this address.")
        };
        findings.push(f.with("methods", &methods).with("user", &user));
    }

    // Which keys the server accepts, without signing, over the connection the methods
    // query used; a new one only when the server closes it.
    let cands = candidates(plan, shared);
    let budget = ctx.profile.policy.max_auth_tries().max(1) as usize;
    let offers = offer_keys(&dialer, &user, &cands, budget, handle).await;
    let Offers {
        accepted,
        refused,
        untested,
        not_offered,
        reconnections,
        mut live,
    } = offers;
    lock(slot).report.accepted_keys = accepted.iter().map(|c| c.fingerprint.clone()).collect();
    let evidence = |list: &[&Candidate]| {
        list.iter()
            .map(|c| serde_json::json!({"key": c.source, "fingerprint": c.fingerprint}))
            .collect::<Vec<_>>()
    };
    let key_finding = if cands.is_empty() {
        Finding::skip(
            CheckId::SshKeyAccepted,
            alias,
            "not tested: there is no public key to offer (see key.present)",
        )
    } else if let Some(c) = accepted {
        Finding::pass(
            CheckId::SshKeyAccepted,
            alias,
            format!(
                "the server accepts {} ({}) for user {user}",
                c.source, c.fingerprint
            ),
        )
    } else if refused.is_empty() {
        Finding::skip(
            CheckId::SshKeyAccepted,
            alias,
            "not tested: the server closed the connection before any key could be offered",
        )
    } else {
        Finding::fail(CheckId::SshKeyAccepted, alias, format!("the server accepts none of your {} key(s) for user {user}", refused.len()))
            .detail("From here this looks the same whether the public key was never deployed, the username is wrong, or the server refuses it for its own reasons (permissions of ~/.ssh on the cluster, a locked account). Support can tell them apart from the server log.")
            .remedy(Remedy::command(format!("If your account is less than 2 days old, deploy your key yourself (it asks for your cluster password); otherwise open a ticket and attach the bundle, which contains your public key. Also check that `{user}` is your cluster username."), ctx.os.shell().copy_id(&ctx.shell_shown(&format!("{}.pub", cands.iter().find(|c| !c.source.starts_with("agent")).map(|c| c.source.clone()).unwrap_or_else(|| "~/.ssh/id_ed25519".into()))), alias)))
    };
    let accepted_list: Vec<&Candidate> = accepted.into_iter().collect();
    let untested_ev: Vec<serde_json::Value> = untested
        .iter()
        .map(|(c, why)| serde_json::json!({"key": c.source, "fingerprint": c.fingerprint, "why": why}))
        .collect();
    let key_finding = if reconnections.is_empty() {
        key_finding
    } else {
        let note = format!(
            "The queries needed {} connections: {}.",
            reconnections.len() + 1,
            reconnections.join("; ")
        );
        let detail = match key_finding.detail.clone() {
            Some(d) => format!("{d} {note}"),
            None => note,
        };
        key_finding.detail(detail)
    };
    findings.push(
        key_finding
            .with("user", &user)
            .with("accepted", evidence(&accepted_list))
            .with("refused", evidence(&refused))
            .with("untested", untested_ev)
            .with("not_offered", evidence(&not_offered))
            .with("max_auth_tries", budget)
            .with("connections", dialer.connections())
            .with("reconnections", &reconnections),
    );

    // The second factor: only visible after a real signature, which only the agent can
    // give, and only to a server whose host key was verified. Same connection.
    let verified = seen.lock().unwrap_or_else(|e| e.into_inner()).host_verified;
    let second = match (accepted_list.first(), shared.agent.as_ref()) {
        (None, _) => Finding::skip(CheckId::SshSecondFactor, alias, "not tested: no key is accepted"),
        (Some(c), _) if !c.in_agent => Finding::skip(CheckId::SshSecondFactor, alias, "not tested: seeing the second factor needs a signature, and the accepted key is not loaded in ssh-agent (the doctor never asks for your passphrase)")
            .remedy(Remedy::command("To let the doctor check it, load the key into the agent and run it again:", format!("ssh-add {}", ctx.shell_shown("~/.ssh/id_ed25519")))),
        (Some(_), None) => Finding::skip(CheckId::SshSecondFactor, alias, "not tested: the agent could not be reached"),
        (Some(_), Some(_)) if !verified => {
            let fingerprint = seen
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .host_key
                .as_ref()
                .map(|h| h.fingerprint.clone())
                .unwrap_or_default();
            Finding::skip(CheckId::SshSecondFactor, alias, format!("not tested: nothing signs for a server whose host key ({fingerprint}) is not yet in known_hosts or pinned by the profile"))
                .detail("Compare the fingerprint with the one the site publishes (see ssh.host-key). Once you have logged in with `ssh` and confirmed it, the doctor checks the second factor too.")
                .with("host_key_verified", false)
                .with("fingerprint", fingerprint)
        }
        (Some(c), Some(agent)) => {
            let before = dialer.connections();
            let h = match live.take() {
                Some(h) if !h.is_closed() => Ok(h),
                _ => dialer.connect().await,
            };
            match h {
                Err(e) => Finding::skip(CheckId::SshSecondFactor, alias, format!("not tested: the server closed the connection and a new one failed ({e})")),
                Ok(mut h) => {
                    let f = second_factor(ctx, alias, &mut h, &user, c, &agent.address).await;
                    hang_up(ctx, h).await;
                    let same = dialer.connections() == before;
                    f.with("same_connection", same)
                }
            }
        }
    };
    let sf = match &second.fact {
        Some(Fact::SecondFactor(s)) => *s,
        _ => SecondFactor::Unknown,
    };
    lock(slot).report.second_factor = Some(sf);
    findings.push(second);
    if let Some(h) = live {
        hang_up(ctx, h).await;
    }
    record(slot, Stage::Handshake, findings, alias);
}

/// What the key queries found.
struct Offers<'c> {
    /// The first key the server accepts; ssh offers nothing after it, nor does the doctor.
    accepted: Option<&'c Candidate>,
    refused: Vec<&'c Candidate>,
    untested: Vec<(&'c Candidate, String)>,
    /// Keys after the accepted one.
    not_offered: Vec<&'c Candidate>,
    /// Why each new connection was needed.
    reconnections: Vec<String>,
    /// The connection still open, if any.
    live: Option<Connected>,
}

/// True when the server hung up in answer to a refused key because the connection's
/// authentication budget was spent (OpenSSH: `Too many authentication failures`).
fn budget_spent(message: Option<&str>) -> bool {
    message.is_some_and(|m| {
        m.to_ascii_lowercase()
            .contains("too many authentication failures")
    })
}

/// Offers the candidates in order until one is accepted. Never more than `budget` refused
/// offers on one connection; a new connection only when the server closed the old one,
/// or when the budget is spent on a server that keeps the connection open.
async fn offer_keys<'c>(
    dialer: &Dialer<'_>,
    user: &str,
    cands: &'c [Candidate],
    budget: usize,
    first: Connected,
) -> Offers<'c> {
    let ctx = dialer.ctx;
    let mut out = Offers {
        accepted: None,
        refused: Vec::new(),
        untested: Vec::new(),
        not_offered: Vec::new(),
        reconnections: Vec::new(),
        live: Some(first),
    };
    let mut refusals_here = 0;
    let mut retried = false;
    let mut i = 0;
    while i < cands.len() {
        let c = &cands[i];
        let open = out.live.as_ref().is_some_and(|h| !h.is_closed());
        if !open || refusals_here >= budget {
            let why = if open {
                format!("the profile's MaxAuthTries budget of {budget} refused keys was spent and the server kept the connection open, so the doctor closed it")
            } else {
                let said = dialer
                    .disconnect_message()
                    .map(|m| format!(" ({m})"))
                    .unwrap_or_default();
                format!(
                    "the server closed the connection after {refusals_here} refused key(s){said}"
                )
            };
            if let Some(h) = out.live.take() {
                hang_up(ctx, h).await;
            }
            if out.reconnections.len() >= MAX_RECONNECTIONS {
                for c in &cands[i..] {
                    out.untested.push((
                        c,
                        format!(
                            "not offered: the doctor opens at most {} connections per node",
                            MAX_RECONNECTIONS + 1
                        ),
                    ));
                }
                break;
            }
            match dialer.connect().await {
                Ok(h) => {
                    out.live = Some(h);
                    out.reconnections.push(why);
                    refusals_here = 0;
                }
                Err(e) => {
                    for c in &cands[i..] {
                        out.untested
                            .push((c, format!("a new connection failed ({e})")));
                    }
                    break;
                }
            }
        }
        let Some(h) = out.live.as_mut() else {
            break;
        };
        let hash = if c.key.algorithm().is_rsa() {
            h.best_supported_rsa_hash().await.ok().flatten().flatten()
        } else {
            None
        };
        let mut signer = AskedSigner { asked: false };
        let answer = tokio::time::timeout(
            ctx.timeout,
            h.authenticate_publickey_with(user.to_string(), c.key.clone(), hash, &mut signer),
        )
        .await;
        let hung_up = match answer {
            Ok(Err(AskedError::Asked)) | Ok(Ok(russh::client::AuthResult::Success)) => {
                out.accepted = Some(c);
                break;
            }
            Ok(Ok(russh::client::AuthResult::Failure { .. })) if signer.asked => {
                out.accepted = Some(c);
                break;
            }
            // A real refusal names the methods that can continue; an empty answer is
            // russh telling us the connection ended.
            Ok(Ok(russh::client::AuthResult::Failure {
                remaining_methods,
                partial_success,
            })) if !remaining_methods.is_empty() || partial_success => {
                out.refused.push(c);
                refusals_here += 1;
                false
            }
            Ok(Ok(russh::client::AuthResult::Failure { .. })) | Ok(Err(AskedError::Send)) => true,
            Err(_) => {
                for c in &cands[i..] {
                    out.untested.push((
                        c,
                        format!("no answer within {:.1} s", ctx.timeout.as_secs_f64()),
                    ));
                }
                break;
            }
        };
        if hung_up {
            if let Some(h) = out.live.take() {
                drop(h);
            }
            if budget_spent(dialer.disconnect_message().as_deref()) {
                // The server counted this key as refused and hung up: it is in its log.
                out.refused.push(c);
                refusals_here += 1;
            } else if !retried {
                // Closed for another reason: offer the same key once more on a new connection.
                retried = true;
                continue;
            } else {
                out.untested
                    .push((c, "the server closed the connection twice".to_string()));
            }
        }
        retried = false;
        i += 1;
    }
    if let Some(c) = out.accepted {
        let at = cands
            .iter()
            .position(|x| std::ptr::eq(x, c))
            .unwrap_or(cands.len());
        out.not_offered = cands[at + 1..].iter().collect();
    }
    out
}

/// Signs for the accepted key through the agent on `h` and reads what the server asks
/// next. The doctor stops there: it never answers a prompt.
async fn second_factor(
    ctx: &Context,
    alias: &str,
    h: &mut Connected,
    user: &str,
    c: &Candidate,
    address: &crate::platform::AgentAddress,
) -> Finding {
    let agent =
        match tokio::time::timeout(ctx.timeout, crate::platform::connect_agent(address)).await {
            Ok(Ok(a)) => a,
            _ => {
                return Finding::skip(
                    CheckId::SshSecondFactor,
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
    match result {
        Ok(Ok(russh::client::AuthResult::Failure {
            remaining_methods,
            partial_success: true,
        })) => {
            let rest: Vec<String> = remaining_methods.iter().map(String::from).collect();
            let totp = rest.iter().any(|m| m == "keyboard-interactive");
            let f = if totp {
                Finding::info(CheckId::SshSecondFactor, alias, "after the key, the server asks for keyboard-interactive (the TOTP code); the doctor stopped there")
            } else {
                Finding::info(
                    CheckId::SshSecondFactor,
                    alias,
                    format!("after the key, the server asks for: {}", rest.join(", ")),
                )
            };
            let status = if totp {
                SecondFactor::KeyboardInteractive
            } else {
                SecondFactor::Other
            };
            f.with("status", status)
                .with("remaining", rest)
                .fact(Fact::SecondFactor(status))
        }
        Ok(Ok(russh::client::AuthResult::Success)) => {
            let f = Finding::info(
                CheckId::SshSecondFactor,
                alias,
                "the key alone logs in: the server asks for no second factor",
            );
            let f = if ctx.profile.policy.second_factor().is_some() {
                f.detail("The site profile expects a TOTP step; support may want to know.")
            } else {
                f
            };
            f.with("status", SecondFactor::None)
                .fact(Fact::SecondFactor(SecondFactor::None))
        }
        Ok(Ok(russh::client::AuthResult::Failure { .. })) => Finding::skip(
            CheckId::SshSecondFactor,
            alias,
            "not tested: the signed attempt was refused",
        ),
        Ok(Err(e)) => Finding::skip(
            CheckId::SshSecondFactor,
            alias,
            format!("not tested: the agent did not sign ({e})"),
        ),
        Err(_) => Finding::skip(
            CheckId::SshSecondFactor,
            alias,
            "not tested: no answer in time",
        ),
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
        Finding::fail(CheckId::SshBanner, alias, format!("{what} answers on this port"))
            .detail(format!("It sent: {shown}"))
            .remedy(Remedy::text("A proxy, captive portal or firewall is answering in place of the login node: try another network or the VPN."))
            .with("received", &shown)
            .fact(Fact::Banner(BannerKind::NotSsh))
    };
    let mut banner = Vec::new();
    let mut kex = Vec::new();
    if e == "hostkey" {
        banner.push(Finding::pass(CheckId::SshBanner, alias, banner_line(first)));
    } else if let Some(rest) = e.strip_prefix("nocommon:") {
        let mut parts = rest.splitn(3, '|');
        let (kind, ours, theirs) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        banner.push(Finding::pass(CheckId::SshBanner, alias, banner_line(first)));
        kex.push(Finding::fail(CheckId::SshKex, alias, format!("no {kind} algorithm in common with the server"))
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
        banner.push(Finding::fail(CheckId::SshBanner, alias, summary)
            .detail("ssh would report `Connection timed out during banner exchange` or `kex_exchange_identification: Connection closed by remote host`. A firewall, an overloaded node or a blocked account (fail2ban) looks like this.")
            .remedy(Remedy::text("Wait a few minutes and try again, or try another node; if it persists, attach the bundle to a ticket."))
            .with("error", e));
    } else if !looks_ssh || e == "version" {
        banner.push(not_ssh());
    } else {
        banner.push(Finding::pass(CheckId::SshBanner, alias, banner_line(first)));
        let f = if e.starts_with("timeout") {
            Finding::fail(
                CheckId::SshKex,
                alias,
                format!("key exchange did not finish within {t:.1} s"),
            )
            .detail("The server sent its banner and then stalled.")
            .remedy(Remedy::text(
                "Try again later or another node; attach the bundle if it persists.",
            ))
        } else {
            Finding::fail(
                CheckId::SshKex,
                alias,
                format!("the handshake failed: {}", e.trim_start_matches("error:")),
            )
        };
        kex.push(f.with("error", e));
    }
    (banner, kex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::keys::{AgentKey, AgentState, KeyInfo};
    use std::path::{Path, PathBuf};

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys")
            .join(name)
    }

    fn key_file(name: &str, explicit: bool) -> KeyInfo {
        let path = fixture(name);
        let sniff = |p: &Path| crate::keyfile::sniff(&std::fs::read(p).unwrap());
        KeyInfo {
            shown: format!("~/.ssh/{name}"),
            facts: sniff(&path),
            pub_facts: Some(sniff(&fixture(&format!("{name}.pub")))),
            comment: None,
            used_by: vec!["slurm".into()],
            explicit,
            mode: None,
            owner_is_user: None,
            path,
        }
    }

    fn agent_key(name: &str) -> AgentKey {
        let line = std::fs::read_to_string(fixture(&format!("{name}.pub"))).unwrap();
        let key = PublicKey::from_openssh(line.trim()).unwrap();
        AgentKey {
            algorithm: key.algorithm().as_str().to_string(),
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            public_key: key.to_openssh().unwrap(),
            comment: String::new(),
        }
    }

    fn plan(identity_files: Vec<PathBuf>, identities_only: bool) -> NodePlan {
        NodePlan {
            alias: "slurm".into(),
            hostname: "127.0.0.1".into(),
            port: 22,
            user: None,
            region: None,
            identity_files,
            identities_only,
            known_hosts_files: vec![],
            proxy: None,
            host_key_pins: vec![],
        }
    }

    fn sources(c: &[Candidate]) -> Vec<String> {
        c.iter().map(|c| c.source.clone()).collect()
    }

    #[test]
    fn keys_come_in_ssh_s_order_and_only_those_ssh_offers() {
        // The agent holds an unrelated key first, then the IdentityFile's key.
        let shared = Shared {
            keys: vec![
                key_file("ed25519_plain", true),
                key_file("ed25519_16", true),
                key_file("dsa_plain", true),
            ],
            agent: Some(AgentState {
                address: crate::platform::AgentAddress::Socket(PathBuf::new()),
                keys: vec![agent_key("ed25519_100"), agent_key("ed25519_16")],
            }),
            ..Shared::default()
        };
        let files = vec![
            fixture("ed25519_plain"),
            fixture("ed25519_16"),
            fixture("dsa_plain"),
        ];
        let fp100 = agent_key("ed25519_100").fingerprint;
        // Agent keys first in the agent's order (the one that is also a file keeps its
        // name), then the files the agent lacks; never the DSA key.
        let all = candidates(&plan(files.clone(), false), &shared);
        assert_eq!(
            sources(&all),
            [
                format!("agent key {fp100}"),
                "~/.ssh/ed25519_16".into(),
                "~/.ssh/ed25519_plain".into()
            ]
        );
        assert_eq!(
            all.iter().map(|c| c.in_agent).collect::<Vec<_>>(),
            [true, true, false]
        );
        // IdentitiesOnly: no agent key that is not an IdentityFile.
        let only = candidates(&plan(files, true), &shared);
        assert_eq!(
            sources(&only),
            ["~/.ssh/ed25519_16", "~/.ssh/ed25519_plain"]
        );
    }

    #[test]
    fn only_a_hang_up_for_too_many_failures_counts_as_a_refusal() {
        assert!(budget_spent(Some("Too many authentication failures")));
        assert!(budget_spent(Some(
            "too many authentication failures for root"
        )));
        assert!(!budget_spent(Some("Connection reset")));
        assert!(!budget_spent(None));
    }
}
