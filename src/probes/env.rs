//! `env.*`: the operating system and the OpenSSH client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
use crate::platform::Os;
use crate::runner::RunState;
use crate::settings::OpenSshChoice;

/// The OpenSSH client found on this machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenSsh {
    pub path: PathBuf,
    /// The whole `ssh -V` line, e.g. `OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026`.
    pub banner: String,
    pub major: u32,
    pub minor: u32,
}

/// The system facts kept for the bundle's `env/system.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SystemInfo {
    pub os: String,
    pub os_version: String,
    pub kernel: String,
    pub arch: String,
    pub memory_mib: u64,
    pub shell: Option<String>,
    pub openssh: Option<String>,
}

/// The OS name and version. On Linux both come from one read of os-release (sysinfo's
/// `name()` and `os_version()` would read it once each).
fn os_name_version() -> (String, String) {
    #[cfg(target_os = "linux")]
    {
        let text = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok());
        if let Some(text) = text {
            let field = |key: &str| {
                text.lines().find_map(|l| {
                    l.strip_prefix(key)
                        .and_then(|v| v.strip_prefix('='))
                        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
                })
            };
            if let Some(name) = field("NAME") {
                return (name, field("VERSION_ID").unwrap_or_default());
            }
        }
    }
    (
        sysinfo::System::name().unwrap_or_else(|_| std::env::consts::OS.to_string()),
        sysinfo::System::os_version().unwrap_or_default(),
    )
}

/// The machine's memory. On Linux one line of /proc/meminfo (sysinfo's `System::new`
/// would also read /proc/stat, whose every CPU and interrupt the kernel formats first).
fn total_memory_mib() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        });
        if let Some(kib) = kib {
            return kib / 1024;
        }
    }
    sysinfo::System::new()
        .map(|mut sys| {
            sys.refresh_memory();
            sys.total_memory() / (1024 * 1024)
        })
        .unwrap_or(0)
}

/// `env.os`.
pub fn os(ctx: &Context, state: &mut RunState) {
    let (os, version) = os_name_version();
    let info = SystemInfo {
        os,
        os_version: version,
        kernel: sysinfo::System::kernel_version().unwrap_or_default(),
        arch: std::env::consts::ARCH.to_string(),
        memory_mib: total_memory_mib(),
        shell: ctx
            .env
            .get("SHELL")
            .and_then(|s| Path::new(s).file_name())
            .map(|s| s.to_string_lossy().into_owned()),
        openssh: None,
    };
    state.push([os_finding(&info)]);
    state.artifacts.insert(
        "env/system.json".into(),
        serde_json::to_vec_pretty(&info).unwrap_or_default(),
    );
}

/// The `env.os` finding: the system in one line, and whether it runs inside WSL.
fn os_finding(info: &SystemInfo) -> Finding {
    let wsl = info.kernel.to_ascii_lowercase().contains("microsoft");
    let summary = format!(
        "{} {} ({}), kernel {}{}",
        info.os,
        info.os_version,
        info.arch,
        info.kernel,
        if wsl { ", inside WSL" } else { "" }
    );
    Finding::info(CheckId::EnvOs, "system", summary)
        .with("os", &info.os)
        .with("os_version", &info.os_version)
        .with("kernel", &info.kernel)
        .with("arch", &info.arch)
        .with("wsl", wsl)
}

/// Parses `OpenSSH_9.2p1 …` into (major, minor).
pub fn parse_version(banner: &str) -> Option<(u32, u32)> {
    let start = banner.find("OpenSSH_")? + "OpenSSH_".len();
    let rest = &banner[start..];
    let rest = rest.strip_prefix("for_Windows_").unwrap_or(rest);
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// Finds `name` on the PATH of the context's environment (`ssh.exe` on Windows).
pub fn which(ctx: &Context, name: &str) -> Option<PathBuf> {
    crate::platform::which(ctx.os, &ctx.env, name)
}

/// The OpenSSH client to use, or the finding that says why there is none.
pub fn client_path(ctx: &Context) -> Result<PathBuf, Box<Finding>> {
    match &ctx.openssh {
        OpenSshChoice::Disabled => Err(Box::new(openssh_finding(&ClientSeen::Disabled))),
        OpenSshChoice::Path(p) => Ok(p.clone()),
        OpenSshChoice::Auto => which(ctx, "ssh").ok_or_else(|| {
            Box::new(openssh_finding(&ClientSeen::NotFound {
                os: ctx.os,
                alias: ctx.profile.example_alias(),
            }))
        }),
    }
}

/// Runs `ssh -V` (a few milliseconds; started early so it overlaps other probes), for at
/// most `timeout` ([`Context::local_timeout`]).
pub fn version_output(
    path: &Path,
    timeout: Duration,
) -> Result<crate::proc::Output, crate::proc::ProcError> {
    crate::proc::run(std::process::Command::new(path).arg("-V"), timeout, 4096)
}

/// `env.openssh`.
pub fn openssh(ctx: &Context, state: &mut RunState) {
    let path = match client_path(ctx) {
        Ok(p) => p,
        Err(f) => return state.push([*f]),
    };
    let output = version_output(&path, ctx.local_timeout());
    openssh_from(state, path, output);
    name_the_client(ctx, state);
}

/// On macOS, says whether Apple's ssh or Homebrew's runs (they differ in `UseKeychain`).
pub fn name_the_client(ctx: &Context, state: &mut RunState) {
    let Some(o) = &state.openssh else { return };
    let flavour = crate::platform::macos::flavour(ctx.os, &o.path);
    let Some(words) = crate::platform::macos::flavour_words(flavour) else {
        return;
    };
    if let Some(f) = state
        .findings
        .iter_mut()
        .rev()
        .find(|f| f.id == CheckId::EnvOpenssh)
    {
        f.summary = format!("{}; {words}", f.summary);
    }
}

/// `env.openssh` from an `ssh -V` already run.
pub fn openssh_from(
    state: &mut RunState,
    path: PathBuf,
    output: Result<crate::proc::Output, crate::proc::ProcError>,
) {
    let shown = path.display().to_string();
    let text = match output {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) => {
            let error = e.to_string();
            return state.push([openssh_finding(&ClientSeen::Failed {
                path: &shown,
                error: &error,
            })]);
        }
    };
    let banner = text.lines().next().unwrap_or("").trim().to_string();
    let Some((major, minor)) = parse_version(&banner) else {
        return state.push([openssh_finding(&ClientSeen::NotOpenSsh {
            path: &shown,
            output: &banner,
        })]);
    };
    if let Some(v) = state.artifacts.get_mut("env/system.json") {
        if let Ok(mut info) = serde_json::from_slice::<serde_json::Value>(v) {
            info["openssh"] = serde_json::Value::String(banner.clone());
            *v = serde_json::to_vec_pretty(&info).unwrap_or_default();
        }
    }
    let client = OpenSsh {
        path,
        banner,
        major,
        minor,
    };
    state.push([openssh_finding(&ClientSeen::Found(&client))]);
    state.openssh = Some(client);
}

/// `env.openssh`: what became of the OpenSSH client.
enum ClientSeen<'a> {
    /// `--no-openssh`.
    Disabled,
    /// No `ssh` on PATH (of this platform, whose install words apply); `alias` is the
    /// example the advice names.
    NotFound { os: Os, alias: &'a str },
    /// `ssh -V` could not be run.
    Failed { path: &'a str, error: &'a str },
    /// `ssh -V` printed no OpenSSH version: its first line.
    NotOpenSsh { path: &'a str, output: &'a str },
    /// An OpenSSH client, by its version.
    Found(&'a OpenSsh),
}

/// The `env.openssh` finding.
fn openssh_finding(seen: &ClientSeen) -> Finding {
    match *seen {
        ClientSeen::Disabled => Finding::skip(
            CheckId::EnvOpenssh,
            "ssh",
            "not used (--no-openssh): no `ssh -G` comparison and no `ssh -vvv` transcript",
        ),
        ClientSeen::NotFound { os, alias } => {
            let (words, command) = os.install_openssh();
            Finding::fail(
                CheckId::EnvOpenssh,
                "ssh",
                "no OpenSSH client (`ssh`) found on PATH",
            )
            .detail(format!(
                "`ssh {alias}` needs an OpenSSH client. The doctor's own checks still run."
            ))
            .remedy(Remedy::command(words, command))
        }
        ClientSeen::Failed { path, error } => Finding::fail(
            CheckId::EnvOpenssh,
            path,
            format!("the OpenSSH client could not be run: {error}"),
        )
        .remedy(Remedy::text(
            "Check the path given with --ssh, or install the OpenSSH client.",
        )),
        ClientSeen::NotOpenSsh { path, output } => Finding::warn(
            CheckId::EnvOpenssh,
            path,
            "`ssh -V` did not print an OpenSSH version",
        )
        .with("output", output.chars().take(200).collect::<String>())
        .detail(
            "This may be another SSH client (e.g. Dropbear); the doctor's advice assumes OpenSSH.",
        ),
        ClientSeen::Found(client) => found(client),
    }
}

/// `env.openssh` for a client that reports its version: too old for rsa-sha2, or fine.
fn found(client: &OpenSsh) -> Finding {
    let (major, minor) = (client.major, client.minor);
    let shown = client.path.display().to_string();
    let finding = if (major, minor) < (7, 2) {
        let (words, command) = Os::current().upgrade_openssh();
        Finding::fail(
            CheckId::EnvOpenssh,
            &shown,
            format!(
                "OpenSSH {major}.{minor} is older than 7.2: it cannot make rsa-sha2 signatures"
            ),
        )
        .remedy(Remedy::command(words, command))
    } else {
        Finding::pass(
            CheckId::EnvOpenssh,
            &shown,
            format!("OpenSSH {major}.{minor} ({})", client.banner),
        )
    };
    finding
        .with("version", format!("{major}.{minor}"))
        .with("banner", &client.banner)
        .with("path", &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_memory_agrees_with_sysinfo() {
        let ours = total_memory_mib();
        let theirs = sysinfo::System::new()
            .map(|mut sys| {
                sys.refresh_memory();
                sys.total_memory() / (1024 * 1024)
            })
            .unwrap_or(0);
        assert!(ours > 0);
        assert!(
            ours.abs_diff(theirs) <= 1,
            "{ours} MiB against {theirs} MiB"
        );
    }

    #[test]
    fn parses_openssh_versions() {
        assert_eq!(
            parse_version("OpenSSH_9.2p1 Debian-2+deb12u6, OpenSSL 3.0.19 27 Jan 2026"),
            Some((9, 2))
        );
        assert_eq!(
            parse_version("OpenSSH_for_Windows_8.1p1, LibreSSL 3.0.2"),
            Some((8, 1))
        );
        assert_eq!(parse_version("OpenSSH_7.1p2"), Some((7, 1)));
        assert_eq!(parse_version("OpenSSH_10.0"), Some((10, 0)));
        assert_eq!(parse_version("dropbear"), None);
    }
}
