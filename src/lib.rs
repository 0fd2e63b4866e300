//! mlc-doctor: diagnose SSH logins to the ML Cloud login nodes and write a redacted
//! support bundle. The binary is a thin wrapper around [`main_with`].

pub mod app;
pub mod bundle;
pub mod catalogue;
pub mod check;
pub mod cli;
pub mod context;
pub mod diagnosis;
pub mod error;
pub mod escape;
pub mod fact;
pub mod finding;
pub mod fix;
pub mod keyfile;
pub mod knownhosts;
pub mod platform;
pub mod probes;
pub mod proc;
pub mod profile;
pub mod render;
pub mod report;
pub mod runner;
pub mod settings;
pub mod sshconfig;
pub mod tempdirs;
pub mod transcript;
pub mod verdict;

pub use app::main_with;
pub use error::ExitStatus;

/// Version with the git commit, as `--version` prints it.
pub const VERSION: &str = env!("MLC_DOCTOR_VERSION");

/// The finding model and the rules over it stand below the probes: none of their files
/// may name a probe, the runner, the bundle or the app, so no import cycle can form.
#[cfg(test)]
mod layering {
    #[test]
    fn the_model_imports_no_probe() {
        let model = [
            "check.rs",
            "catalogue.rs",
            "fact.rs",
            "finding.rs",
            "report.rs",
            "diagnosis.rs",
            "verdict.rs",
            "transcript.rs",
            "escape.rs",
        ];
        let above = [
            "crate::probes",
            "crate::runner",
            "crate::bundle",
            "crate::app",
            "crate::context",
            "crate::fix",
        ];
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for file in model {
            let text = std::fs::read_to_string(src.join(file)).unwrap();
            for module in above {
                assert!(!text.contains(module), "src/{file} names {module}");
            }
        }
    }
}
