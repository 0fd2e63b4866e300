//! Inputs that must never make the doctor panic, hang or read what it should not: huge
//! and exploding configs, crowded ~/.ssh, FIFOs and devices, directories in place of
//! files, non-UTF-8 names, a home that is a symlink.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use crate::common::*;

fn timed(home: &TestHome, args: &[&str]) -> (serde_json::Value, Duration) {
    let mut all = vec!["--offline", "--json", "--no-bundle"];
    all.extend_from_slice(args);
    let started = Instant::now();
    let out = home.cmd(&all).output().unwrap();
    let took = started.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    (parse_report(&out), took)
}

#[test]
fn a_100_mb_config_is_refused_quickly() {
    let home = TestHome::new();
    let f = std::fs::File::create(home.ssh().join("config")).unwrap();
    f.set_len(100 * 1024 * 1024).unwrap();
    let (r, took) = timed(&home, &[]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(findings(&r, "config.syntax")
        .iter()
        .any(|f| f["severity"] == "fail"));
}

#[test]
fn a_config_including_10000_files() {
    let home = TestHome::new();
    home.write(".ssh/config", format!("Include conf.d/*\n{GUIDE}"));
    let dir = home.ssh().join("conf.d");
    std::fs::create_dir(&dir).unwrap();
    for i in 0..10_000 {
        std::fs::write(
            dir.join(format!("host{i:05}")),
            format!("Host h{i}\n  Port {}\n", 1000 + i % 50000),
        )
        .unwrap();
    }
    let (r, took) = timed(&home, &["--no-openssh", "--node", "slurm"]);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(worst(&r, "config.user"), "pass");
    // Past 1 000 files the rest is not read, and the report says so: the doctor's limit,
    // not OpenSSH's, so no "ssh fails for every host".
    assert_eq!(worst(&r, "config.include"), "warn");
    let include = findings(&r, "config.include");
    assert!(
        include
            .iter()
            .any(|f| f["summary"].as_str().unwrap().contains("after 1000 files")),
        "{include:?}"
    );
    assert_ne!(r["diagnosis"][0]["id"], "diagnosis.config-broken");
}

#[test]
fn a_text_config_over_the_size_cap_is_not_called_broken() {
    // OpenSSH reads it; the doctor reads 1 MiB and says what it did not check.
    let home = TestHome::new();
    let mut text = String::from(GUIDE);
    while text.len() <= 1 << 20 {
        text.push_str("# a long comment line to make the file larger than the doctor reads\n");
    }
    home.write(".ssh/config", text);
    let (r, took) = timed(&home, &["--no-openssh"]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(worst(&r, "config.syntax"), "warn");
    let syntax = findings(&r, "config.syntax");
    assert!(
        syntax[0]["summary"]
            .as_str()
            .unwrap()
            .contains("larger than the doctor reads"),
        "{syntax:?}"
    );
    let diagnosed: Vec<&str> = r["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(
        !diagnosed.contains(&"diagnosis.config-broken")
            && !diagnosed.contains(&"diagnosis.no-config"),
        "{diagnosed:?}"
    );
    assert_eq!(worst(&r, "config.alias"), "skip");
}

#[test]
fn a_dot_ssh_with_10000_entries() {
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    home.key("ed25519_100", "id_ed25519");
    for i in 0..10_000 {
        std::fs::write(home.ssh().join(format!("junk{i:05}")), b"not a key\n").unwrap();
    }
    let (r, took) = timed(&home, &["--no-openssh"]);
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(severity(&r, "key.present"), "pass");
}

#[test]
fn fifos_devices_and_directories_are_never_read() {
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    home.key("ed25519_100", "id_ed25519");
    assert!(std::process::Command::new("mkfifo")
        .arg(home.ssh().join("id_rsa"))
        .status()
        .unwrap()
        .success());
    std::os::unix::fs::symlink("/dev/zero", home.ssh().join("id_ecdsa")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", home.ssh().join("known_hosts")).unwrap();
    std::fs::create_dir(home.ssh().join("id_dsa")).unwrap();
    let (r, took) = timed(&home, &["--no-openssh"]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(severity(&r, "key.present"), "pass");

    // The config itself as a FIFO or a directory.
    std::fs::remove_file(home.ssh().join("config")).unwrap();
    assert!(std::process::Command::new("mkfifo")
        .arg(home.ssh().join("config"))
        .status()
        .unwrap()
        .success());
    let (r, took) = timed(&home, &["--no-openssh"]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(severity(&r, "config.present"), "fail");
    std::fs::remove_file(home.ssh().join("config")).unwrap();
    std::fs::create_dir(home.ssh().join("config")).unwrap();
    let (r, _) = timed(&home, &["--no-openssh"]);
    // OpenSSH reads a directory there as an empty config (checked with OpenSSH 9.2): not
    // a refusal, but no setting applies.
    let f = finding(&r, "config.present");
    assert_eq!(f["severity"], "warn", "{f}");
    assert_eq!(f["evidence"]["error"], "is a directory", "{f}");
    assert!(
        f["summary"].as_str().unwrap().contains("empty config"),
        "{f}"
    );
}

#[test]
fn non_utf8_names_and_a_symlinked_home() {
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    home.key("ed25519_100", "id_ed25519");
    let odd = home
        .ssh()
        .join(std::ffi::OsStr::from_bytes(b"key-\xff\xfe"));
    std::fs::copy(fixtures().join("keys/ed25519_plain"), &odd).unwrap();
    let odd_pub = home
        .ssh()
        .join(std::ffi::OsStr::from_bytes(b"key-\xff\xfe.pub"));
    std::fs::copy(fixtures().join("keys/ed25519_plain.pub"), &odd_pub).unwrap();
    let (r, _) = timed(&home, &["--no-openssh"]);
    assert!(findings(&r, "key.format").len() >= 2);
    // Its .pub, whose name is not UTF-8 either, is found and matches.
    let matches = findings(&r, "key.public-match");
    assert!(
        matches.iter().all(|f| f["severity"] == "pass"),
        "{matches:?}"
    );
    assert!(matches.len() >= 2, "{matches:?}");
    std::fs::remove_file(&odd_pub).unwrap();

    let outer = tempfile::tempdir().unwrap();
    let weird = outer.path().join(std::ffi::OsStr::from_bytes(b"home-\xe9"));
    std::os::unix::fs::symlink(home.path(), &weird).unwrap();
    let out = doctor()
        .arg("--home")
        .arg(&weird)
        .args([
            "--offline",
            "--json",
            "--no-bundle",
            "--no-openssh",
            "--node",
            "slurm",
        ])
        .output()
        .unwrap();
    let r = parse_report(&out);
    assert_eq!(worst(&r, "config.user"), "pass");
    // `~/.ssh/id_ed25519` under a home whose name is not UTF-8 is the same file.
    assert_eq!(worst(&r, "config.identity-file"), "pass", "{r}");
    let ids = diagnosis_ids(&r);
    assert!(!ids.contains(&"diagnosis.identity-missing"), "{ids:?}");
    // The suggested run cannot write that path: a placeholder, never another path; the
    // .pub beside the key is named as the key is (`~/…`).
    let steps = r["diagnosis"][0]["steps"].as_array().unwrap();
    let rerun = steps[0]["command"].as_str().unwrap();
    assert_eq!(rerun, "mlc-doctor <this run's options>", "{steps:?}");
    // The .pub of `~/.ssh/id_ed25519` under that home is found (it was looked for under a
    // lossy name, and its recreation was suggested at a path that does not exist).
    let id = findings(&r, "key.public-match")
        .into_iter()
        .find(|f| f["subject"] == "~/.ssh/id_ed25519")
        .unwrap();
    assert_eq!(id["severity"], "pass", "{id}");
    assert!(
        !steps.iter().any(|s| s["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("ssh-keygen -y"))),
        "{steps:?}"
    );

    // A key others may read: its chmod cannot be written for that home.
    home.chmod(".ssh/id_ed25519", 0o644);
    let offline = |cmd: &mut std::process::Command| {
        parse_report(
            &cmd.args(["--offline", "--json", "--no-bundle", "--no-openssh"])
                .output()
                .unwrap(),
        )
    };
    let r = offline(doctor().arg("--home").arg(&weird));
    // No command names the home by a lossy spelling (HOME is unset: the shell's `~` is
    // the account's home, so commands would have to spell this one in full): none is
    // offered (a placeholder in a pasted `mkdir -p` would make a directory here).
    let perm = &findings(&r, "perm.private-key")[0];
    assert_eq!(perm["severity"], "fail", "{perm}");
    assert!(perm["remedy"]["command"].is_null(), "{perm}");
    let why = perm["remedy"]["text"].as_str().unwrap();
    assert!(
        why.contains("given with --home cannot be written"),
        "{perm}"
    );
    // The same home as HOME, not UTF-8, and no --home: it is the home checked (it was
    // dropped, and the account's home checked instead), and commands say `~`.
    let by_home = offline(doctor().env("HOME", &weird));
    let perm = &findings(&by_home, "perm.private-key")[0];
    assert_eq!(perm["subject"], "~/.ssh/id_ed25519", "{perm}");
    assert_eq!(
        perm["remedy"]["command"], "chmod 600 ~/.ssh/id_ed25519",
        "{perm}"
    );
    let commands: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["remedy"]["command"].as_str())
        .chain(
            r["diagnosis"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|d| d["steps"].as_array().unwrap())
                .filter_map(|s| s["command"].as_str()),
        )
        .collect();
    assert!(
        commands.iter().all(|c| !c.contains('\u{FFFD}')),
        "{commands:?}"
    );
}

#[test]
fn binary_garbage_everywhere_never_panics() {
    let home = TestHome::new();
    let mut seed = 0x9E3779B97F4A7C15u64;
    let mut bytes = |n: usize| {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect::<Vec<u8>>()
    };
    for name in [
        ".ssh/config",
        ".ssh/id_ed25519",
        ".ssh/id_ed25519.pub",
        ".ssh/known_hosts",
        ".ssh/authorized_keys",
        ".ssh/id_rsa",
    ] {
        home.write(name, bytes(4096));
    }
    home.write(
        ".ssh/id_ecdsa",
        [
            b"-----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec(),
            bytes(300),
            b"\n-----END OPENSSH PRIVATE KEY-----\n".to_vec(),
        ]
        .concat(),
    );
    home.write(
        ".ssh/id_dsa",
        [
            b"PuTTY-User-Key-File-3: ssh-ed25519\nPublic-Lines: 999999\n".to_vec(),
            bytes(300),
        ]
        .concat(),
    );
    let (r, _) = timed(&home, &[]);
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["evidence"].get("internal_error").is_none()),
        "a probe panicked"
    );
}

#[test]
fn a_recursive_looking_include_glob_does_not_walk_the_filesystem() {
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        format!("Include /**/*.conf\nInclude ~/**/nothing\n{GUIDE}"),
    );
    let (r, took) = timed(&home, &["--no-openssh", "--node", "slurm"]);
    assert!(took < Duration::from_secs(20), "{took:?}");
    // `~/**/nothing` (line 2) is `~/*/nothing` to OpenSSH: it matches nothing.
    assert!(
        findings(&r, "config.include")
            .iter()
            .any(|f| f["subject"] == "~/.ssh/config:2" && f["severity"] == "warn"),
        "{}",
        serde_json::to_string_pretty(&r["findings"]).unwrap()
    );
}
