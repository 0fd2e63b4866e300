//! A real OpenSSH sshd on 127.0.0.1 for one test: its own host key, free port, temp dir,
//! AuthorizedKeysFile in the temp dir, stopped by PID when dropped.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{loopback_host, loopback_profile, TestHome, KEY_ONLY};

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The host key line (`ssh-ed25519 AAAA…`).
    pub host_key: String,
}

pub const SSHD: &str = "/usr/sbin/sshd";

/// A free port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// Starts sshd accepting `authorized` public key lines; `extra` is added to its config.
    pub fn start(authorized: &[String], extra: &str) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "sshd is missing: scripts/test installs openssh-server"
        );
        if mlc_doctor::platform::current_uid() == 0 {
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        let dir = tempfile::Builder::new()
            .prefix("mlcd-sshd-")
            .tempdir()
            .unwrap();
        let key = dir.path().join("host_ed25519");
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key)
            .status()
            .unwrap();
        assert!(st.success());
        let host_key = std::fs::read_to_string(key.with_extension("pub"))
            .unwrap()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let mut ak = std::fs::File::create(dir.path().join("authorized_keys")).unwrap();
        for line in authorized {
            writeln!(ak, "{line}").unwrap();
        }
        for attempt in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {key}\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nLogLevel VERBOSE\n{extra}\n{usepam}",
                    key = key.display(),
                    dir = dir.path().display(),
                    usepam = if extra.contains("UsePAM") { "" } else { "UsePAM no\nKbdInteractiveAuthentication no\n" },
                ),
            )
            .unwrap();
            let log = std::fs::File::create(dir.path().join("sshd.log")).unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start sshd");
            if wait_ready(&mut child, port) {
                return Sshd {
                    child,
                    port,
                    dir,
                    host_key,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!(
                "sshd attempt {attempt} failed: {}",
                std::fs::read_to_string(dir.path().join("sshd.log")).unwrap_or_default()
            );
        }
        panic!("sshd did not start");
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The known_hosts line for this server.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key)
    }

    /// A home that reaches this server as `slurm` ([`loopback_host`]) and knows its host
    /// key: with `key` (a fixture) as `~/.ssh/id_mlcloud` and nothing else ([`KEY_ONLY`]),
    /// or without key lines (ssh's defaults, the agent's keys) when `None`.
    pub fn home(&self, key: Option<&str>) -> TestHome {
        let home = TestHome::with_config(loopback_host(
            self.port,
            if key.is_some() { KEY_ONLY } else { "" },
        ));
        if let Some(key) = key {
            home.key(key, "id_mlcloud");
        }
        home.write(".ssh/known_hosts", self.known_hosts_line());
        home
    }

    /// A profile in `home` whose only node, `slurm`, is this server; `policy` is added to
    /// its policy section.
    pub fn profile(&self, home: &TestHome, policy: &str) -> PathBuf {
        loopback_profile(home.path(), &[("slurm", "127.0.0.1", self.port)], policy)
    }

    /// Where the log stands once sshd has logged the helper's own readiness probe (a
    /// connection that closes before the banner): pass it to [`Sshd::log_since`] so that
    /// only what follows is counted. The probe's last line is `Connection closed by
    /// 127.0.0.1 port …` (after `kex_exchange_identification: Connection closed by remote
    /// host`); a loaded machine may take seconds to write it.
    pub fn log_mark(&self) -> usize {
        let started = Instant::now();
        loop {
            let log = self.log();
            if log.lines().any(|l| l.starts_with("Connection closed by "))
                || started.elapsed() > Duration::from_secs(10)
            {
                return log.len();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What sshd logged from `mark` on, once it stopped writing (its children log a moment
    /// after the client has gone).
    pub fn log_since(&self, mark: usize) -> String {
        let started = Instant::now();
        let mut last = self.log().len();
        // Settled when nothing was added for two looks in a row (sshd's children write late
        // on a loaded machine).
        let mut quiet = 0;
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let now = self.log().len();
            quiet = if now == last { quiet + 1 } else { 0 };
            if quiet >= 2 || started.elapsed() > Duration::from_secs(5) {
                break;
            }
            last = now;
        }
        self.log()[mark.min(last)..].to_string()
    }
}

fn wait_ready(child: &mut Child, port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A public key line of a fixture key.
pub fn fixture_pub(name: &str) -> String {
    std::fs::read_to_string(super::fixtures().join("keys").join(format!("{name}.pub")))
        .unwrap()
        .trim()
        .to_string()
}
