//! `key.*` and `perm.private-key`: every key the user may have, judged without its passphrase.

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::finding::Finding;
use crate::probes::NodePlan;
use crate::runner::RunState;

pub const CHECKS: &[CheckDoc] = &[];

/// One private key found on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {}

/// The ssh-agent as seen through `SSH_AUTH_SOCK`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentState {}

/// Runs the key checks.
pub fn run(_ctx: &Context, _state: &mut RunState) {}

/// `key.agent`.
pub async fn agent(
    _ctx: &Context,
    _keys: &[KeyInfo],
    _plans: &[NodePlan],
) -> (Vec<Finding>, Option<AgentState>) {
    (vec![], None)
}
