//! `key.*` and `perm.private-key` on temp homes, with real fixture keys and a real ssh-agent.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::process::Command;

use crate::common::agent::{fresh_key, Agent};

use crate::common::*;
use serde_json::Value;

const CONFIG: &str = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n";

fn home_with(fixture: &str) -> TestHome {
    let home = TestHome::new();
    home.write(".ssh/config", CONFIG);
    home.key(fixture, "id_mlcloud");
    home
}

fn run(home: &TestHome) -> Value {
    home.json(&["--offline", "--no-openssh", "--node", "slurm"])
        .1
}

fn of(report: &Value, id: &str) -> (String, String) {
    let f = findings(report, id)
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_mlcloud")
        .unwrap_or_else(|| panic!("no {id} for ~/.ssh/id_mlcloud"));
    (
        f["severity"].as_str().unwrap().to_string(),
        f["summary"].as_str().unwrap().to_string(),
    )
}

#[test]
fn the_recommended_key_passes_everything() {
    let home = home_with("ed25519_100");
    let r = run(&home);
    for id in [
        "key.format",
        "key.algorithm",
        "key.passphrase",
        "key.kdf-rounds",
        "key.public-match",
        "perm.private-key",
    ] {
        assert_eq!(of(&r, id).0, "pass", "{id}: {:?}", of(&r, id));
    }
    assert_eq!(severity(&r, "key.present"), "pass");
}

#[test]
fn each_fixture_gets_the_right_verdicts() {
    // (fixture, id, severity, words in the summary)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("ed25519_plain", "key.passphrase", "fail", "no passphrase"),
        ("ed25519_16", "key.kdf-rounds", "warn", "16 bcrypt rounds"),
        ("rsa2048_enc", "key.algorithm", "fail", "RSA 2048"),
        ("rsa4096_enc", "key.algorithm", "pass", "RSA 4096"),
        ("rsa4096_plain", "key.passphrase", "fail", "no passphrase"),
        ("ecdsa_enc", "key.algorithm", "warn", "ecdsa-sha2-nistp256"),
        ("dsa_plain", "key.algorithm", "fail", "DSA"),
        ("pem_rsa_enc", "key.format", "warn", "legacy"),
        ("pem_rsa_enc", "key.kdf-rounds", "warn", "MD5"),
        ("pem_rsa_plain", "key.passphrase", "fail", "no passphrase"),
        ("pem_ec_enc", "key.format", "warn", "PEM EC"),
        ("pkcs8_plain", "key.format", "warn", "PKCS#8"),
        ("pkcs8_enc", "key.passphrase", "pass", "encrypted"),
        ("putty_v3_enc.ppk", "key.format", "fail", "PuTTY"),
        ("putty_v2_plain.ppk", "key.format", "fail", "PuTTY"),
        ("ed25519_crlf", "key.format", "fail", "CRLF"),
        ("ed25519_bom", "key.format", "fail", "byte-order mark"),
        ("ed25519_nonewline", "key.format", "fail", "no newline"),
        ("ed25519_truncated", "key.format", "fail", "cut short"),
        (
            "ed25519_mismatch",
            "key.public-match",
            "fail",
            "another key",
        ),
        ("random_bytes", "key.format", "fail", "not a key"),
    ];
    for (fixture, id, sev, words) in cases {
        let home = home_with(fixture);
        let r = run(&home);
        let (s, summary) = of(&r, id);
        assert_eq!(&s, sev, "{fixture} {id}: {summary}");
        assert!(
            summary.contains(words),
            "{fixture} {id}: {summary:?} lacks {words:?}"
        );
    }
}

#[test]
fn remedies_are_exact_commands_with_the_users_path() {
    let home = home_with("ed25519_plain");
    let r = run(&home);
    let f = findings(&r, "key.passphrase")[0];
    assert_eq!(
        f["remedy"]["command"],
        "ssh-keygen -p -a 100 -f ~/.ssh/id_mlcloud"
    );
    home.chmod(".ssh/id_mlcloud", 0o644);
    let r = run(&home);
    let f = findings(&r, "perm.private-key")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_mlcloud")
        .unwrap();
    assert_eq!(f["severity"], "fail");
    assert_eq!(f["remedy"]["command"], "chmod 600 ~/.ssh/id_mlcloud");
}

#[test]
fn missing_pub_and_missing_key() {
    let home = home_with("ed25519_100");
    std::fs::remove_file(home.ssh().join("id_mlcloud.pub")).unwrap();
    let r = run(&home);
    assert_eq!(of(&r, "key.public-match").0, "warn");
    let home = TestHome::new();
    home.write(".ssh/config", CONFIG);
    let r = run(&home);
    assert_eq!(severity(&r, "key.present"), "fail");
    assert!(findings(&r, "key.present")[0]["remedy"]["command"]
        .as_str()
        .unwrap()
        .contains("ssh-keygen -t ed25519 -a 100"));
}

#[test]
fn default_names_and_other_keys_are_found_once() {
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n",
    );
    home.key("ed25519_100", "id_ed25519");
    home.key("ed25519_plain", "github_key");
    let r = run(&home);
    let subjects: Vec<&str> = findings(&r, "key.format")
        .iter()
        .map(|f| f["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["~/.ssh/id_ed25519", "~/.ssh/github_key"]);
    // An unencrypted key that the cluster never sees is information, not a failure.
    let f = findings(&r, "key.passphrase")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/github_key")
        .unwrap();
    assert_eq!(f["severity"], "info");
    assert_eq!(severity(&r, "key.present"), "pass");
}

#[test]
fn fifos_and_directories_in_dot_ssh_are_not_opened() {
    let home = home_with("ed25519_100");
    let fifo = home.ssh().join("a_fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    std::fs::create_dir(home.ssh().join("id_rsa")).unwrap();
    let started = std::time::Instant::now();
    let r = run(&home);
    assert!(started.elapsed().as_secs() < 10);
    assert_eq!(severity(&r, "key.present"), "pass");
}

#[test]
fn no_private_key_material_in_the_report() {
    let home = home_with("ed25519_plain");
    let out = home
        .cmd(&[
            "--offline",
            "--no-openssh",
            "--no-bundle",
            "-v",
            "--color",
            "never",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (_, json) = home.json(&["--offline", "--no-openssh"]);
    let json = json.to_string();
    let key = std::fs::read_to_string(fixtures().join("keys/ed25519_plain")).unwrap();
    for line in key.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !text.contains(line) && !json.contains(line),
            "a private key line reached the output"
        );
    }
    assert!(!json.contains("PRIVATE KEY-----"));
}

/// `check --json` offline for `slurm`, with the agent in SSH_AUTH_SOCK.
fn with_agent(home: &TestHome, agent: &Agent) -> Value {
    let out = home
        .cmd(&[
            "--offline",
            "--no-openssh",
            "--json",
            "--no-bundle",
            "--node",
            "slurm",
        ])
        .env("SSH_AUTH_SOCK", agent.sock())
        .output()
        .unwrap();
    parse_report(&out)
}

#[test]
fn agent_with_seven_keys_and_no_identities_only_warns() {
    let agent = Agent::start();
    let keys = tempfile::tempdir().unwrap();
    for i in 0..7 {
        agent.add(&fresh_key(keys.path(), &format!("k{i}")));
    }
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n",
    );
    let r = with_agent(&home, &agent);
    assert_eq!(severity(&r, "key.agent"), "warn");
    assert_eq!(
        findings(&r, "key.agent")[0]["evidence"]["keys"]
            .as_array()
            .unwrap()
            .len(),
        7
    );
    // Keys in the agent count as present.
    assert_eq!(severity(&r, "key.present"), "pass");

    home.write(".ssh/config", "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentitiesOnly yes\n");
    assert_eq!(severity(&with_agent(&home, &agent), "key.agent"), "info");
}

#[test]
fn agent_reports_which_node_key_is_loaded_and_broken_sockets() {
    let agent = Agent::start();
    let home = home_with("ed25519_plain");
    agent.add(&home.ssh().join("id_mlcloud"));
    let r = with_agent(&home, &agent);
    let f = findings(&r, "key.agent")[0];
    assert_eq!(f["severity"], "info");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("loaded: ~/.ssh/id_mlcloud"),
        "{f}"
    );

    let out = home
        .cmd(&["--offline", "--no-openssh", "--json", "--no-bundle"])
        .env("SSH_AUTH_SOCK", "/nonexistent/agent.sock")
        .output()
        .unwrap();
    assert_eq!(severity(&parse_report(&out), "key.agent"), "warn");
    let (_, r) = home.json(&["--offline", "--no-openssh"]);
    assert_eq!(severity(&r, "key.agent"), "info");
}
