//! The allowlist: which tokens of bundle text are known to be safe. No I/O.
//!
//! Every token that looks like something private — a host name, an IPv4 or IPv6 address,
//! an e-mail address, a path outside `~/.ssh` (or an unconventional file name in it), a
//! URL or a long secret-like string — is shipped only when the [`Vocabulary`] knows it:
//! the cluster's own names and addresses, algorithm names, fingerprints, public keys,
//! conventional `~/.ssh` names, a few system paths, and pseudonyms. The redactor turns
//! every other such token into a pseudonym; the leak gate refuses a bundle that still
//! holds one. Both use this one classifier, so a clean bundle is never refused.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// What a token looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Host,
    Ip,
    Email,
    /// An absolute path, `~/…`, or `%d/…`.
    Path,
    Url,
    /// A long string with the mix of characters a token or password has.
    Secret,
    /// Anything else (words, numbers, punctuation): always shipped.
    Plain,
}

impl Shape {
    /// The category name the leak gate reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Host => "host-like token",
            Shape::Ip => "address",
            Shape::Email => "e-mail-like token",
            Shape::Path => "path outside ~/.ssh",
            Shape::Url => "URL",
            Shape::Secret => "secret-like string",
            Shape::Plain => "plain",
        }
    }
}

/// Domains of SSH algorithm and extension names (`aes256-gcm@openssh.com`).
pub const ALGORITHM_DOMAINS: &[&str] = &[
    "openssh.com",
    "libssh.org",
    "ssh.com",
    "putty.projects.tartarus.org",
    "tartarus.org",
    "lysator.liu.se",
    "vandyke.com",
    "bitvise.com",
];

/// File name endings that make `name.ext` a file, not a host.
const FILE_EXTENSIONS: &[&str] = &[
    "txt", "json", "zip", "pub", "conf", "toml", "md", "ppk", "pem", "key", "so", "dll", "exe",
    "sh", "py", "rs", "log", "bak", "broken", "new", "old", "tmp", "html", "cfg", "ini", "yml",
    "yaml", "db", "lock", "sock", "socket", "pid", "gz", "tar", "crt", "csr", "der", "p12",
];

/// System paths that say nothing about the user.
const SAFE_PATHS: &[&str] = &[
    "/dev/null",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/etc/ssh/ssh_known_hosts",
    "/etc/ssh/ssh_known_hosts2",
    "/usr/bin/ssh",
    "/usr/local/bin/ssh",
    "/bin/ssh",
    "/opt/homebrew/bin/ssh",
    "/usr/sbin/sshd",
    "/usr/bin/ssh-keygen",
    "/usr/bin/ssh-agent",
    "/usr/bin/ssh-add",
    "/usr/bin/ssh-copy-id",
    // Windows: OpenSSH's own places, the agent's pipe, the first word of `C:\Program
    // Files`, and the switches of the `icacls` commands the report gives.
    "c:/windows/system32/openssh",
    "c:/windows/system32/openssh/ssh.exe",
    "c:/windows/system32/openssh/ssh-keygen.exe",
    "c:/windows/system32/openssh/ssh-add.exe",
    "c:/programdata/ssh",
    "c:/programdata/ssh/ssh_config",
    "c:/programdata/ssh/ssh_known_hosts",
    "__programdata__/ssh/ssh_config",
    "c:/program",
    "/./pipe/openssh-ssh-agent",
    "/inheritance:r",
    "/grant:r",
    "/remove",
    "/setowner",
    "/reset",
];

/// `~/.ssh` names that are conventional and say nothing about the user.
pub fn conventional_name(name: &str) -> bool {
    const FIXED: &[&str] = &[
        "config",
        "known_hosts",
        "known_hosts2",
        "authorized_keys",
        "authorized_keys2",
        "environment",
        "rc",
        "agent.sock",
        "config.d",
    ];
    let base = name.strip_suffix(".pub").unwrap_or(name);
    let base = base.strip_suffix("-cert").unwrap_or(base);
    let base = base.strip_suffix(".ppk").unwrap_or(base);
    if FIXED.contains(&base) || name.starts_with("config.mlc-doctor-") {
        return true;
    }
    let Some(rest) = base.strip_prefix("id_") else {
        return false;
    };
    let mut parts = rest.splitn(2, '_');
    let kind = parts.next().unwrap_or("");
    let site = parts.next();
    let known_kind = matches!(
        kind,
        "ed25519" | "rsa" | "ecdsa" | "dsa" | "ed25519-sk" | "ecdsa-sk" | "xmss"
    );
    // `id_<type>_<site>`: the site part is a short plain word.
    known_kind
        && site.is_none_or(|s| {
            !s.is_empty()
                && s.len() <= 24
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// What is known to be safe in this bundle.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Lowercase host names and aliases of the cluster, and the domains they are in.
    hosts: BTreeSet<String>,
    /// The cluster's addresses.
    addresses: BTreeSet<String>,
    /// URL prefixes that may be shipped (the profile's documentation).
    urls: Vec<String>,
    /// Exact tokens that may be shipped (the cluster username, …).
    words: BTreeSet<String>,
}

impl Vocabulary {
    /// The cluster's names, addresses and URLs, and other exact words to keep.
    pub fn new(
        hosts: impl IntoIterator<Item = String>,
        addresses: impl IntoIterator<Item = String>,
        urls: impl IntoIterator<Item = String>,
        words: impl IntoIterator<Item = String>,
    ) -> Vocabulary {
        let mut v = Vocabulary {
            urls: urls.into_iter().collect(),
            words: words.into_iter().map(|w| w.to_ascii_lowercase()).collect(),
            ..Vocabulary::default()
        };
        // The tool's own check ids (`env.os`, `config.present`) look like host names.
        v.words
            .extend(crate::catalogue::all().map(|d| d.id.to_string()));
        for h in hosts {
            let h = h.to_ascii_lowercase();
            // Its parent domains too (`mlcloud.uni-tuebingen.de`), never a bare TLD.
            let labels: Vec<&str> = h.split('.').collect();
            for i in 0..labels.len().saturating_sub(1) {
                v.hosts.insert(labels[i..].join("."));
            }
            v.hosts.insert(h);
        }
        for a in addresses {
            v.addresses.insert(a.to_ascii_lowercase());
        }
        v
    }

    /// True when `token` (of `shape`) may be shipped as it is.
    pub fn allows(&self, token: &str, shape: Shape) -> bool {
        let lower = token.to_ascii_lowercase();
        if self.words.contains(&lower) || is_pseudonym(&lower) {
            return true;
        }
        match shape {
            Shape::Plain => true,
            Shape::Host => {
                self.hosts.contains(&lower)
                    || ALGORITHM_DOMAINS.contains(&lower.as_str())
                    || lower.ends_with(".example.invalid")
            }
            Shape::Ip => {
                let bare = bare_address(&lower);
                self.addresses.contains(bare)
                    || bare.parse::<IpAddr>().is_ok_and(|ip| {
                        ip.is_loopback()
                            || ip.is_unspecified()
                            || super::redact::is_documentation(&ip)
                            || matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 0)
                    })
            }
            Shape::Email => {
                let domain = lower.rsplit('@').next().unwrap_or("");
                ALGORITHM_DOMAINS.contains(&domain) || domain == "example.invalid"
            }
            Shape::Path => safe_path(&lower),
            Shape::Url => self.urls.iter().any(|u| token.starts_with(u.as_str())),
            Shape::Secret => false,
        }
    }
}

/// `[addr]:port`, `addr%scope` → the address; `v4:port` → the v4 address.
pub fn bare_address(t: &str) -> &str {
    let t = t.strip_prefix('[').unwrap_or(t);
    let t = t.split(']').next().unwrap_or(t);
    let t = t.split('%').next().unwrap_or(t);
    match t.rsplit_once(':') {
        Some((a, port))
            if a.parse::<std::net::Ipv4Addr>().is_ok() && port.parse::<u16>().is_ok() =>
        {
            a
        }
        _ => t,
    }
}

/// Pseudonyms the redactor writes (and the home written as `~`).
pub fn is_pseudonym(lower: &str) -> bool {
    let numbered = |prefix: &str| {
        lower
            .strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    lower.ends_with("@example.invalid")
        || lower.ends_with(".example.invalid")
        || [
            "path-",
            "file-",
            "token-",
            "user-",
            "other-user-",
            "cluster-user-",
            "client-",
            "key-comment-",
            "env-value-",
        ]
        .iter()
        .any(|p| numbered(p))
        || lower.starts_with("~/.ssh/file-")
}

fn safe_path(lower: &str) -> bool {
    // Windows spells the same places with `\` (doubled in some of ssh's messages).
    let mut slashed = String::with_capacity(lower.len());
    for c in lower.chars().map(|c| if c == '\\' { '/' } else { c }) {
        if !(c == '/' && slashed.ends_with('/')) {
            slashed.push(c);
        }
    }
    let lower = slashed.as_str();
    // `file:line` as the report names places.
    let lower = match lower.rsplit_once(':') {
        Some((p, n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => p,
        _ => lower,
    };
    if let Some(rest) = lower.strip_prefix("~/.ssh/") {
        return rest
            .split('/')
            .all(|part| part.is_empty() || conventional_name(part) || is_pseudonym(part));
    }
    if lower == "~" || lower == "~/" || lower == "~/.ssh" || lower == "~/.ssh/" {
        return true;
    }
    if lower.starts_with("/etc/ssh/ssh_config.d/") {
        return true;
    }
    let trimmed = lower.trim_end_matches('/');
    SAFE_PATHS.contains(&trimmed)
}

/// Shannon entropy in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0usize; 128];
    let mut n = 0usize;
    for b in s.bytes().filter(|b| *b < 128) {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

fn host_shaped(t: &str) -> bool {
    let labels: Vec<&str> = t.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        return false;
    }
    if !t
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return false;
    }
    let last = labels[labels.len() - 1].to_ascii_lowercase();
    (2..=24).contains(&last.len())
        && last.chars().all(|c| c.is_ascii_alphabetic())
        && !FILE_EXTENSIONS.contains(&last.as_str())
        && labels[0].chars().any(|c| c.is_ascii_alphanumeric())
}

/// A Windows path: a drive (`C:\Users\…`, `d:/x`) or a share (`\\server\share`).
fn windows_path(token: &str) -> bool {
    let b = token.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/'))
        || token.starts_with("\\\\")
}

/// What `token` looks like.
pub fn shape(token: &str) -> Shape {
    if token.len() < 3 {
        return Shape::Plain;
    }
    if token.contains("://") {
        return Shape::Url;
    }
    if bare_address(token).parse::<IpAddr>().is_ok() {
        return Shape::Ip;
    }
    if token.starts_with('/')
        || token.starts_with("~/")
        || token.starts_with("~\\")
        || token.starts_with("%d/")
        || windows_path(token)
    {
        return Shape::Path;
    }
    if let Some((local, domain)) = token.rsplit_once('@') {
        if !local.is_empty() && host_shaped(domain) {
            return Shape::Email;
        }
    }
    if host_shaped(token) {
        return Shape::Host;
    }
    let secretish = token.len() >= 24
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c))
        && token.chars().any(|c| c.is_ascii_uppercase())
        && token.chars().any(|c| c.is_ascii_lowercase())
        && token.chars().any(|c| c.is_ascii_digit())
        && !token.starts_with("AAAA")
        && entropy(token) >= 4.0;
    // Access key ids are shorter and have no lower case (`AKIAIOSFODNN7EXAMPLE`): a
    // run of 16 or more capitals and digits, with both.
    let key_id = token.len() >= 16
        && token
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && token.chars().any(|c| c.is_ascii_digit())
        && token.chars().filter(|c| c.is_ascii_uppercase()).count() >= 4;
    if secretish || key_id {
        return Shape::Secret;
    }
    Shape::Plain
}

/// The tokens of a text, as (start, end) byte ranges: split at white space, quotes,
/// brackets and separators that never belong to a host, path or address, with trailing
/// sentence punctuation dropped. `[` stays (for `[host]:port`), as does `:`. Leading
/// dots go too: the wildcard of a host pattern (`*.lab.example.org`) is a separator, and
/// what follows it is a domain.
pub fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let is_sep = |c: char| c.is_whitespace() || "\"'`(),;{}|=!*?".contains(c) || (c as u32) < 0x20;
    let mut start: Option<usize> = None;
    let push = |s: usize, e: usize, out: &mut Vec<(usize, usize)>| {
        // Not the dots of a relative path (`./x`, `../x`).
        let token = &text[s..e];
        let rest = token.trim_start_matches('.');
        let s = match rest.starts_with('/') {
            true => s,
            false => s + (token.len() - rest.len()),
        };
        // Nor the brackets around one (`<a copy of ~/.ssh/config>`).
        let s = s + usize::from(text[s..e].starts_with('<'));
        let trimmed = text[s..e].trim_end_matches(['.', ':', '>']);
        if !trimmed.is_empty() {
            out.push((s, s + trimmed.len()));
        }
    };
    for (i, c) in text.char_indices() {
        if is_sep(c) {
            if let Some(s) = start.take() {
                push(s, i, &mut out);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        push(s, text.len(), &mut out);
    }
    out
}

/// The tokens of `text` that look private and are not allowed: (token, shape).
pub fn unsafe_tokens<'a>(text: &'a str, vocab: &Vocabulary) -> Vec<(&'a str, Shape)> {
    tokens(text)
        .into_iter()
        .map(|(s, e)| &text[s..e])
        .map(|t| (t, shape(t)))
        .filter(|(t, sh)| *sh != Shape::Plain && !vocab.allows(t, *sh))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        Vocabulary::new(
            [
                "galvani-login.mlcloud.uni-tuebingen.de".to_string(),
                "slurm".into(),
            ],
            ["10.1.2.3".to_string()],
            ["https://docs.example.org/ml".to_string()],
            ["pbb111".to_string()],
        )
    }

    #[test]
    fn shapes() {
        for (t, s) in [
            ("internal.corp.example.com", Shape::Host),
            ("report.json", Shape::Plain),
            ("e.g", Shape::Plain),
            ("0.1.0", Shape::Plain),
            ("OpenSSH.Client~~~~0.0.1.0", Shape::Plain),
            ("10.0.0.7", Shape::Ip),
            ("10.0.0.7:22", Shape::Ip),
            ("fd12:3456::55", Shape::Ip),
            ("[fd12::1]:2222", Shape::Ip),
            ("12:30:45", Shape::Plain),
            ("jane@corp.example.com", Shape::Email),
            ("chacha20-poly1305@openssh.com", Shape::Email),
            ("/opt/secret/agent.sock", Shape::Path),
            ("~/work/key", Shape::Path),
            ("~/.ssh/config:12", Shape::Path),
            ("D:\\Backups\\Ana", Shape::Path),
            ("c:/users/ana/key", Shape::Path),
            ("\\\\server\\share\\k.ppk", Shape::Path),
            ("~\\.ssh\\work", Shape::Path),
            ("https://x.example.org/a", Shape::Url),
            ("ghp_AbCdEf1234567890XyZqWeRtY9876", Shape::Secret),
            ("AKIAIOSFODNN7EXAMPLE", Shape::Secret),
            ("ASIA4EXAMPLE7KEY12", Shape::Secret),
            ("SHA256", Shape::Plain),
            ("CURVE25519SHA256", Shape::Secret),
            ("HMACSHA2ETM", Shape::Plain),
            ("mlc-doctor-20261128T014721Z", Shape::Plain),
            ("SSH-2.0-OpenSSH_9.2p1", Shape::Plain),
            ("rsa-sha2-512", Shape::Plain),
            (
                "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                Shape::Plain,
            ),
        ] {
            assert_eq!(shape(t), s, "{t}");
        }
    }

    #[test]
    fn windows_places_of_openssh_and_the_reports_icacls_switches_are_safe() {
        let v = vocab();
        for safe in [
            "C:\\Windows\\System32\\OpenSSH\\ssh.exe",
            "C:\\\\Windows\\\\System32\\\\OpenSSH\\\\ssh.exe",
            "\\\\.\\pipe\\openssh-ssh-agent",
            "/inheritance:r",
            "/grant:r",
            "~\\.ssh\\config",
        ] {
            assert!(v.allows(safe, shape(safe)), "{safe}");
        }
        for private in [
            "C:\\Users\\Ana",
            "D:\\Backups\\ana.ppk",
            "\\\\fs01\\home\\ana",
        ] {
            assert!(!v.allows(private, shape(private)), "{private}");
        }
    }

    #[test]
    fn the_windows_access_fix_reaches_support_whole() {
        use crate::platform::windows::{icacls_fix, ps_profile_path, AclVerdict};
        let verdict = AclVerdict {
            bad_owner: Some(("S-1-5-21-1-2-3-1002".into(), "PC\\bo".into())),
            offenders: vec![("S-1-5-32-545".into(), "BUILTIN\\Users".into())],
        };
        let line = icacls_fix(&ps_profile_path(".ssh/id_ed25519"), &verdict);
        assert_eq!(unsafe_tokens(&line, &vocab()), vec![], "{line}");
        // `….User.Value` would have been a host name to the bundle.
        let dotted = "[Security.Principal.WindowsIdentity]::GetCurrent().User.Value";
        assert_eq!(
            unsafe_tokens(dotted, &vocab()),
            vec![("User.Value", Shape::Host)]
        );
    }

    #[test]
    fn the_domain_of_a_wildcard_pattern_is_a_host_token() {
        let text = "Match host ci.example.org,*.priv.example.org !*.lab.example.com ./x ../y";
        let found: Vec<&str> = tokens(text).into_iter().map(|(s, e)| &text[s..e]).collect();
        assert_eq!(
            found,
            [
                "Match",
                "host",
                "ci.example.org",
                "priv.example.org",
                "lab.example.com",
                "./x",
                "../y"
            ]
        );
        assert_eq!(shape("priv.example.org"), Shape::Host);
    }

    #[test]
    fn the_cluster_algorithms_and_conventional_names_are_allowed() {
        let v = vocab();
        let text = "ssh galvani-login.mlcloud.uni-tuebingen.de (10.1.2.3) as pbb111 with chacha20-poly1305@openssh.com; ~/.ssh/id_ed25519_mlcloud and ~/.ssh/config, ~/.ssh/config:12, /dev/null; see https://docs.example.org/ml/x; 127.0.0.1:22 [::1]:22 mlcloud.uni-tuebingen.de host-1.example.invalid path-3 192.0.2.4 0.0.1.0";
        assert_eq!(unsafe_tokens(text, &v), vec![]);
        let bad = "jump via bastion.corp.example.com (10.9.8.7, fd00::5) with ~/.ssh/bank_key and /home/alice/x, mail jane@corp.example.com, token ghp_AbCdEf1234567890XyZqWeRtY9876 https://evil.example.net/x";
        let found: Vec<&str> = unsafe_tokens(bad, &v).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            found,
            vec![
                "bastion.corp.example.com",
                "10.9.8.7",
                "fd00::5",
                "~/.ssh/bank_key",
                "/home/alice/x",
                "jane@corp.example.com",
                "ghp_AbCdEf1234567890XyZqWeRtY9876",
                "https://evil.example.net/x"
            ]
        );
    }

    #[test]
    fn conventional_key_names() {
        for ok in [
            "id_ed25519",
            "id_rsa.pub",
            "id_ed25519_mlcloud",
            "id_ecdsa-cert.pub",
            "config",
            "known_hosts",
        ] {
            assert!(conventional_name(ok), "{ok}");
        }
        for no in ["bank_key", "id_ed25519_my secret", "alice-laptop", "id_foo"] {
            assert!(!conventional_name(no), "{no}");
        }
    }
}
