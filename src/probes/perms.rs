//! `perm.*`: owners and modes of the files OpenSSH is strict about.

use crate::catalogue::CheckDoc;
use crate::context::Context;
use crate::runner::RunState;

pub const CHECKS: &[CheckDoc] = &[];

/// Runs the permission checks.
pub fn run(_ctx: &Context, _state: &mut RunState) {}
