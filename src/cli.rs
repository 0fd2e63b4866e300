//! The command line, as clap sees it. Validation happens in `settings`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Diagnose why `ssh slurm` fails and write a redacted bundle for the support ticket.
#[derive(Debug, Parser)]
#[command(
    name = "mlc-doctor",
    version = crate::VERSION,
    about = "Diagnose SSH logins to the ML Cloud login nodes and write a redacted support bundle",
    long_about = "Diagnose SSH logins to the ML Cloud login nodes.\n\n\
        Checks your keys, file permissions, ~/.ssh/config, DNS and TCP reachability of every \
        login node and a verbose SSH handshake, explains what is wrong with the exact fix, and \
        writes a redacted zip bundle to attach to a support ticket. It never asks for a \
        passphrase and never reads private key material.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every probe, print the report and write the bundle (the default)
    Check(CheckArgs),
    /// List every check: id, area and one line each
    List {
        /// Print the catalogue as JSON
        #[arg(long)]
        json: bool,
        /// Site profile (TOML) whose words the texts use, instead of the embedded one
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
    /// Explain one check: what it looks at, why it matters, how to fix it
    Explain {
        /// A check id such as `key.passphrase` (see `mlc-doctor list`)
        id: String,
        /// Site profile (TOML) whose words the texts use, instead of the embedded one
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
    /// Work with a support bundle
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Put your real names back into text from support (uses the local pseudonym map)
    Unmask {
        /// A file to read, or `-` (the default) for standard input
        file: Option<PathBuf>,
        /// The pseudonym map to use (default: the newest one written by this tool)
        #[arg(long, value_name = "FILE")]
        map: Option<PathBuf>,
    },
    /// Show the site profile in effect
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Print shell completions
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output
    Man,
    /// Apply the local fixes the report proposes (shows a diff and asks first)
    Fix(FixArgs),
}

/// Options of `fix`: those of `check` (the network is not probed), and `--yes`.
#[derive(Debug, Args, Clone, Default)]
pub struct FixArgs {
    /// Apply without asking (for scripts); without a terminal and without --yes, `fix`
    /// only prints what it would do
    #[arg(long, short = 'y')]
    pub yes: bool,

    #[command(flatten)]
    pub check: CheckArgs,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Verify a bundle (manifest hashes, leak check) and print its report
    Inspect {
        /// The bundle zip file
        zip: PathBuf,
        /// Print the bundle's JSON report instead of the human one
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Print the profile in effect as TOML
    Show {
        /// Site profile (TOML) instead of the embedded ML Cloud profile
        #[arg(long, value_name = "FILE")]
        profile: Option<PathBuf>,
    },
}

/// Options of `check`.
#[derive(Debug, Args, Clone, Default)]
pub struct CheckArgs {
    /// Treat DIR as your home directory (reads DIR/.ssh); if DIR is not your shell's ~,
    /// suggested commands name DIR in full
    #[arg(long, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// Site profile (TOML) instead of the embedded ML Cloud profile
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Probe only this login node alias (repeatable)
    #[arg(long = "node", value_name = "ALIAS")]
    pub nodes: Vec<String>,

    /// Cluster username to use when your ssh config has none
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// No network probes (DNS, TCP, handshake, OpenSSH transcript)
    #[arg(long)]
    pub offline: bool,

    /// Print the JSON report on standard output (and nothing else)
    #[arg(long)]
    pub json: bool,

    /// Where to write the bundle [default: ./mlc-doctor-<UTC>.zip]
    #[arg(long, value_name = "PATH", conflicts_with = "no_bundle")]
    pub bundle: Option<PathBuf>,

    /// Write no bundle
    #[arg(long)]
    pub no_bundle: bool,

    /// Hide the cluster username in the bundle too
    #[arg(long)]
    pub redact_cluster_user: bool,

    /// Seconds allowed for each network step (connect, banner, authentication)
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub timeout: f64,

    /// Seconds allowed for the whole run
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub deadline: f64,

    /// The OpenSSH client to use [default: `ssh` on PATH]
    #[arg(long, value_name = "PATH", conflicts_with = "no_openssh")]
    pub ssh: Option<PathBuf>,

    /// Use no OpenSSH client (no `ssh -G`, no `ssh -vvv` transcript)
    #[arg(long)]
    pub no_openssh: bool,

    /// Warnings also give exit status 1
    #[arg(long)]
    pub strict: bool,

    /// When to use colours
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// More output (evidence under each finding)
    #[arg(short, long, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Less output (only the diagnosis and the bundle path)
    #[arg(short, long)]
    pub quiet: bool,

    /// Test builds only: make the probe with this id panic, to prove the run goes on
    #[cfg(feature = "fault-injection")]
    #[arg(long, value_name = "ID", hide = true)]
    pub fault_inject: Option<String>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// The clap command, for completions and the man page.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
