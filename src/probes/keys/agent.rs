//! `key.present` and `key.agent`: whether ssh has any key to offer the login nodes, and
//! what the ssh-agent holds.

use std::time::Duration;

use serde::Serialize;

use super::KeyInfo;
use crate::check::CheckId;
use crate::context::Context;
use crate::fact::Fact;
use crate::finding::{Finding, Remedy};
use crate::keyfile::KeyFormat;
use crate::platform::{windows, AgentAddress, Os};
use crate::probes::NodePlan;

/// A key held by ssh-agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentKey {
    pub algorithm: String,
    pub fingerprint: String,
    /// Public key line without comment.
    pub public_key: String,
    #[serde(skip)]
    pub comment: String,
}

/// The ssh-agent as seen through `SSH_AUTH_SOCK`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentState {
    #[serde(skip)]
    pub address: AgentAddress,
    pub keys: Vec<AgentKey>,
}

/// `key.present` and `key.agent`: needs the keys on disk and the agent.
pub async fn agent(
    ctx: &Context,
    keys: &[KeyInfo],
    plans: &[NodePlan],
) -> (Vec<Finding>, Option<AgentState>) {
    let (seen, state) = match crate::platform::agent_address(ctx.os, &ctx.env) {
        // Only a key with a passphrase makes ssh ask at every login.
        None => {
            let encrypted = keys
                .iter()
                .any(|k| !k.used_by.is_empty() && k.facts.encrypted == Some(true));
            (AgentSeen::NotSet { encrypted }, None)
        }
        Some(address) => match ask(ctx, address).await {
            Ok(agent) => (AgentSeen::holding(&agent, keys, plans), Some(agent)),
            Err(seen) => (seen, None),
        },
    };
    let agent_keys = state.as_ref().map(|a| a.keys.len()).unwrap_or(0);
    let present = present(ctx, &Presence::of(keys, agent_keys));
    (vec![present, agent_finding(ctx, &seen)], state)
}

/// `key.present`: what ssh has to offer the login nodes.
#[derive(Debug, PartialEq)]
enum Presence {
    /// The only key files ssh would use are damaged (as shown).
    Damaged(Vec<String>),
    /// No key for the nodes, none in the agent; `others`: private keys the nodes do not use.
    Missing { others: usize },
    /// No key file, but the agent holds this many keys.
    AgentOnly(usize),
    /// The key files ssh would offer (as shown).
    Keys(Vec<String>),
}

impl Presence {
    fn of(keys: &[KeyInfo], agent_keys: usize) -> Presence {
        let shown_where = |keep: fn(&KeyInfo) -> bool| -> Vec<String> {
            keys.iter()
                .filter(|k| !k.used_by.is_empty() && keep(k))
                .map(|k| k.shown.clone())
                .collect()
        };
        let used = shown_where(|k| k.facts.format.is_private());
        // A public key where ssh looks for the private one counts as damaged when its
        // `.pub` holds the private key (the two are swapped): the key is there.
        let damaged = shown_where(|k| {
            !k.facts.format.is_private()
                && (k.facts.format != KeyFormat::PublicKey || k.private_in_pub.is_some())
        });
        if !used.is_empty() {
            Presence::Keys(used)
        } else if agent_keys > 0 {
            Presence::AgentOnly(agent_keys)
        } else if !damaged.is_empty() {
            Presence::Damaged(damaged)
        } else {
            let others = keys.iter().filter(|k| k.facts.format.is_private()).count();
            Presence::Missing { others }
        }
    }
}

/// The `key.present` finding.
fn present(ctx: &Context, seen: &Presence) -> Finding {
    let f = match seen {
        Presence::Damaged(damaged) => Finding::fail(
            CheckId::KeyPresent,
            "~/.ssh",
            format!(
                "the key file ssh would use is damaged: {} (see key.format)",
                damaged.join(", ")
            ),
        )
        .with("damaged", true)
        .fact(Fact::KeyDamaged),
        Presence::Missing { others } => {
            let why = if *others > 0 {
                format!("; {others} other key file(s) in ~/.ssh are not used for the login nodes (check IdentityFile)")
            } else {
                String::new()
            };
            // Never over a file that exists (see `super::new_key_name`).
            let new_name = super::new_key_name(ctx);
            let path = match &new_name {
                Some(n) => format!("~/.ssh/{n}"),
                None => ctx.profile.advice.key_path(),
            };
            Finding::fail(
                CheckId::KeyPresent,
                "~/.ssh",
                format!("no private key that ssh would offer to the login nodes{why}"),
            )
            .remedy(Remedy::command(
                "Create a key (choose a passphrase), then have its public key deployed:",
                ctx.os.shell().in_ssh_dir(
                    ctx.commands_home.as_deref(),
                    ctx.profile.keygen(&ctx.shell_shown(&path)),
                ),
            ))
            .fact(Fact::NoKey { new_name })
        }
        Presence::AgentOnly(n) => Finding::pass(
            CheckId::KeyPresent,
            "~/.ssh",
            format!("no key file, but the agent holds {n} key(s)"),
        ),
        Presence::Keys(used) => Finding::pass(
            CheckId::KeyPresent,
            "~/.ssh",
            format!(
                "{} key(s) for the login nodes: {}",
                used.len(),
                used.join(", ")
            ),
        ),
    };
    let used: &[String] = match seen {
        Presence::Keys(used) => used,
        _ => &[],
    };
    f.with("keys", used)
}

/// `key.agent`: how the agent answered, and what it holds of the nodes' keys.
enum AgentSeen {
    /// `SSH_AUTH_SOCK` is not set; `encrypted`: a key the nodes use has a passphrase.
    NotSet { encrypted: bool },
    /// The agent cannot be used (`error`); `pageant`: how many keys Pageant holds, when
    /// it runs (Windows).
    Unusable {
        address: AgentAddress,
        error: String,
        pageant: Option<usize>,
    },
    /// No answer in time.
    Silent(AgentAddress),
    /// The agent answered.
    Holds {
        /// Every key it holds.
        fingerprints: Vec<String>,
        /// The node keys among them (as shown).
        loaded: Vec<String>,
        /// Some node key's fingerprint is known (so it could have been loaded).
        node_keys: bool,
        /// The aliases whose config does not set `IdentitiesOnly`.
        without_only: Vec<String>,
    },
}

impl AgentSeen {
    fn holding(agent: &AgentState, keys: &[KeyInfo], plans: &[NodePlan]) -> AgentSeen {
        let node_fps: Vec<(String, String)> = keys
            .iter()
            .filter(|k| !k.used_by.is_empty())
            .filter_map(|k| Some((k.shown.clone(), k.fingerprint()?)))
            .collect();
        let loaded = node_fps
            .iter()
            .filter(|(_, fp)| agent.keys.iter().any(|a| &a.fingerprint == fp))
            .map(|(s, _)| s.clone())
            .collect();
        AgentSeen::Holds {
            fingerprints: agent.keys.iter().map(|k| k.fingerprint.clone()).collect(),
            loaded,
            node_keys: !node_fps.is_empty(),
            without_only: plans
                .iter()
                .filter(|p| !p.identities_only && !p.other_agent)
                .map(|p| p.alias.clone())
                .collect(),
        }
    }
}

/// Asks the agent at `address` for its keys.
async fn ask(ctx: &Context, address: AgentAddress) -> Result<AgentState, AgentSeen> {
    let listed = tokio::time::timeout(
        Duration::from_secs(2).min(ctx.timeout),
        list_agent(&address),
    )
    .await;
    match listed {
        Ok(Ok(keys)) => Ok(AgentState { address, keys }),
        Ok(Err(error)) => {
            // Windows: PuTTY users often run Pageant instead of the service.
            let pageant = if ctx.os == Os::Windows {
                tokio::time::timeout(Duration::from_secs(1), pageant_keys())
                    .await
                    .ok()
                    .flatten()
            } else {
                None
            };
            Err(AgentSeen::Unusable {
                address,
                error,
                pageant,
            })
        }
        Err(_) => Err(AgentSeen::Silent(address)),
    }
}

/// The `key.agent` finding.
fn agent_finding(ctx: &Context, seen: &AgentSeen) -> Finding {
    match seen {
        AgentSeen::NotSet { encrypted } => {
            let words = if *encrypted {
                "no ssh-agent (SSH_AUTH_SOCK is not set): ssh asks for the passphrase at every login"
            } else {
                "no ssh-agent (SSH_AUTH_SOCK is not set)"
            };
            let f = Finding::info(CheckId::KeyAgent, "ssh-agent", words);
            // macOS: launchd gives every login session an agent; without it this is
            // a shell that lost the variable (tmux, sudo, a remote session).
            if ctx.os == Os::MacOs {
                f.detail(format!("macOS starts an agent for every login through launchd (SSH_AUTH_SOCK under /private/tmp/com.apple.launchd.*); this shell does not see it. {}", crate::platform::macos::keychain_advice(&ctx.shell_shown(&ctx.profile.advice.key_path()))))
            } else {
                f
            }
        }
        AgentSeen::Unusable {
            address,
            error,
            pageant,
        } => {
            let mut f = agent_unusable(ctx, address, error);
            if let Some(n) = pageant {
                f.summary = format!("{}; Pageant is running with {n} key(s)", f.summary);
                f = f.with("pageant_keys", n);
            }
            f
        }
        AgentSeen::Silent(address) => Finding::warn(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("the agent at {} does not answer", address.shown()),
        ),
        AgentSeen::Holds {
            fingerprints,
            loaded,
            node_keys,
            without_only,
        } => holds(ctx, fingerprints, loaded, *node_keys, without_only),
    }
}

/// `key.agent` when the agent answered: a warning when it holds more keys than the
/// server tries before it stops and a node does not pick its key.
fn holds(
    ctx: &Context,
    fingerprints: &[String],
    loaded: &[String],
    node_keys: bool,
    without_only: &[String],
) -> Finding {
    let n = fingerprints.len();
    let loaded_words = if loaded.is_empty() {
        String::new()
    } else {
        format!("; loaded: {}", loaded.join(", "))
    };
    let f = if n > 5 && !without_only.is_empty() {
        Finding::warn(CheckId::KeyAgent, "ssh-agent", format!("the agent holds {n} keys and `IdentitiesOnly` is not set for {}: the server stops after {} refused keys", without_only.join(", "), ctx.profile.policy.max_auth_tries()))
            .remedy(Remedy::text("Add `IdentitiesOnly yes` to the login nodes' Host blocks (or `ssh-add -D` and load only the key you need)."))
    } else {
        Finding::info(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("the agent holds {n} key(s){loaded_words}"),
        )
    };
    // macOS: keys come back after a restart only through the Keychain.
    let f = if ctx.os == Os::MacOs && loaded.is_empty() && node_keys {
        f.detail(crate::platform::macos::keychain_advice(
            &ctx.shell_shown(&ctx.profile.advice.key_path()),
        ))
    } else {
        f
    };
    f.with("keys", fingerprints).with("loaded", loaded)
}

/// `key.agent` when the agent cannot be used, with the platform's way to start one.
fn agent_unusable(ctx: &Context, address: &AgentAddress, e: &str) -> Finding {
    let unusable = || {
        Finding::warn(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("SSH_AUTH_SOCK is set but the agent cannot be used: {e}"),
        )
    };
    match (ctx.os, address) {
        (Os::Windows, AgentAddress::Pipe(p)) if p == windows::AGENT_PIPE => Finding::info(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("the OpenSSH agent service is not running ({e}): ssh asks for the passphrase at every login"),
        )
        .detail("Windows ships the agent as the `ssh-agent` service, disabled by default. Pageant (PuTTY's agent) serves PuTTY; Windows OpenSSH reaches it only with the IdentityAgent line `pageant --openssh-config` writes.")
        .remedy(Remedy::command(
            "Enable and start the agent service (administrator PowerShell), then load your key:",
            format!("{}; ssh-add {}", windows::AGENT_ENABLE, ctx.shell_path(&ctx.ssh_dir().join(&ctx.profile.advice.key_file))),
        )),
        (Os::MacOs, _) => unusable()
            .detail(crate::platform::macos::keychain_advice(&ctx.shell_shown(&ctx.profile.advice.key_path())))
            .remedy(Remedy::command(
                "macOS starts an agent for every login through launchd: open a new terminal (or log out and in), then load your key:",
                crate::platform::macos::add_key_command(&ctx.shell_shown(&ctx.profile.advice.key_path())),
            )),
        _ => unusable().remedy(Remedy::command(
            "Start an agent in this shell and load your key:",
            format!(
                "eval \"$(ssh-agent -s)\" && ssh-add {}",
                ctx.shell_shown(&ctx.profile.advice.key_path())
            ),
        )),
    }
}

/// How many keys Pageant holds, when it runs (Windows only).
async fn pageant_keys() -> Option<usize> {
    let mut client = crate::platform::connect_pageant().await?;
    client.request_identities().await.ok().map(|ids| ids.len())
}

async fn list_agent(address: &AgentAddress) -> Result<Vec<AgentKey>, String> {
    let mut client = crate::platform::connect_agent(address).await?;
    let ids = client
        .request_identities()
        .await
        .map_err(|e| e.to_string())?;
    Ok(ids
        .into_iter()
        .filter_map(|id| match id {
            russh::keys::agent::AgentIdentity::PublicKey { key, comment } => {
                let mut bare = key.clone();
                bare.set_comment("");
                Some(AgentKey {
                    algorithm: key.algorithm().as_str().to_string(),
                    fingerprint: key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
                    public_key: bare.to_openssh().ok()?.trim().to_string(),
                    comment,
                })
            }
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::discovery::fixture_key;
    use super::*;

    #[test]
    fn presence_prefers_node_keys_then_the_agent_then_damage() {
        let damaged = fixture_key("random_bytes", Some("slurm"));
        let good = fixture_key("ed25519_100", Some("slurm"));
        let unused = fixture_key("ed25519_plain", None);
        let shown = |k: &KeyInfo| vec![k.shown.clone()];
        let of = |keys: &[&KeyInfo], agent_keys| {
            let keys: Vec<KeyInfo> = keys.iter().map(|k| (*k).clone()).collect();
            Presence::of(&keys, agent_keys)
        };
        assert_eq!(of(&[&damaged, &good], 0), Presence::Keys(shown(&good)));
        assert_eq!(of(&[&damaged], 3), Presence::AgentOnly(3));
        assert_eq!(
            of(&[&damaged, &unused], 0),
            Presence::Damaged(shown(&damaged))
        );
        assert_eq!(of(&[&unused], 0), Presence::Missing { others: 1 });
    }

    #[test]
    fn only_damaged_keys_are_a_fact_for_the_diagnosis() {
        let ctx = Context::for_home(
            std::path::Path::new("/nonexistent-home"),
            crate::profile::Profile::embedded(),
        );
        let damaged = present(&ctx, &Presence::Damaged(vec!["~/.ssh/id_ed25519".into()]));
        assert_eq!(damaged.fact, Some(Fact::KeyDamaged));
        let missing = present(&ctx, &Presence::Missing { others: 0 });
        assert_eq!(missing.fact, Some(Fact::NoKey { new_name: None }));
        // A file with the recommended name (not a key ssh would offer): a new key goes
        // elsewhere, never over it.
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        std::fs::write(home.path().join(".ssh/id_ed25519"), "not mine to overwrite").unwrap();
        let ctx = Context::for_home(home.path(), crate::profile::Profile::embedded());
        let taken = present(&ctx, &Presence::Missing { others: 1 });
        assert_eq!(
            taken.fact,
            Some(Fact::NoKey {
                new_name: Some("id_ed25519_mlcloud".into())
            })
        );
        let command = taken.remedy.unwrap().command.unwrap();
        assert!(
            command.ends_with("-f ~/.ssh/id_ed25519_mlcloud"),
            "{command}"
        );
        // That name's .pub is there too (maybe the only copy of a key): the next free one.
        std::fs::write(home.path().join(".ssh/id_ed25519_mlcloud.pub"), "x").unwrap();
        let taken = present(&ctx, &Presence::Missing { others: 1 });
        let command = taken.remedy.unwrap().command.unwrap();
        assert!(
            command.ends_with("-f ~/.ssh/id_ed25519_mlcloud_2"),
            "{command}"
        );
    }
}
