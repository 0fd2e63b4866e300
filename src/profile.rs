//! The site profile: which login nodes exist and what the site's key policy is.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The ML Cloud profile compiled into the binary.
pub const EMBEDDED: &str = include_str!("../profiles/mlcloud.toml");

/// Key type names a profile may list in `policy.key_types`.
pub const KNOWN_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "rsa",
    "ecdsa",
    "sk-ssh-ed25519",
    "sk-ecdsa",
    "dsa",
];

/// A parsed, validated site profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub schema: Spanned<u32>,
    pub name: String,
    pub support: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_pattern: Option<Spanned<String>>,
    #[serde(default)]
    pub placeholder_users: Vec<String>,
    pub policy: Policy,
    /// The site's own words for advice; every field has the ML Cloud's as default.
    #[serde(default)]
    pub advice: Advice,
    pub nodes: Spanned<Vec<Node>>,
}

/// Words and numbers from the site's access guide that the doctor's advice repeats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Advice {
    /// The network that reaches the login nodes from outside ("the university VPN").
    pub vpn: String,
    /// The network that reaches them without it ("the campus network").
    pub campus_network: String,
    /// Days after an account's creation in which users deploy their own key with
    /// `ssh-copy-id`; later, support does.
    pub self_deploy_days: u32,
    /// The name, in `~/.ssh`, of the key file the guide has users create.
    pub key_file: String,
    /// The name for a new key when `key_file` is taken (by a key that does not qualify).
    pub new_key_file: String,
}

impl Default for Advice {
    fn default() -> Self {
        Advice {
            vpn: "the university VPN".into(),
            campus_network: "the campus network".into(),
            self_deploy_days: 2,
            key_file: "id_ed25519".into(),
            new_key_file: "id_ed25519_mlcloud".into(),
        }
    }
}

impl Advice {
    /// `~/.ssh/<key_file>`.
    pub fn key_path(&self) -> String {
        format!("~/.ssh/{}", self.key_file)
    }

    /// `~/.ssh/<new_key_file>`.
    pub fn new_key_path(&self) -> String {
        format!("~/.ssh/{}", self.new_key_file)
    }

    /// The self-deployment window as words: "2 days".
    pub fn days(&self) -> String {
        match self.self_deploy_days {
            1 => "a day".to_string(),
            n => format!("{n} days"),
        }
    }

    /// "within 2 days of your account's creation".
    pub fn deploy_window(&self) -> String {
        format!("within {} of your account's creation", self.days())
    }
}

/// What keys the site accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub key_types: Spanned<Vec<String>>,
    pub min_rsa_bits: Spanned<u32>,
    pub require_passphrase: bool,
    pub min_kdf_rounds: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_factor: Option<Spanned<String>>,
    /// The login nodes' sshd `MaxAuthTries`: refused keys one connection may cost.
    #[serde(default = "default_max_auth_tries")]
    pub max_auth_tries: Spanned<u32>,
}

/// One login node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub alias: Spanned<String>,
    pub hostname: Spanned<String>,
    #[serde(default = "default_port")]
    pub port: Spanned<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default = "no_pins")]
    pub host_keys: Spanned<Vec<String>>,
}

fn no_pins() -> Spanned<Vec<String>> {
    Spanned::new(0..0, Vec::new())
}

/// An error about the value at `span` of the profile `text` read from `file`.
fn span_error(text: &str, file: &str, span: Range<usize>, message: String) -> ProfileError {
    ProfileError {
        file: file.to_string(),
        line: (span.end > 0).then(|| line_of(text, span.start)),
        message,
    }
}

/// OpenSSH's default `MaxAuthTries`.
pub const DEFAULT_MAX_AUTH_TRIES: u32 = 6;

/// The most login nodes a profile may list: each costs a connection, a transcript and an
/// `ssh -G` started at once, and a site has a handful.
pub const MAX_NODES: usize = 64;

fn default_max_auth_tries() -> Spanned<u32> {
    Spanned::new(0..0, DEFAULT_MAX_AUTH_TRIES)
}

fn default_port() -> Spanned<u16> {
    Spanned::new(0..0, 22)
}

impl Node {
    pub fn alias(&self) -> &str {
        self.alias.get_ref()
    }
    pub fn hostname(&self) -> &str {
        self.hostname.get_ref()
    }
    pub fn port(&self) -> u16 {
        *self.port.get_ref()
    }
    pub fn host_keys(&self) -> &[String] {
        self.host_keys.get_ref()
    }
}

impl Policy {
    pub fn key_types(&self) -> &[String] {
        self.key_types.get_ref()
    }
    pub fn min_rsa_bits(&self) -> u32 {
        *self.min_rsa_bits.get_ref()
    }
    pub fn second_factor(&self) -> Option<&str> {
        self.second_factor.as_ref().map(|s| s.get_ref().as_str())
    }
    /// Refused public keys one connection may cost before the server closes it.
    pub fn max_auth_tries(&self) -> u32 {
        *self.max_auth_tries.get_ref()
    }
}

impl Profile {
    /// The login nodes in profile order.
    pub fn nodes(&self) -> &[Node] {
        self.nodes.get_ref()
    }

    /// The alias the advice uses in examples (`ssh slurm`): the first node's.
    pub fn example_alias(&self) -> &str {
        self.nodes().first().map(Node::alias).unwrap_or("slurm")
    }

    /// The command that creates the key the site recommends, at `path` as the user's
    /// shell writes it.
    pub fn keygen(&self, path: &str) -> String {
        format!(
            "ssh-keygen -t ed25519 -a {} -f {path}",
            self.policy.min_kdf_rounds.max(16)
        )
    }

    /// The key policy in words: "Ed25519 or RSA ≥ 4096, with a passphrase".
    pub fn policy_words(&self) -> String {
        let p = &self.policy;
        let names: Vec<String> = p
            .key_types()
            .iter()
            .map(|t| match t.as_str() {
                "ssh-ed25519" => "Ed25519".to_string(),
                "rsa" => format!("RSA ≥ {}", p.min_rsa_bits()),
                "ecdsa" => "ECDSA".to_string(),
                "sk-ssh-ed25519" => "Ed25519-SK".to_string(),
                "sk-ecdsa" => "ECDSA-SK".to_string(),
                other => other.to_uppercase(),
            })
            .collect();
        let types = match names.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        };
        if p.require_passphrase {
            format!("{types}, with a passphrase")
        } else {
            types
        }
    }

    /// The node with this alias.
    pub fn node(&self, alias: &str) -> Option<&Node> {
        self.nodes().iter().find(|n| n.alias() == alias)
    }

    /// True when `host` is one of the profile's login node names.
    pub fn is_cluster_host(&self, host: &str) -> bool {
        self.nodes()
            .iter()
            .any(|n| n.hostname().eq_ignore_ascii_case(host) || n.alias() == host)
    }

    /// The compiled username pattern, if the profile has one.
    pub fn username_regex(&self) -> Option<regex::Regex> {
        self.username_pattern
            .as_ref()
            .and_then(|p| compiled(p.get_ref()).ok())
    }

    /// The embedded ML Cloud profile.
    pub fn embedded() -> Profile {
        Profile::parse(EMBEDDED, "embedded profile").expect("the embedded profile is valid")
    }

    /// Reads and validates a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| ProfileError::io(&name, e))?;
        if !meta.is_file() {
            return Err(ProfileError::plain(&name, "is not a regular file"));
        }
        if meta.len() > 1 << 20 {
            return Err(ProfileError::plain(&name, "is larger than 1 MiB"));
        }
        let bytes = std::fs::read(path).map_err(|e| ProfileError::io(&name, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| ProfileError::plain(&name, "is not UTF-8 text"))?;
        Profile::parse(&text, &name)
    }

    /// Parses and validates profile text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let message = e.message().trim().to_string();
            // A wrong value's error names the value only: the key is that line's.
            let key = line
                .and_then(|n| text.lines().nth(n - 1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim())
                .filter(|k| {
                    !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
                        && !message.contains(&format!("`{k}`"))
                });
            ProfileError {
                file: file.to_string(),
                line,
                message: match key {
                    Some(k) => format!("key `{k}`: {message}"),
                    None => message,
                },
            }
        })?;
        profile.validate(text, file)?;
        Ok(profile)
    }

    fn validate(&self, text: &str, file: &str) -> Result<(), ProfileError> {
        let err = |span: Range<usize>, message: String| span_error(text, file, span, message);
        if *self.schema.get_ref() != 1 {
            return Err(err(
                self.schema.span(),
                format!(
                    "key `schema`: version {} is not supported (this tool reads schema 1)",
                    self.schema.get_ref()
                ),
            ));
        }
        if let Some(pattern) = &self.username_pattern {
            if let Err(e) = compiled(pattern.get_ref()) {
                let first = e.to_string().lines().last().unwrap_or("").to_string();
                return Err(err(
                    pattern.span(),
                    format!("key `username_pattern`: not a valid regular expression ({first})"),
                ));
            }
        }
        for kt in self.policy.key_types() {
            if !KNOWN_KEY_TYPES.contains(&kt.as_str()) {
                return Err(err(
                    self.policy.key_types.span(),
                    format!(
                        "key `policy.key_types`: unknown key type {kt:?} (known: {})",
                        KNOWN_KEY_TYPES.join(", ")
                    ),
                ));
            }
        }
        let bits = self.policy.min_rsa_bits();
        if !(1024..=16384).contains(&bits) {
            return Err(err(
                self.policy.min_rsa_bits.span(),
                format!("key `policy.min_rsa_bits`: {bits} is outside 1024..=16384"),
            ));
        }
        let tries = self.policy.max_auth_tries();
        if !(1..=100).contains(&tries) {
            return Err(err(
                self.policy.max_auth_tries.span(),
                format!("key `policy.max_auth_tries`: {tries} is outside 1..=100"),
            ));
        }
        if let Some(sf) = &self.policy.second_factor {
            if sf.get_ref() != "keyboard-interactive" {
                return Err(err(
                    sf.span(),
                    format!(
                        "key `policy.second_factor`: {:?} is not supported (use \"keyboard-interactive\" or leave it out)",
                        sf.get_ref()
                    ),
                ));
            }
        }
        self.validate_advice(text, file)?;
        if self.nodes().is_empty() {
            return Err(err(
                self.nodes.span(),
                "key `nodes`: the profile lists no login node".into(),
            ));
        }
        self.validate_nodes(text, file)
    }

    /// The login nodes: how many, and each alias, host name, port and pin.
    fn validate_nodes(&self, text: &str, file: &str) -> Result<(), ProfileError> {
        let err = |span: Range<usize>, message: String| span_error(text, file, span, message);
        // Every node costs a connection, a transcript and an `ssh -G` started at once: a
        // site's login nodes are a handful, and a list of thousands would be a fork storm.
        if self.nodes().len() > MAX_NODES {
            return Err(err(
                self.nodes.span(),
                format!(
                    "key `nodes`: {} login nodes; a profile lists at most {MAX_NODES}",
                    self.nodes().len()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for node in self.nodes() {
            let alias = node.alias();
            // Aliases name bundle entries (`nodes/<alias>/…`) and temporary files: only a
            // safe alphabet, never a path separator or `..`.
            if alias.is_empty()
                || alias.len() > 64
                || alias.starts_with(['.', '-'])
                || !alias
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            {
                return Err(err(
                    node.alias.span(),
                    format!("key `nodes.alias`: {:?} is not a usable ssh host alias (letters, digits, `.`, `_` and `-` only, not first)", crate::escape::text(alias)),
                ));
            }
            if !seen.insert(alias.to_string()) {
                return Err(err(
                    node.alias.span(),
                    format!("key `nodes.alias`: {alias:?} is listed twice"),
                ));
            }
            let host = node.hostname();
            if host.is_empty()
                || host.contains(|c: char| {
                    c.is_whitespace() || c == '%' || crate::escape::is_unsafe(c)
                })
            {
                return Err(err(
                    node.hostname.span(),
                    format!("key `nodes.hostname`: {host:?} is not a host name"),
                ));
            }
            if node.port() == 0 {
                return Err(err(
                    node.port.span(),
                    "key `nodes.port`: 0 is not a port".into(),
                ));
            }
            for pin in node.host_keys() {
                if !pin.starts_with("SHA256:") || pin.len() < 20 {
                    return Err(err(
                        node.host_keys.span(),
                        format!("key `nodes.host_keys`: {pin:?} is not a SHA256:… fingerprint"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_advice(&self, text: &str, file: &str) -> Result<(), ProfileError> {
        let err = |message: String| ProfileError {
            file: file.to_string(),
            line: text.find("[advice]").map(|offset| line_of(text, offset)),
            message,
        };
        let a = &self.advice;
        for (key, value) in [("vpn", &a.vpn), ("campus_network", &a.campus_network)] {
            if value.trim().is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
                return Err(err(format!(
                    "key `advice.{key}`: a short phrase is needed (1 to 200 characters, one line)"
                )));
            }
        }
        if !(1..=365).contains(&a.self_deploy_days) {
            return Err(err(format!(
                "key `advice.self_deploy_days`: {} is outside 1..=365",
                a.self_deploy_days
            )));
        }
        // The names are pasted into commands: plain file names only.
        for (key, name) in [("key_file", &a.key_file), ("new_key_file", &a.new_key_file)] {
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && !name.starts_with(['.', '-'])
                && !name.ends_with(".pub")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !name_ok {
                return Err(err(format!(
                    "key `advice.{key}`: {:?} is not a plain key file name (letters, digits, `.`, `_` and `-`, no `.pub`)",
                    crate::escape::text(name)
                )));
            }
        }
        Ok(())
    }

    /// The profile as TOML, for `profile show`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

/// A pattern compiled once per process: validation and every node's `config.user` check
/// use the same one, and compiling costs more than the check.
fn compiled(pattern: &str) -> Result<regex::Regex, regex::Error> {
    static CACHE: std::sync::Mutex<Vec<(String, regex::Regex)>> = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, re)) = cache.iter().find(|(p, _)| p == pattern) {
        return Ok(re.clone());
    }
    let re = regex::Regex::new(pattern)?;
    if cache.len() < 8 {
        cache.push((pattern.to_string(), re.clone()));
    }
    Ok(re)
}

fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// A profile that cannot be used, with where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl ProfileError {
    fn plain(file: &str, message: &str) -> Self {
        ProfileError {
            file: file.to_string(),
            line: None,
            message: message.to_string(),
        }
    }
    fn io(file: &str, e: std::io::Error) -> Self {
        ProfileError {
            file: file.to_string(),
            line: None,
            message: format!("cannot be read: {e}"),
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "profile {}, line {}: {}", self.file, line, self.message),
            None => write!(f, "profile {}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ProfileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profile_has_the_four_nodes() {
        let p = Profile::embedded();
        let aliases: Vec<&str> = p.nodes().iter().map(|n| n.alias()).collect();
        assert_eq!(aliases, ["slurm", "slurm2", "slurm-r2", "slurm1-r2"]);
        assert_eq!(
            p.node("slurm").unwrap().hostname(),
            "galvani-login.mlcloud.uni-tuebingen.de"
        );
        assert_eq!(p.policy.min_rsa_bits(), 4096);
        assert_eq!(p.policy.second_factor(), Some("keyboard-interactive"));
        assert_eq!(p.policy.max_auth_tries(), 6);
        assert!(p.username_regex().unwrap().is_match("pbb111"));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = EMBEDDED.replace(
            "min_kdf_rounds = 100",
            "min_kdf_rounds = 100\nmin_kdf_round = 5",
        );
        let e = Profile::parse(&text, "p.toml").unwrap_err();
        assert!(e.message.contains("min_kdf_round"), "{e}");
        let expected = text
            .lines()
            .position(|l| l.starts_with("min_kdf_round "))
            .unwrap()
            + 1;
        assert_eq!(e.line, Some(expected), "{e}");
    }

    #[test]
    fn bad_values_name_key_and_line() {
        let cases = [
            (
                "username_pattern = \"^[a-z]{3}[0-9]{3}$\"",
                "username_pattern = \"([\"",
                "username_pattern",
            ),
            ("min_rsa_bits = 4096", "min_rsa_bits = 12", "min_rsa_bits"),
            // A value of the wrong type: toml names the value, the error the key too.
            (
                "min_rsa_bits = 4096",
                "min_rsa_bits = \"x\"",
                "key `min_rsa_bits`",
            ),
            (
                "key_types = [\"ssh-ed25519\", \"rsa\"]",
                "key_types = [\"ed448\"]",
                "key_types",
            ),
            ("alias = \"slurm2\"", "alias = \"slurm\"", "listed twice"),
            ("alias = \"slurm2\"", "alias = \"../../x\"", "nodes.alias"),
            ("alias = \"slurm2\"", "alias = \"a/b\"", "nodes.alias"),
            (
                "port = 22\nregion = \"Region 2\"",
                "port = 0\nregion = \"Region 2\"",
                "port",
            ),
            (
                "second_factor = \"keyboard-interactive\"",
                "second_factor = \"sms\"",
                "second_factor",
            ),
            ("schema = 1", "schema = 2", "schema"),
            ("max_auth_tries = 6", "max_auth_tries = 0", "max_auth_tries"),
        ];
        for (from, to, needle) in cases {
            let text = EMBEDDED.replacen(from, to, 1);
            assert_ne!(text, EMBEDDED, "case {from} did not apply");
            let e = Profile::parse(&text, "p.toml").unwrap_err();
            assert!(e.to_string().contains(needle), "{needle}: {e}");
            let line = e.line.expect("line number");
            let first_changed = to.lines().next().unwrap();
            assert!(
                text.lines()
                    .nth(line - 1)
                    .unwrap()
                    .contains(first_changed.split(' ').next().unwrap())
                    || needle == "listed twice"
                    || needle == "port",
                "{needle}: line {line} is {:?}",
                text.lines().nth(line - 1)
            );
        }
    }

    #[test]
    fn a_profile_lists_at_most_max_nodes() {
        let node = |i: usize| format!("\n[[nodes]]\nalias = \"n{i}\"\nhostname = \"127.0.0.1\"\n");
        let with = |n: usize| {
            let head = EMBEDDED.split("\n[[nodes]]").next().unwrap().to_string();
            (0..n).map(node).fold(head, |t, n| t + &n)
        };
        assert_eq!(
            Profile::parse(&with(MAX_NODES), "p.toml")
                .unwrap()
                .nodes()
                .len(),
            MAX_NODES
        );
        let e = Profile::parse(&with(MAX_NODES + 1), "p.toml").unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
        assert!(e.line.is_some(), "{e}");
    }

    #[test]
    fn max_auth_tries_defaults_to_openssh_s_six() {
        let text = EMBEDDED.replace("max_auth_tries = 6\n", "");
        assert_ne!(text, EMBEDDED);
        let p = Profile::parse(&text, "p.toml").unwrap();
        assert_eq!(p.policy.max_auth_tries(), DEFAULT_MAX_AUTH_TRIES);
        let p = Profile::parse(
            &EMBEDDED.replace("max_auth_tries = 6", "max_auth_tries = 3"),
            "p.toml",
        )
        .unwrap();
        assert_eq!(p.policy.max_auth_tries(), 3);
    }

    #[test]
    fn wrong_type_is_an_error_with_line() {
        let text = EMBEDDED.replace("min_rsa_bits = 4096", "min_rsa_bits = \"big\"");
        let e = Profile::parse(&text, "p.toml").unwrap_err();
        assert!(e.line.is_some());
        assert!(e.to_string().contains("p.toml"));
    }

    #[test]
    fn a_host_name_with_a_terminal_control_is_refused() {
        let text = EMBEDDED.replacen(
            "galvani-login.mlcloud.uni-tuebingen.de",
            "galvani\\u001b[2Jlogin",
            1,
        );
        let e = Profile::parse(&text, "p.toml").unwrap_err();
        assert!(e.to_string().contains("nodes.hostname"), "{e}");
    }

    #[test]
    fn the_key_policy_in_words() {
        let mut p = Profile::embedded();
        assert_eq!(p.policy_words(), "Ed25519 or RSA ≥ 4096, with a passphrase");
        *p.policy.key_types.get_mut() = vec!["ssh-ed25519".into(), "ecdsa".into(), "rsa".into()];
        *p.policy.min_rsa_bits.get_mut() = 3072;
        p.policy.require_passphrase = false;
        assert_eq!(p.policy_words(), "Ed25519, ECDSA or RSA ≥ 3072");
    }

    #[test]
    fn advice_defaults_fill_in_and_bad_advice_is_refused() {
        let with =
            |section: &str| EMBEDDED.replacen("[[nodes]]", &format!("{section}\n\n[[nodes]]"), 1);
        let p = Profile::parse(&with("[advice]\nvpn = \"the Example VPN\""), "p.toml").unwrap();
        assert_eq!(p.advice.vpn, "the Example VPN");
        assert_eq!(p.advice.key_file, Advice::default().key_file);
        for (bad, key) in [
            ("key_file = \"../x\"", "advice.key_file"),
            ("new_key_file = \"id x\"", "advice.new_key_file"),
            ("key_file = \"id.pub\"", "advice.key_file"),
            ("self_deploy_days = 0", "advice.self_deploy_days"),
            ("vpn = \"\"", "advice.vpn"),
            ("campus_network = \"a\\nb\"", "advice.campus_network"),
            ("colour = \"red\"", "colour"),
        ] {
            let e = Profile::parse(&with(&format!("[advice]\n{bad}")), "p.toml").unwrap_err();
            assert!(e.to_string().contains(key), "{bad}: {e}");
            assert!(e.line.is_some(), "{bad}: {e}");
        }
    }

    #[test]
    fn round_trips_through_profile_show() {
        let p = Profile::embedded();
        let again = Profile::parse(&p.to_toml(), "shown").unwrap();
        assert_eq!(again.nodes().len(), 4);
        assert_eq!(again.name, p.name);
    }
}
