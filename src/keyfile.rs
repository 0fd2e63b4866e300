//! Key file sniffing: bytes in, facts out, no I/O and no passphrase. Recognises OpenSSH
//! (`openssh-key-v1`), PEM (RSA/EC/DSA, `Proc-Type: 4,ENCRYPTED`), PKCS#8 plain and
//! encrypted, PuTTY v2/v3 and public key lines. Private key data is never kept: only the
//! public half, the header facts and the defects OpenSSH would trip over.

use base64::Engine;
use russh::keys::ssh_key::{self, HashAlg, PrivateKey, PublicKey};
use serde::Serialize;

/// The container format of a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyFormat {
    OpenSsh,
    PemRsa,
    PemEc,
    PemDsa,
    Pkcs8,
    Pkcs8Encrypted,
    PuttyV2,
    PuttyV3,
    PublicKey,
    NotAKey,
}

impl KeyFormat {
    /// True for private key containers.
    pub fn is_private(self) -> bool {
        !matches!(self, KeyFormat::PublicKey | KeyFormat::NotAKey)
    }

    /// True for the legacy formats `ssh-keygen -p` converts.
    pub fn is_legacy(self) -> bool {
        matches!(
            self,
            KeyFormat::PemRsa
                | KeyFormat::PemEc
                | KeyFormat::PemDsa
                | KeyFormat::Pkcs8
                | KeyFormat::Pkcs8Encrypted
        )
    }

    pub fn is_putty(self) -> bool {
        matches!(self, KeyFormat::PuttyV2 | KeyFormat::PuttyV3)
    }

    /// Words for the report.
    pub fn describe(self) -> &'static str {
        match self {
            KeyFormat::OpenSsh => "OpenSSH private key",
            KeyFormat::PemRsa => "legacy PEM RSA private key",
            KeyFormat::PemEc => "legacy PEM EC private key",
            KeyFormat::PemDsa => "legacy PEM DSA private key",
            KeyFormat::Pkcs8 => "PKCS#8 private key",
            KeyFormat::Pkcs8Encrypted => "encrypted PKCS#8 private key",
            KeyFormat::PuttyV2 => "PuTTY (.ppk v2) private key",
            KeyFormat::PuttyV3 => "PuTTY (.ppk v3) private key",
            KeyFormat::PublicKey => "public key",
            KeyFormat::NotAKey => "not a key",
        }
    }

    /// The description with its article: "an OpenSSH private key", "a public key".
    pub fn with_article(self) -> String {
        let d = self.describe();
        match d {
            "not a key" => d.to_string(),
            _ if d.starts_with(['a', 'e', 'i', 'o', 'u', 'O']) => format!("an {d}"),
            _ => format!("a {d}"),
        }
    }
}

/// Something in the file that makes OpenSSH fail to load it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "detail")]
pub enum Defect {
    Crlf,
    Bom,
    NoFinalNewline,
    Truncated,
    Corrupt(String),
}

impl Defect {
    pub fn describe(&self) -> String {
        match self {
            Defect::Crlf => "Windows (CRLF) line endings".into(),
            Defect::Bom => "a UTF-8 byte-order mark at the start".into(),
            Defect::NoFinalNewline => "no newline after the last line".into(),
            Defect::Truncated => "the file is cut short (no END line)".into(),
            Defect::Corrupt(e) => format!("the key data is corrupt ({e})"),
        }
    }
}

/// What a key file says about itself without its passphrase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyFacts {
    pub format: KeyFormat,
    /// SSH algorithm name: `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, `ssh-dss`, ….
    pub algorithm: Option<String>,
    pub bits: Option<u32>,
    pub encrypted: Option<bool>,
    pub cipher: Option<String>,
    pub kdf: Option<String>,
    pub kdf_rounds: Option<u32>,
    /// The public key line without comment (`ssh-ed25519 AAAA…`).
    pub public_key: Option<String>,
    pub fingerprint: Option<String>,
    /// The comment, where the file holds it in the clear (public keys, PuTTY).
    #[serde(skip)]
    pub comment: Option<String>,
    pub defects: Vec<Defect>,
}

impl KeyFacts {
    fn new(format: KeyFormat) -> KeyFacts {
        KeyFacts {
            format,
            algorithm: None,
            bits: None,
            encrypted: None,
            cipher: None,
            kdf: None,
            kdf_rounds: None,
            public_key: None,
            fingerprint: None,
            comment: None,
            defects: vec![],
        }
    }

    fn set_public(&mut self, key: &PublicKey) {
        self.algorithm = Some(key.algorithm().as_str().to_string());
        self.bits = bits_of(key);
        let mut bare = key.clone();
        bare.set_comment("");
        self.public_key = bare.to_openssh().ok().map(|s| s.trim().to_string());
        self.fingerprint = Some(key.fingerprint(HashAlg::Sha256).to_string());
    }

    /// The public key, when the file gave one.
    pub fn public(&self) -> Option<PublicKey> {
        PublicKey::from_openssh(self.public_key.as_deref()?).ok()
    }
}

/// Key size in bits for RSA, DSA and ECDSA; 256 for Ed25519.
pub fn bits_of(key: &PublicKey) -> Option<u32> {
    let data = key.key_data();
    if let Some(rsa) = data.rsa() {
        return Some(rsa.key_size());
    }
    if data.ed25519().is_some() {
        return Some(256);
    }
    if let Some(ec) = data.ecdsa() {
        return Some(match ec.curve() {
            ssh_key::EcdsaCurve::NistP256 => 256,
            ssh_key::EcdsaCurve::NistP384 => 384,
            ssh_key::EcdsaCurve::NistP521 => 521,
        });
    }
    if let Some(dsa) = data.dsa() {
        return Some((dsa.p().as_positive_bytes().map(|b| b.len()).unwrap_or(128) * 8) as u32);
    }
    None
}

const OPENSSH_BEGIN: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENSSH_END: &str = "-----END OPENSSH PRIVATE KEY-----";

/// True when the first bytes look like a private key header (for discovering keys).
pub fn looks_private(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    head.starts_with(b"-----BEGIN ") && head.windows(11).any(|w| w == b"PRIVATE KEY")
        || head.starts_with(b"PuTTY-User-Key-File-")
}

/// Reads a key file's facts.
pub fn sniff(bytes: &[u8]) -> KeyFacts {
    let mut defects = Vec::new();
    let mut body = bytes;
    if let Some(rest) = body.strip_prefix(b"\xEF\xBB\xBF") {
        defects.push(Defect::Bom);
        body = rest;
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return KeyFacts::new(KeyFormat::NotAKey);
    };
    let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
    let mut facts = if first == OPENSSH_BEGIN {
        openssh(text, &mut defects)
    } else if first.starts_with("-----BEGIN ") && first.ends_with("PRIVATE KEY-----") {
        pem(text, first)
    } else if let Some(rest) = first.strip_prefix("PuTTY-User-Key-File-") {
        putty(text, rest)
    } else if let Ok(key) = PublicKey::from_openssh(first.trim()) {
        let mut f = KeyFacts::new(KeyFormat::PublicKey);
        f.set_public(&key);
        let comment = key.comment().as_str_lossy().to_string();
        f.comment = (!comment.is_empty()).then_some(comment);
        f
    } else {
        return KeyFacts::new(KeyFormat::NotAKey);
    };
    if facts.format.is_private() && !facts.format.is_putty() {
        if text.contains("\r\n") {
            defects.push(Defect::Crlf);
        }
        if !text.ends_with('\n') && !defects.contains(&Defect::Truncated) {
            defects.push(Defect::NoFinalNewline);
        }
        let end_marker = first.replace("BEGIN", "END");
        if !text.contains(&end_marker) && !defects.contains(&Defect::Truncated) {
            defects.push(Defect::Truncated);
        }
    }
    facts.defects.extend(defects);
    facts
}

fn openssh(text: &str, defects: &mut Vec<Defect>) -> KeyFacts {
    let mut facts = KeyFacts::new(KeyFormat::OpenSsh);
    let clean: String = text.replace('\r', "");
    if !clean.contains(OPENSSH_END) {
        defects.push(Defect::Truncated);
        return facts;
    }
    let mut clean = clean;
    if !clean.ends_with('\n') {
        clean.push('\n');
    }
    match PrivateKey::from_openssh(clean.as_bytes()) {
        Ok(key) => {
            facts.encrypted = Some(key.is_encrypted());
            if key.is_encrypted() {
                facts.cipher = Some(key.cipher().as_str().to_string());
            }
            match key.kdf() {
                ssh_key::Kdf::Bcrypt { rounds, .. } => {
                    facts.kdf = Some("bcrypt".into());
                    facts.kdf_rounds = Some(*rounds);
                }
                ssh_key::Kdf::None => facts.kdf = Some("none".into()),
                _ => facts.kdf = Some("unknown".into()),
            }
            facts.set_public(key.public_key());
            // `key` (with any unencrypted private data) is dropped and zeroised here.
        }
        Err(e) => defects.push(Defect::Corrupt(e.to_string())),
    }
    facts
}

fn pem(text: &str, first: &str) -> KeyFacts {
    let format = match first {
        "-----BEGIN RSA PRIVATE KEY-----" => KeyFormat::PemRsa,
        "-----BEGIN EC PRIVATE KEY-----" => KeyFormat::PemEc,
        "-----BEGIN DSA PRIVATE KEY-----" => KeyFormat::PemDsa,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----" => KeyFormat::Pkcs8Encrypted,
        "-----BEGIN PRIVATE KEY-----" => KeyFormat::Pkcs8,
        _ => return KeyFacts::new(KeyFormat::NotAKey),
    };
    let mut facts = KeyFacts::new(format);
    facts.algorithm = match format {
        KeyFormat::PemRsa => Some("ssh-rsa".into()),
        KeyFormat::PemDsa => Some("ssh-dss".into()),
        KeyFormat::PemEc => Some("ecdsa".into()),
        _ => None,
    };
    let headers: Vec<&str> = text
        .lines()
        .skip(1)
        .take(4)
        .map(|l| l.trim_end_matches('\r'))
        .collect();
    match format {
        KeyFormat::Pkcs8Encrypted => {
            facts.encrypted = Some(true);
            facts.kdf = Some("pkcs#8 (pbkdf2)".into());
        }
        KeyFormat::Pkcs8 => facts.encrypted = Some(false),
        _ => {
            let encrypted = headers
                .iter()
                .any(|h| h.starts_with("Proc-Type:") && h.contains("ENCRYPTED"));
            facts.encrypted = Some(encrypted);
            if encrypted {
                facts.kdf = Some("pem (md5)".into());
                facts.cipher = headers
                    .iter()
                    .find_map(|h| h.strip_prefix("DEK-Info:"))
                    .map(|v| {
                        v.trim()
                            .split(',')
                            .next()
                            .unwrap_or("")
                            .to_ascii_lowercase()
                    });
            }
        }
    }
    facts
}

fn putty(text: &str, rest: &str) -> KeyFacts {
    let (version, algorithm) = rest
        .split_once(':')
        .map(|(v, a)| (v.trim(), a.trim()))
        .unwrap_or(("", ""));
    let mut facts = KeyFacts::new(if version == "3" {
        KeyFormat::PuttyV3
    } else {
        KeyFormat::PuttyV2
    });
    facts.algorithm = (!algorithm.is_empty()).then(|| algorithm.to_string());
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let mut public_lines = 0usize;
    let mut public_b64 = String::new();
    while let Some(line) = lines.next() {
        if let Some(enc) = line.strip_prefix("Encryption:") {
            let enc = enc.trim();
            facts.encrypted = Some(enc != "none");
            if enc != "none" {
                facts.cipher = Some(enc.to_string());
            }
        } else if let Some(kdf) = line.strip_prefix("Key-Derivation:") {
            facts.kdf = Some(kdf.trim().to_ascii_lowercase());
        } else if let Some(c) = line.strip_prefix("Comment:") {
            facts.comment = Some(c.trim().to_string());
        } else if let Some(n) = line.strip_prefix("Public-Lines:") {
            public_lines = n.trim().parse().unwrap_or(0).min(64);
            for _ in 0..public_lines {
                if let Some(l) = lines.next() {
                    public_b64.push_str(l.trim());
                }
            }
        } else if line.starts_with("Private-Lines:") {
            break;
        }
    }
    if public_lines > 0 {
        if let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(&public_b64) {
            if let Ok(key) = PublicKey::from_bytes(&blob) {
                facts.set_public(&key);
            }
        }
    }
    if !text.contains("Private-Lines:")
        || !(text.contains("Private-MAC:") || text.contains("Private-Hash:"))
    {
        facts.defects.push(Defect::Truncated);
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_with_their_article() {
        assert_eq!(
            KeyFormat::Pkcs8Encrypted.with_article(),
            "an encrypted PKCS#8 private key"
        );
        assert_eq!(KeyFormat::OpenSsh.with_article(), "an OpenSSH private key");
        assert_eq!(KeyFormat::Pkcs8.with_article(), "a PKCS#8 private key");
        assert_eq!(
            KeyFormat::PemRsa.with_article(),
            "a legacy PEM RSA private key"
        );
        assert_eq!(KeyFormat::NotAKey.with_article(), "not a key");
    }

    #[test]
    fn not_keys_are_not_keys() {
        assert_eq!(sniff(b"").format, KeyFormat::NotAKey);
        assert_eq!(sniff(b"\xff\xfe\x00garbage").format, KeyFormat::NotAKey);
        assert_eq!(sniff(b"Host slurm\n").format, KeyFormat::NotAKey);
        assert!(looks_private(b"-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(looks_private(b"PuTTY-User-Key-File-3: ssh-ed25519\n"));
        assert!(!looks_private(b"ssh-ed25519 AAAA"));
    }

    #[test]
    fn truncated_openssh_header_only() {
        let f = sniff(b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n");
        assert_eq!(f.format, KeyFormat::OpenSsh);
        assert!(f.defects.contains(&Defect::Truncated));
    }

    #[test]
    fn random_garbage_in_an_openssh_envelope_is_corrupt_not_a_panic() {
        let f = sniff(b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAAAAAAAAAAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
        assert!(
            matches!(f.defects.first(), Some(Defect::Corrupt(_))),
            "{f:?}"
        );
    }
}
