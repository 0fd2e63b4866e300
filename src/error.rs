//! The exit status, in one place, and errors of the tool itself (never findings).

/// How the run ended; the only place exit codes are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// No `fail` finding (warnings allowed unless `--strict`).
    Healthy,
    /// At least one `fail` (or a warning with `--strict`).
    Problems,
    /// The command line or the profile cannot be used.
    Usage,
    /// The tool could not do its job (e.g. the bundle could not be written).
    ToolError,
    /// The user interrupted the run (Ctrl-C, SIGTERM): 128 + SIGINT, as shells report it.
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Healthy => 0,
            ExitStatus::Problems => 1,
            ExitStatus::Usage => 2,
            ExitStatus::ToolError => 3,
            ExitStatus::Interrupted => 130,
        }
    }
}

/// A failure of the tool itself; exit status 3.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The bundle could not be written, or the leak check refused it.
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(ExitStatus::Healthy.code(), 0);
        assert_eq!(ExitStatus::Problems.code(), 1);
        assert_eq!(ExitStatus::Usage.code(), 2);
        assert_eq!(ExitStatus::ToolError.code(), 3);
    }
}
