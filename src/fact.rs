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
    /// `key.format`: a key file ssh looks for is missing and its `.pub` name holds the
    /// private key (renaming it back is the fix, not a new key).
    KeyUnderPubName,
    /// `key.present` failing: no key ssh would offer. `new_name`: a file (or its `.pub`)
    /// already has the site's recommended key name, so a new key gets this free name in
    /// `~/.ssh` (the profile's `new_key_file`, numbered if that is taken too).
    NoKey { new_name: Option<String> },
    /// A finding about one key file (`key.*`, `perm.private-key`): the nodes whose ssh
    /// would offer it (empty: a key no node uses).
    KeyUse(Vec<String>),
    /// `config.present` warning: there is no config; whether the Host blocks the doctor
    /// suggests carry the user's real cluster username (given with `--user`).
    NoConfig { user_known: bool },
    /// `config.alias` warning: no block names the alias. `place`: where a new block must
    /// go so that nothing read before it sets its values first; `None` when the end of
    /// the file will do.
    Undefined { place: Option<BlockPlace> },
    /// A node's check that the run's deadline cut short (a `skip`); the deadline in
    /// whole seconds, rounded up.
    CutShort { deadline_s: u64 },
    /// `config.identity-file` failing: an IdentityFile names a file that does not exist;
    /// where that line is (`~/.ssh/config:9`).
    IdentityMissing { at: String },
}

/// Where new Host blocks go in `~/.ssh/config`, since OpenSSH keeps the first value it
/// reads for most keywords.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockPlace {
    /// Above the first block (header line, 1-based, and its text) that already sets
    /// something for them.
    Above(usize, String),
    /// At the top, above line N: the first of the settings written outside any block,
    /// which would otherwise come first. A `Host *` line between the new blocks and those
    /// settings keeps them for every host, as before.
    Top(usize),
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
