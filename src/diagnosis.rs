//! Rules over all findings that name the most likely causes, ranked, each with the steps
//! that fix it. One table of rules; each rule reads findings only.

use serde::{Deserialize, Serialize};

use crate::catalogue::CheckDoc;
use crate::finding::{Finding, Severity};

macro_rules! doc {
    ($id:literal, $title:literal, $what:literal, $why:literal, $fix:literal) => {
        CheckDoc {
            id: $id,
            title: $title,
            what: $what,
            why: $why,
            fix: $fix,
        }
    };
}

pub const CHECKS: &[CheckDoc] = &[
    doc!("diagnosis.bundle-refused", "No support bundle was written", "Concluded when bundle.written fails: the leak check refused the bundle, or it could not be written.", "Without the bundle support sees no evidence; the report says why it was not written.", "Follow the bundle.written finding (another --bundle path, or report a refused leak check to the maintainers)."),
    doc!("diagnosis.no-client", "No usable OpenSSH client", "Concluded when env.openssh fails: no `ssh` on PATH, one that cannot run, or one older than 7.2.", "Without an OpenSSH client `ssh slurm` cannot work, whatever else is right.", "Install the OpenSSH client the report names, then run the doctor again."),
    doc!("diagnosis.config-broken", "OpenSSH refuses your ~/.ssh/config", "Concluded when config.syntax, config.include or perm.config fail.", "With one bad line, a loop or loose permissions OpenSSH stops before connecting anywhere, so every host fails.", "Correct the line the report names, or `chmod 600 ~/.ssh/config`."),
    doc!("diagnosis.no-config", "The short names (slurm, …) are not defined", "Concluded when ~/.ssh/config is missing or does not define the login node aliases.", "`ssh slurm` then looks for a machine called `slurm` and fails with `Could not resolve hostname`.", "Paste the Host blocks the report prints into ~/.ssh/config."),
    doc!("diagnosis.offline", "This machine cannot resolve the login nodes", "Concluded when no login node name resolves.", "Without DNS nothing else can work: the machine is offline, behind a captive portal, or its DNS is broken.", "Check your internet connection (open a web page), then run the doctor again."),
    doc!("diagnosis.network-blocked", "The login nodes do not answer on their SSH port", "Concluded when names resolve but every login node times out on TCP.", "This is what a firewall or a missing VPN looks like: the login nodes are only reachable from certain networks.", "Connect to the university VPN (or the campus network) and try again."),
    doc!("diagnosis.node-down", "One login node is unreachable, others work", "Concluded when some nodes fail on DNS, TCP or the banner while others answer.", "A single node may be down for maintenance; the others are usable.", "Log in through a node that answers (the report names one)."),
    doc!("diagnosis.not-ssh", "Something other than SSH answers", "Concluded when the server's first bytes are not an SSH banner.", "A proxy, captive portal or firewall is answering in place of the login node.", "Use another network or the VPN."),
    doc!("diagnosis.host-key-changed", "The login node's host key changed", "Concluded when ssh.host-key fails (known_hosts or a profile pin disagrees).", "ssh refuses to connect; it can be a reinstalled node or an attack.", "Confirm the new fingerprint with support before removing the old known_hosts entry."),
    doc!("diagnosis.no-key", "You have no SSH key for the cluster", "Concluded when key.present fails.", "The login nodes accept only public keys.", "Create a key with `ssh-keygen -t ed25519 -a 100 -f ~/.ssh/id_ed25519` and have it deployed."),
    doc!("diagnosis.key-refused-locally", "OpenSSH will not use your key", "Concluded when the key the nodes use has bad permissions, a damaged or PuTTY format, or IdentityFile points to a missing file or a .pub.", "ssh silently skips such keys, so the server never sees them.", "Apply the fix the report gives for the key (often `chmod 600 <key>`)."),
    doc!("diagnosis.wrong-user", "The username sent to the cluster is wrong", "Concluded when User is a placeholder, an e-mail address or missing.", "The server refuses every key for an unknown user, which looks like a key that is not deployed.", "Set `User <your cluster username>` in the login nodes' Host blocks."),
    doc!("diagnosis.too-many-keys", "Too many keys are offered", "Concluded when ssh-agent holds more than 5 keys without IdentitiesOnly, or OpenSSH ended with `Too many authentication failures`.", "The server disconnects after 6 refused keys, before the right one is tried.", "Add `IdentitiesOnly yes` to the login nodes' Host blocks."),
    doc!("diagnosis.key-not-deployed", "The server does not accept your key", "Concluded when the handshake works but no local key is accepted.", "Usually the public key was never deployed; the client cannot tell this apart from a wrong username, server-side permissions or a locked account.", "Within 2 days of account creation use ssh-copy-id; otherwise open a ticket with the bundle (it contains your public key)."),
    doc!("diagnosis.second-factor-blocked", "Your config prevents the TOTP prompt", "Concluded when config.auth-override fails.", "The login needs the TOTP code after the key; BatchMode, KbdInteractiveAuthentication no or PreferredAuthentications without keyboard-interactive stop ssh from asking.", "Remove the setting named in the report."),
    doc!("diagnosis.key-policy", "Your key does not meet the site's key policy", "Concluded when the key the nodes use is the wrong type or size, or has no passphrase.", "The site requires Ed25519 (or RSA ≥ 4096) with a passphrase; support may refuse to deploy other keys.", "Add a passphrase with `ssh-keygen -p -a 100 -f <key>`, or create a new Ed25519 key."),
    doc!("diagnosis.healthy", "Nothing is wrong that the client can see", "Concluded when no check failed.", "If `ssh slurm` still fails, the cause is on the server side: attach the bundle to a ticket.", "Log in with `ssh slurm`."),
];

/// One step of a fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Step {
    fn new(text: impl Into<String>) -> Step {
        Step {
            text: text.into(),
            command: None,
        }
    }
    fn cmd(text: impl Into<String>, command: impl Into<String>) -> Step {
        Step {
            text: text.into(),
            command: Some(command.into()),
        }
    }
}

/// A likely cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub id: String,
    pub summary: String,
    /// The finding ids it rests on.
    pub because: Vec<String>,
    /// high, medium or low.
    pub confidence: String,
    pub steps: Vec<Step>,
}

/// The findings, with the questions rules ask of them.
struct Facts<'a> {
    findings: &'a [Finding],
}

impl<'a> Facts<'a> {
    fn with(&self, id: &str, sev: Severity) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| f.id == id && f.severity == sev)
            .collect()
    }
    /// The shell of the machine the report is about (env.os), for the commands of steps.
    fn shell(&self) -> crate::platform::Shell {
        let windows = self.findings.iter().any(|f| {
            f.id == "env.os"
                && f.evidence
                    .get("os")
                    .and_then(|v| v.as_str())
                    .is_some_and(|o| o.eq_ignore_ascii_case("windows"))
        });
        if windows {
            crate::platform::Shell::PowerShell
        } else {
            crate::platform::Shell::Posix
        }
    }
    /// `~/.ssh/...` written for that shell.
    fn path(&self, shown: &str) -> String {
        match (self.shell(), shown.strip_prefix('~')) {
            (crate::platform::Shell::PowerShell, Some(rest)) => {
                crate::platform::windows::ps_profile_path(rest)
            }
            _ => shown.to_string(),
        }
    }
    fn any(&self, id: &str, sev: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.id == id && f.severity == sev)
    }
    fn probed_nodes(&self) -> Vec<&'a str> {
        let mut nodes: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.id == "net.dns" && f.severity != Severity::Skip)
            .filter_map(|f| f.node.as_deref())
            .collect();
        nodes.dedup();
        nodes
    }
    /// Steps from the remedies of the given findings, without repeats.
    fn steps(&self, found: &[&Finding]) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::new();
        for f in found {
            if let Some(r) = &f.remedy {
                let step = Step {
                    text: format!("{}: {}", f.subject, r.text),
                    command: r.command.clone(),
                };
                if !out.iter().any(|s| {
                    s.command.is_some() && s.command == step.command || s.text == step.text
                }) {
                    out.push(step);
                }
            }
        }
        out
    }
    fn used_key_problem(&self, id: &str) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| {
                f.id == id
                    && f.severity == Severity::Fail
                    && f.evidence
                        .get("used_by")
                        .and_then(|u| u.as_array())
                        .is_none_or(|a| !a.is_empty())
            })
            .collect()
    }
}

fn diag(
    id: &str,
    summary: impl Into<String>,
    because: &[&Finding],
    confidence: &str,
    steps: Vec<Step>,
) -> Diagnosis {
    let mut ids: Vec<String> = because.iter().map(|f| f.id.clone()).collect();
    ids.dedup();
    Diagnosis {
        id: id.into(),
        summary: summary.into(),
        because: ids,
        confidence: confidence.into(),
        steps,
    }
}

type Rule = fn(&Facts) -> Option<Diagnosis>;

/// The rules, most fundamental cause first: the order is the ranking.
const RULES: &[Rule] = &[
    bundle_refused,
    no_client,
    config_broken,
    no_key,
    no_config,
    offline,
    network_blocked,
    not_ssh,
    host_key_changed,
    key_refused_locally,
    wrong_user,
    too_many_keys,
    second_factor_blocked,
    key_not_deployed,
    node_down,
    key_policy,
    some_aliases_missing,
];

fn bundle_refused(f: &Facts) -> Option<Diagnosis> {
    let found = f.with("bundle.written", Severity::Fail);
    (!found.is_empty()).then(|| {
        diag(
            "diagnosis.bundle-refused",
            "No support bundle was written (the checks below still ran)",
            &found,
            "high",
            f.steps(&found),
        )
    })
}

fn no_client(f: &Facts) -> Option<Diagnosis> {
    let found = f.with("env.openssh", Severity::Fail);
    (!found.is_empty()).then(|| {
        diag(
            "diagnosis.no-client",
            "This machine has no usable OpenSSH client: `ssh` cannot log in from here",
            &found,
            "high",
            f.steps(&found),
        )
    })
}

fn config_broken(f: &Facts) -> Option<Diagnosis> {
    let mut found: Vec<&Finding> = f.with("config.syntax", Severity::Fail);
    found.extend(f.with("perm.config", Severity::Fail));
    found.extend(f.with("config.include", Severity::Fail));
    found.extend(
        f.findings
            .iter()
            .filter(|x| x.id == "config.present" && x.severity == Severity::Fail),
    );
    (!found.is_empty()).then(|| {
        diag(
            "diagnosis.config-broken",
            "OpenSSH refuses to read your ~/.ssh/config, so `ssh` fails for every host",
            &found,
            "high",
            f.steps(&found),
        )
    })
}

fn no_config(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.with("config.present", Severity::Warn);
    found.extend(f.with("config.hostname", Severity::Fail));
    let undefined = f.with("config.alias", Severity::Warn);
    let defined = f.any("config.alias", Severity::Pass);
    if !defined {
        found.extend(undefined);
    }
    if found.is_empty() {
        return None;
    }
    let missing = f.any("config.present", Severity::Warn);
    let summary = if missing {
        "There is no ~/.ssh/config, so `ssh slurm` does not know what `slurm` is"
    } else {
        "Your ~/.ssh/config does not define the login nodes' short names correctly"
    };
    Some(diag(
        "diagnosis.no-config",
        summary,
        &found,
        "high",
        f.steps(&found),
    ))
}

/// Some aliases are defined and others are not: worth fixing, but not what blocks the login.
fn some_aliases_missing(f: &Facts) -> Option<Diagnosis> {
    let undefined = f.with("config.alias", Severity::Warn);
    if undefined.is_empty() || !f.any("config.alias", Severity::Pass) {
        return None;
    }
    let names: Vec<&str> = undefined.iter().filter_map(|x| x.node.as_deref()).collect();
    let blocks: Vec<String> = undefined
        .iter()
        .filter_map(|x| x.remedy.as_ref().and_then(|r| r.command.clone()))
        .collect();
    Some(diag(
        "diagnosis.no-config",
        format!(
            "The short names {} are not defined in ~/.ssh/config",
            names.join(", ")
        ),
        &undefined,
        "high",
        vec![Step::cmd(
            "Add these blocks to ~/.ssh/config:",
            blocks.join("\n\n"),
        )],
    ))
}

fn offline(f: &Facts) -> Option<Diagnosis> {
    let nodes = f.probed_nodes();
    let failed = f.with("net.dns", Severity::Fail);
    (!nodes.is_empty() && failed.len() >= nodes.len()).then(|| {
        diag("diagnosis.offline", "No login node name resolves: this machine looks offline, or its DNS does not work", &failed, "high", vec![
            Step::new("Check that you are online: open any web page. On a hotel or train network, finish the captive portal login first."),
            Step::new("If you use a VPN, disconnect and reconnect it; then run mlc-doctor again."),
        ])
    })
}

fn network_blocked(f: &Facts) -> Option<Diagnosis> {
    let tcp_fail = f.with("net.tcp", Severity::Fail);
    let tcp_ok = f.any("net.tcp", Severity::Pass);
    let timeouts: Vec<&Finding> = tcp_fail
        .iter()
        .copied()
        .filter(|x| x.summary.contains("timed out"))
        .collect();
    (!tcp_ok && !timeouts.is_empty() && timeouts.len() == tcp_fail.len()).then(|| {
        diag("diagnosis.network-blocked", "The login nodes' names resolve but nothing answers on their SSH port: a firewall or a missing VPN", &timeouts, "high", vec![
            Step::new("Connect to the university VPN (or use the campus network) and run mlc-doctor again."),
            Step::new("If you are on the VPN already, the network you are on may block outgoing SSH (port 22): try another network."),
        ])
    })
}

fn not_ssh(f: &Facts) -> Option<Diagnosis> {
    let found: Vec<&Finding> = f
        .with("ssh.banner", Severity::Fail)
        .into_iter()
        .filter(|x| x.summary.contains("answers on this port"))
        .collect();
    (!found.is_empty()).then(|| {
        diag(
            "diagnosis.not-ssh",
            "Something other than the login node answers (a proxy, captive portal or firewall)",
            &found,
            "medium",
            vec![Step::new(
                "Try from another network or through the university VPN.",
            )],
        )
    })
}

fn host_key_changed(f: &Facts) -> Option<Diagnosis> {
    let found = f.with("ssh.host-key", Severity::Fail);
    (!found.is_empty()).then(|| {
        let mut steps = vec![Step::new("Do not log in yet. Ask support (with the bundle attached) whether the login node's host key changed; the report shows the new fingerprint.")];
        steps.extend(f.steps(&found));
        diag("diagnosis.host-key-changed", "The login node's host key is not the one you trusted before: ssh refuses to connect", &found, "high", steps)
    })
}

fn no_key(f: &Facts) -> Option<Diagnosis> {
    // A damaged key file is a key OpenSSH refuses (key_refused_locally), not no key.
    let found: Vec<&Finding> = f
        .with("key.present", Severity::Fail)
        .into_iter()
        .filter(|x| x.evidence.get("damaged").is_none())
        .collect();
    (!found.is_empty()).then(|| {
        // In the order a person can do them: the key, then the config, then deploying it
        // (which needs the alias and a real username).
        let mut steps = vec![Step::cmd(
            "Create a key as the site recommends (choose a passphrase when asked):",
            format!("ssh-keygen -t ed25519 -a 100 -f {}", f.path("~/.ssh/id_ed25519")),
        )];
        if let Some(r) = f
            .with("config.present", Severity::Warn)
            .first()
            .and_then(|c| c.remedy.clone())
        {
            steps.push(Step {
                text: format!("Then write ~/.ssh/config: {}", r.text),
                command: r.command,
            });
        }
        steps.push(deploy_step(f));
        steps.push(Step::new("Later than that, open a ticket and attach the bundle: it contains your new public key."));
        diag("diagnosis.no-key", "You have no SSH key that ssh would use for the login nodes", &found, "high", steps)
    })
}

/// True when ssh would send a placeholder or the local login name as the username.
fn user_unusable(f: &Facts) -> bool {
    // A missing config is written from the suggested block: usable only when that block
    // carries a real username (given with --user).
    let block_without_user = f.with("config.present", Severity::Warn).iter().any(|c| {
        c.remedy
            .as_ref()
            .and_then(|r| r.command.as_deref())
            .is_none_or(|cmd| cmd.contains("<your cluster username>"))
    });
    f.any("config.user", Severity::Fail)
        || block_without_user
        || (!f.any("config.present", Severity::Warn)
            && f.with("config.user", Severity::Warn)
                .iter()
                .any(|x| x.summary.contains("no User")))
}

/// Deploying the key: `ssh-copy-id` only once the config names a real username.
fn deploy_step(f: &Facts) -> Step {
    if user_unusable(f) {
        Step::new("Once the Host blocks have your cluster username in `User` (`mlc-doctor fix --user NAME` writes it), deploy the key within 2 days of your account's creation with `ssh-copy-id -i ~/.ssh/id_ed25519.pub slurm`.")
    } else {
        Step::cmd(
            "Within 2 days of your account's creation, deploy it yourself:",
            f.shell().copy_id(&f.path("~/.ssh/id_ed25519.pub"), "slurm"),
        )
    }
}

fn key_refused_locally(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.used_key_problem("perm.private-key");
    found.extend(f.used_key_problem("key.format"));
    found.extend(f.with("config.identity-file", Severity::Fail));
    (!found.is_empty()).then(|| {
        diag(
            "diagnosis.key-refused-locally",
            "OpenSSH will not use your key, so the server never sees it",
            &found,
            "high",
            f.steps(&found),
        )
    })
}

fn wrong_user(f: &Facts) -> Option<Diagnosis> {
    let fails = f.with("config.user", Severity::Fail);
    let missing: Vec<&Finding> = f
        .with("config.user", Severity::Warn)
        .into_iter()
        .filter(|x| x.summary.contains("no User"))
        .collect();
    let refused = f.any("ssh.key-accepted", Severity::Fail);
    if !fails.is_empty() {
        return Some(diag("diagnosis.wrong-user", "The username in your config is not a cluster username: the server refuses every key for it", &fails, "high", f.steps(&fails)));
    }
    let shadowed: Vec<&Finding> = f
        .with("config.precedence", Severity::Warn)
        .into_iter()
        .filter(|x| x.summary.starts_with("User "))
        .collect();
    if !shadowed.is_empty() {
        return Some(diag("diagnosis.wrong-user", "An earlier block of your config (often `Host *`) sets another User, which wins over the one in the login node's block", &shadowed, if refused { "high" } else { "medium" }, f.steps(&shadowed)));
    }
    (!missing.is_empty() && refused).then(|| diag("diagnosis.wrong-user", "Your config has no User for the login nodes, so ssh sends your local login name, which the cluster does not know", &missing, "medium", f.steps(&missing)))
}

fn too_many_keys(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.with("key.agent", Severity::Warn);
    found.extend(f.findings.iter().filter(|x| {
        x.id == "ssh.transcript" && x.summary.contains("Too many authentication failures")
    }));
    let accepted = f.any("ssh.key-accepted", Severity::Pass);
    (!found.is_empty()).then(|| {
        diag("diagnosis.too-many-keys", "ssh offers too many keys: the server stops after 6 refused keys, before yours is tried", &found, if accepted { "high" } else { "medium" }, vec![
            Step::new("Add `IdentitiesOnly yes` (and your IdentityFile) to each login node's Host block in ~/.ssh/config."),
            Step::cmd("Or empty the agent and load only the cluster key:", format!("ssh-add -D{} ssh-add {}", if f.shell() == crate::platform::Shell::PowerShell { ";" } else { " &&" }, f.path("~/.ssh/id_ed25519"))),
        ])
    })
}

fn second_factor_blocked(f: &Facts) -> Option<Diagnosis> {
    let found = f.with("config.auth-override", Severity::Fail);
    (!found.is_empty()).then(|| diag("diagnosis.second-factor-blocked", "A setting in your config stops ssh from using your key or from asking for the TOTP code", &found, "high", f.steps(&found)))
}

fn key_not_deployed(f: &Facts) -> Option<Diagnosis> {
    let found = f.with("ssh.key-accepted", Severity::Fail);
    if found.is_empty() {
        return None;
    }
    let accepted_elsewhere = f.any("ssh.key-accepted", Severity::Pass);
    let mut steps = f.steps(&found[..1]);
    if user_unusable(f) {
        // Never `ssh-copy-id` to a placeholder or the local login name.
        for s in &mut steps {
            s.command = None;
        }
    }
    steps.push(Step::new(
        "The client cannot tell apart: (1) the public key was never deployed, (2) a wrong username, (3) wrong permissions of ~/.ssh or ~/.ssh/authorized_keys on the cluster (they must be 700 and 600), (4) a locked or expired account. Support can check the server log for each; the bundle has your public key and fingerprint.",
    ));
    let summary = if accepted_elsewhere {
        "Some login nodes do not accept your key (others do): it may not be deployed on every node yet"
    } else {
        "The login nodes answer but do not accept your key: most likely it is not deployed"
    };
    Some(diag(
        "diagnosis.key-not-deployed",
        summary,
        &found,
        "medium",
        steps,
    ))
}

fn node_down(f: &Facts) -> Option<Diagnosis> {
    let ok: Vec<&str> = f
        .with("ssh.banner", Severity::Pass)
        .iter()
        .filter_map(|x| x.node.as_deref())
        .collect();
    let mut down: Vec<&Finding> = f.with("net.tcp", Severity::Fail);
    down.extend(f.with("ssh.banner", Severity::Fail));
    down.extend(f.with("net.dns", Severity::Fail));
    (!ok.is_empty() && !down.is_empty()).then(|| {
        let names: Vec<&str> = down.iter().filter_map(|x| x.node.as_deref()).collect();
        diag(
            "diagnosis.node-down",
            format!(
                "{} cannot be reached, but {} answers",
                names.join(", "),
                ok.join(", ")
            ),
            &down,
            "medium",
            vec![Step::cmd(
                "Log in through a node that answers:",
                format!("ssh {}", ok[0]),
            )],
        )
    })
}

fn key_policy(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.used_key_problem("key.algorithm");
    found.extend(f.used_key_problem("key.passphrase"));
    (!found.is_empty()).then(|| diag("diagnosis.key-policy", "Your key does not meet the site's key policy (Ed25519 or RSA ≥ 4096, with a passphrase)", &found, "high", f.steps(&found)))
}

/// The ranked causes behind the findings; `diagnosis.healthy` when nothing failed.
pub fn diagnose(findings: &[Finding]) -> Vec<Diagnosis> {
    let facts = Facts { findings };
    let mut out: Vec<Diagnosis> = RULES.iter().filter_map(|rule| rule(&facts)).collect();
    // A missing config that the no-key steps already write is not a second cause.
    let config_in_key_steps = out.iter().any(|d| {
        d.id == "diagnosis.no-key" && d.steps.iter().any(|s| s.text.starts_with("Then write"))
    });
    if config_in_key_steps {
        out.retain(|d| d.id != "diagnosis.no-config");
    }
    if !out.is_empty() {
        return out;
    }
    if findings.iter().any(|f| f.severity == Severity::Fail) {
        let failed: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.severity == Severity::Fail)
            .collect();
        return vec![diag(
            "diagnosis.healthy",
            "No known cause matches; see the failed checks below",
            &failed,
            "low",
            facts.steps(&failed),
        )];
    }
    let accepted: Vec<&str> = findings
        .iter()
        .filter(|f| f.id == "ssh.key-accepted" && f.severity == Severity::Pass)
        .filter_map(|f| f.node.as_deref())
        .collect();
    let offline = !findings
        .iter()
        .any(|f| f.id == "net.dns" && f.severity != Severity::Skip);
    let (summary, steps) = if let Some(node) = accepted.first() {
        (
            format!(
                "Nothing is wrong that the client can see: the server accepts your key on {}",
                accepted.join(", ")
            ),
            vec![Step::cmd(
                "Log in (ssh asks for your key's passphrase, then the TOTP code):",
                format!("ssh {node}"),
            )],
        )
    } else if offline {
        (
            "The local checks find nothing wrong (the network was not probed)".to_string(),
            vec![Step::cmd("Probe the login nodes too:", "mlc-doctor")],
        )
    } else {
        (
            "Nothing is wrong that the client can see".to_string(),
            vec![Step::new(
                "If `ssh slurm` still fails, open a ticket and attach the bundle.",
            )],
        )
    };
    vec![Diagnosis {
        id: "diagnosis.healthy".into(),
        summary,
        because: vec![],
        confidence: if accepted.is_empty() {
            "medium".into()
        } else {
            "high".into()
        },
        steps,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(findings: &[Finding]) -> Vec<String> {
        diagnose(findings).into_iter().map(|d| d.id).collect()
    }

    fn node(f: Finding, n: &str) -> Finding {
        f.node(n)
    }

    #[test]
    fn each_rule_fires_on_its_findings() {
        let cases: Vec<(Vec<Finding>, &str)> = vec![
            (vec![Finding::fail("config.syntax", "~/.ssh/config:3", "bad")], "diagnosis.config-broken"),
            (vec![Finding::fail("perm.config", "~/.ssh/config", "open")], "diagnosis.config-broken"),
            (vec![Finding::warn("config.present", "~/.ssh/config", "none")], "diagnosis.no-config"),
            (vec![node(Finding::fail("net.dns", "slurm", "no"), "slurm"), node(Finding::fail("net.dns", "slurm2", "no"), "slurm2")], "diagnosis.offline"),
            (vec![node(Finding::pass("net.dns", "slurm", "ok"), "slurm"), node(Finding::fail("net.tcp", "slurm", "port 22 timed out on every address"), "slurm")], "diagnosis.network-blocked"),
            (vec![node(Finding::fail("ssh.banner", "slurm", "an HTTP server answers on this port"), "slurm")], "diagnosis.not-ssh"),
            (vec![node(Finding::fail("ssh.host-key", "slurm", "changed"), "slurm")], "diagnosis.host-key-changed"),
            (vec![Finding::fail("key.present", "~/.ssh", "none")], "diagnosis.no-key"),
            (vec![Finding::fail("perm.private-key", "~/.ssh/id", "0644").with("used_by", ["slurm"])], "diagnosis.key-refused-locally"),
            (vec![Finding::fail("config.user", "Host slurm", "placeholder")], "diagnosis.wrong-user"),
            (vec![Finding::warn("config.precedence", "Host slurm", "User jane at ~/.ssh/config:2 (in `Host *`) wins over User pbb111 at ~/.ssh/config:6")], "diagnosis.wrong-user"),
            (vec![Finding::warn("key.agent", "ssh-agent", "7 keys")], "diagnosis.too-many-keys"),
            (vec![Finding::fail("config.auth-override", "Host slurm", "BatchMode yes")], "diagnosis.second-factor-blocked"),
            (vec![node(Finding::fail("ssh.key-accepted", "slurm", "none"), "slurm")], "diagnosis.key-not-deployed"),
            (vec![node(Finding::pass("ssh.banner", "slurm", "SSH-2.0"), "slurm"), node(Finding::fail("net.tcp", "slurm2", "refused"), "slurm2")], "diagnosis.node-down"),
            (vec![Finding::fail("key.passphrase", "~/.ssh/id", "none").with("used_by", ["slurm"])], "diagnosis.key-policy"),
            (vec![node(Finding::pass("ssh.key-accepted", "slurm", "ok"), "slurm")], "diagnosis.healthy"),
        ];
        for (findings, expected) in cases {
            assert_eq!(
                ids(&findings).first().map(String::as_str),
                Some(expected),
                "{findings:?}"
            );
        }
    }

    #[test]
    fn a_missing_user_and_a_refusal_point_to_the_username_and_deployment() {
        let f = vec![
            Finding::warn("config.user", "Host slurm", "no User for `slurm`"),
            node(Finding::fail("ssh.key-accepted", "slurm", "none"), "slurm"),
        ];
        assert_eq!(
            ids(&f),
            ["diagnosis.wrong-user", "diagnosis.key-not-deployed"]
        );
        let d = diagnose(&f);
        assert!(d[1]
            .steps
            .iter()
            .any(|s| s.text.contains("cannot tell apart")));
    }

    #[test]
    fn missing_aliases_rank_last_when_the_main_one_is_defined() {
        let f = vec![
            node(
                Finding::pass("config.alias", "Host slurm", "defined"),
                "slurm",
            ),
            node(
                Finding::warn("config.alias", "Host slurm2", "not defined").remedy(
                    crate::finding::Remedy::command("Add", "Host slurm2\n  HostName x"),
                ),
                "slurm2",
            ),
            Finding::fail("perm.private-key", "~/.ssh/id", "0644").with("used_by", ["slurm"]),
        ];
        let d = diagnose(&f);
        assert_eq!(
            d.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["diagnosis.key-refused-locally", "diagnosis.no-config"]
        );
        assert!(d[1].summary.contains("slurm2"));
    }

    #[test]
    fn keys_the_cluster_never_sees_do_not_drive_the_diagnosis() {
        let f = vec![Finding::fail("key.passphrase", "~/.ssh/github", "none")
            .with("used_by", Vec::<String>::new())];
        assert_eq!(ids(&f), ["diagnosis.healthy"]);
    }

    #[test]
    fn healthy_offline_suggests_probing_the_nodes() {
        let d = diagnose(&[Finding::pass("key.present", "~/.ssh", "ok")]);
        assert_eq!(d[0].id, "diagnosis.healthy");
        assert_eq!(d[0].steps[0].command.as_deref(), Some("mlc-doctor"));
    }

    #[test]
    fn every_diagnosis_id_is_registered() {
        for id in [
            "diagnosis.healthy",
            "diagnosis.key-not-deployed",
            "diagnosis.node-down",
        ] {
            assert!(crate::catalogue::lookup(id).is_some());
        }
    }
}
