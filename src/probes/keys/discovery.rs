//! Which key files ssh would offer to which node: the IdentityFiles of each node's config,
//! else OpenSSH's default names, and the other private keys in ~/.ssh (offered to none).

use std::path::{Path, PathBuf};

use super::KeyInfo;
use crate::context::Context;
use crate::keyfile::{self, KeyFormat};
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

/// Every key file a node would be offered, then the unused private keys of ~/.ssh.
pub(super) fn find(ctx: &Context, plans: &[NodePlan]) -> Vec<KeyInfo> {
    let mut found = Found {
        ctx,
        keys: Vec::new(),
        seen: std::collections::HashMap::new(),
    };
    for plan in plans {
        for f in &plan.identity_files {
            if f.extension().is_some_and(|e| e == "pub") {
                continue; // config.identity-file reports it
            }
            found.add(f.clone(), true, true, Some(&plan.alias));
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
            found.add(p.clone(), false, keep, None);
        }
        for plan in users {
            found.add(p.clone(), false, keep, Some(&plan.alias));
        }
    }
    // Where the config was not read, any key in ~/.ssh may be one ssh offers.
    let unknown: Vec<&NodePlan> = plans
        .iter()
        .filter(|p| p.settings_unknown.is_some())
        .collect();
    for p in scan_ssh_dir(ctx) {
        found.add(p.clone(), false, false, None);
        for plan in &unknown {
            found.add(p.clone(), false, false, Some(&plan.alias));
        }
    }
    found.keys
}

/// Key files ssh looks for (IdentityFile, the default names) that are missing while the
/// `.pub` of that name holds a private key: `(key, its .pub)`, at most a few.
pub(super) fn private_keys_under_pub_names(
    ctx: &Context,
    plans: &[NodePlan],
) -> Vec<(PathBuf, PathBuf)> {
    let named = plans
        .iter()
        .flat_map(|p| p.identity_files.iter().cloned())
        .filter(|f| f.extension().is_none_or(|e| e != "pub"));
    // The default names only where ssh tries them: for a node without an IdentityFile.
    let defaults_tried = plans.iter().any(|p| p.identity_files.is_empty());
    let defaults = DEFAULT_NAMES
        .iter()
        .filter(|_| defaults_tried)
        .map(|n| ctx.ssh_dir().join(n));
    let mut out: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for key in named.chain(defaults) {
        if out.len() >= 8 || std::fs::symlink_metadata(&key).is_ok() {
            continue;
        }
        let mut pub_path = key.as_os_str().to_owned();
        pub_path.push(".pub");
        let pub_path = PathBuf::from(pub_path);
        // Once per file, however the paths to it are spelled (a linked home).
        let canon = std::fs::canonicalize(&pub_path).unwrap_or_else(|_| pub_path.clone());
        if !seen.insert(canon) {
            continue;
        }
        let private = read_small(&pub_path, MAX_KEY_BYTES)
            .is_some_and(|b| keyfile::sniff(&b).format.is_private());
        if private {
            out.push((key, pub_path));
        }
    }
    out
}

/// The key files found so far, each once however many paths lead to it.
struct Found<'a> {
    ctx: &'a Context,
    keys: Vec<KeyInfo>,
    /// Each path already looked at, resolved, with the index of its key in `keys` (`None`:
    /// no key there): every path is resolved once, not once per key found before it.
    seen: std::collections::HashMap<PathBuf, Option<usize>>,
}

impl Found<'_> {
    /// Records that `alias` (if any) would be offered the key at `path`. `keep`: judge the
    /// file even when it is not a private key: ssh looks for a key there (an IdentityFile,
    /// or a default name), so a damaged file is a damaged key, not none.
    fn add(&mut self, path: PathBuf, explicit: bool, keep: bool, alias: Option<&str>) {
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        let known = self.seen.get(&canon).copied();
        if let Some(k) = known.flatten().and_then(|i| self.keys.get_mut(i)) {
            k.explicit |= explicit;
            if let Some(a) = alias {
                if !k.used_by.iter().any(|u| u == a) {
                    k.used_by.push(a.to_string());
                }
            }
            return;
        }
        // A path that held no key is read again only when this use keeps what it finds.
        if known.is_some() && !keep {
            return;
        }
        // Keys in the order ssh offers them: past this many, the server's budget ended
        // long before (and every later step would be long for nothing).
        if known.is_none() && self.keys.len() >= MAX_KEYS {
            return;
        }
        let key = read_key(self.ctx, path, explicit, keep, alias);
        let index = key.map(|key| {
            self.keys.push(key);
            self.keys.len() - 1
        });
        self.seen.insert(canon, index);
    }
}

/// The key file at `path` with its `.pub`, mode and owner; `None` for a file too large
/// to be a key, or one that holds no private key unless `keep`.
fn read_key(
    ctx: &Context,
    path: PathBuf,
    explicit: bool,
    keep: bool,
    alias: Option<&str>,
) -> Option<KeyInfo> {
    let bytes = read_small(&path, MAX_KEY_BYTES)?;
    let facts = keyfile::sniff(&bytes);
    drop(bytes);
    if !facts.format.is_private() && !keep {
        return None;
    }
    // The key's own bytes, `.pub` added: a name that is not UTF-8 keeps its `.pub`.
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = PathBuf::from(pub_path);
    let pub_sniffed = read_small(&pub_path, MAX_KEY_BYTES).map(|b| keyfile::sniff(&b));
    // A private key saved under the .pub name: the file people copy and send.
    let private_in_pub = pub_sniffed
        .as_ref()
        .filter(|f| f.format.is_private())
        .map(|_| mode_owner(ctx, &pub_path).0);
    let pub_facts = pub_sniffed.filter(|f| f.format == KeyFormat::PublicKey);
    let comment = pub_facts
        .as_ref()
        .and_then(|p| p.comment.clone())
        .or_else(|| facts.comment.clone());
    let (mode, owner) = mode_owner(ctx, &path);
    let pub_present = std::fs::symlink_metadata(&pub_path).is_ok();
    Some(KeyInfo {
        shown: ctx.show(&path),
        path,
        facts,
        pub_facts,
        private_in_pub,
        pub_present,
        comment,
        used_by: alias.map(|a| vec![a.to_string()]).unwrap_or_default(),
        explicit,
        mode,
        owner_is_user: owner,
    })
}

fn mode_owner(ctx: &Context, path: &Path) -> (Option<String>, Option<bool>) {
    match crate::probes::perms::stat(path) {
        Ok(f) => (Some(format!("{:04o}", f.mode)), Some(f.uid == ctx.uid)),
        Err(_) => (None, None),
    }
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

/// `.pub` files in ~/.ssh that hold a private key, other than those in `known` (reported
/// beside their key already): a private key under a name people copy and send, which
/// ssh does not use. At most a few.
pub(super) fn stray_private_pubs(ctx: &Context, known: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(ctx.ssh_dir()) else {
        return out;
    };
    let known: std::collections::HashSet<PathBuf> = known
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    for e in entries.filter_map(Result::ok).take(20_000) {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "pub") {
            continue;
        }
        // The head first: most .pub files are public, and only a private one needs its
        // path resolved to be told from those reported already.
        if !head(&p).is_some_and(|h| keyfile::looks_private(&h)) {
            continue;
        }
        if !known.contains(&std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone())) {
            out.push(p);
        }
    }
    out.sort();
    out.truncate(8);
    out
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
    // A few keys are normal; thousands would make every later step (checks, offers,
    // bundle) long for keys ssh never offers. The named and default keys are read anyway.
    out.sort();
    out.truncate(MAX_SCANNED_KEYS);
    out
}

/// The most private keys read from `~/.ssh` besides those ssh uses by name.
const MAX_SCANNED_KEYS: usize = 64;

/// The most key files read in all (named by IdentityFile, default names, the rest).
const MAX_KEYS: usize = 128;

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
    let advice = &ctx.profile.advice;
    let site_named = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n == advice.new_key_file.as_str() || n == advice.key_file.as_str())
    };
    candidates.sort_by_key(|p| (score(p), !site_named(p)));
    match candidates.first() {
        Some(p) if score(p) < 3 => ctx.show(p),
        // The key the report tells the user to create (never over another file's name).
        _ => super::new_key_name(ctx)
            .map(|n| format!("~/.ssh/{n}"))
            .unwrap_or_else(|| advice.key_path()),
    }
}

/// A key of `fixtures/keys` (with its `.pub`, if any) as discovery reads it, offered to
/// `alias`.
#[cfg(test)]
pub(crate) fn fixture_key(name: &str, alias: Option<&str>) -> KeyInfo {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
    let ctx = Context::for_home(&dir, crate::profile::Profile::embedded());
    read_key(&ctx, dir.join(name), false, true, alias).expect("a fixture key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_of_keys_are_read_up_to_the_cap_in_ssh_s_order() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys/ed25519_plain");
        for i in 0..300 {
            std::fs::copy(&key, ssh.join(format!("k{i:03}"))).unwrap();
        }
        let ctx = Context::for_home(home.path(), crate::profile::Profile::embedded());
        // Unnamed keys alone: the first MAX_SCANNED_KEYS.
        let plans = crate::probes::plan_nodes(&ctx, &RunState::default());
        assert_eq!(find(&ctx, &plans).len(), MAX_SCANNED_KEYS);
        // All of them named: the first MAX_KEYS in the order ssh offers them.
        let mut plans = plans;
        plans[0].identity_files = (0..300).map(|i| ssh.join(format!("k{i:03}"))).collect();
        let found = find(&ctx, &plans);
        assert_eq!(found.len(), MAX_KEYS);
        assert_eq!(found[0].shown, "~/.ssh/k000");
        assert_eq!(
            found[MAX_KEYS - 1].shown,
            format!("~/.ssh/k{:03}", MAX_KEYS - 1)
        );
    }

    #[test]
    fn each_node_gets_its_identity_file_or_the_default_names() {
        let home = tempfile::tempdir().unwrap();
        let ssh = home.path().join(".ssh");
        std::fs::create_dir(&ssh).unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
        for (fixture, name) in [
            ("ed25519_100", "id_ed25519"),
            ("ed25519_plain", "work"),
            ("rsa4096_enc", "spare"),
        ] {
            std::fs::copy(fixtures.join(fixture), ssh.join(name)).unwrap();
        }
        let ctx = Context::for_home(home.path(), crate::profile::Profile::embedded());
        let mut plans = crate::probes::plan_nodes(&ctx, &RunState::default());
        plans[0].identity_files = vec![ssh.join("work")];
        let found: Vec<(String, Vec<String>, bool)> = find(&ctx, &plans)
            .into_iter()
            .map(|k| (k.shown, k.used_by, k.explicit))
            .collect();
        let others: Vec<String> = plans[1..].iter().map(|p| p.alias.clone()).collect();
        assert_eq!(
            found,
            [
                ("~/.ssh/work".into(), vec![plans[0].alias.clone()], true),
                ("~/.ssh/id_ed25519".into(), others, false),
                ("~/.ssh/spare".into(), vec![], false),
            ]
        );
    }

    #[test]
    fn a_file_that_is_no_key_counts_only_where_ssh_looks_for_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/keys");
        let ctx = Context::for_home(&dir, crate::profile::Profile::embedded());
        let path = dir.join("random_bytes");
        assert!(read_key(&ctx, path.clone(), false, false, None).is_none());
        let kept = read_key(&ctx, path, false, true, Some("slurm")).unwrap();
        assert_eq!(kept.facts.format, KeyFormat::NotAKey);
    }
}
