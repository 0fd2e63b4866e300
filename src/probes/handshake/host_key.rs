//! `ssh.host-key`: the node's host key against the user's known_hosts files and the site
//! profile's pins, judged when the server shows it, before anything is offered.

use russh::keys::{HashAlg, PublicKey};

use crate::check::CheckId;
use crate::finding::{Finding, Remedy};
use crate::knownhosts::{self, Verdict};
use crate::report::{HostKeyReport, KnownHosts};

/// What a node's host key is checked against.
#[derive(Debug, Clone)]
pub(super) struct Expected {
    /// The names an entry may carry: the host name (`[host]:port` off port 22), then the
    /// address.
    pub names: Vec<String>,
    /// Each known_hosts file as shown to the user, with its entries.
    pub files: Vec<(String, Vec<knownhosts::Entry>)>,
    /// Fingerprints the site profile pins.
    pub pins: Vec<String>,
}

/// The `ssh.host-key` fact: the key the server showed and where it stands.
#[derive(Debug, Clone)]
pub(super) struct HostKey {
    pub fingerprint: String,
    pub algorithm: String,
    pub standing: Standing,
}

/// Where a host key stands, decided as OpenSSH does: a pin mismatch first, then `@revoked`
/// in any file, then a match in any file, then a changed key.
#[derive(Debug, Clone)]
pub(super) enum Standing {
    /// The profile pins other keys.
    NotPinned { pins: Vec<String> },
    /// An entry of `file` lists this key; `pinned`: the profile pins it too.
    Known {
        file: String,
        line: usize,
        pinned: bool,
    },
    /// `file` marks this key `@revoked`.
    Revoked { file: String, line: usize },
    /// `file` expects another key of the same type (`expected`, its fingerprint), stored
    /// under `name`.
    Changed {
        file: String,
        line: usize,
        expected: String,
        name: String,
    },
    /// In no known_hosts file; `pinned`: the profile pins it.
    New { pinned: bool },
}

/// Judges the key the server shows.
pub(super) fn judge(key: &PublicKey, expected: &Expected) -> HostKey {
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    let algorithm = key.algorithm().as_str().to_string();
    let standing = standing(key, &fingerprint, &algorithm, expected);
    HostKey {
        fingerprint,
        algorithm,
        standing,
    }
}

fn standing(key: &PublicKey, fingerprint: &str, algorithm: &str, expected: &Expected) -> Standing {
    let pinned = !expected.pins.is_empty();
    if pinned && !expected.pins.iter().any(|p| p == fingerprint) {
        return Standing::NotPinned {
            pins: expected.pins.clone(),
        };
    }
    let blob = key
        .to_openssh()
        .ok()
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_default();
    let mut verdicts: Vec<(&String, Verdict)> = expected
        .files
        .iter()
        .map(|(file, entries)| {
            let verdict = knownhosts::check(entries, &expected.names, algorithm, &blob);
            (file, verdict)
        })
        .collect();
    verdicts.sort_by_key(|(_, v)| match v {
        Verdict::Revoked { .. } => 0,
        Verdict::Match { .. } => 1,
        Verdict::Mismatch { .. } => 2,
        Verdict::Unknown { .. } => 3,
    });
    let Some((file, verdict)) = verdicts.into_iter().next() else {
        return Standing::New { pinned };
    };
    let file = file.clone();
    match verdict {
        Verdict::Match { line } => Standing::Known { file, line, pinned },
        Verdict::Revoked { line } => Standing::Revoked { file, line },
        Verdict::Mismatch { lines } => {
            let (line, old) = &lines[0];
            let expected_fp = PublicKey::from_openssh(&format!("{algorithm} {old}"))
                .map(|k| k.fingerprint(HashAlg::Sha256).to_string())
                .unwrap_or_else(|_| "(unreadable)".into());
            Standing::Changed {
                file,
                line: *line,
                expected: expected_fp,
                name: expected.names[0].clone(),
            }
        }
        Verdict::Unknown { .. } => Standing::New { pinned },
    }
}

impl HostKey {
    /// True when the doctor refuses to go on with this server.
    pub fn refused(&self) -> bool {
        matches!(
            self.standing,
            Standing::NotPinned { .. } | Standing::Revoked { .. } | Standing::Changed { .. }
        )
    }

    /// True when a known_hosts entry lists the key: ssh logs in without asking.
    pub fn known(&self) -> bool {
        matches!(self.standing, Standing::Known { .. })
    }

    /// True when known_hosts or a profile pin vouches for the key: only then does
    /// anything sign for the server.
    pub fn verified(&self) -> bool {
        matches!(
            self.standing,
            Standing::Known { .. } | Standing::New { pinned: true }
        )
    }

    /// The node report's entry.
    pub fn report(&self) -> HostKeyReport {
        let (known_hosts, location) = match &self.standing {
            Standing::NotPinned { .. } => (KnownHosts::PinMismatch, None),
            Standing::Known { file, line, pinned } => {
                let k = if *pinned {
                    KnownHosts::Pinned
                } else {
                    KnownHosts::Match
                };
                (k, Some(format!("{file}:{line}")))
            }
            Standing::Revoked { file, line } => {
                (KnownHosts::Revoked, Some(format!("{file}:{line}")))
            }
            Standing::Changed { file, line, .. } => {
                (KnownHosts::Mismatch, Some(format!("{file}:{line}")))
            }
            Standing::New { .. } => (KnownHosts::Unknown, None),
        };
        HostKeyReport {
            algorithm: self.algorithm.clone(),
            fingerprint: self.fingerprint.clone(),
            known_hosts,
            location,
        }
    }
}

/// The `ssh.host-key` finding.
pub(super) fn finding(alias: &str, key: &HostKey) -> Finding {
    let fp = &key.fingerprint;
    match &key.standing {
        Standing::NotPinned { pins } => Finding::fail(CheckId::SshHostKey, alias, format!("host key {fp} is not one the site profile pins ({})", pins.join(", ")))
            .detail("The doctor offered no key to this server. Someone may be intercepting the connection, or the site changed its keys.")
            .remedy(Remedy::text("Do not log in. Report the fingerprint to support and attach the bundle.")),
        Standing::Known { file, line, .. } => Finding::pass(
            CheckId::SshHostKey,
            alias,
            format!("host key {fp} matches {file}:{line}"),
        ),
        Standing::Revoked { file, line } => Finding::fail(
            CheckId::SshHostKey,
            alias,
            format!("host key {fp} is marked @revoked in {file}:{line}"),
        )
        .remedy(Remedy::text(
            "Do not log in; report this to support with the bundle.",
        )),
        Standing::Changed { file, line, expected, name } => Finding::fail(CheckId::SshHostKey, alias, format!("host key changed: the server shows {fp}, {file}:{line} expects {expected}"))
            .detail("ssh refuses to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). The node may have been reinstalled, or someone is in the middle; the doctor offered no key.")
            .remedy(Remedy::command(format!("Only after support confirms {fp} is the node's new key, remove the old entry (line {line} of {file}):"), keygen_remove(name, file)))
            .with("expected", expected)
            .with("line", line),
        Standing::New { .. } => Finding::info(CheckId::SshHostKey, alias, format!("host key {fp} ({}) is not in known_hosts yet: ssh will ask you to confirm it the first time", key.algorithm))
            .detail("Compare the fingerprint with the one the site publishes before answering yes."),
    }
}

/// `ssh-keygen -R` for an entry as it is stored (`[host]:port` for a port other than 22),
/// with `-f` when the file is not the default one.
fn keygen_remove(stored_name: &str, shown_file: &str) -> String {
    let name = if stored_name.starts_with('[') {
        format!("'{stored_name}'")
    } else {
        stored_name.to_string()
    };
    if shown_file == "~/.ssh/known_hosts" {
        format!("ssh-keygen -R {name}")
    } else {
        format!("ssh-keygen -R {name} -f {shown_file}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_key(name: &str) -> PublicKey {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys")
            .join(format!("{name}.pub"));
        PublicKey::from_openssh(std::fs::read_to_string(path).unwrap().trim()).unwrap()
    }

    fn expected(known_hosts: &str, pins: &[&str]) -> Expected {
        Expected {
            names: vec!["[node]:2222".into(), "[192.0.2.1]:2222".into()],
            files: vec![("~/.ssh/known_hosts".into(), knownhosts::parse(known_hosts))],
            pins: pins.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn entry(marker: &str, name: &str) -> String {
        let line = fixture_key(name).to_openssh().unwrap();
        format!("{marker}[node]:2222 {line}\n")
    }

    #[test]
    fn standings_read_as_known_hosts_words_and_only_vouched_keys_sign() {
        let key = fixture_key("ed25519_100");
        let fp = key.fingerprint(HashAlg::Sha256).to_string();
        let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let cases = [
            (
                expected(&entry("", "ed25519_100"), &[]),
                KnownHosts::Match,
                false,
                true,
            ),
            (
                expected(&entry("", "ed25519_100"), &[&fp]),
                KnownHosts::Pinned,
                false,
                true,
            ),
            (expected("", &[&fp]), KnownHosts::Unknown, false, true),
            (expected("", &[]), KnownHosts::Unknown, false, false),
            (
                expected(&entry("", "ed25519_100"), &[other]),
                KnownHosts::PinMismatch,
                true,
                false,
            ),
            (
                expected(&entry("@revoked ", "ed25519_100"), &[]),
                KnownHosts::Revoked,
                true,
                false,
            ),
            (
                expected(&entry("", "ed25519_16"), &[]),
                KnownHosts::Mismatch,
                true,
                false,
            ),
        ];
        for (i, (exp, known_hosts, refused, verified)) in cases.into_iter().enumerate() {
            let judged = judge(&key, &exp);
            assert_eq!(judged.report().known_hosts, known_hosts, "case {i}");
            assert_eq!(judged.refused(), refused, "case {i}");
            assert_eq!(judged.verified(), verified, "case {i}");
            let f = finding("slurm", &judged);
            assert_eq!(f.severity.is_problem(), refused, "case {i}: {f:?}");
        }
    }

    #[test]
    fn a_changed_key_names_the_entry_to_remove() {
        let key = fixture_key("ed25519_100");
        let judged = judge(&key, &expected(&entry("", "ed25519_16"), &[]));
        assert_eq!(
            judged.report().location.as_deref(),
            Some("~/.ssh/known_hosts:1")
        );
        let f = finding("slurm", &judged);
        let old = fixture_key("ed25519_16")
            .fingerprint(HashAlg::Sha256)
            .to_string();
        assert_eq!(f.evidence["expected"], old.as_str());
        assert_eq!(
            f.remedy.unwrap().command.as_deref(),
            Some("ssh-keygen -R '[node]:2222'")
        );
    }
}
