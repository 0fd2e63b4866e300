//! macOS rules: Apple's ssh and its Keychain options, the launchd agent, which ssh runs.

use std::path::Path;

use super::Os;

/// Options only Apple's ssh knows; other builds stop with `Bad configuration option`.
pub const APPLE_ONLY_OPTIONS: &[&str] = &["usekeychain"];

/// True for an option only Apple's ssh accepts.
pub fn is_apple_only(word: &str) -> bool {
    APPLE_ONLY_OPTIONS
        .iter()
        .any(|o| o.eq_ignore_ascii_case(word))
}

/// Which ssh client a path is, in words, when the platform has more than one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `/usr/bin/ssh` on macOS: knows `UseKeychain` and the Keychain.
    Apple,
    /// Homebrew's OpenSSH (`/opt/homebrew/bin`, `/usr/local/bin`): upstream, no `UseKeychain`.
    Homebrew,
    /// Anything else.
    Other,
}

/// Tells Apple's ssh from Homebrew's by path (and by the banner, Apple's says LibreSSL).
pub fn flavour(os: Os, path: &Path) -> Flavour {
    if os != Os::MacOs {
        return Flavour::Other;
    }
    let p = path.to_string_lossy();
    if p == "/usr/bin/ssh" {
        Flavour::Apple
    } else if p.starts_with("/opt/homebrew/")
        || p.starts_with("/usr/local/")
        || p.contains("/Cellar/")
    {
        Flavour::Homebrew
    } else {
        Flavour::Other
    }
}

/// Words naming the client, for `env.openssh` on macOS.
pub fn flavour_words(f: Flavour) -> Option<&'static str> {
    match f {
        Flavour::Apple => Some("Apple's ssh (supports UseKeychain and the macOS Keychain)"),
        Flavour::Homebrew => Some("Homebrew's OpenSSH, which comes before Apple's /usr/bin/ssh on PATH; it does not know UseKeychain"),
        Flavour::Other => None,
    }
}

/// True when the ssh that will run accepts `word`: Apple's options are valid on macOS
/// unless a known non-Apple ssh (Homebrew's) is the one used.
pub fn accepts(os: Os, ssh: Option<&Path>, word: &str) -> bool {
    is_apple_only(word)
        && os == Os::MacOs
        && ssh.is_none_or(|p| flavour(os, p) != Flavour::Homebrew)
}

/// The advice for an Apple-only option on another system (configs are often shared).
pub fn ignore_unknown_advice(word: &str) -> String {
    format!("`{word}` is understood only by Apple's ssh on macOS. If this config is shared with a Mac, keep it and add `IgnoreUnknown {word}` as the first line of the file; otherwise delete the line.")
}

/// True for the agent socket launchd gives every macOS login session.
pub fn is_launchd_agent(sock: &str) -> bool {
    sock.starts_with("/private/tmp/com.apple.launchd.")
        || sock.starts_with("/tmp/com.apple.launchd.")
}

/// How to get the key at `key` into the agent on macOS so that it survives a reboot.
pub fn keychain_advice(key: &str) -> String {
    format!("macOS: add the key once with `{}` (stores the passphrase in the Keychain; `-K` before macOS 12), and set `AddKeysToAgent yes` and `UseKeychain yes` under `Host *`: without both, keys are not reloaded from the Keychain after a restart.", add_key_command(key))
}

/// The macOS agent command (launchd already runs an agent).
pub fn add_key_command(key: &str) -> String {
    format!("ssh-add --apple-use-keychain {key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_keychain_is_valid_only_for_apples_ssh() {
        assert!(accepts(Os::MacOs, None, "UseKeychain"));
        assert!(accepts(
            Os::MacOs,
            Some(Path::new("/usr/bin/ssh")),
            "usekeychain"
        ));
        assert!(!accepts(
            Os::MacOs,
            Some(Path::new("/opt/homebrew/bin/ssh")),
            "UseKeychain"
        ));
        assert!(!accepts(Os::Linux, None, "UseKeychain"));
        assert!(!accepts(Os::Windows, None, "UseKeychain"));
        assert!(!accepts(Os::MacOs, None, "IdentityFlie"));
        assert!(ignore_unknown_advice("UseKeychain").contains("IgnoreUnknown UseKeychain"));
    }

    #[test]
    fn names_which_ssh() {
        assert_eq!(
            flavour(Os::MacOs, Path::new("/usr/bin/ssh")),
            Flavour::Apple
        );
        assert_eq!(
            flavour(Os::MacOs, Path::new("/opt/homebrew/bin/ssh")),
            Flavour::Homebrew
        );
        assert_eq!(
            flavour(Os::MacOs, Path::new("/usr/local/bin/ssh")),
            Flavour::Homebrew
        );
        assert_eq!(
            flavour(Os::Linux, Path::new("/usr/bin/ssh")),
            Flavour::Other
        );
        assert!(is_launchd_agent(
            "/private/tmp/com.apple.launchd.AbC/Listeners"
        ));
        assert!(!is_launchd_agent("/tmp/ssh-XXXX/agent.1"));
    }
}
