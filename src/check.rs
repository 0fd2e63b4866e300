//! Every check id, with its area and the docs `mlc-doctor explain` serves, in one table.
//!
//! A finding or a diagnosis names its check with a [`CheckId`]; the JSON spells it as the
//! id string (`key.format`), which never changes (the catalogue snapshot test proves it).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The part of the report a check belongs to, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    Diagnosis,
    Env,
    Config,
    Perm,
    Key,
    Net,
    Ssh,
    Bundle,
}

impl Area {
    /// The id prefix (`key` for `key.format`).
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Diagnosis => "diagnosis",
            Area::Env => "env",
            Area::Config => "config",
            Area::Perm => "perm",
            Area::Key => "key",
            Area::Net => "net",
            Area::Ssh => "ssh",
            Area::Bundle => "bundle",
        }
    }

    fn of(id: &str) -> Area {
        match id.split('.').next() {
            Some("diagnosis") => Area::Diagnosis,
            Some("env") => Area::Env,
            Some("config") => Area::Config,
            Some("perm") => Area::Perm,
            Some("key") => Area::Key,
            Some("net") => Area::Net,
            Some("ssh") => Area::Ssh,
            _ => Area::Bundle,
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Documentation of one check id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDoc {
    pub id: CheckId,
    /// One line for `mlc-doctor list`.
    pub title: &'static str,
    /// What it checks.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

impl CheckDoc {
    /// The area of the id.
    pub fn area(&self) -> Area {
        self.id.area()
    }
}

/// Declares [`CheckId`] and its docs from one list: variant, id string, docs.
macro_rules! checks {
    ($( $variant:ident = $id:literal {
        title: $title:literal,
        what: $what:literal,
        why: $why:literal,
        fix: $fix:literal $(,)?
    }, )*) => {
        /// Every check the doctor runs and every diagnosis it can conclude.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CheckId {
            $( $variant, )*
        }

        impl CheckId {
            /// Every id, in report order (areas as the runner visits them).
            pub const ALL: &'static [CheckId] = &[ $( CheckId::$variant, )* ];

            /// The id string of the JSON report and of `explain` (`area.check`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( CheckId::$variant => $id, )*
                }
            }

            /// The docs of this check.
            pub const fn doc(self) -> &'static CheckDoc {
                match self {
                    $( CheckId::$variant => &CheckDoc {
                        id: CheckId::$variant,
                        title: $title,
                        what: $what,
                        why: $why,
                        fix: $fix,
                    }, )*
                }
            }
        }
    };
}

impl CheckId {
    /// The id whose string is `id`, if there is one.
    pub fn parse(id: &str) -> Option<CheckId> {
        CheckId::ALL.iter().copied().find(|c| c.as_str() == id)
    }

    /// The area part of the id.
    pub fn area(self) -> Area {
        Area::of(self.as_str())
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for CheckId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for CheckId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CheckId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CheckId::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown check id `{s}`")))
    }
}

checks! {
    EnvOs = "env.os" {
        title: "Operating system, version and architecture",
        what: "Records the operating system, its version, the kernel and the CPU architecture.",
        why: "Support needs to know which platform's SSH client and file rules apply (Linux, macOS, Windows OpenSSH, WSL).",
        fix: "Nothing to fix: this is information for support.",
    },
    EnvOpenssh = "env.openssh" {
        title: "OpenSSH client present and recent enough",
        what: "Runs `ssh -V` (or the client given with --ssh) and reads its version.",
        why: "Without an OpenSSH client `ssh {alias}` cannot work at all. Clients older than 7.2 cannot make rsa-sha2 signatures, which current servers require for RSA keys.",
        fix: "Install a current OpenSSH client: `sudo apt install openssh-client` (Debian/Ubuntu), `sudo dnf install openssh-clients` (Fedora/RHEL); macOS ships one; on Windows enable the \"OpenSSH Client\" optional feature.",
    },
    KeyPresent = "key.present" {
        title: "A private key exists for the login nodes",
        what: "Looks for the private keys ssh would offer to the login nodes: the IdentityFile of each node's config, else the default names ({key}, id_rsa, …), and keys loaded in ssh-agent.",
        why: "The login nodes accept only public keys: without a key pair there is nothing to log in with.",
        fix: "Create a key as the site recommends: `ssh-keygen -t ed25519 -a {rounds} -f {key}` (choose a passphrase), then have the public key deployed (ssh-copy-id in the first {days}, else a ticket).",
    },
    KeyFormat = "key.format" {
        title: "The key file is in a format OpenSSH can load",
        what: "Reads the header of each key file: OpenSSH, legacy PEM or PKCS#8, PuTTY .ppk, and damage such as Windows line endings, a byte-order mark, a missing last newline or a cut-off file.",
        why: "OpenSSH fails to load damaged keys (`Load key …: error in libcrypto` / `invalid format`) and cannot read PuTTY .ppk files at all; the key is then simply not offered.",
        fix: "For damage: restore the file from the original (or convert: `dos2unix {key}`). For .ppk: in PuTTYgen, Conversions → Export OpenSSH key. For PEM/PKCS#8: `ssh-keygen -p -a {rounds} -f ~/.ssh/id_rsa` rewrites it in the OpenSSH format.",
    },
    KeyAlgorithm = "key.algorithm" {
        title: "The key type and size are accepted by the site",
        what: "Checks the key algorithm and size against the site policy: Ed25519, or RSA with at least 4096 bits.",
        why: "The site accepts only Ed25519 and RSA ≥ 4096; DSA keys are refused by current OpenSSH; short RSA keys are weak.",
        fix: "Create a new key: `ssh-keygen -t ed25519 -a {rounds} -f {key}`, and send the new public key to support.",
    },
    KeyPassphrase = "key.passphrase" {
        title: "The private key is protected by a passphrase",
        what: "Checks whether each private key file is encrypted, without asking for the passphrase.",
        why: "The site requires passphrase-protected keys: an unencrypted key file is a login for anyone who copies it.",
        fix: "Add a passphrase in place: `ssh-keygen -p -a {rounds} -f {key}` (the public key and the deployment stay the same).",
    },
    KeyKdfRounds = "key.kdf-rounds" {
        title: "The passphrase is hashed with enough bcrypt rounds",
        what: "Reads the key derivation of encrypted keys: bcrypt rounds of OpenSSH keys (site minimum {rounds}), and the weak MD5-based scheme of legacy PEM keys.",
        why: "Few rounds (16 is ssh-keygen's default) or the PEM scheme make the passphrase of a stolen key much faster to guess.",
        fix: "Re-encrypt with {rounds} rounds: `ssh-keygen -p -a {rounds} -f {key}` (asks for the old and new passphrase; this also converts PEM to the OpenSSH format).",
    },
    KeyPublicMatch = "key.public-match" {
        title: "The .pub file belongs to the private key",
        what: "Compares the public key in `<key>.pub` with the public half of the private key file (or, for encrypted legacy files, records the .pub's facts).",
        why: "The .pub file is what gets deployed. A .pub from another key means the cluster knows a key you do not use, and every login is refused.",
        fix: "Recreate the .pub from the private key: `ssh-keygen -y -f {key} > {key}.pub` (asks for the passphrase), and deploy that one.",
    },
    KeyAgent = "key.agent" {
        title: "ssh-agent state and the number of keys it offers",
        what: "Connects to the agent in SSH_AUTH_SOCK (if any; on Windows the ssh-agent service's pipe \\\\.\\pipe\\openssh-ssh-agent, and Pageant), lists its keys' fingerprints and whether the login nodes' keys are loaded.",
        why: "ssh offers agent keys before key files. With more than 5 keys and no `IdentitiesOnly yes`, the server's limit of 6 attempts ends the login with `Too many authentication failures` before the right key is tried.",
        fix: "Add `IdentitiesOnly yes` to the login nodes' blocks, or remove unneeded keys from the agent: `ssh-add -D` then `ssh-add {key}`.",
    },
    PermHome = "perm.home" {
        title: "Home directory not writable by others",
        what: "Checks the owner and mode of your home directory.",
        why: "If others can write your home they can replace ~/.ssh; SSH servers (StrictModes) refuse keys in such homes, and it is unsafe on a shared machine.",
        fix: "`chmod go-w ~`",
    },
    PermSshDir = "perm.ssh-dir" {
        title: "~/.ssh is yours and private (0700)",
        what: "Checks that ~/.ssh is a directory owned by you, not writable by group or others, and ideally mode 0700.",
        why: "Others who can write ~/.ssh can swap your keys or config; OpenSSH and sshd refuse such setups.",
        fix: "`chmod 700 ~/.ssh` (and `chown $USER ~/.ssh` if another user owns it). On Windows, in PowerShell: `$me = \"*$([Security.Principal.WindowsIdentity]::GetCurrent().User)\"; icacls \"$env:USERPROFILE\\.ssh\" /inheritance:r /grant:r \"$($me):F\"` and `/remove` each account the report names (the report gives the whole line).",
    },
    PermPrivateKey = "perm.private-key" {
        title: "Private keys readable only by you",
        what: "Checks each private key file: owned by you, and no permission bits for group or others (0600 or 0400). On Windows: owned by you, Administrators or SYSTEM, and no access entry for any other account (OpenSSH for Windows' rule).",
        why: "OpenSSH refuses a private key that others can read: `WARNING: UNPROTECTED PRIVATE KEY FILE!` and `Load key …: bad permissions`, then the key is not offered at all.",
        fix: "`chmod 600 {key}` (with your key's path). On Windows, in PowerShell: `$me = \"*$([Security.Principal.WindowsIdentity]::GetCurrent().User)\"; icacls \"$env:USERPROFILE\\.ssh\\{keyfile}\" /inheritance:r /grant:r \"$($me):F\"`, then `/remove` each account the report names (e.g. `/remove \"*S-1-5-32-545\"` for BUILTIN\\Users).",
    },
    PermConfig = "perm.config" {
        title: "~/.ssh/config and its Includes are not writable by others",
        what: "Checks ~/.ssh/config and every file it includes: owned by you (or root) and not writable by group or others. On Windows also %PROGRAMDATA%\\ssh\\ssh_config, by its access entries (others may read, not write).",
        why: "OpenSSH stops with `Bad owner or permissions on ~/.ssh/config` before connecting anywhere, because others could change where you connect.",
        fix: "`chmod 600 ~/.ssh/config` (and each included file named in the report). On Windows: the icacls command the report prints.",
    },
    PermKnownHosts = "perm.known-hosts" {
        title: "known_hosts not writable by others",
        what: "Checks your known_hosts files (the default ones and any UserKnownHostsFile).",
        why: "Anyone who can write known_hosts can make ssh trust a fake server.",
        fix: "`chmod 644 ~/.ssh/known_hosts` (or 600).",
    },
    PermAuthorizedKeys = "perm.authorized-keys" {
        title: "A local authorized_keys is not writable by others",
        what: "Checks ~/.ssh/authorized_keys on this machine, if there is one.",
        why: "The login nodes' own ~/.ssh/authorized_keys must be `chmod 600` too (the guide says so); locally, a writable file lets others log in as you.",
        fix: "`chmod 600 ~/.ssh/authorized_keys` (on the cluster too, if support asks).",
    },
    ConfigPresent = "config.present" {
        title: "~/.ssh/config exists",
        what: "Looks for ~/.ssh/config, the file that gives the login nodes their short names ({aliases}).",
        why: "Without it `ssh {alias}` looks for a machine literally called `{alias}` and fails with `Could not resolve hostname`.",
        fix: "Create ~/.ssh/config with the block the report prints (one `Host` block per login node with HostName, User and IdentityFile), then `chmod 600 ~/.ssh/config`.",
    },
    ConfigSyntax = "config.syntax" {
        title: "ssh_config syntax: keywords, values, encoding",
        what: "Reads the config and every Included file the way OpenSSH does: unknown keywords (with the nearest valid one), missing values, extra words, bad numbers and yes/no values, unbalanced quotes, a UTF-8 byte-order mark, UTF-16 and binary content.",
        why: "OpenSSH refuses to run at all when its config has one bad line (`Bad configuration option`, `no argument after keyword`, `garbage at end of line`), so every host fails, not only the cluster.",
        fix: "Correct the line the report names (file and line number). Save the file as plain UTF-8 without BOM: in VS Code choose \"UTF-8\" in the status bar; in Notepad \"Save as\" → Encoding \"UTF-8\"; or convert with `iconv -f UTF-16 -t UTF-8`.",
    },
    ConfigInclude = "config.include" {
        title: "Include lines find their files, without loops",
        what: "Follows every `Include` (with `~`, relative paths under ~/.ssh and globs), up to OpenSSH's depth of 16, and notes patterns that match nothing, files that cannot be read and include loops.",
        why: "An Include loop or an unreadable included file makes OpenSSH stop; a pattern that matches nothing usually means the intended settings are silently missing.",
        fix: "Correct the path of the Include line named in the report; break the loop by removing the Include that points back to an including file.",
    },
    ConfigAlias = "config.alias" {
        title: "The login node's short name is defined",
        what: "Checks that a Host (or Match) block in your config matches each login node alias of the profile ({aliases}).",
        why: "`ssh {alias}` only works if your config says what `{alias}` means.",
        fix: "Add the block the report prints for the missing alias to ~/.ssh/config.",
    },
    ConfigHostname = "config.hostname" {
        title: "HostName points to the right login node",
        what: "Compares the HostName your config gives each alias with the profile's login node name.",
        why: "Without HostName ssh looks up the alias itself (`{alias}`), which is not a host name; a different HostName (old node name, typo) sends you to the wrong machine.",
        fix: "Set `HostName` in the alias's block to the login node named in the report.",
    },
    ConfigUser = "config.user" {
        title: "User is your cluster username",
        what: "Checks the User your config gives each alias: not a placeholder copied from the guide (`ml-cloud-user-id`, `<…>`, `username`), not an e-mail address, and of the site's username form.",
        why: "Without User, ssh sends your local login name; with a placeholder or an e-mail address the server refuses every key, which looks exactly like a key that is not deployed.",
        fix: "Set `User <your cluster username>` (as in the account e-mail, e.g. `pbb111`) in each login node's block.",
    },
    ConfigIdentityFile = "config.identity-file" {
        title: "IdentityFile names an existing private key",
        what: "Checks each IdentityFile of the alias: the file exists, it is the private key (not the `.pub`), and there is only one.",
        why: "A missing IdentityFile is silently skipped by ssh; a `.pub` file cannot be used to log in; several files mean several keys offered, and the server disconnects after 6 refused keys.",
        fix: "Point `IdentityFile` at your private key, e.g. `IdentityFile {key}` (without `.pub`), and keep one per login node.",
    },
    ConfigPrecedence = "config.precedence" {
        title: "No earlier block silently overrides the alias's own settings",
        what: "For each setting of the alias's block (User, HostName, Port, IdentitiesOnly, …), checks whether an earlier line — typically in `Host *` at the top, or outside any block — already set it.",
        why: "OpenSSH uses the first value it finds for each setting, so `Host *` with `User` at the top wins over `User pbb111` further down, and the login fails although the alias's block looks right.",
        fix: "Move `Host *` blocks to the end of ~/.ssh/config (general defaults last), or remove the duplicate setting; the report names both lines.",
    },
    ConfigAuthOverride = "config.auth-override" {
        title: "No setting blocks public key or the TOTP prompt",
        what: "Looks for settings that make the site's login impossible: `PubkeyAuthentication no`, and, where the site requires the TOTP second factor, `BatchMode yes`, `KbdInteractiveAuthentication no` or `PreferredAuthentications` without keyboard-interactive.",
        why: "The server asks for the TOTP code after the key (keyboard-interactive). If ssh may not ask, the login fails after the key was accepted, with `Permission denied (keyboard-interactive)`.",
        fix: "Remove the setting named in the report from the login nodes' blocks, or set `PreferredAuthentications publickey,keyboard-interactive`.",
    },
    ConfigOpensshAgrees = "config.openssh-agrees" {
        title: "OpenSSH reads the config as the doctor does",
        what: "Runs `ssh -G` (which prints the effective settings without connecting) for each alias and compares hostname, port, user, identity files, IdentitiesOnly, BatchMode and PreferredAuthentications with the doctor's own evaluation. Skipped when the config has `Match exec`, which `ssh -G` would run.",
        why: "A difference means the real client sees something the doctor did not (a newer OpenSSH feature, a system-wide setting, a home directory that differs from the account's), so its advice may not apply.",
        fix: "Nothing to fix by itself; the bundle contains both views so support can compare them.",
    },
    ConfigPuttySession = "config.putty-session" {
        title: "PuTTY's saved session for each login node",
        what: "On Windows, reads PuTTY's saved sessions (HKCU\\Software\\SimonTatham\\PuTTY\\Sessions, read-only) and checks each one that points at a login node: host name, port, login name and the private key file (Connection > SSH > Auth > Credentials) and its format.",
        why: "PuTTY does not read ~/.ssh/config: a session with a placeholder or missing login name, another port or no key fails exactly like a key that is not deployed.",
        fix: "Open PuTTY, load the session, correct it (Session: host name and port; Connection > Data: auto-login username; Connection > SSH > Auth > Credentials: the .ppk key), then Save.",
    },
    NetDns = "net.dns" {
        title: "The login node's name resolves",
        what: "Resolves the node's host name (HostName from your config, else the profile's) with the system resolver, as ssh does, and records every address and the time taken.",
        why: "If the name does not resolve, ssh stops with `Could not resolve hostname` before anything else can happen. Usually the machine is offline, the DNS server is unreachable, or HostName is misspelt.",
        fix: "Check that you are online (open any web page). Check the HostName line of the node in ~/.ssh/config against the site's documentation. If other names resolve and this one does not, the site's DNS may be down: attach the bundle to a ticket.",
    },
    NetTcp = "net.tcp" {
        title: "The login node accepts TCP connections on its SSH port",
        what: "Connects to the node's addresses in order on its SSH port (22 unless your config says otherwise), as ssh does, trying the next address beside one that has not answered within 250 ms, all within --timeout; classifies each result (connected, refused, timed out, unreachable; abandoned or not tried once another address connected). The connection that succeeds carries the handshake, so the node sees one connection, not two.",
        why: "Refused means nothing listens on that port (wrong Port, or the node is down). Timed out on every address while the name resolves is what a firewall or a missing VPN looks like: {campus} or {vpn} may be required.",
        fix: "Connect to {vpn} if you are off campus and try again. Check the Port line in ~/.ssh/config (the login nodes use 22). If the node is refused or times out while the others work, it may be down: try another node (e.g. `ssh {alias2}`).",
    },
    SshBanner = "ssh.banner" {
        title: "The node answers with an SSH banner",
        what: "After the TCP connection, reads the server's identification line (`SSH-2.0-OpenSSH_…`) within --timeout.",
        why: "No banner, a closed connection or something that is not SSH (an HTTP proxy, a captive portal) means ssh fails with `kex_exchange_identification` or `Connection timed out during banner exchange`, whatever your keys are.",
        fix: "Usually a network in the way: a hotel or company network intercepting port 22, or a VPN that is half up. Try another network or {vpn}; if every node behaves the same from a working network, attach the bundle to a ticket.",
    },
    SshKex = "ssh.kex" {
        title: "Client and server share key exchange, cipher and MAC algorithms",
        what: "Negotiates the key exchange, host key, cipher and MAC algorithms with the node and records the ones chosen; when nothing is in common, records both lists.",
        why: "A client restricted by old or hand-edited `KexAlgorithms`/`Ciphers`/`MACs`/`HostKeyAlgorithms` lines fails with `Unable to negotiate … no matching … found`.",
        fix: "Remove `KexAlgorithms`, `Ciphers`, `MACs` and `HostKeyAlgorithms` lines from ~/.ssh/config (the defaults of a current OpenSSH work), or upgrade an old client.",
    },
    SshHostKey = "ssh.host-key" {
        title: "The node's host key matches known_hosts and the profile's pins",
        what: "Compares the node's host key with your known_hosts files (hashed entries, [host]:port, wildcards, @revoked and @cert-authority included) and with the fingerprints the profile pins, before any key of yours is offered.",
        why: "A changed host key makes ssh refuse to connect (`REMOTE HOST IDENTIFICATION HAS CHANGED`). It can be a reinstalled node, or someone in the middle: the doctor offers no key to such a server.",
        fix: "Compare the fingerprint shown with the one the site publishes or support confirms. Only when it is confirmed, remove the old entry with `ssh-keygen -R <host>` (the report gives the exact line) and connect again to accept the new key.",
    },
    SshAuthMethods = "ssh.auth-methods" {
        title: "The server offers public key authentication",
        what: "Asks the server which authentication methods it accepts (`none` request) and records them.",
        why: "The login nodes accept only public keys (then a TOTP code). If `publickey` is not offered, something other than the login node answered, or the server is misconfigured.",
        fix: "If `publickey` is missing, check that HostName points to the real login node and attach the bundle to a ticket.",
    },
    SshKeyAccepted = "ssh.key-accepted" {
        title: "The server accepts one of your public keys",
        what: "Offers your public keys in the order your ssh would (agent keys, unless IdentitiesOnly leaves only the node's IdentityFiles, then the key files) and stops at the first one the server would accept, without the private key or passphrase: the server's answer to the unsigned query proves it. It never offers a key your ssh would not, costs one connection at most the profile's max_auth_tries refused keys (the server's MaxAuthTries), and opens a new connection only when the server closes one; the evidence counts them.",
        why: "If no key is accepted, `ssh {alias}` ends in `Permission denied (publickey)`. Usually the public key was never deployed on the cluster, or the username is wrong; the client cannot tell these apart.",
        fix: "Within {days} of account creation run `ssh-copy-id -i {key}.pub {alias}`; later, open a ticket and attach the bundle (it contains your public key, which support deploys). Also check `User` in ~/.ssh/config is your cluster username.",
    },
    SshSecondFactor = "ssh.second-factor" {
        title: "The server asks for the TOTP second factor after the key",
        what: "When the accepted key is loaded in ssh-agent and the host key is verified (known_hosts or a profile pin), authenticates with it through the agent, on the connection of the key queries, and reads whether the server then asks for keyboard-interactive (the TOTP code). The doctor stops there and never answers the prompt.",
        why: "Accounts with a second factor need an interactive terminal for the code: BatchMode or PreferredAuthentications without keyboard-interactive make the login fail after the key was accepted.",
        fix: "Make sure your client can answer the code prompt: no `BatchMode yes`, and `PreferredAuthentications` (if set) includes keyboard-interactive. Set up the TOTP app as the site's guide describes.",
    },
    SshTranscript = "ssh.transcript" {
        title: "The real OpenSSH client's verbose log of a login attempt",
        what: "Runs `ssh -vvv` with BatchMode (so nothing is asked) against each node, with your config, captures the log (size-capped) and reads its outcome: key accepted, permission denied, too many authentication failures, host key changed, bad permissions, bad config option, no matching algorithm, banner problems.",
        why: "This is the log support would ask you for. It shows what your own ssh does, including settings the doctor's own client does not use.",
        fix: "Follow the fix of the finding that names the cause; the transcript itself is evidence for support and is in the bundle (redacted).",
    },
    BundleWritten = "bundle.written" {
        title: "The support bundle was written",
        what: "Writes the redacted zip bundle (report, config, key facts, permissions, per-node network, handshake and ssh -vvv evidence) after a leak check that refuses to write anything that could hold a private value.",
        why: "Support reads the bundle instead of asking you for `ssh -vvv` output, your config and your public key; the leak check makes sure no private key, passphrase, local name or address is in it.",
        fix: "If the leak check refused, the message names the file, line and kind of value: report it to the mlc-doctor maintainers; run with --no-bundle meanwhile. If the path was not writable, pass --bundle with a writable location.",
    },
    DiagnosisBundleRefused = "diagnosis.bundle-refused" {
        title: "No support bundle was written",
        what: "Concluded when bundle.written fails: the leak check refused the bundle, or it could not be written.",
        why: "Without the bundle support sees no evidence; the report says why it was not written.",
        fix: "Follow the bundle.written finding (another --bundle path, or report a refused leak check to the maintainers).",
    },
    DiagnosisNoClient = "diagnosis.no-client" {
        title: "No usable OpenSSH client",
        what: "Concluded when env.openssh fails: no `ssh` on PATH, one that cannot run, or one older than 7.2.",
        why: "Without an OpenSSH client `ssh {alias}` cannot work, whatever else is right.",
        fix: "Install the OpenSSH client the report names, then run the doctor again.",
    },
    DiagnosisConfigBroken = "diagnosis.config-broken" {
        title: "OpenSSH refuses your ~/.ssh/config",
        what: "Concluded when config.syntax, config.include or perm.config fail.",
        why: "With one bad line, a loop or loose permissions OpenSSH stops before connecting anywhere, so every host fails.",
        fix: "Correct the line the report names, or `chmod 600 ~/.ssh/config`.",
    },
    DiagnosisNoConfig = "diagnosis.no-config" {
        title: "The short names ({alias}, …) are not defined",
        what: "Concluded when ~/.ssh/config is missing or does not define the login node aliases.",
        why: "`ssh {alias}` then looks for a machine called `{alias}` and fails with `Could not resolve hostname`.",
        fix: "Paste the Host blocks the report prints into ~/.ssh/config.",
    },
    DiagnosisOffline = "diagnosis.offline" {
        title: "This machine cannot resolve the login nodes",
        what: "Concluded when no login node name resolves.",
        why: "Without DNS nothing else can work: the machine is offline, behind a captive portal, or its DNS is broken.",
        fix: "Check your internet connection (open a web page), then run the doctor again.",
    },
    DiagnosisNetworkBlocked = "diagnosis.network-blocked" {
        title: "The login nodes do not answer on their SSH port",
        what: "Concluded when names resolve but every login node times out on TCP.",
        why: "This is what a firewall or a missing VPN looks like: the login nodes are only reachable from certain networks.",
        fix: "Connect to {vpn} (or {campus}) and try again.",
    },
    DiagnosisNodeDown = "diagnosis.node-down" {
        title: "One login node is unreachable, others work",
        what: "Concluded when some nodes fail on DNS, TCP or the banner while others answer.",
        why: "A single node may be down for maintenance; the others are usable.",
        fix: "Log in through a node that answers (the report names one).",
    },
    DiagnosisNoNodeAnswers = "diagnosis.no-node-answers" {
        title: "No login node accepts a connection on its SSH port",
        what: "Concluded when every probed login node fails on TCP and not all of them time out (that is diagnosis.network-blocked): the connections are refused or fail otherwise.",
        why: "A refused connection means something answers for the address but takes no SSH on the port: a firewall that rejects SSH from this network, all nodes down for maintenance, or a config that sends ssh to the wrong port.",
        fix: "Correct a wrong Port line if the report names one; otherwise connect to {vpn} (or {campus}) and try again, check the site's maintenance announcements, or attach the bundle to a ticket.",
    },
    DiagnosisNotSsh = "diagnosis.not-ssh" {
        title: "Something other than SSH answers",
        what: "Concluded when the server's first bytes are not an SSH banner.",
        why: "A proxy, captive portal or firewall is answering in place of the login node.",
        fix: "Use another network or the VPN.",
    },
    DiagnosisHostKeyChanged = "diagnosis.host-key-changed" {
        title: "The login node's host key changed",
        what: "Concluded when ssh.host-key fails (known_hosts or a profile pin disagrees).",
        why: "ssh refuses to connect; it can be a reinstalled node or an attack.",
        fix: "Confirm the new fingerprint with support before removing the old known_hosts entry.",
    },
    DiagnosisNoKey = "diagnosis.no-key" {
        title: "You have no SSH key for the cluster",
        what: "Concluded when key.present fails: no key that ssh would offer to the login nodes. When an IdentityFile names a missing file while a sound key sits unused in ~/.ssh, the cause is that line.",
        why: "The login nodes accept only public keys.",
        fix: "Create a key with `ssh-keygen -t ed25519 -a {rounds} -f {key}` and have it deployed; or, when the report names an IdentityFile that points to a missing file, point it at your existing key (`mlc-doctor fix` does).",
    },
    DiagnosisKeyRefusedLocally = "diagnosis.key-refused-locally" {
        title: "OpenSSH will not use your key",
        what: "Concluded when the key the nodes use has bad permissions, a damaged or PuTTY format, or IdentityFile points to a missing file or a .pub.",
        why: "ssh silently skips such keys, so the server never sees them.",
        fix: "Apply the fix the report gives for the key (often `chmod 600 <key>`).",
    },
    DiagnosisWrongUser = "diagnosis.wrong-user" {
        title: "The username sent to the cluster is wrong",
        what: "Concluded when User is a placeholder, an e-mail address or missing.",
        why: "The server refuses every key for an unknown user, which looks like a key that is not deployed.",
        fix: "Set `User <your cluster username>` in the login nodes' Host blocks.",
    },
    DiagnosisTooManyKeys = "diagnosis.too-many-keys" {
        title: "Too many keys are offered",
        what: "Concluded when ssh-agent holds more than 5 keys without IdentitiesOnly, or OpenSSH ended with `Too many authentication failures`.",
        why: "The server disconnects after 6 refused keys, before the right one is tried.",
        fix: "Add `IdentitiesOnly yes` to the login nodes' Host blocks; where it is set already, leave one IdentityFile for them (those in `Host *` and Included files count too).",
    },
    DiagnosisKeyNotDeployed = "diagnosis.key-not-deployed" {
        title: "The server does not accept your key",
        what: "Concluded when the handshake works but no local key is accepted.",
        why: "Usually the public key was never deployed; the client cannot tell this apart from a wrong username, server-side permissions or a locked account.",
        fix: "Within {days} of account creation use ssh-copy-id; otherwise open a ticket with the bundle (it contains your public key).",
    },
    DiagnosisSecondFactorBlocked = "diagnosis.second-factor-blocked" {
        title: "Your config prevents the TOTP prompt",
        what: "Concluded when config.auth-override fails.",
        why: "The login needs the TOTP code after the key; BatchMode, KbdInteractiveAuthentication no or PreferredAuthentications without keyboard-interactive stop ssh from asking.",
        fix: "Remove the setting named in the report.",
    },
    DiagnosisKeyPolicy = "diagnosis.key-policy" {
        title: "Your key does not meet the site's key policy",
        what: "Concluded when the key the nodes use is the wrong type or size, or has no passphrase.",
        why: "The site requires Ed25519 (or RSA ≥ 4096) with a passphrase; support may refuse to deploy other keys.",
        fix: "Add a passphrase with `ssh-keygen -p -a {rounds} -f <key>`, or create a new Ed25519 key.",
    },
    DiagnosisCutShort = "diagnosis.cut-short" {
        title: "The run ended at its deadline before every check finished",
        what: "Concluded when the run's deadline (--deadline) stopped a login node's checks before they ended.",
        why: "What was not checked cannot be called healthy: a slow network or a node that answers slowly needs more time than the deadline gave.",
        fix: "Run the doctor again with a longer deadline, e.g. `mlc-doctor --deadline 120`.",
    },
    DiagnosisHealthy = "diagnosis.healthy" {
        title: "Nothing is wrong that the client can see",
        what: "Concluded when no check failed.",
        why: "If `ssh {alias}` still fails, the cause is on the server side: attach the bundle to a ticket.",
        fix: "Log in with `ssh {alias}`.",
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_well_formed_and_round_trip() {
        for id in CheckId::ALL {
            let s = id.as_str();
            let (area, check) = s.split_once('.').expect("area.check");
            assert_eq!(area, id.area().as_str(), "{s}");
            assert!(
                check.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{s}"
            );
            assert_eq!(CheckId::parse(s), Some(*id));
            assert_eq!(id.doc().id, *id);
            let json = serde_json::to_string(id).unwrap();
            assert_eq!(json, format!("\"{s}\""));
            assert_eq!(serde_json::from_str::<CheckId>(&json).unwrap(), *id);
        }
        assert!(serde_json::from_str::<CheckId>("\"key.nope\"").is_err());
    }
}
