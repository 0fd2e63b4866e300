//! A real ssh-agent on a socket in a temp dir, stopped by PID when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Agent {
    child: Child,
    pub sock: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    pub fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent is installed by scripts/test");
        for _ in 0..300 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Agent {
            child,
            sock,
            _dir: dir,
        }
    }

    /// `ssh-add` an unencrypted key.
    pub fn add(&self, key: &Path) {
        // Under load the agent may not listen yet when its socket appears: retry briefly.
        let mut ok = false;
        for _ in 0..20 {
            let st = Command::new("ssh-add")
                .arg("-q")
                .arg(key)
                .env("SSH_AUTH_SOCK", &self.sock)
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if st.success() {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(ok, "ssh-add {}", key.display());
    }

    pub fn sock(&self) -> &str {
        self.sock.to_str().unwrap()
    }

    /// An agent holding `n` fresh keys made in `dir`, and the public key line of the last
    /// one (the one a test deploys).
    pub fn with_fresh_keys(dir: &Path, n: usize) -> (Agent, String) {
        let agent = Agent::start();
        let mut last = String::new();
        for i in 0..n {
            let p = fresh_key(dir, &format!("k{i}"));
            agent.add(&p);
            last = std::fs::read_to_string(p.with_extension("pub"))
                .unwrap()
                .trim()
                .to_string();
        }
        (agent, last)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new unencrypted Ed25519 key in `dir`.
pub fn fresh_key(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&p)
        .status()
        .unwrap();
    assert!(st.success());
    p
}
