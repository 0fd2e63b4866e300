//! Dispatch of the subcommands; the only place that prints.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use clap::Parser;

use crate::cli::{BundleCommand, CheckArgs, Cli, ColorChoice, Command, ProfileCommand};
use crate::context::Context;
use crate::error::ExitStatus;
use crate::render::Style;
use crate::report::{ProfileRef, Report, Summary, Tool, SCHEMA};
use crate::settings::{Format, Settings, Verbosity};

/// Runs the program with these arguments and environment; returns the exit status.
pub fn main_with(args: Vec<OsString>, env: BTreeMap<String, String>) -> ExitStatus {
    let argv: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Healthy
            };
        }
    };
    match cli.command {
        None => check(&cli.check, env, argv),
        Some(Command::Check(args)) => check(&args, env, argv),
        Some(Command::List { json, profile }) => match site_profile(profile.as_deref()) {
            Ok(p) => list(json, &p),
            Err(status) => status,
        },
        Some(Command::Explain { id, profile }) => match site_profile(profile.as_deref()) {
            Ok(p) => explain(&id, &p),
            Err(status) => status,
        },
        Some(Command::Profile(ProfileCommand::Show { profile })) => {
            profile_show(profile.as_deref())
        }
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut crate::cli::command(), "mlc-doctor", &mut script);
            let mut script = String::from_utf8_lossy(&script).into_owned();
            if shell == clap_complete::Shell::Bash {
                script = bash_completions(&script);
            }
            print!("{script}");
            ExitStatus::Healthy
        }
        Some(Command::Man) => match man_page() {
            Ok(page) => {
                print!("{page}");
                ExitStatus::Healthy
            }
            Err(e) => fatal(&format!("cannot write the man page: {e}")),
        },
        Some(Command::Bundle(BundleCommand::Inspect { zip, json })) => {
            crate::bundle::inspect::command(&zip, json)
        }
        Some(Command::Fix(args)) => fix(&args, env, argv),
        Some(Command::Unmask { file, map }) => {
            crate::bundle::unmask::command(file.as_deref(), map.as_deref(), &env)
        }
    }
}

/// The man page: clap's sections for the options, then the subcommands, exit status,
/// environment, files and examples written here (clap would point at one page per
/// subcommand, and those pages do not exist).
pub fn man_page() -> std::io::Result<String> {
    let cmd = crate::cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(".SH SUBCOMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        page.push_str(&format!(
            ".TP\n\\fBmlc\\-doctor {}\\fR\n{}\n",
            sub.get_name().replace('-', "\\-"),
            sub.get_about().map(|a| a.to_string()).unwrap_or_default()
        ));
    }
    page.push_str(concat!(
        ".SH \"EXIT STATUS\"\n",
        ".TP\n\\fB0\\fR\nNo check failed (warnings allowed unless \\fB\\-\\-strict\\fR).\n",
        ".TP\n\\fB1\\fR\nAt least one check failed (or a warning with \\fB\\-\\-strict\\fR); \\fBbundle inspect\\fR: the bundle did not verify.\n",
        ".TP\n\\fB2\\fR\nUsage error: a bad flag, an unknown node, a bad profile (the message names the key and line).\n",
        ".TP\n\\fB3\\fR\nThe tool could not do its job, e.g. the bundle could not be written or the leak check refused it.\n",
        ".TP\n\\fB130\\fR\nInterrupted (Ctrl\\-C, SIGTERM): no report and no bundle; the temporary copies are removed.\n",
        ".SH ENVIRONMENT\n",
        ".TP\n\\fBHOME\\fR\nThe home whose \\fI~/.ssh\\fR is checked, unless \\fB\\-\\-home\\fR is given.\n",
        ".TP\n\\fBSSH_AUTH_SOCK\\fR\nThe ssh\\-agent to ask for its keys (and, for a verified host, to sign the second\\-factor check).\n",
        ".TP\n\\fBNO_COLOR\\fR\nWhen set and not empty, no colours (as with \\fB\\-\\-color never\\fR).\n",
        ".TP\n\\fBXDG_STATE_HOME\\fR\nWhere the pseudonym maps are kept (default \\fI~/.local/state\\fR).\n",
        ".SH FILES\n",
        ".TP\n\\fI~/.ssh/config\\fR, \\fI~/.ssh/id_*\\fR, \\fI~/.ssh/known_hosts\\fR\nRead, never changed (\\fBfix\\fR edits the config and modes only after showing the diff, with a backup \\fIconfig.mlc\\-doctor\\-<UTC>.bak\\fR).\n",
        ".TP\n\\fI./mlc\\-doctor\\-<UTC>.zip\\fR\nThe support bundle (mode 0600, never over an existing file; the temporary directory when the working directory is not writable).\n",
        ".TP\n\\fI~/.local/state/mlc\\-doctor/maps/\\fR\nOne pseudonym map per bundle, for \\fBunmask\\fR; it never leaves the machine.\n",
        ".SH EXAMPLES\n",
        ".TP\n\\fBmlc\\-doctor\\fR\nCheck everything and write the bundle to attach to a support ticket.\n",
        ".TP\n\\fBmlc\\-doctor \\-\\-offline \\-\\-no\\-bundle\\fR\nOnly the local checks.\n",
        ".TP\n\\fBmlc\\-doctor fix\\fR\nShow and apply the local fixes (permissions, Host blocks, a placeholder User).\n",
        ".TP\n\\fBmlc\\-doctor explain key.passphrase\\fR\nWhat one check looks at and how to fix it.\n",
        ".TP\n\\fBmlc\\-doctor bundle inspect FILE.zip\\fR\nFor support: verify a bundle and print its report.\n",
    ));
    let mut version = Vec::new();
    man.render_version_section(&mut version)?;
    page.push_str(&String::from_utf8_lossy(&version));
    Ok(page)
}

/// Mends clap_complete's bash script for a hyphenated binary name (its `case` labels
/// spell `mlc__subcmd__doctor…` where the state variable holds `mlc__doctor…`, so no
/// subcommand completed) and completes check ids after `explain` and the profile's node
/// aliases after `--node`.
fn bash_completions(generated: &str) -> String {
    let ids: Vec<&str> = crate::catalogue::all().map(|d| d.id.as_str()).collect();
    let aliases: Vec<String> = crate::profile::Profile::embedded()
        .nodes()
        .iter()
        .map(|n| n.alias().to_string())
        .collect();
    let mut out = String::with_capacity(generated.len() + 4096);
    let mut in_explain = false;
    let mut after_node = false;
    for line in generated
        .replace("mlc__subcmd__doctor", "mlc__doctor")
        .lines()
    {
        let trimmed = line.trim();
        if trimmed.ends_with(')') && trimmed.starts_with("mlc__doctor") {
            in_explain = trimmed == "mlc__doctor__subcmd__explain)";
        }
        if in_explain && trimmed.starts_with("opts=") {
            out.push_str(&line.replace("opts=\"", &format!("opts=\"{} ", ids.join(" "))));
            out.push('\n');
            continue;
        }
        if after_node && trimmed.starts_with("COMPREPLY=") {
            let indent: String = line.chars().take_while(|c| c.is_whitespace()).collect();
            out.push_str(&format!(
                "{indent}COMPREPLY=($(compgen -W \"{}\" -- \"${{cur}}\"))\n",
                aliases.join(" ")
            ));
            after_node = false;
            continue;
        }
        after_node = trimmed == "--node)";
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn usage(message: &str) -> ExitStatus {
    // Messages quote input (a profile's keys, paths): nothing in it may act on the terminal.
    eprintln!("mlc-doctor: error: {}", crate::escape::multiline(message));
    ExitStatus::Usage
}

/// Prints a failure of the tool itself; exit status 3.
pub fn fatal(message: &str) -> ExitStatus {
    eprintln!("mlc-doctor: {message}");
    ExitStatus::ToolError
}

fn color_enabled(choice: ColorChoice, env: &BTreeMap<String, String>, tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            tty && env.get("NO_COLOR").is_none_or(|v| v.is_empty())
                && env.get("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

struct Spinner(indicatif::ProgressBar, std::sync::Mutex<usize>, usize);

impl crate::runner::Progress for Spinner {
    fn node_done(&self, alias: &str) {
        let mut done = self.1.lock().unwrap_or_else(|e| e.into_inner());
        *done += 1;
        self.0.set_message(format!(
            "probing login nodes: {}/{} done (last: {alias})",
            *done, self.2
        ));
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

fn check(args: &CheckArgs, env: BTreeMap<String, String>, argv: Vec<String>) -> ExitStatus {
    let settings = match Settings::from_args(args, &env, argv) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let ctx = Arc::new(Context::from_settings(&settings, env.clone()));
    // Offline, the only async work is one agent query: no worker threads to start.
    let runtime = if settings.offline {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => return fatal(&format!("cannot start the async runtime: {e}")),
    };
    let stderr_tty = std::io::stderr().is_terminal();
    let progress: Option<Arc<dyn crate::runner::Progress>> = if stderr_tty
        && settings.format == Format::Human
        && settings.verbosity != Verbosity::Quiet
        && !settings.offline
    {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_message(format!("probing login nodes: 0/{} done", ctx.nodes.len()));
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        Some(Arc::new(Spinner(
            bar,
            std::sync::Mutex::new(0),
            ctx.nodes.len(),
        )))
    } else {
        None
    };
    let state = runtime.block_on(async {
        tokio::select! {
            state = crate::runner::run(ctx.clone(), progress) => Some(state),
            () = crate::platform::interrupted() => None,
        }
    });
    let Some(state) = state else {
        // Interrupted: the node pipelines are dropped, which stops their `ssh -vvv`
        // children (kill on drop), bounded so that a blocked lookup cannot hold the exit;
        // then no report, no bundle, and none of the doctor's copies left behind.
        runtime.shutdown_timeout(std::time::Duration::from_millis(500));
        crate::tempdirs::remove_all();
        eprintln!("mlc-doctor: interrupted; nothing was written");
        return ExitStatus::Interrupted;
    };
    // Nothing left running (a lookup, a child) may hold the process after the report.
    runtime.shutdown_background();
    let mut report = build_report(&settings, &ctx, state.findings.clone(), state.nodes.clone());

    let bundle_error = crate::bundle::write(&settings, &ctx, &state, &mut report).err();
    // A task the shutdown left behind (a lookup that never returns) may still hold the
    // handover and its copies: nothing needs them now, and none may outlive the run.
    crate::tempdirs::remove_all();
    if let Some(e) = &bundle_error {
        eprintln!("mlc-doctor: {e}");
    }
    // The bundle's own verdict came last: the headline must not say all is well above it.
    let status = crate::verdict::conclude(
        &mut report,
        ctx.site(),
        settings.strict,
        bundle_error.is_some(),
    );
    report.escape();

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = match settings.format {
        Format::Json => crate::render::json::render(&report, &mut out),
        Format::Human => {
            let tty = std::io::stdout().is_terminal();
            let width = if tty {
                terminal_size::terminal_size()
                    .map(|(w, _)| w.0 as usize)
                    .unwrap_or(80)
            } else {
                80
            };
            let style = Style {
                color: color_enabled(settings.color, &env, tty),
                width: width.clamp(40, 120),
                verbosity: settings.verbosity,
            };
            crate::render::human::render(&report, &style, &mut out)
        }
    };
    let _ = out.flush();
    if let Err(e) = written {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return fatal(&format!("cannot write the report: {e}"));
        }
    }
    status
}

/// `mlc-doctor fix`: plan from the local facts, show, ask once, apply, check again.
fn fix(args: &crate::cli::FixArgs, env: BTreeMap<String, String>, argv: Vec<String>) -> ExitStatus {
    let mut check_args = args.check.clone();
    check_args.offline = true;
    check_args.no_bundle = true;
    check_args.json = false;
    let settings = match Settings::from_args(&check_args, &env, argv.clone()) {
        Ok(s) => s,
        Err(e) => return usage(&e.to_string()),
    };
    let ctx = Arc::new(Context::from_settings(&settings, env.clone()));
    // `fix` writes --user into the config: never a name the site's own check would flag.
    if let Some(user) = &ctx.user_override {
        let pattern = ctx.profile.username_regex();
        let placeholder = crate::probes::config::is_placeholder(&ctx, user) || user.contains('@');
        if placeholder || pattern.as_ref().is_some_and(|p| !p.is_match(user)) {
            return usage(&format!(
                "--user {:?} is not a username the site accepts{}; give the username from your account e-mail",
                crate::escape::text(user),
                ctx.profile
                    .username_pattern
                    .as_ref()
                    .map(|p| format!(" ({})", p.get_ref()))
                    .unwrap_or_default()
            ));
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fatal(&format!("cannot start the async runtime: {e}")),
    };
    let state = runtime.block_on(crate::runner::run(ctx.clone(), None));
    runtime.shutdown_background();
    let mut plan = crate::fix::plan(&ctx, &state);
    // A note's `mlc-doctor fix …` keeps --home/--profile/…, as the report's advice does.
    for n in &mut plan.notes {
        *n = crate::verdict::with_run_flags(n, ctx.site());
    }
    // The copies handed to OpenSSH are not needed past the plan, and the question below
    // may be answered with Ctrl-C, which drops nothing.
    crate::tempdirs::remove_all();
    // What `fix` says goes to standard output; when that is closed (`| head`), nothing
    // is changed: a change nobody was shown is not made.
    let mut out = std::io::stdout();
    let mut say = |text: &str| -> std::io::Result<()> {
        out.write_all(text.as_bytes())?;
        out.flush()
    };
    if plan.is_empty() {
        let mut text = if plan.notes.is_empty() {
            "Nothing to fix on this machine: no local change would help.\n".to_string()
        } else {
            "Nothing that `fix` may change by itself. By hand:\n".to_string()
        };
        for n in &plan.notes {
            text.push_str(&format!("note: {}\n", crate::escape::text(n)));
        }
        let _ = say(&text);
        return ExitStatus::Healthy;
    }
    // `~` in the plan is the home checked; where the shell's `~` is another, say which.
    let home = match &ctx.commands_home {
        Some(h) => format!(" (~ is {})", crate::escape::text(&h.display().to_string())),
        None => String::new(),
    };
    let shown = say(&format!(
        "mlc-doctor fix would make these changes{home}:\n\n{}",
        plan.describe()
    ));
    if let Err(e) = shown {
        return fatal(&format!(
            "nothing was changed: the changes could not be shown ({e})"
        ));
    }
    let go = if args.yes {
        true
    } else if std::io::stdin().is_terminal() {
        if let Err(e) = say("\nApply them? [y/N] ") {
            return fatal(&format!(
                "nothing was changed: the question could not be shown ({e})"
            ));
        }
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        matches!(answer.trim(), "y" | "Y" | "yes")
    } else {
        let _ = say(&crate::escape::multiline(&crate::verdict::with_run_flags(
            "\nNothing was changed: there is no terminal to ask. Run `mlc-doctor fix --yes` to apply.\n",
            ctx.site(),
        )));
        return ExitStatus::Healthy;
    };
    if !go {
        let _ = say("Nothing was changed.\n");
        return ExitStatus::Healthy;
    }
    let stamp = ctx.started_at.strftime("%Y%m%dT%H%M%SZ").to_string();
    match crate::fix::apply(&plan, &stamp) {
        Ok(done) => {
            let mut text = "\n".to_string();
            for d in done {
                text.push_str(&format!("done: {}\n", crate::escape::text(&d)));
            }
            // Done is done: a closed output no longer changes the outcome.
            if say(&text).is_err() {
                return ExitStatus::Healthy;
            }
        }
        Err(e) => return fatal(&e),
    }
    if say("\nThe checks again:\n\n").is_err() {
        return ExitStatus::Healthy;
    }
    let mut again = check_args;
    again.quiet = true;
    again.verbose = 0;
    check(&again, env, argv)
}

/// Assembles the report from the run's findings; the exit code is filled in by the caller.
pub fn build_report(
    settings: &Settings,
    ctx: &Context,
    mut findings: Vec<crate::finding::Finding>,
    nodes: Vec<crate::report::NodeReport>,
) -> Report {
    crate::verdict::adjust(&mut findings);
    let mut report = Report {
        schema: SCHEMA.to_string(),
        tool: Tool::this(),
        profile: ProfileRef {
            name: ctx.profile.name.clone(),
            source: settings.profile_source.clone(),
        },
        started_at: ctx
            .started_at
            .round(jiff::Unit::Second)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| ctx.started_at.to_string()),
        duration_ms: ctx.started.elapsed().as_millis() as u64,
        offline: settings.offline,
        summary: Summary::default(),
        findings,
        nodes,
        diagnosis: Vec::new(),
        bundle: None,
        exit_code: 0,
    };
    crate::verdict::conclude(&mut report, ctx.site(), settings.strict, false);
    report.escape();
    report
}

/// The profile `--profile` names, else the embedded one; a bad file is a usage error.
fn site_profile(path: Option<&std::path::Path>) -> Result<crate::profile::Profile, ExitStatus> {
    match path {
        Some(p) => crate::profile::Profile::load(p).map_err(|e| usage(&e.to_string())),
        None => Ok(crate::profile::Profile::embedded()),
    }
}

fn list(json: bool, profile: &crate::profile::Profile) -> ExitStatus {
    let title = |d: &crate::catalogue::CheckDoc| {
        crate::escape::text(&crate::catalogue::in_site_words(d.title, profile))
    };
    let docs: Vec<_> = crate::catalogue::all().collect();
    let mut out = std::io::stdout().lock();
    let result = if json {
        let rows: Vec<_> = docs
            .iter()
            .map(|d| serde_json::json!({"id": d.id, "area": d.area().as_str(), "title": title(d)}))
            .collect();
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        )
    } else {
        let width = docs.iter().map(|d| d.id.as_str().len()).max().unwrap_or(10);
        docs.iter()
            .try_for_each(|d| writeln!(out, "{:width$}  {:9} {}", d.id, d.area(), title(d)))
    };
    match result {
        Ok(()) => ExitStatus::Healthy,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Healthy,
        Err(e) => fatal(&e.to_string()),
    }
}

fn explain(id: &str, profile: &crate::profile::Profile) -> ExitStatus {
    let Some(doc) = crate::catalogue::lookup(id) else {
        let hints = crate::catalogue::suggestions(id);
        let hint = if hints.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", hints.join(", "))
        };
        return usage(&format!(
            "no check has the id {id:?}{hint}; `mlc-doctor list` shows them all"
        ));
    };
    let words = |t: &str| crate::catalogue::in_site_words(t, profile);
    let mut text = String::new();
    text.push_str(&format!("{} — {}\n\n", doc.id, words(doc.title)));
    for (head, body) in [
        ("What it checks", doc.what),
        ("Why it matters", doc.why),
        ("How to fix", doc.fix),
    ] {
        text.push_str(head);
        text.push('\n');
        for line in crate::render::human::wrap(&words(body), 88, "  ") {
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
    }
    if let Some(url) = &profile.docs_url {
        text.push_str(&format!("The {} access guide: {url}\n", profile.name));
    }
    // The site's words come from a profile file: nothing in them may act on the terminal.
    print!("{}", crate::escape::multiline(&text));
    ExitStatus::Healthy
}

fn profile_show(path: Option<&std::path::Path>) -> ExitStatus {
    let (profile, source) = match path {
        Some(p) => match crate::profile::Profile::load(p) {
            Ok(profile) => (profile, p.display().to_string()),
            Err(e) => return usage(&e.to_string()),
        },
        None => (
            crate::profile::Profile::embedded(),
            "embedded (profiles/mlcloud.toml)".to_string(),
        ),
    };
    // A profile is outside input: nothing in it may act on the terminal.
    print!(
        "# mlc-doctor site profile in effect: {}\n{}",
        crate::escape::text(&source),
        crate::escape::multiline(&profile.to_toml())
    );
    ExitStatus::Healthy
}
