//! `ssh.banner` and `ssh.kex`: what the server's first bytes and the end of the handshake
//! say, one fact per check, and the finding each fact reads as.

use std::time::Duration;

use crate::check::CheckId;
use crate::fact::{BannerKind, Fact};
use crate::finding::{Finding, Remedy};
use crate::report::Algorithms;

/// Why a connection to a node ended before authentication could begin. The `Display` text
/// is the word the report's evidence (`error`) and the untested keys' reasons carry.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Our own check refused the server's host key (see `ssh.host-key`).
    #[error("hostkey")]
    HostKeyRejected,
    /// The server and the doctor share no algorithm of one kind.
    #[error("nocommon:{kind:?}|{}|{}", .ours.join(","), .theirs.join(","))]
    NoCommonAlgorithm {
        kind: russh::AlgorithmKind,
        ours: Vec<String>,
        theirs: Vec<String>,
    },
    /// A new TCP connection did not complete within `--timeout`.
    #[error("timeout: TCP connect")]
    ConnectTimeout,
    /// The handshake did not complete within `--timeout`.
    #[error("timeout: handshake")]
    HandshakeTimeout,
    /// A new TCP connection failed.
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The first line was no SSH identification.
    #[error("version")]
    NotSsh,
    /// The server closed the connection during the handshake.
    #[error("closed")]
    Closed,
    /// Reading or writing the connection failed.
    #[error("error:{0}")]
    Io(#[source] std::io::Error),
    /// Any other breach of the protocol russh reports.
    #[error("error:{0}")]
    Protocol(#[source] russh::Error),
}

impl From<russh::Error> for ConnectError {
    fn from(e: russh::Error) -> Self {
        match e {
            russh::Error::NoCommonAlgo { kind, ours, theirs } => {
                ConnectError::NoCommonAlgorithm { kind, ours, theirs }
            }
            // What russh returns when our `check_server_key` said no.
            russh::Error::UnknownKey => ConnectError::HostKeyRejected,
            russh::Error::Version => ConnectError::NotSsh,
            russh::Error::Disconnect => ConnectError::Closed,
            russh::Error::IO(e) => ConnectError::Io(e),
            other => ConnectError::Protocol(other),
        }
    }
}

impl ConnectError {
    /// True when `--timeout` ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ConnectError::ConnectTimeout | ConnectError::HandshakeTimeout
        )
    }

    /// What went wrong, without the `error:` of the evidence word.
    fn cause(&self) -> String {
        match self {
            ConnectError::Io(e) => e.to_string(),
            ConnectError::Protocol(e) => e.to_string(),
            other => other.to_string(),
        }
    }
}

/// The `ssh.banner` fact: what the node sent first.
#[derive(Debug)]
pub(super) enum Banner<'a> {
    /// The identification line of a completed key exchange.
    Exchanged(&'a str),
    /// The identification line among the first bytes of a handshake that failed later.
    Sent(String),
    /// Something else answered: what it sent, shown, and whether it speaks HTTP.
    NotSsh { received: String, http: bool },
    /// Nothing came before the handshake ended.
    Silent(&'a ConnectError),
    /// The time ran out in the middle of an SSH banner (`SS`, `SSH-2.0-Op`): a very slow
    /// server, not another protocol. What came, shown.
    Incomplete(String),
}

/// The `ssh.kex` fact: how the key exchange ended.
#[derive(Debug)]
pub(super) enum Kex<'a> {
    /// The algorithms both sides chose.
    Agreed(&'a Algorithms),
    /// No algorithm of one kind in common; both lists.
    NoCommon {
        kind: &'a russh::AlgorithmKind,
        ours: &'a [String],
        theirs: &'a [String],
    },
    /// The server sent its banner and then stalled until `--timeout`.
    Stalled(&'a ConnectError),
    /// The handshake failed after the banner for another reason.
    Failed(&'a ConnectError),
}

/// The facts of a handshake that failed with `error`, from the server's first bytes: always
/// one about the banner, and one about the key exchange when the server spoke SSH and the
/// failure lies in the key exchange.
pub(super) fn describe<'a>(error: &'a ConnectError, first: &[u8]) -> (Banner<'a>, Option<Kex<'a>>) {
    let sent = || Banner::Sent(banner_line(first));
    let not_ssh = || Banner::NotSsh {
        received: printable(first),
        http: contains(first, b"HTTP/"),
    };
    match error {
        ConnectError::HostKeyRejected => (sent(), None),
        ConnectError::NoCommonAlgorithm { kind, ours, theirs } => {
            (sent(), Some(Kex::NoCommon { kind, ours, theirs }))
        }
        _ if first.is_empty() => (Banner::Silent(error), None),
        e if e.is_timeout() && banner_cut_short(first) => {
            (Banner::Incomplete(printable(first)), None)
        }
        ConnectError::NotSsh => (not_ssh(), None),
        _ if !contains(first, b"SSH-") => (not_ssh(), None),
        e if e.is_timeout() => (sent(), Some(Kex::Stalled(e))),
        e => (sent(), Some(Kex::Failed(e))),
    }
}

/// True when the last bytes are the start of an SSH identification line not yet ended
/// (`SS`, `SSH-2.0-Op`) and no whole one came before.
fn banner_cut_short(first: &[u8]) -> bool {
    let last = first.rsplit(|b| *b == b'\n').next().unwrap_or_default();
    let whole = first
        .split(|b| *b == b'\n')
        .rev()
        .skip(1)
        .any(|l| l.starts_with(b"SSH-"));
    !whole && !last.is_empty() && (b"SSH-".starts_with(last) || last.starts_with(b"SSH-"))
}

/// The `ssh.banner` finding.
pub(super) fn banner_finding(alias: &str, banner: &Banner, timeout: Duration) -> Finding {
    match banner {
        Banner::Exchanged(line) => Finding::pass(CheckId::SshBanner, alias, *line)
            .with("banner", line)
            .fact(Fact::Banner(BannerKind::Ssh)),
        Banner::Sent(line) => Finding::pass(CheckId::SshBanner, alias, line.as_str())
            .fact(Fact::Banner(BannerKind::Ssh)),
        Banner::NotSsh { received, http } => {
            let what = if *http {
                "an HTTP server"
            } else {
                "something that is not an SSH server"
            };
            Finding::fail(CheckId::SshBanner, alias, format!("{what} answers on this port"))
                .detail(format!("It sent: {received}"))
                .remedy(Remedy::text("A proxy, captive portal or firewall is answering in place of the login node: try another network or the VPN."))
                .with("received", received)
                .fact(Fact::Banner(BannerKind::NotSsh))
        }
        Banner::Incomplete(received) => Finding::fail(
            CheckId::SshBanner,
            alias,
            format!(
                "the server's SSH banner was still incomplete after {:.1} s: a very slow or overloaded server",
                timeout.as_secs_f64()
            ),
        )
        .detail(format!("It sent: {received}"))
        .remedy(Remedy::text("Wait a few minutes and try again, or try another node; if it persists, attach the bundle to a ticket."))
        .with("received", received)
        .fact(Fact::Banner(BannerKind::Silent)),
        Banner::Silent(error) => {
            let summary = if error.is_timeout() {
                format!(
                    "no banner within {:.1} s: the server accepted the connection and stayed silent",
                    timeout.as_secs_f64()
                )
            } else {
                "the server closed the connection without a banner".to_string()
            };
            Finding::fail(CheckId::SshBanner, alias, summary)
                .detail("ssh would report `Connection timed out during banner exchange` or `kex_exchange_identification: Connection closed by remote host`. A firewall, an overloaded node or a blocked account (fail2ban) looks like this.")
                .remedy(Remedy::text("Wait a few minutes and try again, or try another node; if it persists, attach the bundle to a ticket."))
                .with("error", error.to_string())
                .fact(Fact::Banner(BannerKind::Silent))
        }
    }
}

/// The `ssh.kex` finding.
pub(super) fn kex_finding(alias: &str, kex: &Kex, timeout: Duration) -> Finding {
    match kex {
        Kex::Agreed(a) => Finding::pass(
            CheckId::SshKex,
            alias,
            format!("{} · {} · {} · {}", a.kex, a.host_key, a.cipher, a.mac),
        )
        .with("algorithms", a),
        Kex::NoCommon { kind, ours, theirs } => {
            let kind = format!("{kind:?}");
            Finding::fail(CheckId::SshKex, alias, format!("no {kind} algorithm in common with the server"))
                .detail(format!("ours: {}; the server's: {}", ours.join(","), theirs.join(",")))
                .remedy(Remedy::text("Remove KexAlgorithms/Ciphers/MACs/HostKeyAlgorithms lines from ~/.ssh/config or upgrade OpenSSH; if it persists, attach the bundle to a ticket."))
                .with("kind", kind)
                .with("ours", ours)
                .with("theirs", theirs)
        }
        Kex::Stalled(error) => Finding::fail(
            CheckId::SshKex,
            alias,
            format!(
                "key exchange did not finish within {:.1} s",
                timeout.as_secs_f64()
            ),
        )
        .detail("The server sent its banner and then stalled.")
        .remedy(Remedy::text(
            "Try again later or another node; attach the bundle if it persists.",
        ))
        .with("error", error.to_string()),
        Kex::Failed(error) => Finding::fail(
            CheckId::SshKex,
            alias,
            format!("the handshake failed: {}", error.cause()),
        )
        .with("error", error.to_string()),
    }
}

fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The `SSH-2.0-…` line among the server's first bytes.
fn banner_line(first: &[u8]) -> String {
    String::from_utf8_lossy(first)
        .lines()
        .find(|l| l.starts_with("SSH-"))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// The first bytes as one line of text: control characters as dots, line ends as `⏎`.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_string();
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { '.' } else { c })
        .collect::<String>()
        .replace('\n', "⏎")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(error: &ConnectError, first: &[u8]) -> (&'static str, &'static str) {
        let (banner, kex) = describe(error, first);
        let banner = match banner {
            Banner::Exchanged(_) | Banner::Sent(_) => "ssh",
            Banner::NotSsh { http: true, .. } => "http",
            Banner::NotSsh { .. } => "not-ssh",
            Banner::Silent(_) => "silent",
            Banner::Incomplete(_) => "incomplete",
        };
        let kex = match kex {
            None => "-",
            Some(Kex::Agreed(_)) => "agreed",
            Some(Kex::NoCommon { .. }) => "no-common",
            Some(Kex::Stalled(_)) => "stalled",
            Some(Kex::Failed(_)) => "failed",
        };
        (banner, kex)
    }

    #[test]
    fn a_failed_handshake_reads_from_the_error_and_the_first_bytes() {
        let ssh = b"SSH-2.0-OpenSSH_9.2p1\r\n".as_slice();
        let no_common = ConnectError::NoCommonAlgorithm {
            kind: russh::AlgorithmKind::Kex,
            ours: vec!["a".into(), "b".into()],
            theirs: vec!["c".into()],
        };
        assert_eq!(kinds(&ConnectError::HostKeyRejected, ssh), ("ssh", "-"));
        assert_eq!(kinds(&no_common, ssh), ("ssh", "no-common"));
        assert_eq!(kinds(&ConnectError::HandshakeTimeout, b""), ("silent", "-"));
        assert_eq!(kinds(&ConnectError::Closed, b""), ("silent", "-"));
        assert_eq!(kinds(&ConnectError::NotSsh, ssh), ("not-ssh", "-"));
        assert_eq!(kinds(&ConnectError::Closed, b"HTTP/1.1 400"), ("http", "-"));
        assert_eq!(
            kinds(&ConnectError::HandshakeTimeout, ssh),
            ("ssh", "stalled")
        );
        assert_eq!(kinds(&ConnectError::Closed, ssh), ("ssh", "failed"));
        // A banner dripping in too slowly is a slow server, not another protocol.
        let timeout = ConnectError::HandshakeTimeout;
        assert_eq!(kinds(&timeout, b"SS"), ("incomplete", "-"));
        assert_eq!(
            kinds(&timeout, b"a notice\r\nSSH-2.0-Op"),
            ("incomplete", "-")
        );
        assert_eq!(kinds(&timeout, b"HTTP/1.1 4"), ("http", "-"));
        assert_eq!(kinds(&timeout, b"XY"), ("not-ssh", "-"));
        assert_eq!(kinds(&ConnectError::Closed, b"SS"), ("not-ssh", "-"));
    }

    #[test]
    fn the_evidence_words_are_those_of_the_report() {
        let no_common = ConnectError::NoCommonAlgorithm {
            kind: russh::AlgorithmKind::Cipher,
            ours: vec!["a".into(), "b".into()],
            theirs: vec!["c".into()],
        };
        assert_eq!(no_common.to_string(), "nocommon:Cipher|a,b|c");
        assert_eq!(
            ConnectError::HandshakeTimeout.to_string(),
            "timeout: handshake"
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let reset_text = reset.to_string();
        let e = ConnectError::from(russh::Error::IO(reset));
        assert_eq!(e.to_string(), format!("error:{reset_text}"));
        assert_eq!(e.cause(), reset_text);
        assert!(matches!(
            ConnectError::from(russh::Error::UnknownKey),
            ConnectError::HostKeyRejected
        ));
    }

    #[test]
    fn every_banner_finding_says_what_answered() {
        let t = Duration::from_secs(2);
        let closed = ConnectError::Closed;
        for (banner, kind) in [
            (Banner::Exchanged("SSH-2.0-x"), BannerKind::Ssh),
            (Banner::Sent("SSH-2.0-x".into()), BannerKind::Ssh),
            (
                Banner::NotSsh {
                    received: "x".into(),
                    http: false,
                },
                BannerKind::NotSsh,
            ),
            (Banner::Silent(&closed), BannerKind::Silent),
        ] {
            let f = banner_finding("slurm", &banner, t);
            assert_eq!(f.fact, Some(Fact::Banner(kind)), "{banner:?}");
        }
    }
}
