//! Our own ssh_config reader: a tokenizer and evaluator that follow OpenSSH's readconf.c
//! (first value wins, IdentityFile accumulates, Host and Match blocks, Include with depth
//! and loop limits). No existing crate evaluates `Match` or first-value-wins correctly.
//! Parsing and evaluation do no I/O; `load` reads files through a [`FileSource`].

pub mod eval;
pub mod keywords;
pub mod parse;
pub mod pattern;
pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use eval::{evaluate, Assignment, Effective, EvalInput};
pub use parse::{Issue, IssueKind, Line, LineKind, Parsed};

/// Reads config files; the real one reads the disk, tests may use a map.
pub trait FileSource {
    /// The file's bytes (at most `parse::MAX_BYTES + 1`); errors as words.
    fn read(&self, path: &Path) -> Result<Vec<u8>, String>;
    /// Paths matching a glob, sorted.
    fn glob(&self, pattern: &str) -> Vec<PathBuf>;
}

/// The real filesystem; never opens FIFOs or devices, never reads more than the cap.
#[derive(Debug, Default)]
pub struct Disk;

impl FileSource for Disk {
    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if !meta.is_file() {
            return Err("not a regular file".into());
        }
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        file.take(parse::MAX_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| e.to_string())?;
        Ok(buf)
    }

    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        // OpenSSH uses POSIX glob(3), where `**` is just `*`; the glob crate would walk
        // whole directory trees for it.
        let mut pattern = pattern.to_string();
        while pattern.contains("**") {
            pattern = pattern.replace("**", "*");
        }
        let mut out: Vec<PathBuf> = match glob::glob(&pattern) {
            Ok(paths) => paths.filter_map(Result::ok).take(100_000).collect(),
            Err(_) => vec![],
        };
        out.sort();
        out
    }
}

/// One file of the config tree.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub parsed: Parsed,
    /// Include line number → the files it pulls in.
    pub includes: BTreeMap<usize, Vec<usize>>,
    /// True for the system-wide config and what it includes.
    pub system: bool,
    /// The raw bytes, for the bundle (capped).
    pub bytes: Vec<u8>,
}

/// A problem with an `Include`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncludeIssue {
    NoMatch {
        file: usize,
        line: usize,
        pattern: String,
    },
    Loop {
        file: usize,
        line: usize,
        target: PathBuf,
    },
    Depth {
        file: usize,
        line: usize,
    },
    Unreadable {
        file: usize,
        line: usize,
        target: PathBuf,
        error: String,
    },
    /// The doctor's own bound on files ([`MAX_FILES`]) stopped it here (OpenSSH has none).
    TooMany {
        file: usize,
        line: usize,
    },
}

/// The whole config: the user's file, the system's, and everything they include.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub files: Vec<ConfigFile>,
    /// Files evaluated in order: the user's config, then the system config.
    pub roots: Vec<usize>,
    pub include_issues: Vec<IncludeIssue>,
}

/// OpenSSH's limit on nested Includes.
pub const MAX_DEPTH: usize = 16;
/// A bound on files in one tree, so a hostile Include glob cannot exhaust memory.
pub const MAX_FILES: usize = 1_000;

impl Config {
    /// Loads the user's config (`user`, may be absent) and the system config, following
    /// Includes. `home` expands `~`; `client` is the OpenSSH version, if known.
    pub fn load(
        src: &dyn FileSource,
        user: Option<&Path>,
        system: Option<&Path>,
        home: &Path,
        client: Option<(u32, u32)>,
    ) -> Config {
        let mut cfg = Config::default();
        let mut cache: BTreeMap<PathBuf, usize> = BTreeMap::new();
        for (path, is_system) in [(user, false), (system, true)] {
            let Some(path) = path else { continue };
            if let Ok(bytes) = src.read(path) {
                let idx = cfg.add(path, bytes, is_system, client);
                cache.insert(path.to_path_buf(), idx);
                cfg.roots.push(idx);
                let mut stack = vec![path.to_path_buf()];
                cfg.resolve(src, idx, home, client, &mut cache, &mut stack);
            }
        }
        cfg
    }

    fn add(
        &mut self,
        path: &Path,
        bytes: Vec<u8>,
        system: bool,
        client: Option<(u32, u32)>,
    ) -> usize {
        let parsed = parse::parse(&bytes, client);
        let mut bytes = bytes;
        bytes.truncate(256 * 1024);
        self.files.push(ConfigFile {
            path: path.to_path_buf(),
            parsed,
            includes: BTreeMap::new(),
            system,
            bytes,
        });
        self.files.len() - 1
    }

    fn resolve(
        &mut self,
        src: &dyn FileSource,
        idx: usize,
        home: &Path,
        client: Option<(u32, u32)>,
        cache: &mut BTreeMap<PathBuf, usize>,
        stack: &mut Vec<PathBuf>,
    ) {
        let system = self.files[idx].system;
        let includes: Vec<(usize, Vec<String>)> = self.files[idx]
            .parsed
            .lines
            .iter()
            .filter_map(|l| match &l.kind {
                LineKind::Include(args) => Some((l.number, args.clone())),
                _ => None,
            })
            .collect();
        for (line, args) in includes {
            if stack.len() > MAX_DEPTH {
                self.include_issues
                    .push(IncludeIssue::Depth { file: idx, line });
                continue;
            }
            let mut targets = Vec::new();
            for arg in args {
                let pattern = include_path(&arg, home, system);
                let paths = src.glob(&pattern.to_string_lossy());
                if paths.is_empty() {
                    self.include_issues.push(IncludeIssue::NoMatch {
                        file: idx,
                        line,
                        pattern: arg.clone(),
                    });
                }
                for target in paths {
                    if stack.contains(&target) {
                        self.include_issues.push(IncludeIssue::Loop {
                            file: idx,
                            line,
                            target,
                        });
                        continue;
                    }
                    if self.files.len() >= MAX_FILES {
                        self.include_issues
                            .push(IncludeIssue::TooMany { file: idx, line });
                        break;
                    }
                    let t = match cache.get(&target) {
                        Some(t) => *t,
                        None => match src.read(&target) {
                            Ok(bytes) => {
                                let t = self.add(&target, bytes, system, client);
                                cache.insert(target.clone(), t);
                                stack.push(target.clone());
                                self.resolve(src, t, home, client, cache, stack);
                                stack.pop();
                                t
                            }
                            Err(error) => {
                                if Path::new(&target).is_dir() {
                                    continue;
                                }
                                self.include_issues.push(IncludeIssue::Unreadable {
                                    file: idx,
                                    line,
                                    target,
                                    error,
                                });
                                continue;
                            }
                        },
                    };
                    targets.push(t);
                }
            }
            self.files[idx].includes.insert(line, targets);
        }
    }

    /// True when any file has a `Match exec` (which `ssh -G` would run).
    pub fn has_match_exec(&self) -> bool {
        self.files.iter().any(|f| {
            f.parsed.lines.iter().any(|l| matches!(&l.kind, LineKind::Match(c) if c.iter().any(|c| c.attribute == "exec")))
        })
    }

    /// The line of a file, by number.
    pub fn line(&self, file: usize, number: usize) -> Option<&Line> {
        self.files
            .get(file)?
            .parsed
            .lines
            .iter()
            .find(|l| l.number == number)
    }
}

/// Where an Include argument points: `~` is the home, relative paths are under `~/.ssh`
/// for the user's config and `/etc/ssh` for the system's.
pub fn include_path(arg: &str, home: &Path, system: bool) -> PathBuf {
    if let Some(rest) = arg.strip_prefix("~/") {
        return home.join(rest);
    }
    if arg == "~" {
        return home.to_path_buf();
    }
    let p = Path::new(arg);
    if p.is_absolute() {
        p.to_path_buf()
    } else if system {
        Path::new("/etc/ssh").join(p)
    } else {
        home.join(".ssh").join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory file tree.
    pub(crate) struct Mem(pub BTreeMap<PathBuf, Vec<u8>>);

    impl FileSource for Mem {
        fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
            self.0
                .get(path)
                .cloned()
                .ok_or_else(|| "No such file or directory".into())
        }
        fn glob(&self, pattern: &str) -> Vec<PathBuf> {
            self.0
                .keys()
                .filter(|p| pattern::matches(&p.to_string_lossy(), pattern))
                .cloned()
                .collect()
        }
    }

    fn mem(files: &[(&str, &str)]) -> Mem {
        Mem(files
            .iter()
            .map(|(p, c)| (PathBuf::from(p), c.as_bytes().to_vec()))
            .collect())
    }

    #[test]
    fn includes_resolve_relative_to_dot_ssh_and_detect_loops() {
        let src = mem(&[
            (
                "/h/.ssh/config",
                "Include conf.d/*\nInclude ~/.ssh/loop\nInclude nothing-here\n",
            ),
            ("/h/.ssh/conf.d/a", "Host a\n User ua\n"),
            ("/h/.ssh/conf.d/b", "Host b\n User ub\n"),
            ("/h/.ssh/loop", "Include ~/.ssh/loop\n"),
        ]);
        let cfg = tests_support::load_home(&src);
        assert_eq!(cfg.files.len(), 4);
        assert_eq!(cfg.files[0].includes[&1].len(), 2);
        assert!(cfg
            .include_issues
            .iter()
            .any(|i| matches!(i, IncludeIssue::Loop { .. })));
        assert!(cfg.include_issues.iter().any(
            |i| matches!(i, IncludeIssue::NoMatch { pattern, .. } if pattern == "nothing-here")
        ));
    }

    #[test]
    fn deep_chains_stop_at_the_limit() {
        let mut files = vec![("/h/.ssh/config".to_string(), "Include f0\n".to_string())];
        for i in 0..40 {
            files.push((format!("/h/.ssh/f{i}"), format!("Include f{}\n", i + 1)));
        }
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), c.as_str()))
            .collect();
        let src = mem(&files);
        let cfg = tests_support::load_home(&src);
        assert!(cfg
            .include_issues
            .iter()
            .any(|i| matches!(i, IncludeIssue::Depth { .. })));
        assert!(cfg.files.len() <= MAX_DEPTH + 2);
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// Loads `text` as `/h/.ssh/config`, with `/h/.ssh/inc` setting `Port 2200`.
    pub fn load_str(text: &str) -> Config {
        struct Two(String);
        impl FileSource for Two {
            fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
                match path.to_str() {
                    Some("/h/.ssh/config") => Ok(self.0.as_bytes().to_vec()),
                    Some("/h/.ssh/inc") => Ok(b"Port 2200\n".to_vec()),
                    _ => Err("No such file".into()),
                }
            }
            fn glob(&self, pattern: &str) -> Vec<PathBuf> {
                if pattern == "/h/.ssh/inc" {
                    vec![PathBuf::from(pattern)]
                } else {
                    vec![]
                }
            }
        }
        load_home(&Two(text.to_string()))
    }

    /// Loads `/h/.ssh/config` from `src`, with `/h` as the home and no system config.
    pub fn load_home(src: &dyn FileSource) -> Config {
        Config::load(
            src,
            Some(Path::new("/h/.ssh/config")),
            None,
            Path::new("/h"),
            None,
        )
    }
}
