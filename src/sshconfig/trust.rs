//! Whether OpenSSH may read the user's config, and what it reads instead. No I/O.
//!
//! The rule does not depend on the doctor's parser agreeing with OpenSSH's: the raw
//! bytes of every file are searched, in any spelling, for the words that make ssh run a
//! program or load code, and anything the parser did not fully understand makes the
//! whole config untrusted. A trusted config is handed to ssh as copies of exactly the
//! bytes that were checked (Includes pointed at the copies, never at the live files);
//! an untrusted one is replaced by a config the doctor writes from its own evaluation.

use std::fmt;

use super::eval::Effective;
use super::parse::LineKind;
use super::{Config, IncludeIssue};

/// Words that, in any case and with any spacing, quoting or punctuation, make a config
/// untrusted: each runs a program or loads a library when ssh reads or uses the config.
pub const DANGEROUS_WORDS: &[&str] = &[
    "exec",
    "proxycommand",
    "localcommand",
    "knownhostscommand",
    "proxyusefdpass",
    "pkcs11provider",
    // OpenSSH's other name for PKCS11Provider.
    "smartcarddevice",
    "securitykeyprovider",
    "xauthlocation",
];

/// Why the user's config is not handed to OpenSSH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// There is no readable user config (nothing to hand over).
    NoUserConfig,
    /// A file mentions a dangerous word (`file` is an index into `Config::files`).
    Mentions {
        file: usize,
        line: usize,
        word: &'static str,
    },
    /// A line the doctor's reader did not fully understand.
    NotUnderstood { file: usize, line: usize },
    /// A file that could not be read as a config at all (binary, UTF-16, too large).
    Unusable { file: usize },
    /// An Include the doctor could not follow exactly as OpenSSH would.
    Include { file: usize, line: usize },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::NoUserConfig => write!(f, "there is no readable config"),
            Reason::Mentions { line, word, .. } => {
                write!(f, "line {line} mentions `{word}`, which can run a program")
            }
            Reason::NotUnderstood { line, .. } => {
                write!(f, "line {line} was not fully understood")
            }
            Reason::Unusable { .. } => write!(f, "a file could not be read as a config"),
            Reason::Include { line, .. } => {
                write!(
                    f,
                    "the Include on line {line} could not be followed exactly"
                )
            }
        }
    }
}

/// Only ASCII letters and digits, lowercased: `Match  "E\x\0ec"` and `ex\<newline>ec` both become
/// `exec`, so no quoting, escaping, spacing or stray byte hides a word.
fn letters(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .filter(|b| b.is_ascii_alphanumeric())
        .map(|b| b.to_ascii_lowercase())
        .collect()
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every reason not to hand the user's files (the non-system part of `cfg`) to OpenSSH.
/// `home_is_account_home` is false when `--home` (or `$HOME`) differs from the passwd
/// home, where OpenSSH would expand `~` in an Include to another file.
pub fn assess(cfg: &Config, home_is_account_home: bool) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let user_files: Vec<usize> = (0..cfg.files.len())
        .filter(|i| !cfg.files[*i].system)
        .collect();
    if user_files.is_empty() {
        return vec![Reason::NoUserConfig];
    }
    for &i in &user_files {
        let f = &cfg.files[i];
        if !f.parsed.usable {
            reasons.push(Reason::Unusable { file: i });
        }
        let whole = letters(&f.bytes);
        for word in DANGEROUS_WORDS {
            if !find(&whole, word.as_bytes()) {
                continue;
            }
            // Name the first line where it shows; a word split over lines names line 0.
            let line = f
                .bytes
                .split(|b| *b == b'\n')
                .position(|l| find(&letters(l), word.as_bytes()))
                .map_or(0, |p| p + 1);
            reasons.push(Reason::Mentions {
                file: i,
                line,
                word,
            });
        }
        if f.bytes
            .iter()
            .any(|b| *b == 0 || (*b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || *b == 0x7f)
        {
            reasons.push(Reason::NotUnderstood { file: i, line: 0 });
        }
        // A CR anywhere but before LF is a line break to some readers and not to others.
        if f.bytes.windows(2).any(|w| w[0] == b'\r' && w[1] != b'\n')
            || f.bytes.last() == Some(&b'\r')
        {
            reasons.push(Reason::NotUnderstood { file: i, line: 0 });
        }
        // Every line's keyword must be one the doctor knows, spelled plainly: OpenSSH
        // strips quotes from a keyword (`"Include"`), and `IgnoreUnknown` hides from the
        // doctor's reader a line OpenSSH may still act on.
        for (n, raw) in f.bytes.split(|b| *b == b'\n').enumerate() {
            let text = String::from_utf8_lossy(raw);
            let line = text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let end = line
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(line.len());
            let word = &line[..end];
            let plain = word.chars().all(|c| c.is_ascii_alphanumeric());
            let known = matches!(
                word.to_ascii_lowercase().as_str(),
                "host" | "match" | "include"
            ) || super::keywords::lookup(word).is_some();
            if !plain || !known {
                reasons.push(Reason::NotUnderstood {
                    file: i,
                    line: n + 1,
                });
            }
        }
        for issue in &f.parsed.issues {
            reasons.push(Reason::NotUnderstood {
                file: i,
                line: issue.line,
            });
        }
        for line in &f.parsed.lines {
            if let LineKind::Include(args) = &line.kind {
                let unsure = args.iter().any(|a| a.contains(['$', '%']))
                    || (!home_is_account_home && args.iter().any(|a| a.starts_with('~')));
                if unsure {
                    reasons.push(Reason::Include {
                        file: i,
                        line: line.number,
                    });
                }
            }
        }
    }
    for issue in &cfg.include_issues {
        let (file, line) = match issue {
            IncludeIssue::NoMatch { .. } => continue,
            IncludeIssue::Loop { file, line, .. }
            | IncludeIssue::Depth { file, line }
            | IncludeIssue::TooMany { file, line }
            | IncludeIssue::Unreadable { file, line, .. } => (*file, *line),
        };
        if !cfg.files.get(file).is_some_and(|f| f.system) {
            reasons.push(Reason::Include { file, line });
        }
    }
    reasons.dedup();
    reasons
}

/// The name of the copy of file `i` in the directory the doctor hands to ssh.
pub fn copy_name(i: usize) -> String {
    format!("config-{i}")
}

/// Copies of the user's files as ssh should read them: the same bytes, except that each
/// Include line names the copies of exactly the files the doctor read for it (a line
/// that matched nothing becomes a comment). Line numbers stay the same. `dir` is where
/// the copies will be written; only call this when [`assess`] found nothing.
pub fn copies(cfg: &Config, dir: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, f) in cfg.files.iter().enumerate().filter(|(_, f)| !f.system) {
        let body = f.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&f.bytes);
        let mut text = Vec::with_capacity(body.len());
        for (n, raw) in body.split(|b| *b == b'\n').enumerate() {
            if n > 0 {
                text.push(b'\n');
            }
            match f.includes.get(&(n + 1)) {
                Some(targets) => {
                    let names: Vec<String> = targets
                        .iter()
                        .map(|t| quote(&format!("{dir}/{}", copy_name(*t))))
                        .collect();
                    if names.is_empty() {
                        text.extend_from_slice(b"# Include (matched no file)");
                    } else {
                        text.extend_from_slice(format!("Include {}", names.join(" ")).as_bytes());
                    }
                }
                None => text.extend_from_slice(raw),
            }
        }
        out.push((copy_name(i), text));
    }
    out
}

/// Keywords whose values the doctor passes to ssh in a config it writes itself: they
/// decide how ssh authenticates and negotiates, and none runs a program or forwards.
const PASS_THROUGH: &[&str] = &[
    "addressfamily",
    "batchmode",
    "certificatefile",
    "challengeresponseauthentication",
    "ciphers",
    "compression",
    "connectionattempts",
    "gssapiauthentication",
    "hostbasedacceptedalgorithms",
    "hostbasedauthentication",
    "hostkeyalgorithms",
    "hostkeyalias",
    "identitiesonly",
    "identityagent",
    "identityfile",
    "ipqos",
    "kbdinteractiveauthentication",
    "kexalgorithms",
    "macs",
    "passwordauthentication",
    "preferredauthentications",
    "pubkeyacceptedalgorithms",
    "pubkeyacceptedkeytypes",
    "pubkeyauthentication",
    "rekeylimit",
    "requiredrsasize",
    "serveralivecountmax",
    "serveraliveinterval",
    "tcpkeepalive",
    "verifyhostkeydns",
];

/// A config the doctor writes itself for one alias, from its own evaluation: only the
/// keywords of [`PASS_THROUGH`], each value re-quoted; a value with a quote, a backslash
/// or a control character is left out (it was not fully understood). `skip` names
/// keywords the caller sets itself.
pub fn sanitized(eff: &Effective, skip: &[&str]) -> String {
    let mut out = String::from("# written by mlc-doctor from the settings it understood\n");
    for (kw, assignments) in &eff.values {
        if !PASS_THROUGH.contains(kw) || skip.contains(kw) {
            continue;
        }
        let many = super::eval::ACCUMULATE.contains(kw);
        for a in assignments.iter().take(if many { usize::MAX } else { 1 }) {
            let clean = a.args.iter().all(|v| {
                !v.is_empty()
                    && !v
                        .chars()
                        .any(|c| c.is_control() || matches!(c, '"' | '\\' | '\''))
            });
            if clean && !a.args.is_empty() {
                let args: Vec<String> = a.args.iter().map(|v| quote(v)).collect();
                out.push_str(&format!("{kw} {}\n", args.join(" ")));
            }
        }
    }
    out
}

/// Quotes a value for a config line when it has spaces (ssh's own splitting undoes it).
fn quote(v: &str) -> String {
    if v.contains([' ', '\t', '#']) {
        format!("\"{v}\"")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sshconfig::parse::split_args;
    use crate::sshconfig::{evaluate, Config, EvalInput, FileSource};
    use std::path::{Path, PathBuf};

    struct Mem(Vec<(&'static str, &'static [u8])>);
    impl FileSource for Mem {
        fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
            self.0
                .iter()
                .find(|(p, _)| Path::new(p) == path)
                .map(|(_, b)| b.to_vec())
                .ok_or_else(|| "missing".into())
        }
        fn glob(&self, pattern: &str) -> Vec<PathBuf> {
            self.0
                .iter()
                .filter(|(p, _)| *p == pattern)
                .map(|(p, _)| PathBuf::from(p))
                .collect()
        }
    }

    fn load(files: Vec<(&'static str, &'static [u8])>) -> Config {
        Config::load(
            &Mem(files),
            Some(Path::new("/h/.ssh/config")),
            None,
            Path::new("/h"),
            None,
        )
    }

    #[test]
    fn every_spelling_of_a_dangerous_word_is_found() {
        let spellings: &[&[u8]] = &[
            b"Match exec \"touch /tmp/x\"\n",
            b"MATCH EXEC true\n",
            b"match !exec true\n",
            b"Match\texec=true\n",
            b"Match host x exec true\n",
            b"\rMatch exec true\n",
            b"Match e\"x\"ec true\n",
            b"Match ex\\\nec true\n",
            b"Match ex\0ec true\n",
            b"Host *\n  ProxyCommand nc %h %p\n",
            b"Host *\n  proxycommand=nc %h %p\n",
            b"Host *\n  Proxy\"Command\" nc\n",
            b"LocalCommand touch x\n",
            b"KnownHostsCommand /bin/true\n",
            b"ProxyUseFdpass yes\n",
            b"PKCS11Provider /lib/x.so\n",
            b"Host *\n  SmartcardDevice /lib/x.so\n",
            b"SecurityKeyProvider /lib/x.so\n",
        ];
        // A quoted keyword OpenSSH reads as Include, hidden from the doctor's reader by
        // `IgnoreUnknown *`: not understood, so never handed over.
        let cfg = load(vec![(
            "/h/.ssh/config",
            b"IgnoreUnknown *\n\"Include\" /tmp/evil\nHost slurm\n  User abc123\n",
        )]);
        assert!(assess(&cfg, true)
            .iter()
            .any(|r| matches!(r, Reason::NotUnderstood { line: 2, .. })));
        for s in spellings {
            let bytes: &'static [u8] = Box::leak(s.to_vec().into_boxed_slice());
            let cfg = load(vec![("/h/.ssh/config", bytes)]);
            let r = assess(&cfg, true);
            assert!(
                r.iter().any(|r| matches!(r, Reason::Mentions { .. })),
                "{:?}: {r:?}",
                String::from_utf8_lossy(s)
            );
        }
    }

    #[test]
    fn an_included_file_counts_and_a_clean_config_is_trusted() {
        let cfg = load(vec![
            (
                "/h/.ssh/config",
                b"Include extra\nHost slurm\n  User abc123\n",
            ),
            ("/h/.ssh/extra", b"Match exec true\n"),
        ]);
        assert!(assess(&cfg, true)
            .iter()
            .any(|r| matches!(r, Reason::Mentions { file: 1, .. })));
        let clean = load(vec![
            (
                "/h/.ssh/config",
                b"Include extra\nHost slurm\n  User abc123\n",
            ),
            ("/h/.ssh/extra", b"Host *\n  IdentitiesOnly yes\n"),
        ]);
        assert_eq!(assess(&clean, true), vec![]);
        // With another home, `~` in an Include would point elsewhere for OpenSSH.
        let tilde = load(vec![("/h/.ssh/config", b"Include ~/.ssh/extra\n")]);
        assert!(!assess(&tilde, false).is_empty());
    }

    #[test]
    fn copies_point_includes_at_the_copies() {
        let cfg = load(vec![
            ("/h/.ssh/config", b"Host a\nInclude extra\nUser x\n"),
            ("/h/.ssh/extra", b"Port 22\n"),
        ]);
        let c = copies(&cfg, "/t");
        assert_eq!(c[0].0, "config-0");
        assert_eq!(
            String::from_utf8_lossy(&c[0].1),
            "Host a\nInclude /t/config-1\nUser x\n"
        );
        assert_eq!(c[1].1, b"Port 22\n");
    }

    #[test]
    fn sanitized_keeps_only_understood_safe_values() {
        let cfg = load(vec![(
            "/h/.ssh/config",
            b"Host slurm\n  IdentityFile \"~/.ssh/my key\"\n  IdentitiesOnly yes\n  ProxyCommand nc %h %p\n  SetEnv A=b\n  KexAlgorithms curve25519-sha256\n",
        )]);
        let eff = evaluate(
            &cfg,
            &EvalInput {
                alias: "slurm",
                local_user: "me",
            },
        );
        let s = sanitized(&eff, &[]);
        assert!(s.contains("identityfile \"~/.ssh/my key\"\n"), "{s}");
        assert!(s.contains("identitiesonly yes\n"));
        assert!(s.contains("kexalgorithms curve25519-sha256\n"));
        assert!(!s.contains("proxy") && !s.contains("setenv"), "{s}");
        assert_eq!(
            split_args("\"~/.ssh/my key\"").unwrap(),
            vec!["~/.ssh/my key".to_string()]
        );
    }
}
