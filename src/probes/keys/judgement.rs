//! One key file judged without its passphrase: `key.format`, `key.algorithm`,
//! `key.passphrase`, `key.kdf-rounds` and `key.public-match`. Each check reads what the
//! file says into a small fact type, and one function turns that into its finding.

use std::path::Path;

use super::{for_key, KeyInfo};
use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
use crate::keyfile::{Defect, KeyFormat};
use crate::profile::Advice;

/// How the findings name a key file: as shown to the reader, and quoted for the shell.
struct Name<'a> {
    path: &'a Path,
    shown: &'a str,
    shell: String,
}

/// Every check of one key file, in the order the report lists them. A file that holds
/// no private key gets `key.format` only.
pub(super) fn judge(ctx: &Context, key: &KeyInfo, out: &mut Vec<Finding>) {
    let name = Name {
        path: &key.path,
        shown: &key.shown,
        shell: ctx.shell_path(&key.path),
    };
    // No key under the name ssh reads (an empty or damaged file) and the private key
    // under the .pub name: that key, renamed back, is the user's key.
    if key.facts.format == KeyFormat::NotAKey && key.private_in_pub.is_some() {
        let mut pub_path = key.path.as_os_str().to_owned();
        pub_path.push(".pub");
        out.push(key_under_pub_name(ctx, &key.path, Path::new(&pub_path)));
        return;
    }
    out.push(for_key(
        key,
        format(ctx, &name, &FormatSeen::of(key, &ctx.profile.advice)),
    ));
    if !key.facts.format.is_private() {
        return;
    }
    out.push(for_key(key, algorithm(ctx, &name, &AlgorithmSeen::of(key))));
    out.push(for_key(
        key,
        passphrase(ctx, &name, &PassphraseSeen::of(key)),
    ));
    if let Some(kdf) = KdfSeen::of(key) {
        out.push(for_key(key, kdf_rounds(ctx, &name, &kdf)));
    }
    out.push(for_key(
        key,
        public_match(ctx, &name, &PublicMatch::of(key)),
    ));
    out.extend(crate::probes::perms::private_key::check(ctx, key));
}

/// `ssh-keygen -p` with the site's bcrypt rounds: rewrites the key in the OpenSSH format
/// (asks for the passphrase, keeps the key itself).
fn reencrypt(ctx: &Context, name: &Name) -> String {
    format!(
        "ssh-keygen -p -a {} -f {}",
        ctx.profile.policy.min_kdf_rounds, name.shell
    )
}

/// `path` with `suffix` added to its name (whatever bytes the name has), written for the
/// user's shell, quoted as a whole (PowerShell does not read `"…\\id".swap` as one path).
fn beside(ctx: &Context, path: &Path, suffix: &str) -> String {
    let mut named = path.as_os_str().to_owned();
    named.push(suffix);
    ctx.shell_path(Path::new(&named))
}

/// [`beside`], at a name no file has (`.broken`, else `.broken-2`, …): where a command
/// moves a file aside, never over another.
fn aside(ctx: &Context, path: &Path, suffix: &str) -> String {
    ctx.shell_path(&crate::probes::free_beside(path, suffix))
}

/// `key.format`: the file's container, and what keeps OpenSSH from loading it.
struct FormatSeen<'a> {
    format: KeyFormat,
    defects: &'a [Defect],
    /// An IdentityFile names the file.
    explicit: bool,
    /// The file has the name the site recommends for a new key (`advice.key_file`).
    site_name: bool,
    /// The `.pub` beside it holds a private key.
    private_in_pub: bool,
}

impl<'a> FormatSeen<'a> {
    fn of(key: &'a KeyInfo, advice: &Advice) -> Self {
        FormatSeen {
            format: key.facts.format,
            defects: &key.facts.defects,
            explicit: key.explicit,
            site_name: key.path.ends_with(&advice.key_file),
            private_in_pub: key.private_in_pub.is_some(),
        }
    }
}

/// The `key.format` finding.
fn format(ctx: &Context, name: &Name, seen: &FormatSeen) -> Finding {
    let (s, sp) = (name.shown, name.shell.as_str());
    let f = if seen.format == KeyFormat::NotAKey {
        // Where ssh looks for a key, a file that is no key at all is a damaged key.
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} is damaged: it is not a key file (ssh fails on it with `invalid format`)"),
        )
        .detail("The file may be truncated, overwritten or copied wrongly. If you have a backup of the key, restore it; otherwise move the file aside and create a new key (its public key must then be deployed again).")
        .remedy(Remedy::command(
            "Move the damaged file aside (nothing is deleted), then create a new key:",
            ctx.os.shell().move_file(sp, &aside(ctx, name.path, ".broken")),
        ))
        .with("damaged", true)
    } else if seen.format == KeyFormat::PublicKey && seen.private_in_pub {
        let pub_sp = beside(ctx, name.path, ".pub");
        let f = Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} and {s}.pub are swapped: {s} holds the public key and {s}.pub the private one"),
        )
        .detail("ssh reads the private key from the file without .pub; a .pub file is the one people copy and send, so the private key may already have been shared.");
        match ctx.os.shell() {
            // Through a name that is not there (`mv` would silently replace one).
            crate::platform::Shell::Posix => {
                let swap = aside(ctx, name.path, ".swap");
                let mut pub_path = name.path.as_os_str().to_owned();
                pub_path.push(".pub");
                // Never through a link (`chmod` would change the file it points to).
                let remedy = |path: &Path, r: Remedy| match r.command {
                    Some(c) => crate::probes::perms::mode_remedy(ctx, path, &r.text, c),
                    None => r,
                };
                let r = Remedy::command(
                    "Swap them back and make the private key yours alone:",
                    format!("mv -n {sp} {swap} && mv -n {pub_sp} {sp} && mv -n {swap} {pub_sp} && chmod 600 {sp}"),
                );
                let r = remedy(Path::new(&pub_path), r);
                f.remedy(remedy(name.path, r))
            }
            crate::platform::Shell::PowerShell => {
                let swap = beside(ctx, name.path, ".swap");
                f.remedy(Remedy::command(
                    "Swap them back:",
                    format!(
                        "Move-Item {sp} {swap}; Move-Item {pub_sp} {sp}; Move-Item {swap} {pub_sp}"
                    ),
                ))
            }
        }
    } else if seen.format == KeyFormat::PublicKey {
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} is a public key, not a private key"),
        )
        .remedy(Remedy::text(
            "Point IdentityFile at the private key file (the one without .pub).",
        ))
    } else if seen.format.is_putty() {
        putty_format(ctx, name, seen)
    } else if let Some(defect) = seen.defects.first() {
        let all: Vec<String> = seen.defects.iter().map(Defect::describe).collect();
        let remedy = match defect {
            Defect::Crlf | Defect::Bom | Defect::NoFinalNewline => Remedy::command("Rewrite the file with Unix line endings, no BOM and a final newline (keeps the key itself):", ctx.os.shell().normalize_text_file(sp)),
            _ => Remedy::text("Restore the key from a backup or the original machine; if it is lost, create a new key and have the new public key deployed."),
        };
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} cannot be loaded by OpenSSH: {}", all.join(", ")),
        )
        .remedy(remedy)
        .with("defects", seen.defects)
    } else if seen.format.is_legacy() {
        Finding::warn(
            CheckId::KeyFormat,
            s,
            format!("{s} is {} (legacy format)", seen.format.with_article()),
        )
        .detail("OpenSSH still reads it, but the legacy format protects the passphrase poorly.")
        .remedy(Remedy::command(
            "Rewrite it in the OpenSSH format (asks for the passphrase):",
            reencrypt(ctx, name),
        ))
    } else {
        Finding::pass(
            CheckId::KeyFormat,
            s,
            format!("{s} is {}", seen.format.with_article()),
        )
    };
    f.with("format", seen.format)
}

/// `key.format` of a PuTTY key: a failure where an IdentityFile names it, else a note.
fn putty_format(ctx: &Context, name: &Name, seen: &FormatSeen) -> Finding {
    let advice = &ctx.profile.advice;
    let (s, sp) = (name.shown, name.shell.as_str());
    let f = if seen.explicit {
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!(
                "{s} is {}: OpenSSH cannot read it",
                seen.format.with_article()
            ),
        )
    } else {
        Finding::info(
            CheckId::KeyFormat,
            s,
            format!(
                "{s} is {} (for PuTTY; OpenSSH cannot read it)",
                seen.format.with_article()
            ),
        )
    };
    // OpenSSH cannot read a .ppk (`ssh-keygen -y` on it fails and leaves an empty
    // .pub): PuTTYgen converts it, on the command line or in its window.
    // Into a file that is not there: never over the user's other key.
    let stem = name
        .path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        });
    let site = if seen.site_name {
        advice.new_key_path()
    } else {
        advice.key_path()
    };
    let free = |shown: &String| {
        let rest = shown.strip_prefix("~/").unwrap_or(shown);
        std::fs::symlink_metadata(ctx.home.join(rest)).is_err()
    };
    let target = [
        Some(site.clone()),
        stem.as_ref().map(|n| format!("~/.ssh/{n}")),
        stem.as_ref().map(|n| format!("~/.ssh/{n}_openssh")),
    ]
    .into_iter()
    .flatten()
    .chain(std::iter::once(format!("{site}_from_putty")))
    .chain((2..1000).map(|i| format!("{site}_from_putty_{i}")))
    .find(free)
    .unwrap_or_else(|| format!("{site}_from_putty_{}", std::process::id()));
    if ctx.os == crate::platform::Os::Windows {
        // PuTTYgen on Windows converts in its window only.
        return f.remedy(Remedy::text(format!("Open PuTTYgen, Load {s}, then Conversions → Export OpenSSH key, and save it as {target} (a new file); then point IdentityFile at {target}.")));
    }
    f.remedy(Remedy::command(
        format!("Convert it with PuTTYgen (Debian/Ubuntu: `sudo apt install putty-tools`; macOS: `brew install putty`) into {target}, a new file; then point IdentityFile at it and run `chmod 600 {}`:", ctx.shell_shown(&target)),
        format!("puttygen {sp} -O private-openssh -o {}", ctx.shell_shown(&target)),
    ))
}

/// `key.algorithm`: the key type and its size, from the file or its `.pub`.
struct AlgorithmSeen {
    algorithm: Option<String>,
    bits: Option<u32>,
}

impl AlgorithmSeen {
    fn of(key: &KeyInfo) -> Self {
        AlgorithmSeen {
            algorithm: key.algorithm(),
            bits: key.bits(),
        }
    }
}

/// The name the site's list of key types uses for an algorithm (`ecdsa` for every curve).
fn family(algorithm: &str) -> &str {
    ["ecdsa", "sk-ssh-ed25519", "sk-ecdsa"]
        .into_iter()
        .find(|f| algorithm.starts_with(f))
        .unwrap_or(algorithm)
}

/// The `key.algorithm` finding.
fn algorithm(ctx: &Context, name: &Name, seen: &AlgorithmSeen) -> Finding {
    let s = name.shown;
    let policy = &ctx.profile.policy;
    let allowed = |name: &str| policy.key_types().iter().any(|t| t == name);
    let new_key = Remedy::command(
        "Create an Ed25519 key and have its public key deployed:",
        ctx.profile.keygen(
            &ctx.shell_shown(
                &super::new_key_name(ctx)
                    .map(|n| format!("~/.ssh/{n}"))
                    .unwrap_or_else(|| ctx.profile.advice.key_path()),
            ),
        ),
    );
    let f = match seen.algorithm.as_deref() {
        None => Finding::skip(
            CheckId::KeyAlgorithm,
            s,
            "key type unknown (encrypted file without a .pub)",
        ),
        Some("ssh-ed25519") if allowed("ssh-ed25519") => {
            Finding::pass(CheckId::KeyAlgorithm, s, "Ed25519")
        }
        Some("ssh-rsa") => match seen.bits {
            Some(b) if b < policy.min_rsa_bits() => Finding::fail(
                CheckId::KeyAlgorithm,
                s,
                format!(
                    "RSA {b} bits: the site requires at least {}",
                    policy.min_rsa_bits()
                ),
            )
            .remedy(new_key),
            Some(b) if allowed("rsa") => {
                Finding::pass(CheckId::KeyAlgorithm, s, format!("RSA {b} bits"))
            }
            None if allowed("rsa") => Finding::info(
                CheckId::KeyAlgorithm,
                s,
                "RSA (size unknown: encrypted file without a .pub)",
            ),
            _ => Finding::warn(
                CheckId::KeyAlgorithm,
                s,
                "RSA keys are not in the site's list",
            )
            .remedy(new_key),
        },
        Some("ssh-dss") => Finding::fail(
            CheckId::KeyAlgorithm,
            s,
            "DSA: OpenSSH no longer accepts DSA keys",
        )
        .remedy(new_key),
        Some(other) if allowed(family(other)) => {
            Finding::pass(CheckId::KeyAlgorithm, s, other.to_string())
        }
        Some(other) => Finding::warn(
            CheckId::KeyAlgorithm,
            s,
            format!(
                "{other} is not a key type the site lists ({})",
                policy.key_types().join(", ")
            ),
        )
        .remedy(new_key),
    };
    f.with("algorithm", &seen.algorithm).with("bits", seen.bits)
}

/// `key.passphrase`: whether the file is encrypted, and with which cipher.
struct PassphraseSeen<'a> {
    /// `None`: the file does not say.
    encrypted: Option<bool>,
    cipher: Option<&'a str>,
}

impl<'a> PassphraseSeen<'a> {
    fn of(key: &'a KeyInfo) -> Self {
        PassphraseSeen {
            encrypted: key.facts.encrypted,
            cipher: key.facts.cipher.as_deref(),
        }
    }
}

/// The `key.passphrase` finding.
fn passphrase(ctx: &Context, name: &Name, seen: &PassphraseSeen) -> Finding {
    let s = name.shown;
    let f = match seen.encrypted {
        Some(true) => Finding::pass(
            CheckId::KeyPassphrase,
            s,
            format!(
                "encrypted{}",
                seen.cipher.map(|c| format!(" ({c})")).unwrap_or_default()
            ),
        ),
        Some(false) if ctx.profile.policy.require_passphrase => Finding::fail(
            CheckId::KeyPassphrase,
            s,
            format!("{s} has no passphrase: anyone who copies the file can log in as you"),
        )
        .remedy(Remedy::command(
            "Add a passphrase (the public key stays the same):",
            reencrypt(ctx, name),
        )),
        Some(false) => Finding::warn(CheckId::KeyPassphrase, s, format!("{s} has no passphrase")),
        None => Finding::skip(
            CheckId::KeyPassphrase,
            s,
            "cannot tell whether the file is encrypted",
        ),
    };
    f.with("encrypted", seen.encrypted)
}

/// `key.kdf-rounds`, for an encrypted key: how its passphrase is turned into the key
/// that encrypts it.
struct KdfSeen<'a> {
    format: KeyFormat,
    kdf: Option<&'a str>,
    /// bcrypt rounds (OpenSSH format).
    rounds: Option<u32>,
}

impl<'a> KdfSeen<'a> {
    /// None for a key without a passphrase.
    fn of(key: &'a KeyInfo) -> Option<Self> {
        (key.facts.encrypted == Some(true)).then_some(KdfSeen {
            format: key.facts.format,
            kdf: key.facts.kdf.as_deref(),
            rounds: key.facts.kdf_rounds,
        })
    }
}

/// The `key.kdf-rounds` finding.
fn kdf_rounds(ctx: &Context, name: &Name, seen: &KdfSeen) -> Finding {
    let s = name.shown;
    let min_rounds = ctx.profile.policy.min_kdf_rounds;
    let f = match (seen.format, seen.rounds) {
        (KeyFormat::OpenSsh, Some(r)) if r < min_rounds => Finding::warn(
            CheckId::KeyKdfRounds,
            s,
            format!("{r} bcrypt rounds; the site asks for at least {min_rounds}"),
        )
        .remedy(Remedy::command(
            "Re-encrypt with more rounds (asks for the passphrase):",
            reencrypt(ctx, name),
        )),
        (KeyFormat::OpenSsh, Some(r)) => {
            Finding::pass(CheckId::KeyKdfRounds, s, format!("{r} bcrypt rounds"))
        }
        (KeyFormat::PemRsa | KeyFormat::PemEc | KeyFormat::PemDsa, _) => Finding::warn(
            CheckId::KeyKdfRounds,
            s,
            "legacy PEM encryption: the passphrase is hashed once with MD5",
        )
        .remedy(Remedy::command(
            "Convert to the OpenSSH format with bcrypt (asks for the passphrase):",
            reencrypt(ctx, name),
        )),
        (_, _) => Finding::info(
            CheckId::KeyKdfRounds,
            s,
            format!("key derivation: {}", seen.kdf.unwrap_or("unknown")),
        ),
    };
    f.with("kdf", seen.kdf).with("rounds", seen.rounds)
}

/// `key.public-match`: whether the `.pub` beside the key holds the same key (by SHA256
/// fingerprint).
enum PublicMatch<'a> {
    /// The `.pub` holds a private key (its mode, where files have one).
    PrivateInPub { mode: Option<&'a str> },
    /// No `.pub`. `putty`: a PuTTY key, whose `.pub` only PuTTYgen writes.
    Missing {
        putty: bool,
        private: Option<&'a str>,
    },
    /// A file has the `.pub` name but holds no public key the doctor recognises (damaged,
    /// too large, something else): never overwritten, only moved aside.
    NotPublic { private: Option<&'a str> },
    /// The `.pub` holds another key.
    Differs {
        private: &'a str,
        public: Option<&'a str>,
    },
    /// The `.pub` holds this key.
    Matches(&'a str),
    /// The private half is encrypted: the `.pub` cannot be compared.
    Unverifiable { public: Option<&'a str> },
}

impl<'a> PublicMatch<'a> {
    fn of(key: &'a KeyInfo) -> Self {
        let private = key.facts.fingerprint.as_deref();
        if let Some(mode) = &key.private_in_pub {
            return PublicMatch::PrivateInPub {
                mode: mode.as_deref(),
            };
        }
        match (&key.pub_facts, private) {
            (None, _) if key.pub_present => PublicMatch::NotPublic { private },
            (None, _) => PublicMatch::Missing {
                putty: key.facts.format.is_putty(),
                private,
            },
            (Some(p), Some(private)) if p.fingerprint.as_deref() != Some(private) => {
                PublicMatch::Differs {
                    private,
                    public: p.fingerprint.as_deref(),
                }
            }
            (Some(_), Some(private)) => PublicMatch::Matches(private),
            (Some(p), None) => PublicMatch::Unverifiable {
                public: p.fingerprint.as_deref(),
            },
        }
    }

    /// The key's fingerprint, from the private file or else its `.pub`.
    fn fingerprint(&self) -> Option<&'a str> {
        match *self {
            PublicMatch::Missing { private, .. } | PublicMatch::NotPublic { private } => private,
            PublicMatch::Differs { private, .. } | PublicMatch::Matches(private) => Some(private),
            PublicMatch::Unverifiable { public } => public,
            PublicMatch::PrivateInPub { .. } => None,
        }
    }
}

/// The `key.public-match` finding.
fn public_match(ctx: &Context, name: &Name, seen: &PublicMatch) -> Finding {
    let (s, sp) = (name.shown, name.shell.as_str());
    let pub_sp = beside(ctx, name.path, ".pub");
    let recreate =
        |text: &str| Remedy::command(text, ctx.os.shell().public_from_private(sp, &pub_sp));
    let missing = || {
        Finding::warn(
            CheckId::KeyPublicMatch,
            s,
            format!("{s}.pub is missing: the public key to deploy is not at hand"),
        )
    };
    let f = match *seen {
        PublicMatch::PrivateInPub { mode } => {
            let readable = mode
                .and_then(|m| u32::from_str_radix(m, 8).ok())
                .is_some_and(|m| m & 0o044 != 0);
            let others = match (readable, mode) {
                (true, Some(m)) => format!(", and others can read it (mode {m})"),
                _ => String::new(),
            };
            let f = Finding::fail(
                CheckId::KeyPublicMatch,
                s,
                format!("{s}.pub holds a PRIVATE key, not the public one{others}"),
            )
            .detail("A .pub file is the one people copy, send and deploy: a private key in it may already have been shared. The doctor never reads it further and leaves it out of the bundle.");
            match ctx.os.shell() {
                crate::platform::Shell::Posix => {
                    let mut pub_path = name.path.as_os_str().to_owned();
                    pub_path.push(".pub");
                    let pub_path = std::path::PathBuf::from(pub_path);
                    let kept = aside(ctx, &pub_path, ".was-private");
                    f.remedy(crate::probes::perms::mode_remedy(
                        ctx,
                        &pub_path,
                        "Make it private and keep it aside, then write the real public key (asks for the passphrase); if it was sent anywhere, treat the key as lost and create a new one:",
                        format!(
                            "chmod 600 {pub_sp} && mv -n {pub_sp} {kept} && {}",
                            ctx.os.shell().public_from_private(sp, &pub_sp)
                        ),
                    ))
                }
                crate::platform::Shell::PowerShell => f.remedy(Remedy::text(
                    "Move the .pub file out of ~/.ssh to a private place, then write the real public key with `ssh-keygen -y -f` on the private key; if it was sent anywhere, treat the key as lost and create a new one.",
                )),
            }
        }
        PublicMatch::NotPublic { .. } => {
            let mut pub_path = name.path.as_os_str().to_owned();
            pub_path.push(".pub");
            let kept = aside(ctx, Path::new(&pub_path), ".unknown");
            Finding::warn(
                CheckId::KeyPublicMatch,
                s,
                format!("{s}.pub holds no public key the doctor can read: the public key to deploy is not at hand"),
            )
            .detail("The file may be damaged, or something else saved under that name; it may even be a key. The doctor does not overwrite it: move it aside, then the next run tells how to write the .pub.")
            .remedy(Remedy::command(
                "Move it aside (nothing is deleted), then run the doctor again:",
                ctx.os.shell().move_file(&pub_sp, &kept),
            ))
        }
        PublicMatch::Missing { putty: true, .. } => missing().remedy(Remedy::command(
            "Write it with PuTTYgen (OpenSSH cannot read a .ppk):",
            format!("puttygen {sp} -O public-openssh -o {sp}.pub"),
        )),
        PublicMatch::Missing { .. } => missing().remedy(recreate(
            "Recreate it from the private key (asks for the passphrase):",
        )),
        PublicMatch::Differs { private, public } => Finding::fail(
            CheckId::KeyPublicMatch,
            s,
            format!(
                "{s}.pub belongs to another key ({} vs {private})",
                public.unwrap_or_default()
            ),
        )
        .detail("The .pub is what gets deployed: if support deployed this one, your private key will never be accepted.")
        .remedy(recreate(
            "Recreate the .pub from the private key (asks for the passphrase), then deploy it:",
        )),
        PublicMatch::Matches(fp) => {
            Finding::pass(CheckId::KeyPublicMatch, s, format!(".pub matches ({fp})"))
        }
        PublicMatch::Unverifiable { public } => Finding::info(
            CheckId::KeyPublicMatch,
            s,
            format!(
                "the private key's public half cannot be read without the passphrase; the .pub says {}",
                public.unwrap_or_default()
            ),
        ),
    };
    f.with("fingerprint", seen.fingerprint())
}

/// `key.format` for a key ssh looks for that is missing while its `.pub` name holds the
/// private key: renamed back, it is the user's key again (a new key at that name would
/// overwrite the only copy: `ssh-keygen` replaces a `.pub` without asking).
pub(super) fn key_under_pub_name(ctx: &Context, key: &Path, pub_path: &Path) -> Finding {
    let (s, p) = (ctx.show(key), ctx.show(pub_path));
    let (sp, pub_sp) = (ctx.shell_path(key), ctx.shell_path(pub_path));
    let f = Finding::fail(
        CheckId::KeyFormat,
        p.clone(),
        format!("{p} holds a PRIVATE key and {s} {}: ssh looks for the private key under the name without .pub", if std::fs::symlink_metadata(key).is_ok() { "is no key" } else { "is missing" }),
    )
    .detail("A .pub file is the one people copy, send and deploy: if this one was sent anywhere, treat the key as lost and create a new one. The doctor never reads it further and leaves it out of the bundle.")
    .fact(crate::fact::Fact::KeyUnderPubName);
    // A file in the way (empty, damaged) goes aside first: `mv -n` would not replace it.
    let first = match std::fs::symlink_metadata(key) {
        Ok(_) => {
            let shell = ctx.os.shell();
            let sep = if shell == crate::platform::Shell::Posix {
                " &&"
            } else {
                ";"
            };
            format!(
                "{}{sep} ",
                shell.move_file(&sp, &aside(ctx, key, ".broken"))
            )
        }
        Err(_) => String::new(),
    };
    let command = match ctx.os.shell() {
        crate::platform::Shell::Posix => format!("{first}mv -n {pub_sp} {sp} && chmod 600 {sp}"),
        crate::platform::Shell::PowerShell => {
            format!("{first}{}", ctx.os.shell().move_file(&pub_sp, &sp))
        }
    };
    // Never through a link (`chmod` would change the file it points to).
    f.remedy(crate::probes::perms::mode_remedy(
        ctx,
        pub_path,
        "Give it back the private key's name (then run the doctor again: it tells how to write the real .pub):",
        command,
    ))
}

/// `key.format` for a `.pub` in ~/.ssh that holds a private key ssh does not use under
/// that name: the file people copy and send. Made private and kept aside under a name
/// no one mistakes for a public key.
pub(super) fn stray_private_pub(ctx: &Context, pub_path: &Path) -> Finding {
    let p = ctx.show(pub_path);
    let sp = ctx.shell_path(pub_path);
    let kept = aside(ctx, pub_path, ".was-private");
    Finding::warn(
        CheckId::KeyFormat,
        p.clone(),
        format!("{p} holds a PRIVATE key, not a public one (ssh does not use it under this name)"),
    )
    .detail("A .pub file is the one people copy, send and deploy: a private key in it may already have been shared. If it was sent anywhere, treat that key as lost. The doctor never reads it further and leaves it out of the bundle.")
    .remedy(crate::probes::perms::mode_remedy(
        ctx,
        pub_path,
        "Make it private and keep it under a name no one takes for a public key:",
        match ctx.os.shell() {
            crate::platform::Shell::Posix => format!("chmod 600 {sp} && mv -n {sp} {kept}"),
            crate::platform::Shell::PowerShell => ctx.os.shell().move_file(&sp, &kept),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::super::discovery::fixture_key;
    use super::*;
    use crate::fact::Fact;

    #[test]
    fn public_match_compares_fingerprints() {
        let seen = |name| {
            let key = fixture_key(name, None);
            match PublicMatch::of(&key) {
                PublicMatch::Missing { putty, private } => {
                    format!("missing putty={putty} private={}", private.is_some())
                }
                PublicMatch::Differs { public, .. } => {
                    format!("differs public={}", public.is_some())
                }
                PublicMatch::Matches(_) => "matches".to_string(),
                PublicMatch::Unverifiable { public } => {
                    format!("unverifiable public={}", public.is_some())
                }
                PublicMatch::PrivateInPub { .. } => "private in .pub".to_string(),
                PublicMatch::NotPublic { .. } => "not public".to_string(),
            }
        };
        assert_eq!(seen("ed25519_100"), "matches");
        assert_eq!(seen("ed25519_mismatch"), "differs public=true");
        assert_eq!(
            seen("putty_v3_plain.ppk"),
            "missing putty=true private=true"
        );
        assert_eq!(seen("pem_rsa_enc"), "unverifiable public=true");
    }

    #[test]
    fn only_an_encrypted_key_has_kdf_facts() {
        assert!(KdfSeen::of(&fixture_key("ed25519_plain", None)).is_none());
        let key = fixture_key("ed25519_16", None);
        let kdf = KdfSeen::of(&key).unwrap();
        assert_eq!((kdf.format, kdf.rounds), (KeyFormat::OpenSsh, Some(16)));
    }

    #[test]
    fn every_finding_about_a_key_names_the_nodes_that_use_it() {
        let ctx = Context::for_home(
            Path::new("/nonexistent-home"),
            crate::profile::Profile::embedded(),
        );
        let ids = |name| {
            let mut out = Vec::new();
            judge(&ctx, &fixture_key(name, Some("slurm")), &mut out);
            assert!(out
                .iter()
                .all(|f| f.fact == Some(Fact::KeyUse(vec!["slurm".into()]))));
            out.into_iter().map(|f| f.id).collect::<Vec<_>>()
        };
        let mut all = vec![
            CheckId::KeyFormat,
            CheckId::KeyAlgorithm,
            CheckId::KeyPassphrase,
            CheckId::KeyKdfRounds,
            CheckId::KeyPublicMatch,
        ];
        if ctx.os.has_unix_modes() {
            all.push(CheckId::PermPrivateKey);
        }
        assert_eq!(ids("ed25519_100"), all);
        all.retain(|id| *id != CheckId::KeyKdfRounds);
        assert_eq!(ids("ed25519_plain"), all);
        assert_eq!(ids("random_bytes"), [CheckId::KeyFormat]);
    }
}
