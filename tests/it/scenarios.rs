//! The finished report, as a researcher reads it: for each scenario the first lines name
//! the right cause and the commands that fix it. Snapshots of the human output (machine
//! details filtered) and the ranked diagnosis ids.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;

const GUIDE: &str = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n";

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
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut json_args = all.clone();
    json_args.push("--json");
    let report = parse_report(&home.cmd(&json_args).output().unwrap());
    let ids: Vec<&str> = report["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.first().copied(), Some(first), "{name}: {ids:?}\n{text}");
    // The cause leads the report: right after the title.
    let lead = text.lines().nth(2).unwrap_or("");
    assert!(lead.starts_with("Most likely: "), "{name}: {lead}");
    let filtered: String = text
        .lines()
        .map(|l| {
            if l.starts_with("mlc-doctor ") {
                "mlc-doctor [version] · [profile] · [time]".to_string()
            } else if l.contains("[env.os]") {
                "  i [the operating system]  [env.os]".to_string()
            } else {
                l.replace(&home.path().display().to_string(), "[home]")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let login = mlc_doctor::platform::login_name().unwrap_or_default();
    let filtered = if login.len() >= 3 {
        regex::Regex::new(&format!(r"\b{}\b", regex::escape(&login)))
            .unwrap()
            .replace_all(&filtered, "[login]")
            .to_string()
    } else {
        filtered
    };
    let filtered = regex_lite_ports(&filtered);
    insta::assert_snapshot!(name, filtered);
}

/// Loopback ports and fingerprints differ on every run.
fn regex_lite_ports(text: &str) -> String {
    let re =
        regex::Regex::new(r"\[?127\.0\.0\.1\]?:\d+|SHA256:[A-Za-z0-9+/]{43}|\(\d+ ms\)|Port \d+")
            .unwrap();
    re.replace_all(text, "[varies]").to_string()
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

fn live(sshd: &Sshd, h: &TestHome) -> std::path::PathBuf {
    let login = mlc_doctor::platform::login_name().unwrap();
    h.write(".ssh/config", format!("Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {login}\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n", sshd.port));
    loopback_profile(h.path(), &[("slurm", "127.0.0.1", sshd.port)], "")
}

#[test]
fn key_not_deployed_live() {
    let sshd = Sshd::start(&[fixture_pub("rsa4096_enc")], "");
    let h = home(None, Some("ed25519_100"));
    let p = live(&sshd, &h);
    h.write(".ssh/known_hosts", sshd.known_hosts_line());
    scenario(
        "key_not_deployed_live",
        &h,
        &["--profile", p.to_str().unwrap()],
        "diagnosis.key-not-deployed",
    );
}

#[test]
fn host_key_changed_live() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let h = home(None, Some("ed25519_100"));
    let p = live(&sshd, &h);
    h.write(
        ".ssh/known_hosts",
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port,
            fixture_pub("ed25519_16")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    scenario(
        "host_key_changed_live",
        &h,
        &["--profile", p.to_str().unwrap()],
        "diagnosis.host-key-changed",
    );
}

#[test]
fn healthy_live() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let h = home(None, Some("ed25519_100"));
    let p = live(&sshd, &h);
    h.write(".ssh/known_hosts", sshd.known_hosts_line());
    scenario(
        "healthy_live",
        &h,
        &["--profile", p.to_str().unwrap()],
        "diagnosis.healthy",
    );
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
