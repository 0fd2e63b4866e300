//! The run's verdict, after every check has run: the severity adjustments that depend on
//! more than one check, then the summary, the diagnosis and the exit status, each decided
//! here and nowhere else.

use crate::check::CheckId;
use crate::error::ExitStatus;
use crate::fact::Fact;
use crate::finding::{Finding, Severity};
use crate::platform::Shell;
use crate::profile::Profile;
use crate::report::{Report, Summary};
use crate::transcript::Outcome;

/// Findings about a key that no login node uses matter less: a policy problem of such a
/// key is information, an unprotected one (anyone may read it) a warning. Which nodes use
/// a key is judged over every login node of the profile, whatever `--node` chose.
pub fn adjust(findings: &mut [Finding]) {
    reconcile(findings);
    for f in findings.iter_mut() {
        let unused = matches!(&f.fact, Some(Fact::KeyUse(used_by)) if used_by.is_empty());
        let lowered = match (unused, f.id, f.severity) {
            (false, _, _) => None,
            (true, CheckId::PermPrivateKey, Severity::Fail) => Some(Severity::Warn),
            (true, CheckId::PermPrivateKey, _) => None,
            (true, _, Severity::Warn | Severity::Fail) => Some(Severity::Info),
            (true, _, _) => None,
        };
        if let Some(severity) = lowered {
            f.severity = severity;
            f.summary = format!("{} (this key is not used for the login nodes)", f.summary);
        }
    }
}

/// OpenSSH's own attempt (`ssh.transcript`) and the doctor's handshake
/// (`ssh.key-accepted`) should agree on whether the node accepts a key; where they do
/// not, the transcript says so as a warning.
fn reconcile(findings: &mut [Finding]) {
    let tested: Vec<(Option<String>, bool)> = findings
        .iter()
        .filter(|f| f.id == CheckId::SshKeyAccepted)
        .filter(|f| matches!(f.severity, Severity::Pass | Severity::Fail))
        .map(|f| (f.node.clone(), f.severity == Severity::Pass))
        .collect();
    for f in findings.iter_mut() {
        if f.id != CheckId::SshTranscript || f.severity != Severity::Info {
            continue;
        }
        let Some(&(_, ours)) = tested.iter().find(|(node, _)| *node == f.node) else {
            continue;
        };
        let Some(Fact::Transcript(outcome)) = &f.fact else {
            continue;
        };
        let ssh_accepts = matches!(
            outcome,
            Outcome::KeyAccepted { .. }
                | Outcome::KeyUnusable { .. }
                | Outcome::PartialSuccess { .. }
                | Outcome::Authenticated
        );
        let comparable = ssh_accepts || matches!(outcome, Outcome::PermissionDenied { .. });
        if comparable && ssh_accepts != ours {
            let alias = f.node.clone().unwrap_or_default();
            f.severity = Severity::Warn;
            f.summary = format!("OpenSSH and the doctor disagree: {} (OpenSSH), {} key(s) accepted (the doctor's handshake)", outcome.describe(), usize::from(ours));
            f.detail = Some(format!("Your own ssh uses settings or keys the doctor's check did not (a key it could not load, an option in your config); nodes/{alias}/ssh-vvv.txt in the bundle shows which."));
        }
    }
}

/// Whom the advice is for: the shell of the machine and the site.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub shell: Shell,
    pub profile: &'a Profile,
    /// The flags a suggested `mlc-doctor` run keeps (`--profile`, `--home`, …).
    pub rerun: &'a [String],
    /// The home to name in full in commands (it is not the shell's `~`: `--home`).
    pub commands_home: Option<&'a std::path::Path>,
}

/// Fills in what follows from the findings: counts, diagnosis and exit code; returns the
/// exit status. `tool_failed`: the tool itself could not do its job (exit status 3).
pub fn conclude(report: &mut Report, site: Site, strict: bool, tool_failed: bool) -> ExitStatus {
    report.summary = Summary::of(&report.findings);
    report.diagnosis = crate::diagnosis::diagnose_home(
        &report.findings,
        site.shell,
        site.commands_home,
        site.profile,
    );
    keep_run_flags(report, site);
    let status = exit_status(&report.findings, strict, tool_failed);
    report.exit_code = status.code() as i32;
    status
}

/// A suggested `mlc-doctor …` run keeps the flags that chose what this run looked at: a
/// pasted `mlc-doctor` (or `mlc-doctor fix`) must not check another home or the embedded
/// site's real nodes. In commands and in the words around them.
fn keep_run_flags(report: &mut Report, site: Site) {
    if site.rerun.is_empty() {
        return;
    }
    let with = |t: &mut String| *t = with_run_flags(t, site);
    for step in report.diagnosis.iter_mut().flat_map(|d| d.steps.iter_mut()) {
        with(&mut step.text);
        step.command.as_mut().map(with);
    }
    for f in report.findings.iter_mut() {
        f.detail.as_mut().map(with);
        if let Some(r) = f.remedy.as_mut() {
            with(&mut r.text);
            r.command.as_mut().map(with);
        }
    }
}

/// `text` with the run's flags after each `mlc-doctor` (and `mlc-doctor fix`) that starts
/// it or a `code` span in it. A `--user` the suggestion already has is not given twice.
pub fn with_run_flags(text: &str, site: Site) -> String {
    if site.rerun.is_empty() || !text.contains("mlc-doctor") {
        return text.to_string();
    }
    // A value that cannot be written in a command (not UTF-8: shown with U+FFFD; control
    // or invisible characters: shown escaped) would name another path: a placeholder says
    // so instead, and pasted as is it runs nothing.
    let writable = site.rerun.iter().all(|v| {
        !v.contains('\u{fffd}')
            && !v
                .chars()
                .any(|c| c.is_control() || crate::escape::is_unsafe(c))
    });
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find("mlc-doctor") {
        let before = &rest[..at];
        let starts = (out.is_empty() && before.is_empty()) || before.ends_with('`');
        let mut end = at + "mlc-doctor".len();
        if rest[end..].starts_with(" fix") {
            end += " fix".len();
        }
        let after = &rest[end..];
        let word_ends = after.is_empty() || after.starts_with([' ', '`']);
        out.push_str(&rest[..end]);
        if starts && word_ends {
            // The suggestion's own arguments, up to the end of its code span.
            let own = after.split('`').next().unwrap_or("");
            let mut flags = Vec::new();
            let mut args = site.rerun.iter();
            while let Some(flag) = args.next() {
                let takes_value = flag != "--no-openssh";
                let value = if takes_value { args.next() } else { None };
                if own.contains(flag.as_str()) {
                    continue;
                }
                flags.push(match value {
                    // `--home=-x`: a value that starts with `-` is not read as a flag.
                    Some(v) if v.starts_with('-') => shell_word(site.shell, &format!("{flag}={v}")),
                    Some(v) => format!("{flag} {}", shell_word(site.shell, v)),
                    None => flag.clone(),
                });
            }
            if !writable {
                // Once: a text that was given its flags already keeps them.
                if !own.contains(UNWRITABLE) {
                    out.push(' ');
                    out.push_str(UNWRITABLE);
                }
            } else if !flags.is_empty() {
                out.push(' ');
                out.push_str(&flags.join(" "));
            }
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// What stands for this run's options where they cannot be written in a command.
const UNWRITABLE: &str = "<this run's options>";

/// One word for the user's shell, quoted where it needs it.
fn shell_word(shell: Shell, word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=".contains(c));
    match shell {
        _ if plain => word.to_string(),
        Shell::Posix => format!("'{}'", word.replace('\'', "'\\''")),
        Shell::PowerShell => crate::platform::windows::ps_literal(word),
    }
}

/// The exit status of a check run.
fn exit_status(findings: &[Finding], strict: bool, tool_failed: bool) -> ExitStatus {
    let bundle_failed = findings
        .iter()
        .any(|f| f.id == CheckId::BundleWritten && f.severity == Severity::Fail);
    if tool_failed || bundle_failed {
        return ExitStatus::ToolError;
    }
    // A run the deadline cut short did not do its job: never "no failure" for what it
    // did not check.
    let cut_short = findings
        .iter()
        .any(|f| matches!(f.fact, Some(Fact::CutShort { .. })));
    match findings.iter().map(|f| f.severity).max() {
        Some(Severity::Fail) => ExitStatus::Problems,
        Some(Severity::Warn) if strict => ExitStatus::Problems,
        _ if cut_short => ExitStatus::ToolError,
        _ => ExitStatus::Healthy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_finding(id: CheckId, severity: Severity, used_by: &[&str]) -> Finding {
        Finding::new(id, severity, "~/.ssh/id_rsa", "weak").fact(Fact::KeyUse(
            used_by.iter().map(|s| s.to_string()).collect(),
        ))
    }

    #[test]
    fn a_suggested_run_keeps_the_flags_that_chose_what_was_checked() {
        let profile = Profile::embedded();
        let rerun: Vec<String> = [
            "--profile",
            "/tmp/my site.toml",
            "--home",
            "-odd",
            "--user",
            "abc123",
            "--no-openssh",
        ]
        .map(String::from)
        .to_vec();
        let site = Site {
            shell: Shell::Posix,
            profile: &profile,
            rerun: &rerun,
            commands_home: None,
        };
        let flags = "--profile '/tmp/my site.toml' --home=-odd --user abc123 --no-openssh";
        for (text, want) in [
            ("mlc-doctor".to_string(), format!("mlc-doctor {flags}")),
            (
                "mlc-doctor --deadline 120".to_string(),
                format!("mlc-doctor {flags} --deadline 120"),
            ),
            (
                "Run `mlc-doctor fix --yes` to apply.".to_string(),
                format!("Run `mlc-doctor fix {flags} --yes` to apply."),
            ),
            // The suggestion's own --user is kept, the run's is not added twice.
            (
                "run `mlc-doctor fix --user NAME` with your username".to_string(),
                "run `mlc-doctor fix --profile '/tmp/my site.toml' --home=-odd --no-openssh --user NAME` with your username".to_string(),
            ),
            ("mlc-doctorx".to_string(), "mlc-doctorx".to_string()),
            ("run mlc-doctor again".to_string(), "run mlc-doctor again".to_string()),
            ("ssh slurm".to_string(), "ssh slurm".to_string()),
        ] {
            assert_eq!(with_run_flags(&text, site), want);
        }
        // A path that cannot be written: a placeholder, never another path.
        let odd: Vec<String> = ["--home", "/h/\u{fffd}"].map(String::from).to_vec();
        let site = Site {
            rerun: &odd,
            ..site
        };
        assert_eq!(
            with_run_flags("mlc-doctor --deadline 120", site),
            "mlc-doctor <this run's options> --deadline 120"
        );
        // Twice (a remedy, then the step made of it): the placeholder once.
        let once = with_run_flags("Run `mlc-doctor fix` to write it.", site);
        assert_eq!(
            once,
            "Run `mlc-doctor fix <this run's options>` to write it."
        );
        assert_eq!(with_run_flags(&once, site), once);
        assert_eq!(
            shell_word(Shell::PowerShell, "C:\\a b\\p.toml"),
            "'C:\\a b\\p.toml'"
        );
    }

    #[test]
    fn findings_about_unused_keys_are_lowered_once() {
        let mut f = vec![
            key_finding(CheckId::KeyAlgorithm, Severity::Fail, &[]),
            key_finding(CheckId::KeyAlgorithm, Severity::Fail, &["slurm"]),
            key_finding(CheckId::PermPrivateKey, Severity::Fail, &[]),
            key_finding(CheckId::PermPrivateKey, Severity::Warn, &[]),
            key_finding(CheckId::KeyPassphrase, Severity::Pass, &[]),
        ];
        adjust(&mut f);
        let sev: Vec<Severity> = f.iter().map(|f| f.severity).collect();
        assert_eq!(
            sev,
            [
                Severity::Info,
                Severity::Fail,
                Severity::Warn,
                Severity::Warn,
                Severity::Pass
            ]
        );
        assert!(f[0]
            .summary
            .ends_with("(this key is not used for the login nodes)"));
        assert_eq!(f[1].summary, "weak");
        assert!(f[2]
            .summary
            .ends_with("(this key is not used for the login nodes)"));
        assert_eq!(f[3].summary, "weak");
    }

    #[test]
    fn openssh_and_the_handshake_disagreeing_is_a_warning_on_that_node_only() {
        let transcript = |node: &str| {
            Finding::info(CheckId::SshTranscript, node, "OpenSSH: the key is accepted")
                .fact(Fact::Transcript(Outcome::KeyAccepted {
                    remaining: Vec::new(),
                }))
                .node(node)
        };
        let mut f = vec![
            Finding::fail(CheckId::SshKeyAccepted, "slurm", "none").node("slurm"),
            transcript("slurm"),
            Finding::pass(CheckId::SshKeyAccepted, "slurm2", "yes").node("slurm2"),
            transcript("slurm2"),
            transcript("slurm3"),
        ];
        adjust(&mut f);
        assert_eq!(f[1].severity, Severity::Warn);
        let said = Outcome::KeyAccepted {
            remaining: Vec::new(),
        }
        .describe();
        assert_eq!(
            f[1].summary,
            format!("OpenSSH and the doctor disagree: {said} (OpenSSH), 0 key(s) accepted (the doctor's handshake)")
        );
        assert_eq!(f[3].severity, Severity::Info, "they agree on slurm2");
        assert_eq!(
            f[4].severity,
            Severity::Info,
            "the handshake did not test slurm3"
        );
    }

    #[test]
    fn exit_status_follows_the_contract() {
        let warn = [Finding::warn(CheckId::EnvOpenssh, "ssh", "old")];
        let fail = [Finding::fail(CheckId::EnvOpenssh, "ssh", "gone")];
        let bundle = [Finding::fail(CheckId::BundleWritten, "bundle", "refused")];
        assert_eq!(exit_status(&warn, false, false), ExitStatus::Healthy);
        assert_eq!(exit_status(&warn, true, false), ExitStatus::Problems);
        assert_eq!(exit_status(&fail, false, false), ExitStatus::Problems);
        assert_eq!(exit_status(&fail, false, true), ExitStatus::ToolError);
        assert_eq!(exit_status(&bundle, false, false), ExitStatus::ToolError);
        assert_eq!(exit_status(&[], true, false), ExitStatus::Healthy);
    }
}
