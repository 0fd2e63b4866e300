//! The leak gate, fail closed: nothing is written if any staged file or name holds a raw
//! seed, a private key marker or a line of a private key file found on this machine.

use std::collections::BTreeMap;

use super::redact::{find_bounded, find_path, find_whole_path, redactable, Category};

/// Strings that only private key files contain.
pub const PRIVATE_MARKERS: &[&str] = &[
    "PRIVATE KEY-----",
    "openssh-key-v1",
    "b3BlbnNzaC1rZXktdjE",
    "Private-Lines:",
    "Private-MAC:",
    "Private-Hash:",
];

/// What the gate searches for.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Raw values that must have been redacted.
    pub seeds: Vec<(Category, String)>,
    /// Lines of the base64 bodies of private key files on this machine.
    pub key_lines: Vec<String>,
    /// What may be shipped: every token that looks private (a host, an address, an
    /// e-mail, a path outside `~/.ssh`, a secret-like string) and is not in it, nor a
    /// pseudonym, blocks the bundle. This half knows nothing of the seeds.
    pub vocabulary: super::allow::Vocabulary,
}

/// One hit: where, and what kind of thing — never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub file: String,
    /// 1-based; 0 for the file name itself.
    pub line: usize,
    pub category: String,
}

impl std::fmt::Display for Leak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{} (file name): {}", self.file, self.category)
        } else {
            write!(f, "{} line {}: {}", self.file, self.line, self.category)
        }
    }
}

/// The body lines of a private key file (what must never leave the machine).
pub fn key_body_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_private = false;
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("-----")
            || line.starts_with("Proc-Type:")
            || line.starts_with("DEK-Info:")
        {
            continue;
        }
        if line.starts_with("PuTTY-User-Key-File") {
            in_private = false;
            continue;
        }
        if line.starts_with("Private-Lines:") {
            in_private = true;
            continue;
        }
        if line.contains(':') && !line.contains("==") {
            // PuTTY header lines (Encryption:, Comment:, Public-Lines:) hold nothing secret.
            in_private = false;
            continue;
        }
        let is_b64 = line.len() >= 16
            && line
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
        if is_b64 && (in_private || !text.starts_with("PuTTY")) {
            out.push(line.to_string());
        }
    }
    out
}

/// The seeds a line may hold: one pass over the line for all of them at once (a config of
/// thousands of hosts has thousands of seeds), each candidate then confirmed by the
/// redactor's own rule. ASCII case-insensitive, as that rule is.
struct SeedFinder<'a> {
    seeds: Vec<(Category, &'a str)>,
    matcher: Option<aho_corasick::AhoCorasick>,
}

impl<'a> SeedFinder<'a> {
    fn new(sources: &'a Sources) -> SeedFinder<'a> {
        let seeds: Vec<(Category, &str)> = sources
            .seeds
            .iter()
            .filter(|(cat, seed)| redactable(seed) && *cat != Category::HomePath)
            .map(|(cat, seed)| (*cat, seed.as_str()))
            .collect();
        let matcher = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(seeds.iter().map(|(_, s)| s))
            .ok();
        SeedFinder { seeds, matcher }
    }

    /// The categories of the seeds found in `line`, by the redactor's rule for each.
    fn found(&self, line: &str) -> Vec<Category> {
        let candidates: std::collections::BTreeSet<usize> = match &self.matcher {
            Some(m) => m
                .find_overlapping_iter(line)
                .map(|hit| hit.pattern().as_usize())
                .collect(),
            // Not built (it never fails for plain strings): every seed is a candidate.
            None => (0..self.seeds.len()).collect(),
        };
        candidates
            .into_iter()
            .filter_map(|i| self.seeds.get(i))
            .filter(|(cat, seed)| match cat {
                // The redactor's own rule for paths: whole paths only.
                Category::Path => !find_whole_path(line, seed).is_empty(),
                _ => !find_bounded(line, seed).is_empty(),
            })
            .map(|(cat, _)| *cat)
            .collect()
    }
}

/// A line of JSON text with its string escapes decoded (`\n` a line break, `\"` a quote,
/// `\u0041` an `A`): what its strings say. An escape that is not JSON stays as it is.
fn json_decoded(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\\') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(d) if hex.len() == 4 => {
                        out.push(d);
                        chars.nth(3);
                    }
                    _ => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Searches every file and name; returns the number of files scanned, or every hit.
pub fn check(files: &BTreeMap<String, Vec<u8>>, sources: &Sources) -> Result<usize, Vec<Leak>> {
    let finder = SeedFinder::new(sources);
    let homes: Vec<&str> = sources
        .seeds
        .iter()
        .filter(|(cat, _)| *cat == Category::HomePath)
        .map(|(_, seed)| seed.as_str())
        .collect();
    let mut leaks = Vec::new();
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        let mut hit = |line: usize, category: &str| {
            let leak = Leak {
                file: name.clone(),
                line,
                category: category.to_string(),
            };
            if !leaks.contains(&leak) {
                leaks.push(leak);
            }
        };
        for (cat, seed) in &sources.seeds {
            if !redactable(seed) {
                continue;
            }
            if !find_bounded(name, seed).is_empty() {
                hit(0, cat.as_str());
            }
        }
        for (_, shape) in super::allow::unsafe_tokens(name, &sources.vocabulary) {
            hit(0, shape.as_str());
        }
        let is_json = name.ends_with(".json");
        for (i, line) in text.lines().enumerate() {
            // JSON is read as the strings it holds (the redactor's view of it).
            let decoded = if is_json {
                json_decoded(line)
            } else {
                std::borrow::Cow::Borrowed(line)
            };
            let line = decoded.as_ref();
            for (_, shape) in super::allow::unsafe_tokens(line, &sources.vocabulary) {
                hit(i + 1, shape.as_str());
            }
            for marker in PRIVATE_MARKERS {
                if line.contains(marker) {
                    hit(i + 1, "private key marker");
                }
            }
            for cat in finder.found(line) {
                hit(i + 1, cat.as_str());
            }
            // The same rule as the redactor's: `/home/u` inside `/home/u-ticket.zip` is
            // another path, not the home.
            for home in &homes {
                if !find_path(line, home).is_empty() {
                    hit(i + 1, Category::HomePath.as_str());
                }
            }
            for body in &sources.key_lines {
                if line.contains(body.as_str()) {
                    hit(i + 1, "private key data");
                }
            }
        }
    }
    if leaks.is_empty() {
        Ok(files.len())
    } else {
        Err(leaks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_seeds_and_key_lines_are_caught_without_values() {
        let mut files = BTreeMap::new();
        files.insert("a.txt".to_string(), b"fine\nuser alice here\n".to_vec());
        files.insert(
            "alice.txt".to_string(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----\n".to_vec(),
        );
        files.insert(
            "b.txt".to_string(),
            b"x AAAAC3NzaC1lZDI1NTE5AAAAIBodyBodyBody y\n".to_vec(),
        );
        let sources = Sources {
            seeds: vec![(Category::LoginName, "alice".into())],
            key_lines: vec!["AAAAC3NzaC1lZDI1NTE5AAAAIBodyBodyBody".into()],
            ..Sources::default()
        };
        let leaks = check(&files, &sources).unwrap_err();
        let shown: Vec<String> = leaks.iter().map(|l| l.to_string()).collect();
        assert!(
            shown.contains(&"a.txt line 2: login-name".to_string()),
            "{shown:?}"
        );
        assert!(shown.contains(&"alice.txt (file name): login-name".to_string()));
        assert!(shown.contains(&"alice.txt line 1: private key marker".to_string()));
        assert!(shown.contains(&"b.txt line 1: private key data".to_string()));
        assert!(shown.iter().all(|s| !s.contains("Body")));
        let clean: BTreeMap<String, Vec<u8>> = [("x".to_string(), b"all good".to_vec())].into();
        assert_eq!(check(&clean, &sources), Ok(1));
    }

    #[test]
    fn key_bodies_skip_headers() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,ABC\n\nMIIEpAIBAAKCAQEAsecretsecretsecret\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            key_body_lines(pem),
            vec!["MIIEpAIBAAKCAQEAsecretsecretsecret".to_string()]
        );
        let ppk = "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: x\nPublic-Lines: 1\nAAAAC3NzaC1lZDI1NTE5AAAAIPublicPublic\nPrivate-Lines: 1\nAAAAIPrivatePrivatePrivate\nPrivate-MAC: abc\n";
        assert_eq!(
            key_body_lines(ppk),
            vec!["AAAAIPrivatePrivatePrivate".to_string()]
        );
    }
}
