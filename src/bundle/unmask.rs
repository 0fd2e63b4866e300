//! `mlc-doctor unmask`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::ExitStatus;

/// Puts real names back into text from support.
pub fn command(
    _file: Option<&Path>,
    _map: Option<&Path>,
    _env: &BTreeMap<String, String>,
) -> ExitStatus {
    crate::app::fatal("`unmask` is not available yet in this version")
}
