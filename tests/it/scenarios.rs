//! The finished report, as a researcher reads it: for each scenario the first lines name
//! the right cause and the commands that fix it. Snapshots of the human output (machine
//! details filtered) and the ranked diagnosis ids.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;

fn scenario(name: &str, home: &TestHome, args: &[&str], first: &str) {
    let mut all = vec![
        "--no-bundle",
        "--no-openssh",
        "--color",
        "never",
        "--node",
        "slurm",
    ];
    all.extend_from_slice(args);
    if !args.contains(&"--profile") {
        all.push("--offline");
    }
    let out = home.cmd(&all).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let mut json_args = all.clone();
    json_args.push("--json");
    let json = parse_report(&home.cmd(&json_args).output().unwrap());
    let ids = diagnosis_ids(&json);
    assert_eq!(
        ids.first().copied(),
        Some(first),
        "{name}: {ids:?}\n{report}"
    );
    // The cause leads the report: right after the title.
    let lead = report.lines().nth(2).unwrap_or("");
    assert!(lead.starts_with("Most likely: "), "{name}: {lead}");
    let mut settings = home.snapshot_settings();
    // The title names the version, the profile and the time; the OS line the machine.
    settings.add_filter(
        r"(?m)^mlc-doctor .*$",
        "mlc-doctor [version] · [profile] · [time]",
    );
    settings.add_filter(
        r"(?m)^.*\[env\.os\].*$",
        "  i [the operating system]  [env.os]",
    );
    let login = login();
    if login.len() >= 3 {
        settings.add_filter(&format!(r"\b{}\b", regex::escape(&login)), "[login]");
    }
    // Loopback ports, fingerprints and timings differ on every run.
    settings.add_filter(
        r"\[?127\.0\.0\.1\]?:\d+|SHA256:[A-Za-z0-9+/]{43}|\(\d+ ms\)|Port \d+",
        "[varies]",
    );
    settings.bind(|| insta::assert_snapshot!(name, report));
}

fn home(config: Option<&str>, key: Option<&str>) -> TestHome {
    let h = TestHome::new();
    if let Some(c) = config {
        h.write(".ssh/config", c);
    }
    if let Some(k) = key {
        h.key(k, "id_ed25519");
    }
    h
}

#[test]
fn healthy_offline() {
    scenario(
        "healthy_offline",
        &home(Some(GUIDE), Some("ed25519_100")),
        &[],
        "diagnosis.healthy",
    );
}

#[test]
fn no_config() {
    scenario(
        "no_config",
        &home(None, Some("ed25519_100")),
        &[],
        "diagnosis.no-config",
    );
}

#[test]
fn placeholder_user() {
    scenario(
        "placeholder_user",
        &home(
            Some(&GUIDE.replace("pbb111", "ml-cloud-user-id")),
            Some("ed25519_100"),
        ),
        &[],
        "diagnosis.wrong-user",
    );
}

#[test]
fn config_typo() {
    scenario(
        "config_typo",
        &home(
            Some(&GUIDE.replace("IdentitiesOnly", "IdentitesOnly")),
            Some("ed25519_100"),
        ),
        &[],
        "diagnosis.config-broken",
    );
}

#[test]
fn config_saved_with_bom() {
    let h = home(None, Some("ed25519_100"));
    h.write(
        ".ssh/config",
        [b"\xEF\xBB\xBF".as_slice(), GUIDE.as_bytes()].concat(),
    );
    scenario("config_saved_with_bom", &h, &[], "diagnosis.config-broken");
}

#[test]
fn config_writable_by_group() {
    let h = home(Some(GUIDE), Some("ed25519_100"));
    h.chmod(".ssh/config", 0o664);
    scenario(
        "config_writable_by_group",
        &h,
        &[],
        "diagnosis.config-broken",
    );
}

#[test]
fn key_without_passphrase() {
    scenario(
        "key_without_passphrase",
        &home(Some(GUIDE), Some("ed25519_plain")),
        &[],
        "diagnosis.key-policy",
    );
}

#[test]
fn key_readable_by_others() {
    let h = home(Some(GUIDE), Some("ed25519_100"));
    h.chmod(".ssh/id_ed25519", 0o644);
    scenario(
        "key_readable_by_others",
        &h,
        &[],
        "diagnosis.key-refused-locally",
    );
}

#[test]
fn putty_key_given_to_openssh() {
    scenario(
        "putty_key_given_to_openssh",
        &home(Some(GUIDE), Some("putty_v3_enc.ppk")),
        &[],
        "diagnosis.key-refused-locally",
    );
}

#[test]
fn rsa_2048_key() {
    scenario(
        "rsa_2048_key",
        &home(Some(GUIDE), Some("rsa2048_enc")),
        &[],
        "diagnosis.key-policy",
    );
}

#[test]
fn host_star_overrides_user() {
    scenario(
        "host_star_overrides_user",
        &home(
            Some(&format!("Host *\n  User jane\n\n{GUIDE}")),
            Some("ed25519_100"),
        ),
        &[],
        "diagnosis.wrong-user",
    );
}

#[test]
fn batchmode_blocks_totp() {
    scenario(
        "batchmode_blocks_totp",
        &home(
            Some(&format!("{GUIDE}  BatchMode yes\n")),
            Some("ed25519_100"),
        ),
        &[],
        "diagnosis.second-factor-blocked",
    );
}

#[test]
fn no_key_at_all() {
    scenario(
        "no_key_at_all",
        &home(Some(GUIDE), None),
        &[],
        "diagnosis.no-key",
    );
}

/// The live scenarios: a loopback sshd that accepts one fixture key, a home with the
/// guide's block pointed at it and `ed25519_100`, and a known_hosts line.
#[test]
fn live_scenarios() {
    type Case = (
        &'static str,
        &'static str,
        fn(&Sshd) -> String,
        &'static str,
    );
    let cases: [Case; 3] = [
        (
            "key_not_deployed_live",
            "rsa4096_enc",
            Sshd::known_hosts_line,
            "diagnosis.key-not-deployed",
        ),
        (
            "host_key_changed_live",
            "ed25519_100",
            // Another key for the same [127.0.0.1]:port.
            |sshd| {
                let other = fixture_pub("ed25519_16");
                let other: Vec<&str> = other.split_whitespace().take(2).collect();
                format!("[127.0.0.1]:{} {}\n", sshd.port, other.join(" "))
            },
            "diagnosis.host-key-changed",
        ),
        (
            "healthy_live",
            "ed25519_100",
            Sshd::known_hosts_line,
            "diagnosis.healthy",
        ),
    ];
    for (name, deployed, known_hosts, first) in cases {
        let sshd = Sshd::start(&[fixture_pub(deployed)], "");
        let h = home(None, Some("ed25519_100"));
        h.write(
            ".ssh/config",
            loopback_host(
                sshd.port,
                "  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n",
            ),
        );
        h.write(".ssh/known_hosts", known_hosts(&sshd));
        let profile = sshd.profile(&h, "");
        scenario(name, &h, &["--profile", profile.to_str().unwrap()], first);
    }
}

#[test]
fn binary_config() {
    let h = home(None, Some("ed25519_100"));
    h.write(
        ".ssh/config",
        (0..4000u32)
            .map(|i| (i * 97 % 256) as u8)
            .collect::<Vec<_>>(),
    );
    scenario("binary_config", &h, &[], "diagnosis.config-broken");
}

#[test]
fn fresh_user_with_user_given() {
    scenario(
        "fresh_user_with_user_given",
        &home(None, None),
        &["--user", "pbb111"],
        "diagnosis.no-key",
    );
}
