//! `mlc-doctor bundle inspect`.

use std::path::Path;

use crate::error::ExitStatus;

/// Verifies a bundle and prints its report.
pub fn command(_zip: &Path, _json: bool) -> ExitStatus {
    crate::app::fatal("`bundle inspect` is not available yet in this version")
}
