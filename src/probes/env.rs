//! `env.*`: the operating system and the OpenSSH client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
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

/// `env.os`.
pub fn os(ctx: &Context, state: &mut RunState) {
    let (os, version) = os_name_version();
    let kernel = sysinfo::System::kernel_version().unwrap_or_default();
    let arch = std::env::consts::ARCH.to_string();
    let memory_mib = sysinfo::System::new()
        .map(|mut sys| {
            sys.refresh_memory();
            sys.total_memory() / (1024 * 1024)
        })
        .unwrap_or(0);
    let shell = ctx
        .env
        .get("SHELL")
        .and_then(|s| Path::new(s).file_name())
        .map(|s| s.to_string_lossy().into_owned());
    let wsl = kernel.to_ascii_lowercase().contains("microsoft");
    let summary = format!(
        "{os} {version} ({arch}), kernel {kernel}{}",
        if wsl { ", inside WSL" } else { "" }
    );
    state.push([Finding::info(CheckId::EnvOs, "system", summary)
        .with("os", &os)
        .with("os_version", &version)
        .with("kernel", &kernel)
        .with("arch", &arch)
        .with("wsl", wsl)]);
    let info = SystemInfo {
        os,
        os_version: version,
        kernel,
        arch,
        memory_mib,
        shell,
        openssh: None,
    };
    state.artifacts.insert(
        "env/system.json".into(),
        serde_json::to_vec_pretty(&info).unwrap_or_default(),
    );
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
        OpenSshChoice::Disabled => Err(Box::new(Finding::skip(
            CheckId::EnvOpenssh,
            "ssh",
            "not used (--no-openssh): no `ssh -G` comparison and no `ssh -vvv` transcript",
        ))),
        OpenSshChoice::Path(p) => Ok(p.clone()),
        OpenSshChoice::Auto => which(ctx, "ssh").ok_or_else(|| {
            let (words, command) = ctx.os.install_openssh();
            Box::new(
                Finding::fail(
                    CheckId::EnvOpenssh,
                    "ssh",
                    "no OpenSSH client (`ssh`) found on PATH",
                )
                .detail(format!(
                    "`ssh {}` needs an OpenSSH client. The doctor's own checks still run.",
                    ctx.profile.example_alias()
                ))
                .remedy(Remedy::command(words, command)),
            )
        }),
    }
}

/// Runs `ssh -V` (a few milliseconds; started early so it overlaps other probes).
pub fn version_output(path: &Path) -> Result<crate::proc::Output, crate::proc::ProcError> {
    crate::proc::run(
        std::process::Command::new(path).arg("-V"),
        Duration::from_secs(5),
        4096,
    )
}

/// `env.openssh`.
pub fn openssh(ctx: &Context, state: &mut RunState) {
    let path = match client_path(ctx) {
        Ok(p) => p,
        Err(f) => return state.push([*f]),
    };
    let output = version_output(&path);
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
            state.push([Finding::fail(
                CheckId::EnvOpenssh,
                shown,
                format!("the OpenSSH client could not be run: {e}"),
            )
            .remedy(Remedy::text(
                "Check the path given with --ssh, or install the OpenSSH client.",
            ))]);
            return;
        }
    };
    let banner = text.lines().next().unwrap_or("").trim().to_string();
    let Some((major, minor)) = parse_version(&banner) else {
        state.push([Finding::warn(
            CheckId::EnvOpenssh,
            shown,
            "`ssh -V` did not print an OpenSSH version",
        )
        .with("output", banner.chars().take(200).collect::<String>())
        .detail(
            "This may be another SSH client (e.g. Dropbear); the doctor's advice assumes OpenSSH.",
        )]);
        return;
    };
    if let Some(v) = state.artifacts.get_mut("env/system.json") {
        if let Ok(mut info) = serde_json::from_slice::<serde_json::Value>(v) {
            info["openssh"] = serde_json::Value::String(banner.clone());
            *v = serde_json::to_vec_pretty(&info).unwrap_or_default();
        }
    }
    let finding = if (major, minor) < (7, 2) {
        Finding::fail(
            CheckId::EnvOpenssh,
            shown.clone(),
            format!(
                "OpenSSH {major}.{minor} is older than 7.2: it cannot make rsa-sha2 signatures"
            ),
        )
        .remedy({
            let (words, command) = crate::platform::Os::current().upgrade_openssh();
            Remedy::command(words, command)
        })
    } else {
        Finding::pass(
            CheckId::EnvOpenssh,
            shown.clone(),
            format!("OpenSSH {major}.{minor} ({banner})"),
        )
    };
    state.push([finding
        .with("version", format!("{major}.{minor}"))
        .with("banner", &banner)
        .with("path", &shown)]);
    state.openssh = Some(OpenSsh {
        path,
        banner,
        major,
        minor,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
