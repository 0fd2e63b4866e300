//! `ssh.*` from our own SSH client: banner, algorithms, host key, auth methods, key
//! acceptance, second factor. This file holds the connection and the order of the checks;
//! each check's fact and finding live beside it.

mod failure;
mod host_key;
mod offers;
mod second_factor;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use russh::keys::{HashAlg, PublicKey};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub use failure::ConnectError;
pub use offers::{candidates, Candidate};

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::Finding;
use crate::knownhosts;
use crate::probes::{record, NodePlan, Shared};
use crate::report::Algorithms;
use crate::runner::{lock, SharedSlot, Stage};
use failure::{Banner, Kex};
use host_key::{Expected, HostKey};
use offers::{KeyAcceptance, Methods};

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
    /// The host key and where it stands; a refused one stops the handshake.
    host_key: Option<HostKey>,
    login_banner: Option<String>,
    /// The message of the server's last SSH_MSG_DISCONNECT.
    disconnect: Option<String>,
}

/// The russh handler of one connection: judges the host key, records what it sees.
struct Probe {
    seen: Arc<Mutex<Seen>>,
    expected: Expected,
}

impl russh::client::Handler for Probe {
    type Error = ConnectError;

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
        let host_key = host_key::judge(&key, &self.expected);
        let ok = !host_key.refused();
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).host_key = Some(host_key);
        // false makes russh end the handshake with `UnknownKey`: `HostKeyRejected`.
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
    addr: SocketAddr,
    first: Mutex<Option<tokio::net::TcpStream>>,
    opened: std::sync::atomic::AtomicUsize,
    seen: Arc<Mutex<Seen>>,
    tee: Arc<Mutex<Vec<u8>>>,
    expected: Expected,
}

impl<'a> Dialer<'a> {
    fn new(ctx: &'a Context, plan: &NodePlan, reached: crate::probes::net::Reached) -> Self {
        let mut names = vec![knownhosts::host_name(&plan.hostname, plan.port)];
        let ip_name = knownhosts::host_name(&reached.addr.ip().to_string(), plan.port);
        if !names.contains(&ip_name) {
            names.push(ip_name);
        }
        Dialer {
            ctx,
            addr: reached.addr,
            first: Mutex::new(Some(reached.stream)),
            opened: std::sync::atomic::AtomicUsize::new(0),
            seen: Arc::new(Mutex::new(Seen::default())),
            tee: Arc::new(Mutex::new(Vec::new())),
            expected: Expected {
                names,
                files: known_files(ctx, plan),
                pins: plan.host_key_pins.clone(),
            },
        }
    }

    /// A connection through key exchange: the TCP check's socket the first time, a new
    /// one after.
    async fn connect(&self) -> Result<Connected, ConnectError> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        let tcp = match first {
            Some(stream) => stream,
            None => tokio::time::timeout(self.ctx.timeout, self.ctx.connector.connect(self.addr))
                .await
                .map_err(|_| ConnectError::ConnectTimeout)?
                .map_err(ConnectError::Connect)?,
        };
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.seen().disconnect = None;
        let stream = Tee {
            inner: tcp,
            seen: self.tee.clone(),
        };
        let handler = Probe {
            seen: self.seen.clone(),
            expected: self.expected.clone(),
        };
        let handshake = russh::client::connect_stream(client_config(), stream, handler);
        match tokio::time::timeout(self.ctx.timeout, handshake).await {
            Err(_) => Err(ConnectError::HandshakeTimeout),
            Ok(result) => result,
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server's first bytes, as far as [`TEE_BYTES`].
    fn first_bytes(&self) -> Vec<u8> {
        self.tee.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The host key the last connection showed, if any.
    fn host_key(&self) -> Option<HostKey> {
        self.seen().host_key.clone()
    }

    /// TCP connections this node's handshake used so far.
    fn connections(&self) -> usize {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why the server ended the last connection, in its own words.
    fn disconnect_message(&self) -> Option<String> {
        self.seen().disconnect.clone()
    }
}

/// Says goodbye properly, so the server logs a disconnect, not a dropped connection.
async fn hang_up(ctx: &Context, h: Connected) {
    let _ = tokio::time::timeout(ctx.timeout, async {
        if h.disconnect(russh::Disconnect::ByApplication, "", "en")
            .await
            .is_ok()
        {
            // The session task writes the message and ends; waiting for it means the run
            // never ends (and drops the socket) before the server has read the goodbye.
            let _ = h.await;
        }
    })
    .await;
}

/// The signature hash to name with an RSA key (the best the server supports); none for
/// other keys.
async fn rsa_hash(h: &Connected, key: &PublicKey) -> Option<HashAlg> {
    if key.algorithm().is_rsa() {
        h.best_supported_rsa_hash().await.ok().flatten().flatten()
    } else {
        None
    }
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
    let dialer = Dialer::new(ctx, plan, reached);
    let result = dialer.connect().await;
    let seen = dialer.seen().clone();
    let first_bytes = dialer.first_bytes();
    {
        let mut s = lock(slot);
        s.report.banner = seen.banner.clone().or_else(|| {
            first_bytes
                .split(|b| *b == b'\n')
                .next()
                .map(|l| String::from_utf8_lossy(l).trim().to_string())
                .filter(|l| l.starts_with("SSH-"))
        });
        s.report.algorithms = seen.algorithms.clone();
        s.report.host_key = seen.host_key.as_ref().map(HostKey::report);
    }
    // None: no host key was seen (the server was silent or spoke no SSH).
    let _ = verified_tx.send(seen.host_key.as_ref().map(|h| result.is_ok() && h.known()));
    let findings = match result {
        Err(e) => failed(ctx, alias, &e, &seen, &first_bytes),
        Ok(h) => after_kex(&dialer, plan, shared, &seen, h, slot).await,
    };
    record(slot, Stage::Handshake, findings, alias);
}

/// The findings of a handshake that failed with `e`.
fn failed(
    ctx: &Context,
    alias: &str,
    e: &ConnectError,
    seen: &Seen,
    first_bytes: &[u8],
) -> Vec<Finding> {
    let (banner, kex) = failure::describe(e, first_bytes);
    let mut findings = vec![failure::banner_finding(alias, &banner, ctx.timeout)];
    findings.extend(kex.map(|k| failure::kex_finding(alias, &k, ctx.timeout)));
    findings.extend(seen.host_key.as_ref().map(|h| host_key::finding(alias, h)));
    if matches!(e, ConnectError::HostKeyRejected) {
        let fact = KeyAcceptance::HostKeyRefused;
        findings.push(offers::key_accepted_finding(ctx, alias, &fact));
    }
    findings
}

/// The findings after a completed key exchange: banner, algorithms and host key, then the
/// methods, the keys the server accepts and the second factor, over the same connection
/// while the server keeps it open.
async fn after_kex(
    dialer: &Dialer<'_>,
    plan: &NodePlan,
    shared: &Shared,
    seen: &Seen,
    mut handle: Connected,
    slot: &SharedSlot,
) -> Vec<Finding> {
    let ctx = dialer.ctx;
    let alias = plan.alias.as_str();
    let user = plan.user.clone().unwrap_or_else(|| ctx.local_user.clone());
    let banner = seen.banner.clone().unwrap_or_default();
    let mut findings = vec![failure::banner_finding(
        alias,
        &Banner::Exchanged(&banner),
        ctx.timeout,
    )];
    if let Some(a) = &seen.algorithms {
        findings.push(failure::kex_finding(alias, &Kex::Agreed(a), ctx.timeout));
    }
    findings.extend(seen.host_key.as_ref().map(|h| host_key::finding(alias, h)));

    let methods = Methods::query(ctx, &mut handle, &user).await;
    lock(slot).report.auth_methods = methods.listed().to_vec();
    findings.push(offers::auth_methods_finding(alias, &user, &methods));

    // Where the config was not read, the user ssh sends is unknown: keys refused for a
    // guessed user would say "not accepted" of a key that may well be.
    if let (None, Some(why)) = (&plan.user, plan.settings_unknown) {
        let why = format!("the user ssh sends is unknown (~/.ssh/config {why}); run the doctor with --user NAME to ask");
        for id in [CheckId::SshKeyAccepted, CheckId::SshSecondFactor] {
            findings.push(Finding::skip(id, alias, format!("not tested: {why}")));
        }
        hang_up(ctx, handle).await;
        return findings;
    }

    // Which keys the server accepts, without signing, over the connection the methods
    // query used; a new one when the server closes it or one refusal before its limit.
    let cands = candidates(plan, shared);
    let budget = ctx.profile.policy.max_auth_tries().max(1) as usize;
    let (offers, mut live) = offers::offer_keys(dialer, &user, &cands, budget, handle).await;
    lock(slot).report.accepted_keys = offers
        .accepted
        .iter()
        .map(|c| c.fingerprint.clone())
        .collect();
    let fact = KeyAcceptance::Queried {
        user: &user,
        candidates: &cands,
        offers: &offers,
        budget,
        connections: dialer.connections(),
    };
    findings.push(offers::key_accepted_finding(ctx, alias, &fact));

    let agent = shared.agent.as_ref().map(|a| &a.address);
    let step = second_factor::observe(dialer, &user, offers.accepted, agent, &mut live).await;
    lock(slot).report.second_factor = Some(step.status());
    findings.push(second_factor::finding(ctx, alias, &step));
    if let Some(h) = live {
        hang_up(ctx, h).await;
    }
    findings
}
