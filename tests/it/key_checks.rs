//! `key.*` and `perm.private-key` on temp homes, with real fixture keys and a real ssh-agent.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::process::Command;

use crate::common::agent::Agent;
use crate::common::*;
use serde_json::{json, Value};

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

/// The finding with this id about `~/.ssh/id_mlcloud`.
fn of<'a>(report: &'a Value, id: &str) -> &'a Value {
    findings(report, id)
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_mlcloud")
        .unwrap_or_else(|| panic!("no {id} for ~/.ssh/id_mlcloud"))
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
        assert_eq!(of(&r, id)["severity"], "pass", "{id}: {}", of(&r, id));
    }
    assert_eq!(severity(&r, "key.present"), "pass");
}

#[test]
fn each_fixture_gets_the_right_verdicts() {
    // (fixture, id, severity, the evidence that says why: JSON pointer and value)
    let cases: Vec<(&str, &str, &str, &str, Value)> = vec![
        (
            "ed25519_plain",
            "key.passphrase",
            "fail",
            "/encrypted",
            json!(false),
        ),
        ("ed25519_16", "key.kdf-rounds", "warn", "/rounds", json!(16)),
        (
            "ed25519_16",
            "key.kdf-rounds",
            "warn",
            "/kdf",
            json!("bcrypt"),
        ),
        ("rsa2048_enc", "key.algorithm", "fail", "/bits", json!(2048)),
        (
            "rsa2048_enc",
            "key.algorithm",
            "fail",
            "/algorithm",
            json!("ssh-rsa"),
        ),
        ("rsa4096_enc", "key.algorithm", "pass", "/bits", json!(4096)),
        (
            "rsa4096_plain",
            "key.passphrase",
            "fail",
            "/encrypted",
            json!(false),
        ),
        (
            "ecdsa_enc",
            "key.algorithm",
            "warn",
            "/algorithm",
            json!("ecdsa-sha2-nistp256"),
        ),
        (
            "dsa_plain",
            "key.algorithm",
            "fail",
            "/algorithm",
            json!("ssh-dss"),
        ),
        (
            "pem_rsa_enc",
            "key.format",
            "warn",
            "/format",
            json!("pem-rsa"),
        ),
        (
            "pem_rsa_enc",
            "key.kdf-rounds",
            "warn",
            "/kdf",
            json!("pem (md5)"),
        ),
        (
            "pem_rsa_plain",
            "key.passphrase",
            "fail",
            "/encrypted",
            json!(false),
        ),
        (
            "pem_ec_enc",
            "key.format",
            "warn",
            "/format",
            json!("pem-ec"),
        ),
        (
            "pkcs8_plain",
            "key.format",
            "warn",
            "/format",
            json!("pkcs8"),
        ),
        (
            "pkcs8_enc",
            "key.passphrase",
            "pass",
            "/encrypted",
            json!(true),
        ),
        (
            "putty_v3_enc.ppk",
            "key.format",
            "fail",
            "/format",
            json!("putty-v3"),
        ),
        (
            "putty_v2_plain.ppk",
            "key.format",
            "fail",
            "/format",
            json!("putty-v2"),
        ),
        (
            "ed25519_crlf",
            "key.format",
            "fail",
            "/defects/0/kind",
            json!("crlf"),
        ),
        (
            "ed25519_bom",
            "key.format",
            "fail",
            "/defects/0/kind",
            json!("bom"),
        ),
        (
            "ed25519_nonewline",
            "key.format",
            "fail",
            "/defects/0/kind",
            json!("no-final-newline"),
        ),
        (
            "ed25519_truncated",
            "key.format",
            "fail",
            "/defects/0/kind",
            json!("truncated"),
        ),
        // The private half is ed25519_100; the .pub beside it is ed25519_16's.
        (
            "ed25519_mismatch",
            "key.public-match",
            "fail",
            "/fingerprint",
            json!(fingerprint("ed25519_100.pub")),
        ),
        (
            "random_bytes",
            "key.format",
            "fail",
            "/format",
            json!("not-a-key"),
        ),
        (
            "random_bytes",
            "key.format",
            "fail",
            "/damaged",
            json!(true),
        ),
    ];
    for (fixture, id, sev, pointer, value) in &cases {
        let home = home_with(fixture);
        let r = run(&home);
        let f = of(&r, id);
        assert_eq!(f["severity"], *sev, "{fixture} {id}: {f}");
        assert_eq!(
            f["evidence"].pointer(pointer),
            Some(value),
            "{fixture} {id}: evidence{pointer} in {f}"
        );
    }
    assert_ne!(
        fingerprint("ed25519_100.pub"),
        fingerprint("ed25519_mismatch.pub")
    );
}

/// The fingerprint of a fixture key file.
fn fingerprint(name: &str) -> String {
    let bytes = std::fs::read(fixtures().join("keys").join(name)).unwrap();
    mlc_doctor::keyfile::sniff(&bytes).fingerprint.unwrap()
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
    assert_eq!(of(&r, "key.public-match")["severity"], "warn");
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
    home.json_env(
        &["--offline", "--no-openssh", "--node", "slurm"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    )
    .1
}

#[test]
fn agent_with_seven_keys_and_no_identities_only_warns() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, _) = Agent::with_fresh_keys(keys.path(), 7);
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
    let f = finding(&r, "key.agent");
    assert_eq!(f["severity"], "info", "{f}");
    assert_eq!(f["evidence"]["loaded"], json!(["~/.ssh/id_mlcloud"]), "{f}");
    assert_eq!(
        f["evidence"]["keys"],
        json!([fingerprint("ed25519_plain.pub")]),
        "{f}"
    );

    let (_, r) = home.json_env(
        &["--offline", "--no-openssh"],
        &[("SSH_AUTH_SOCK", "/nonexistent/agent.sock")],
    );
    assert_eq!(severity(&r, "key.agent"), "warn");
    let (_, r) = home.json(&["--offline", "--no-openssh"]);
    assert_eq!(severity(&r, "key.agent"), "info");
}

#[test]
fn with_node_a_key_another_login_node_uses_is_not_called_unused() {
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        "Host slurm\n  IdentityFile ~/.ssh/id_ed25519\nHost slurm2\n  IdentityFile ~/.ssh/other_rsa\n",
    );
    home.key("ed25519_100", "id_ed25519");
    home.key("rsa2048_plain", "other_rsa");
    let r = run(&home);
    let f = findings(&r, "key.passphrase")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/other_rsa")
        .unwrap();
    assert_eq!(f["severity"], "fail", "{f}");
    assert_eq!(f["evidence"]["used_by"][0], "slurm2", "{f}");
    assert!(!f["summary"].as_str().unwrap().contains("not used"), "{f}");
}

#[test]
fn a_putty_key_is_converted_into_a_new_file_never_over_another_key() {
    let home = TestHome::new();
    home.key("ed25519_100", "id_ed25519");
    std::fs::copy(
        fixtures().join("keys/putty_v3_enc.ppk"),
        home.ssh().join("mlcloud.ppk"),
    )
    .unwrap();
    let (_, r) = home.json(&["--offline"]);
    let f = findings(&r, "key.format")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/mlcloud.ppk")
        .expect("key.format for the .ppk");
    let command = f["remedy"]["command"].as_str().unwrap();
    assert!(command.ends_with("-o ~/.ssh/mlcloud"), "{command}");
}

#[test]
fn a_private_key_in_the_pub_file_is_named_and_never_bundled() {
    let keys = fixtures().join("keys");
    let private = std::fs::read(keys.join("ed25519_plain")).unwrap();
    // The key and a readable .pub that holds the private key too.
    let home = home_with("ed25519_plain");
    home.write(
        ".ssh/id_mlcloud.pub",
        std::str::from_utf8(&private).unwrap(),
    );
    home.chmod(".ssh/id_mlcloud.pub", 0o644);
    let r = run(&home);
    let f = of(&r, "key.public-match");
    assert_eq!(f["severity"], "fail", "{f}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("holds a PRIVATE key") && summary.contains("0644"),
        "{f}"
    );
    let cmd = f["remedy"]["command"].as_str().unwrap();
    assert!(
        cmd.starts_with("chmod 600 ~/.ssh/id_mlcloud.pub && mv "),
        "{cmd}"
    );

    // The two files swapped: not "no key", but the swap, with the commands to undo it.
    let swapped = home_with("ed25519_plain");
    let public = std::fs::read_to_string(keys.join("ed25519_plain.pub")).unwrap();
    swapped.write(".ssh/id_mlcloud", &public);
    swapped.write(
        ".ssh/id_mlcloud.pub",
        std::str::from_utf8(&private).unwrap(),
    );
    let bundle = swapped.path().join("b.zip");
    let out = swapped
        .cmd(&[
            "--json",
            "--offline",
            "--no-openssh",
            "--node",
            "slurm",
            "--bundle",
            bundle.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r = parse_report(&out);
    let f = of(&r, "key.format");
    assert!(
        f["summary"].as_str().unwrap().contains("are swapped"),
        "{f}"
    );
    let ids = diagnosis_ids(&r);
    assert!(!ids.contains(&"diagnosis.no-key"), "{ids:?}");
    for (name, text) in read_zip_text(&bundle) {
        assert!(
            !text.contains("PRIVATE KEY"),
            "{name} holds the private key"
        );
    }
}

/// The private key saved only under its `.pub` name, none under the name ssh reads: the
/// fix is renaming it back. A new key of that name would overwrite it (`ssh-keygen`
/// replaces a `.pub` without asking), so none is suggested there.
#[test]
fn a_private_key_only_under_its_pub_name_is_renamed_back_never_overwritten() {
    let keys = fixtures().join("keys");
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    std::fs::copy(keys.join("ed25519_100"), home.ssh().join("id_ed25519.pub")).unwrap();
    home.chmod(".ssh/id_ed25519.pub", 0o600);
    let bundle = home.path().join("b.zip");
    let out = home
        .cmd(&["--json", "--offline", "--bundle", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    let r = parse_report(&out);
    let f = findings(&r, "key.format")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_ed25519.pub")
        .unwrap_or_else(|| panic!("no key.format for the .pub: {r}"));
    assert_eq!(f["severity"], "fail", "{f}");
    let cmd = f["remedy"]["command"].as_str().unwrap();
    assert_eq!(
        cmd,
        "mv -n ~/.ssh/id_ed25519.pub ~/.ssh/id_ed25519 && chmod 600 ~/.ssh/id_ed25519"
    );
    let d = &r["diagnosis"][0];
    assert_eq!(d["id"], "diagnosis.no-key", "{d}");
    assert_eq!(d["steps"][0]["command"], cmd, "{d}");
    // No step anywhere creates a key at the name whose .pub holds the private key.
    let text = r.to_string();
    assert!(!text.contains("-f ~/.ssh/id_ed25519 "), "{text}");
    assert!(!text.contains("-f ~/.ssh/id_ed25519\""), "{text}");
    for (name, text) in read_zip_text(&bundle) {
        assert!(
            !text.contains("PRIVATE KEY"),
            "{name} holds the private key"
        );
    }
    // Pasted, it gives the key back; the next run finds it and asks only for its .pub.
    let ran = Command::new("sh")
        .args(["-c", cmd])
        .env("HOME", home.path())
        .status()
        .unwrap();
    assert!(ran.success());
    let (_, r) = home.json(&["--offline"]);
    assert!(diagnosis_ids(&r).iter().all(|id| *id != "diagnosis.no-key"));
    let m = findings(&r, "key.public-match")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_ed25519")
        .unwrap();
    assert!(m["summary"].as_str().unwrap().contains("missing"), "{m}");

    // Named by IdentityFile, beside an unrelated key: still the rename, not "point
    // IdentityFile at the other key".
    let named = home_with("ed25519_100");
    std::fs::rename(
        named.ssh().join("id_mlcloud"),
        named.ssh().join("id_mlcloud.pub"),
    )
    .unwrap();
    named.key("rsa4096_enc", "id_rsa");
    let r = run(&named);
    let d = &r["diagnosis"][0];
    assert_eq!(
        d["steps"][0]["command"],
        "mv -n ~/.ssh/id_mlcloud.pub ~/.ssh/id_mlcloud && chmod 600 ~/.ssh/id_mlcloud",
        "{d}"
    );
}

/// Recreating a `.pub` with the wrong passphrase leaves the old `.pub` as it was (`>`
/// emptied it before ssh-keygen asked).
#[test]
fn a_failed_recreate_keeps_the_pub() {
    let home = home_with("ed25519_mismatch");
    let before = std::fs::read(home.ssh().join("id_mlcloud.pub")).unwrap();
    let r = run(&home);
    let f = of(&r, "key.public-match");
    assert_eq!(f["severity"], "fail", "{f}");
    let cmd = f["remedy"]["command"].as_str().unwrap();
    // No terminal and no passphrase: ssh-keygen fails.
    let ran = paste(&home, cmd);
    assert!(!ran.status.success(), "{cmd}: ssh-keygen did not fail");
    assert!(!home.ssh().join("id_mlcloud.pub.new").exists());
    assert_eq!(
        std::fs::read(home.ssh().join("id_mlcloud.pub")).unwrap(),
        before
    );
}

/// Commands that move or rewrite files next to key material never destroy it: a `.pub`
/// the doctor cannot read is moved aside, not recreated over; a private key in the `.pub`
/// goes to a free name; an empty key file in the way of the key under its `.pub` name is
/// moved aside first.
#[test]
fn files_beside_keys_are_moved_aside_never_overwritten() {
    let keys = fixtures().join("keys");
    let private = std::fs::read_to_string(keys.join("rsa4096_plain")).unwrap();
    let sh = |home: &TestHome, cmd: &str| {
        assert!(paste(home, cmd).status.success(), "`{cmd}` failed");
    };

    // A .pub that is no public key the doctor reads (a private key after a blank line).
    let home = home_with("ed25519_plain");
    let odd = format!("\n{private}");
    home.write(".ssh/id_mlcloud.pub", &odd);
    let r = run(&home);
    let f = of(&r, "key.public-match");
    assert!(!f["summary"].as_str().unwrap().contains("missing"), "{f}");
    let cmd = f["remedy"]["command"].as_str().unwrap().to_string();
    assert_eq!(
        cmd,
        "mv -n ~/.ssh/id_mlcloud.pub ~/.ssh/id_mlcloud.pub.unknown"
    );
    sh(&home, &cmd);
    let kept = std::fs::read_to_string(home.ssh().join("id_mlcloud.pub.unknown")).unwrap();
    assert_eq!(kept, odd);

    // A private key in the .pub, with `.was-private` taken by an older one.
    let home = home_with("ed25519_plain");
    home.write(".ssh/id_mlcloud.pub", &private);
    home.write(".ssh/id_mlcloud.pub.was-private", "older");
    let r = run(&home);
    let f = of(&r, "key.public-match");
    let cmd = f["remedy"]["command"].as_str().unwrap();
    assert!(
        cmd.contains("mv -n ~/.ssh/id_mlcloud.pub ~/.ssh/id_mlcloud.pub.was-private-2 "),
        "{cmd}"
    );

    // An empty file where the key belongs, the key under the .pub name.
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    home.write(".ssh/id_ed25519", "");
    home.write(".ssh/id_ed25519.pub", &private);
    home.chmod(".ssh/id_ed25519.pub", 0o600);
    let (_, r) = home.json(&["--offline"]);
    let step = r["diagnosis"][0]["steps"][0]["command"].as_str().unwrap();
    sh(&home, step);
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("id_ed25519")).unwrap(),
        private
    );
    assert!(home.ssh().join("id_ed25519.broken").exists());
    assert_eq!(home.mode(".ssh/id_ed25519"), 0o600);
}

/// A remedy pasted into `sh` in `home`: a bare environment (no askpass, no agent), no
/// terminal and nothing on stdin (so no passphrase).
fn paste(home: &TestHome, cmd: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", cmd])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A `.pub` that holds a private key ssh does not use under that name (a copy, a
/// backup): named once, made private and kept aside by the command; a pair already
/// reported beside its key is not named twice.
#[test]
fn a_private_key_in_a_stray_pub_file_is_named_once() {
    let keys = fixtures().join("keys");
    let private = std::fs::read_to_string(keys.join("rsa4096_plain")).unwrap();
    let home = home_with("ed25519_plain");
    home.write(".ssh/backup.pub", &private);
    home.chmod(".ssh/backup.pub", 0o644);
    // A pair: the private key in id_mlcloud.pub is reported with the key already.
    home.write(".ssh/id_mlcloud.pub", &private);
    let r = run(&home);
    let stray: Vec<&Value> = findings(&r, "key.format")
        .into_iter()
        .filter(|f| f["subject"].as_str().unwrap().ends_with(".pub"))
        .collect();
    assert_eq!(stray.len(), 1, "{stray:?}");
    let f = stray[0];
    assert_eq!(f["subject"], "~/.ssh/backup.pub", "{f}");
    assert_eq!(f["severity"], "warn", "{f}");
    let cmd = f["remedy"]["command"].as_str().unwrap();
    assert_eq!(
        cmd,
        "chmod 600 ~/.ssh/backup.pub && mv -n ~/.ssh/backup.pub ~/.ssh/backup.pub.was-private"
    );
    assert!(paste(&home, cmd).status.success());
    assert_eq!(home.mode(".ssh/backup.pub.was-private"), 0o600);
    let r = run(&home);
    assert!(findings(&r, "key.format")
        .iter()
        .all(|f| f["subject"] != "~/.ssh/backup.pub"));
}
