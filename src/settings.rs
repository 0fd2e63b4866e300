//! Command-line flags validated once into plain values; nothing downstream reads the CLI.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{CheckArgs, ColorChoice};
use crate::profile::Profile;

/// Where the report goes and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

/// Where the bundle goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleTarget {
    /// `./mlc-doctor-<UTC>.zip` in the current directory.
    Default,
    Path(PathBuf),
    None,
}

/// Which OpenSSH client to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenSshChoice {
    /// `ssh` on PATH, if any.
    Auto,
    Path(PathBuf),
    /// `--no-openssh`.
    Disabled,
}

/// How much the human report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Everything `check` needs to know, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub home: PathBuf,
    pub profile: Profile,
    /// "embedded" or the profile file's path.
    pub profile_source: String,
    /// Aliases to probe, in profile order.
    pub nodes: Vec<String>,
    pub user: Option<String>,
    pub offline: bool,
    pub format: Format,
    pub bundle: BundleTarget,
    pub redact_cluster_user: bool,
    pub timeout: Duration,
    pub deadline: Duration,
    pub openssh: OpenSshChoice,
    pub strict: bool,
    pub color: ColorChoice,
    pub verbosity: Verbosity,
    /// The command line as given, for the bundle's manifest (redacted there).
    pub argv: Vec<String>,
    /// The flags that choose what a run looks at (`--profile`, `--home`, `--node`,
    /// `--user`, `--ssh`, `--no-openssh`), for the runs the advice suggests: without them
    /// a pasted `mlc-doctor` would check another home, or the embedded site's real nodes.
    pub rerun: Vec<String>,
    /// Test builds with the `fault-injection` feature only: the probe made to panic.
    pub fault: Option<String>,
}

/// A flag value that cannot be used; exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Profile(#[from] crate::profile::ProfileError),
    #[error("--{flag}: {message}")]
    Flag { flag: &'static str, message: String },
}

fn flag(flag: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Flag {
        flag,
        message: message.into(),
    }
}

fn seconds(name: &'static str, value: f64, max: f64) -> Result<Duration, SettingsError> {
    if !value.is_finite() || value <= 0.0 {
        return Err(flag(
            name,
            format!("{value} is not a positive number of seconds"),
        ));
    }
    if value > max {
        return Err(flag(
            name,
            format!("{value} is more than the maximum of {max} seconds"),
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Refuses a `--user` that is no username, or that ~/.ssh/config would read differently.
fn check_user(user: &str) -> Result<(), SettingsError> {
    if user.is_empty()
        || user.len() > 64
        || user.contains(|c: char| c.is_whitespace() || c.is_control() || c == '@')
    {
        return Err(flag("user", format!("{user:?} is not a username")));
    }
    // `fix` writes it into ~/.ssh/config, where quotes, a backslash, a leading `#` and
    // the `%`/`$` of token and variable expansion mean something else (a stray quote
    // makes OpenSSH refuse the whole file).
    match user
        .chars()
        .find(|c| matches!(c, '"' | '\'' | '\\' | '#' | '%' | '$'))
    {
        Some(c) => Err(flag(
            "user",
            format!("{user:?} is not a username: `{c}` means something else in ~/.ssh/config"),
        )),
        None => Ok(()),
    }
}

impl Settings {
    /// Validates `check`'s flags. `env` is the process environment (for `$HOME`).
    pub fn from_args(
        args: &CheckArgs,
        env: &BTreeMap<String, String>,
        argv: Vec<String>,
    ) -> Result<Settings, SettingsError> {
        let (profile, profile_source) = match &args.profile {
            Some(path) => (Profile::load(path)?, path.display().to_string()),
            None => (Profile::embedded(), "embedded".to_string()),
        };

        let home = match &args.home {
            Some(dir) => {
                if !dir.is_dir() {
                    return Err(flag(
                        "home",
                        format!("{} is not a directory", dir.display()),
                    ));
                }
                std::path::absolute(dir).unwrap_or_else(|_| dir.clone())
            }
            // Windows: the profile directory, as OpenSSH for Windows uses it, not HOME.
            None => crate::platform::default_home(crate::platform::Os::current(), env).ok_or_else(
                || {
                    flag(
                        "home",
                        "HOME is not set and the account has no home directory; pass --home DIR",
                    )
                },
            )?,
        };

        let mut nodes = Vec::new();
        for alias in &args.nodes {
            if profile.node(alias).is_none() {
                let known: Vec<&str> = profile.nodes().iter().map(|n| n.alias()).collect();
                return Err(flag(
                    "node",
                    format!(
                        "{alias:?} is not a login node of the profile (known: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
        for node in profile.nodes() {
            if args.nodes.is_empty() || args.nodes.iter().any(|a| a == node.alias()) {
                nodes.push(node.alias().to_string());
            }
        }

        if let Some(user) = &args.user {
            check_user(user)?;
        }

        let bundle = if args.no_bundle {
            BundleTarget::None
        } else {
            match &args.bundle {
                Some(p) if p.as_os_str().is_empty() => {
                    return Err(flag("bundle", "the path is empty"))
                }
                Some(p) => BundleTarget::Path(p.clone()),
                None => BundleTarget::Default,
            }
        };

        let openssh = if args.no_openssh {
            OpenSshChoice::Disabled
        } else {
            match &args.ssh {
                Some(p) => OpenSshChoice::Path(p.clone()),
                None => OpenSshChoice::Auto,
            }
        };

        let verbosity = if args.quiet {
            Verbosity::Quiet
        } else if args.verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };

        let rerun = rerun_flags(args);

        Ok(Settings {
            rerun,
            home,
            profile,
            profile_source,
            nodes,
            user: args.user.clone(),
            offline: args.offline,
            format: if args.json {
                Format::Json
            } else {
                Format::Human
            },
            bundle,
            redact_cluster_user: args.redact_cluster_user,
            timeout: seconds("timeout", args.timeout, 300.0)?,
            deadline: seconds("deadline", args.deadline, 3600.0)?,
            openssh,
            strict: args.strict,
            color: args.color,
            verbosity,
            argv,
            #[cfg(feature = "fault-injection")]
            fault: args.fault_inject.clone(),
            #[cfg(not(feature = "fault-injection"))]
            fault: None,
        })
    }
}

/// The flags that choose what a run looks at, for the runs its advice suggests
/// ([`Settings::rerun`]).
fn rerun_flags(args: &CheckArgs) -> Vec<String> {
    let mut rerun = Vec::new();
    let mut pass = |flag: &str, value: Option<String>| {
        rerun.push(flag.to_string());
        rerun.extend(value);
    };
    if let Some(p) = &args.profile {
        pass("--profile", Some(p.display().to_string()));
    }
    if let Some(h) = &args.home {
        pass("--home", Some(h.display().to_string()));
    }
    for n in &args.nodes {
        pass("--node", Some(n.clone()));
    }
    if let Some(u) = &args.user {
        pass("--user", Some(u.clone()));
    }
    match (&args.ssh, args.no_openssh) {
        (_, true) => pass("--no-openssh", None),
        (Some(p), false) => pass("--ssh", Some(p.display().to_string())),
        (None, false) => {}
    }
    rerun
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        BTreeMap::from([("HOME".to_string(), "/tmp".to_string())])
    }

    #[test]
    fn defaults_probe_every_node() {
        let s = Settings::from_args(
            &CheckArgs {
                timeout: 5.0,
                deadline: 30.0,
                ..Default::default()
            },
            &env(),
            vec![],
        )
        .unwrap();
        assert_eq!(s.nodes, ["slurm", "slurm2", "slurm-r2", "slurm1-r2"]);
        assert_eq!(s.home, PathBuf::from("/tmp"));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.bundle, BundleTarget::Default);
    }

    #[test]
    fn unknown_node_and_bad_timeouts_are_rejected() {
        let base = CheckArgs {
            timeout: 5.0,
            deadline: 30.0,
            ..Default::default()
        };
        let e = Settings::from_args(
            &CheckArgs {
                nodes: vec!["slurmm".into()],
                ..base.clone()
            },
            &env(),
            vec![],
        )
        .unwrap_err();
        assert!(e.to_string().contains("slurmm"));
        for t in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(Settings::from_args(
                &CheckArgs {
                    timeout: t,
                    ..base.clone()
                },
                &env(),
                vec![]
            )
            .is_err());
        }
        assert!(Settings::from_args(
            &CheckArgs {
                user: Some("a b".into()),
                ..base
            },
            &env(),
            vec![]
        )
        .is_err());
    }

    #[test]
    fn node_filter_keeps_profile_order() {
        let args = CheckArgs {
            timeout: 5.0,
            deadline: 30.0,
            nodes: vec!["slurm-r2".into(), "slurm".into()],
            ..Default::default()
        };
        let s = Settings::from_args(&args, &env(), vec![]).unwrap();
        assert_eq!(s.nodes, ["slurm", "slurm-r2"]);
    }
}
