//! `key.*` and `perm.private-key`: every key the user may have, judged without its
//! passphrase, and the ssh-agent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::Fact;
use crate::finding::{Finding, Remedy, Severity};
use crate::keyfile::{self, Defect, KeyFacts, KeyFormat};
use crate::probes::NodePlan;
use crate::runner::RunState;

/// The names OpenSSH tries when no IdentityFile is given.
pub const DEFAULT_NAMES: &[&str] = &[
    "id_rsa",
    "id_ecdsa",
    "id_ecdsa_sk",
    "id_ed25519",
    "id_ed25519_sk",
    "id_xmss",
    "id_dsa",
];

/// Key files larger than this are not keys.
const MAX_KEY_BYTES: u64 = 64 * 1024;

/// One private key found on disk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyInfo {
    #[serde(skip)]
    pub path: PathBuf,
    /// The path as shown (`~/.ssh/id_ed25519`).
    pub shown: String,
    pub facts: KeyFacts,
    /// The `.pub` beside it, if any.
    pub pub_facts: Option<KeyFacts>,
    /// From the `.pub` (or the .ppk); never in the bundle.
    #[serde(skip)]
    pub comment: Option<String>,
    /// Aliases whose ssh would offer this key.
    pub used_by: Vec<String>,
    /// Named by an IdentityFile.
    pub explicit: bool,
    pub mode: Option<String>,
    pub owner_is_user: Option<bool>,
}

impl KeyInfo {
    /// The public key, from the private file or its `.pub`.
    pub fn public(&self) -> Option<russh::keys::PublicKey> {
        self.facts
            .public()
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.public()))
    }

    /// SHA256 fingerprint, from the private file or its `.pub`.
    pub fn fingerprint(&self) -> Option<String> {
        self.facts
            .fingerprint
            .clone()
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.fingerprint.clone()))
    }

    /// The algorithm, from the file or its `.pub`.
    pub fn algorithm(&self) -> Option<String> {
        let from_pub = self.pub_facts.as_ref().and_then(|p| p.algorithm.clone());
        match self.facts.algorithm.as_deref() {
            Some("ecdsa") | None => from_pub.or(self.facts.algorithm.clone()),
            Some(a) => Some(a.to_string()),
        }
    }

    fn bits(&self) -> Option<u32> {
        self.facts
            .bits
            .or_else(|| self.pub_facts.as_ref().and_then(|p| p.bits))
    }
}

/// A key held by ssh-agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentKey {
    pub algorithm: String,
    pub fingerprint: String,
    /// Public key line without comment.
    pub public_key: String,
    #[serde(skip)]
    pub comment: String,
}

/// The ssh-agent as seen through `SSH_AUTH_SOCK`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentState {
    #[serde(skip)]
    pub address: crate::platform::AgentAddress,
    pub keys: Vec<AgentKey>,
}

fn read_small(path: &Path, limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > limit {
        return None;
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(limit)
        .read_to_end(&mut buf)
        .ok()?;
    Some(buf)
}

fn head(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_KEY_BYTES {
        return None;
    }
    let mut buf = [0u8; 64];
    let n = std::fs::File::open(path).ok()?.read(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// Every candidate key path in ~/.ssh that holds a private key (not following IdentityFiles).
fn scan_ssh_dir(ctx: &Context) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(ctx.ssh_dir()) else {
        return out;
    };
    for e in entries.filter_map(Result::ok).take(20_000) {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "pub") {
            continue;
        }
        // file_type() does not follow links; metadata in head() does, and skips FIFOs.
        if head(&p).is_some_and(|h| keyfile::looks_private(&h)) {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The key path to suggest in a config block: an Ed25519 key if the user has one.
pub fn preferred_key_path(ctx: &Context, state: &RunState) -> String {
    let mut candidates: Vec<PathBuf> = state.keys.iter().map(|k| k.path.clone()).collect();
    if candidates.is_empty() {
        candidates = scan_ssh_dir(ctx);
    }
    // Only names that paste safely into a config block: a name with a newline, a control
    // character or a quote could add lines to the block the user is told to paste.
    candidates.retain(|p| {
        p.to_str().is_some_and(|s| {
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-+@~:".contains(c))
        })
    });
    let score = |p: &PathBuf| {
        let facts = read_small(p, MAX_KEY_BYTES).map(|b| keyfile::sniff(&b));
        match facts.as_ref().and_then(|f| f.algorithm.clone()).as_deref() {
            Some("ssh-ed25519") => 0,
            Some("ssh-rsa") if facts.as_ref().and_then(|f| f.bits).unwrap_or(0) >= 4096 => 1,
            Some(_) => 2,
            None => 3,
        }
    };
    candidates.sort_by_key(|p| (score(p), !p.to_string_lossy().contains("mlcloud")));
    match candidates.first() {
        Some(p) if score(p) < 3 => ctx.show(p),
        _ => "~/.ssh/id_ed25519".to_string(),
    }
}

/// Finds and judges every key; emits all key findings but `key.present` and `key.agent`.
pub fn run(ctx: &Context, state: &mut RunState) {
    let plans = crate::probes::plan_nodes(ctx, state);
    let mut keys: Vec<KeyInfo> = Vec::new();
    // `keep`: judge the file even when it is not a private key: ssh looks for a key there
    // (an IdentityFile, or a default name), so a damaged file is a damaged key, not none.
    let add = |path: PathBuf,
               explicit: bool,
               keep: bool,
               alias: Option<&str>,
               keys: &mut Vec<KeyInfo>| {
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if let Some(k) = keys
            .iter_mut()
            .find(|k| std::fs::canonicalize(&k.path).unwrap_or_else(|_| k.path.clone()) == canon)
        {
            k.explicit |= explicit;
            if let Some(a) = alias {
                if !k.used_by.iter().any(|u| u == a) {
                    k.used_by.push(a.to_string());
                }
            }
            return;
        }
        let Some(bytes) = read_small(&path, MAX_KEY_BYTES) else {
            return;
        };
        let facts = keyfile::sniff(&bytes);
        drop(bytes);
        if !facts.format.is_private() && !keep {
            return;
        }
        let pub_path = PathBuf::from(format!("{}.pub", path.display()));
        let pub_facts = read_small(&pub_path, MAX_KEY_BYTES)
            .map(|b| keyfile::sniff(&b))
            .filter(|f| f.format == KeyFormat::PublicKey);
        let comment = pub_facts
            .as_ref()
            .and_then(|p| p.comment.clone())
            .or_else(|| facts.comment.clone());
        let (mode, owner) = mode_owner(ctx, &path);
        keys.push(KeyInfo {
            shown: ctx.show(&path),
            path,
            facts,
            pub_facts,
            comment,
            used_by: alias.map(|a| vec![a.to_string()]).unwrap_or_default(),
            explicit,
            mode,
            owner_is_user: owner,
        });
    };
    for plan in &plans {
        for f in &plan.identity_files {
            if f.extension().is_some_and(|e| e == "pub") {
                continue; // config.identity-file reports it
            }
            add(f.clone(), true, true, Some(&plan.alias), &mut keys);
        }
    }
    for name in DEFAULT_NAMES {
        let p = ctx.ssh_dir().join(name);
        if std::fs::metadata(&p).is_err() {
            continue;
        }
        let users: Vec<&NodePlan> = plans
            .iter()
            .filter(|p| p.identity_files.is_empty())
            .collect();
        // Only a regular file counts: a directory or a FIFO of that name is not a key.
        let keep = std::fs::metadata(&p).is_ok_and(|m| m.is_file());
        if users.is_empty() {
            add(p.clone(), false, keep, None, &mut keys);
        }
        for plan in users {
            add(p.clone(), false, keep, Some(&plan.alias), &mut keys);
        }
    }
    for p in scan_ssh_dir(ctx) {
        add(p, false, false, None, &mut keys);
    }

    let mut out = Vec::new();
    for key in &keys {
        judge(ctx, key, &mut out);
    }
    let keys_json: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            let mut v = serde_json::to_value(k).unwrap_or_default();
            v["path"] = k.shown.clone().into();
            v
        })
        .collect();
    state.artifacts.insert(
        "ssh/keys.json".into(),
        serde_json::to_vec_pretty(&keys_json).unwrap_or_default(),
    );
    state.push(out);
    state.keys = keys;
}

fn mode_owner(ctx: &Context, path: &Path) -> (Option<String>, Option<bool>) {
    match crate::probes::perms::stat(path) {
        Ok(f) => (Some(format!("{:04o}", f.mode)), Some(f.uid == ctx.uid)),
        Err(_) => (None, None),
    }
}

/// Records which nodes use the key (the severity of findings about keys no node uses is
/// lowered after the run, in `crate::verdict::adjust`).
fn for_key(key: &KeyInfo, f: Finding) -> Finding {
    f.with("used_by", &key.used_by)
        .fact(Fact::KeyUse(key.used_by.clone()))
}

fn judge(ctx: &Context, key: &KeyInfo, out: &mut Vec<Finding>) {
    let s = key.shown.as_str();
    let sp = ctx.shell_path(&key.path);
    let pub_sp = ctx.shell_path(Path::new(&format!("{}.pub", key.path.display())));
    let policy = &ctx.profile.policy;
    let facts = &key.facts;

    // key.format
    let format_finding = if !facts.format.is_private() && facts.format != KeyFormat::PublicKey {
        // Where ssh looks for a key, a file that is no key at all is a damaged key.
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} is damaged: it is not a key file (ssh fails on it with `invalid format`)"),
        )
        .detail("The file may be truncated, overwritten or copied wrongly. If you have a backup of the key, restore it; otherwise move the file aside and create a new key (its public key must then be deployed again).")
        .remedy(Remedy::command(
            "Move the damaged file aside (nothing is deleted), then create a new key:",
            format!("mv {sp} {sp}.broken"),
        ))
        .with("damaged", true)
    } else if !facts.format.is_private() {
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!(
                "{s} is {}, not a private key",
                if facts.format == KeyFormat::PublicKey {
                    "a public key"
                } else {
                    "not a key file"
                }
            ),
        )
        .remedy(Remedy::text(
            "Point IdentityFile at the private key file (the one without .pub).",
        ))
    } else if facts.format.is_putty() {
        let f = if key.explicit {
            Finding::fail(
                CheckId::KeyFormat,
                s,
                format!(
                    "{s} is a {}: OpenSSH cannot read it",
                    facts.format.describe()
                ),
            )
        } else {
            Finding::info(
                CheckId::KeyFormat,
                s,
                format!(
                    "{s} is a {} (for PuTTY; OpenSSH cannot read it)",
                    facts.format.describe()
                ),
            )
        };
        // OpenSSH cannot read a .ppk (`ssh-keygen -y` on it fails and leaves an empty
        // .pub): PuTTYgen converts it, on the command line or in its window.
        let target = if key.path.ends_with("id_ed25519") {
            "~/.ssh/id_ed25519_mlcloud".to_string()
        } else {
            "~/.ssh/id_ed25519".to_string()
        };
        f.remedy(Remedy::command(
            format!("Convert it with PuTTYgen (Debian/Ubuntu: `sudo apt install putty-tools`; on Windows: PuTTYgen → Load {s} → Conversions → Export OpenSSH key), then point IdentityFile at {target} and run `chmod 600 {target}`:"),
            format!("puttygen {sp} -O private-openssh -o {target}"),
        ))
    } else if let Some(defect) = facts.defects.first() {
        let all: Vec<String> = facts.defects.iter().map(Defect::describe).collect();
        let remedy = match defect {
            Defect::Crlf | Defect::Bom | Defect::NoFinalNewline => Remedy::command("Rewrite the file with Unix line endings, no BOM and a final newline (keeps the key itself):", ctx.os.shell().normalize_text_file(&sp)),
            _ => Remedy::text("Restore the key from a backup or the original machine; if it is lost, create a new key and have the new public key deployed."),
        };
        Finding::fail(
            CheckId::KeyFormat,
            s,
            format!("{s} cannot be loaded by OpenSSH: {}", all.join(", ")),
        )
        .remedy(remedy)
        .with("defects", &facts.defects)
    } else if facts.format.is_legacy() {
        Finding::warn(
            CheckId::KeyFormat,
            s,
            format!("{s} is a {} (legacy format)", facts.format.describe()),
        )
        .detail("OpenSSH still reads it, but the legacy format protects the passphrase poorly.")
        .remedy(Remedy::command(
            "Rewrite it in the OpenSSH format (asks for the passphrase):",
            format!("ssh-keygen -p -a {} -f {sp}", policy.min_kdf_rounds),
        ))
    } else {
        Finding::pass(
            CheckId::KeyFormat,
            s,
            format!("{s} is an {}", facts.format.describe()),
        )
    };
    out.push(for_key(key, format_finding.with("format", facts.format)));
    if !facts.format.is_private() {
        return;
    }

    // key.algorithm
    let algorithm = key.algorithm();
    let bits = key.bits();
    let allowed = |name: &str| policy.key_types().iter().any(|t| t == name);
    let new_key = Remedy::command(
        "Create an Ed25519 key and have its public key deployed:",
        "ssh-keygen -t ed25519 -a 100 -f ~/.ssh/id_ed25519_mlcloud",
    );
    let algo_finding = match algorithm.as_deref() {
        None => Finding::skip(
            CheckId::KeyAlgorithm,
            s,
            "key type unknown (encrypted file without a .pub)",
        ),
        Some("ssh-ed25519") if allowed("ssh-ed25519") => {
            Finding::pass(CheckId::KeyAlgorithm, s, "Ed25519")
        }
        Some("ssh-rsa") => match bits {
            Some(b) if b < policy.min_rsa_bits() => Finding::fail(
                CheckId::KeyAlgorithm,
                s,
                format!(
                    "RSA {b} bits: the site requires at least {}",
                    policy.min_rsa_bits()
                ),
            )
            .remedy(new_key.clone()),
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
            .remedy(new_key.clone()),
        },
        Some("ssh-dss") => Finding::fail(
            CheckId::KeyAlgorithm,
            s,
            "DSA: OpenSSH no longer accepts DSA keys",
        )
        .remedy(new_key.clone()),
        Some(other) => {
            let family = if other.starts_with("ecdsa") {
                "ecdsa"
            } else if other.starts_with("sk-ssh-ed25519") {
                "sk-ssh-ed25519"
            } else if other.starts_with("sk-ecdsa") {
                "sk-ecdsa"
            } else {
                other
            };
            if allowed(family) {
                Finding::pass(CheckId::KeyAlgorithm, s, other.to_string())
            } else {
                Finding::warn(
                    CheckId::KeyAlgorithm,
                    s,
                    format!(
                        "{other} is not a key type the site lists ({})",
                        policy.key_types().join(", ")
                    ),
                )
                .remedy(new_key.clone())
            }
        }
    };
    out.push(for_key(
        key,
        algo_finding
            .with("algorithm", &algorithm)
            .with("bits", bits),
    ));

    // key.passphrase
    let pp = match facts.encrypted {
        Some(true) => Finding::pass(
            CheckId::KeyPassphrase,
            s,
            format!(
                "encrypted{}",
                facts
                    .cipher
                    .as_ref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            ),
        ),
        Some(false) if policy.require_passphrase => Finding::fail(
            CheckId::KeyPassphrase,
            s,
            format!("{s} has no passphrase: anyone who copies the file can log in as you"),
        )
        .remedy(Remedy::command(
            "Add a passphrase (the public key stays the same):",
            format!("ssh-keygen -p -a {} -f {sp}", policy.min_kdf_rounds),
        )),
        Some(false) => Finding::warn(CheckId::KeyPassphrase, s, format!("{s} has no passphrase")),
        None => Finding::skip(
            CheckId::KeyPassphrase,
            s,
            "cannot tell whether the file is encrypted",
        ),
    };
    out.push(for_key(key, pp.with("encrypted", facts.encrypted)));

    // key.kdf-rounds
    if facts.encrypted == Some(true) {
        let f = match (facts.format, facts.kdf_rounds) {
            (KeyFormat::OpenSsh, Some(r)) if r < policy.min_kdf_rounds => Finding::warn(
                CheckId::KeyKdfRounds,
                s,
                format!(
                    "{r} bcrypt rounds; the site asks for at least {}",
                    policy.min_kdf_rounds
                ),
            )
            .remedy(Remedy::command(
                "Re-encrypt with more rounds (asks for the passphrase):",
                format!("ssh-keygen -p -a {} -f {sp}", policy.min_kdf_rounds),
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
                format!("ssh-keygen -p -a {} -f {sp}", policy.min_kdf_rounds),
            )),
            (_, _) => Finding::info(
                CheckId::KeyKdfRounds,
                s,
                format!(
                    "key derivation: {}",
                    facts.kdf.clone().unwrap_or_else(|| "unknown".into())
                ),
            ),
        };
        out.push(for_key(
            key,
            f.with("kdf", &facts.kdf).with("rounds", facts.kdf_rounds),
        ));
    }

    // key.public-match
    let pm = match (&key.pub_facts, &facts.fingerprint) {
        (None, _) if facts.format.is_putty() => Finding::warn(CheckId::KeyPublicMatch, s, format!("{s}.pub is missing: the public key to deploy is not at hand"))
            .remedy(Remedy::command("Write it with PuTTYgen (OpenSSH cannot read a .ppk):", format!("puttygen {sp} -O public-openssh -o {sp}.pub"))),
        (None, _) => Finding::warn(CheckId::KeyPublicMatch, s, format!("{s}.pub is missing: the public key to deploy is not at hand"))
            .remedy(Remedy::command("Recreate it from the private key (asks for the passphrase):", ctx.os.shell().public_from_private(&sp, &pub_sp))),
        (Some(p), Some(fp)) if p.fingerprint.as_ref() != Some(fp) => Finding::fail(CheckId::KeyPublicMatch, s, format!("{s}.pub belongs to another key ({} vs {fp})", p.fingerprint.clone().unwrap_or_default()))
            .detail("The .pub is what gets deployed: if support deployed this one, your private key will never be accepted.")
            .remedy(Remedy::command("Recreate the .pub from the private key (asks for the passphrase), then deploy it:", ctx.os.shell().public_from_private(&sp, &pub_sp))),
        (Some(_), Some(fp)) => Finding::pass(CheckId::KeyPublicMatch, s, format!(".pub matches ({fp})")),
        (Some(p), None) => Finding::info(CheckId::KeyPublicMatch, s, format!("the private key's public half cannot be read without the passphrase; the .pub says {}", p.fingerprint.clone().unwrap_or_default())),
    };
    out.push(for_key(key, pm.with("fingerprint", key.fingerprint())));

    // perm.private-key
    if ctx.os.has_unix_modes() {
        if let Ok(st) = crate::probes::perms::stat(&key.path) {
            let f = if st.uid != ctx.uid {
                Finding::fail(
                    CheckId::PermPrivateKey,
                    s,
                    format!(
                        "{s} belongs to another user (uid {}): OpenSSH refuses it",
                        st.uid
                    ),
                )
                .remedy(crate::probes::perms::mode_remedy(
                    ctx,
                    &key.path,
                    "Take ownership back (as administrator):",
                    format!("sudo chown \"$USER\" {sp} && chmod 600 {sp}"),
                ))
            } else if st.mode & 0o077 != 0 {
                Finding::fail(CheckId::PermPrivateKey, s, format!("{s} has mode {:04o}: OpenSSH refuses keys others can read (`UNPROTECTED PRIVATE KEY FILE`)", st.mode))
                    .remedy(crate::probes::perms::mode_remedy(ctx, &key.path, "Make it readable only by you:", format!("chmod 600 {sp}")))
            } else {
                Finding::pass(
                    CheckId::PermPrivateKey,
                    s,
                    format!("mode {:04o}, yours", st.mode),
                )
            };
            out.push(for_key(key, f.with("mode", format!("{:04o}", st.mode))));
        }
    } else {
        // Windows: OpenSSH for Windows' ACL rule for private keys.
        let f = match crate::platform::file_acl(&key.path) {
            Ok(acl) => crate::probes::perms::acl_finding(
                ctx,
                CheckId::PermPrivateKey,
                &key.path,
                crate::platform::windows::FileRole::PrivateKey,
                &acl,
                &crate::platform::current_user_sid().unwrap_or_default(),
                Severity::Fail,
            ),
            Err(e) => Finding::warn(
                CheckId::PermPrivateKey,
                s,
                format!("{s} cannot be checked: {e}"),
            ),
        };
        out.push(for_key(key, f));
    }
}

/// `key.present` and `key.agent`: needs the keys on disk and the agent.
pub async fn agent(
    ctx: &Context,
    keys: &[KeyInfo],
    plans: &[NodePlan],
) -> (Vec<Finding>, Option<AgentState>) {
    let mut out = Vec::new();
    let state = match crate::platform::agent_address(ctx.os, &ctx.env) {
        None => {
            // Only a key with a passphrase makes ssh ask at every login.
            let encrypted = keys
                .iter()
                .any(|k| !k.used_by.is_empty() && k.facts.encrypted == Some(true));
            let words = if encrypted {
                "no ssh-agent (SSH_AUTH_SOCK is not set): ssh asks for the passphrase at every login"
            } else {
                "no ssh-agent (SSH_AUTH_SOCK is not set)"
            };
            let f = Finding::info(CheckId::KeyAgent, "ssh-agent", words);
            // macOS: launchd gives every login session an agent; without it this is
            // a shell that lost the variable (tmux, sudo, a remote session).
            out.push(if ctx.os == crate::platform::Os::MacOs {
                f.detail(format!("macOS starts an agent for every login through launchd (SSH_AUTH_SOCK under /private/tmp/com.apple.launchd.*); this shell does not see it. {}", crate::platform::macos::KEYCHAIN_ADVICE))
            } else {
                f
            });
            None
        }
        Some(address) => match tokio::time::timeout(
            Duration::from_secs(2).min(ctx.timeout),
            list_agent(&address),
        )
        .await
        {
            Ok(Ok(keys)) => Some(AgentState { address, keys }),
            Ok(Err(e)) => {
                let mut f = agent_unusable(ctx, &address, &e);
                // Windows: PuTTY users often run Pageant instead of the service.
                if ctx.os == crate::platform::Os::Windows {
                    if let Ok(Some(n)) =
                        tokio::time::timeout(Duration::from_secs(1), pageant_keys()).await
                    {
                        f.summary = format!("{}; Pageant is running with {n} key(s)", f.summary);
                        f = f.with("pageant_keys", n);
                    }
                }
                out.push(f);
                None
            }
            Err(_) => {
                out.push(Finding::warn(
                    CheckId::KeyAgent,
                    "ssh-agent",
                    format!("the agent at {} does not answer", address.shown()),
                ));
                None
            }
        },
    };
    if let Some(agent) = &state {
        let node_fps: Vec<(String, String)> = keys
            .iter()
            .filter(|k| !k.used_by.is_empty())
            .filter_map(|k| Some((k.shown.clone(), k.fingerprint()?)))
            .collect();
        let loaded: Vec<&String> = node_fps
            .iter()
            .filter(|(_, fp)| agent.keys.iter().any(|a| &a.fingerprint == fp))
            .map(|(s, _)| s)
            .collect();
        let n = agent.keys.len();
        let without_only: Vec<&str> = plans
            .iter()
            .filter(|p| !p.identities_only)
            .map(|p| p.alias.as_str())
            .collect();
        let loaded_words = if loaded.is_empty() {
            String::new()
        } else {
            format!(
                "; loaded: {}",
                loaded
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let f = if n > 5 && !without_only.is_empty() {
            Finding::warn(CheckId::KeyAgent, "ssh-agent", format!("the agent holds {n} keys and `IdentitiesOnly` is not set for {}: the server stops after 6 refused keys", without_only.join(", ")))
                .remedy(Remedy::text("Add `IdentitiesOnly yes` to the login nodes' Host blocks (or `ssh-add -D` and load only the key you need)."))
        } else {
            Finding::info(
                CheckId::KeyAgent,
                "ssh-agent",
                format!("the agent holds {n} key(s){loaded_words}"),
            )
        };
        // macOS: keys come back after a restart only through the Keychain.
        let f = if ctx.os == crate::platform::Os::MacOs && loaded.is_empty() && !node_fps.is_empty()
        {
            f.detail(crate::platform::macos::KEYCHAIN_ADVICE)
        } else {
            f
        };
        out.push(
            f.with(
                "keys",
                agent
                    .keys
                    .iter()
                    .map(|k| &k.fingerprint)
                    .collect::<Vec<_>>(),
            )
            .with("loaded", &loaded),
        );
    }

    let used: Vec<&KeyInfo> = keys
        .iter()
        .filter(|k| !k.used_by.is_empty() && k.facts.format.is_private())
        .collect();
    let agent_keys = state.as_ref().map(|a| a.keys.len()).unwrap_or(0);
    let damaged: Vec<&KeyInfo> = keys
        .iter()
        .filter(|k| {
            !k.used_by.is_empty()
                && !k.facts.format.is_private()
                && k.facts.format != KeyFormat::PublicKey
        })
        .collect();
    let present = if used.is_empty() && agent_keys == 0 && !damaged.is_empty() {
        Finding::fail(
            CheckId::KeyPresent,
            "~/.ssh",
            format!(
                "the key file ssh would use is damaged: {} (see key.format)",
                damaged
                    .iter()
                    .map(|k| k.shown.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
        .with("damaged", true)
        .fact(Fact::KeyDamaged)
    } else if used.is_empty() && agent_keys == 0 {
        let others = keys.iter().filter(|k| k.facts.format.is_private()).count();
        let why = if others > 0 {
            format!("; {others} other key file(s) in ~/.ssh are not used for the login nodes (check IdentityFile)")
        } else {
            String::new()
        };
        Finding::fail(
            CheckId::KeyPresent,
            "~/.ssh",
            format!("no private key that ssh would offer to the login nodes{why}"),
        )
        .remedy(Remedy::command(
            "Create a key (choose a passphrase), then have its public key deployed:",
            format!(
                "ssh-keygen -t ed25519 -a 100 -f {}",
                ctx.shell_shown("~/.ssh/id_ed25519")
            ),
        ))
    } else if used.is_empty() {
        Finding::pass(
            CheckId::KeyPresent,
            "~/.ssh",
            format!("no key file, but the agent holds {agent_keys} key(s)"),
        )
    } else {
        Finding::pass(
            CheckId::KeyPresent,
            "~/.ssh",
            format!(
                "{} key(s) for the login nodes: {}",
                used.len(),
                used.iter()
                    .map(|k| k.shown.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    };
    out.insert(
        0,
        present.with("keys", used.iter().map(|k| &k.shown).collect::<Vec<_>>()),
    );
    (out, state)
}

/// `key.agent` when the agent cannot be used, with the platform's way to start one.
/// How many keys Pageant holds, when it runs (Windows only).
async fn pageant_keys() -> Option<usize> {
    let mut client = crate::platform::connect_pageant().await?;
    client.request_identities().await.ok().map(|ids| ids.len())
}

fn agent_unusable(ctx: &Context, address: &crate::platform::AgentAddress, e: &str) -> Finding {
    use crate::platform::{windows, AgentAddress, Os};
    match (ctx.os, address) {
        (Os::Windows, AgentAddress::Pipe(p)) if p == windows::AGENT_PIPE => Finding::info(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("the OpenSSH agent service is not running ({e}): ssh asks for the passphrase at every login"),
        )
        .detail("Windows ships the agent as the `ssh-agent` service, disabled by default. Pageant (PuTTY's agent) serves PuTTY; Windows OpenSSH reaches it only with the IdentityAgent line `pageant --openssh-config` writes.")
        .remedy(Remedy::command(
            "Enable and start the agent service (administrator PowerShell), then load your key:",
            format!("{}; ssh-add {}", windows::AGENT_ENABLE, ctx.shell_path(&ctx.ssh_dir().join("id_ed25519"))),
        )),
        (Os::MacOs, _) => Finding::warn(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("SSH_AUTH_SOCK is set but the agent cannot be used: {e}"),
        )
        .detail(crate::platform::macos::KEYCHAIN_ADVICE)
        .remedy(Remedy::command(
            "macOS starts an agent for every login through launchd: open a new terminal (or log out and in), then load your key:",
            crate::platform::macos::ADD_KEY_COMMAND,
        )),
        _ => Finding::warn(
            CheckId::KeyAgent,
            "ssh-agent",
            format!("SSH_AUTH_SOCK is set but the agent cannot be used: {e}"),
        )
        .remedy(Remedy::command(
            "Start an agent in this shell and load your key:",
            "eval \"$(ssh-agent -s)\" && ssh-add ~/.ssh/id_ed25519",
        )),
    }
}

async fn list_agent(address: &crate::platform::AgentAddress) -> Result<Vec<AgentKey>, String> {
    let mut client = crate::platform::connect_agent(address).await?;
    let ids = client
        .request_identities()
        .await
        .map_err(|e| e.to_string())?;
    Ok(ids
        .into_iter()
        .filter_map(|id| match id {
            russh::keys::agent::AgentIdentity::PublicKey { key, comment } => {
                let mut bare = key.clone();
                bare.set_comment("");
                Some(AgentKey {
                    algorithm: key.algorithm().as_str().to_string(),
                    fingerprint: key.fingerprint(russh::keys::HashAlg::Sha256).to_string(),
                    public_key: bare.to_openssh().ok()?.trim().to_string(),
                    comment,
                })
            }
            _ => None,
        })
        .collect())
}
