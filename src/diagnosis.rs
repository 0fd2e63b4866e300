//! Rules over all findings that name the most likely causes, ranked, each with the steps
//! that fix it. One table of rules; each rule reads findings only.

use serde::{Deserialize, Serialize};

use crate::check::CheckId;
use crate::fact::{BannerKind, BlockPlace, Fact, UserValue};
use crate::finding::{Finding, Severity};
use crate::platform::Shell;
use crate::profile::Profile;
use crate::report::TcpOutcome;
use crate::transcript::Outcome;

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
    /// A step with a command, unless the command cannot be offered (see
    /// [`crate::finding::Remedy::command`]): then the words say why.
    fn cmd(text: impl Into<String>, command: impl Into<String>) -> Step {
        let r = crate::finding::Remedy::command(text, command);
        Step {
            text: r.text,
            command: r.command,
        }
    }
}

/// A likely cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub id: CheckId,
    pub summary: String,
    /// The finding ids it rests on.
    pub because: Vec<CheckId>,
    pub confidence: Confidence,
    pub steps: Vec<Step>,
}

/// How sure a diagnosis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    High,
    Medium,
    Low,
}

impl Confidence {
    /// The word of the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
            Confidence::Low => "low",
        }
    }
}

/// The findings, with the questions rules ask of them: ids, severities and the typed
/// facts the checks recorded, never their wording.
struct Facts<'a> {
    findings: &'a [Finding],
    shell: Shell,
    /// The home to name in full in commands (it is not the shell's `~`: `--home`).
    home: Option<&'a std::path::Path>,
    /// The site's words for advice (its VPN, key file, deployment window, alias).
    profile: &'a Profile,
}

impl<'a> Facts<'a> {
    fn with(&self, id: CheckId, sev: Severity) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| f.id == id && f.severity == sev)
            .collect()
    }
    /// The shell of the machine the report is about, for the commands of steps.
    fn shell(&self) -> Shell {
        self.shell
    }
    /// `~/.ssh/...` written for that shell.
    fn path(&self, shown: &str) -> String {
        self.shell().path_word(self.home, shown)
    }
    /// Where a new key goes: the site's recommended name, unless a file has it already.
    fn new_key(&self) -> String {
        let free = self.findings.iter().find_map(|x| match &x.fact {
            Some(Fact::NoKey {
                new_name: Some(name),
            }) => Some(format!("~/.ssh/{name}")),
            _ => None,
        });
        free.unwrap_or_else(|| self.profile.advice.key_path())
    }
    /// The blocks to write when there is no config (`config.present`'s remedy).
    fn config_to_write(&self) -> Option<crate::finding::Remedy> {
        self.with(CheckId::ConfigPresent, Severity::Warn)
            .first()
            .and_then(|c| c.remedy.clone())
    }
    /// `config.user` warnings for a node whose config sets no User.
    fn missing_user(&self) -> Vec<&'a Finding> {
        self.with(CheckId::ConfigUser, Severity::Warn)
            .into_iter()
            .filter(|x| x.fact == Some(Fact::User(UserValue::Missing)))
            .collect()
    }
    fn any(&self, id: CheckId, sev: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.id == id && f.severity == sev)
    }
    fn probed_nodes(&self) -> Vec<&'a str> {
        let mut nodes: Vec<&str> = self
            .findings
            .iter()
            .filter(|f| f.id == CheckId::NetDns && f.severity != Severity::Skip)
            .filter_map(|f| f.node.as_deref())
            .collect();
        nodes.dedup();
        nodes
    }
    /// Steps from the remedies of the given findings, without repeats.
    fn steps(&self, found: &[&Finding]) -> Vec<Step> {
        let mut out: Vec<Step> = Vec::new();
        let mut more: Vec<Step> = Vec::new();
        for f in found {
            if let Some(r) = &f.remedy {
                let step = Step {
                    text: format!("{}: {}", f.subject, r.text),
                    command: r.command.clone(),
                };
                if out.iter().chain(&more).any(|s| {
                    s.command.is_some() && s.command == step.command || s.text == step.text
                }) {
                    continue;
                }
                // A cause shown for hundreds of files: the first steps and a count.
                if out.len() == MAX_STEPS {
                    more.push(step);
                } else {
                    out.push(step);
                }
            }
        }
        if !more.is_empty() {
            out.push(Step::new(format!(
                "… and the same for {} more (each is listed under the checks below).",
                more.len()
            )));
        }
        out
    }
    fn used_key_problem(&self, id: CheckId) -> Vec<&'a Finding> {
        self.findings
            .iter()
            .filter(|f| {
                f.id == id
                    && f.severity == Severity::Fail
                    && !matches!(&f.fact, Some(Fact::KeyUse(used_by)) if used_by.is_empty())
            })
            .collect()
    }
}

/// The most steps one cause lists from its findings' remedies; the rest are counted.
const MAX_STEPS: usize = 8;

/// The phrase with its first letter in upper case, to start a sentence.
fn capitalised(phrase: &str) -> String {
    let mut chars = phrase.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn diag(
    id: CheckId,
    summary: impl Into<String>,
    because: &[&Finding],
    confidence: Confidence,
    steps: Vec<Step>,
) -> Diagnosis {
    let mut ids: Vec<CheckId> = because.iter().map(|f| f.id).collect();
    ids.dedup();
    Diagnosis {
        id,
        summary: summary.into(),
        because: ids,
        confidence,
        steps,
    }
}

type Rule = fn(&Facts) -> Option<Diagnosis>;

/// The rules, most fundamental cause first: the order is the ranking.
const RULES: &[Rule] = &[
    bundle_refused,
    no_client,
    config_broken,
    key_under_pub_name,
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
    no_node_answers,
    key_policy,
    some_aliases_missing,
    cut_short,
];

fn bundle_refused(f: &Facts) -> Option<Diagnosis> {
    let found = f.with(CheckId::BundleWritten, Severity::Fail);
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisBundleRefused,
            "No support bundle was written (the checks below still ran)",
            &found,
            Confidence::High,
            f.steps(&found),
        )
    })
}

fn no_client(f: &Facts) -> Option<Diagnosis> {
    let found = f.with(CheckId::EnvOpenssh, Severity::Fail);
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisNoClient,
            "This machine has no usable OpenSSH client: `ssh` cannot log in from here",
            &found,
            Confidence::High,
            f.steps(&found),
        )
    })
}

fn config_broken(f: &Facts) -> Option<Diagnosis> {
    let mut found: Vec<&Finding> = f.with(CheckId::ConfigSyntax, Severity::Fail);
    found.extend(f.with(CheckId::PermConfig, Severity::Fail));
    found.extend(f.with(CheckId::ConfigInclude, Severity::Fail));
    found.extend(
        f.findings
            .iter()
            .filter(|x| x.id == CheckId::ConfigPresent && x.severity == Severity::Fail),
    );
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisConfigBroken,
            "OpenSSH refuses to read your ~/.ssh/config, so `ssh` fails for every host",
            &found,
            Confidence::High,
            f.steps(&found),
        )
    })
}

fn no_config(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.with(CheckId::ConfigPresent, Severity::Warn);
    found.extend(f.with(CheckId::ConfigHostname, Severity::Fail));
    let undefined = f.with(CheckId::ConfigAlias, Severity::Warn);
    let defined = f.any(CheckId::ConfigAlias, Severity::Pass);
    if !defined {
        found.extend(undefined);
    }
    if found.is_empty() {
        return None;
    }
    let missing = f.any(CheckId::ConfigPresent, Severity::Warn);
    let summary = if missing {
        &format!(
            "There is no ~/.ssh/config, so `ssh {alias}` does not know what `{alias}` is",
            alias = f.profile.example_alias()
        )
    } else {
        "Your ~/.ssh/config does not define the login nodes' short names correctly"
    };
    Some(diag(
        CheckId::DiagnosisNoConfig,
        summary,
        &found,
        Confidence::High,
        f.steps(&found),
    ))
}

/// Some aliases are defined and others are not: worth fixing, but not what blocks the login.
fn some_aliases_missing(f: &Facts) -> Option<Diagnosis> {
    let undefined = f.with(CheckId::ConfigAlias, Severity::Warn);
    if undefined.is_empty() || !f.any(CheckId::ConfigAlias, Severity::Pass) {
        return None;
    }
    let names: Vec<&str> = undefined.iter().filter_map(|x| x.node.as_deref()).collect();
    let blocks: Vec<String> = undefined
        .iter()
        .filter_map(|x| x.remedy.as_ref().and_then(|r| r.command.clone()))
        .collect();
    // The new blocks go above the first line that would otherwise win for any of them.
    let place = undefined
        .iter()
        .filter_map(|x| match &x.fact {
            Some(Fact::Undefined { place }) => place.clone(),
            _ => None,
        })
        .min_by_key(|p| match p {
            BlockPlace::Top(line) | BlockPlace::Above(line, _) => *line,
        });
    Some(diag(
        CheckId::DiagnosisNoConfig,
        format!(
            "The short names {} are not defined in ~/.ssh/config",
            names.join(", ")
        ),
        &undefined,
        Confidence::High,
        vec![Step::cmd(
            where_blocks_go(blocks.len(), place.as_ref()),
            blocks.join("\n\n"),
        )],
    ))
}

fn offline(f: &Facts) -> Option<Diagnosis> {
    let nodes = f.probed_nodes();
    let failed = f.with(CheckId::NetDns, Severity::Fail);
    (!nodes.is_empty() && failed.len() >= nodes.len()).then(|| {
        diag(CheckId::DiagnosisOffline, "No login node name resolves: this machine looks offline, or its DNS does not work", &failed, Confidence::High, vec![
            Step::new("Check that you are online: open any web page. On a hotel or train network, finish the captive portal login first."),
            Step::new("If you use a VPN, disconnect and reconnect it; then run mlc-doctor again."),
        ])
    })
}

fn network_blocked(f: &Facts) -> Option<Diagnosis> {
    let tcp_fail = f.with(CheckId::NetTcp, Severity::Fail);
    let tcp_ok = f.any(CheckId::NetTcp, Severity::Pass);
    let timeouts: Vec<&Finding> = tcp_fail
        .iter()
        .copied()
        .filter(|x| {
            matches!(&x.fact, Some(Fact::Tcp(outcomes))
                if !outcomes.is_empty() && outcomes.iter().all(|o| *o == TcpOutcome::Timeout))
        })
        .collect();
    (!tcp_ok && !timeouts.is_empty() && timeouts.len() == tcp_fail.len()).then(|| {
        diag(CheckId::DiagnosisNetworkBlocked, "The login nodes' names resolve but nothing answers on their SSH port: a firewall or a missing VPN", &timeouts, Confidence::High, vec![
            Step::new(format!("Connect to {} (or use {}) and run mlc-doctor again.", f.profile.advice.vpn, f.profile.advice.campus_network)),
            Step::new("If you are on the VPN already, the network you are on may block outgoing SSH (port 22): try another network."),
        ])
    })
}

fn not_ssh(f: &Facts) -> Option<Diagnosis> {
    let found: Vec<&Finding> = f
        .with(CheckId::SshBanner, Severity::Fail)
        .into_iter()
        .filter(|x| x.fact == Some(Fact::Banner(BannerKind::NotSsh)))
        .collect();
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisNotSsh,
            "Something other than the login node answers (a proxy, captive portal or firewall)",
            &found,
            Confidence::Medium,
            vec![Step::new(format!(
                "Try from another network or through {}.",
                f.profile.advice.vpn
            ))],
        )
    })
}

fn host_key_changed(f: &Facts) -> Option<Diagnosis> {
    let found = f.with(CheckId::SshHostKey, Severity::Fail);
    (!found.is_empty()).then(|| {
        let mut steps = vec![Step::new("Do not log in yet. Ask support (with the bundle attached) whether the login node's host key changed; the report shows the new fingerprint.")];
        steps.extend(f.steps(&found));
        diag(CheckId::DiagnosisHostKeyChanged, "The login node's host key is not the one you trusted before: ssh refuses to connect", &found, Confidence::High, steps)
    })
}

/// The private key saved under its `.pub` name where ssh looks for it by the name without:
/// renaming it back is the fix, whatever else follows from the key being missing (a new
/// key of that name would overwrite it; pointing IdentityFile at another key is not it).
fn key_under_pub_name(f: &Facts) -> Option<Diagnosis> {
    let under_pub: Vec<&Finding> = f
        .findings
        .iter()
        .filter(|x| x.fact == Some(Fact::KeyUnderPubName))
        .collect();
    (!under_pub.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisNoKey,
            "Your private key is saved under its .pub name, where ssh does not look for it",
            &under_pub,
            Confidence::High,
            f.steps(&under_pub),
        )
    })
}

fn no_key(f: &Facts) -> Option<Diagnosis> {
    // A damaged key file is a key OpenSSH refuses (key_refused_locally), not no key.
    let found: Vec<&Finding> = f
        .with(CheckId::KeyPresent, Severity::Fail)
        .into_iter()
        .filter(|x| x.fact != Some(Fact::KeyDamaged))
        .collect();
    if found.is_empty() {
        return None;
    }
    // The key is there, under its .pub name: `key_under_pub_name`'s.
    if f.findings
        .iter()
        .any(|x| x.fact == Some(Fact::KeyUnderPubName))
    {
        return None;
    }
    if let Some(d) = key_not_pointed_at(f, &found) {
        return Some(d);
    }
    Some({
        // In the order a person can do them: the key, then the config, then deploying it
        // (which needs the alias and a real username).
        let mut steps = vec![Step::cmd(
            "Create a key as the site recommends (choose a passphrase when asked):",
            f.shell()
                .in_ssh_dir(f.home, f.profile.keygen(&f.path(&f.new_key()))),
        )];
        if let Some(r) = f.config_to_write() {
            steps.push(Step {
                text: format!("Then write ~/.ssh/config: {}", r.text),
                command: r.command,
            });
        }
        steps.push(deploy_step(f));
        steps.push(Step::new("Later than that, open a ticket and attach the bundle: it contains your new public key."));
        diag(
            CheckId::DiagnosisNoKey,
            "You have no SSH key that ssh would use for the login nodes",
            &found,
            Confidence::High,
            steps,
        )
    })
}

/// No key for the nodes because an IdentityFile names a missing file, while a sound key
/// sits unused in ~/.ssh: the fix is the path, not a new key.
fn key_not_pointed_at(f: &Facts, found: &[&Finding]) -> Option<Diagnosis> {
    let unused: Vec<&Finding> = f
        .findings
        .iter()
        .filter(|x| {
            x.id == CheckId::KeyFormat
                && x.severity == Severity::Pass
                && matches!(&x.fact, Some(Fact::KeyUse(nodes)) if nodes.is_empty())
        })
        .collect();
    let missing: Vec<&Finding> = f
        .with(CheckId::ConfigIdentityFile, Severity::Fail)
        .into_iter()
        .filter(|x| matches!(x.fact, Some(Fact::IdentityMissing { .. })))
        .collect();
    let key = unused.first()?.subject.as_str();
    let mut lines: Vec<&str> = missing
        .iter()
        .filter_map(|x| match &x.fact {
            Some(Fact::IdentityMissing { at }) => Some(at.as_str()),
            _ => None,
        })
        .collect();
    lines.sort_unstable();
    lines.dedup();
    if lines.is_empty() {
        return None;
    }
    let mut because: Vec<&Finding> = found.to_vec();
    because.extend(missing.iter().copied());
    because.extend(unused.iter().copied());
    Some(diag(
        CheckId::DiagnosisNoKey,
        format!("No key reaches the login nodes: the config's IdentityFile names a file that does not exist, and your key {key} is not used"),
        &because,
        Confidence::High,
        vec![
            Step::new(format!(
                "Change the IdentityFile at {} to `IdentityFile {key}`.",
                lines.join(" and ")
            )),
            Step::new(format!(
                "If the server does not know that key yet, deploy it: `{}` ({}), or attach the bundle to a ticket.",
                f.shell().copy_id(&f.path(&format!("{key}.pub")), f.profile.example_alias()),
                f.profile.advice.deploy_window()
            )),
        ],
    ))
}

/// True when ssh would send a placeholder or the local login name as the username.
/// For the node `node` (every node when `None`).
fn user_unusable(f: &Facts, node: Option<&str>) -> bool {
    let of_node = |x: &&Finding| node.is_none_or(|n| x.node.as_deref() == Some(n));
    // A missing config is written from the suggested block: usable only when that block
    // carries a real username (given with --user).
    let block_without_user = f
        .with(CheckId::ConfigPresent, Severity::Warn)
        .iter()
        .any(|c| c.fact != Some(Fact::NoConfig { user_known: true }));
    f.with(CheckId::ConfigUser, Severity::Fail)
        .iter()
        .any(of_node)
        || block_without_user
        || (!f.any(CheckId::ConfigPresent, Severity::Warn) && f.missing_user().iter().any(of_node))
}

/// Deploying the key: `ssh-copy-id` only once the config names a real username.
fn deploy_step(f: &Facts) -> Step {
    if user_unusable(f, Some(f.profile.example_alias())) {
        Step::new(format!("Once the Host blocks have your cluster username in `User` (`mlc-doctor fix --user NAME` writes it), deploy the key {} with `{}`.", f.profile.advice.deploy_window(), f.shell().copy_id(&f.path(&format!("{}.pub", f.new_key())), f.profile.example_alias())))
    } else {
        Step::cmd(
            format!(
                "{}, deploy it yourself:",
                capitalised(&f.profile.advice.deploy_window())
            ),
            f.shell().copy_id(
                &f.path(&format!("{}.pub", f.new_key())),
                f.profile.example_alias(),
            ),
        )
    }
}

fn key_refused_locally(f: &Facts) -> Option<Diagnosis> {
    // Where every node accepted a key, a problem of another key (a default key with
    // loose modes that ssh skips before it offers the accepted one) is not why a login
    // fails; a problem of an accepted key is (the server's yes does not make ssh load
    // it), unless the agent holds that key (ssh signs there and never reads the file).
    let passes = f.with(CheckId::SshKeyAccepted, Severity::Pass);
    let everywhere = !passes.is_empty() && !f.any(CheckId::SshKeyAccepted, Severity::Fail);
    let accepted: Vec<&str> = passes
        .iter()
        .filter_map(|x| x.evidence.get("accepted")?.as_array())
        .flatten()
        .filter(|k| k["in_agent"] != true)
        .filter_map(|k| k["key"].as_str())
        .collect();
    let matters = |x: &&Finding| !everywhere || accepted.contains(&x.subject.as_str());
    let mut found = f.used_key_problem(CheckId::PermPrivateKey);
    found.extend(f.used_key_problem(CheckId::KeyFormat));
    // A key under its .pub name is `no_key`'s (no key ssh would offer).
    found.retain(|x| x.fact != Some(Fact::KeyUnderPubName));
    found.retain(matters);
    found.extend(f.with(CheckId::ConfigIdentityFile, Severity::Fail));
    // A missing IdentityFile beside one that exists is a warning; it is the cause where
    // the server refused the keys ssh did offer (a typo in the login node's block while
    // `Host *` names another key).
    let refused: Vec<&str> = f
        .with(CheckId::SshKeyAccepted, Severity::Fail)
        .iter()
        .filter_map(|x| x.node.as_deref())
        .collect();
    found.extend(
        f.with(CheckId::ConfigIdentityFile, Severity::Warn)
            .into_iter()
            .filter(|x| matches!(x.fact, Some(Fact::IdentityMissing { .. })))
            .filter(|x| x.node.as_deref().is_some_and(|n| refused.contains(&n))),
    );
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisKeyRefusedLocally,
            "OpenSSH will not use your key, so the server never sees it",
            &found,
            Confidence::High,
            f.steps(&found),
        )
    })
}

fn wrong_user(f: &Facts) -> Option<Diagnosis> {
    let fails = f.with(CheckId::ConfigUser, Severity::Fail);
    let refused_nodes: Vec<&str> = f
        .with(CheckId::SshKeyAccepted, Severity::Fail)
        .iter()
        .filter_map(|x| x.node.as_deref())
        .collect();
    let refused = !refused_nodes.is_empty();
    // No User matters where the server refused the keys (the local name was sent there).
    let missing: Vec<&Finding> = f
        .missing_user()
        .into_iter()
        .filter(|x| {
            x.node
                .as_deref()
                .is_some_and(|n| refused_nodes.contains(&n))
        })
        .collect();
    if !fails.is_empty() {
        return Some(diag(CheckId::DiagnosisWrongUser, "The username in your config is not a cluster username: the server refuses every key for it", &fails, Confidence::High, f.steps(&fails)));
    }
    let shadowed: Vec<&Finding> = f
        .with(CheckId::ConfigPrecedence, Severity::Warn)
        .into_iter()
        .filter(|x| matches!(&x.fact, Some(Fact::Shadowed(keyword)) if keyword == "user"))
        .collect();
    if !shadowed.is_empty() {
        return Some(diag(CheckId::DiagnosisWrongUser, "An earlier block of your config (often `Host *`) sets another User, which wins over the one in the login node's block", &shadowed, if refused { Confidence::High } else { Confidence::Medium }, f.steps(&shadowed)));
    }
    (!missing.is_empty()).then(|| diag(CheckId::DiagnosisWrongUser, "Your config has no User for the login nodes, so ssh sends your local login name, which the cluster does not know", &missing, Confidence::Medium, f.steps(&missing)))
}

fn too_many_keys(f: &Facts) -> Option<Diagnosis> {
    // key.agent warns only where IdentitiesOnly is not set: the agent's keys are the cause.
    let agent = f.with(CheckId::KeyAgent, Severity::Warn);
    let mut found = agent.clone();
    found.extend(f.findings.iter().filter(|x| {
        x.id == CheckId::SshTranscript
            && x.fact == Some(Fact::Transcript(Outcome::TooManyAuthFailures))
    }));
    let accepted = f.any(CheckId::SshKeyAccepted, Severity::Pass);
    let steps = if agent.is_empty() {
        // Refused too often without the agent's fault: the config's own IdentityFile lines
        // (they add up, `Host *` ones too) are offered one after the other.
        vec![Step::new(format!(
            "Leave one IdentityFile for the login nodes, your cluster key's ({}): ssh offers every IdentityFile line that applies to them, those in `Host *` and in Included files too (the transcript's `Offering public key` lines list them).",
            f.path(&f.profile.advice.key_path())
        ))]
    } else {
        vec![
            Step::new("Add `IdentitiesOnly yes` (and your IdentityFile) to each login node's Host block in ~/.ssh/config."),
            Step::cmd("Or empty the agent and load only the cluster key:", format!("ssh-add -D{} ssh-add {}", if f.shell() == Shell::PowerShell { ";" } else { " &&" }, f.path(&f.profile.advice.key_path()))),
        ]
    };
    (!found.is_empty()).then(|| {
        diag(CheckId::DiagnosisTooManyKeys, format!("ssh offers too many keys: the server stops after {} refused keys, before yours is tried", f.profile.policy.max_auth_tries()), &found, if accepted { Confidence::High } else { Confidence::Medium }, steps)
    })
}

fn second_factor_blocked(f: &Facts) -> Option<Diagnosis> {
    let found = f.with(CheckId::ConfigAuthOverride, Severity::Fail);
    (!found.is_empty()).then(|| diag(CheckId::DiagnosisSecondFactorBlocked, "A setting in your config stops ssh from using your key or from asking for the TOTP code", &found, Confidence::High, f.steps(&found)))
}

fn key_not_deployed(f: &Facts) -> Option<Diagnosis> {
    let found = f.with(CheckId::SshKeyAccepted, Severity::Fail);
    if found.is_empty() {
        return None;
    }
    let accepted_elsewhere = f.any(CheckId::SshKeyAccepted, Severity::Pass);
    let mut steps = f.steps(&found[..1]);
    if user_unusable(f, found[0].node.as_deref()) {
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
        CheckId::DiagnosisKeyNotDeployed,
        summary,
        &found,
        Confidence::Medium,
        steps,
    ))
}

fn node_down(f: &Facts) -> Option<Diagnosis> {
    let ok: Vec<&str> = f
        .with(CheckId::SshBanner, Severity::Pass)
        .iter()
        .filter_map(|x| x.node.as_deref())
        .collect();
    let mut down: Vec<&Finding> = f.with(CheckId::NetTcp, Severity::Fail);
    down.extend(f.with(CheckId::SshBanner, Severity::Fail));
    down.extend(f.with(CheckId::NetDns, Severity::Fail));
    (!ok.is_empty() && !down.is_empty()).then(|| {
        let names: Vec<&str> = down.iter().filter_map(|x| x.node.as_deref()).collect();
        diag(
            CheckId::DiagnosisNodeDown,
            format!(
                "{} cannot be reached, but {} answers",
                names.join(", "),
                ok.join(", ")
            ),
            &down,
            Confidence::Medium,
            vec![Step::cmd(
                "Log in through a node that answers:",
                format!("ssh {}", ok[0]),
            )],
        )
    })
}

/// Every probed node fails on TCP, and not only by timeouts (`network_blocked` has those).
fn no_node_answers(f: &Facts) -> Option<Diagnosis> {
    let nodes = f.probed_nodes();
    let failed = f.with(CheckId::NetTcp, Severity::Fail);
    if nodes.is_empty() || f.any(CheckId::NetTcp, Severity::Pass) || failed.len() < nodes.len() {
        return None;
    }
    let outcomes = |x: &Finding| match &x.fact {
        Some(Fact::Tcp(o)) => o.clone(),
        _ => Vec::new(),
    };
    let all = |want: TcpOutcome| {
        failed.iter().all(|x| {
            let o = outcomes(x);
            !o.is_empty() && o.iter().all(|t| *t == want)
        })
    };
    if all(TcpOutcome::Timeout) {
        return None;
    }
    let summary = if all(TcpOutcome::Refused) {
        "Every login node refuses connections on its SSH port: a firewall that rejects SSH from this network, maintenance, or the wrong port"
    } else {
        "No login node can be reached on its SSH port"
    };
    // The nodes' own remedies (a wrong Port line, …), each once, then the way out.
    let mut steps: Vec<Step> = Vec::new();
    for r in failed.iter().filter_map(|x| x.remedy.as_ref()) {
        if !steps.iter().any(|s| s.text == r.text) {
            steps.push(Step::new(r.text.clone()));
        }
    }
    steps.push(Step::new(format!(
        "Connect to {} (or use {}) and run mlc-doctor again: off it, the site's firewall may reject SSH.",
        f.profile.advice.vpn, f.profile.advice.campus_network
    )));
    steps.push(Step::new(
        "If the site announced maintenance, wait for its end; otherwise open a ticket and attach the bundle.",
    ));
    Some(diag(
        CheckId::DiagnosisNoNodeAnswers,
        summary,
        &failed,
        Confidence::Medium,
        steps,
    ))
}

fn key_policy(f: &Facts) -> Option<Diagnosis> {
    let mut found = f.used_key_problem(CheckId::KeyAlgorithm);
    found.extend(f.used_key_problem(CheckId::KeyPassphrase));
    (!found.is_empty()).then(|| {
        diag(
            CheckId::DiagnosisKeyPolicy,
            format!(
                "Your key does not meet the site's key policy ({})",
                f.profile.policy_words()
            ),
            &found,
            Confidence::High,
            f.steps(&found),
        )
    })
}

/// The run's deadline stopped some node's checks: what was not checked is not healthy.
fn cut_short(f: &Facts) -> Option<Diagnosis> {
    let cut: Vec<&Finding> = f
        .findings
        .iter()
        .filter(|x| matches!(x.fact, Some(Fact::CutShort { .. })))
        .collect();
    let deadline = cut
        .iter()
        .filter_map(|x| match x.fact {
            Some(Fact::CutShort { deadline_s }) => Some(deadline_s),
            _ => None,
        })
        .max()?;
    let mut nodes: Vec<&str> = cut.iter().filter_map(|x| x.node.as_deref()).collect();
    nodes.dedup();
    Some(diag(
        CheckId::DiagnosisCutShort,
        format!(
            "The run's deadline of {deadline} s ended before the checks of {} finished: what they did not reach was not checked",
            nodes.join(", ")
        ),
        &cut,
        Confidence::High,
        vec![Step::cmd(
            "Run the doctor again with more time (a slow network or node needs it):",
            format!("mlc-doctor --deadline {}", (deadline * 4).max(120)),
        )],
    ))
}

/// What ssh will ask for when the user logs in to `node`, as far as the run saw it: the
/// TOTP code only where the server asked for one after the key (or might, unseen).
fn log_in_words(findings: &[Finding], node: &str, profile: &Profile) -> &'static str {
    use crate::report::SecondFactor;
    let seen = findings
        .iter()
        .filter(|f| f.id == CheckId::SshSecondFactor && f.node.as_deref() == Some(node))
        .find_map(|f| match &f.fact {
            Some(crate::fact::Fact::SecondFactor(s)) => Some(*s),
            _ => None,
        });
    match (seen, profile.policy.second_factor().is_some()) {
        (Some(SecondFactor::KeyboardInteractive), _) => {
            "Log in (ssh asks for your key's passphrase unless ssh-agent holds the key, then the TOTP code):"
        }
        (Some(SecondFactor::None), _) | (None, false) => {
            "Log in (ssh asks for your key's passphrase unless ssh-agent holds the key):"
        }
        _ => "Log in (ssh asks for your key's passphrase unless ssh-agent holds the key, then the TOTP code if your account has one):",
    }
}

/// The ranked causes behind the findings; `diagnosis.healthy` when nothing failed.
pub fn diagnose(findings: &[Finding], shell: Shell, profile: &Profile) -> Vec<Diagnosis> {
    diagnose_home(findings, shell, None, profile)
}

/// [`diagnose`], with commands that name `home` in full (it is not the shell's `~`).
pub fn diagnose_home(
    findings: &[Finding],
    shell: Shell,
    home: Option<&std::path::Path>,
    profile: &Profile,
) -> Vec<Diagnosis> {
    let facts = Facts {
        findings,
        shell,
        home,
        profile,
    };
    let mut out: Vec<Diagnosis> = RULES.iter().filter_map(|rule| rule(&facts)).collect();
    // A missing config that the no-key steps already write is not a second cause.
    let config_in_key_steps =
        facts.config_to_write().is_some() && out.iter().any(|d| d.id == CheckId::DiagnosisNoKey);
    if config_in_key_steps {
        out.retain(|d| d.id != CheckId::DiagnosisNoConfig);
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
            CheckId::DiagnosisHealthy,
            "No known cause matches; see the failed checks below",
            &failed,
            Confidence::Low,
            facts.steps(&failed),
        )];
    }
    // Nothing blocks the login, but what warned is still worth the user's time: said in
    // the headline, and its fixes follow the login step.
    let warned: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Warn)
        .collect();
    let nothing = if warned.is_empty() {
        "Nothing is wrong that the client can see"
    } else {
        "Nothing that the client can see blocks the login"
    };
    let accepted: Vec<&str> = findings
        .iter()
        .filter(|f| f.id == CheckId::SshKeyAccepted && f.severity == Severity::Pass)
        .filter_map(|f| f.node.as_deref())
        .collect();
    let offline = !findings
        .iter()
        .any(|f| f.id == CheckId::NetDns && f.severity != Severity::Skip);
    let (summary, steps) = if let Some(node) = accepted.first() {
        (
            format!(
                "{nothing}: the server accepts your key on {}",
                accepted.join(", ")
            ),
            vec![Step::cmd(
                log_in_words(findings, node, profile),
                format!("ssh {node}"),
            )],
        )
    } else if offline {
        (
            if warned.is_empty() {
                "The local checks find nothing wrong (the network was not probed)".to_string()
            } else {
                "The local checks find nothing that blocks the login (the network was not probed)"
                    .to_string()
            },
            vec![Step::cmd("Probe the login nodes too:", "mlc-doctor")],
        )
    } else {
        (
            nothing.to_string(),
            vec![Step::new(format!(
                "If `ssh {}` still fails, open a ticket and attach the bundle.",
                profile.example_alias()
            ))],
        )
    };
    let (summary, steps) = match warned.len() {
        0 => (summary, steps),
        n => {
            let mut steps = steps;
            steps.extend(facts.steps(&warned));
            // No "below": with -q the report is the diagnosis alone.
            let tail = if n == 1 {
                "1 warning is worth fixing too".to_string()
            } else {
                format!("{n} warnings are worth fixing too")
            };
            (format!("{summary}; {tail}"), steps)
        }
    };
    vec![Diagnosis {
        id: CheckId::DiagnosisHealthy,
        summary,
        because: vec![],
        confidence: if accepted.is_empty() {
            Confidence::Medium
        } else {
            Confidence::High
        },
        steps,
    }]
}

/// The words that say where new Host blocks go in `~/.ssh/config`: above what would
/// otherwise set their values (see `Fact::Undefined`), else anywhere.
pub fn where_blocks_go(count: usize, place: Option<&BlockPlace>) -> String {
    let (these, their) = if count == 1 {
        ("this block", "its")
    } else {
        ("these blocks", "their")
    };
    match place {
        Some(BlockPlace::Above(line, header)) => format!(
            "Add {these} to ~/.ssh/config above line {line} (`{header}`), which would otherwise set {their} values first:"
        ),
        Some(BlockPlace::Top(line)) => format!(
            "Add {these} to the top of ~/.ssh/config, above line {line}, and a line `Host *` right after {these}: the settings at the top would otherwise set {their} values first, and under `Host *` they still apply to every other host:"
        ),
        None => format!("Add {these} to ~/.ssh/config:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(findings: &[Finding]) -> Vec<CheckId> {
        diagnose(findings, Shell::Posix, &Profile::embedded())
            .into_iter()
            .map(|d| d.id)
            .collect()
    }

    fn node(f: Finding, n: &str) -> Finding {
        f.node(n)
    }

    #[test]
    fn a_cause_of_many_files_lists_the_first_steps_and_a_count() {
        use crate::finding::Remedy;
        let findings: Vec<Finding> = (0..20)
            .map(|i| {
                Finding::fail(
                    CheckId::KeyPassphrase,
                    format!("~/.ssh/k{i}"),
                    "no passphrase",
                )
                .remedy(Remedy::command(
                    "Add one:",
                    format!("ssh-keygen -p -f ~/.ssh/k{i}"),
                ))
            })
            .collect();
        let profile = Profile::embedded();
        let facts = Facts {
            findings: &findings,
            shell: Shell::Posix,
            home: None,
            profile: &profile,
        };
        let all: Vec<&Finding> = findings.iter().collect();
        let steps = facts.steps(&all);
        assert_eq!(steps.len(), MAX_STEPS + 1);
        assert_eq!(
            steps[0].command.as_deref(),
            Some("ssh-keygen -p -f ~/.ssh/k0")
        );
        assert!(
            steps[MAX_STEPS].text.contains("12 more"),
            "{:?}",
            steps[MAX_STEPS]
        );
        assert!(steps[MAX_STEPS].command.is_none());
    }

    /// Each case's first diagnosis is the expected one.
    fn assert_first(cases: Vec<(Vec<Finding>, CheckId)>) {
        for (findings, expected) in cases {
            assert_eq!(
                ids(&findings).first().copied(),
                Some(expected),
                "{findings:?}"
            );
        }
    }

    #[test]
    fn each_config_and_network_rule_fires_on_its_findings() {
        let cases: Vec<(Vec<Finding>, CheckId)> = vec![
            (
                vec![Finding::fail(
                    CheckId::ConfigSyntax,
                    "~/.ssh/config:3",
                    "bad",
                )],
                CheckId::DiagnosisConfigBroken,
            ),
            (
                vec![Finding::fail(CheckId::PermConfig, "~/.ssh/config", "open")],
                CheckId::DiagnosisConfigBroken,
            ),
            (
                vec![Finding::warn(
                    CheckId::ConfigPresent,
                    "~/.ssh/config",
                    "none",
                )],
                CheckId::DiagnosisNoConfig,
            ),
            (
                vec![
                    node(Finding::fail(CheckId::NetDns, "slurm", "no"), "slurm"),
                    node(Finding::fail(CheckId::NetDns, "slurm2", "no"), "slurm2"),
                ],
                CheckId::DiagnosisOffline,
            ),
            (
                vec![
                    node(Finding::pass(CheckId::NetDns, "slurm", "ok"), "slurm"),
                    node(
                        Finding::fail(CheckId::NetTcp, "slurm", "x")
                            .fact(Fact::Tcp(vec![TcpOutcome::Timeout, TcpOutcome::Timeout])),
                        "slurm",
                    ),
                ],
                CheckId::DiagnosisNetworkBlocked,
            ),
            (
                vec![node(
                    Finding::fail(CheckId::SshBanner, "slurm", "x")
                        .fact(Fact::Banner(BannerKind::NotSsh)),
                    "slurm",
                )],
                CheckId::DiagnosisNotSsh,
            ),
            (
                vec![node(
                    Finding::fail(CheckId::SshHostKey, "slurm", "changed"),
                    "slurm",
                )],
                CheckId::DiagnosisHostKeyChanged,
            ),
            (
                vec![Finding::fail(CheckId::KeyPresent, "~/.ssh", "none")],
                CheckId::DiagnosisNoKey,
            ),
        ];
        assert_first(cases);
    }

    #[test]
    fn each_key_and_login_rule_fires_on_its_findings() {
        let cases: Vec<(Vec<Finding>, CheckId)> = vec![
            (
                vec![Finding::fail(CheckId::PermPrivateKey, "~/.ssh/id", "0644")
                    .with("used_by", ["slurm"])],
                CheckId::DiagnosisKeyRefusedLocally,
            ),
            (
                vec![Finding::fail(
                    CheckId::ConfigUser,
                    "Host slurm",
                    "placeholder",
                )],
                CheckId::DiagnosisWrongUser,
            ),
            (
                vec![Finding::warn(CheckId::ConfigPrecedence, "Host slurm", "x")
                    .fact(Fact::Shadowed("user".into()))],
                CheckId::DiagnosisWrongUser,
            ),
            (
                vec![Finding::warn(CheckId::KeyAgent, "ssh-agent", "7 keys")],
                CheckId::DiagnosisTooManyKeys,
            ),
            (
                vec![Finding::fail(
                    CheckId::ConfigAuthOverride,
                    "Host slurm",
                    "BatchMode yes",
                )],
                CheckId::DiagnosisSecondFactorBlocked,
            ),
            (
                vec![node(
                    Finding::fail(CheckId::SshKeyAccepted, "slurm", "none"),
                    "slurm",
                )],
                CheckId::DiagnosisKeyNotDeployed,
            ),
            (
                vec![
                    node(
                        Finding::pass(CheckId::SshBanner, "slurm", "SSH-2.0"),
                        "slurm",
                    ),
                    node(
                        Finding::fail(CheckId::NetTcp, "slurm2", "refused"),
                        "slurm2",
                    ),
                ],
                CheckId::DiagnosisNodeDown,
            ),
            (
                vec![Finding::fail(CheckId::KeyPassphrase, "~/.ssh/id", "none")
                    .with("used_by", ["slurm"])],
                CheckId::DiagnosisKeyPolicy,
            ),
            (
                vec![node(
                    Finding::pass(CheckId::SshKeyAccepted, "slurm", "ok"),
                    "slurm",
                )],
                CheckId::DiagnosisHealthy,
            ),
        ];
        assert_first(cases);
    }

    #[test]
    fn an_unused_key_and_a_missing_identity_file_mean_fix_the_path() {
        let no_key = Finding::fail(CheckId::KeyPresent, "~/.ssh", "none")
            .fact(Fact::NoKey { new_name: None });
        let unused = Finding::pass(CheckId::KeyFormat, "~/.ssh/id_ed25519", "OpenSSH")
            .fact(Fact::KeyUse(vec![]));
        let missing = node(
            Finding::fail(CheckId::ConfigIdentityFile, "Host slurm", "missing").fact(
                Fact::IdentityMissing {
                    at: "~/.ssh/config:9".into(),
                },
            ),
            "slurm",
        );
        let first = |findings: &[Finding]| {
            let d = diagnose(findings, Shell::Posix, &Profile::embedded());
            assert_eq!(d[0].id, CheckId::DiagnosisNoKey);
            d[0].steps[0].text.clone()
        };
        let step = first(&[no_key.clone(), unused, missing.clone()]);
        assert_eq!(
            step,
            "Change the IdentityFile at ~/.ssh/config:9 to `IdentityFile ~/.ssh/id_ed25519`."
        );
        // No key of the user's to point at: a new one it is.
        assert!(first(&[no_key, missing]).starts_with("Create a key"));
    }

    #[test]
    fn too_many_keys_without_the_agents_fault_points_to_identity_files() {
        let transcript = node(
            Finding::fail(CheckId::SshTranscript, "slurm", "too many")
                .fact(Fact::Transcript(Outcome::TooManyAuthFailures)),
            "slurm",
        );
        let steps = |findings: &[Finding]| -> String {
            let d = diagnose(findings, Shell::Posix, &Profile::embedded());
            assert_eq!(d[0].id, CheckId::DiagnosisTooManyKeys);
            d[0].steps.iter().map(|s| s.text.clone()).collect()
        };
        let alone = steps(std::slice::from_ref(&transcript));
        assert!(alone.contains("Leave one IdentityFile"), "{alone}");
        assert!(!alone.contains("IdentitiesOnly"), "{alone}");
        let with_agent = steps(&[
            transcript,
            Finding::warn(CheckId::KeyAgent, "ssh-agent", "7 keys"),
        ]);
        assert!(with_agent.contains("IdentitiesOnly yes"), "{with_agent}");
    }

    #[test]
    fn advice_speaks_the_sites_words() {
        let mut profile = Profile::embedded();
        profile.advice.vpn = "the Example VPN".into();
        profile.advice.key_file = "id_example".into();
        profile.advice.self_deploy_days = 5;
        profile.policy.min_kdf_rounds = 64;
        let mut nodes = profile.nodes.get_ref().clone();
        nodes.rotate_left(1);
        *profile.nodes.get_mut() = nodes;
        let alias = profile.example_alias().to_string();
        assert_ne!(alias, "slurm");
        let blocked = [node(
            Finding::fail(CheckId::NetTcp, "x", "x").fact(Fact::Tcp(vec![TcpOutcome::Timeout])),
            "x",
        )];
        let d = diagnose(&blocked, Shell::Posix, &profile);
        assert!(d[0].steps[0].text.contains("the Example VPN"), "{:?}", d[0]);
        let d = diagnose(
            &[Finding::fail(CheckId::KeyPresent, "~/.ssh", "none")],
            Shell::Posix,
            &profile,
        );
        let text = serde_json::to_string(&d).unwrap();
        assert!(
            text.contains("ssh-keygen -t ed25519 -a 64 -f ~/.ssh/id_example"),
            "{text}"
        );
        assert!(text.contains("Within 5 days"), "{text}");
        assert!(
            text.contains(&format!("~/.ssh/id_example.pub {alias}")),
            "{text}"
        );
        assert!(
            !text.contains("id_ed25519") && !text.contains("2 days"),
            "{text}"
        );
    }

    #[test]
    fn rules_read_facts_not_wording() {
        // A summary that says "timed out" over refused connections is not a blocked network.
        let refused = vec![node(
            Finding::fail(
                CheckId::NetTcp,
                "slurm",
                "port 22 timed out on every address",
            )
            .fact(Fact::Tcp(vec![TcpOutcome::Refused])),
            "slurm",
        )];
        assert_ne!(
            ids(&refused).first(),
            Some(&CheckId::DiagnosisNetworkBlocked)
        );
        // "no User" in the words of a config.user finding whose fact says the user is set.
        let set = vec![
            Finding::warn(CheckId::ConfigUser, "Host slurm", "no User for `slurm`")
                .fact(Fact::User(UserValue::Unusual)),
            node(
                Finding::fail(CheckId::SshKeyAccepted, "slurm", "none"),
                "slurm",
            ),
        ];
        assert_eq!(ids(&set), [CheckId::DiagnosisKeyNotDeployed]);
        // A precedence finding about another keyword is not a wrong user.
        let other = vec![
            Finding::warn(CheckId::ConfigPrecedence, "Host slurm", "User x wins")
                .fact(Fact::Shadowed("identityfile".into())),
        ];
        assert_ne!(ids(&other).first(), Some(&CheckId::DiagnosisWrongUser));
    }

    #[test]
    fn a_missing_user_and_a_refusal_point_to_the_username_and_deployment() {
        let f = vec![
            node(
                Finding::warn(CheckId::ConfigUser, "Host slurm", "x")
                    .fact(Fact::User(UserValue::Missing)),
                "slurm",
            ),
            node(
                Finding::fail(CheckId::SshKeyAccepted, "slurm", "none"),
                "slurm",
            ),
        ];
        assert_eq!(
            ids(&f),
            [
                CheckId::DiagnosisWrongUser,
                CheckId::DiagnosisKeyNotDeployed
            ]
        );
        // No User for slurm2 says nothing about a refusal by slurm, whose User is set: the
        // deploy command stays.
        let other_node = vec![
            node(
                Finding::warn(CheckId::ConfigUser, "Host slurm2", "x")
                    .fact(Fact::User(UserValue::Missing)),
                "slurm2",
            ),
            node(
                Finding::pass(CheckId::ConfigUser, "Host slurm", "x")
                    .fact(Fact::User(UserValue::Set)),
                "slurm",
            ),
            node(
                Finding::fail(CheckId::SshKeyAccepted, "slurm", "none").remedy(
                    crate::finding::Remedy::command("deploy", "ssh-copy-id -i k.pub slurm"),
                ),
                "slurm",
            ),
        ];
        assert_eq!(ids(&other_node), [CheckId::DiagnosisKeyNotDeployed]);
        let d = diagnose(&other_node, Shell::Posix, &Profile::embedded());
        assert_eq!(
            d[0].steps[0].command.as_deref(),
            Some("ssh-copy-id -i k.pub slurm")
        );
        let d = diagnose(&f, Shell::Posix, &Profile::embedded());
        assert!(d[1]
            .steps
            .iter()
            .any(|s| s.text.contains("cannot tell apart")));
    }

    #[test]
    fn missing_aliases_rank_last_when_the_main_one_is_defined() {
        let f = vec![
            node(
                Finding::pass(CheckId::ConfigAlias, "Host slurm", "defined"),
                "slurm",
            ),
            node(
                Finding::warn(CheckId::ConfigAlias, "Host slurm2", "not defined").remedy(
                    crate::finding::Remedy::command("Add", "Host slurm2\n  HostName x"),
                ),
                "slurm2",
            ),
            Finding::fail(CheckId::PermPrivateKey, "~/.ssh/id", "0644").with("used_by", ["slurm"]),
        ];
        let d = diagnose(&f, Shell::Posix, &Profile::embedded());
        assert_eq!(
            d.iter().map(|d| d.id).collect::<Vec<_>>(),
            [
                CheckId::DiagnosisKeyRefusedLocally,
                CheckId::DiagnosisNoConfig
            ]
        );
        assert!(d[1].summary.contains("slurm2"));
    }

    #[test]
    fn keys_the_cluster_never_sees_do_not_drive_the_diagnosis() {
        let f = vec![
            Finding::fail(CheckId::KeyPassphrase, "~/.ssh/github", "none")
                .fact(Fact::KeyUse(Vec::new())),
        ];
        assert_eq!(ids(&f), [CheckId::DiagnosisHealthy]);
    }

    #[test]
    fn healthy_offline_suggests_probing_the_nodes() {
        let d = diagnose(
            &[Finding::pass(CheckId::KeyPresent, "~/.ssh", "ok")],
            Shell::Posix,
            &Profile::embedded(),
        );
        assert_eq!(d[0].id, CheckId::DiagnosisHealthy);
        assert_eq!(d[0].steps[0].command.as_deref(), Some("mlc-doctor"));
    }
}
