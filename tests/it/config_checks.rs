//! `config.*` and `perm.*` (but perm.private-key) on temp homes, each triggered and not.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use crate::common::*;
use serde_json::{json, Value};

fn run(home: &TestHome) -> Value {
    home.json(&["--offline", "--no-openssh", "--node", "slurm"])
        .1
}

/// A home with `config` and the guide's key.
fn with_config(config: &str) -> TestHome {
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    home
}

fn summaries(report: &Value, id: &str) -> String {
    findings(report, id)
        .iter()
        .map(|f| format!("{} {}", f["severity"], f["summary"]))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_good_config_passes_every_config_check() {
    let home = with_config(GUIDE);
    let r = run(&home);
    for id in [
        "config.present",
        "config.syntax",
        "config.alias",
        "config.hostname",
        "config.user",
        "config.identity-file",
        "config.precedence",
        "config.auth-override",
    ] {
        assert_eq!(worst(&r, id), "pass", "{id}: {}", summaries(&r, id));
    }
    assert!(findings(&r, "config.include").is_empty());
    assert_eq!(r["nodes"][0]["user"], "pbb111");
}

#[test]
fn missing_config_prints_the_block_to_paste() {
    let home = TestHome::new();
    home.key("ed25519_100", "id_ed25519_mlcloud");
    let r = run(&home);
    assert_eq!(severity(&r, "config.present"), "warn");
    let cmd = findings(&r, "config.present")[0]["remedy"]["command"]
        .as_str()
        .unwrap();
    assert!(
        cmd.contains("Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de"),
        "{cmd}"
    );
    assert!(
        cmd.contains("IdentityFile ~/.ssh/id_ed25519_mlcloud"),
        "the block should name the user's key: {cmd}"
    );
    assert!(findings(&r, "config.alias").is_empty());
}

#[test]
fn syntax_errors_name_file_line_and_the_nearest_keyword() {
    let home = with_config(&GUIDE.replace("IdentityFile", "IdentityFlie"));
    let r = run(&home);
    assert_eq!(worst(&r, "config.syntax"), "fail");
    let f = findings(&r, "config.syntax")[0];
    assert_eq!(f["subject"], "~/.ssh/config:4");
    // The suggestion is only in the words.
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("did you mean `IdentityFile`"),
        "{f}"
    );
    assert_eq!(f["evidence"]["line"], 4);
}

#[test]
fn bom_utf16_and_binary_configs_fail_clearly() {
    let home = with_config("");
    home.write(
        ".ssh/config",
        [b"\xEF\xBB\xBF".as_slice(), GUIDE.as_bytes()].concat(),
    );
    let r = run(&home);
    assert_eq!(worst(&r, "config.syntax"), "fail");
    let f = finding(&r, "config.syntax");
    assert_eq!(f["evidence"]["line"], 1, "{f}");
    // Only the words tell a byte-order mark from another bad first line.
    assert!(
        summaries(&r, "config.syntax").contains("byte-order mark"),
        "{}",
        summaries(&r, "config.syntax")
    );
    // The rest of the file is still evaluated.
    assert_eq!(worst(&r, "config.user"), "pass");

    let utf16: Vec<u8> = format!("\u{feff}{GUIDE}")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    home.write(".ssh/config", utf16);
    let r = run(&home);
    assert_eq!(worst(&r, "config.syntax"), "fail");
    let cmd = finding(&r, "config.syntax")["remedy"]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cmd.contains("iconv -f UTF-16"), "{cmd}");

    home.write(".ssh/config", b"Host slurm\n\x00\x01\x02\x03\xff\n");
    let r = run(&home);
    assert_eq!(worst(&r, "config.syntax"), "fail");
    // Binary: the whole file is the finding (no line in its subject), set aside whole.
    let f = finding(&r, "config.syntax");
    assert_eq!(f["subject"], "~/.ssh/config", "{f}");
    assert_eq!(f["evidence"]["line"], 2, "{f}");
    assert_eq!(
        f["remedy"]["command"], "mv -n ~/.ssh/config ~/.ssh/config.broken",
        "{f}"
    );
}

#[test]
fn crlf_configs_are_accepted() {
    let home = with_config(&GUIDE.replace('\n', "\r\n"));
    let r = run(&home);
    assert_eq!(worst(&r, "config.syntax"), "pass");
    assert_eq!(worst(&r, "config.user"), "pass");
}

#[test]
fn include_problems() {
    let home = with_config("Include conf.d/*.conf\nInclude missing/*\n");
    home.write(".ssh/conf.d/nodes.conf", GUIDE);
    home.write(".ssh/conf.d/loop.conf", "Include ~/.ssh/config\n");
    let r = run(&home);
    let mut found: Vec<(&str, &str)> = findings(&r, "config.include")
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap(),
                f["subject"].as_str().unwrap(),
            )
        })
        .collect();
    found.sort();
    // The loop where it closes; the glob that matches nothing where it is.
    assert_eq!(
        found,
        [
            ("fail", "~/.ssh/conf.d/loop.conf:1"),
            ("warn", "~/.ssh/config:2")
        ],
        "{}",
        summaries(&r, "config.include")
    );
    // Settings from the included file are in effect.
    assert_eq!(worst(&r, "config.user"), "pass");

    let home = with_config("Include conf.d/*.conf\n");
    home.write(".ssh/conf.d/nodes.conf", GUIDE);
    let r = run(&home);
    assert_eq!(
        worst(&r, "config.include"),
        "pass",
        "{}",
        summaries(&r, "config.include")
    );
}

#[test]
fn undefined_alias_and_missing_hostname() {
    let home = with_config("Host other\n  User pbb111\n");
    let r = run(&home);
    assert_eq!(worst(&r, "config.alias"), "warn");
    let home = with_config("Host slurm\n  User pbb111\n");
    let r = run(&home);
    assert_eq!(worst(&r, "config.alias"), "pass");
    assert_eq!(worst(&r, "config.hostname"), "fail");
    let home = with_config(&GUIDE.replace("galvani-login.", "galvani-old."));
    let r = run(&home);
    assert_eq!(worst(&r, "config.hostname"), "warn");
    assert_eq!(
        r["nodes"][0]["hostname"], "galvani-old.mlcloud.uni-tuebingen.de",
        "the config's HostName is what is probed"
    );
}

#[test]
fn user_placeholders_email_missing_and_pattern() {
    for (user, expected) in [
        ("ml-cloud-user-id", "fail"),
        ("ml_cloud_user_id", "fail"),
        ("<username>", "fail"),
        ("jane@uni-tuebingen.de", "fail"),
        ("JaneDoe", "warn"),
        ("pbb111", "pass"),
    ] {
        let home = with_config(&GUIDE.replace("pbb111", user));
        let r = run(&home);
        assert_eq!(
            worst(&r, "config.user"),
            expected,
            "{user}: {}",
            summaries(&r, "config.user")
        );
    }
    let home = with_config(&GUIDE.replace("  User pbb111\n", ""));
    let r = run(&home);
    assert_eq!(worst(&r, "config.user"), "warn");
    // ssh would send the local login name.
    let f = finding(&r, "config.user");
    assert_eq!(f["evidence"]["sent"], login(), "{f}");
}

#[test]
fn identity_file_problems() {
    let home = with_config(&GUIDE.replace("id_ed25519\n", "id_missing\n"));
    let r = run(&home);
    assert_eq!(worst(&r, "config.identity-file"), "fail");
    let home = with_config(&GUIDE.replace("id_ed25519\n", "id_ed25519.pub\n"));
    let r = run(&home);
    assert_eq!(worst(&r, "config.identity-file"), "fail");
    let f = finding(&r, "config.identity-file");
    assert_eq!(f["evidence"]["at"], "~/.ssh/config:4", "{f}");
    // Only the words tell a public key from a missing file.
    assert!(summaries(&r, "config.identity-file").contains("public key"));
    // A repeated line is one key to OpenSSH; a second file is a second key.
    let home = with_config(&format!("{GUIDE}  IdentityFile ~/.ssh/id_ed25519\n"));
    assert_eq!(worst(&run(&home), "config.identity-file"), "pass");
    let home = with_config(&format!("{GUIDE}  IdentityFile ~/.ssh/id_other\n"));
    home.key("ed25519_16", "id_other");
    let r = run(&home);
    assert_eq!(worst(&r, "config.identity-file"), "warn");
}

#[test]
fn host_star_first_overrides_the_alias_block() {
    let home = with_config(&format!("Host *\n  User localname\n\n{GUIDE}"));
    let r = run(&home);
    assert_eq!(worst(&r, "config.precedence"), "warn");
    let f = finding(&r, "config.precedence");
    assert_eq!(
        f["evidence"]["winner"],
        json!({"at": "~/.ssh/config:2", "value": "localname"}),
        "{f}"
    );
    assert_eq!(
        f["evidence"]["overridden"],
        json!({"at": "~/.ssh/config:6", "value": "pbb111"}),
        "{f}"
    );
    assert_eq!(
        r["nodes"][0]["user"], "localname",
        "what ssh would really send"
    );
    let home = with_config(&format!("{GUIDE}\nHost *\n  User localname\n"));
    assert_eq!(worst(&run(&home), "config.precedence"), "pass");
}

#[test]
fn settings_that_block_the_totp_prompt() {
    for extra in [
        "  BatchMode yes\n",
        "  KbdInteractiveAuthentication no\n",
        "  PreferredAuthentications publickey\n",
        "  PubkeyAuthentication no\n",
    ] {
        let home = with_config(&format!("{GUIDE}{extra}"));
        let r = run(&home);
        assert_eq!(worst(&r, "config.auth-override"), "fail", "{extra}");
    }
    let home = with_config(&format!(
        "{GUIDE}  PreferredAuthentications publickey,keyboard-interactive\n"
    ));
    assert_eq!(worst(&run(&home), "config.auth-override"), "pass");
}

#[test]
fn openssh_agrees_runs_ssh_dash_g() {
    let home = with_config(GUIDE);
    let (_, r) = home.json(&["--offline", "--node", "slurm"]);
    assert_eq!(
        severity(&r, "config.openssh-agrees"),
        "pass",
        "{}",
        summaries(&r, "config.openssh-agrees")
    );
    let home = with_config(&format!("{GUIDE}Match exec \"true\"\n  BatchMode yes\n"));
    let (_, r) = home.json(&["--offline", "--node", "slurm"]);
    assert_eq!(severity(&r, "config.openssh-agrees"), "skip");
}

#[test]
fn openssh_that_reads_differently_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_ssh(dir.path(), "if [ \"$1\" = -V ]; then echo 'OpenSSH_9.9p1' >&2; exit 0; fi\nprintf 'hostname elsewhere.example\\nport 22\\nuser pbb111\\nidentityfile ~/.ssh/id_ed25519\\nidentitiesonly yes\\nbatchmode no\\n'\n");
    let home = with_config(GUIDE);
    let (_, r) = home.json(&[
        "--offline",
        "--node",
        "slurm",
        "--ssh",
        fake.to_str().unwrap(),
    ]);
    let f = finding(&r, "config.openssh-agrees");
    assert_eq!(f["severity"], "warn", "{f}");
    let differences = f["evidence"]["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 1, "{f}");
    assert!(
        differences[0]
            .as_str()
            .unwrap()
            .contains("elsewhere.example"),
        "{f}"
    );
}

#[test]
fn permission_checks_trigger_and_pass() {
    let home = with_config(GUIDE);
    home.write(".ssh/known_hosts", "");
    home.write(".ssh/authorized_keys", "");
    let r = run(&home);
    for id in [
        "perm.home",
        "perm.ssh-dir",
        "perm.config",
        "perm.known-hosts",
        "perm.authorized-keys",
    ] {
        assert_eq!(worst(&r, id), "pass", "{id}: {}", summaries(&r, id));
    }
    assert!(!summaries(&r, "perm.ssh-dir").is_empty());

    home.chmod("", 0o777);
    home.chmod(".ssh", 0o755);
    home.chmod(".ssh/config", 0o664);
    home.chmod(".ssh/known_hosts", 0o666);
    home.chmod(".ssh/authorized_keys", 0o664);
    let r = run(&home);
    assert_eq!(worst(&r, "perm.home"), "warn");
    assert_eq!(worst(&r, "perm.ssh-dir"), "warn");
    assert_eq!(worst(&r, "perm.config"), "fail");
    assert_eq!(
        findings(&r, "perm.config")[0]["remedy"]["command"],
        "chmod 600 ~/.ssh/config"
    );
    assert_eq!(worst(&r, "perm.known-hosts"), "warn");
    assert_eq!(worst(&r, "perm.authorized-keys"), "warn");

    home.chmod(".ssh", 0o777);
    let r = run(&home);
    assert_eq!(worst(&r, "perm.ssh-dir"), "fail");
    assert_eq!(
        findings(&r, "perm.ssh-dir")[0]["remedy"]["command"],
        "chmod 700 ~/.ssh"
    );
}

#[test]
fn included_files_and_foreign_owners_are_checked() {
    let home = with_config("Include extra.conf\n");
    home.write(".ssh/extra.conf", GUIDE);
    home.chmod(".ssh/extra.conf", 0o666);
    let extra = |r: &serde_json::Value| {
        findings(r, "perm.config")
            .into_iter()
            .find(|f| f["subject"] == "~/.ssh/extra.conf")
            .cloned()
            .unwrap_or_else(|| panic!("{}", summaries(r, "perm.config")))
    };
    let f = extra(&run(&home));
    assert_eq!(f["severity"], "fail", "{f}");
    assert_eq!(f["evidence"]["mode"], "0666", "{f}");
    if mlc_doctor::platform::current_uid() == 0 {
        home.chmod(".ssh/extra.conf", 0o600);
        std::os::unix::fs::chown(home.ssh().join("extra.conf"), Some(4242), None).unwrap();
        let f = extra(&run(&home));
        assert_eq!(f["severity"], "fail", "{f}");
        assert_eq!(f["evidence"]["uid"], 4242, "{f}");
    }
}

#[test]
fn symlinks_are_followed_and_loops_reported() {
    let home = with_config(GUIDE);
    let real = home.write("dotfiles/ssh_config", GUIDE);
    std::fs::remove_file(home.ssh().join("config")).unwrap();
    std::os::unix::fs::symlink(&real, home.ssh().join("config")).unwrap();
    let r = run(&home);
    assert_eq!(worst(&r, "config.user"), "pass");
    std::fs::remove_file(home.ssh().join("config")).unwrap();
    std::os::unix::fs::symlink(home.ssh().join("config"), home.ssh().join("config")).unwrap();
    let r = run(&home);
    // No fact but the words says why the file cannot be checked.
    assert!(
        summaries(&r, "perm.config").contains("symlink loop"),
        "{}",
        summaries(&r, "perm.config")
    );
    assert_eq!(worst(&r, "config.present"), "fail");
}

#[test]
fn a_huge_config_is_not_read_and_says_so_without_hanging() {
    let home = with_config("");
    let big = "# padding line for a very large configuration file\n".repeat(120_000);
    home.write(".ssh/config", format!("{GUIDE}{big}"));
    let started = std::time::Instant::now();
    let r = run(&home);
    assert!(started.elapsed().as_secs() < 10);
    // The whole file is left unread (no line), for its size: the doctor's limit.
    assert_eq!(finding(&r, "config.syntax")["subject"], "~/.ssh/config");
    assert!(
        summaries(&r, "config.syntax").contains("larger than the doctor reads"),
        "{}",
        summaries(&r, "config.syntax")
    );
}

#[test]
fn without_a_port_line_the_doctor_goes_where_ssh_goes_port_22() {
    // The site's node listens on 2222; the config names the host but no Port.
    let home = TestHome::with_config(
        "Host slurm\n  HostName 127.0.0.1\n  User abc123\n\nHost slurm2\n  User abc123\n",
    );
    let profile = loopback_profile(
        home.path(),
        &[("slurm", "127.0.0.1", 2222), ("slurm2", "127.0.0.2", 2222)],
        "",
    );
    let (_, r) = home.json(&["--offline", "--profile", profile.to_str().unwrap()]);
    let port_of = |alias: &str| {
        r["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["alias"] == alias)
            .unwrap()["port"]
            .clone()
    };
    assert_eq!(port_of("slurm"), 22, "{}", r["nodes"]);
    // No HostName either: the block is incomplete, and the node is probed as the site has it.
    assert_eq!(port_of("slurm2"), 2222, "{}", r["nodes"]);
    assert_ne!(severity(&r, "config.openssh-agrees"), "fail", "{r}");
}

#[test]
fn a_windows_variable_in_an_identity_file_is_the_unknown_token_it_is_to_openssh() {
    let config = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n  IdentityFile %USERPROFILE%\\.ssh\\id_ed25519\n  IdentityFile ~/.ssh/id_ed25519\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    // OpenSSH expands IdentityFile when it connects (`ssh -G` does not): an unknown
    // token then ends the login with `unknown key %U`.
    let (_, r) = home.json(&["--offline", "--node", "slurm"]);
    let f = findings(&r, "config.identity-file")
        .into_iter()
        .find(|f| f["summary"].as_str().unwrap().contains("%U"))
        .unwrap_or_else(|| panic!("no finding names %U\n{}", r["findings"]));
    assert_eq!(f["severity"], "fail", "{f}");
}

#[test]
fn a_utf16_config_is_not_said_to_lack_the_blocks_it_may_have() {
    let text = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n";
    let mut bytes = vec![0xff, 0xfe];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let home = TestHome::with_config(bytes);
    let (_, r) = home.json(&["--offline"]);
    for f in findings(&r, "config.alias") {
        assert_eq!(f["severity"], "skip", "{f}");
        assert!(f["summary"].as_str().unwrap().contains("UTF-16"), "{f}");
    }
    assert_eq!(
        r["diagnosis"][0]["id"], "diagnosis.config-broken",
        "{}",
        r["diagnosis"]
    );
}

/// The BOM fix on a config that is not valid UTF-8 after its BOM: iconv fails, and the
/// config is left as it was (the pipe's status was sed's: the config was cut, exit 0).
#[test]
fn a_failed_reencode_keeps_the_config() {
    let home = TestHome::new();
    let config = b"\xef\xbb\xbfHost slurm\n  # Ren\xe9\n  User bob\n".to_vec();
    home.write(".ssh/config", config.clone());
    home.chmod(".ssh/config", 0o600);
    let r = run(&home);
    let cmd = finding(&r, "config.syntax")["remedy"]["command"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(cmd.starts_with("iconv "), "{cmd}");
    let out = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "`{cmd}` reported success");
    assert_eq!(std::fs::read(home.ssh().join("config")).unwrap(), config);
    assert!(!home.ssh().join("config.new").exists());
    assert_eq!(home.mode(".ssh/config"), 0o600);
}
