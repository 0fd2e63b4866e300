//! The `ssh -vvv` transcript parser: text in, outcome out, no I/O.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// How the attempt ended, as OpenSSH told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Outcome {
    /// Fully logged in.
    Authenticated,
    /// The key was accepted and the server wants more (the TOTP code).
    PartialSuccess {
        remaining: Vec<String>,
    },
    /// `Server accepts key`, then BatchMode stopped ssh: the key **is** deployed.
    KeyAccepted {
        remaining: Vec<String>,
    },
    /// The server accepts the key but ssh cannot load the private key (permissions, format).
    KeyUnusable {
        path: String,
        reason: String,
    },
    PermissionDenied {
        methods: Vec<String>,
    },
    TooManyAuthFailures,
    HostKeyChanged {
        file: Option<String>,
        line: Option<u32>,
    },
    HostKeyVerificationFailed,
    NoMatchingAlgorithm {
        what: String,
        their_offer: String,
    },
    ResolveFailed {
        message: String,
    },
    ConnectFailed {
        message: String,
    },
    BannerTimeout,
    ConnectionClosed,
    BadConfig {
        file: String,
        line: u32,
        option: String,
    },
    BadPermissions {
        path: String,
    },
    Unknown,
}

impl Outcome {
    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Authenticated => "logged in".into(),
            Outcome::PartialSuccess { remaining } => format!("key accepted; the server then asks for {}", remaining.join(", ")),
            Outcome::KeyAccepted { .. } => "the server accepts the key (BatchMode then stops before the passphrase or TOTP prompt)".into(),
            Outcome::KeyUnusable { path, reason } => format!("the server accepts the key, but ssh cannot load {path}: {reason}"),
            Outcome::PermissionDenied { methods } => format!("Permission denied ({})", methods.join(",")),
            Outcome::TooManyAuthFailures => "Too many authentication failures (too many keys offered)".into(),
            Outcome::HostKeyChanged { file, line } => format!("REMOTE HOST IDENTIFICATION HAS CHANGED ({}:{})", file.clone().unwrap_or_default(), line.unwrap_or(0)),
            Outcome::HostKeyVerificationFailed => "Host key verification failed".into(),
            Outcome::NoMatchingAlgorithm { what, .. } => format!("no matching {what} found"),
            Outcome::ResolveFailed { message } => format!("Could not resolve hostname: {message}"),
            Outcome::ConnectFailed { message } => format!("connect failed: {message}"),
            Outcome::BannerTimeout => "Connection timed out during banner exchange".into(),
            Outcome::ConnectionClosed => "connection closed by the remote host during the handshake".into(),
            Outcome::BadConfig { file, line, option } => format!("{file}: line {line}: Bad configuration option: {option}"),
            Outcome::BadPermissions { path } => format!("Bad owner or permissions on {path}"),
            Outcome::Unknown => "no recognisable outcome".into(),
        }
    }
}

/// What the transcript shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Transcript {
    pub remote_version: Option<String>,
    pub kex: Option<String>,
    pub host_key: Option<String>,
    pub keys_offered: Vec<String>,
    pub keys_accepted: Vec<String>,
    /// `Load key "…": reason` lines.
    pub load_errors: Vec<(String, String)>,
    pub unprotected_keys: Vec<String>,
    pub outcome: Option<Outcome>,
}

struct Res {
    remote: Regex,
    kex: Regex,
    host_key: Regex,
    offering: Regex,
    accepts: Regex,
    can_continue: Regex,
    partial: Regex,
    authenticated: Regex,
    denied: Regex,
    too_many: Regex,
    offending: Regex,
    no_matching: Regex,
    resolve: Regex,
    connect: Regex,
    load_key: Regex,
    unprotected: Regex,
    bad_owner: Regex,
    bad_option: Regex,
}

fn res() -> &'static Res {
    static RES: OnceLock<Res> = OnceLock::new();
    RES.get_or_init(|| {
        let r = |p: &str| Regex::new(p).expect("valid regex");
        Res {
            remote: r(r"^debug1: Remote protocol version ([\d.]+), remote software version (.+)$"),
            kex: r(r"^debug1: kex: algorithm: (\S+)$"),
            host_key: r(r"^debug1: Server host key: (\S+) (SHA256:\S+)$"),
            offering: r(r"^debug1: Offering public key: (.+)$"),
            accepts: r(r"^debug1: Server accepts key: (.+)$"),
            can_continue: r(r"^debug1: Authentications that can continue: (.+)$"),
            partial: r(r#"^Authenticated using "(\S+)" with partial success\.$"#),
            authenticated: r(r#"^Authenticated to (\S+) .*using "(\S+)"\.$"#),
            denied: r(r"^(\S+)@(\S+): Permission denied \((.+)\)\.$"),
            too_many: r(r"^Received disconnect from .*Too many authentication failures"),
            offending: r(r"^Offending (\S+) key in (.+):(\d+)$"),
            no_matching: r(r"^Unable to negotiate with (\S+) port (\d+): no matching (.+) found\. Their offer: (.+)$"),
            resolve: r(r"^ssh: Could not resolve hostname (\S+): (.+)$"),
            connect: r(r"^ssh: connect to host (\S+) port (\d+): (.+)$"),
            load_key: r(r#"^Load key "(.+)": (.+)$"#),
            unprotected: r(r"^Permissions 0\d+ for '(.+)' are too open\.$"),
            bad_owner: r(r"^Bad owner or permissions on (.+)$"),
            bad_option: r(r"^(.+): line (\d+): Bad configuration option: (.+)$"),
        }
    })
}

fn methods(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parses an `ssh -vvv` transcript.
pub fn parse(text: &str) -> Transcript {
    let mut reader = Reader::default();
    for raw in text.lines() {
        reader.line(raw.trim_end_matches('\r'));
    }
    reader.finish()
}

/// What the parser knows between lines.
#[derive(Default)]
struct Reader {
    t: Transcript,
    /// The last `Authentications that can continue` list.
    last_continue: Vec<String>,
    outcome: Option<Outcome>,
    /// `REMOTE HOST IDENTIFICATION HAS CHANGED` was seen: an `Offending … key` line then
    /// says where the old key is.
    changed: bool,
}

impl Reader {
    /// Reads one line: the first kind of line it is decides (the order matters, as a
    /// quoted path may look like anything).
    fn line(&mut self, line: &str) {
        let _ = self.fact(line)
            || self.auth_outcome(line)
            || self.host_key_outcome(line)
            || self.connection_outcome(line)
            || self.key_complaint(line)
            || self.config_outcome(line);
    }

    /// Keeps the first outcome of the kinds where the first one is the cause.
    fn first(&mut self, outcome: Outcome) {
        if self.outcome.is_none() {
            self.outcome = Some(outcome);
        }
    }

    /// The server, the key exchange, the keys offered and accepted.
    fn fact(&mut self, line: &str) -> bool {
        let (re, t) = (res(), &mut self.t);
        if let Some(c) = re.remote.captures(line) {
            t.remote_version = Some(c[2].to_string());
        } else if let Some(c) = re.kex.captures(line) {
            t.kex = Some(c[1].to_string());
        } else if let Some(c) = re.host_key.captures(line) {
            t.host_key = Some(format!("{} {}", &c[1], &c[2]));
        } else if let Some(c) = re.offering.captures(line) {
            t.keys_offered.push(c[1].to_string());
        } else if let Some(c) = re.accepts.captures(line) {
            t.keys_accepted.push(c[1].to_string());
        } else if let Some(c) = re.can_continue.captures(line) {
            self.last_continue = methods(&c[1]);
        } else {
            return false;
        }
        true
    }

    /// How authentication ended: the latest word counts, except that nothing undoes a login.
    fn auth_outcome(&mut self, line: &str) -> bool {
        let re = res();
        if re.partial.is_match(line) {
            self.outcome = Some(Outcome::PartialSuccess { remaining: vec![] });
        } else if re.authenticated.is_match(line) {
            self.outcome = Some(Outcome::Authenticated);
        } else if let Some(c) = re.denied.captures(line) {
            if !matches!(self.outcome, Some(Outcome::Authenticated)) {
                self.outcome = Some(Outcome::PermissionDenied {
                    methods: methods(&c[3]),
                });
            }
        } else if re.too_many.is_match(line) {
            self.outcome = Some(Outcome::TooManyAuthFailures);
        } else {
            return false;
        }
        true
    }

    /// A changed host key (and where the old one is), or one ssh could not verify.
    fn host_key_outcome(&mut self, line: &str) -> bool {
        if line.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
            self.changed = true;
            self.first(Outcome::HostKeyChanged {
                file: None,
                line: None,
            });
        } else if let Some(c) = res().offending.captures(line) {
            if self.changed {
                self.outcome = Some(Outcome::HostKeyChanged {
                    file: Some(c[2].to_string()),
                    line: c[3].parse().ok(),
                });
            }
        } else if line == "Host key verification failed." {
            self.first(Outcome::HostKeyVerificationFailed);
        } else {
            return false;
        }
        true
    }

    /// The connection failed before authentication: no common algorithm, no address, no
    /// answer, or closed by the server.
    fn connection_outcome(&mut self, line: &str) -> bool {
        let re = res();
        if let Some(c) = re.no_matching.captures(line) {
            self.first(Outcome::NoMatchingAlgorithm {
                what: c[3].to_string(),
                their_offer: c[4].to_string(),
            });
        } else if let Some(c) = re.resolve.captures(line) {
            self.first(Outcome::ResolveFailed {
                message: c[2].to_string(),
            });
        } else if let Some(c) = re.connect.captures(line) {
            self.first(Outcome::ConnectFailed {
                message: c[3].to_string(),
            });
        } else if line == "Connection timed out during banner exchange" {
            self.first(Outcome::BannerTimeout);
        } else if line.starts_with("kex_exchange_identification:")
            || line.contains("Connection closed by remote host")
                && self.outcome.is_none()
                && self.t.keys_offered.is_empty()
        {
            self.first(Outcome::ConnectionClosed);
        } else {
            return false;
        }
        true
    }

    /// A key ssh could not load, or would not use because of its mode.
    fn key_complaint(&mut self, line: &str) -> bool {
        let re = res();
        if let Some(c) = re.load_key.captures(line) {
            self.t
                .load_errors
                .push((c[1].to_string(), c[2].to_string()));
        } else if let Some(c) = re.unprotected.captures(line) {
            self.t.unprotected_keys.push(c[1].to_string());
        } else {
            return false;
        }
        true
    }

    /// ssh stopped on the config: its owner or mode, or an option it does not know.
    fn config_outcome(&mut self, line: &str) -> bool {
        let re = res();
        if let Some(c) = re.bad_owner.captures(line) {
            self.first(Outcome::BadPermissions {
                path: c[1].to_string(),
            });
        } else if let Some(c) = re.bad_option.captures(line) {
            self.first(Outcome::BadConfig {
                file: c[1].to_string(),
                line: c[2].parse().unwrap_or(0),
                option: c[3].to_string(),
            });
        } else {
            return false;
        }
        true
    }

    /// The transcript with its outcome: a partial success names what the server asks for
    /// next, and an accepted key turns a denial (or silence) into the key's verdict.
    fn finish(self) -> Transcript {
        let Reader {
            mut t,
            last_continue,
            mut outcome,
            ..
        } = self;
        if let Some(Outcome::PartialSuccess { remaining }) = &mut outcome {
            *remaining = last_continue.clone();
        }
        // BatchMode stops after PK_OK when the key is encrypted: the key is deployed.
        if !t.keys_accepted.is_empty()
            && matches!(outcome, Some(Outcome::PermissionDenied { .. }) | None)
        {
            outcome = Some(match t.load_errors.first() {
                Some((path, reason)) => Outcome::KeyUnusable {
                    path: path.clone(),
                    reason: reason.clone(),
                },
                None => Outcome::KeyAccepted {
                    remaining: last_continue,
                },
            });
        }
        t.outcome = Some(outcome.unwrap_or(Outcome::Unknown));
        t
    }
}

/// How OpenSSH's own messages begin: lines of these shapes are shipped in the bundle
/// (their variable parts still pass the redactor's allowlist); any other line keeps only
/// its first word and a marker, since it may be anything (a server's text, a prompt).
const KNOWN_PREFIXES: &[&str] = &[
    "debug1: ",
    "debug2: ",
    "debug3: ",
    "# ",
    "OpenSSH_",
    "Authenticated ",
    "Authentications ",
    "Permission denied",
    "Received disconnect",
    "Disconnected from",
    "Connection ",
    "ssh: ",
    "kex_exchange_identification",
    "banner exchange",
    "Unable to negotiate",
    "Host key verification failed",
    "Host key for",
    "Load key",
    "Bad owner",
    "Bad permissions",
    "Permissions ",
    "@@@",
    "WARNING:",
    "Warning:",
    "IT IS POSSIBLE",
    "Someone could",
    "It is also possible",
    "It is required",
    "This private key",
    "The fingerprint",
    "Please contact",
    "Add correct host key",
    "Offending ",
    "Matching host key",
    "UNPROTECTED",
    "Transferred:",
    "Bytes per second",
    "Pseudo-terminal",
    "Server accepts",
    "Timeout",
    "Could not",
    "Failed to",
    "no such identity",
];

/// The transcript as the bundle ships it: every line of a known shape, and for any
/// other line its number of characters only.
pub fn shipped_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.is_empty() || KNOWN_PREFIXES.iter().any(|p| line.starts_with(p)) {
            out.push_str(line);
        } else {
            out.push_str(&format!(
                "<line of unknown shape not shown: {} characters>",
                line.chars().count()
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_accepted_under_batchmode() {
        let t = parse("debug1: Offering public key: /home/u/.ssh/id_ed25519 ED25519 SHA256:abc explicit\ndebug1: Server accepts key: /home/u/.ssh/id_ed25519 ED25519 SHA256:abc explicit\ndebug1: Authentications that can continue: publickey\nu@h: Permission denied (publickey).\n");
        assert!(matches!(t.outcome, Some(Outcome::KeyAccepted { .. })));
    }

    #[test]
    fn refusal_and_too_many() {
        let t = parse("debug1: Offering public key: k\ndebug1: Authentications that can continue: publickey\npbb111@galvani: Permission denied (publickey).\n");
        assert_eq!(
            t.outcome,
            Some(Outcome::PermissionDenied {
                methods: vec!["publickey".into()]
            })
        );
        let t = parse("Received disconnect from 127.0.0.1 port 22:2: Too many authentication failures\nDisconnected from 127.0.0.1 port 22\n");
        assert_eq!(t.outcome, Some(Outcome::TooManyAuthFailures));
    }

    #[test]
    fn empty_and_garbage_text() {
        assert_eq!(parse("").outcome, Some(Outcome::Unknown));
        assert_eq!(
            parse("\u{0}\u{1}garbage\n\n").outcome,
            Some(Outcome::Unknown)
        );
    }
}
