//! Records the git commit for `--version` and the report.
//!
//! Where the commit comes from, first found wins:
//! 1. `MLC_DOCTOR_COMMIT` in the build environment (release builds from an sdist, which
//!    carries no git metadata);
//! 2. git, when the crate root is the top of a work tree (a checkout or a worktree) — not
//!    when the crate merely sits inside some other repository, as an unpacked `.crate`
//!    under `target/package/` does;
//! 3. `.cargo_vcs_info.json`, which `cargo package` writes into the published crate.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=MLC_DOCTOR_COMMIT");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = from_env()
        .or_else(|| from_git(&root))
        .or_else(|| from_vcs_info(&root))
        .unwrap_or_default();
    println!("cargo:rustc-env=MLC_DOCTOR_COMMIT={commit}");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let long = if commit.is_empty() {
        version
    } else {
        format!("{version} ({commit})")
    };
    println!("cargo:rustc-env=MLC_DOCTOR_VERSION={long}");
}

fn short(sha: &str) -> Option<String> {
    let sha = sha.trim();
    (sha.len() >= 12 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then(|| sha[..12].to_string())
}

fn from_env() -> Option<String> {
    short(&std::env::var("MLC_DOCTOR_COMMIT").ok()?)
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn from_git(root: &Path) -> Option<String> {
    let top = PathBuf::from(git(root, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root.canonicalize().ok()? {
        return None;
    }
    // In a worktree `.git` is a file: ask git where HEAD and the branch's ref live.
    // A missing file would make cargo rerun this script on every build: watch only what exists.
    let branch = git(root, &["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        if let Some(p) = git(root, &["rev-parse", "--git-path", name]) {
            let p = root.join(p);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
    short(&git(root, &["rev-parse", "HEAD"])?)
}

fn from_vcs_info(root: &Path) -> Option<String> {
    let path = root.join(".cargo_vcs_info.json");
    let text = std::fs::read_to_string(&path).ok()?;
    println!("cargo:rerun-if-changed={}", path.display());
    // {"git": {"sha1": "<40 hex>"}, "path_in_vcs": ""}: no JSON parser needed for one field.
    let rest = &text[text.find("\"sha1\"")? + 6..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    short(&rest[start..end])
}
