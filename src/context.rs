//! Everything a probe may read from the outside world, built in one place.
//!
//! Probes never read `std::env` or the real home directly: tests build a `Context` with a
//! temp home, an environment map and fake resolvers.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::platform::{Os, Shell};
use crate::profile::Profile;
use crate::settings::{OpenSshChoice, Settings};

/// A boxed future, so the resolver and connector can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Name resolution as ssh does it (the system resolver).
pub trait Resolver: Send + Sync {
    /// Every address of `host`, or the resolver's error in words.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, String>>;
}

/// Opens TCP connections.
pub trait Connector: Send + Sync {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<tokio::net::TcpStream>>;
}

/// `getaddrinfo`, as ssh does, on a detached thread per lookup.
#[derive(Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, Result<Vec<SocketAddr>, String>> {
        Box::pin(async move {
            // getaddrinfo cannot be cancelled: it runs on a thread of its own that nothing
            // waits for, so a resolver that never answers cannot keep the process alive
            // once the run's timeout has given up on it (tokio's blocking pool would).
            let (tx, rx) = tokio::sync::oneshot::channel();
            let target = (host.to_string(), port);
            let spawned = std::thread::Builder::new()
                .name("resolve".into())
                .spawn(move || {
                    use std::net::ToSocketAddrs;
                    let _ = tx.send(target.to_socket_addrs().map(|a| a.collect::<Vec<_>>()));
                });
            if let Err(e) = spawned {
                return Err(format!("cannot start the lookup: {e}"));
            }
            let result = rx
                .await
                .unwrap_or_else(|_| Err(io::Error::other("the lookup ended without an answer")));
            match result {
                Ok(addrs) => {
                    let mut out: Vec<SocketAddr> = Vec::new();
                    for a in addrs {
                        if !out.contains(&a) {
                            out.push(a);
                        }
                    }
                    Ok(out)
                }
                Err(e) => Err(resolver_words(&e.to_string())),
            }
        })
    }
}

/// Turns getaddrinfo's message into plain words.
pub fn resolver_words(raw: &str) -> String {
    let lower = raw.to_ascii_lowercase();
    let words = if lower.contains("name or service not known")
        || lower.contains("nodename nor servname")
        || lower.contains("no address associated")
    {
        "no such name"
    } else if lower.contains("temporary failure") {
        "temporary failure in name resolution (no DNS server reachable?)"
    } else if lower.contains("timed out") {
        "the DNS query timed out"
    } else {
        return raw
            .trim_start_matches("failed to lookup address information: ")
            .to_string();
    };
    format!(
        "{words} ({})",
        raw.trim_start_matches("failed to lookup address information: ")
    )
}

/// Plain tokio TCP.
#[derive(Debug, Default)]
pub struct SystemConnector;

impl Connector for SystemConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<tokio::net::TcpStream>> {
        Box::pin(tokio::net::TcpStream::connect(addr))
    }
}

/// The world as probes see it.
#[derive(Clone)]
pub struct Context {
    /// Whose rules apply (paths, permissions, fix commands); tests choose another.
    pub os: Os,
    /// The user's home (from `--home` or `$HOME`).
    pub home: PathBuf,
    /// The home in the passwd entry: what OpenSSH expands `~` to.
    pub passwd_home: Option<PathBuf>,
    /// Set when the home checked is not the one `~` (PowerShell: `$env:USERPROFILE`)
    /// names in the user's shell (`--home` elsewhere): commands then name it in full, so
    /// that a pasted `chmod` changes the file the report is about.
    pub commands_home: Option<PathBuf>,
    pub profile: Profile,
    /// The process environment as a map (never `std::env` in probes).
    pub env: BTreeMap<String, String>,
    /// Local login name.
    pub local_user: String,
    pub uid: u32,
    /// Local host name (as `gethostname` says).
    pub local_host: String,
    pub openssh: OpenSshChoice,
    /// The system-wide client config, read after the user's.
    pub system_config: Option<PathBuf>,
    /// Aliases to probe.
    pub nodes: Vec<String>,
    pub user_override: Option<String>,
    pub offline: bool,
    /// Per network step.
    pub timeout: Duration,
    /// Whole run.
    pub deadline: Duration,
    pub resolver: Arc<dyn Resolver>,
    pub connector: Arc<dyn Connector>,
    /// When the run started.
    pub started: Instant,
    pub started_at: jiff::Timestamp,
    /// Builds with the `fault-injection` feature: the probe made to panic (tests only).
    pub fault: Option<String>,
    /// The flags a suggested re-run keeps (see [`Settings::rerun`]).
    pub rerun: Vec<String>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("home", &self.home)
            .field("nodes", &self.nodes)
            .field("offline", &self.offline)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Whom the advice is for: this machine's shell and the site's profile.
    pub fn site(&self) -> crate::verdict::Site<'_> {
        crate::verdict::Site {
            shell: self.os.shell(),
            profile: &self.profile,
            rerun: &self.rerun,
            commands_home: self.commands_home.as_deref(),
        }
    }

    /// The real world: system resolver, real TCP, the process's account.
    pub fn from_settings(settings: &Settings, env: BTreeMap<String, String>) -> Context {
        let (login, passwd_home) = match crate::platform::passwd_entry() {
            Some((n, h)) => (Some(n), Some(h)),
            None => (None, None),
        };
        let local_user = login
            .or_else(|| env.get("USER").cloned())
            .unwrap_or_else(|| "unknown".to_string());
        let os = Os::current();
        let system_config = os.system_config(&env);
        let commands_home = commands_home(os, &env, &settings.home);
        Context {
            os,
            home: settings.home.clone(),
            passwd_home,
            commands_home,
            profile: settings.profile.clone(),
            env,
            local_user,
            uid: crate::platform::current_uid(),
            local_host: crate::platform::host_name().unwrap_or_else(|| "localhost".to_string()),
            openssh: settings.openssh.clone(),
            system_config: system_config.is_file().then_some(system_config),
            nodes: settings.nodes.clone(),
            user_override: settings.user.clone(),
            offline: settings.offline,
            timeout: settings.timeout,
            deadline: settings.deadline,
            resolver: Arc::new(SystemResolver),
            connector: Arc::new(SystemConnector),
            started: Instant::now(),
            started_at: jiff::Timestamp::now(),
            fault: settings.fault.clone(),
            rerun: settings.rerun.clone(),
        }
    }

    /// A context for tests and embedding: the given home and profile, nothing else.
    pub fn for_home(home: &Path, profile: Profile) -> Context {
        let nodes = profile
            .nodes()
            .iter()
            .map(|n| n.alias().to_string())
            .collect();
        Context {
            os: Os::current(),
            home: home.to_path_buf(),
            passwd_home: Some(home.to_path_buf()),
            commands_home: None,
            profile,
            env: BTreeMap::new(),
            local_user: "tester".to_string(),
            uid: crate::platform::current_uid(),
            local_host: "testhost".to_string(),
            openssh: OpenSshChoice::Disabled,
            system_config: None,
            nodes,
            user_override: None,
            offline: true,
            timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(30),
            resolver: Arc::new(SystemResolver),
            connector: Arc::new(SystemConnector),
            started: Instant::now(),
            started_at: jiff::Timestamp::now(),
            fault: None,
            rerun: Vec::new(),
        }
    }

    /// `~/.ssh` of the user's home.
    pub fn ssh_dir(&self) -> PathBuf {
        self.home.join(".ssh")
    }

    /// A path as the user knows it: `~/.ssh/config` rather than `/home/pbb111/.ssh/config`.
    /// Control and invisible characters in a name are shown escaped (see
    /// [`crate::escape`]); a command built from such a name is never offered. On Windows
    /// too: `~/.ssh/config`, never a mix of `/` and `\`.
    pub fn show(&self, path: &Path) -> String {
        if let Ok(rest) = path.strip_prefix(&self.home) {
            if rest.as_os_str().is_empty() {
                return "~".to_string();
            }
            let rest = rest.display().to_string();
            let shown = match self.os {
                Os::Windows => format!("~/{}", rest.replace('\\', "/")),
                _ => format!("~/{rest}"),
            };
            return crate::escape::text(&shown);
        }
        crate::escape::text(&path.display().to_string())
    }

    /// A path for a shell command: `~/...` quoted where needed (the full path when
    /// [`Context::commands_home`] is set).
    /// PowerShell on Windows: `"$env:USERPROFILE\\.ssh\\id_ed25519"`.
    pub fn shell_path(&self, path: &Path) -> String {
        self.os
            .shell()
            .path_word(self.commands_home.as_deref(), &self.show(path))
    }

    /// A path already shown as `~/...` (or absolute), written for the user's shell.
    pub fn shell_shown(&self, shown: &str) -> String {
        self.os
            .shell()
            .path_word(self.commands_home.as_deref(), shown)
    }

    /// How long a local OpenSSH command (`ssh -V`, `ssh -G`) may take: a few
    /// milliseconds normally, so at most 5 s, and never past the run's deadline (a
    /// wrapper on PATH that hangs must not hold the run).
    pub fn local_timeout(&self) -> Duration {
        let left = (self.started + self.deadline).saturating_duration_since(Instant::now());
        left.min(Duration::from_secs(5))
            .max(Duration::from_millis(50))
    }

    /// True when OpenSSH's idea of `~` (the passwd home) is not the home being checked.
    pub fn home_differs_from_passwd(&self) -> bool {
        match &self.passwd_home {
            Some(p) => {
                let a = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let b = std::fs::canonicalize(&self.home).unwrap_or_else(|_| self.home.clone());
                a != b
            }
            None => true,
        }
    }

    /// Time left before the run's deadline.
    pub fn remaining(&self) -> Duration {
        (self.started + self.deadline).saturating_duration_since(Instant::now())
    }
}

/// The home to name in full in commands: the home checked, when it is not the one the
/// user's shell calls `~` (`$HOME`, else the account's; PowerShell `$env:USERPROFILE`).
fn commands_home(os: Os, env: &BTreeMap<String, String>, home: &Path) -> Option<PathBuf> {
    let shells = match os.shell() {
        Shell::PowerShell => crate::platform::env_get(os, env, "USERPROFILE")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from),
        Shell::Posix => crate::platform::default_home(os, env),
    };
    let same = |a: &Path, b: &Path| {
        a == b
            || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
    };
    match shells {
        Some(s) if same(&s, home) => None,
        _ => Some(home.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_show_with_tilde_and_quote_for_shell() {
        let ctx = Context::for_home(Path::new("/home/u"), Profile::embedded());
        assert_eq!(
            ctx.show(Path::new("/home/u/.ssh/id_ed25519")),
            "~/.ssh/id_ed25519"
        );
        assert_eq!(ctx.show(Path::new("/home/u")), "~");
        assert_eq!(
            ctx.show(Path::new("/etc/ssh/ssh_config")),
            "/etc/ssh/ssh_config"
        );
        assert_eq!(
            ctx.shell_path(Path::new("/home/u/.ssh/my key")),
            "~/'.ssh/my key'"
        );
        assert_eq!(
            ctx.shell_path(Path::new("/home/u/.ssh/id_rsa")),
            "~/.ssh/id_rsa"
        );
    }

    #[test]
    fn windows_paths_read_one_way() {
        let mut ctx = Context::for_home(Path::new("/home/u"), Profile::embedded());
        ctx.os = Os::Windows;
        ctx.home = PathBuf::from("/home/u");
        assert_eq!(
            ctx.shell_path(Path::new("/home/u/.ssh/my key")),
            "\"$env:USERPROFILE\\.ssh\\my key\""
        );
        assert_eq!(ctx.shell_path(Path::new("/etc/ssh")), "'/etc/ssh'");
    }

    #[test]
    fn commands_name_a_home_in_full_when_the_shell_calls_another_home_tilde() {
        let mut ctx = Context::for_home(Path::new("/srv/a b"), Profile::embedded());
        ctx.commands_home = Some(PathBuf::from("/srv/a b"));
        assert_eq!(
            ctx.shell_path(Path::new("/srv/a b/.ssh/id")),
            "'/srv/a b/.ssh/id'"
        );
        assert_eq!(
            ctx.shell_shown("~/.ssh/id_ed25519"),
            "'/srv/a b/.ssh/id_ed25519'"
        );
        assert_eq!(ctx.shell_shown("/etc/ssh"), "/etc/ssh");
        // A `\\` is part of a name (or of an escape `show` wrote): never a separator.
        assert_eq!(
            ctx.shell_path(Path::new("/srv/a b/.ssh/my\\key")),
            "'/srv/a b/.ssh/my\\key'"
        );
        let escaped = ctx.shell_path(Path::new("/srv/a b/.ssh/id\nx"));
        assert!(crate::escape::carries_escape(&escaped), "{escaped}");
        // The report's own words keep `~` (and the bundle maps the home to it).
        assert_eq!(ctx.show(Path::new("/srv/a b/.ssh/id")), "~/.ssh/id");
        ctx.os = Os::Windows;
        assert_eq!(ctx.shell_shown("~/.ssh/id"), "'/srv/a b/.ssh/id'");
        ctx.commands_home = None;
        assert_eq!(
            ctx.shell_shown("~/.ssh/id"),
            "\"$env:USERPROFILE\\.ssh\\id\""
        );
    }

    #[test]
    fn the_shells_home_is_told_from_another() {
        let dir = tempfile::tempdir().unwrap();
        let env = |h: &Path| BTreeMap::from([("HOME".to_string(), h.display().to_string())]);
        let here = dir.path();
        assert_eq!(commands_home(Os::Linux, &env(here), here), None);
        // The same directory by another spelling (a link to it) is the same home.
        #[cfg(unix)]
        {
            let link = here.join("link");
            std::os::unix::fs::symlink(here, &link).unwrap();
            assert_eq!(commands_home(Os::Linux, &env(&link), here), None);
        }
        let other = here.join("other");
        assert_eq!(
            commands_home(Os::Linux, &env(here), &other),
            Some(other.clone())
        );
        let ps = BTreeMap::from([("USERPROFILE".to_string(), here.display().to_string())]);
        assert_eq!(commands_home(Os::Windows, &ps, here), None);
        assert_eq!(commands_home(Os::Windows, &ps, &other), Some(other));
    }

    #[test]
    fn resolver_errors_read_as_words() {
        assert!(
            resolver_words("failed to lookup address information: Name or service not known")
                .starts_with("no such name")
        );
        assert!(resolver_words(
            "failed to lookup address information: Temporary failure in name resolution"
        )
        .starts_with("temporary failure"));
    }
}
