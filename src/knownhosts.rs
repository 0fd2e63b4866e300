//! known_hosts lines and our own matcher: hashed `|1|salt|hash` entries, `[host]:port`,
//! wildcards, negation, `@cert-authority` and `@revoked`, tabs and repeated spaces (which
//! ssh-key's parser rejects), with line numbers. No I/O.

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::sshconfig::pattern;

/// One usable line of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub marker: Marker,
    pub hosts: Hosts,
    pub key_type: String,
    /// Base64 key blob.
    pub key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    None,
    CertAuthority,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// `|1|salt|hash`.
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
    /// Comma-separated patterns, possibly negated with `!`.
    Patterns(Vec<String>),
}

/// Parses a known_hosts file; unparseable lines are skipped, as ssh skips them.
pub fn parse(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let mut first = fields.next().unwrap_or("");
        let marker = match first {
            "@cert-authority" => Marker::CertAuthority,
            "@revoked" => Marker::Revoked,
            _ => Marker::None,
        };
        if marker != Marker::None {
            first = fields.next().unwrap_or("");
        }
        let (Some(key_type), Some(key)) = (fields.next(), fields.next()) else {
            continue;
        };
        let hosts = match first.strip_prefix("|1|") {
            Some(rest) => {
                let Some((salt, hash)) = rest.split_once('|') else {
                    continue;
                };
                let b64 = base64::engine::general_purpose::STANDARD;
                let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else {
                    continue;
                };
                Hosts::Hashed { salt, hash }
            }
            None => Hosts::Patterns(first.split(',').map(str::to_string).collect()),
        };
        out.push(Entry {
            line: i + 1,
            marker,
            hosts,
            key_type: key_type.to_string(),
            key: key.to_string(),
        });
    }
    out
}

/// The name known_hosts uses for a host: `host`, or `[host]:port` off port 22.
pub fn host_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_ascii_lowercase()
    } else {
        format!("[{}]:{port}", host.to_ascii_lowercase())
    }
}

impl Entry {
    /// True when the entry names `name` (as made by [`host_name`]).
    pub fn matches(&self, name: &str) -> bool {
        match &self.hosts {
            Hosts::Hashed { salt, hash } => {
                let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt) else {
                    return false;
                };
                mac.update(name.as_bytes());
                mac.verify_slice(hash).is_ok()
            }
            Hosts::Patterns(pats) => {
                let mut hit = false;
                for p in pats {
                    let (neg, p) = match p.strip_prefix('!') {
                        Some(rest) => (true, rest),
                        None => (false, p.as_str()),
                    };
                    if pattern::matches(name, &p.to_ascii_lowercase()) {
                        if neg {
                            return false;
                        }
                        hit = true;
                    }
                }
                hit
            }
        }
    }
}

/// What known_hosts says about a host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A line with this very key.
    Match { line: usize },
    /// The key is listed as revoked.
    Revoked { line: usize },
    /// Lines for this host with the same key type but another key: "host key changed".
    Mismatch { lines: Vec<(usize, String)> },
    /// Nothing for this host (or only other key types / a CA).
    Unknown { other_types: Vec<String> },
}

/// Checks `key_type` + base64 `key` for the names (host name, then address) against entries.
pub fn check(entries: &[Entry], names: &[String], key_type: &str, key: &str) -> Verdict {
    let family = |t: &str| {
        if t.starts_with("rsa-sha2-") {
            "ssh-rsa".to_string()
        } else {
            t.to_string()
        }
    };
    for e in entries.iter().filter(|e| e.marker == Marker::Revoked) {
        if e.key == key {
            return Verdict::Revoked { line: e.line };
        }
    }
    let for_host: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.marker == Marker::None && names.iter().any(|n| e.matches(n)))
        .collect();
    if let Some(e) = for_host.iter().find(|e| e.key == key) {
        return Verdict::Match { line: e.line };
    }
    let same_type: Vec<(usize, String)> = for_host
        .iter()
        .filter(|e| family(&e.key_type) == family(key_type))
        .map(|e| (e.line, e.key.clone()))
        .collect();
    if !same_type.is_empty() {
        return Verdict::Mismatch { lines: same_type };
    }
    Verdict::Unknown {
        other_types: for_host.iter().map(|e| e.key_type.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD;
        format!(
            "|1|{}|{}",
            b64.encode(salt),
            b64.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_hashed_ports_wildcards_and_tabs() {
        let text = format!(
            "# comment\nslurm.example.org,10.0.0.1 ssh-ed25519 {KEY_A}\n[other.example.org]:2222\tssh-ed25519   {KEY_A}\n{} ssh-ed25519 {KEY_A}\n*.wild.example,!bad.wild.example ssh-ed25519 {KEY_A}\n",
            hashed("hashed.example.org", b"0123456789abcdefghij")
        );
        let e = parse(&text);
        assert_eq!(e.len(), 4);
        let chk = |name: &str| check(&e, &[name.to_string()], "ssh-ed25519", KEY_A);
        assert_eq!(chk("slurm.example.org"), Verdict::Match { line: 2 });
        assert_eq!(
            chk(&host_name("other.example.org", 2222)),
            Verdict::Match { line: 3 }
        );
        assert_eq!(chk("hashed.example.org"), Verdict::Match { line: 4 });
        assert_eq!(chk("a.wild.example"), Verdict::Match { line: 5 });
        assert!(matches!(chk("bad.wild.example"), Verdict::Unknown { .. }));
        assert!(
            matches!(chk("other.example.org"), Verdict::Unknown { .. }),
            "port 22 is not [host]:2222"
        );
    }

    #[test]
    fn changed_and_revoked_keys() {
        let text = format!("slurm ssh-ed25519 {KEY_B}\nslurm ssh-rsa AAAAB3NzaC1yc2E\n@revoked * ssh-ed25519 {KEY_A}\n");
        let e = parse(&text);
        assert_eq!(
            check(&e, &["slurm".into()], "ssh-ed25519", KEY_A),
            Verdict::Revoked { line: 3 }
        );
        let e = parse(&format!("slurm ssh-ed25519 {KEY_B}\nslurm ssh-rsa AAAAB3NzaC1yc2E\n@cert-authority * ssh-ed25519 {KEY_A}\n"));
        assert_eq!(
            check(&e, &["slurm".into()], "ssh-ed25519", KEY_A),
            Verdict::Mismatch {
                lines: vec![(1, KEY_B.to_string())]
            }
        );
        assert_eq!(
            check(&e, &["slurm".into()], "ecdsa-sha2-nistp256", "AAAA"),
            Verdict::Unknown {
                other_types: vec!["ssh-ed25519".into(), "ssh-rsa".into()]
            }
        );
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse("|1|!!!|???? ssh-ed25519 AAAA\njust-one-field\n@revoked\n").is_empty());
    }
}
