//! Probes grouped by concern. A probe returns findings and evidence; it never prints,
//! never prompts, never panics on bad input and always ends before the deadline.

pub mod config;
pub mod env;
pub mod handover;
pub mod handshake;
pub mod keys;
pub mod net;
pub mod openssh;
pub mod perms;
pub mod putty;

use std::path::PathBuf;

use crate::context::Context;
use crate::finding::Finding;
use crate::report::NodeReport;
use crate::runner::{lock, RunState, SharedSlot, Stage};

/// How the doctor will reach one login node: the user's effective config for the alias,
/// with the profile filling what the config leaves unset.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePlan {
    pub alias: String,
    pub hostname: String,
    pub port: u16,
    /// Where the config sets the Port in effect (`~/.ssh/config:2`); `None` without one.
    pub port_at: Option<String>,
    /// The remote user; `None` when neither config nor `--user` gives one.
    pub user: Option<String>,
    pub region: Option<String>,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// The agent the doctor sees (`SSH_AUTH_SOCK`) is not the one ssh uses for the node
    /// (`IdentityAgent none`, or another socket): its keys are not offered.
    pub other_agent: bool,
    pub known_hosts_files: Vec<PathBuf>,
    /// ProxyJump or ProxyCommand in effect (reported, never followed).
    pub proxy: Option<Proxy>,
    /// Host key pins from the profile.
    pub host_key_pins: Vec<String>,
    /// Why the config's settings for the node are unknown (`~/.ssh/config` exists but was
    /// not read as a config: "is larger than the doctor reads"); `None` when known.
    pub settings_unknown: Option<&'static str>,
}

/// A proxy in the user's config.
#[derive(Debug, Clone, PartialEq)]
pub struct Proxy {
    /// `ProxyJump` or `ProxyCommand`.
    pub kind: &'static str,
    pub value: String,
    /// The first hop's host and port, for ProxyJump.
    pub first_hop: Option<(String, u16)>,
}

impl NodePlan {
    /// The node's entry of the report before any probe ran.
    pub fn initial_report(&self) -> NodeReport {
        NodeReport {
            alias: self.alias.clone(),
            hostname: self.hostname.clone(),
            port: self.port,
            user: self.user.clone(),
            region: self.region.clone(),
            proxy: self
                .proxy
                .as_ref()
                .map(|p| format!("{} {}", p.kind, p.value)),
            ..NodeReport::default()
        }
    }
}

/// The plan of every node to probe.
pub fn plan_nodes(ctx: &Context, state: &RunState) -> Vec<NodePlan> {
    ctx.nodes
        .iter()
        .filter_map(|alias| ctx.profile.node(alias))
        .map(|node| plan_node(ctx, state, node))
        .collect()
}

/// The plan of every login node of the profile, probed in this run or not (`--node`):
/// which nodes would use a key.
pub fn plan_every_node(ctx: &Context, state: &RunState) -> Vec<NodePlan> {
    ctx.profile
        .nodes()
        .iter()
        .map(|node| plan_node(ctx, state, node))
        .collect()
}

fn plan_node(ctx: &Context, state: &RunState, node: &crate::profile::Node) -> NodePlan {
    match &state.config {
        Some(config) => config.plan(ctx, node),
        None => config::ConfigState::profile_plan(ctx, node),
    }
}

/// What every node pipeline reads: the local facts gathered before the network stages.
#[derive(Debug, Default)]
pub struct Shared {
    pub openssh: Option<env::OpenSsh>,
    pub keys: Vec<keys::KeyInfo>,
    pub agent: Option<keys::AgentState>,
    pub config: Option<config::ConfigState>,
    pub handover: Option<std::sync::Arc<handover::Handover>>,
}

impl Shared {
    /// Copies what the pipelines need out of the run state.
    pub fn from_state(state: &RunState) -> Shared {
        Shared {
            openssh: state.openssh.clone(),
            keys: state.keys.clone(),
            agent: state.agent.clone(),
            config: state.config.clone(),
            handover: state.handover.clone(),
        }
    }
}

/// Records a finding for a node and marks its stage done.
pub fn record(
    slot: &SharedSlot,
    stage: Stage,
    findings: impl IntoIterator<Item = Finding>,
    alias: &str,
) {
    let mut slot = lock(slot);
    slot.findings
        .extend(findings.into_iter().map(|f| f.node(alias)));
    if !slot.done.contains(&stage) {
        slot.done.push(stage);
    }
}

fn skip_rest(slot: &SharedSlot, alias: &str, from: Stage, why: &str) {
    for stage in Stage::ALL.into_iter().filter(|s| *s >= from) {
        if !lock(slot).done.contains(&stage) {
            record(
                slot,
                stage,
                [Finding::skip(
                    stage.id(),
                    alias,
                    format!("not probed: {why}"),
                )],
                alias,
            );
        }
    }
}

/// dns → tcp → (handshake ∥ transcript) for one node; a later stage is skipped with the
/// reason when an earlier one failed.
pub async fn node_pipeline(ctx: &Context, plan: &NodePlan, shared: &Shared, slot: &SharedSlot) {
    let alias = plan.alias.as_str();
    if ctx.offline {
        skip_rest(slot, alias, Stage::Dns, "--offline");
        return;
    }
    if let Some(proxy) = plan.proxy.as_ref().filter(|p| p.first_hop.is_none()) {
        let why = format!(
            "the config reaches {alias} through {} ({}), which the doctor never runs",
            proxy.kind, proxy.value
        );
        skip_rest(slot, alias, Stage::Dns, &why);
        return;
    }
    let addresses = net::dns(ctx, plan, slot).await;
    if addresses.is_empty() {
        skip_rest(slot, alias, Stage::Tcp, "the name does not resolve");
        return;
    }
    let Some(reachable) = net::tcp(ctx, plan, &addresses, slot).await else {
        skip_rest(
            slot,
            alias,
            Stage::Handshake,
            "no address accepts TCP connections",
        );
        return;
    };
    if let Some(proxy) = &plan.proxy {
        net::part(ctx, reachable).await;
        let why = format!("the config reaches {alias} through {} ({}); the doctor never authenticates through a proxy", proxy.kind, proxy.value);
        skip_rest(slot, alias, Stage::Handshake, &why);
        return;
    }
    // The transcript starts as soon as the handshake knows whether the host key is
    // verified (without that, nothing may sign for the server); when the handshake got no
    // host key at all (silence, not SSH) ssh would fail the same way, so there is none.
    let (verified_tx, verified_rx) = tokio::sync::oneshot::channel();
    tokio::join!(
        handshake::run(ctx, plan, shared, reachable, slot, verified_tx),
        openssh::transcript(ctx, plan, shared, slot, verified_rx),
    );
}

/// `path` with `suffix` added, or, where a file has that name, the first free
/// `suffix-2` … : what a "move it aside" command moves a file to, never over another.
pub fn free_beside(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let with = |s: &str| {
        let mut named = path.as_os_str().to_owned();
        named.push(s);
        std::path::PathBuf::from(named)
    };
    std::iter::once(suffix.to_string())
        .chain((2..1000).map(|i| format!("{suffix}-{i}")))
        .map(|s| with(&s))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| with(&format!("{suffix}-{}", std::process::id())))
}
