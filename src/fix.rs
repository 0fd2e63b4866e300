//! `mlc-doctor fix`: applies the local fixes the report proposes, and nothing else.
//!
//! The plan is made from facts (modes, owners, the evaluated config), not from the
//! report's words: private-key and config modes, `~/.ssh`, missing Host blocks for the
//! login nodes, a placeholder User (when the real name is known), `IgnoreUnknown
//! UseKeychain` off macOS, and `IdentitiesOnly yes` where an IdentityFile is set. It
//! shows a unified diff and every mode change, asks once (`--yes` for scripts; without a
//! terminal it only prints), backs up every file it edits, writes atomically, never
//! writes through a link, and never touches key contents, `known_hosts` or the server.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::fact::BlockPlace;
use crate::probes::config::ConfigState;
use crate::runner::RunState;
use crate::sshconfig::{ConfigFile, IssueKind};

/// The largest config `fix` edits.
const MAX_EDIT: u64 = 1 << 20;

/// A mode change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    pub path: PathBuf,
    pub shown: String,
    pub from: u32,
    pub to: u32,
}

/// A new content for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEdit {
    pub path: PathBuf,
    pub shown: String,
    /// `None` when the file does not exist yet.
    pub before: Option<String>,
    pub after: String,
    pub why: Vec<String>,
}

/// Everything `fix` would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixPlan {
    pub modes: Vec<ModeChange>,
    pub edits: Vec<FileEdit>,
    /// What it would not do, and why (a link, an unknown username, …).
    pub notes: Vec<String>,
}

impl FixPlan {
    pub fn is_empty(&self) -> bool {
        self.modes.is_empty() && self.edits.is_empty()
    }

    /// The plan as a person reads it: each mode change, then a unified diff per file.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for m in &self.modes {
            let _ = writeln!(out, "chmod {:o} {}    (now {:04o})", m.to, m.shown, m.from);
        }
        for e in &self.edits {
            let before = e.before.clone().unwrap_or_default();
            let diff = similar::TextDiff::from_lines(&before, &e.after);
            let old = if e.before.is_some() {
                e.shown.clone()
            } else {
                "/dev/null".to_string()
            };
            let _ = writeln!(out, "# {}: {}", e.shown, e.why.join("; "));
            let _ = write!(
                out,
                "{}",
                diff.unified_diff().context_radius(2).header(&old, &e.shown)
            );
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        crate::escape::multiline(&out)
    }
}

/// A User value copied from a guide or a form, or an e-mail address (never a cluster
/// username): what `config.user` fails on.
fn is_placeholder(ctx: &Context, user: &str) -> bool {
    crate::probes::config::is_placeholder(ctx, user) || user.contains('@')
}

/// The cluster username when it is known: `--user`, or a User in the config that has the
/// site's username shape.
fn known_user(ctx: &Context, state: &RunState) -> Option<String> {
    if let Some(u) = &ctx.user_override {
        return Some(u.clone());
    }
    crate::probes::config::username_in_config(ctx, state.config.as_ref()?)
}

/// The permission bits and owner of `path`, where files have them.
fn mode_owner(path: &Path) -> Option<(u32, u32)> {
    let a = crate::platform::access(&std::fs::metadata(path).ok()?)?;
    Some((a.mode, a.uid))
}

/// Where files have access lists instead of modes (Windows): a note for a file OpenSSH
/// would refuse, since `fix` never changes access rights (a wrong entry can lock the user
/// out of their own key, and taking a file from another account needs an administrator).
fn acl_note(ctx: &Context, path: &Path, private_key: bool) -> Option<String> {
    use crate::platform::windows::{evaluate, FileRole};
    let acl = crate::platform::file_acl(path).ok()?;
    let user = crate::platform::current_user_sid()?;
    let role = if private_key {
        FileRole::PrivateKey
    } else {
        FileRole::Shared
    };
    let verdict = evaluate(&acl, &user, role);
    (!verdict.ok()).then(|| {
        format!(
            "{}: fix does not change Windows access rights; run the icacls line the report gives for it",
            ctx.show(path)
        )
    })
}

/// True when file 0 of the config is the user's `~/.ssh/config` (without one, it is the
/// system config, whose blocks `fix` never edits into a new file).
fn user_file_first(cs: &ConfigState) -> bool {
    cs.exists && cs.config.files.first().is_some_and(|f| !f.system)
}

/// Plans the mode changes: only files of this user, never through a link.
fn plan_modes(ctx: &Context, state: &RunState, plan: &mut FixPlan) {
    let mut want: Vec<(PathBuf, u32, u32)> = Vec::new(); // path, bits that must be clear, target
    want.push((ctx.home.clone(), 0o022, 0));
    want.push((ctx.ssh_dir(), 0o077, 0o700));
    if let Some(cs) = &state.config {
        for f in cs.config.files.iter().filter(|f| !f.system) {
            want.push((f.path.clone(), 0o022, 0o600));
        }
    }
    let keys: Vec<&Path> = state
        .keys
        .iter()
        .filter(|k| k.facts.format.is_private())
        .map(|k| k.path.as_path())
        .collect();
    for k in &keys {
        want.push((k.to_path_buf(), 0o077, 0o600));
    }
    want.push((ctx.ssh_dir().join("known_hosts"), 0o002, 0o644));
    want.push((ctx.ssh_dir().join("authorized_keys"), 0o022, 0o600));
    for (path, bad, target) in want {
        let Some((mode, uid)) = mode_owner(&path) else {
            if let Some(note) = acl_note(ctx, &path, keys.contains(&path.as_path())) {
                plan.notes.push(note);
            }
            continue;
        };
        if mode & bad == 0 {
            continue;
        }
        let shown = ctx.show(&path);
        if crate::probes::perms::link_on_the_way(ctx, &path).is_some() {
            plan.notes.push(format!(
                "{shown} is reached through a link: its mode is left alone"
            ));
            continue;
        }
        if uid != ctx.uid {
            plan.notes.push(format!(
                "{shown} belongs to another user: only its owner or an administrator can fix it"
            ));
            continue;
        }
        let to = if target == 0 { mode & !bad } else { target };
        if plan.modes.iter().all(|m| m.path != path) {
            plan.modes.push(ModeChange {
                path,
                shown,
                from: mode,
                to,
            });
        }
    }
}

/// Plans the edits of `~/.ssh/config` (the main file; lines in Included files are named
/// in a note instead).
fn plan_config(ctx: &Context, state: &RunState, plan: &mut FixPlan) {
    let path = ctx.ssh_dir().join("config");
    let shown = ctx.show(&path);
    if let Some(note) = refused_target(ctx, &path, &shown) {
        plan.notes.push(note);
        return;
    }
    let Some(cs) = &state.config else { return };
    let main = cs.config.files.first().filter(|f| !f.system && cs.exists);
    let before = match text_to_edit(cs, main, &path, &shown) {
        Ok(before) => before,
        Err(note) => {
            plan.notes.extend(note);
            return;
        }
    };
    let mut edit = ConfigEdit::new(before.as_deref().unwrap_or_default());
    let user = known_user(ctx, state);
    edit.replace_placeholder_users(ctx, cs, user.as_deref(), &mut plan.notes);
    edit.repoint_missing_identity_files(ctx, state, cs, &mut plan.notes);
    edit.add_identities_only(ctx, state, cs, &mut plan.notes);
    edit.add_missing_users(ctx, cs, user.as_deref(), &mut plan.notes);
    edit.ignore_use_keychain(main);
    edit.add_missing_hosts(ctx, state, cs, user.as_deref(), &mut plan.notes);
    edit.apply_inserts();
    plan.edits.extend(edit.finish(path, shown, before));
}

/// True when an agent may be what logs the user in to `alias`, so that `IdentitiesOnly
/// yes` could break the login: the agent ssh uses holds keys that none of the alias's
/// IdentityFiles names, and ssh reaches every key it offers within the server's budget
/// (beyond it, IdentitiesOnly is the fix); or ssh uses an agent the doctor cannot see.
fn agent_may_be_the_way_in(
    ctx: &Context,
    state: &RunState,
    eff: &crate::sshconfig::Effective,
    alias: &str,
) -> bool {
    if eff
        .get("identityagent")
        .is_some_and(|v| v.eq_ignore_ascii_case("none"))
    {
        return false;
    }
    let Some(plan) = state.plans.iter().find(|p| p.alias == alias) else {
        return false;
    };
    if plan.other_agent {
        return true;
    }
    let Some(agent) = &state.agent else {
        return false;
    };
    let in_agent = |fp: &String| agent.keys.iter().any(|a| &a.fingerprint == fp);
    let named: Vec<String> = state
        .keys
        .iter()
        .filter(|k| plan.identity_files.contains(&k.path))
        .filter_map(|k| k.fingerprint())
        .collect();
    let others = agent
        .keys
        .iter()
        .filter(|a| !named.contains(&a.fingerprint))
        .count();
    let files_besides = state
        .keys
        .iter()
        .filter(|k| k.used_by.iter().any(|a| a == alias))
        .filter_map(|k| k.fingerprint())
        .filter(|fp| !in_agent(fp))
        .count();
    others > 0 && agent.keys.len() + files_besides < ctx.profile.policy.max_auth_tries() as usize
}

/// A note for a line `fix` does not edit because it is in an Included file.
fn included_line(ctx: &Context, cs: &ConfigState, file: usize, line: usize, what: &str) -> String {
    let shown = cs
        .config
        .files
        .get(file)
        .map(|f| ctx.show(&f.path))
        .unwrap_or_else(|| "an Included file".into());
    format!("{what} at {shown}:{line}: `fix` edits only ~/.ssh/config, so change that line by hand")
}

/// Why `fix` may not edit the config at `path` at all (a link on the way, another
/// user's file), as a note.
fn refused_target(ctx: &Context, path: &Path, shown: &str) -> Option<String> {
    if let Some((link, _)) = crate::probes::perms::link_on_the_way(ctx, path) {
        return Some(format!(
            "{} is a link: the doctor does not edit files through links",
            ctx.show(&link)
        ));
    }
    match mode_owner(path) {
        Some((_, uid)) if uid != ctx.uid => Some(format!(
            "{shown} belongs to another user: only its owner can have it edited"
        )),
        _ => None,
    }
}

/// The main config's text as it is on disk (`None` when there is none yet), or why it is
/// left alone: a note, or none when the first file read is not the user's.
fn text_to_edit(
    cs: &ConfigState,
    main: Option<&ConfigFile>,
    path: &Path,
    shown: &str,
) -> Result<Option<String>, Option<String>> {
    if cs.exists && main.is_none() {
        return Err(None);
    }
    let Some(main) = main else {
        return Ok(None);
    };
    let not_text = !main.parsed.usable
        || main.parsed.issues.iter().any(|i| {
            matches!(
                i.kind,
                IssueKind::Binary | IssueKind::Utf16 | IssueKind::TooLarge { .. }
            )
        });
    if not_text {
        return Err(Some(format!(
            "{shown} is not a text config: move it aside first (see the report)"
        )));
    }
    // The whole file, read again (what the checks kept may be capped), and only UTF-8:
    // an edit must never lose or change a byte it did not mean to.
    let bytes = match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() <= MAX_EDIT => std::fs::read(path).ok(),
        _ => None,
    };
    match bytes.map(String::from_utf8) {
        Some(Ok(text)) => Ok(Some(text)),
        _ => Err(Some(format!(
            "{shown} is not a UTF-8 text file of at most 1 MiB: it is left for you to edit"
        ))),
    }
}

/// The config's lines while `fix` edits them, and why each change is made.
struct ConfigEdit {
    /// The line ending the file already uses.
    nl: &'static str,
    lines: Vec<String>,
    /// (line index to insert before, lines): applied from the bottom up.
    inserts: Vec<(usize, Vec<String>)>,
    why: Vec<String>,
    /// The lines whose IdentityFile now names the user's key.
    repointed: Vec<usize>,
}

impl ConfigEdit {
    /// The lines of `text` (empty for a new file), keeping its line ending. A UTF-8
    /// byte-order mark goes: OpenSSH reads it as part of the first keyword and stops.
    fn new(text: &str) -> Self {
        let (text, bom) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        ConfigEdit {
            nl: if text.contains("\r\n") { "\r\n" } else { "\n" },
            lines: text.lines().map(str::to_string).collect(),
            inserts: Vec::new(),
            why: bom
                .then(|| {
                    "the byte-order mark at the start of the file removed (OpenSSH stops on it)"
                        .to_string()
                })
                .into_iter()
                .collect(),
            repointed: Vec::new(),
        }
    }

    /// A placeholder User in the main file becomes the real name where it is known;
    /// otherwise a note asks for `--user`.
    fn replace_placeholder_users(
        &mut self,
        ctx: &Context,
        cs: &ConfigState,
        user: Option<&str>,
        notes: &mut Vec<String>,
    ) {
        for alias in &ctx.nodes {
            let Some(a) = cs.effective.get(alias).and_then(|e| e.first("user")) else {
                continue;
            };
            if !is_placeholder(ctx, a.value()) {
                continue;
            }
            if a.file != 0 {
                notes.push(included_line(
                    ctx,
                    cs,
                    a.file,
                    a.line,
                    &format!("User `{}` for {alias} is a placeholder", a.value()),
                ));
                continue;
            }
            let Some(u) = user else {
                notes.push(format!(
                    "User `{}` for {alias} is a placeholder: run `mlc-doctor fix --user NAME` with your cluster username",
                    a.value()
                ));
                continue;
            };
            let Some(line) = self.lines.get_mut(a.line - 1) else {
                continue;
            };
            // Only the value: the keyword may be spelled like it (`user user`).
            let key_end = line
                .trim_start()
                .find(|c: char| c.is_whitespace() || c == '=')
                .map(|k| k + (line.len() - line.trim_start().len()))
                .unwrap_or(line.len());
            let (head, tail) = line.split_at(key_end);
            let replaced = format!("{head}{}", tail.replacen(a.value(), u, 1));
            if replaced != *line {
                *line = replaced;
                self.why
                    .push(format!("User `{}` → `{u}` (line {})", a.value(), a.line));
            }
        }
    }

    /// An IdentityFile of the main file that names a missing file, while no key reaches
    /// the login nodes and a key sits unused in ~/.ssh: the line is pointed at that key
    /// (the best of them, as the suggested blocks choose it).
    fn repoint_missing_identity_files(
        &mut self,
        ctx: &Context,
        state: &RunState,
        cs: &ConfigState,
        notes: &mut Vec<String>,
    ) {
        let used = state
            .keys
            .iter()
            .any(|k| k.used_by.iter().any(|a| ctx.nodes.contains(a)));
        let sound = state.keys.iter().any(|k| k.facts.algorithm.is_some());
        if used || !sound {
            return;
        }
        let key = crate::probes::keys::preferred_key_path(ctx, state);
        let on_disk = match key.strip_prefix("~/") {
            Some(rest) => ctx.home.join(rest),
            None => PathBuf::from(&key),
        };
        if !on_disk.is_file() {
            return;
        }
        let mut lines: Vec<usize> = Vec::new();
        let mut noted: Vec<(usize, usize)> = Vec::new();
        for plan in &state.plans {
            let Some(eff) = cs.effective.get(&plan.alias) else {
                continue;
            };
            let assigned = eff.values.get("identityfile").into_iter().flatten();
            for (a, path) in assigned.zip(&plan.identity_files) {
                if std::fs::symlink_metadata(path).is_ok() {
                    continue;
                }
                if a.file == 0 {
                    if !lines.contains(&a.line) {
                        lines.push(a.line);
                    }
                } else if !noted.contains(&(a.file, a.line)) {
                    noted.push((a.file, a.line));
                    let note = included_line(
                        ctx,
                        cs,
                        a.file,
                        a.line,
                        &format!(
                            "IdentityFile `{}` names no file (your key is {key})",
                            a.value()
                        ),
                    );
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                }
            }
        }
        for number in lines {
            let Some(line) = number.checked_sub(1).and_then(|i| self.lines.get_mut(i)) else {
                continue;
            };
            let indent_len = line.len() - line.trim_start().len();
            let keyword: String = line
                .trim_start()
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '=')
                .collect();
            if !keyword.eq_ignore_ascii_case("identityfile") {
                continue;
            }
            *line = format!("{}{keyword} {key}", &line[..indent_len]);
            self.repointed.push(number);
            self.why.push(format!(
                "IdentityFile on line {number} → `{key}` (the file it named does not exist)"
            ));
        }
    }

    /// `IdentitiesOnly yes` where an IdentityFile is set in a block of the alias's own
    /// (never in `Host *`), one of its IdentityFiles exists, and nothing sets
    /// IdentitiesOnly. (With none that exists, the agent's keys are all ssh offers:
    /// IdentitiesOnly would turn a working login into `Permission denied`.)
    fn add_identities_only(
        &mut self,
        ctx: &Context,
        state: &RunState,
        cs: &ConfigState,
        notes: &mut Vec<String>,
    ) {
        for alias in &ctx.nodes {
            let Some(eff) = cs.effective.get(alias) else {
                continue;
            };
            if eff.get("identitiesonly").is_some() {
                continue;
            }
            let repointed = eff
                .values
                .get("identityfile")
                .into_iter()
                .flatten()
                .any(|a| a.file == 0 && self.repointed.contains(&a.line));
            let exists = state
                .plans
                .iter()
                .filter(|p| &p.alias == alias)
                .flat_map(|p| &p.identity_files)
                .any(|f| std::fs::metadata(f).is_ok_and(|m| m.is_file()));
            if !repointed && !exists {
                continue;
            }
            if agent_may_be_the_way_in(ctx, state, eff, alias) {
                notes.push(format!("IdentitiesOnly yes is not added for {alias}: your ssh-agent holds keys that no IdentityFile names, and ssh offers them now (one may be what logs you in); if your cluster key is one of the IdentityFiles, add `IdentitiesOnly yes` by hand"));
                continue;
            }
            let block = eff
                .first("identityfile")
                .and_then(|a| a.block)
                .filter(|b| eff.specific_blocks.contains(b));
            let Some((0, host_line)) = block else {
                continue;
            };
            if !user_file_first(cs) {
                continue;
            }
            if self.inserts.iter().any(|(i, _)| *i == host_line) {
                continue;
            }
            let indent = self.block_indent(host_line);
            self.inserts
                .push((host_line, vec![format!("{indent}IdentitiesOnly yes")]));
            self.why.push(format!(
                "IdentitiesOnly yes for the block on line {host_line}"
            ));
        }
    }

    /// `User NAME` in the alias's own block where nothing sets a User (ssh would send the
    /// local login name) and the cluster username is known (`--user`, or a User of the
    /// site's shape elsewhere in the config).
    fn add_missing_users(
        &mut self,
        ctx: &Context,
        cs: &ConfigState,
        user: Option<&str>,
        notes: &mut Vec<String>,
    ) {
        let Some(u) = user else { return };
        for alias in &ctx.nodes {
            let Some(eff) = cs.effective.get(alias) else {
                continue;
            };
            if eff.get("user").is_some() {
                continue;
            }
            let user_file = user_file_first(cs);
            match eff.specific_blocks.first() {
                Some(&(0, host_line)) if user_file && !self.serves_only_nodes(ctx, host_line) => {
                    notes.push(format!("User is not added for {alias}: the block on line {host_line} also serves other hosts (a User there would apply to them too); add `User {u}` to a block of the login nodes alone"));
                }
                Some(&(0, host_line)) if user_file => {
                    let line = format!("{}User {u}", self.block_indent(host_line));
                    match self.inserts.iter_mut().find(|(i, _)| *i == host_line) {
                        Some((_, lines)) if lines.contains(&line) => continue,
                        Some((_, lines)) => lines.insert(0, line),
                        None => self.inserts.push((host_line, vec![line])),
                    }
                    self.why
                        .push(format!("User {u} for the block on line {host_line}"));
                }
                Some(&(file, line)) if file != 0 => notes.push(included_line(
                    ctx,
                    cs,
                    file,
                    line,
                    &format!("the block for {alias} sets no User (add `User {u}`)"),
                )),
                // Only the system config names the node: nothing in the user's file to edit.
                Some(_) => {}
                // No block of its own: add_missing_hosts writes one, with User.
                None => {}
            }
        }
    }

    /// The indentation of the block whose `Host` line is `host_line` (1-based): that of
    /// its first setting, else two spaces.
    fn block_indent(&self, host_line: usize) -> String {
        self.lines
            .get(host_line)
            .map(|l| {
                l.chars()
                    .take_while(|c| c.is_whitespace())
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "  ".into())
    }

    /// True when the `Host` line at `host_line` (1-based) names login nodes only: a value
    /// added there applies to nothing else (a `Match` block or a pattern may serve more).
    fn serves_only_nodes(&self, ctx: &Context, host_line: usize) -> bool {
        let Some(line) = host_line.checked_sub(1).and_then(|i| self.lines.get(i)) else {
            return false;
        };
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|w| !w.is_empty());
        let is_host = words.next().is_some_and(|k| k.eq_ignore_ascii_case("host"));
        let mut patterns = words.peekable();
        is_host && patterns.peek().is_some() && patterns.all(|p| ctx.profile.node(p).is_some())
    }

    /// UseKeychain is Apple's: elsewhere OpenSSH stops on it unless told to ignore it.
    fn ignore_use_keychain(&mut self, main: Option<&ConfigFile>) {
        let keychain = main.is_some_and(|f| {
            f.parsed.issues.iter().any(|i| {
                matches!(&i.kind, IssueKind::BadOption { word, .. } if word.eq_ignore_ascii_case("usekeychain"))
            })
        });
        if keychain && !cfg!(target_os = "macos") {
            self.inserts
                .push((0, vec!["IgnoreUnknown UseKeychain".into()]));
            self.why
                .push("IgnoreUnknown UseKeychain (UseKeychain is for Apple's ssh)".into());
        }
    }

    /// Inserts the planned lines, from the bottom up so that every index still holds.
    fn apply_inserts(&mut self) {
        let mut inserts: Vec<_> = std::mem::take(&mut self.inserts)
            .into_iter()
            .enumerate()
            .collect();
        // Bottom up; at the same place the later one first, so the earlier ends up above.
        inserts.sort_by_key(|(i, (at, _))| std::cmp::Reverse((*at, *i)));
        for (_, (at, block)) in inserts {
            let at = at.min(self.lines.len());
            self.lines.splice(at..at, block);
        }
    }

    /// Host blocks for the login nodes the config does not define: above the first block
    /// that already sets something for them (`Host *` at the top would otherwise win, as
    /// OpenSSH keeps the first value), else at the end.
    fn add_missing_hosts(
        &mut self,
        ctx: &Context,
        state: &RunState,
        cs: &ConfigState,
        user: Option<&str>,
        notes: &mut Vec<String>,
    ) {
        let missing: Vec<String> = ctx
            .nodes
            .iter()
            .filter(|a| {
                cs.effective
                    .get(*a)
                    .is_none_or(|e| e.specific_blocks.is_empty())
            })
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        let key_lines = crate::probes::config::key_lines(ctx, state);
        let mut block = Vec::new();
        for alias in &missing {
            let Some(node) = ctx.profile.node(alias) else {
                continue;
            };
            block.push(format!("Host {alias}"));
            block.push(format!("  HostName {}", node.hostname()));
            if node.port() != 22 {
                block.push(format!("  Port {}", node.port()));
            }
            if let Some(u) = user {
                block.push(format!("  User {u}"));
            }
            block.extend(key_lines.iter().cloned());
            block.push(String::new());
        }
        match cs.new_block_place(&missing) {
            Some(place) => {
                let line = match &place {
                    BlockPlace::Above(line, _) | BlockPlace::Top(line) => *line,
                };
                // Comments right above that line, at the start of their lines, stay with
                // it (indented ones belong to the block before).
                let mut at = line.saturating_sub(1).min(self.lines.len());
                while at > 0 && self.lines[at - 1].starts_with('#') {
                    at -= 1;
                }
                let why = match &place {
                    BlockPlace::Above(_, header) => format!("above line {line} (`{header}`), which would otherwise set their values first"),
                    BlockPlace::Top(_) => {
                        // What stood outside any block now stands under `Host *`: the
                        // same for every other host, and after the new blocks.
                        block.push("Host *".into());
                        "at the top, with `Host *` after them: the settings above the first block would otherwise set their values first, and under `Host *` they still apply to every other host".into()
                    }
                };
                self.inserts.push((at, block));
                self.why
                    .push(format!("Host blocks for {}, {why}", missing.join(", ")));
            }
            None => {
                let lines = &mut self.lines;
                if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                    lines.push(String::new());
                }
                lines.extend(block);
                while lines.last().is_some_and(|l| l.is_empty()) {
                    lines.pop();
                }
                self.why
                    .push(format!("Host blocks for {}", missing.join(", ")));
            }
        }
        if user.is_none() {
            notes.push("the new Host blocks have no User: run `mlc-doctor fix --user NAME` with your cluster username to add it".into());
        }
    }

    /// The edit, when there is a reason for one and the text changed.
    fn finish(self, path: PathBuf, shown: String, before: Option<String>) -> Option<FileEdit> {
        if self.why.is_empty() {
            return None;
        }
        let mut after = self.lines.join(self.nl);
        after.push_str(self.nl);
        let changed = before.as_deref() != Some(after.as_str());
        changed.then_some(FileEdit {
            path,
            shown,
            before,
            after,
            why: self.why,
        })
    }
}

/// An error when the file of `e` is no longer what the plan read (`before`).
fn unchanged(e: &FileEdit) -> Result<(), String> {
    let changed = || {
        format!(
            "{} changed since `fix` read it; nothing was changed: run `mlc-doctor fix` again",
            e.shown
        )
    };
    let now = match std::fs::symlink_metadata(&e.path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(format!("cannot read {}: {err}", e.shown)),
        Ok(m) if !m.is_file() => return Err(changed()),
        Ok(m) if m.len() > MAX_EDIT => return Err(changed()),
        Ok(_) => {
            Some(std::fs::read(&e.path).map_err(|err| format!("cannot read {}: {err}", e.shown))?)
        }
    };
    if now.as_deref() == e.before.as_ref().map(String::as_bytes) {
        Ok(())
    } else {
        Err(changed())
    }
}

/// What `fix` would do for this run's facts.
pub fn plan(ctx: &Context, state: &RunState) -> FixPlan {
    let mut plan = FixPlan::default();
    plan_config(ctx, state, &mut plan);
    plan_modes(ctx, state, &mut plan);
    plan
}

/// Applies the plan: backups first, then atomic writes, then modes. `stamp` names the
/// backups (`config.mlc-doctor-<stamp>.bak`).
pub fn apply(plan: &FixPlan, stamp: &str) -> Result<Vec<String>, String> {
    // Nothing is written when a file changed since the plan read it (an edit made while
    // the question waited would be lost: the backup holds what the plan read).
    for e in &plan.edits {
        unchanged(e)?;
    }
    let mut done = Vec::new();
    for e in &plan.edits {
        let dir = e.path.parent().ok_or("no directory")?;
        if e.before.is_none() && std::fs::symlink_metadata(dir).is_err() {
            // A new user's first config: ~/.ssh is made as ssh-keygen makes it (0700),
            // in a home that exists.
            if !dir.parent().is_some_and(Path::is_dir) {
                return Err(format!(
                    "cannot write {}: its folder's parent does not exist",
                    e.shown
                ));
            }
            let folder = e
                .shown
                .rsplit_once(['/', '\\'])
                .map_or_else(|| dir.display().to_string(), |(d, _)| d.to_string());
            crate::platform::private_dir(dir)
                .map_err(|err| format!("cannot create {folder}: {err}"))?;
            done.push(format!("created {folder} (mode 700)"));
        }
        if let Some(before) = &e.before {
            let name = e
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "config".into());
            // A second `fix` within the same second: `-2`, `-3`, … (never over a backup).
            let mut suffix = String::new();
            let mut n = 1;
            let mut f = loop {
                let backup = dir.join(format!("{name}.mlc-doctor-{stamp}{suffix}.bak"));
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                crate::platform::private_create(&mut opts);
                match opts.open(&backup) {
                    Ok(f) => break f,
                    Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                        n += 1;
                        suffix = format!("-{n}");
                    }
                    Err(err) => {
                        return Err(format!(
                            "cannot write the backup {}: {err}",
                            backup.display()
                        ))
                    }
                }
            };
            std::io::Write::write_all(&mut f, before.as_bytes())
                .map_err(|err| format!("cannot write the backup: {err}"))?;
            // Named as the file is (`~/.ssh/config…`), in one path style on every system.
            done.push(format!(
                "backed up {} to {}.mlc-doctor-{stamp}{suffix}.bak",
                e.shown, e.shown
            ));
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".mlc-doctor-fix-")
            .tempfile_in(dir)
            .map_err(|err| format!("cannot write {}: {err}", e.shown))?;
        crate::platform::make_private(tmp.as_file()).map_err(|err| err.to_string())?;
        std::io::Write::write_all(&mut tmp, e.after.as_bytes()).map_err(|err| err.to_string())?;
        tmp.as_file().sync_all().map_err(|err| err.to_string())?;
        // The new file keeps the old one's mode (a read-only 0444 stays so); a mode that
        // lets others write is changed by the plan's own chmod below, which is shown.
        let mode = mode_owner(&e.path).map(|(mode, _)| mode);
        tmp.persist(&e.path)
            .map_err(|err| format!("cannot replace {}: {}", e.shown, err.error))?;
        if let Some(mode) = mode {
            crate::platform::set_mode(&e.path, mode)
                .map_err(|err| format!("chmod {}: {err}", e.shown))?;
        }
        done.push(format!("wrote {}", e.shown));
    }
    // Modes are planned only where files have them (Unix).
    for m in &plan.modes {
        crate::platform::set_mode(&m.path, m.to)
            .map_err(|err| format!("chmod {}: {err}", m.shown))?;
        done.push(format!("chmod {:o} {}", m.to, m.shown));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit_of(path: &Path, before: Option<&str>) -> FixPlan {
        FixPlan {
            edits: vec![FileEdit {
                path: path.to_path_buf(),
                shown: "~/.ssh/config".into(),
                before: before.map(str::to_string),
                after: "Host slurm\n".into(),
                why: vec!["test".into()],
            }],
            ..FixPlan::default()
        }
    }

    #[test]
    fn a_file_changed_since_the_plan_is_left_as_it_is_and_not_backed_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, "Host a\n").unwrap();
        let plan = edit_of(&path, Some("Host a\n"));
        // Edited while the question waited.
        std::fs::write(&path, "Host a\nHost important\n").unwrap();
        let err = apply(&plan, "stamp").unwrap_err();
        assert!(err.contains("changed since `fix` read it"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "Host a\nHost important\n"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no backup, no temp file"
        );
        // Created meanwhile, where the plan saw none.
        let fresh = dir.path().join("new");
        let plan = edit_of(&fresh, None);
        std::fs::write(&fresh, "mine\n").unwrap();
        assert!(apply(&plan, "stamp").is_err());
        assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "mine\n");
        // Unchanged: applied, with a backup.
        let plan = edit_of(&path, Some("Host a\nHost important\n"));
        apply(&plan, "stamp").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "Host slurm\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config.mlc-doctor-stamp.bak")).unwrap(),
            "Host a\nHost important\n"
        );
    }
}
