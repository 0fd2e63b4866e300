//! Differential tests: for every config in the corpus and every alias, our evaluation
//! equals what the real OpenSSH client prints with `ssh -G` for hostname, port, user,
//! identityfile, identitiesonly, batchmode and preferredauthentications; and a config
//! OpenSSH refuses is one we report as broken.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::path::{Path, PathBuf};
use std::process::Command;

use mlc_doctor::sshconfig::{evaluate, Config, Disk, EvalInput, IncludeIssue};

const ALIASES: &[&str] = &["slurm", "slurm2", "slurm-r2", "slurm1-r2", "other"];
const DEFAULT_IDENTITIES: &[&str] = &[
    "~/.ssh/id_rsa",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_ecdsa_sk",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ed25519_sk",
    "~/.ssh/id_xmss",
    "~/.ssh/id_dsa",
];

/// Copies the corpus to a temp dir with `@DIR@` replaced by that dir.
fn corpus() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::common::fixtures().join("configs");
    fn copy(src: &Path, dst: &Path, root: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let to = dst.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to, root);
            } else {
                let bytes = std::fs::read(e.path()).unwrap();
                let bytes = match String::from_utf8(bytes.clone()) {
                    Ok(t) => t.replace("@DIR@", &root.to_string_lossy()).into_bytes(),
                    Err(_) => bytes,
                };
                std::fs::write(&to, bytes).unwrap();
            }
        }
    }
    copy(&src, dir.path(), dir.path());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .collect();
    files.sort();
    (dir, files)
}

#[derive(Debug, PartialEq)]
struct Seen {
    hostname: String,
    port: String,
    user: String,
    identityfile: Vec<String>,
    identitiesonly: String,
    batchmode: String,
    preferredauthentications: Option<String>,
}

fn openssh(file: &Path, alias: &str) -> Option<Seen> {
    let out = Command::new("ssh")
        .args(["-G", "-F"])
        .arg(file)
        .arg(alias)
        .env("LC_ALL", "C")
        .output()
        .expect("OpenSSH client (ssh) is installed by scripts/test");
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} ")))
            .map(str::to_string)
    };
    Some(Seen {
        hostname: get("hostname").unwrap_or_default(),
        port: get("port").unwrap_or_default(),
        user: get("user").unwrap_or_default(),
        identityfile: text
            .lines()
            .filter_map(|l| l.strip_prefix("identityfile "))
            .map(str::to_string)
            .collect(),
        identitiesonly: get("identitiesonly").unwrap_or_default(),
        batchmode: get("batchmode").unwrap_or_default(),
        preferredauthentications: get("preferredauthentications"),
    })
}

fn ours(cfg: &Config, alias: &str, local_user: &str) -> Seen {
    let e = evaluate(cfg, &EvalInput { alias, local_user });
    let mut ids: Vec<String> = e.identity_files().iter().map(|s| s.to_string()).collect();
    if ids.is_empty() {
        ids = DEFAULT_IDENTITIES.iter().map(|s| s.to_string()).collect();
    }
    let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
    Seen {
        hostname: e.hostname(alias),
        port: e.port().to_string(),
        user: e.user().unwrap_or(local_user).to_string(),
        identityfile: ids,
        identitiesonly: yn(e.flag("identitiesonly")),
        batchmode: yn(e.flag("batchmode")),
        preferredauthentications: e.preferred_authentications().map(str::to_string),
    }
}

fn ssh_version() -> Option<(u32, u32)> {
    let out = Command::new("ssh").arg("-V").output().ok()?;
    mlc_doctor::probes::env::parse_version(&String::from_utf8_lossy(&out.stderr))
}

#[test]
fn evaluation_equals_ssh_dash_g_for_the_whole_corpus() {
    let (dir, files) = corpus();
    assert!(
        files.len() >= 40,
        "the corpus has only {} configs",
        files.len()
    );
    let local_user = mlc_doctor::platform::login_name().unwrap();
    let version = ssh_version();
    let mut compared = 0;
    let mut refused = 0;
    let mut failures = Vec::new();
    for file in &files {
        let cfg = Config::load(&Disk, Some(file), None, dir.path(), version);
        if cfg.has_match_exec() {
            continue;
        }
        let fatal = cfg
            .files
            .iter()
            .any(|f| !f.parsed.usable || f.parsed.issues.iter().any(|i| i.kind.is_fatal()))
            || cfg
                .include_issues
                .iter()
                .any(|i| matches!(i, IncludeIssue::Loop { .. } | IncludeIssue::Depth { .. }));
        for alias in ALIASES {
            let name = file.file_name().unwrap().to_string_lossy();
            match openssh(file, alias) {
                None => {
                    refused += 1;
                    if !fatal {
                        failures.push(format!(
                            "{name} {alias}: ssh -G refuses the config, we found nothing fatal"
                        ));
                    }
                }
                Some(seen) => {
                    if fatal {
                        failures.push(format!(
                            "{name} {alias}: we call the config broken, ssh -G accepts it"
                        ));
                        continue;
                    }
                    compared += 1;
                    let mine = ours(&cfg, alias, &local_user);
                    if mine != seen {
                        failures.push(format!(
                            "{name} {alias}:\n  ssh -G: {seen:?}\n  ours:   {mine:?}"
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared > 150, "only {compared} comparisons ran");
    assert!(refused > 20, "only {refused} refusals were compared");
}

#[test]
fn match_exec_is_never_run_and_is_reported() {
    let (dir, _) = corpus();
    let marker = dir.path().join("exec-ran");
    let conf = dir.path().join("exec.conf");
    std::fs::write(
        &conf,
        format!(
            "Host slurm\n  User pbb111\nMatch exec \"touch {}\"\n  BatchMode yes\n",
            marker.display()
        ),
    )
    .unwrap();
    let cfg = Config::load(&Disk, Some(&conf), None, dir.path(), None);
    assert!(cfg.has_match_exec());
    let e = evaluate(
        &cfg,
        &EvalInput {
            alias: "slurm",
            local_user: "me",
        },
    );
    assert_eq!(e.match_exec.len(), 1);
    assert_eq!(e.flag("batchmode"), None);
    assert!(!marker.exists(), "Match exec was run");
}
