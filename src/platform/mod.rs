//! What differs between operating systems. The system calls of the running platform live
//! in `unix` / `other`; the rules of each platform (paths, fix commands, ACLs, PuTTY,
//! Apple's ssh) are plain functions of an [`Os`] value, so they are tested on any host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

mod access;
pub mod macos;
pub mod windows;

pub use access::{access, is_executable, make_private, set_mode, Access};

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub use unix::*;

#[cfg(not(unix))]
mod other;
#[cfg(not(unix))]
pub use other::*;

/// The operating system whose rules apply. Held in the `Context`, so tests choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    #[serde(rename = "macos")]
    MacOs,
    Windows,
    /// BSDs and other Unix systems: Linux rules, no apt.
    OtherUnix,
}

/// The shell a fix command is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Posix,
    PowerShell,
}

impl Os {
    /// The platform this binary runs on.
    pub const fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else if cfg!(target_os = "linux") {
            Os::Linux
        } else {
            Os::OtherUnix
        }
    }

    /// The shell the user types fix commands into.
    pub fn shell(self) -> Shell {
        match self {
            Os::Windows => Shell::PowerShell,
            _ => Shell::Posix,
        }
    }

    /// True where owner and mode bits decide what OpenSSH accepts.
    pub fn has_unix_modes(self) -> bool {
        self != Os::Windows
    }

    /// The null device, for `ssh -F`.
    pub fn null_device(self) -> &'static str {
        match self {
            Os::Windows => "NUL",
            _ => "/dev/null",
        }
    }

    /// The system-wide client config OpenSSH reads after the user's, unless
    /// [`SYSTEM_CONFIG_VAR`] names another file (none, when that is no file).
    pub fn system_config(self, env: &BTreeMap<String, String>) -> PathBuf {
        if let Some(path) = env_get(self, env, SYSTEM_CONFIG_VAR).filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        match self {
            Os::Windows => {
                let data = env_get(self, env, "PROGRAMDATA")
                    .cloned()
                    .unwrap_or_else(|| r"C:\ProgramData".to_string());
                windows::join(&data, &["ssh", "ssh_config"])
            }
            _ => PathBuf::from("/etc/ssh/ssh_config"),
        }
    }

    /// Where the doctor keeps its own state (pseudonym maps): `$XDG_STATE_HOME` or
    /// `~/.local/state` on Linux and macOS, `%LOCALAPPDATA%` on Windows.
    pub fn state_dir(self, env: &BTreeMap<String, String>, home: &Path) -> PathBuf {
        match self {
            Os::Windows => match env_get(self, env, "LOCALAPPDATA").filter(|v| !v.is_empty()) {
                Some(v) => windows::join(v, &["mlc-doctor"]),
                None => windows::join(
                    &home.display().to_string(),
                    &["AppData", "Local", "mlc-doctor"],
                ),
            },
            _ => match env.get("XDG_STATE_HOME").filter(|v| v.starts_with('/')) {
                Some(v) => Path::new(v).join("mlc-doctor"),
                None => home.join(".local/state/mlc-doctor"),
            },
        }
    }

    /// How to create `~/.ssh/config` with the block the report prints; `home`: the home
    /// to name in full when it is not the shell's `~` (`--home`).
    pub fn create_config_words(self, home: Option<&Path>) -> String {
        match (self, home) {
            // Notepad appends .txt and older versions write a BOM, both of which ssh trips on.
            (Os::Windows, _) => format!("Create {} with this content (in Notepad: Save as type \"All files\", encoding UTF-8, so that it is not saved as config.txt):", match home {
                Some(h) => h.join(".ssh").join("config").display().to_string(),
                None => "%USERPROFILE%\\.ssh\\config".to_string(),
            }),
            (_, None) => "Create ~/.ssh/config with this content, then `chmod 600 ~/.ssh/config`:".to_string(),
            (_, Some(_)) => {
                let config = self.shell().path_word(home, "~/.ssh/config");
                format!("Create {config} with this content, then `chmod 600 {config}`:")
            }
        }
    }

    /// Where pseudonym maps are kept, in the words the user knows.
    pub fn state_dir_words(self) -> &'static str {
        match self {
            Os::Windows => r"%LOCALAPPDATA%\mlc-doctor\maps",
            _ => "~/.local/state/mlc-doctor/maps",
        }
    }

    /// How to install the OpenSSH client: words and the command.
    pub fn install_openssh(self) -> (&'static str, &'static str) {
        match self {
            Os::Windows => (
                "Install the OpenSSH client, an optional feature of Windows (in an administrator PowerShell):",
                "Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0",
            ),
            Os::MacOs => (
                "macOS ships OpenSSH as /usr/bin/ssh; put it back on your PATH, or install Homebrew's:",
                "brew install openssh",
            ),
            Os::Linux => (
                "Install the OpenSSH client (Debian/Ubuntu shown; `sudo dnf install openssh-clients` on Fedora/RHEL):",
                "sudo apt install openssh-client",
            ),
            Os::OtherUnix => (
                "Install the OpenSSH client with your system's package manager, e.g.:",
                "pkg install openssh-portable",
            ),
        }
    }

    /// How to upgrade an old OpenSSH client.
    pub fn upgrade_openssh(self) -> (&'static str, &'static str) {
        match self {
            Os::MacOs => (
                "Update macOS (Apple's ssh comes with it), or install a current one with Homebrew:",
                "brew install openssh",
            ),
            Os::Windows => (
                "Update Windows, or reinstall the OpenSSH client feature (administrator PowerShell):",
                "Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0",
            ),
            _ => ("Upgrade the OpenSSH client.", "sudo apt install openssh-client"),
        }
    }

    /// The file names a command `name` may have on this platform (`ssh.exe` via `PATHEXT`).
    pub fn exe_names(self, env: &BTreeMap<String, String>, name: &str) -> Vec<String> {
        match self {
            Os::Windows => {
                let exts = env_get(self, env, "PATHEXT")
                    .cloned()
                    .unwrap_or_else(|| ".COM;.EXE;.BAT;.CMD".to_string());
                let lower = name.to_ascii_lowercase();
                let mut out = Vec::new();
                // A name that already ends in one of the extensions is tried as it is.
                if exts
                    .split(';')
                    .any(|e| !e.is_empty() && lower.ends_with(&e.to_ascii_lowercase()))
                {
                    out.push(name.to_string());
                }
                for e in exts.split(';').filter(|e| !e.is_empty()) {
                    out.push(format!("{name}{}", e.to_ascii_lowercase()));
                }
                out
            }
            _ => vec![name.to_string()],
        }
    }

    /// The environment variables a child `ssh` keeps (the rest is cleared).
    /// Windows needs `SystemRoot` (without it Winsock fails in the child, error 10106)
    /// and the profile variables OpenSSH for Windows reads.
    pub fn child_env(self) -> &'static [&'static str] {
        match self {
            Os::Windows => &[
                "Path",
                "PATHEXT",
                "SystemRoot",
                "SystemDrive",
                "windir",
                "USERPROFILE",
                "USERNAME",
                "USERDOMAIN",
                "HOMEDRIVE",
                "HOMEPATH",
                "LOCALAPPDATA",
                "APPDATA",
                "PROGRAMDATA",
                "TEMP",
                "TMP",
                "SSH_AUTH_SOCK",
            ],
            _ => &["PATH", "HOME", "SSH_AUTH_SOCK", "USER", "LOGNAME"],
        }
    }

    /// The login name ssh sends when the config has no `User`, and a note on why it looks
    /// so: OpenSSH for Windows lowercases the Windows account name and prefixes a domain
    /// account's domain.
    pub fn login_name_sent(
        self,
        local_user: &str,
        env: &BTreeMap<String, String>,
    ) -> (String, Option<String>) {
        if self != Os::Windows {
            return (local_user.to_string(), None);
        }
        let domain = env_get(self, env, "USERDOMAIN").filter(|d| {
            env_get(self, env, "COMPUTERNAME").is_none_or(|c| !c.eq_ignore_ascii_case(d))
        });
        let sent = match domain {
            Some(d) => format!("{}\\{}", d, local_user).to_lowercase(),
            None => local_user.to_lowercase(),
        };
        (sent, Some("OpenSSH for Windows sends your Windows account name in lowercase (with the domain for a domain account), which is never your cluster username.".to_string()))
    }

    /// A path written into an `-o Option=value` argument: quoted when it has spaces,
    /// which ssh would otherwise split.
    pub fn option_path(self, path: &str) -> String {
        if path.contains([' ', '\t']) {
            format!("\"{path}\"")
        } else {
            path.to_string()
        }
    }
}

impl Shell {
    /// Appends a public key to the cluster's authorized_keys (asks for the cluster
    /// password). Windows has no `ssh-copy-id`: the key is piped through `ssh`.
    pub fn copy_id(self, pub_path: &str, alias: &str) -> String {
        match self {
            Shell::Posix => format!("ssh-copy-id -i {pub_path} {alias}"),
            Shell::PowerShell => format!(
                "Get-Content {pub_path} | ssh {alias} \"umask 077; mkdir -p .ssh && cat >> .ssh/authorized_keys\""
            ),
        }
    }

    /// `command`, which writes into `~/.ssh`, preceded by creating that directory when the
    /// home is one given with `--home` (`home`): ssh-keygen creates only the account's own
    /// `~/.ssh`. An existing directory keeps its mode.
    pub fn in_ssh_dir(self, home: Option<&Path>, command: String) -> String {
        if home.is_none() {
            return command;
        }
        let dir = self.path_word(home, "~/.ssh");
        match self {
            Shell::Posix => format!("mkdir -p -m 700 {dir} && {command}"),
            Shell::PowerShell => format!(
                "New-Item -ItemType Directory -Force -ErrorAction Stop {dir} | Out-Null; {command}"
            ),
        }
    }

    /// Renames `from` to `to`, never over a file that is there (`Move-Item` refuses that
    /// by itself; `mv -n` is told to).
    pub fn move_file(self, from: &str, to: &str) -> String {
        match self {
            Shell::Posix => format!("mv -n {from} {to}"),
            Shell::PowerShell => format!("Move-Item {from} {to}"),
        }
    }

    /// Recreates `pub_path` from the private key (asks for the passphrase). PowerShell
    /// 5.1's `>` writes UTF-16, which ssh cannot read: `Out-File -Encoding ascii` instead.
    /// Written only when ssh-keygen succeeds: a mistyped passphrase must not leave an
    /// empty `.pub` (`>` and `Out-File` empty the file before ssh-keygen runs).
    pub fn public_from_private(self, key: &str, pub_path: &str) -> String {
        match self {
            // Through `cat`, not `mv`: a .pub that is a link stays one.
            Shell::Posix => format!(
                "ssh-keygen -y -f {key} > {pub_path}.new && cat {pub_path}.new > {pub_path} && rm {pub_path}.new || {{ rm -f {pub_path}.new; false; }}"
            ),
            Shell::PowerShell => format!(
                "$k = ssh-keygen -y -f {key}; if ($LASTEXITCODE -eq 0) {{ $k | Out-File -Encoding ascii {pub_path} }}"
            ),
        }
    }

    /// Rewrites a text file as UTF-8 without a byte-order mark (from UTF-16 or UTF-8 with
    /// a BOM, as Notepad and PowerShell's `>` save files).
    pub fn reencode_utf8(self, path: &str, from_utf16: bool) -> String {
        match self {
            // No pipe (its status is the last command's: a failed iconv left a cut file
            // in place), and written back through `cat`: the file keeps its mode.
            Shell::Posix => format!(
                "iconv -f {} -t UTF-8 {path} > {path}.new && sed -i '1s/^\\xEF\\xBB\\xBF//' {path}.new && cat {path}.new > {path} && rm {path}.new || {{ rm -f {path}.new; false; }}",
                if from_utf16 { "UTF-16" } else { "UTF-8" }
            ),
            // ReadAllText reads either BOM; WriteAllText writes UTF-8 without one.
            Shell::PowerShell => format!(
                "[IO.File]::WriteAllText({path}, [IO.File]::ReadAllText({path}))"
            ),
        }
    }

    /// A path shown as `~/...` (or absolute) as a word of a command of this shell: `~`
    /// stays for the shell to expand unless `home` is given (then the path is written in
    /// full), and anything but plain characters is quoted.
    pub fn path_word(self, home: Option<&Path>, shown: &str) -> String {
        if let (Some(home), Some(rest)) = (home, shown.strip_prefix('~')) {
            // Part by part: the platform's own separator throughout (`show` writes `/`
            // on every platform; a `\\` is part of a name, or of an escape `show` wrote).
            let full = rest
                .split('/')
                .filter(|p| !p.is_empty())
                .fold(home.to_path_buf(), |p, part| p.join(part));
            // A home a command cannot spell (not UTF-8, control characters): the
            // placeholder [`HOME_PLACEHOLDER`], never a lossy or escaped spelling of a path
            // that does not exist. A command holding it is not offered
            // (`Remedy::command`); in words it stands for the directory.
            let spelled = full
                .to_str()
                .filter(|f| !f.chars().any(crate::escape::is_unsafe));
            return match spelled {
                Some(f) => self.path_word(None, f),
                None => self.path_word(None, &format!("{HOME_PLACEHOLDER}{rest}")),
            };
        }
        if shown == "~" && self == Shell::Posix {
            return shown.to_string();
        }
        if self == Shell::PowerShell {
            return match shown.strip_prefix('~') {
                Some(rest) => crate::platform::windows::ps_profile_path(rest),
                None => crate::platform::windows::ps_literal(shown),
            };
        }
        let (prefix, rest) = match shown.strip_prefix("~/") {
            Some(rest) => ("~/", rest),
            None => ("", shown),
        };
        if rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c))
        {
            format!("{prefix}{rest}")
        } else {
            format!("{prefix}'{}'", rest.replace('\'', "'\\''"))
        }
    }

    /// Lists the files of a directory (a command word: quoted as needed) with their sizes
    /// and dates.
    pub fn list_dir(self, dir: &str) -> String {
        match self {
            Shell::Posix => format!("ls -l {dir}"),
            Shell::PowerShell => format!("Get-ChildItem {dir}"),
        }
    }

    /// Rewrites a key file with LF line endings, no byte-order mark and a final newline.
    pub fn normalize_text_file(self, path: &str) -> String {
        match self {
            Shell::Posix => format!("sed -i '1s/^\\xEF\\xBB\\xBF//; s/\\r$//; $a\\' {path}"),
            // ReadAllText drops a BOM; WriteAllText writes UTF-8 without one.
            Shell::PowerShell => format!(
                "$t = [IO.File]::ReadAllText({path}) -replace \"`r`n\", \"`n\"; if (-not $t.EndsWith(\"`n\")) {{ $t += \"`n\" }}; [IO.File]::WriteAllText({path}, $t)"
            ),
        }
    }
}

/// What stands for a `--home` directory a command cannot spell (see [`Shell::path_word`]).
pub const HOME_PLACEHOLDER: &str = "<the --home directory>";

/// An environment variable; on Windows names are case-insensitive (`Path`, `PATH`).
pub fn env_get<'a>(os: Os, env: &'a BTreeMap<String, String>, key: &str) -> Option<&'a String> {
    match os {
        Os::Windows => env.get(key).or_else(|| {
            env.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        }),
        _ => env.get(key),
    }
}

/// The environment variable that names the system-wide client config in place of the
/// platform's, as `GIT_CONFIG_SYSTEM` does for git: tests set it so that a report does not
/// depend on the machine's `/etc/ssh/ssh_config`.
pub const SYSTEM_CONFIG_VAR: &str = "MLC_DOCTOR_SYSTEM_CONFIG";

/// The search path of `os` split into directories.
pub fn search_path(os: Os, env: &BTreeMap<String, String>) -> Vec<PathBuf> {
    let Some(path) = env_get(os, env, "PATH") else {
        return Vec::new();
    };
    let sep = if os == Os::Windows { ';' } else { ':' };
    path.split(sep)
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d.trim_matches('"')))
        .collect()
}

/// Finds the command `name` on the search path as the platform's shell would.
pub fn which(os: Os, env: &BTreeMap<String, String>, name: &str) -> Option<PathBuf> {
    let names = os.exe_names(env, name);
    for dir in search_path(os, env) {
        for n in &names {
            let candidate = dir.join(n);
            if candidate.is_file() && is_executable(&candidate) {
                return Some(candidate);
            }
        }
        // Windows file names are case-insensitive, a Linux test directory's are not.
        if os == Os::Windows {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.filter_map(Result::ok).take(10_000) {
                    let file = e.file_name().to_string_lossy().into_owned();
                    if names.iter().any(|n| n.eq_ignore_ascii_case(&file)) && e.path().is_file() {
                        return Some(e.path());
                    }
                }
            }
        }
    }
    None
}

/// Where the doctor finds an ssh-agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentAddress {
    /// A Unix socket (`SSH_AUTH_SOCK`).
    Socket(PathBuf),
    /// A Windows named pipe: `SSH_AUTH_SOCK`, or OpenSSH for Windows' service pipe.
    Pipe(String),
}

impl AgentAddress {
    /// The address as shown to the user.
    pub fn shown(&self) -> String {
        match self {
            AgentAddress::Socket(p) => p.display().to_string(),
            AgentAddress::Pipe(p) => p.clone(),
        }
    }
}

/// The agent ssh would use: `SSH_AUTH_SOCK`, and on Windows the service's pipe when unset.
pub fn agent_address(os: Os, env: &BTreeMap<String, String>) -> Option<AgentAddress> {
    let sock = env_get(os, env, "SSH_AUTH_SOCK").filter(|s| !s.is_empty());
    match (os, sock) {
        (Os::Windows, Some(s)) => Some(AgentAddress::Pipe(s.clone())),
        (Os::Windows, None) => Some(AgentAddress::Pipe(windows::AGENT_PIPE.to_string())),
        (_, Some(s)) => Some(AgentAddress::Socket(PathBuf::from(s))),
        (_, None) => None,
    }
}

/// An agent connection, whatever carries it.
pub type Agent = russh::keys::agent::client::AgentClient<
    Box<dyn russh::keys::agent::client::AgentStream + Send + Unpin + 'static>,
>;

/// Connects to the agent at `addr` with this platform's transport.
pub async fn connect_agent(addr: &AgentAddress) -> Result<Agent, String> {
    use russh::keys::agent::client::AgentClient;
    match addr {
        #[cfg(unix)]
        AgentAddress::Socket(p) => AgentClient::connect_uds(p)
            .await
            .map(AgentClient::dynamic)
            .map_err(|e| e.to_string()),
        #[cfg(windows)]
        AgentAddress::Pipe(p) => AgentClient::connect_named_pipe(p)
            .await
            .map(AgentClient::dynamic)
            .map_err(|e| e.to_string()),
        #[allow(unreachable_patterns)]
        other => Err(format!(
            "{} cannot be reached from this platform",
            other.shown()
        )),
    }
}

/// Pageant (PuTTY's agent), when it runs: Windows only.
pub async fn connect_pageant() -> Option<Agent> {
    #[cfg(windows)]
    {
        use russh::keys::agent::client::AgentClient;
        AgentClient::connect_pageant()
            .await
            .ok()
            .map(AgentClient::dynamic)
    }
    #[cfg(not(windows))]
    {
        None
    }
}

/// What every child process needs from the system's own environment whatever else is
/// cleared: on Windows `SystemRoot` (Winsock fails without it, error 10106) and `windir`.
pub fn system_env() -> Vec<(String, String)> {
    if cfg!(windows) {
        ["SystemRoot", "windir"]
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
            .collect()
    } else {
        Vec::new()
    }
}

/// Creates a directory only its owner can enter, or accepts an existing real directory
/// (on Unix: of this user's, made private); refuses a link, which it never follows or
/// changes. The platform's `keep_private_dir` and `create_private_dir` do the rest.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::other(format!(
            "{} is a link; the doctor does not write through links",
            path.display()
        ))),
        Ok(m) if !m.is_dir() => Err(std::io::Error::other(format!(
            "{} is not a directory",
            path.display()
        ))),
        Ok(m) => keep_private_dir(path, &m),
        Err(_) => create_private_dir(path),
    }
}

/// The owner and access entries of a file (Windows); elsewhere there are none to read.
pub fn file_acl(path: &Path) -> Result<windows::Acl, String> {
    #[cfg(windows)]
    {
        windows::sys::read_acl(path)
    }
    #[cfg(not(windows))]
    {
        let _ = path;
        Err("access control lists are read on Windows only".into())
    }
}

/// The 8.3 short form of a path (Windows, where the volume keeps short names); elsewhere
/// none.
pub fn short_path(path: &Path) -> Option<PathBuf> {
    #[cfg(windows)]
    {
        windows::sys::short_path(path)
    }
    #[cfg(not(windows))]
    {
        let _ = path;
        None
    }
}

/// The SID of the user running the doctor (Windows).
pub fn current_user_sid() -> Option<String> {
    #[cfg(windows)]
    {
        windows::sys::current_user_sid()
    }
    #[cfg(not(windows))]
    {
        None
    }
}

/// PuTTY's saved sessions from the registry (Windows; elsewhere none).
pub fn putty_sessions() -> windows::Putty {
    #[cfg(windows)]
    {
        windows::sys::putty()
    }
    #[cfg(not(windows))]
    {
        windows::Putty::default()
    }
}

/// Resolves when the user interrupts the run: Ctrl-C, and on Unix SIGTERM and SIGHUP.
/// Where no handler can be installed it never resolves (the run goes on as before).
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The user's home as OpenSSH sees it: on Windows the profile directory (registry
/// ProfileList, else `USERPROFILE`), never `HOME`; elsewhere `HOME`, then passwd.
pub fn default_home(os: Os, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    match os {
        Os::Windows => passwd_home().or_else(|| {
            env_get(os, env, "USERPROFILE")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
        }),
        _ => env
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(|| HOME_NOT_UTF8.get().cloned())
            .or_else(passwd_home),
    }
}

/// `HOME` when it is not UTF-8 (the environment the doctor keeps holds text only): still
/// the home the shell's `~` names, not the account's. Set once, by the binary.
static HOME_NOT_UTF8: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Records the process's `HOME` when it is not UTF-8 (see [`default_home`]).
pub fn keep_home_not_utf8(home: std::ffi::OsString) {
    if !home.is_empty() && home.to_str().is_none() {
        let _ = HOME_NOT_UTF8.set(PathBuf::from(home));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_environment_may_name_the_system_config() {
        let e = env(&[(SYSTEM_CONFIG_VAR, "/tmp/t/ssh_config")]);
        assert_eq!(
            Os::Linux.system_config(&e),
            PathBuf::from("/tmp/t/ssh_config")
        );
        let e = env(&[("mlc_doctor_system_config", r"C:\t\ssh_config")]);
        assert_eq!(
            Os::Windows.system_config(&e),
            PathBuf::from(r"C:\t\ssh_config")
        );
        let e = env(&[(SYSTEM_CONFIG_VAR, "")]);
        assert_eq!(
            Os::Linux.system_config(&e),
            PathBuf::from("/etc/ssh/ssh_config")
        );
    }

    #[test]
    fn windows_paths_and_devices() {
        let e = env(&[
            ("ProgramData", r"C:\ProgramData"),
            ("LOCALAPPDATA", r"C:\Users\Ana Lopez\AppData\Local"),
        ]);
        assert_eq!(Os::Windows.null_device(), "NUL");
        assert_eq!(Os::Linux.null_device(), "/dev/null");
        assert_eq!(
            Os::Windows.system_config(&e),
            PathBuf::from(r"C:\ProgramData\ssh\ssh_config")
        );
        assert_eq!(
            Os::MacOs.system_config(&e),
            PathBuf::from("/etc/ssh/ssh_config")
        );
        assert_eq!(
            Os::Windows.state_dir(&e, Path::new(r"C:\Users\Ana Lopez")),
            PathBuf::from(r"C:\Users\Ana Lopez\AppData\Local\mlc-doctor")
        );
        assert_eq!(
            Os::Linux.state_dir(&BTreeMap::new(), Path::new("/home/u")),
            PathBuf::from("/home/u/.local/state/mlc-doctor")
        );
        assert_eq!(
            Os::Windows.option_path(r"C:\Users\Ana Lopez\AppData\Local\Temp\kh"),
            r#""C:\Users\Ana Lopez\AppData\Local\Temp\kh""#
        );
        assert_eq!(Os::Linux.option_path("/tmp/kh"), "/tmp/kh");
    }

    #[test]
    fn pathext_and_path_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::fs::write(bin.join("SSH.EXE"), b"MZ").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(bin.join("SSH.EXE"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
        }
        let e = env(&[
            ("Path", &format!("C:\\nowhere;{}", bin.display())),
            ("PATHEXT", ".COM;.EXE;.BAT"),
        ]);
        assert_eq!(
            Os::Windows.exe_names(&e, "ssh"),
            vec!["ssh.com", "ssh.exe", "ssh.bat"]
        );
        assert_eq!(Os::Windows.exe_names(&e, "ssh.exe")[0], "ssh.exe");
        assert_eq!(which(Os::Windows, &e, "ssh"), Some(bin.join("SSH.EXE")));
        // Linux: exact names only, and `Path` is not `PATH`.
        assert_eq!(which(Os::Linux, &e, "ssh"), None);
    }

    #[test]
    fn agent_addresses() {
        assert_eq!(
            agent_address(Os::Windows, &BTreeMap::new()),
            Some(AgentAddress::Pipe(r"\\.\pipe\openssh-ssh-agent".into()))
        );
        assert_eq!(agent_address(Os::Linux, &BTreeMap::new()), None);
        assert_eq!(
            agent_address(
                Os::MacOs,
                &env(&[(
                    "SSH_AUTH_SOCK",
                    "/private/tmp/com.apple.launchd.x/Listeners"
                )])
            ),
            Some(AgentAddress::Socket(
                "/private/tmp/com.apple.launchd.x/Listeners".into()
            ))
        );
    }

    #[test]
    fn windows_sends_the_lowercased_account_name() {
        let e = env(&[("USERDOMAIN", "UNI"), ("COMPUTERNAME", "LAPTOP-1")]);
        assert_eq!(Os::Windows.login_name_sent("Ana", &e).0, "uni\\ana");
        let e = env(&[("USERDOMAIN", "LAPTOP-1"), ("COMPUTERNAME", "LAPTOP-1")]);
        let (sent, note) = Os::Windows.login_name_sent("Ana", &e);
        assert_eq!(sent, "ana");
        assert!(note.unwrap().contains("lowercase"));
        assert_eq!(
            Os::Linux.login_name_sent("Ana", &e),
            ("Ana".to_string(), None)
        );
    }

    #[test]
    fn key_file_commands_per_shell() {
        assert_eq!(
            Shell::Posix.copy_id("~/.ssh/id.pub", "slurm"),
            "ssh-copy-id -i ~/.ssh/id.pub slurm"
        );
        assert!(Shell::PowerShell
            .copy_id("\"$env:USERPROFILE\\.ssh\\id.pub\"", "slurm")
            .starts_with("Get-Content \"$env:USERPROFILE\\.ssh\\id.pub\" | ssh slurm "));
        assert_eq!(
            Shell::Posix.public_from_private("~/.ssh/id", "~/.ssh/id.pub"),
            "ssh-keygen -y -f ~/.ssh/id > ~/.ssh/id.pub.new && cat ~/.ssh/id.pub.new > ~/.ssh/id.pub && rm ~/.ssh/id.pub.new || { rm -f ~/.ssh/id.pub.new; false; }"
        );
        let ps = Shell::PowerShell.public_from_private(
            "\"$env:USERPROFILE\\.ssh\\id\"",
            "\"$env:USERPROFILE\\.ssh\\id.pub\"",
        );
        assert!(ps.contains("| Out-File -Encoding ascii \"$env:USERPROFILE\\.ssh\\id.pub\""));
        assert!(ps.contains("if ($LASTEXITCODE -eq 0)"));
        assert!(!ps.contains('>'));
        assert_eq!(
            Shell::Posix.normalize_text_file("~/.ssh/id"),
            "sed -i '1s/^\\xEF\\xBB\\xBF//; s/\\r$//; $a\\' ~/.ssh/id"
        );
        assert!(Shell::PowerShell
            .normalize_text_file("'C:\\k'")
            .starts_with("$t = [IO.File]::ReadAllText('C:\\k')"));
    }

    #[test]
    fn windows_keeps_system_root_for_the_child() {
        assert!(Os::Windows.child_env().contains(&"SystemRoot"));
        assert!(!Os::Linux.child_env().contains(&"SystemRoot"));
        let (_, cmd) = Os::Windows.install_openssh();
        assert!(cmd.starts_with("Add-WindowsCapability"));
        assert!(!Os::MacOs.install_openssh().1.contains("apt"));
    }
}
