//! What a check observed, typed, for the rules that read more than a finding's id and
//! severity: the diagnosis and the reconciliation with OpenSSH's own attempt read these,
//! never a finding's wording or its evidence JSON.
//!
//! A fact travels with its finding (`Finding::fact`) and is not serialised: the report's
//! evidence says the same for the reader, in JSON.

use crate::report::{SecondFactor, TcpOutcome};
use crate::transcript::Outcome;

/// One observation a rule may ask about.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    /// `net.tcp`: how each address of the node answered, in the order tried.
    Tcp(Vec<TcpOutcome>),
    /// `ssh.banner`: what the first bytes from the node were.
    Banner(BannerKind),
    /// `config.user`: the username ssh would send to the node.
    User(UserValue),
    /// `config.precedence`: the keyword (lowercase) an earlier block sets first.
    Shadowed(String),
    /// `ssh.second-factor`: what the server asks for after the key.
    SecondFactor(SecondFactor),
    /// `ssh.transcript`: how OpenSSH's own attempt ended.
    Transcript(Outcome),
    /// `key.present` failing because the only key files are damaged (not: no key).
    KeyDamaged,
    /// `key.present` failing: no key ssh would offer. `name_taken`: a file already has the
    /// site's recommended key name, so a new key gets the profile's `new_key_file`.
    NoKey { name_taken: bool },
    /// A finding about one key file (`key.*`, `perm.private-key`): the nodes whose ssh
    /// would offer it (empty: a key no node uses).
    KeyUse(Vec<String>),
    /// `config.present` warning: there is no config; whether the Host blocks the doctor
    /// suggests carry the user's real cluster username (given with `--user`).
    NoConfig { user_known: bool },
    /// `config.alias` warning: no block names the alias. `above`: the first block of
    /// `~/.ssh/config` (header line, text) that sets something for it, so a new block
    /// must go above it; `None` when the end of the file will do.
    Undefined { above: Option<(usize, String)> },
    /// `config.identity-file` failing: an IdentityFile names a file that does not exist;
    /// where that line is (`~/.ssh/config:9`).
    IdentityMissing { at: String },
}

/// What answered on the SSH port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BannerKind {
    /// An SSH server.
    Ssh,
    /// Something else (a proxy, a captive portal, another protocol).
    NotSsh,
    /// Nothing: the connection closed or timed out before any line.
    Silent,
}

/// The username of a node's config, as the `config.user` check judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserValue {
    /// A name that looks like a cluster username.
    Set,
    /// A placeholder copied from the guide.
    Placeholder,
    /// An e-mail address.
    Email,
    /// A name that does not follow the site's username pattern.
    Unusual,
    /// No User: ssh sends the local login name.
    Missing,
}
