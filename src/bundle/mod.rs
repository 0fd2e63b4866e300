//! The support bundle: collect, redact, leak-check, zip.

use crate::catalogue::CheckDoc;

pub const CHECKS: &[CheckDoc] = &[];

pub mod inspect;
pub mod unmask;

use crate::context::Context;
use crate::report::Report;
use crate::runner::RunState;
use crate::settings::Settings;

/// Writes the bundle (not built yet: writes nothing).
pub fn write(
    _settings: &Settings,
    _ctx: &Context,
    _state: &RunState,
    _report: &mut Report,
) -> Result<(), crate::error::ToolError> {
    Ok(())
}
