//! `ssh.auth-methods` and `ssh.key-accepted`: the methods the server offers, and which of
//! the user's keys it accepts, asked without signing and within the server's MaxAuthTries.

use russh::keys::{HashAlg, PublicKey};

use super::{hang_up, rsa_hash, Connected, Dialer};
use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
use crate::probes::{NodePlan, Shared};

/// New connections the key queries may open after the first (a server with a small
/// MaxAuthTries and many keys would otherwise cost one connection per few keys).
const MAX_RECONNECTIONS: usize = 3;
/// Keys offered to one node at most.
const MAX_CANDIDATES: usize = 15;

/// A public key to offer, and where it came from.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub key: PublicKey,
    pub fingerprint: String,
    /// `~/.ssh/id_ed25519`, or `agent key <fingerprint>` for a key only the agent has.
    pub source: String,
    /// The key file (as shown), unless only the agent has the key.
    pub file: Option<String>,
    pub in_agent: bool,
}

/// The keys to offer to a node, in the order the user's ssh offers them, and only those:
/// agent keys in the agent's order (with IdentitiesOnly only those that are also the
/// node's IdentityFiles), then the node's key files not in the agent (its IdentityFiles,
/// or the default names when it has none). DSA keys are left out: OpenSSH has not
/// offered them since 7.0.
pub fn candidates(plan: &NodePlan, shared: &Shared) -> Vec<Candidate> {
    let mut files = key_files(plan, shared);
    let mut out: Vec<Candidate> = Vec::new();
    if let Some(agent) = shared.agent.as_ref().filter(|_| !plan.other_agent) {
        for a in &agent.keys {
            if out.iter().any(|c| c.fingerprint == a.fingerprint) {
                continue;
            }
            if let Some(i) = files.iter().position(|c| c.fingerprint == a.fingerprint) {
                out.push(Candidate {
                    in_agent: true,
                    ..files.remove(i)
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
                    file: None,
                    in_agent: true,
                });
            }
        }
    }
    out.extend(files);
    out.truncate(MAX_CANDIDATES);
    out
}

fn offerable(key: &PublicKey) -> bool {
    key.algorithm() != russh::keys::Algorithm::Dsa
}

/// The node's key files in the order ssh reads them: IdentityFile lines first, each key
/// once.
fn key_files(plan: &NodePlan, shared: &Shared) -> Vec<Candidate> {
    let node_keys: Vec<&crate::probes::keys::KeyInfo> = shared
        .keys
        .iter()
        .filter(|k| k.used_by.contains(&plan.alias))
        .collect();
    let explicit = plan
        .identity_files
        .iter()
        .filter_map(|p| node_keys.iter().find(|k| k.explicit && &k.path == p));
    let rest = node_keys
        .iter()
        .filter(|k| k.explicit)
        .chain(node_keys.iter().filter(|k| !k.explicit));
    let mut files: Vec<Candidate> = Vec::new();
    for k in explicit.chain(rest) {
        let Some(key) = k.public().filter(offerable) else {
            continue;
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        if !files.iter().any(|c| c.fingerprint == fingerprint) {
            files.push(Candidate {
                key,
                fingerprint,
                source: k.shown.clone(),
                file: Some(k.shown.clone()),
                in_agent: false,
            });
        }
    }
    files
}

/// The `ssh.auth-methods` fact: how the server answered the `none` query.
#[derive(Debug)]
pub(super) enum Methods {
    /// The methods that can continue (`none` when the server let the user in unasked).
    Offered(Vec<String>),
    /// The query failed.
    Failed(russh::Error),
    /// No answer within `--timeout`.
    NoAnswer,
}

impl Methods {
    /// Asks the server which methods it offers `user`.
    pub async fn query(ctx: &Context, h: &mut Connected, user: &str) -> Methods {
        match tokio::time::timeout(ctx.timeout, h.authenticate_none(user.to_string())).await {
            Ok(Ok(russh::client::AuthResult::Failure {
                remaining_methods, ..
            })) => Methods::Offered(remaining_methods.iter().map(String::from).collect()),
            Ok(Ok(russh::client::AuthResult::Success)) => Methods::Offered(vec!["none".into()]),
            Ok(Err(e)) => Methods::Failed(e),
            Err(_) => Methods::NoAnswer,
        }
    }

    /// The methods, for the node report (none when the query failed).
    pub fn listed(&self) -> &[String] {
        match self {
            Methods::Offered(m) => m,
            Methods::Failed(_) | Methods::NoAnswer => &[],
        }
    }
}

/// The `ssh.auth-methods` finding.
pub(super) fn auth_methods_finding(alias: &str, user: &str, methods: &Methods) -> Finding {
    let methods = match methods {
        Methods::Failed(e) => {
            return Finding::warn(
                CheckId::SshAuthMethods,
                alias,
                format!("the server did not answer the methods query: {e}"),
            )
        }
        Methods::NoAnswer => {
            return Finding::warn(
                CheckId::SshAuthMethods,
                alias,
                "the server did not answer the methods query in time",
            )
        }
        Methods::Offered(m) => m,
    };
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
        Finding::warn(
            CheckId::SshAuthMethods,
            alias,
            format!(
                "the server does not offer publickey (only {})",
                methods.join(", ")
            ),
        )
        .detail(
            "The login nodes accept public keys; something else may be answering on this address.",
        )
    };
    f.with("methods", methods).with("user", user)
}

/// What the key queries found.
#[derive(Debug, Default)]
pub(super) struct Offers<'c> {
    /// The first key the server accepts; ssh offers nothing after it, nor does the doctor.
    pub accepted: Option<&'c Candidate>,
    pub refused: Vec<&'c Candidate>,
    pub untested: Vec<(&'c Candidate, String)>,
    /// Keys after the accepted one.
    pub not_offered: Vec<&'c Candidate>,
    /// Why each new connection was needed.
    pub reconnections: Vec<String>,
}

/// The `ssh.key-accepted` fact.
pub(super) enum KeyAcceptance<'a> {
    /// Nothing was offered: the host key did not match.
    HostKeyRefused,
    /// The queries ran (over `connections` connections, at most `budget` refusals each).
    Queried {
        user: &'a str,
        candidates: &'a [Candidate],
        offers: &'a Offers<'a>,
        budget: usize,
        connections: usize,
    },
}

/// The `ssh.key-accepted` finding.
pub(super) fn key_accepted_finding(ctx: &Context, alias: &str, fact: &KeyAcceptance) -> Finding {
    let KeyAcceptance::Queried {
        user,
        candidates: cands,
        offers,
        budget,
        connections,
    } = fact
    else {
        return Finding::skip(
            CheckId::SshKeyAccepted,
            alias,
            "not tested: no key is offered to a server whose host key does not match",
        );
    };
    let f = if cands.is_empty() {
        Finding::skip(
            CheckId::SshKeyAccepted,
            alias,
            "not tested: there is no public key to offer (see key.present)",
        )
    } else if let Some(c) = offers.accepted {
        Finding::pass(
            CheckId::SshKeyAccepted,
            alias,
            format!(
                "the server accepts {} ({}) for user {user}",
                c.source, c.fingerprint
            ),
        )
    } else if offers.refused.is_empty() {
        Finding::skip(
            CheckId::SshKeyAccepted,
            alias,
            "not tested: the server closed the connection before any key could be offered",
        )
    } else {
        Finding::fail(CheckId::SshKeyAccepted, alias, format!("the server accepts none of your {} key(s) for user {user}", offers.refused.len()))
            .detail("From here this looks the same whether the public key was never deployed, the username is wrong, or the server refuses it for its own reasons (permissions of ~/.ssh on the cluster, a locked account). Support can tell them apart from the server log.")
            .remedy(Remedy::command(format!("If your account is less than {} old, deploy your key yourself (it asks for your cluster password); otherwise open a ticket and attach the bundle, which contains your public key. Also check that `{user}` is your cluster username.", ctx.profile.advice.days()), ctx.os.shell().copy_id(&ctx.shell_shown(&format!("{}.pub", cands.iter().find_map(|c| c.file.clone()).unwrap_or_else(|| ctx.profile.advice.key_path()))), alias)))
    };
    let f = if offers.reconnections.is_empty() {
        f
    } else {
        let note = format!(
            "The queries needed {} connections: {}.",
            offers.reconnections.len() + 1,
            offers.reconnections.join("; ")
        );
        let detail = match f.detail.clone() {
            Some(d) => format!("{d} {note}"),
            None => note,
        };
        f.detail(detail)
    };
    let listed = |list: &[&Candidate]| {
        list.iter()
            .map(|c| serde_json::json!({"key": c.source, "fingerprint": c.fingerprint, "in_agent": c.in_agent}))
            .collect::<Vec<_>>()
    };
    let untested: Vec<serde_json::Value> = offers
        .untested
        .iter()
        .map(|(c, why)| serde_json::json!({"key": c.source, "fingerprint": c.fingerprint, "why": why}))
        .collect();
    let accepted: Vec<&Candidate> = offers.accepted.into_iter().collect();
    f.with("user", user)
        .with("accepted", listed(&accepted))
        .with("refused", listed(&offers.refused))
        .with("untested", untested)
        .with("not_offered", listed(&offers.not_offered))
        .with("max_auth_tries", budget)
        .with("connections", connections)
        .with("reconnections", &offers.reconnections)
}

/// True when the server hung up in answer to a refused key because the connection's
/// authentication budget was spent (OpenSSH: `Too many authentication failures`).
fn budget_spent(message: Option<&str>) -> bool {
    message.is_some_and(|m| {
        m.to_ascii_lowercase()
            .contains("too many authentication failures")
    })
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

/// How the server answered one unsigned offer.
enum Reply {
    Accepted,
    Refused,
    /// The connection ended instead of an answer.
    HungUp,
    /// Nothing within `--timeout`.
    TimedOut,
}

/// Offers one key without signing.
async fn offer(ctx: &Context, h: &mut Connected, user: &str, c: &Candidate) -> Reply {
    let hash = rsa_hash(h, &c.key).await;
    let mut signer = AskedSigner { asked: false };
    let answer = tokio::time::timeout(
        ctx.timeout,
        h.authenticate_publickey_with(user.to_string(), c.key.clone(), hash, &mut signer),
    )
    .await;
    match answer {
        Ok(Err(AskedError::Asked)) | Ok(Ok(russh::client::AuthResult::Success)) => Reply::Accepted,
        Ok(Ok(russh::client::AuthResult::Failure { .. })) if signer.asked => Reply::Accepted,
        // A real refusal names the methods that can continue; an empty answer is
        // russh telling us the connection ended.
        Ok(Ok(russh::client::AuthResult::Failure {
            remaining_methods,
            partial_success,
        })) if !remaining_methods.is_empty() || partial_success => Reply::Refused,
        Ok(Ok(russh::client::AuthResult::Failure { .. })) | Ok(Err(AskedError::Send)) => {
            Reply::HungUp
        }
        Err(_) => Reply::TimedOut,
    }
}

/// The key queries of one node under way: the open connection and its refusals so far.
struct Queries<'d, 'c> {
    dialer: &'d Dialer<'d>,
    /// The server's MaxAuthTries (from the profile).
    budget: usize,
    /// Refused offers per connection: one fewer than `budget` (see [`per_connection`]).
    per_connection: usize,
    live: Option<Connected>,
    refusals_here: usize,
    out: Offers<'c>,
}

impl<'c> Queries<'_, 'c> {
    fn refused(&mut self, c: &'c Candidate) {
        self.out.refused.push(c);
        self.refusals_here += 1;
    }

    fn untested(&mut self, rest: &'c [Candidate], why: String) {
        self.out
            .untested
            .extend(rest.iter().map(|c| (c, why.clone())));
    }

    /// An open connection with budget left: a new one when the server closed the last or
    /// the budget is spent on a server that keeps it open. None, with `rest` untested,
    /// when there can be no new one.
    async fn connection(&mut self, rest: &'c [Candidate]) -> Option<&mut Connected> {
        let open = self.live.as_ref().is_some_and(|h| !h.is_closed());
        if open && self.refusals_here < self.per_connection {
            return self.live.as_mut();
        }
        let why = if open && self.per_connection < self.budget {
            format!("the doctor stopped after {} refused keys, one below the server's MaxAuthTries of {} (at which sshd logs `maximum authentication attempts exceeded`, a line that bans addresses on some sites), and opened a new connection", self.refusals_here, self.budget)
        } else if open {
            format!("the profile's MaxAuthTries budget of {} refused keys was spent and the server kept the connection open, so the doctor closed it", self.budget)
        } else {
            let said = self
                .dialer
                .disconnect_message()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            format!(
                "the server closed the connection after {} refused key(s){said}",
                self.refusals_here
            )
        };
        if let Some(h) = self.live.take() {
            hang_up(self.dialer.ctx, h).await;
        }
        if self.out.reconnections.len() >= MAX_RECONNECTIONS {
            let why = format!(
                "not offered: the doctor opens at most {} connections per node",
                MAX_RECONNECTIONS + 1
            );
            self.untested(rest, why);
            return None;
        }
        match self.dialer.connect().await {
            Ok(h) => {
                self.out.reconnections.push(why);
                self.refusals_here = 0;
                Some(self.live.insert(h))
            }
            Err(e) => {
                self.untested(rest, format!("a new connection failed ({e})"));
                None
            }
        }
    }
}

/// Refused offers one connection may cost under a MaxAuthTries of `budget`: one fewer, so
/// that sshd never reaches its limit (it then logs `maximum authentication attempts
/// exceeded`, which fail2ban's sshd filter counts as an attack), unless that would leave
/// a single offer per connection.
pub(super) fn per_connection(budget: usize) -> usize {
    if budget > 2 {
        budget - 1
    } else {
        budget.max(1)
    }
}

/// Offers the candidates in order until one is accepted. Never more than
/// [`per_connection`] refused offers on one connection; a new connection when the server
/// closed the old one or that many were refused. Returns what the queries found and the
/// connection still open, if any.
pub(super) async fn offer_keys<'c>(
    dialer: &Dialer<'_>,
    user: &str,
    cands: &'c [Candidate],
    budget: usize,
    first: Connected,
) -> (Offers<'c>, Option<Connected>) {
    let ctx = dialer.ctx;
    let mut q = Queries {
        dialer,
        budget,
        per_connection: per_connection(budget),
        live: Some(first),
        refusals_here: 0,
        out: Offers::default(),
    };
    let mut retried = false;
    let mut i = 0;
    while i < cands.len() {
        let c = &cands[i];
        let Some(h) = q.connection(&cands[i..]).await else {
            break;
        };
        match offer(ctx, h, user, c).await {
            Reply::Accepted => {
                q.out.accepted = Some(c);
                q.out.not_offered = cands[i + 1..].iter().collect();
                break;
            }
            Reply::Refused => q.refused(c),
            Reply::TimedOut => {
                let why = format!("no answer within {:.1} s", ctx.timeout.as_secs_f64());
                q.untested(&cands[i..], why);
                break;
            }
            Reply::HungUp => {
                q.live = None;
                if budget_spent(dialer.disconnect_message().as_deref()) {
                    // The server counted this key as refused and hung up: it is in its log.
                    q.refused(c);
                } else if !retried {
                    // Closed for another reason: offer the same key once more on a new
                    // connection.
                    retried = true;
                    continue;
                } else {
                    q.out
                        .untested
                        .push((c, "the server closed the connection twice".to_string()));
                }
            }
        }
        retried = false;
        i += 1;
    }
    (q.out, q.live)
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
            private_in_pub: None,
            pub_present: true,
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
            port_at: None,
            user: None,
            region: None,
            identity_files,
            identities_only,
            other_agent: false,
            known_hosts_files: vec![],
            proxy: None,
            host_key_pins: vec![],
            settings_unknown: None,
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
    fn a_connection_stays_one_refusal_below_max_auth_tries() {
        assert_eq!(per_connection(6), 5);
        assert_eq!(per_connection(3), 2);
        assert_eq!(per_connection(2), 2);
        assert_eq!(per_connection(1), 1);
        assert_eq!(per_connection(0), 1);
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
