//! `key.*`: every key the user may have, judged without its passphrase, and the
//! ssh-agent.
//!
//! `discovery` finds which key files ssh would offer to which node, `judgement` checks
//! each file (and asks `perms::private_key` for its `perm.private-key`), `agent` asks the
//! ssh-agent.

mod agent;
mod discovery;
mod judgement;

use std::path::PathBuf;

use serde::Serialize;

use crate::context::Context;
use crate::fact::Fact;
use crate::finding::Finding;
use crate::keyfile::KeyFacts;
use crate::runner::RunState;

pub use agent::{agent, AgentKey, AgentState};
#[cfg(test)]
pub(crate) use discovery::fixture_key;
pub use discovery::{preferred_key_path, DEFAULT_NAMES};

/// One private key found on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    #[serde(skip)]
    pub path: PathBuf,
    /// The path as shown (`~/.ssh/id_ed25519`).
    pub shown: String,
    pub facts: KeyFacts,
    /// The `.pub` beside it, if any.
    pub pub_facts: Option<KeyFacts>,
    /// The `.pub` beside it holds a private key: its mode (`0644`), if it has one.
    pub private_in_pub: Option<Option<String>>,
    /// A file has the `.pub` name, whatever it holds (one that is no public key is not
    /// "missing": recreating it would overwrite it).
    #[serde(skip)]
    pub pub_present: bool,
    /// From the `.pub` (or the .ppk); never in the bundle.
    #[serde(skip)]
    pub comment: Option<String>,
    /// Aliases whose ssh would offer this key.
    pub used_by: Vec<String>,
    /// Named by an IdentityFile.
    pub explicit: bool,
    pub mode: Option<String>,
    pub owner_is_user: Option<bool>,
}

impl KeyInfo {
    /// The public key, from the private file or its `.pub`.
    pub fn public(&self) -> Option<russh::keys::PublicKey> {
        self.facts
            .public()
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.public()))
    }

    /// SHA256 fingerprint, from the private file or its `.pub`.
    pub fn fingerprint(&self) -> Option<String> {
        self.facts
            .fingerprint
            .clone()
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.fingerprint.clone()))
    }

    /// The algorithm, from the file or its `.pub`.
    pub fn algorithm(&self) -> Option<String> {
        let from_pub = self.pub_facts.as_ref().and_then(|p| p.algorithm.clone());
        match self.facts.algorithm.as_deref() {
            Some("ecdsa") | None => from_pub.or(self.facts.algorithm.clone()),
            Some(a) => Some(a.to_string()),
        }
    }

    /// The size in bits, from the file or its `.pub`.
    fn bits(&self) -> Option<u32> {
        self.facts
            .bits
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.bits))
    }
}

/// Finds and judges every key; emits all key findings but `key.present` and `key.agent`.
pub fn run(ctx: &Context, state: &mut RunState) {
    let plans = crate::probes::plan_every_node(ctx, state);
    let keys = discovery::find(ctx, &plans);
    let mut out = Vec::new();
    for key in &keys {
        judgement::judge(ctx, key, &mut out);
    }
    let mut reported: Vec<PathBuf> = keys
        .iter()
        .filter(|k| k.private_in_pub.is_some())
        .map(|k| {
            let mut p = k.path.as_os_str().to_owned();
            p.push(".pub");
            PathBuf::from(p)
        })
        .collect();
    for (key, pub_path) in discovery::private_keys_under_pub_names(ctx, &plans) {
        out.push(judgement::key_under_pub_name(ctx, &key, &pub_path));
        reported.push(pub_path);
    }
    for stray in discovery::stray_private_pubs(ctx, &reported) {
        out.push(judgement::stray_private_pub(ctx, &stray));
    }
    let keys_json: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            let mut v = serde_json::to_value(k).unwrap_or_default();
            v["path"] = k.shown.clone().into();
            v
        })
        .collect();
    state.artifacts.insert(
        "ssh/keys.json".into(),
        serde_json::to_vec_pretty(&keys_json).unwrap_or_default(),
    );
    state.push(out);
    state.keys = keys;
}

/// Where a new key may go when the site's recommended name is taken: `None` while that
/// name and its `.pub` are free, else the first free of the profile's `new_key_file`,
/// `…_2`, `…_3` …. A `.pub` counts: `ssh-keygen` replaces it without asking (and it may
/// hold the only copy of a private key saved under that name); over a private key it
/// asks, but the question is easy to answer wrong.
pub fn new_key_name(ctx: &Context) -> Option<String> {
    let taken = |name: &str| {
        let dir = ctx.ssh_dir();
        std::fs::symlink_metadata(dir.join(name)).is_ok()
            || std::fs::symlink_metadata(dir.join(format!("{name}.pub"))).is_ok()
    };
    let advice = &ctx.profile.advice;
    if !taken(&advice.key_file) {
        return None;
    }
    let base = &advice.new_key_file;
    let name = std::iter::once(base.clone())
        .chain((2..1000).map(|i| format!("{base}_{i}")))
        .find(|n| !taken(n))
        .unwrap_or_else(|| format!("{base}_{}", std::process::id()));
    Some(name)
}

/// Records which nodes use the key (the severity of findings about keys no node uses is
/// lowered after the run, in `crate::verdict::adjust`).
pub(crate) fn for_key(key: &KeyInfo, f: Finding) -> Finding {
    f.with("used_by", &key.used_by)
        .fact(Fact::KeyUse(key.used_by.clone()))
}
