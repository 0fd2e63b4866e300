//! Fix commands work when pasted: every remedy command of these scenarios that can run
//! offline is run in a scratch home (with `sh`, HOME set to it), must succeed, and must
//! make its finding go away.
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use crate::common::*;
use serde_json::Value;

/// Commands that need nothing but the files: no network, no passphrase, no editor.
const RUNNABLE: &[&str] = &["chmod ", "mv ", "mkdir ", "iconv "];

fn problems(r: &Value) -> Vec<(String, String, String)> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "warn" || f["severity"] == "fail")
        .filter_map(|f| {
            let cmd = f["remedy"]["command"].as_str()?;
            RUNNABLE.iter().any(|p| cmd.starts_with(p)).then(|| {
                (
                    f["id"].as_str().unwrap().to_string(),
                    f["subject"].as_str().unwrap().to_string(),
                    cmd.to_string(),
                )
            })
        })
        .collect()
}

fn scenarios() -> Vec<(&'static str, TestHome)> {
    let mut out = Vec::new();
    let h = TestHome::new();
    h.write(".ssh/config", GUIDE);
    h.key("ed25519_100", "id_ed25519");
    h.chmod(".ssh/id_ed25519", 0o644);
    out.push(("key readable by others", h));
    let h = TestHome::new();
    h.write(".ssh/config", GUIDE);
    h.key("ed25519_100", "id_ed25519");
    h.write(".ssh/authorized_keys", "");
    h.chmod(".ssh/authorized_keys", 0o666);
    out.push(("authorized_keys writable by others", h));
    let h = TestHome::new();
    h.write(".ssh/config", GUIDE);
    h.key("ed25519_100", "id_ed25519");
    h.chmod(".ssh/config", 0o664);
    h.chmod(".ssh", 0o775);
    out.push(("config and ~/.ssh writable by the group", h));
    let h = TestHome::new();
    h.write(
        ".ssh/config",
        [b"\xEF\xBB\xBF".as_slice(), GUIDE.as_bytes()].concat(),
    );
    h.key("ed25519_100", "id_ed25519");
    out.push(("config saved with a BOM", h));
    let h = TestHome::new();
    h.write(".ssh/config", [0u8, 7, 0, 255, 1, 2].repeat(200));
    h.key("ed25519_100", "id_ed25519");
    out.push(("binary config", h));
    let h = TestHome::new();
    h.write(".ssh/config", GUIDE);
    h.write(
        ".ssh/id_ed25519",
        (0..300u32)
            .map(|i| (i * 37 % 251) as u8)
            .collect::<Vec<_>>(),
    );
    out.push(("damaged key", h));
    out
}

#[test]
fn every_offline_remedy_command_works_and_removes_its_finding() {
    let mut ran = 0;
    for (name, home) in scenarios() {
        let (_, before) = home.json(&["--offline"]);
        let todo = problems(&before);
        assert!(!todo.is_empty(), "{name}: no runnable remedy to test");
        for (id, subject, cmd) in todo {
            let out = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .env("HOME", home.path())
                .current_dir(home.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: `{cmd}` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            ran += 1;
            let (_, after) = home.json(&["--offline"]);
            let still: Vec<&Value> = after["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["id"] == id.as_str() && f["subject"] == subject.as_str())
                .filter(|f| f["severity"] == "warn" || f["severity"] == "fail")
                .filter(|f| f["remedy"]["command"] == cmd.as_str())
                .collect();
            assert!(
                still.is_empty(),
                "{name}: `{cmd}` did not fix {id}: {still:?}"
            );
        }
    }
    assert!(ran >= 5, "only {ran} commands ran");
}

/// `--home DIR` where the shell's `~` is another directory: the commands name DIR in full
/// and, pasted into that shell, fix the files the report is about (with `~` they would
/// change the shell's own home, or fail there).
#[test]
fn commands_of_a_home_given_with_home_name_it_in_full() {
    let elsewhere = tempfile::tempdir().unwrap();
    let json = |home: &TestHome| {
        let out = doctor()
            .env("HOME", elsewhere.path())
            .arg("--home")
            .arg(home.path())
            .args(["--json", "--no-bundle", "--offline"])
            .output()
            .unwrap();
        parse_report(&out)
    };
    let mut ran = 0;
    for (name, home) in scenarios() {
        let todo = problems(&json(&home));
        assert!(!todo.is_empty(), "{name}: no runnable remedy to test");
        for (id, subject, cmd) in todo {
            assert!(
                cmd.contains(&home.path().display().to_string()) && !cmd.contains('~'),
                "{name}: `{cmd}` does not name the checked home"
            );
            let out = std::process::Command::new("sh")
                .args(["-c", &cmd])
                .env("HOME", elsewhere.path())
                .current_dir(elsewhere.path())
                .output()
                .unwrap();
            assert!(out.status.success(), "{name}: `{cmd}` failed");
            ran += 1;
            let after = json(&home);
            let still = after["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["id"] == id.as_str() && f["subject"] == subject.as_str())
                .any(|f| f["remedy"]["command"] == cmd.as_str());
            assert!(!still, "{name}: `{cmd}` did not fix {id}");
        }
    }
    assert!(ran >= 6, "only {ran} commands ran");
    // No ~/.ssh at all: the new key's command makes DIR/.ssh first (ssh-keygen makes only
    // the account's own); pasted (no passphrase on stdin), it writes the key into DIR.
    let bare = TestHome::new();
    std::fs::remove_dir(bare.ssh()).unwrap();
    let r = json(&bare);
    let step = r["diagnosis"][0]["steps"][0]["command"].as_str().unwrap();
    let dir = bare.path().join(".ssh").display().to_string();
    assert!(
        step.starts_with(&format!("mkdir -p -m 700 {dir} && ssh-keygen ")),
        "{step}"
    );
    let out = std::process::Command::new("sh")
        .args(["-c", step])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", elsewhere.path())
        .current_dir(elsewhere.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{step}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bare.ssh().join("id_ed25519").is_file());
    assert_eq!(bare.mode(".ssh"), 0o700);
    // A command inside the words names DIR too.
    let dir_config = TestHome::new();
    dir_config.key("ed25519_100", "id_ed25519");
    std::fs::create_dir(dir_config.ssh().join("config")).unwrap();
    let r = json(&dir_config);
    let text = findings(&r, "config.present")[0]["remedy"]["text"].to_string();
    let config = dir_config.ssh().join("config").display().to_string();
    assert!(
        text.contains(&format!("mv -n {config} {config}.dir")),
        "{text}"
    );
    // The shell's own home was never touched.
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    // The report of a run whose home is the shell's own keeps `~`.
    let h = TestHome::new();
    h.write(".ssh/config", GUIDE);
    h.key("ed25519_100", "id_ed25519");
    h.chmod(".ssh/id_ed25519", 0o644);
    let (_, r) = h.json(&["--offline"]);
    assert!(problems(&r)
        .iter()
        .any(|(_, _, c)| c == "chmod 600 ~/.ssh/id_ed25519"));
}
