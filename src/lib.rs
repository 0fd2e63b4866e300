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
pub mod transcript;
pub mod verdict;

pub use app::main_with;
pub use error::ExitStatus;

/// Version with the git commit, as `--version` prints it.
pub const VERSION: &str = env!("MLC_DOCTOR_VERSION");
