//! Helpers that read like the scenario: a temp home, the binary run with a clean
//! environment, the JSON report back.

// Most modules are Unix-only; where scripts/cross type-checks the tests for Windows, their
// helpers go unused.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A temporary home directory with a `.ssh` folder.
pub struct TestHome {
    pub dir: tempfile::TempDir,
}

impl TestHome {
    /// An empty home with an empty `~/.ssh` (mode 0700).
    pub fn new() -> TestHome {
        let dir = tempfile::Builder::new()
            .prefix("mlcd-home-")
            .tempdir()
            .unwrap();
        let home = TestHome { dir };
        std::fs::create_dir(home.ssh()).unwrap();
        home.chmod(".ssh", 0o700);
        home.chmod("", 0o755);
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn ssh(&self) -> PathBuf {
        self.path().join(".ssh")
    }

    /// Writes `~/<rel>` with mode 0600.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        self.chmod(rel, 0o600);
        p
    }

    /// Copies a fixture key (and its `.pub` when there is one) into `~/.ssh/<as_name>`.
    pub fn key(&self, fixture: &str, as_name: &str) -> PathBuf {
        let src = fixtures().join("keys").join(fixture);
        let dst = self.ssh().join(as_name);
        std::fs::copy(&src, &dst).unwrap();
        self.chmod(&format!(".ssh/{as_name}"), 0o600);
        let pubsrc = src.with_file_name(format!("{fixture}.pub"));
        if pubsrc.exists() {
            let pubdst = self.ssh().join(format!("{as_name}.pub"));
            std::fs::copy(&pubsrc, &pubdst).unwrap();
            self.chmod(&format!(".ssh/{as_name}.pub"), 0o644);
        }
        dst
    }

    /// Sets a Unix mode; a no-op where files have ACLs instead (Windows).
    pub fn chmod(&self, rel: &str, mode: u32) {
        let p = if rel.is_empty() {
            self.path().to_path_buf()
        } else {
            self.path().join(rel)
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        #[cfg(not(unix))]
        let _ = (p, mode);
    }

    /// The binary with a clean environment and `--home` set; `args` follow.
    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = doctor();
        cmd.env("HOME", self.path());
        cmd.arg("--home").arg(self.path());
        cmd.args(args);
        cmd
    }

    /// Runs `check --json` with `args` and returns (exit code, report).
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json", "--no-bundle"];
        all.extend_from_slice(args);
        let out = self.cmd(&all).output().unwrap();
        let report = parse_report(&out);
        (out.status.code().unwrap_or(-1), report)
    }
}

/// The binary with a clean environment (PATH kept so `ssh` is found).
pub fn doctor() -> std::process::Command {
    let mut cmd = std::process::Command::cargo_bin("mlc-doctor").unwrap();
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("LANG", "C.UTF-8");
    cmd
}

/// Parses stdout as the JSON report, with a useful panic message.
pub fn parse_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The findings with this id (and node, if given).
pub fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The severity of the only (or first) finding with this id, panicking with the report if absent.
pub fn severity(report: &Value, id: &str) -> String {
    let found = findings(report, id);
    let f = found.first().unwrap_or_else(|| {
        panic!(
            "no {id} finding in {}",
            serde_json::to_string_pretty(&report["findings"]).unwrap()
        )
    });
    f["severity"].as_str().unwrap().to_string()
}

/// The worst severity among findings with this id.
pub fn worst(report: &Value, id: &str) -> String {
    let order = ["skip", "pass", "info", "warn", "fail"];
    findings(report, id)
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .max_by_key(|s| order.iter().position(|o| o == s))
        .unwrap_or_else(|| panic!("no {id} finding"))
        .to_string()
}

/// Writes a test profile whose nodes point at loopback ports.
pub fn loopback_profile(dir: &Path, nodes: &[(&str, &str, u16)], extra_policy: &str) -> PathBuf {
    let mut text = String::from(
        "schema = 1\nname = \"Test site\"\nsupport = \"Ask the test.\"\nusername_pattern = \"^[a-z]{3}[0-9]{3}$\"\nplaceholder_users = [\"ml-cloud-user-id\", \"ml_cloud_user_id\"]\n\n[policy]\nkey_types = [\"ssh-ed25519\", \"rsa\"]\nmin_rsa_bits = 4096\nrequire_passphrase = true\nmin_kdf_rounds = 100\n",
    );
    text.push_str(extra_policy);
    for (alias, host, port) in nodes {
        text.push_str(&format!(
            "\n[[nodes]]\nalias = \"{alias}\"\nhostname = \"{host}\"\nport = {port}\n"
        ));
    }
    let p = dir.join("profile.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// The report with machine details removed, for snapshots: times, the OS, the OpenSSH
/// version and the temp home path.
pub fn normalized(report: &Value, home: &Path) -> Value {
    let mut r = report.clone();
    r["started_at"] = "[time]".into();
    r["duration_ms"] = 0.into();
    r["tool"]["version"] = "[version]".into();
    if let Some(obj) = r["tool"].as_object_mut() {
        obj.remove("commit");
    }
    let home = home.to_string_lossy().to_string();
    let mut findings: Vec<Value> = r["findings"].as_array().cloned().unwrap_or_default();
    for f in findings.iter_mut() {
        let id = f["id"].as_str().unwrap_or("").to_string();
        if id == "env.os" || id == "env.openssh" {
            f["summary"] = "[machine]".into();
            f["subject"] = "[machine]".into();
            f["evidence"] = serde_json::json!({});
        }
        for key in ["ms", "elapsed_ms"] {
            if f["evidence"].get(key).is_some() {
                f["evidence"][key] = 0.into();
            }
        }
    }
    r["findings"] = Value::Array(findings);
    let login = mlc_doctor::platform::login_name().unwrap_or_default();
    let text = serde_json::to_string(&r)
        .unwrap()
        .replace(&home, "[home]")
        .replace(&format!("`{login}`"), "`[login]`")
        .replace(&format!("\"sent\":\"{login}\""), "\"sent\":\"[login]\"");
    serde_json::from_str(&text).unwrap()
}
// A real ssh-agent and sshd: Unix only.
#[cfg(unix)]
pub mod agent;
#[cfg(unix)]
pub mod sshd;
