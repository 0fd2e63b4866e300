//! What the doctor hands to OpenSSH (`ssh -G`, `ssh -vvv`) as its config.
//!
//! Never the user's own file: either copies of exactly the bytes the doctor checked
//! (when [`trust::assess`] found nothing that could run a program or that was not fully
//! understood), or a config the doctor writes itself from its evaluation. See
//! `sshconfig::trust` for the rule.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::sshconfig::{trust, Config, Disk, Effective};

/// How the user's config reaches OpenSSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Copies of the checked bytes, Includes pointed at the copies.
    Copy,
    /// The doctor's own config, written from what it understood; the reasons why.
    Sanitized(Vec<String>),
}

/// The temporary directory with the config OpenSSH reads; removed when dropped.
#[derive(Debug)]
pub struct Handover {
    dir: Option<crate::tempdirs::TempDir>,
    pub mode: Mode,
}

impl Handover {
    /// Loads the user's config alone (`ssh -F` reads no system file), decides and writes
    /// the copies. Never fails: without a temporary directory everything is sanitized.
    pub fn prepare(ctx: &Context) -> Handover {
        let path = ctx.ssh_dir().join("config");
        let exists = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
        let cfg = if exists {
            Config::load(&Disk, Some(&path), None, &ctx.home, None)
        } else {
            Config::default()
        };
        let dir = crate::tempdirs::TempDir::new("mlc-doctor-cfg-").ok();
        let mut reasons: Vec<String> = trust::assess(&cfg, !ctx.home_differs_from_passwd())
            .iter()
            .map(|r| describe(ctx, &cfg, r))
            .collect();
        reasons.dedup();
        let mode = match &dir {
            None => Mode::Sanitized(vec!["no temporary directory for a copy".into()]),
            Some(_) if !reasons.is_empty() => Mode::Sanitized(reasons),
            Some(d) => {
                let base = d.path().display().to_string();
                let written = trust::copies(&cfg, &base)
                    .into_iter()
                    .all(|(name, bytes)| write_private(&d.path().join(name), &bytes));
                if written {
                    Mode::Copy
                } else {
                    Mode::Sanitized(vec!["the copy could not be written".into()])
                }
            }
        };
        Handover { dir, mode }
    }

    /// The config file for `ssh -G`: only ever a copy of a trusted config.
    pub fn for_dash_g(&self) -> Option<PathBuf> {
        match (&self.mode, &self.dir) {
            (Mode::Copy, Some(d)) => Some(d.path().join(trust::copy_name(0))),
            _ => None,
        }
    }

    /// The temporary directory, so callers can show it as the user's path again.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The config file for a node's `ssh -vvv`. The copy when the config is trusted and
    /// the host key was verified; otherwise a config written from `eff` (leaving out
    /// identity and agent settings when `public_keys_only`, where the caller passes
    /// public keys alone so nothing can sign). Falls back to an empty file.
    pub fn for_transcript(
        &self,
        alias: &str,
        eff: Option<&Effective>,
        public_keys_only: bool,
    ) -> Option<PathBuf> {
        let d = self.dir.as_ref()?;
        if self.mode == Mode::Copy && !public_keys_only {
            return Some(d.path().join(trust::copy_name(0)));
        }
        let skip: &[&str] = if public_keys_only {
            &["identityfile", "identityagent", "certificatefile"]
        } else {
            &[]
        };
        let text = eff.map(|e| trust::sanitized(e, skip)).unwrap_or_default();
        let safe_alias: String = alias
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = d.path().join(format!("sanitized-{safe_alias}"));
        write_private(&path, text.as_bytes()).then_some(path)
    }

    /// Writes `bytes` as a file only this process's user can read, beside the configs.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Option<PathBuf> {
        let name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.as_ref()?.path().join(name);
        write_private(&path, bytes).then_some(path)
    }
}

fn describe(ctx: &Context, cfg: &Config, r: &trust::Reason) -> String {
    let file = |i: usize| {
        cfg.files
            .get(i)
            .map(|f| crate::escape::text(&ctx.show(&f.path)))
            .unwrap_or_else(|| "?".into())
    };
    match r {
        trust::Reason::Mentions { file: i, line, .. }
        | trust::Reason::NotUnderstood { file: i, line }
        | trust::Reason::Include { file: i, line } => {
            let what = r.to_string();
            let what = what
                .trim_start_matches(&format!("line {line} "))
                .to_string();
            let at = if *line > 0 {
                format!("{}:{line}", file(*i))
            } else {
                file(*i)
            };
            format!("{at}: {what}")
        }
        trust::Reason::Unusable { file: i } => format!("{}: {r}", file(*i)),
        trust::Reason::NoUserConfig => r.to_string(),
    }
}

/// Creates `path` (never through a link, never over a file) with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> bool {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    crate::platform::private_create(&mut opts);
    match opts.open(path) {
        Ok(mut f) => f.write_all(bytes).is_ok(),
        Err(_) => false,
    }
}
