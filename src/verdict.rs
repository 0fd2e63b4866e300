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
}

/// Fills in what follows from the findings: counts, diagnosis and exit code; returns the
/// exit status. `tool_failed`: the tool itself could not do its job (exit status 3).
pub fn conclude(report: &mut Report, site: Site, strict: bool, tool_failed: bool) -> ExitStatus {
    report.summary = Summary::of(&report.findings);
    report.diagnosis = crate::diagnosis::diagnose(&report.findings, site.shell, site.profile);
    let status = exit_status(&report.findings, strict, tool_failed);
    report.exit_code = status.code() as i32;
    status
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
