//! `config.openssh-agrees`: the doctor's reading of the config against OpenSSH's own
//! (`ssh -G`), on a copy of a config the doctor fully understood.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::Finding;
use crate::proc::Output;
use crate::runner::RunState;
use crate::settings::OpenSshChoice;
use crate::sshconfig::{evaluate, Config, Disk, Effective, EvalInput};

use super::ConfigState;

/// `ssh -G` output per alias.
pub type DashG = Vec<(String, Result<Output, String>)>;

/// Runs `ssh -G -F <config> <alias>` for every alias at once (each a few milliseconds).
/// Only ever called with the copy `probes::handover` made of a trusted config.
pub fn dash_g(ssh: &Path, config: &Path, aliases: &[String], path_env: Option<&str>) -> DashG {
    std::thread::scope(|s| {
        let handles: Vec<_> = aliases
            .iter()
            .map(|alias| s.spawn(|| dash_g_one(ssh, config, alias, path_env)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    })
}

/// How long one `ssh -G` may take when run in a thread (the run's own ones take
/// [`Context::local_timeout`]), and how much of its output is kept.
const DASH_G_TIMEOUT: Duration = Duration::from_secs(5);
const DASH_G_CAP: usize = 256 * 1024;

/// The command `ssh -v -G -F <config> -- <alias>`, with a bare environment.
fn dash_g_command(
    ssh: &Path,
    config: &Path,
    alias: &str,
    path_env: Option<&str>,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(ssh);
    // `-v` makes ssh print its version first on stderr: no separate `ssh -V` needed.
    cmd.arg("-v")
        .arg("-G")
        .arg("-F")
        .arg(config)
        .arg("--")
        .arg(alias)
        .env_clear();
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    cmd.envs(crate::platform::system_env());
    cmd
}

/// `ssh -G` for one alias, in the calling thread.
fn dash_g_one(
    ssh: &Path,
    config: &Path,
    alias: &str,
    path_env: Option<&str>,
) -> (String, Result<Output, String>) {
    let mut cmd = dash_g_command(ssh, config, alias, path_env);
    (
        alias.to_string(),
        crate::proc::run(&mut cmd, DASH_G_TIMEOUT, DASH_G_CAP).map_err(|e| e.to_string()),
    )
}

/// `ssh -G` for one alias, started now; its output is collected with
/// [`crate::proc::Started::finish`]. Must be called within a Tokio runtime.
pub fn dash_g_start(
    ssh: &Path,
    config: &Path,
    alias: &str,
    path_env: Option<&str>,
    timeout: Duration,
) -> Result<crate::proc::Started, String> {
    let mut cmd = tokio::process::Command::from(dash_g_command(ssh, config, alias, path_env));
    crate::proc::start(&mut cmd, timeout, DASH_G_CAP).map_err(|e| e.to_string())
}

/// What comparing with `ssh -G` found.
enum Agreement {
    /// Not compared, and why.
    NotCompared(NotCompared),
    /// Compared for `compared` aliases; the differences in alias order.
    Compared {
        compared: usize,
        differences: Vec<Difference>,
        /// The home being checked is not the account's (OpenSSH expands `~` from the latter).
        home_differs: bool,
    },
}

/// Why OpenSSH was not asked.
enum NotCompared {
    /// `--no-openssh`.
    Disabled,
    /// No OpenSSH client was found.
    NoClient,
    /// There is no readable `~/.ssh/config`.
    NoConfig,
    /// The config was not copied for OpenSSH: the reasons it was rewritten, if it was.
    NotHandedOver(Option<Vec<String>>),
    /// OpenSSH refuses the config (a fatal `config.syntax` problem).
    Refused,
}

/// One way OpenSSH's reading differs from the doctor's.
enum Difference {
    /// `ssh -G` could not be run.
    NotRun { alias: String, error: String },
    /// `ssh -G` failed; the first line of its error output.
    Failed { alias: String, error: String },
    /// A setting the two read differently.
    Value {
        alias: String,
        keyword: &'static str,
        ours: String,
        theirs: String,
    },
}

/// The doctor's side of `config.openssh-agrees`, made while OpenSSH is still answering
/// (so that only the comparison is left once the last `ssh -G` ends): the client, the
/// copy it reads and the doctor's evaluation of every alias, or why nothing is compared.
pub struct Prepared(Result<Ready, NotCompared>);

struct Ready {
    ssh: PathBuf,
    copy: PathBuf,
    /// The doctor's evaluation of each alias, in the order of the aliases.
    evaluations: Vec<(String, Effective)>,
    home_differs: bool,
}

/// Prepares the comparison; `None` when the config was not read at all (no finding then).
pub fn prepare_agreement(ctx: &Context, state: &RunState) -> Option<Prepared> {
    let cs = state.config.as_ref()?;
    Some(Prepared(comparable(ctx, state, cs).map(|(ssh, copy)| {
        // `ssh -F` reads only the user's file: evaluate the same, without the system config.
        let version = state.openssh.as_ref().map(|o| (o.major, o.minor));
        let user_only = Config::load(&Disk, Some(&cs.path), None, &ctx.home, version);
        let evaluations = ctx
            .nodes
            .iter()
            .map(|alias| {
                let input = EvalInput {
                    alias,
                    local_user: &ctx.local_user,
                };
                (alias.clone(), evaluate(&user_only, &input))
            })
            .collect();
        Ready {
            ssh,
            copy,
            evaluations,
            home_differs: ctx.home_differs_from_passwd(),
        }
    })))
}

/// `config.openssh-agrees`: compares the prepared evaluations with `ssh -G`'s answers
/// (`prefetched` by the runner, or asked now).
pub fn openssh_agrees(
    ctx: &Context,
    state: &mut RunState,
    prepared: Option<Prepared>,
    prefetched: Option<DashG>,
) {
    let (Some(Prepared(prepared)), Some(cs)) = (prepared, state.config.clone()) else {
        return;
    };
    let agreement = match prepared {
        Err(why) => Agreement::NotCompared(why),
        Ok(ready) => {
            let asker = Asker {
                ssh: &ready.ssh,
                copy: &ready.copy,
                prefetched: prefetched.as_ref(),
            };
            compare(ctx, state, &cs, &ready, &asker)
        }
    };
    state.push([agreement.finding()]);
}

/// The OpenSSH client and the copy of the config it may read, or why there are none.
fn comparable(
    ctx: &Context,
    state: &RunState,
    cs: &ConfigState,
) -> Result<(PathBuf, PathBuf), NotCompared> {
    let ssh = match (&state.openssh, &ctx.openssh) {
        (_, OpenSshChoice::Disabled) => return Err(NotCompared::Disabled),
        (Some(o), _) => o.path.clone(),
        (None, _) => return Err(NotCompared::NoClient),
    };
    if !cs.user_file_read() {
        return Err(NotCompared::NoConfig);
    }
    let Some(copy) = state.handover.as_ref().and_then(|h| h.for_dash_g()) else {
        let reasons = match state.handover.as_ref().map(|h| &h.mode) {
            Some(crate::probes::handover::Mode::Sanitized(reasons)) => Some(reasons.clone()),
            _ => None,
        };
        return Err(NotCompared::NotHandedOver(reasons));
    };
    if cs
        .config
        .files
        .iter()
        .any(|f| !f.system && f.parsed.issues.iter().any(|i| i.kind.is_fatal()))
    {
        return Err(NotCompared::Refused);
    }
    Ok((ssh, copy))
}

/// How to get `ssh -G`'s answer for an alias: fetched early by the runner, or asked now.
struct Asker<'a> {
    ssh: &'a Path,
    copy: &'a Path,
    prefetched: Option<&'a DashG>,
}

impl Asker<'_> {
    fn ask(&self, ctx: &Context, alias: &str) -> Result<Output, String> {
        if let Some((_, r)) = self
            .prefetched
            .and_then(|p| p.iter().find(|(a, _)| a == alias))
        {
            return r.clone();
        }
        let path_env = crate::platform::env_get(ctx.os, &ctx.env, "PATH").map(String::as_str);
        dash_g(self.ssh, self.copy, &[alias.to_string()], path_env)
            .remove(0)
            .1
    }
}

/// Asks OpenSSH about every alias and compares; each answer is kept beside the doctor's
/// evaluation in the bundle.
fn compare(
    ctx: &Context,
    state: &mut RunState,
    cs: &ConfigState,
    ready: &Ready,
    asker: &Asker,
) -> Agreement {
    let home_differs = ready.home_differs;
    let mut differences = Vec::new();
    let mut compared = 0;
    for (alias, eff) in &ready.evaluations {
        let out = match asker.ask(ctx, alias) {
            Ok(o) => o,
            Err(error) => {
                let alias = alias.clone();
                differences.push(Difference::NotRun { alias, error });
                continue;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        keep_answer(ctx, state, cs, alias, &out, &stdout, home_differs);
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let error = stderr.lines().next().unwrap_or("").to_string();
            let alias = alias.clone();
            differences.push(Difference::Failed { alias, error });
            continue;
        }
        compared += 1;
        differences.extend(differing_values(ctx, eff, alias, &stdout));
    }
    Agreement::Compared {
        compared,
        differences,
        home_differs,
    }
}

/// Appends `ssh -G`'s answer to the alias's evaluation in the bundle.
fn keep_answer(
    ctx: &Context,
    state: &mut RunState,
    cs: &ConfigState,
    alias: &str,
    out: &Output,
    stdout: &str,
    home_differs: bool,
) {
    let Some(text) = state
        .artifacts
        .get_mut(&format!("ssh/effective/{alias}.txt"))
    else {
        return;
    };
    let header = format!(
        "# `ssh -G -F <a copy of {}> {alias}` (exit {}):\n",
        ctx.show(&cs.path),
        out.status.code().unwrap_or(-1)
    );
    text.extend_from_slice(header.as_bytes());
    text.extend_from_slice(stdout.as_bytes());
    if home_differs {
        text.extend_from_slice(b"# note: OpenSSH expands ~ from the account's passwd entry, which is not the home being checked\n");
    }
}

/// The settings the doctor probes with, as `ssh -G` printed them and as we evaluated them.
fn differing_values(ctx: &Context, eff: &Effective, alias: &str, stdout: &str) -> Vec<Difference> {
    let get = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .map(str::to_string)
            .unwrap_or_default()
    };
    let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
    let theirs_ids: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("identityfile "))
        .map(str::to_string)
        .collect();
    let mut ids: Vec<String> = eff.identity_files().iter().map(|s| s.to_string()).collect();
    if ids.is_empty() {
        ids = theirs_ids.clone();
    }
    let pairs = [
        ("hostname", eff.hostname(alias), get("hostname")),
        ("port", eff.port().to_string(), get("port")),
        (
            "user",
            eff.user().unwrap_or(&ctx.local_user).to_string(),
            get("user"),
        ),
        ("identityfile", ids.join(" "), theirs_ids.join(" ")),
        (
            "identitiesonly",
            yn(eff.flag("identitiesonly")),
            get("identitiesonly"),
        ),
        ("batchmode", yn(eff.flag("batchmode")), get("batchmode")),
        (
            "preferredauthentications",
            eff.preferred_authentications().unwrap_or("").to_string(),
            get("preferredauthentications"),
        ),
    ];
    pairs
        .into_iter()
        .filter(|(_, ours, theirs)| ours != theirs)
        .map(|(keyword, ours, theirs)| Difference::Value {
            alias: alias.to_string(),
            keyword,
            ours,
            theirs,
        })
        .collect()
}

impl Difference {
    fn describe(&self) -> String {
        match self {
            Difference::NotRun { alias, error } => format!("{alias}: {error}"),
            Difference::Failed { alias, error } => format!("{alias}: ssh -G failed: {error}"),
            Difference::Value {
                alias,
                keyword,
                ours,
                theirs,
            } => format!("{alias}: {keyword} is `{theirs}` for OpenSSH, `{ours}` for the doctor"),
        }
    }
}

impl Agreement {
    /// The `config.openssh-agrees` finding.
    fn finding(self) -> Finding {
        let subject = "~/.ssh/config";
        let id = CheckId::ConfigOpensshAgrees;
        let (compared, differences, home_differs) = match self {
            Agreement::NotCompared(why) => return why.finding(subject),
            Agreement::Compared {
                compared,
                differences,
                home_differs,
            } => (compared, differences, home_differs),
        };
        let f = if differences.is_empty() {
            Finding::pass(
                id,
                subject,
                format!("`ssh -G` agrees with the doctor for {compared} alias(es)"),
            )
        } else {
            let described: Vec<String> = differences.iter().map(Difference::describe).collect();
            Finding::warn(
                id,
                subject,
                format!("`ssh -G` reads the config differently: {}", described[0]),
            )
            .detail(format!(
                "{}{}",
                described.join("; "),
                if home_differs {
                    ". OpenSSH expands ~ from the account's home, not the home being checked (--home)."
                } else {
                    ""
                }
            ))
            .with("differences", &described)
        };
        f.with("home_differs_from_passwd", home_differs)
    }
}

impl NotCompared {
    fn finding(self, subject: &str) -> Finding {
        let id = CheckId::ConfigOpensshAgrees;
        match self {
            NotCompared::Disabled => Finding::skip(id, subject, "not compared: --no-openssh"),
            NotCompared::NoClient => Finding::skip(id, subject, "not compared: no OpenSSH client"),
            NotCompared::NoConfig => Finding::skip(
                id,
                subject,
                "not compared: there is no readable ~/.ssh/config",
            ),
            NotCompared::NotHandedOver(reasons) => {
                let why = match reasons {
                    Some(reasons) => reasons.join("; "),
                    None => "the config could not be prepared".into(),
                };
                Finding::skip(id, subject, "not compared: `ssh -G` is only run on a config the doctor fully understood and that can run no program")
                    .detail(format!("The doctor never runs commands from your config and never hands OpenSSH a file it did not fully understand. Here: {why}."))
                    .with("reasons", why)
            }
            NotCompared::Refused => Finding::skip(
                id,
                subject,
                "not compared: OpenSSH refuses this config (see config.syntax)",
            ),
        }
    }
}
