//! `ssh.second-factor`: what the server asks for after the key. Only a real signature shows
//! it, which only the agent can give, and only to a server whose host key was verified.
//! The doctor stops at the next prompt and never answers it.

use super::failure::ConnectError;
use super::host_key::HostKey;
use super::offers::Candidate;
use super::{hang_up, rsa_hash, Connected, Dialer};
use crate::check::CheckId;
use crate::context::Context;
use crate::fact::Fact;
use crate::finding::{Finding, Remedy};
use crate::platform::AgentAddress;
use crate::report::SecondFactor;

/// The `ssh.second-factor` fact.
#[derive(Debug)]
pub(super) enum Step {
    /// No key is accepted.
    NoKeyAccepted,
    /// The accepted key is not loaded in the agent, and only the agent signs.
    NotInAgent,
    /// There is no agent.
    NoAgent,
    /// Nothing signs for a server whose host key (this fingerprint) is neither in
    /// known_hosts nor pinned.
    HostNotVerified { fingerprint: String },
    /// The key queries' connection was closed and a new one failed.
    Reconnect(ConnectError),
    /// The signed attempt, on the key queries' own connection or on a new one.
    Signed {
        attempt: Attempt,
        same_connection: bool,
    },
}

/// How the signed attempt went.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The agent could not be reached.
    NoAgent,
    /// Partial success: the methods the server asks for next.
    Next(Vec<String>),
    /// Success: the key alone logs in.
    KeyAlone,
    /// The server refused the signed attempt.
    Refused,
    /// The agent did not sign (its words).
    NotSigned(String),
    /// No answer within `--timeout`.
    NoAnswer,
}

impl Step {
    /// The node report's status.
    pub fn status(&self) -> SecondFactor {
        match self {
            Step::Signed {
                attempt: Attempt::Next(rest),
                ..
            } if rest.iter().any(|m| m == "keyboard-interactive") => {
                SecondFactor::KeyboardInteractive
            }
            Step::Signed {
                attempt: Attempt::Next(_),
                ..
            } => SecondFactor::Other,
            Step::Signed {
                attempt: Attempt::KeyAlone,
                ..
            } => SecondFactor::None,
            _ => SecondFactor::Unknown,
        }
    }
}

/// Looks at the second factor for the first accepted key, over `live` (the key queries'
/// connection) while it is open, else over a new one; hangs up the one it used.
pub(super) async fn observe(
    dialer: &Dialer<'_>,
    user: &str,
    accepted: Option<&Candidate>,
    agent: Option<&AgentAddress>,
    live: &mut Option<Connected>,
) -> Step {
    let host = dialer.host_key();
    let verified = host.as_ref().is_some_and(HostKey::verified);
    let (c, address) = match (accepted, agent) {
        (None, _) => return Step::NoKeyAccepted,
        (Some(c), _) if !c.in_agent => return Step::NotInAgent,
        (Some(_), None) => return Step::NoAgent,
        (Some(_), Some(_)) if !verified => {
            let fingerprint = host.map(|h| h.fingerprint).unwrap_or_default();
            return Step::HostNotVerified { fingerprint };
        }
        (Some(c), Some(address)) => (c, address),
    };
    let before = dialer.connections();
    let h = match live.take() {
        Some(h) if !h.is_closed() => Ok(h),
        _ => dialer.connect().await,
    };
    match h {
        Err(e) => Step::Reconnect(e),
        Ok(mut h) => {
            let attempt = sign(dialer.ctx, &mut h, user, c, address).await;
            hang_up(dialer.ctx, h).await;
            Step::Signed {
                attempt,
                same_connection: dialer.connections() == before,
            }
        }
    }
}

/// Signs for the accepted key through the agent on `h` and reads what the server asks
/// next.
async fn sign(
    ctx: &Context,
    h: &mut Connected,
    user: &str,
    c: &Candidate,
    address: &AgentAddress,
) -> Attempt {
    let connected = tokio::time::timeout(ctx.timeout, crate::platform::connect_agent(address));
    let Ok(Ok(mut agent)) = connected.await else {
        return Attempt::NoAgent;
    };
    let hash = rsa_hash(h, &c.key).await;
    let result = tokio::time::timeout(
        ctx.timeout,
        h.authenticate_publickey_with(user.to_string(), c.key.clone(), hash, &mut agent),
    )
    .await;
    match result {
        Ok(Ok(russh::client::AuthResult::Failure {
            remaining_methods,
            partial_success: true,
        })) => Attempt::Next(remaining_methods.iter().map(String::from).collect()),
        Ok(Ok(russh::client::AuthResult::Success)) => Attempt::KeyAlone,
        Ok(Ok(russh::client::AuthResult::Failure { .. })) => Attempt::Refused,
        Ok(Err(e)) => Attempt::NotSigned(e.to_string()),
        Err(_) => Attempt::NoAnswer,
    }
}

/// The `ssh.second-factor` finding.
pub(super) fn finding(ctx: &Context, alias: &str, step: &Step) -> Finding {
    let skip = |why: String| {
        Finding::skip(
            CheckId::SshSecondFactor,
            alias,
            format!("not tested: {why}"),
        )
    };
    let no_agent = || skip("the agent could not be reached".into());
    match step {
        Step::NoKeyAccepted => skip("no key is accepted".into()),
        Step::NotInAgent => skip("seeing the second factor needs a signature, and the accepted key is not loaded in ssh-agent (the doctor never asks for your passphrase)".into())
            .remedy(Remedy::command("To let the doctor check it, load the key into the agent and run it again:", format!("ssh-add {}", ctx.shell_shown("~/.ssh/id_ed25519")))),
        Step::NoAgent => no_agent(),
        Step::HostNotVerified { fingerprint } => skip(format!("nothing signs for a server whose host key ({fingerprint}) is not yet in known_hosts or pinned by the profile"))
            .detail("Compare the fingerprint with the one the site publishes (see ssh.host-key). Once you have logged in with `ssh` and confirmed it, the doctor checks the second factor too.")
            .with("host_key_verified", false)
            .with("fingerprint", fingerprint),
        Step::Reconnect(e) => skip(format!("the server closed the connection and a new one failed ({e})")),
        Step::Signed { attempt, same_connection } => {
            let f = match attempt {
                Attempt::NoAgent => no_agent(),
                Attempt::Next(rest) => {
                    let status = step.status();
                    let summary = if status == SecondFactor::KeyboardInteractive {
                        "after the key, the server asks for keyboard-interactive (the TOTP code); the doctor stopped there".to_string()
                    } else {
                        format!("after the key, the server asks for: {}", rest.join(", "))
                    };
                    Finding::info(CheckId::SshSecondFactor, alias, summary)
                        .with("status", status)
                        .with("remaining", rest)
                        .fact(Fact::SecondFactor(status))
                }
                Attempt::KeyAlone => {
                    let f = Finding::info(CheckId::SshSecondFactor, alias, "the key alone logs in: the server asks for no second factor");
                    let f = if ctx.profile.policy.second_factor().is_some() {
                        f.detail("The site profile expects a TOTP step; support may want to know.")
                    } else {
                        f
                    };
                    f.with("status", SecondFactor::None)
                        .fact(Fact::SecondFactor(SecondFactor::None))
                }
                Attempt::Refused => skip("the signed attempt was refused".into()),
                Attempt::NotSigned(e) => skip(format!("the agent did not sign ({e})")),
                Attempt::NoAnswer => skip("no answer in time".into()),
            };
            f.with("same_connection", same_connection)
        }
    }
}
