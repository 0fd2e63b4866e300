//! The OpenSSH client's configuration keywords (readconf.c), with the version that added
//! the newest ones, so that a keyword the user's client does not know is reported exactly
//! as OpenSSH reports it.

/// How OpenSSH treats a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Parsed and used.
    Known,
    /// Accepted with a "Deprecated option" note and ignored.
    Deprecated,
    /// Accepted with an "Unsupported option" note and ignored.
    Unsupported,
}

/// One keyword, lowercase, with its canonical spelling.
#[derive(Debug, Clone, Copy)]
pub struct Keyword {
    pub lower: &'static str,
    pub canonical: &'static str,
    pub support: Support,
    /// The OpenSSH release that added it (major, minor); (0, 0) for older ones.
    pub since: (u32, u32),
}

macro_rules! kw {
    ($canon:literal) => {
        kw!($canon, Support::Known, (0, 0))
    };
    ($canon:literal, $support:expr) => {
        kw!($canon, $support, (0, 0))
    };
    ($canon:literal, $support:expr, $since:expr) => {
        Keyword {
            lower: const_lower!($canon),
            canonical: $canon,
            support: $support,
            since: $since,
        }
    };
}

// Lowercase copies are spelt out by the macro below at compile time.
macro_rules! const_lower {
    ($s:literal) => {{
        const BYTES: &[u8] = $s.as_bytes();
        const LOWER: [u8; BYTES.len()] = {
            let mut out = [0u8; BYTES.len()];
            let mut i = 0;
            while i < BYTES.len() {
                out[i] = BYTES[i].to_ascii_lowercase();
                i += 1;
            }
            out
        };
        match std::str::from_utf8(&LOWER) {
            Ok(s) => s,
            Err(_) => panic!("keyword is not ASCII"),
        }
    }};
}

use Support::{Deprecated, Known, Unsupported};

/// Every keyword the OpenSSH client accepts.
pub const KEYWORDS: &[Keyword] = &[
    kw!("Host"),
    kw!("Match"),
    kw!("Include"),
    kw!("AddKeysToAgent"),
    kw!("AddressFamily"),
    kw!("BatchMode"),
    kw!("BindAddress"),
    kw!("BindInterface"),
    kw!("CanonicalDomains"),
    kw!("CanonicalizeFallbackLocal"),
    kw!("CanonicalizeHostname"),
    kw!("CanonicalizeMaxDots"),
    kw!("CanonicalizePermittedCNames"),
    kw!("CASignatureAlgorithms"),
    kw!("CertificateFile"),
    kw!("ChallengeResponseAuthentication"),
    kw!("ChannelTimeout", Known, (9, 6)),
    kw!("CheckHostIP"),
    kw!("Ciphers"),
    kw!("ClearAllForwardings"),
    kw!("Compression"),
    kw!("ConnectionAttempts"),
    kw!("ConnectTimeout"),
    kw!("ControlMaster"),
    kw!("ControlPath"),
    kw!("ControlPersist"),
    kw!("DynamicForward"),
    kw!("EnableEscapeCommandline"),
    kw!("EnableSSHKeysign"),
    kw!("EscapeChar"),
    kw!("ExitOnForwardFailure"),
    kw!("FingerprintHash"),
    kw!("ForkAfterAuthentication"),
    kw!("ForwardAgent"),
    kw!("ForwardX11"),
    kw!("ForwardX11Timeout"),
    kw!("ForwardX11Trusted"),
    kw!("GatewayPorts"),
    kw!("GlobalKnownHostsFile"),
    kw!("GSSAPIAuthentication"),
    kw!("GSSAPIClientIdentity"),
    kw!("GSSAPIDelegateCredentials"),
    kw!("GSSAPIKeyExchange"),
    kw!("GSSAPIKexAlgorithms"),
    kw!("GSSAPIRenewalForcesRekey"),
    kw!("GSSAPIServerIdentity"),
    kw!("GSSAPITrustDns"),
    kw!("HashKnownHosts"),
    kw!("HostbasedAcceptedAlgorithms"),
    kw!("HostbasedAuthentication"),
    kw!("HostbasedKeyTypes"),
    kw!("HostKeyAlgorithms"),
    kw!("HostKeyAlias"),
    kw!("HostName"),
    kw!("IdentitiesOnly"),
    kw!("IdentityAgent"),
    kw!("IdentityFile"),
    kw!("IgnoreUnknown"),
    kw!("IPQoS"),
    kw!("KbdInteractiveAuthentication"),
    kw!("KbdInteractiveDevices"),
    kw!("KexAlgorithms"),
    kw!("KnownHostsCommand"),
    kw!("LocalCommand"),
    kw!("LocalForward"),
    kw!("LogLevel"),
    kw!("LogVerbose"),
    kw!("MACs"),
    kw!("NoHostAuthenticationForLocalhost"),
    kw!("NumberOfPasswordPrompts"),
    kw!("ObscureKeystrokeTiming", Known, (9, 5)),
    kw!("PasswordAuthentication"),
    kw!("PermitLocalCommand"),
    kw!("PermitRemoteOpen"),
    kw!("PKCS11Provider"),
    kw!("Port"),
    kw!("PreferredAuthentications"),
    kw!("ProxyCommand"),
    kw!("ProxyJump"),
    kw!("ProxyUseFdpass"),
    kw!("PubkeyAcceptedAlgorithms"),
    kw!("PubkeyAcceptedKeyTypes"),
    kw!("PubkeyAuthentication"),
    kw!("RefuseConnection", Known, (10, 0)),
    kw!("RekeyLimit"),
    kw!("RemoteCommand"),
    kw!("RemoteForward"),
    kw!("RequestTTY"),
    kw!("RequiredRSASize"),
    kw!("RevokedHostKeys"),
    kw!("SecurityKeyProvider"),
    kw!("SendEnv"),
    kw!("ServerAliveCountMax"),
    kw!("ServerAliveInterval"),
    kw!("SessionType"),
    kw!("SetEnv"),
    kw!("SmartcardDevice"),
    kw!("StdinNull"),
    kw!("StreamLocalBindMask"),
    kw!("StreamLocalBindUnlink"),
    kw!("StrictHostKeyChecking"),
    kw!("SyslogFacility"),
    kw!("Tag", Known, (9, 4)),
    kw!("TCPKeepAlive"),
    kw!("KeepAlive"),
    kw!("Tunnel"),
    kw!("TunnelDevice"),
    kw!("UpdateHostKeys"),
    kw!("User"),
    kw!("UserKnownHostsFile"),
    kw!("VerifyHostKeyDNS"),
    kw!("VisualHostKey"),
    kw!("WarnWeakCrypto", Known, (10, 1)),
    kw!("XAuthLocation"),
    kw!("SkeyAuthentication"),
    kw!("TisAuthentication"),
    kw!("DSAAuthentication"),
    kw!("IdentityFile2"),
    kw!("GlobalKnownHostsFile2"),
    kw!("UserKnownHostsFile2"),
    kw!("Protocol", Deprecated),
    kw!("Cipher", Deprecated),
    kw!("FallBackToRsh", Deprecated),
    kw!("UseRsh", Deprecated),
    kw!("UseRoaming", Deprecated),
    kw!("UsePrivilegedPort", Deprecated),
    kw!("RhostsRSAAuthentication", Unsupported),
    kw!("RSAAuthentication", Unsupported),
    kw!("CompressionLevel", Unsupported),
    kw!("AFSTokenPassing", Unsupported),
    kw!("KerberosAuthentication", Unsupported),
    kw!("KerberosTGTPassing", Unsupported),
];

/// The keyword, if OpenSSH knows it (case-insensitive).
pub fn lookup(word: &str) -> Option<&'static Keyword> {
    let lower = word.to_ascii_lowercase();
    KEYWORDS.iter().find(|k| k.lower == lower)
}

/// The nearest known keyword, for "did you mean".
pub fn nearest(word: &str) -> Option<&'static str> {
    let lower = word.to_ascii_lowercase();
    KEYWORDS
        .iter()
        .filter(|k| k.support == Known)
        .map(|k| (strsim::damerau_levenshtein(&lower, k.lower), k.canonical))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Keywords that take exactly one argument: more is "garbage at end of line".
pub const SINGLE_ARG: &[&str] = &[
    "hostname",
    "port",
    "user",
    "identityfile",
    "identitiesonly",
    "batchmode",
    "kbdinteractiveauthentication",
    "passwordauthentication",
    "pubkeyauthentication",
    "stricthostkeychecking",
    "preferredauthentications",
    "proxyjump",
    "hostkeyalias",
    "identityagent",
    "certificatefile",
    "forwardagent",
    "compression",
    "connecttimeout",
    "connectionattempts",
    "serveraliveinterval",
    "serveralivecountmax",
    "loglevel",
    "hashknownhosts",
    "checkhostip",
    "tcpkeepalive",
    "controlmaster",
    "controlpath",
    "controlpersist",
    "addressfamily",
    "requesttty",
    "ignoreunknown",
];

/// Keywords whose value is yes/no (parse_flag: also true/false).
pub const FLAGS: &[&str] = &[
    "identitiesonly",
    "batchmode",
    "kbdinteractiveauthentication",
    "passwordauthentication",
    "pubkeyauthentication",
    "hostbasedauthentication",
    "gssapiauthentication",
    "gssapidelegatecredentials",
    "forwardx11",
    "forwardx11trusted",
    "exitonforwardfailure",
    "checkhostip",
    "tcpkeepalive",
    "hashknownhosts",
    "clearallforwardings",
    "enablesshkeysign",
    "permitlocalcommand",
    "visualhostkey",
    "proxyusefdpass",
    "nohostauthenticationforlocalhost",
    "challengeresponseauthentication",
    "streamlocalbindunlink",
    "stdinnull",
    "forkafterauthentication",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_suggests() {
        assert_eq!(lookup("IDENTITYFILE").unwrap().canonical, "IdentityFile");
        assert!(lookup("IdentityFlie").is_none());
        assert_eq!(nearest("IdentityFlie"), Some("IdentityFile"));
        assert_eq!(nearest("Hostnmae"), Some("HostName"));
        assert_eq!(nearest("Usr"), Some("User"));
        assert_eq!(nearest("Prot"), Some("Port"));
        assert_eq!(nearest("completelyunrelatedword"), None);
    }

    #[test]
    fn keywords_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in KEYWORDS {
            assert!(seen.insert(k.lower), "{} twice", k.canonical);
        }
        for w in SINGLE_ARG.iter().chain(FLAGS) {
            assert!(lookup(w).is_some(), "{w} is not a keyword");
        }
    }
}
