//! Helpers that read like the scenario: a temp home, the binary run with a clean
//! environment, the JSON report back; the zip of a bundle; snapshot filters.

// Most modules are Unix-only; where scripts/cross type-checks the tests for Windows, their
// helpers go unused.
#![cfg_attr(not(unix), allow(dead_code, unused_imports))]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

// A real ssh-agent and sshd: Unix only.
#[cfg(unix)]
pub mod agent;
#[cfg(unix)]
pub mod sshd;

/// The access guide's block for `slurm`, with the fixture key as `~/.ssh/id_ed25519`.
pub const GUIDE: &str = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n";

/// The lines that make `slurm` use `~/.ssh/id_mlcloud` and nothing else.
pub const KEY_ONLY: &str = "  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n";

/// The repository's fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The login name of the user running the tests (what ssh sends without a `User`).
pub fn login() -> String {
    mlc_doctor::platform::login_name().unwrap()
}

/// The `Host slurm` block for a node on 127.0.0.1 at `port`, logging in as [`login`],
/// followed by `lines` (indented already).
pub fn loopback_host(port: u16, lines: &str) -> String {
    format!(
        "Host slurm\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n{lines}",
        login()
    )
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

    /// A home whose `~/.ssh/config` is `config`.
    pub fn with_config(config: impl AsRef<[u8]>) -> TestHome {
        let home = TestHome::new();
        home.write(".ssh/config", config);
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

    /// Copies a fixture key (and its `.pub` when there is one) into `~/.ssh/<as_name>`,
    /// private 0600, public 0644.
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

    /// The permission bits of `~/<rel>`.
    #[cfg(unix)]
    pub fn mode(&self, rel: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(self.path().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    /// The binary with a clean environment and `--home` set; `args` follow.
    pub fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = doctor();
        cmd.env("HOME", self.path());
        cmd.arg("--home").arg(self.path());
        cmd.args(args);
        cmd
    }

    /// Runs `check --json --no-bundle` with `args` and returns (exit code, report).
    pub fn json(&self, args: &[&str]) -> (i32, Value) {
        self.json_env(args, &[])
    }

    /// [`TestHome::json`] with variables added to the clean environment.
    pub fn json_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
        let mut all = vec!["--json", "--no-bundle"];
        all.extend_from_slice(args);
        let mut cmd = self.cmd(&all);
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        let report = parse_report(&out);
        (out.status.code().unwrap_or(-1), report)
    }

    /// `mlc-doctor fix` on this home with `args`, without a terminal (stdin closed).
    pub fn fix(&self, args: &[&str]) -> Output {
        doctor()
            .env("HOME", self.path())
            .arg("fix")
            .args(args)
            .arg("--home")
            .arg(self.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }

    /// Snapshot settings for what this home's runs print: its temp path reads `[home]`.
    /// A module adds filters for the rest of what differs between runs and machines.
    pub fn snapshot_settings(&self) -> insta::Settings {
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex::escape(&self.path().display().to_string()), "[home]");
        settings
    }
}

/// Runs `cmd` with `input` on its stdin; its outputs captured.
pub fn with_stdin(cmd: &mut std::process::Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The binary with a clean environment (PATH kept so `ssh` is found).
pub fn doctor() -> std::process::Command {
    let mut cmd = std::process::Command::cargo_bin("mlc-doctor").unwrap();
    cmd.env_clear();
    cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.env("LANG", "C.UTF-8");
    // No system-wide ssh_config: a report does not depend on the machine's /etc/ssh/ssh_config.
    cmd.env(mlc_doctor::platform::SYSTEM_CONFIG_VAR, "/dev/null");
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

/// The findings with this id.
pub fn findings<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

/// The only (or first) finding with this id, panicking with the findings if absent.
pub fn finding<'a>(report: &'a Value, id: &str) -> &'a Value {
    findings(report, id).into_iter().next().unwrap_or_else(|| {
        panic!(
            "no {id} finding in {}",
            serde_json::to_string_pretty(&report["findings"]).unwrap()
        )
    })
}

/// The severity of the only (or first) finding with this id, panicking with the report if absent.
pub fn severity(report: &Value, id: &str) -> String {
    finding(report, id)["severity"]
        .as_str()
        .unwrap()
        .to_string()
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

/// The ids of the report's diagnosis, most likely first.
pub fn diagnosis_ids(report: &Value) -> Vec<&str> {
    report["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect()
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

/// A stand-in `ssh` in `dir`: a shell script with `body` after the `#!/bin/sh` line.
#[cfg(unix)]
pub fn fake_ssh(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let fake = dir.join("ssh");
    std::fs::write(&fake, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    fake
}

/// Every entry of a zip file: (name, bytes).
pub fn read_zip(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (e.name().unwrap().to_string(), b)
        })
        .collect()
}

/// Every entry of a zip file as text: (name, text, lossy).
pub fn read_zip_text(path: &Path) -> Vec<(String, String)> {
    read_zip(path)
        .into_iter()
        .map(|(name, bytes)| (name, String::from_utf8_lossy(&bytes).into_owned()))
        .collect()
}

/// The text of the zip entry `name`, panicking with the names there are if it is missing.
pub fn zip_entry(files: &[(String, String)], name: &str) -> String {
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t.clone())
        .unwrap_or_else(|| {
            panic!(
                "{name} missing from {:?}",
                files.iter().map(|(n, _)| n).collect::<Vec<_>>()
            )
        })
}

/// A secret in every form a leak could take, lowercase: as is, base64 at each alignment,
/// hex, URL-encoded.
pub fn leak_forms(canary: &str) -> Vec<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = vec![canary.to_ascii_lowercase()];
    for pad in ["", "a", "ab"] {
        let enc = b64.encode(format!("{pad}{canary}"));
        let skip = (pad.len() * 4).div_ceil(3) + 1;
        let form = enc[skip..enc.len().saturating_sub(4)].to_ascii_lowercase();
        if form.len() >= 6 {
            out.push(form);
        }
    }
    out.push(canary.bytes().map(|b| format!("{b:02x}")).collect());
    let url: String = canary
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect();
    out.push(url.to_ascii_lowercase());
    out
}

/// Panics when any form of `canary` ([`leak_forms`]) is in a file name or a file.
pub fn assert_absent(files: &[(String, String)], canary: &str, what: &str) {
    for form in leak_forms(canary) {
        for (name, text) in files {
            assert!(
                !name.to_ascii_lowercase().contains(&form),
                "{what} in the file name {name}"
            );
            assert!(
                !text.to_ascii_lowercase().contains(&form),
                "{what} ({form}) in {name}"
            );
        }
    }
}
