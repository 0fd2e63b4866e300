//! `config.*`: the user's ssh_config, evaluated as OpenSSH would.

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::probes::NodePlan;
use crate::profile::Node;
use crate::runner::RunState;

pub const CHECKS: &[CheckDoc] = &[];

/// What the config probe learnt, for later probes.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {}

impl ConfigState {
    /// The plan for a node from the profile alone.
    pub fn profile_plan(ctx: &Context, node: &Node) -> NodePlan {
        NodePlan {
            alias: node.alias().to_string(),
            hostname: node.hostname().to_string(),
            port: node.port(),
            user: ctx.user_override.clone(),
            region: node.region.clone(),
            identity_files: vec![],
            identities_only: false,
            known_hosts_files: vec![ctx.ssh_dir().join("known_hosts")],
            proxy: None,
            host_key_pins: node.host_keys().to_vec(),
        }
    }

    /// The plan for a node from the user's effective config.
    pub fn plan(&self, ctx: &Context, node: &Node) -> NodePlan {
        Self::profile_plan(ctx, node)
    }
}

/// Runs the config checks.
pub fn run(_ctx: &Context, _state: &mut RunState) {}

/// `config.openssh-agrees`.
pub fn openssh_agrees(_ctx: &Context, _state: &mut RunState) {}
