//! The `config.*` checks, one fact type each: its `observe` reads what the evaluated
//! config says (the value, where it is set, what is wrong with it), and its `finding` is
//! the one place that fact becomes a finding's severity, words and remedy.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::{Fact, UserValue};
use crate::finding::{Finding, Remedy, Severity};
use crate::probes::NodePlan;
use crate::profile::Node;
use crate::runner::RunState;
use crate::sshconfig::{Assignment, ConfigFile, Effective, IncludeIssue, Issue, IssueKind};

use super::{suggested_block, username_in_config, ConfigState};

/// Every `config.*` finding but `openssh-agrees`, in report order.
pub(super) fn all(ctx: &Context, state: &RunState, cs: &ConfigState) -> Vec<Finding> {
    let mut out = vec![Presence::observe(cs).finding(ctx, state, cs)];
    out.extend(Syntax::observe(ctx, cs).into_iter().map(|s| s.finding(ctx)));
    out.extend(Include::observe(cs).into_iter().map(|i| i.finding(ctx, cs)));
    for alias in &ctx.nodes {
        let Some(node) = ctx.profile.node(alias) else {
            continue;
        };
        let Some(eff) = cs.effective.get(alias) else {
            continue;
        };
        let view = NodeView {
            ctx,
            state,
            cs,
            node,
            eff,
            plan: cs.plan(ctx, node),
            subject: format!("Host {alias}"),
        };
        view.check::<AliasBlock>(&mut out);
        // A config the doctor could not read says nothing about User, IdentityFile, …:
        // "no User" would be a claim about lines never read.
        if let Some(why) = cs.main_unread().filter(|_| cs.exists) {
            for id in [
                CheckId::ConfigHostname,
                CheckId::ConfigUser,
                CheckId::ConfigIdentityFile,
                CheckId::ConfigPrecedence,
                CheckId::ConfigAuthOverride,
            ] {
                out.push(
                    Finding::skip(
                        id,
                        &view.subject,
                        format!("not checked: ~/.ssh/config {why}"),
                    )
                    .node(alias),
                );
            }
            continue;
        }
        view.check::<HostName>(&mut out);
        view.check::<UserSetting>(&mut out);
        view.check::<IdentityFiles>(&mut out);
        view.check::<Precedence>(&mut out);
        view.check::<AuthOverride>(&mut out);
    }
    out
}

/// `config.present`: whether `~/.ssh/config` is there and was read.
enum Presence {
    /// There is no `~/.ssh/config`.
    Missing,
    /// There is one, but it was not read as a config.
    NotRead(NotRead),
    /// Read: its setting lines and how many files it includes.
    Read { lines: usize, included: usize },
    /// Read, but not as a config (over the size cap, UTF-16, not text): why.
    Unread(&'static str),
}

/// Why a `~/.ssh/config` that exists was not read.
enum NotRead {
    Directory,
    /// A pipe, a device or a socket.
    NotRegular,
    /// A regular file that could not be read.
    Unreadable,
    /// The file could not even be looked at.
    Error(String),
}

impl Presence {
    fn observe(cs: &ConfigState) -> Presence {
        if !cs.exists {
            return Presence::Missing;
        }
        if !cs.user_file_read() {
            return Presence::NotRead(match std::fs::metadata(&cs.path) {
                Ok(m) if m.is_dir() => NotRead::Directory,
                Ok(m) if !m.is_file() => NotRead::NotRegular,
                Ok(_) => NotRead::Unreadable,
                Err(e) => NotRead::Error(e.to_string()),
            });
        }
        if let Some(why) = cs.main_unread() {
            return Presence::Unread(why);
        }
        Presence::Read {
            lines: cs.config.files[0].parsed.lines.len(),
            included: cs.config.files.iter().filter(|f| !f.system).count() - 1,
        }
    }

    fn finding(self, ctx: &Context, state: &RunState, cs: &ConfigState) -> Finding {
        let id = CheckId::ConfigPresent;
        let subject = "~/.ssh/config";
        match self {
            Presence::Missing => {
                let user_known = ctx.user_override.is_some();
                Finding::warn(id, subject, format!("there is no ~/.ssh/config: `ssh {}` cannot know the short names", ctx.profile.example_alias()))
                    .detail(if user_known { "Add one Host block per login node. The block below uses your key, the profile's node names and the username you gave (--user). `mlc-doctor fix` writes it for you." } else { "Add one Host block per login node. The block below uses your key and the profile's node names; run the doctor with `--user NAME` to have your cluster username filled in, or `mlc-doctor fix --user NAME` to write the file for you." })
                    .remedy(Remedy::command(ctx.os.create_config_words(ctx.commands_home.as_deref()), suggested_block(ctx, state, &ctx.nodes, None)))
                    .with("path", ctx.show(&cs.path))
                    .fact(Fact::NoConfig { user_known })
            }
            // OpenSSH opens a directory, reads no line from it and goes on without a
            // config (unless others may write to it: `Bad owner or permissions`, perm.config).
            Presence::NotRead(NotRead::Directory) => Finding::warn(id, subject, format!("~/.ssh/config is a directory: OpenSSH reads it as an empty config, so `ssh {}` cannot know the short names", ctx.profile.example_alias()))
                .remedy(Remedy::text(format!("Move the directory aside (`{}`, then look inside for what you meant to keep) and run `mlc-doctor fix` to write ~/.ssh/config as a file with the login nodes' blocks.", ctx.os.shell().move_file(&ctx.shell_shown("~/.ssh/config"), &ctx.shell_shown("~/.ssh/config.dir")))))
                .with("error", "is a directory"),
            Presence::NotRead(why) => {
                let why = match why {
                    NotRead::Directory => "is a directory".to_string(),
                    NotRead::NotRegular => "is not a regular file (a pipe or a device)".to_string(),
                    NotRead::Unreadable => "cannot be read".to_string(),
                    NotRead::Error(e) => e,
                };
                Finding::fail(id, subject, format!("~/.ssh/config exists but {why}"))
                    .detail("OpenSSH stops when it cannot read its config.")
                    .remedy(Remedy::text(
                        "Make ~/.ssh/config a readable regular file (mode 600).",
                    ))
                    .with("error", why)
            }
            Presence::Unread(why) => Finding::info(id, subject, format!("~/.ssh/config is there, but it {why}: its settings were not read (config.syntax says more)")),
            Presence::Read { lines, included } => {
                let includes = if included > 0 {
                    format!(" and includes {included} file(s)")
                } else {
                    String::new()
                };
                Finding::pass(
                    id,
                    subject,
                    format!("~/.ssh/config has {lines} setting lines{includes}"),
                )
                .with("lines", lines)
                .with("included_files", included)
            }
        }
    }
}

/// At most this many `config.syntax` findings per file and kind of problem; the rest
/// are counted in one more finding, so a huge broken file stays readable and cheap.
const MAX_ISSUES_SHOWN: usize = 10;

/// `config.syntax`: what OpenSSH would stumble over in each file, or that none has a problem.
enum Syntax<'a> {
    /// A problem in one file.
    Problem {
        file: &'a ConfigFile,
        problem: FileProblem<'a>,
    },
    /// No file has a problem: how many were read.
    Clean { files: usize },
}

/// What is wrong in a config file.
enum FileProblem<'a> {
    /// The file is not text at all: one problem with one fix, not one per line.
    NotText(&'a Issue),
    /// A line OpenSSH refuses or ignores.
    Line(&'a Issue),
    /// How many more lines had a kind of problem already shown often enough.
    More(usize),
}

impl<'a> Syntax<'a> {
    fn observe(ctx: &Context, cs: &'a ConfigState) -> Vec<Syntax<'a>> {
        let mut found = Vec::new();
        for file in &cs.config.files {
            let problem = |problem| Syntax::Problem { file, problem };
            if let Some(issue) = super::not_text(file) {
                found.push(problem(FileProblem::NotText(issue)));
                continue;
            }
            let mut per_kind = HashMap::new();
            let mut more = 0;
            for issue in &file.parsed.issues {
                if known_to_this_ssh(ctx, issue) {
                    continue;
                }
                let seen: &mut usize = per_kind
                    .entry(std::mem::discriminant(&issue.kind))
                    .or_default();
                *seen += 1;
                if *seen > MAX_ISSUES_SHOWN {
                    more += 1;
                } else {
                    found.push(problem(FileProblem::Line(issue)));
                }
            }
            if more > 0 {
                found.push(problem(FileProblem::More(more)));
            }
        }
        if found.is_empty() && cs.exists {
            found.push(Syntax::Clean {
                files: cs.config.files.len(),
            });
        }
        found
    }

    fn finding(self, ctx: &Context) -> Finding {
        let id = CheckId::ConfigSyntax;
        let (file, problem) = match self {
            Syntax::Problem { file, problem } => (file, problem),
            Syntax::Clean { files } => {
                return Finding::pass(
                    id,
                    "~/.ssh/config",
                    format!("{files} file(s) read without a syntax problem"),
                )
            }
        };
        let shown = ctx.show(&file.path);
        let p = ctx.shell_path(&file.path);
        // Aside, never over another file (`.broken` may be there from before).
        let broken = ctx.shell_path(&crate::probes::free_beside(&file.path, ".broken"));
        let aside = ctx.os.shell().move_file(&p, &broken);
        let f = match problem {
            FileProblem::NotText(issue @ Issue { kind: IssueKind::TooLarge { .. }, .. }) => Finding::warn(id, &shown, format!("{shown} was not checked: {}", issue.kind.describe()))
                .detail("The doctor reads configs of up to 1 MiB, so that a huge file cannot stall it; everything it says about this file's settings is unknown, and OpenSSH was not asked about it either.")
                .remedy(Remedy::text(format!("If {shown} is really meant to be this large, attach the bundle to a ticket; if it is not a config at all, move it aside: {aside}")))
                .with("file", &shown),
            FileProblem::NotText(issue) => Finding::fail(id, &shown, format!("{shown} is not a text config: {}", issue.kind.describe()))
                .detail("Whatever this file is, OpenSSH cannot use it as a config. Move it aside and write a new config (see config.present for the block to paste).")
                .remedy(Remedy::command("Move the file aside (nothing is deleted):", aside))
                .with("file", &shown)
                .with("line", issue.line)
                .with("bytes", file.bytes.len()),
            FileProblem::Line(issue) => line_finding(ctx, file, issue, &shown),
            FileProblem::More(count) => Finding::fail(
                id,
                &shown,
                format!("and {count} more lines like these in {shown}"),
            )
            .detail("Only the first few lines of each kind of problem are listed.")
            .remedy(Remedy::text(format!(
                "If {shown} is not meant to be an ssh config, move it aside: {aside}"
            )))
            .with("file", &shown)
            .with("more", count),
        };
        f.with("system", file.system)
    }
}

/// The finding for one line of a file OpenSSH refuses or ignores.
fn line_finding(ctx: &Context, file: &ConfigFile, issue: &Issue, shown: &str) -> Finding {
    let at = format!("{shown}:{}", issue.line);
    let words = issue.kind.describe();
    let f = if issue.kind.is_failure() {
        Finding::fail(CheckId::ConfigSyntax, &at, words)
    } else {
        Finding::warn(CheckId::ConfigSyntax, &at, words)
    };
    let remedy = match &issue.kind {
        IssueKind::Utf8Bom | IssueKind::Utf16 => Remedy::command(
            "Save the file as plain UTF-8 without a byte-order mark (in your editor's encoding menu), or convert it:",
            ctx.os.shell().reencode_utf8(&ctx.shell_path(&file.path), matches!(issue.kind, IssueKind::Utf16)),
        ),
        IssueKind::BadOption { word, .. } if crate::platform::macos::is_apple_only(word) => Remedy::command(crate::platform::macos::ignore_unknown_advice(word), format!("IgnoreUnknown {word}")),
        IssueKind::BadOption { suggestion: Some(s), .. } => Remedy::text(format!("Correct the keyword on line {} to `{s}`.", issue.line)),
        IssueKind::Ignored { .. } => Remedy::text(format!("Delete line {}; it has no effect.", issue.line)),
        _ => Remedy::text(format!("Correct line {} of {shown}.", issue.line)),
    };
    // The shape of the line, never its text: a line that is not a config line
    // may be anything (a password file behind a link, the environment).
    let shape = raw_line(file, issue.line)
        .map(|l| crate::sshconfig::parse::shape(&l))
        .unwrap_or_default();
    f.remedy(remedy)
        .with("file", shown)
        .with("line", issue.line)
        .with("shape", shape)
}

/// True for an Apple-only keyword (UseKeychain) that the ssh in use accepts: Apple's
/// ssh knows it, which ssh runs decides (Homebrew's does not).
fn known_to_this_ssh(ctx: &Context, issue: &Issue) -> bool {
    let IssueKind::BadOption { word, .. } = &issue.kind else {
        return false;
    };
    if !crate::platform::macos::is_apple_only(word) {
        return false;
    }
    let ssh = crate::probes::env::client_path(ctx).ok();
    crate::platform::macos::accepts(ctx.os, ssh.as_deref(), word)
}

/// Line `n` (1-based) of a file as read, lossily decoded.
fn raw_line(file: &ConfigFile, n: usize) -> Option<String> {
    file.bytes
        .split(|b| *b == b'\n')
        .nth(n.checked_sub(1)?)
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

/// `config.include`: an Include of the user's that brings nothing usable, or that all
/// of them resolve.
enum Include<'a> {
    Problem(&'a IncludeIssue),
    /// Every Include line resolved: how many lines, to how many files.
    Resolved {
        lines: usize,
        files: usize,
    },
}

impl<'a> Include<'a> {
    fn observe(cs: &'a ConfigState) -> Vec<Include<'a>> {
        let system = |file: &usize| cs.config.files.get(*file).is_some_and(|f| f.system);
        let problems: Vec<Include> = cs
            .config
            .include_issues
            .iter()
            // A distribution's empty ssh_config.d is normal; only the user's own Includes count.
            .filter(|issue| !matches!(issue, IncludeIssue::NoMatch { file, .. } if system(file)))
            .map(Include::Problem)
            .collect();
        let user_files = cs.config.files.iter().filter(|f| !f.system);
        let lines = user_files.clone().map(|f| f.includes.len()).sum::<usize>();
        if !problems.is_empty() || lines == 0 {
            return problems;
        }
        vec![Include::Resolved {
            lines,
            files: user_files.count().saturating_sub(1),
        }]
    }

    fn finding(self, ctx: &Context, cs: &ConfigState) -> Finding {
        let id = CheckId::ConfigInclude;
        match self {
            Include::Problem(IncludeIssue::NoMatch { file, line, pattern }) => Finding::warn(id, cs.shown(ctx, *file, *line), format!("`Include {pattern}` matches no file: the settings it should bring are missing"))
                .remedy(Remedy::text("Correct the path (relative paths are under ~/.ssh) or remove the line.")),
            Include::Problem(IncludeIssue::Loop { file, line, target }) => Finding::fail(id, cs.shown(ctx, *file, *line), format!("Include loop: this line includes {} again, which includes this file", ctx.show(target)))
                .detail("OpenSSH follows the loop until `Too many recursive configuration includes` and stops.")
                .remedy(Remedy::text("Remove the Include that points back to a file that includes it.")),
            Include::Problem(IncludeIssue::Depth { file, line }) => Finding::fail(id, cs.shown(ctx, *file, *line), format!("Includes are nested deeper than OpenSSH's limit of {}", crate::sshconfig::MAX_DEPTH))
                .remedy(Remedy::text("Flatten the Include chain.")),
            Include::Problem(IncludeIssue::TooMany { file, line }) => Finding::warn(id, cs.shown(ctx, *file, *line), format!("the doctor stopped following Includes here, after {} files: the settings of the rest were not checked (OpenSSH reads them all)", crate::sshconfig::MAX_FILES))
                .remedy(Remedy::text("If these Includes are meant to pull in this many files, attach the bundle to a ticket; otherwise narrow the pattern of the Include.")),
            Include::Problem(IncludeIssue::Unreadable { file, line, target, error }) => Finding::fail(id, cs.shown(ctx, *file, *line), format!("included file {} cannot be read: {error}", ctx.show(target)))
                .remedy(Remedy::text("Make the file readable by you, or remove the Include.")),
            Include::Resolved { lines, files } => Finding::pass(
                id,
                "~/.ssh/config",
                format!("{lines} Include line(s) resolve to {files} file(s)"),
            ),
        }
    }
}

/// One login node's effective config, as each per-node check reads it.
struct NodeView<'a> {
    ctx: &'a Context,
    state: &'a RunState,
    cs: &'a ConfigState,
    node: &'a Node,
    eff: &'a Effective,
    plan: NodePlan,
    /// `Host <alias>`: the subject of every per-node finding.
    subject: String,
}

/// A per-node `config.*` check: the facts it observes, and the one place each becomes a
/// finding.
trait NodeCheck: Sized {
    fn observe(v: &NodeView) -> Vec<Self>;
    fn finding(self, v: &NodeView) -> Finding;
}

impl NodeView<'_> {
    fn check<C: NodeCheck>(&self, out: &mut Vec<Finding>) {
        let found = C::observe(self).into_iter();
        out.extend(found.map(|c| c.finding(self).node(self.alias())));
    }

    fn alias(&self) -> &str {
        self.node.alias()
    }

    /// True when a Host or Match block names the alias itself (not only `Host *`).
    fn defined(&self) -> bool {
        !self.eff.specific_blocks.is_empty()
    }

    /// `file:line` of a setting, as the user knows the file.
    fn at(&self, a: &Assignment) -> String {
        self.cs.shown(self.ctx, a.file, a.line)
    }

    /// Where a setting for the alias goes, in words: its `Host` block, the `Match` block
    /// that names it (at `file:line`), or a block of its own still to write.
    fn block_words(&self) -> String {
        match self.eff.specific_blocks.first() {
            Some(&(file, line)) => {
                let is_match = self
                    .cs
                    .config
                    .files
                    .get(file)
                    .and_then(|f| raw_line(f, line))
                    .is_some_and(|l| l.trim_start().to_ascii_lowercase().starts_with("match"));
                if is_match {
                    format!(
                        "the `Match` block at {}",
                        self.cs.shown(self.ctx, file, line)
                    )
                } else {
                    format!("the `Host {}` block", self.alias())
                }
            }
            None => format!("a `Host {}` block of its own", self.alias()),
        }
    }
}

/// `config.alias`: the alias's own Host block, if there is a config to have one.
enum AliasBlock {
    /// Defined at `file:line`.
    Defined { at: String },
    /// The config has no block for the alias.
    Undefined,
    /// `~/.ssh/config` cannot be read as a config (why: over the size cap, UTF-16, not
    /// text): whether it has one is unknown.
    NotRead(&'static str),
}

impl NodeCheck for AliasBlock {
    fn observe(v: &NodeView) -> Vec<Self> {
        match v.eff.specific_blocks.first() {
            Some(&(file, line)) => vec![AliasBlock::Defined {
                at: v.cs.shown(v.ctx, file, line),
            }],
            None if v.cs.exists && v.cs.main_unread().is_some() => {
                vec![AliasBlock::NotRead(v.cs.main_unread().unwrap_or_default())]
            }
            None if v.cs.exists => vec![AliasBlock::Undefined],
            None => vec![],
        }
    }

    fn finding(self, v: &NodeView) -> Finding {
        let alias = v.alias();
        match self {
            AliasBlock::Defined { at } => Finding::pass(
                CheckId::ConfigAlias,
                &v.subject,
                format!("`{alias}` is defined at {at}"),
            ),
            AliasBlock::NotRead(why) => Finding::skip(
                CheckId::ConfigAlias,
                &v.subject,
                format!(
                    "not checked: ~/.ssh/config {why}, so whether it defines `{alias}` is unknown"
                ),
            ),
            AliasBlock::Undefined => {
                let block = suggested_block(
                    v.ctx,
                    v.state,
                    &[alias.to_string()],
                    username_in_config(v.ctx, v.cs),
                );
                let place = v.cs.new_block_place(&[alias.to_string()]);
                Finding::warn(CheckId::ConfigAlias, &v.subject, format!("`{alias}` is not defined in your config: `ssh {alias}` will not find the login node"))
                    .remedy(Remedy::command(crate::diagnosis::where_blocks_go(1, place.as_ref()), block))
                    .fact(Fact::Undefined { place })
            }
        }
    }
}

/// `config.hostname`: the machine ssh connects to for the alias.
enum HostName {
    /// The profile's host name.
    Expected { host: String },
    /// Another host name, set at `at`.
    Other { host: String, at: String },
    /// None in a defined alias: ssh would look the alias up as a machine name.
    Missing,
}

impl NodeCheck for HostName {
    fn observe(v: &NodeView) -> Vec<Self> {
        let found = match v.eff.first("hostname") {
            Some(a) => {
                let host = v.eff.hostname(v.alias());
                if host.eq_ignore_ascii_case(v.node.hostname()) {
                    HostName::Expected { host }
                } else {
                    HostName::Other { host, at: v.at(a) }
                }
            }
            None if v.defined() => HostName::Missing,
            None => return vec![],
        };
        vec![found]
    }

    fn finding(self, v: &NodeView) -> Finding {
        let (id, alias, expected) = (CheckId::ConfigHostname, v.alias(), v.node.hostname());
        match self {
            HostName::Expected { host } => Finding::pass(id, &v.subject, format!("HostName is {host}")),
            HostName::Other { host, at } => Finding::warn(id, &v.subject, format!("HostName is {host}, not the profile's {expected}"))
                .detail(format!("Set at {at}."))
                .remedy(Remedy::text(format!("Set `HostName {expected}` in {} unless support told you otherwise.", v.block_words())))
                .with("configured", &host)
                .with("expected", expected),
            HostName::Missing => Finding::fail(id, &v.subject, format!("`{alias}` has no HostName: ssh would look up `{alias}` as a machine name, which does not exist"))
                .remedy(Remedy::text(format!("Add `HostName {expected}` to {}.", v.block_words())))
                .with("expected", expected),
        }
    }
}

/// Placeholders users copy from guides and forms.
const GENERIC_PLACEHOLDERS: &[&str] = &[
    "username",
    "user",
    "your-username",
    "yourusername",
    "your_username",
    "userid",
    "user-id",
    "login",
    "<username>",
    "changeme",
];

/// A User value copied from a guide or a form (`ml-cloud-user-id`, `<username>`).
pub fn is_placeholder(ctx: &Context, user: &str) -> bool {
    let lower = user.to_ascii_lowercase();
    ctx.profile
        .placeholder_users
        .iter()
        .any(|p| p.eq_ignore_ascii_case(user))
        || GENERIC_PLACEHOLDERS.contains(&lower.as_str())
        || (user.starts_with('<') && user.ends_with('>'))
        || lower.contains("your")
}

/// `config.user`: the username ssh sends to the node.
enum UserSetting {
    /// A User line: its value, where it is set, and what kind of name it is.
    Given {
        user: String,
        at: String,
        judged: UserValue,
    },
    /// No User: ssh sends the local login name (`local`, as this system's ssh spells it,
    /// with a note where that differs from the account name); `sent` is what the
    /// doctor's own probes use.
    Absent {
        sent: String,
        local: String,
        note: Option<String>,
    },
}

impl NodeCheck for UserSetting {
    fn observe(v: &NodeView) -> Vec<Self> {
        let ctx = v.ctx;
        let found = match v.eff.first("user") {
            Some(a) => {
                let user = a.value();
                let judged = if is_placeholder(ctx, user) {
                    UserValue::Placeholder
                } else if user.contains('@') {
                    UserValue::Email
                } else if ctx
                    .profile
                    .username_regex()
                    .is_some_and(|p| !p.is_match(user))
                {
                    UserValue::Unusual
                } else {
                    UserValue::Set
                };
                UserSetting::Given {
                    user: user.to_string(),
                    at: v.at(a),
                    judged,
                }
            }
            None => {
                let (local, note) = ctx.os.login_name_sent(&ctx.local_user, &ctx.env);
                let sent = ctx.user_override.as_ref().unwrap_or(&ctx.local_user);
                UserSetting::Absent {
                    sent: sent.clone(),
                    local,
                    note,
                }
            }
        };
        vec![found]
    }

    fn finding(self, v: &NodeView) -> Finding {
        let (id, subject, profile) = (CheckId::ConfigUser, &v.subject, &v.ctx.profile);
        let (user, at, judged) = match self {
            UserSetting::Given { user, at, judged } => (user, at, judged),
            UserSetting::Absent { sent, local, note } => {
                let alias = v.alias();
                let extra = if v.ctx.user_override.is_some() {
                    " (the doctor uses --user for its own probes)"
                } else {
                    ""
                };
                let mut f = Finding::warn(id, subject, format!("no User for `{alias}`: ssh would send your local login name `{local}`{extra}"));
                if let Some(note) = note {
                    f = f.detail(note);
                }
                return f
                    .remedy(Remedy::text(format!(
                        "Add `User <your cluster username>` to {}.",
                        v.block_words()
                    )))
                    .with("sent", sent)
                    .fact(Fact::User(UserValue::Missing));
            }
        };
        let f = match judged {
            UserValue::Placeholder => Finding::fail(id, subject, format!("User is `{user}`, a placeholder from the guide, not your username"))
                .detail(format!("Set at {at}. The server refuses every key for an unknown user, exactly as if your key were not deployed."))
                .remedy(Remedy::text(format!("Replace `{user}` with your cluster username (from your account e-mail) at {at}."))),
            UserValue::Email => Finding::fail(id, subject, format!("User `{user}` is an e-mail address, not a cluster username"))
                .detail(format!("Set at {at}."))
                .remedy(Remedy::text(format!("Use your cluster username (e.g. pbb111) instead of your e-mail address at {at}."))),
            UserValue::Unusual => {
                let pattern = profile.username_pattern.as_ref().map(|p| p.get_ref().as_str());
                Finding::warn(id, subject, format!("User `{user}` does not match the site's username pattern ({})", pattern.unwrap_or("")))
                    .detail(format!("Set at {at}."))
                    .remedy(Remedy::text("Check the username in your account e-mail."))
            }
            UserValue::Set | UserValue::Missing => {
                Finding::pass(id, subject, format!("User is {user}"))
            }
        };
        f.fact(Fact::User(judged)).with("user", user).with("at", at)
    }
}

/// `config.identity-file`: the IdentityFile lines that apply to the node.
enum IdentityFiles {
    /// None: ssh tries its default key names.
    Defaults,
    /// A line names a public key; ssh needs the private key file.
    PublicKey { path: PathBuf, at: String },
    /// A line names a file that does not exist; `others` when another line names a
    /// file that does (ssh skips this one and offers that).
    NoSuchFile {
        path: PathBuf,
        at: String,
        others: bool,
    },
    /// Several lines apply (each at `file:line`): every key is offered in turn.
    Several { at: Vec<String> },
    /// A line uses a `%` token OpenSSH does not know (`%USERPROFILE%`): ssh stops with
    /// `unknown key` before it connects.
    UnknownToken {
        value: String,
        token: String,
        at: String,
    },
    /// One line, naming a file that is there.
    One { path: PathBuf },
    /// How many more lines had a kind of problem already shown often enough; `fail` when
    /// one of them would stop the key or the login.
    More { count: usize, fail: bool },
}

impl NodeCheck for IdentityFiles {
    fn observe(v: &NodeView) -> Vec<Self> {
        let ids = v.eff.identity_assignments();
        if ids.is_empty() {
            return vec![IdentityFiles::Defaults];
        }
        let mut found = Vec::new();
        let usable =
            |p: &PathBuf| p.extension().is_none_or(|e| e != "pub") && std::fs::metadata(p).is_ok();
        let others = v.plan.identity_files.iter().any(usable);
        // Each kind of problem is shown at most MAX_ISSUES_SHOWN times, the rest counted.
        let (mut shown, mut more, mut more_fail) = ([0usize; 3], 0, false);
        for (a, path) in ids.iter().zip(&v.plan.identity_files) {
            let (kind, fails) = if unknown_percent_token(a.value()).is_some() {
                (0, true)
            } else if path.extension().is_some_and(|e| e == "pub") {
                (1, true)
            } else if std::fs::metadata(path).is_err() {
                (2, !others)
            } else {
                continue;
            };
            if shown[kind] == MAX_ISSUES_SHOWN {
                more += 1;
                more_fail |= fails;
                continue;
            }
            shown[kind] += 1;
            let (path, at) = (path.clone(), v.at(a));
            found.push(match unknown_percent_token(a.value()) {
                Some(token) => IdentityFiles::UnknownToken {
                    value: a.value().to_string(),
                    token,
                    at,
                },
                None if kind == 1 => IdentityFiles::PublicKey { path, at },
                None => IdentityFiles::NoSuchFile { path, at, others },
            });
        }
        if more > 0 {
            found.push(IdentityFiles::More {
                count: more,
                fail: more_fail,
            });
        }
        // Several keys are offered in turn only where several files are there.
        let offered: Vec<String> = ids
            .iter()
            .zip(&v.plan.identity_files)
            .filter(|(_, p)| usable(p))
            .map(|(a, _)| v.at(a))
            .collect();
        if offered.len() > 1 {
            found.push(IdentityFiles::Several { at: offered });
        } else if found.is_empty() {
            let path = v.plan.identity_files[0].clone();
            found.push(IdentityFiles::One { path });
        }
        found
    }

    fn finding(self, v: &NodeView) -> Finding {
        let (id, subject, ctx) = (CheckId::ConfigIdentityFile, &v.subject, v.ctx);
        match self {
            IdentityFiles::Defaults => Finding::pass(id, subject, "no IdentityFile: ssh tries the default key names (~/.ssh/id_ed25519, ~/.ssh/id_rsa, …)"),
            IdentityFiles::PublicKey { path, at } => {
                let private = ctx.show(&path.with_extension(""));
                Finding::fail(id, subject, format!("IdentityFile {} is a public key; ssh needs the private key file", ctx.show(&path)))
                    .remedy(Remedy::text(format!("Change {at} to `IdentityFile {private}`.")))
                    .with("at", at)
            }
            IdentityFiles::NoSuchFile { path, at, others: true } => Finding::warn(id, subject, format!("IdentityFile {} does not exist; ssh skips it and offers the other IdentityFile lines", ctx.show(&path)))
                .remedy(Remedy::text(format!("Remove the line at {at}, or correct it to the key you mean.")))
                .with("at", &at)
                .fact(Fact::IdentityMissing { at }),
            IdentityFiles::NoSuchFile { path, at, others: false } => Finding::fail(id, subject, format!("IdentityFile {} does not exist; ssh silently skips it", ctx.show(&path)))
                .remedy(Remedy::command(format!("Correct the path at {at} to your private key; this lists the keys you have:"), ctx.os.shell().list_dir(&ctx.shell_shown("~/.ssh"))))
                .with("at", &at)
                .fact(Fact::IdentityMissing { at }),
            IdentityFiles::Several { at } => Finding::warn(id, subject, format!("{} IdentityFile lines apply to `{}`: every key is offered in turn", at.len(), v.alias()))
                .detail(format!("Lines: {}. Each refused key counts against the server's limit of {} attempts.", some_of(&at), ctx.profile.policy.max_auth_tries()))
                .remedy(Remedy::text("Keep one IdentityFile for the login nodes (and `IdentitiesOnly yes`).")),
            IdentityFiles::One { path } => Finding::pass(id, subject, format!("IdentityFile {}", ctx.show(&path))),
            IdentityFiles::More { count, fail } => {
                let summary = format!("{count} more IdentityFile lines name a missing file, a public key or an unknown `%` token (each kind is listed at most {MAX_ISSUES_SHOWN} times)");
                let severity = if fail { Severity::Fail } else { Severity::Warn };
                Finding::new(id, severity, subject, summary)
                    .remedy(Remedy::text("Keep one IdentityFile for the login nodes, naming your private key, and remove the others."))
                    .with("more", count)
            }
            IdentityFiles::UnknownToken { value, token, at } => Finding::fail(id, subject, format!("IdentityFile {value} uses `{token}`, which OpenSSH does not know: ssh stops (`unknown key`) before it connects"))
                .remedy(Remedy::text(format!("Write the path at {at} with `~` for your home (`~/.ssh/…`); OpenSSH's tokens are `%d` (home), `%u` (local user), `%h`, `%r`, `%%`, and environment variables as `${{NAME}}`.")))
                .with("at", at),
        }
    }
}

/// The first MAX_ISSUES_SHOWN of a list joined with `, `, and how many more.
fn some_of(items: &[String]) -> String {
    let shown = items[..items.len().min(MAX_ISSUES_SHOWN)].join(", ");
    match items.len().saturating_sub(MAX_ISSUES_SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The first `%` token of an IdentityFile value that OpenSSH does not expand (it knows
/// `%% %C %d %h %i %j %k %L %l %n %p %r %u`), e.g. `%U` of `%USERPROFILE%`.
fn unknown_percent_token(value: &str) -> Option<String> {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some(k) if "%CdhijkLlnpru".contains(k) => {}
            Some(k) => return Some(format!("%{k}")),
            None => return Some("%".into()),
        }
    }
    None
}

/// The settings `config.precedence` follows: those that decide how ssh logs in.
const PRECEDENCE_KEYWORDS: &[&str] = &[
    "user",
    "hostname",
    "port",
    "identitiesonly",
    "batchmode",
    "preferredauthentications",
    "proxyjump",
    "proxycommand",
    "kbdinteractiveauthentication",
    "pubkeyauthentication",
    "stricthostkeychecking",
    "identityagent",
    "userknownhostsfile",
];

/// `config.precedence`: a setting of the alias's own block that an earlier, broader
/// block (`Host *`, the top of the file) sets first.
enum Precedence {
    Shadowed {
        /// Lowercase, as in [`PRECEDENCE_KEYWORDS`].
        keyword: &'static str,
        /// The value that wins, and the one in the alias's block that loses.
        winner: Assignment,
        loser: Assignment,
    },
    /// Nothing shadowed, in a defined alias.
    Clear,
}

impl NodeCheck for Precedence {
    fn observe(v: &NodeView) -> Vec<Self> {
        let specific = |a: &Assignment| a.block.is_some_and(|b| v.eff.specific_blocks.contains(&b));
        let mut found = Vec::new();
        for &keyword in PRECEDENCE_KEYWORDS {
            let all = v.eff.all(keyword);
            let Some(first) = all.first().filter(|a| !specific(a)) else {
                continue;
            };
            let loser = all
                .iter()
                .skip(1)
                .find(|a| specific(a) && a.args != first.args);
            if let Some(loser) = loser {
                found.push(Precedence::Shadowed {
                    keyword,
                    winner: first.clone(),
                    loser: loser.clone(),
                });
            }
        }
        if found.is_empty() && v.defined() {
            found.push(Precedence::Clear);
        }
        found
    }

    fn finding(self, v: &NodeView) -> Finding {
        let id = CheckId::ConfigPrecedence;
        let Precedence::Shadowed {
            keyword,
            winner,
            loser,
        } = self
        else {
            return Finding::pass(
                id,
                &v.subject,
                "no earlier block overrides the alias's settings",
            );
        };
        let block = match winner.block {
            Some((f, l)) => {
                v.cs.config
                    .line(f, l)
                    .map(|x| format!("`{}`", x.text))
                    .unwrap_or_default()
            }
            None => "the top of the file (outside any Host block)".to_string(),
        };
        let (win_at, lose_at) = (v.at(&winner), v.at(&loser));
        let canonical = canonical(keyword);
        let (win, lose) = (winner.value(), loser.value());
        Finding::warn(id, &v.subject, format!("{canonical} {win} at {win_at} (in {block}) wins over {canonical} {lose} at {lose_at}"))
            .detail("OpenSSH takes the first value it finds for each setting, so the line in the alias's own block is silently ignored.")
            .remedy(Remedy::text(format!("Move the block containing {win_at} to the end of the file, or delete that {canonical} line.")))
            .with("winner", serde_json::json!({"at": win_at, "value": win}))
            .with("overridden", serde_json::json!({"at": lose_at, "value": lose}))
            .fact(Fact::Shadowed(keyword.to_string()))
    }
}

/// A keyword as OpenSSH's documentation spells it (`PubkeyAuthentication`).
fn canonical(keyword: &str) -> &str {
    crate::sshconfig::keywords::lookup(keyword)
        .map(|k| k.canonical)
        .unwrap_or(keyword)
}

/// `config.auth-override`: a setting that keeps ssh from offering the key or from
/// answering the second factor's prompt.
enum AuthOverride {
    /// The setting as written (`BatchMode yes`), where, and what it blocks.
    Blocked {
        setting: String,
        at: String,
        blocks: Blocks,
    },
    /// Nothing blocks either.
    Clear,
}

/// What an authentication setting blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocks {
    /// `PubkeyAuthentication no`: the only method the nodes accept.
    PublicKey,
    /// PreferredAuthentications without `publickey`.
    PublicKeyNotListed,
    /// `BatchMode yes`: ssh may not ask for the code.
    Prompt,
    /// Keyboard-interactive turned off: the code is asked for that way.
    KeyboardInteractive,
    /// PreferredAuthentications without `keyboard-interactive`.
    PromptNotListed,
}

impl NodeCheck for AuthOverride {
    fn observe(v: &NodeView) -> Vec<Self> {
        let eff = v.eff;
        let mut found = Vec::new();
        let mut blocked = |setting: String, keyword: &str, blocks: Blocks| {
            let at = eff.first(keyword).map(|a| v.at(a)).unwrap_or_default();
            found.push(AuthOverride::Blocked {
                setting,
                at,
                blocks,
            });
        };
        let pref = eff.preferred_authentications();
        let lists = |method: &str| pref.is_none_or(|p| p.split(',').any(|m| m == method));
        let pref_setting = || format!("PreferredAuthentications {}", pref.unwrap_or(""));
        if eff.flag("pubkeyauthentication") == Some(false) {
            let setting = "PubkeyAuthentication no".to_string();
            blocked(setting, "pubkeyauthentication", Blocks::PublicKey);
        }
        if !lists("publickey") {
            let keyword = "preferredauthentications";
            blocked(pref_setting(), keyword, Blocks::PublicKeyNotListed);
        }
        if v.ctx.profile.policy.second_factor().is_some() {
            if eff.flag("batchmode") == Some(true) {
                blocked("BatchMode yes".to_string(), "batchmode", Blocks::Prompt);
            }
            for keyword in [
                "kbdinteractiveauthentication",
                "challengeresponseauthentication",
            ] {
                if eff.flag(keyword) == Some(false) {
                    let setting = format!("{} no", canonical(keyword));
                    blocked(setting, keyword, Blocks::KeyboardInteractive);
                }
            }
            if !lists("keyboard-interactive") {
                let keyword = "preferredauthentications";
                blocked(pref_setting(), keyword, Blocks::PromptNotListed);
            }
        }
        if found.is_empty() {
            return vec![AuthOverride::Clear];
        }
        found
    }

    fn finding(self, v: &NodeView) -> Finding {
        let id = CheckId::ConfigAuthOverride;
        let AuthOverride::Blocked {
            setting,
            at,
            blocks,
        } = self
        else {
            return Finding::pass(
                id,
                &v.subject,
                "no setting blocks public key or the TOTP prompt",
            );
        };
        let why = match blocks {
            Blocks::PublicKey => "the login nodes accept only public keys",
            Blocks::PublicKeyNotListed => "publickey is not in the list",
            Blocks::Prompt => "ssh may not ask for the TOTP code",
            Blocks::KeyboardInteractive => "the TOTP code is asked for with keyboard-interactive",
            Blocks::PromptNotListed => "keyboard-interactive (the TOTP prompt) is not in the list",
        };
        Finding::fail(id, &v.subject, format!("`{setting}` at {at}: {why}"))
            .remedy(Remedy::text(format!(
                "Remove `{setting}` from the settings that apply to `{}` ({at}).",
                v.alias()
            )))
            .with("setting", setting)
            .with("at", at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sshconfig::{evaluate, EvalInput};
    use std::collections::BTreeMap;
    use std::path::Path;

    /// What a per-node check observes for `slurm` when `text` is `~/.ssh/config`.
    fn observed<C: NodeCheck>(text: &str) -> Vec<C> {
        with_view(text, |view| C::observe(view))
    }

    /// The findings of a per-node check for `slurm` when `text` is `~/.ssh/config`.
    fn findings_of<C: NodeCheck>(text: &str) -> Vec<Finding> {
        with_view(text, |view| {
            C::observe(view)
                .into_iter()
                .map(|c| c.finding(view))
                .collect()
        })
    }

    /// `f` on the view of `slurm` when `text` is `~/.ssh/config`.
    fn with_view<R>(text: &str, f: impl FnOnce(&NodeView) -> R) -> R {
        let ctx = Context::for_home(Path::new("/h"), crate::profile::Profile::embedded());
        let config = crate::sshconfig::tests_support::load_str(text);
        let input = EvalInput {
            alias: "slurm",
            local_user: "tester",
        };
        let eff = evaluate(&config, &input);
        let cs = ConfigState {
            path: "/h/.ssh/config".into(),
            exists: true,
            config,
            effective: BTreeMap::from([("slurm".to_string(), eff)]),
        };
        let state = RunState::default();
        let node = ctx.profile.node("slurm").unwrap();
        let view = NodeView {
            ctx: &ctx,
            state: &state,
            cs: &cs,
            node,
            eff: &cs.effective["slurm"],
            plan: cs.plan(&ctx, node),
            subject: "Host slurm".into(),
        };
        f(&view)
    }

    #[test]
    fn advice_names_the_block_that_holds_the_alias() {
        let remedy = |text: &str| {
            findings_of::<UserSetting>(text)[0]
                .remedy
                .as_ref()
                .unwrap()
                .text
                .clone()
        };
        assert!(remedy("Host slurm\n  HostName h\n").contains("to the `Host slurm` block"));
        assert!(
            remedy("Match host slurm\n  HostName h\n")
                .contains("to the `Match` block at ~/.ssh/config:1"),
            "{}",
            remedy("Match host slurm\n  HostName h\n")
        );
        assert!(remedy("Host *\n  HostName h\n").contains("a `Host slurm` block of its own"));
    }

    #[test]
    fn users_are_judged_by_kind() {
        let judged = |text: &str| match observed::<UserSetting>(text).as_slice() {
            [UserSetting::Given { judged, .. }] => Some(*judged),
            [UserSetting::Absent { .. }] => None,
            _ => panic!("one config.user fact per node"),
        };
        assert_eq!(judged("Host slurm\n  User pbb111\n"), Some(UserValue::Set));
        assert_eq!(
            judged("Host slurm\n  User ml-cloud-user-id\n"),
            Some(UserValue::Placeholder)
        );
        assert_eq!(
            judged("Host slurm\n  User ana@uni-tuebingen.de\n"),
            Some(UserValue::Email)
        );
        assert_eq!(judged("Host slurm\n  User Ana\n"), Some(UserValue::Unusual));
        assert_eq!(judged("Host slurm\n  HostName x\n"), None);
    }

    #[test]
    fn an_earlier_host_star_shadows_the_alias_block() {
        let found = observed::<Precedence>("Host *\n  User abc123\n\nHost slurm\n  User pbb111\n");
        let [Precedence::Shadowed {
            keyword,
            winner,
            loser,
        }] = found.as_slice()
        else {
            panic!("one shadowed setting");
        };
        assert_eq!(*keyword, "user");
        assert_eq!((winner.value(), winner.line), ("abc123", 2));
        assert_eq!((loser.value(), loser.line), ("pbb111", 5));
        let found = observed::<Precedence>("Host slurm\n  User pbb111\n\nHost *\n  User abc123\n");
        assert!(matches!(found.as_slice(), [Precedence::Clear]));
        assert!(observed::<Precedence>("Host *\n  User abc123\n").is_empty());
    }

    #[test]
    fn settings_that_block_the_key_or_the_second_factor_are_named() {
        let blocks = |text: &str| -> Vec<Option<Blocks>> {
            observed::<AuthOverride>(text)
                .into_iter()
                .map(|found| match found {
                    AuthOverride::Blocked { blocks, .. } => Some(blocks),
                    AuthOverride::Clear => None,
                })
                .collect()
        };
        assert_eq!(blocks("Host slurm\n  User pbb111\n"), [None]);
        assert_eq!(
            blocks("Host slurm\n  PubkeyAuthentication no\n  KbdInteractiveAuthentication no\n"),
            [Some(Blocks::PublicKey), Some(Blocks::KeyboardInteractive)]
        );
        assert_eq!(
            blocks("Host *\n  BatchMode yes\n  PreferredAuthentications password\n"),
            [
                Some(Blocks::PublicKeyNotListed),
                Some(Blocks::Prompt),
                Some(Blocks::PromptNotListed)
            ]
        );
    }

    #[test]
    fn host_names_and_identity_files_are_observed_with_their_lines() {
        let found = observed::<HostName>("Host slurm\n  HostName other.example\n");
        let [HostName::Other { host, at }] = found.as_slice() else {
            panic!("another host name");
        };
        assert_eq!(
            (host.as_str(), at.as_str()),
            ("other.example", "~/.ssh/config:2")
        );
        let found = observed::<HostName>("Host slurm\n  User pbb111\n");
        assert!(matches!(found.as_slice(), [HostName::Missing]));
        assert!(observed::<HostName>("Host other\n  User pbb111\n").is_empty());

        let found = observed::<IdentityFiles>(
            "Host slurm\n  IdentityFile ~/.ssh/id_ed25519.pub\n  IdentityFile ~/.ssh/none\n",
        );
        assert!(matches!(
            found.as_slice(),
            // Neither can be offered: no "several keys in turn", no other to fall back on.
            [
                IdentityFiles::PublicKey { .. },
                IdentityFiles::NoSuchFile { others: false, .. }
            ]
        ));
        let found = observed::<IdentityFiles>("Host slurm\n  User pbb111\n");
        assert!(matches!(found.as_slice(), [IdentityFiles::Defaults]));
    }
}
