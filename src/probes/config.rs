//! `config.*`: the user's ssh_config, evaluated as OpenSSH would for each login node.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::check::CheckId;
use crate::context::Context;
use crate::fact::{Fact, UserValue};
use crate::finding::{Finding, Remedy};
use crate::probes::{NodePlan, Proxy};
use crate::profile::Node;
use crate::runner::RunState;
use crate::settings::OpenSshChoice;
use crate::sshconfig::{evaluate, Config, Disk, Effective, EvalInput, IncludeIssue};

/// What the config probe learnt.
#[derive(Debug, Clone, Default)]
pub struct ConfigState {
    /// `~/.ssh/config`.
    pub path: PathBuf,
    pub exists: bool,
    /// The whole config tree (user's, then system-wide).
    pub config: Config,
    /// Alias → effective settings.
    pub effective: BTreeMap<String, Effective>,
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

impl ConfigState {
    /// The plan for a node from the profile alone (no config).
    pub fn profile_plan(ctx: &Context, node: &Node) -> NodePlan {
        NodePlan {
            alias: node.alias().to_string(),
            hostname: node.hostname().to_string(),
            port: node.port(),
            user: ctx.user_override.clone(),
            region: node.region.clone(),
            identity_files: vec![],
            identities_only: false,
            known_hosts_files: vec![
                ctx.ssh_dir().join("known_hosts"),
                ctx.ssh_dir().join("known_hosts2"),
            ],
            proxy: None,
            host_key_pins: node.host_keys().to_vec(),
        }
    }

    /// The plan for a node: the effective config, the profile filling the gaps.
    pub fn plan(&self, ctx: &Context, node: &Node) -> NodePlan {
        let mut plan = Self::profile_plan(ctx, node);
        let Some(eff) = self.effective.get(node.alias()) else {
            return plan;
        };
        if eff.get("hostname").is_some() {
            plan.hostname = eff.hostname(node.alias());
        }
        if eff.get("port").is_some() {
            plan.port = eff.port();
        }
        if let Some(u) = eff.user() {
            plan.user = Some(u.to_string());
        }
        let user = plan.user.clone().unwrap_or_else(|| ctx.local_user.clone());
        let tokens = Tokens {
            ctx,
            alias: node.alias(),
            host: &plan.hostname,
            user: &user,
            port: plan.port,
        };
        plan.identity_files = eff
            .identity_files()
            .iter()
            .map(|f| tokens.path(f))
            .collect();
        plan.identities_only = eff.flag("identitiesonly").unwrap_or(false);
        if let Some(files) = eff.first("userknownhostsfile") {
            if !files.value().eq_ignore_ascii_case("none") {
                plan.known_hosts_files = files.args.iter().map(|f| tokens.path(f)).collect();
            }
        }
        if let Some(jump) = eff
            .get("proxyjump")
            .filter(|v| !v.eq_ignore_ascii_case("none"))
        {
            plan.proxy = Some(Proxy {
                kind: "ProxyJump",
                value: jump.to_string(),
                first_hop: first_hop(jump),
            });
        } else if let Some(cmd) = eff
            .get("proxycommand")
            .filter(|v| !v.eq_ignore_ascii_case("none"))
        {
            plan.proxy = Some(Proxy {
                kind: "ProxyCommand",
                value: cmd.to_string(),
                first_hop: None,
            });
        }
        plan
    }

    fn shown(&self, ctx: &Context, file: usize, line: usize) -> String {
        match self.config.files.get(file) {
            Some(f) => format!("{}:{line}", ctx.show(&f.path)),
            None => format!("?:{line}"),
        }
    }
}

/// A User in the user's config that has the site's username shape.
pub fn username_in_config(ctx: &Context, cs: &ConfigState) -> Option<String> {
    let re = ctx.profile.username_regex()?;
    cs.config
        .files
        .iter()
        .filter(|f| !f.system)
        .flat_map(|f| f.parsed.lines.iter())
        .find_map(|l| match &l.kind {
            crate::sshconfig::LineKind::Option {
                keyword: "user",
                args,
            } => args.first().filter(|a| re.is_match(a)).cloned(),
            _ => None,
        })
}

/// `[user@]host[:port]` of the first ProxyJump hop.
pub fn first_hop(value: &str) -> Option<(String, u16)> {
    let first = value.split(',').next()?.trim();
    let first = first.strip_prefix("ssh://").unwrap_or(first);
    let host_port = first.rsplit_once('@').map(|(_, h)| h).unwrap_or(first);
    if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(22);
        return Some((host.to_string(), port));
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) => Some((h.to_string(), p.parse().ok()?)),
        None => Some((host_port.to_string(), 22)),
    }
}

/// The `%` tokens and `~` OpenSSH expands in file paths.
pub struct Tokens<'a> {
    pub ctx: &'a Context,
    pub alias: &'a str,
    pub host: &'a str,
    pub user: &'a str,
    pub port: u16,
}

impl Tokens<'_> {
    /// Expands `~`, `%d %u %h %r %p %n %l %i %%` in a path.
    pub fn path(&self, value: &str) -> PathBuf {
        let home = self.ctx.home.to_string_lossy();
        let mut out = String::new();
        let mut chars = value.chars().peekable();
        if value == "~" || value.starts_with("~/") {
            out.push_str(&home);
            chars.next();
        }
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('d') => out.push_str(&home),
                Some('u') => out.push_str(&self.ctx.local_user),
                Some('h') => out.push_str(self.host),
                Some('r') => out.push_str(self.user),
                Some('p') => out.push_str(&self.port.to_string()),
                Some('n') => out.push_str(self.alias),
                Some('l') => out.push_str(&self.ctx.local_host),
                Some('i') => out.push_str(&self.ctx.uid.to_string()),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        PathBuf::from(out)
    }
}

/// Loads and evaluates the config; produces every `config.*` finding but `openssh-agrees`.
pub fn run(ctx: &Context, state: &mut RunState) {
    let path = ctx.ssh_dir().join("config");
    let version = state.openssh.as_ref().map(|o| (o.major, o.minor));
    let exists = std::fs::symlink_metadata(&path).is_ok();
    let config = Config::load(
        &Disk,
        exists.then_some(path.as_path()),
        ctx.system_config.as_deref(),
        &ctx.home,
        version,
    );
    let mut cs = ConfigState {
        path: path.clone(),
        exists,
        config,
        effective: BTreeMap::new(),
    };
    for alias in &ctx.nodes {
        let eff = evaluate(
            &cs.config,
            &EvalInput {
                alias,
                local_user: &ctx.local_user,
            },
        );
        cs.effective.insert(alias.clone(), eff);
    }
    let user_loaded = exists && cs.config.files.first().is_some_and(|f| !f.system);
    let mut findings = Vec::new();
    if !exists {
        findings.push(
            Finding::warn(CheckId::ConfigPresent, "~/.ssh/config", "there is no ~/.ssh/config: `ssh slurm` cannot know the short names")
                .detail(if ctx.user_override.is_some() { "Add one Host block per login node. The block below uses your key, the profile's node names and the username you gave (--user). `mlc-doctor fix` writes it for you." } else { "Add one Host block per login node. The block below uses your key and the profile's node names; run the doctor with `--user NAME` to have your cluster username filled in, or `mlc-doctor fix --user NAME` to write the file for you." })
                .remedy(Remedy::command(ctx.os.create_config_words(), suggested_block(ctx, state, &ctx.nodes, None)))
                .with("path", ctx.show(&path))
                .fact(Fact::NoConfig { user_known: ctx.user_override.is_some() }),
        );
    } else if !user_loaded {
        let why = match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => "is a directory".to_string(),
            Ok(m) if !m.is_file() => "is not a regular file (a pipe or a device)".to_string(),
            Ok(_) => "cannot be read".to_string(),
            Err(e) => e.to_string(),
        };
        findings.push(
            Finding::fail(
                CheckId::ConfigPresent,
                "~/.ssh/config",
                format!("~/.ssh/config exists but {why}"),
            )
            .detail("OpenSSH stops when it cannot read its config.")
            .remedy(Remedy::text(
                "Make ~/.ssh/config a readable regular file (mode 600).",
            ))
            .with("error", why),
        );
    } else {
        let f = &cs.config.files[0];
        let included = cs.config.files.iter().filter(|f| !f.system).count() - 1;
        findings.push(
            Finding::pass(
                CheckId::ConfigPresent,
                "~/.ssh/config",
                format!(
                    "~/.ssh/config has {} setting lines{}",
                    f.parsed.lines.len(),
                    if included > 0 {
                        format!(" and includes {included} file(s)")
                    } else {
                        String::new()
                    }
                ),
            )
            .with("lines", f.parsed.lines.len())
            .with("included_files", included),
        );
    }

    syntax_findings(ctx, &cs, &mut findings);
    include_findings(ctx, &cs, &mut findings);
    for alias in &ctx.nodes {
        if let Some(node) = ctx.profile.node(alias) {
            node_findings(ctx, state, &cs, node, &mut findings);
        }
    }
    state.push(findings);
    state.artifacts.insert(
        "ssh/config.txt".into(),
        config_listing(ctx, &cs).into_bytes(),
    );
    for alias in &ctx.nodes {
        if let (Some(eff), Some(node)) = (cs.effective.get(alias), ctx.profile.node(alias)) {
            let text = effective_listing(ctx, &cs, eff, &cs.plan(ctx, node));
            state
                .artifacts
                .insert(format!("ssh/effective/{alias}.txt"), text.into_bytes());
        }
    }
    state.config = Some(cs);
}

/// At most this many `config.syntax` findings per file and kind of problem; the rest
/// are counted in one more finding, so a huge broken file stays readable and cheap.
const MAX_ISSUES_SHOWN: usize = 10;

fn syntax_findings(ctx: &Context, cs: &ConfigState, out: &mut Vec<Finding>) {
    use crate::sshconfig::IssueKind;
    let mut any = false;
    for file in &cs.config.files {
        let shown = ctx.show(&file.path);
        let p = ctx.shell_path(&file.path);
        // A file that is not text is one problem with one fix, not one per line.
        let not_text = file
            .parsed
            .issues
            .iter()
            .find(|is| matches!(is.kind, IssueKind::Binary | IssueKind::TooLarge { .. }));
        if let Some(issue) = not_text {
            any = true;
            out.push(
                Finding::fail(CheckId::ConfigSyntax, &shown, format!("{shown} is not a text config: {}", issue.kind.describe()))
                    .detail("Whatever this file is, OpenSSH cannot use it as a config. Move it aside and write a new config (see config.present for the block to paste).")
                    .remedy(Remedy::command("Move the file aside (nothing is deleted):", format!("mv {p} {p}.broken")))
                    .with("file", &shown)
                    .with("line", issue.line)
                    .with("bytes", file.bytes.len())
                    .with("system", file.system),
            );
            continue;
        }
        let mut per_kind: std::collections::HashMap<std::mem::Discriminant<IssueKind>, usize> =
            std::collections::HashMap::new();
        let mut more = 0usize;
        for issue in &file.parsed.issues {
            // Apple's ssh knows UseKeychain; which ssh runs decides (Homebrew's does not).
            if let crate::sshconfig::IssueKind::BadOption { word, .. } = &issue.kind {
                if crate::platform::macos::is_apple_only(word) {
                    let ssh = crate::probes::env::client_path(ctx).ok();
                    if crate::platform::macos::accepts(ctx.os, ssh.as_deref(), word) {
                        continue;
                    }
                }
            }
            any = true;
            let seen = per_kind
                .entry(std::mem::discriminant(&issue.kind))
                .or_default();
            *seen += 1;
            if *seen > MAX_ISSUES_SHOWN {
                more += 1;
                continue;
            }
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
            out.push(
                f.remedy(remedy)
                    .with("file", &shown)
                    .with("line", issue.line)
                    .with("shape", shape)
                    .with("system", file.system),
            );
        }
        if more > 0 {
            out.push(
                Finding::fail(
                    CheckId::ConfigSyntax,
                    &shown,
                    format!("and {more} more lines like these in {shown}"),
                )
                .detail("Only the first few lines of each kind of problem are listed.")
                .remedy(Remedy::text(format!(
                    "If {shown} is not meant to be an ssh config, move it aside: mv {p} {p}.broken"
                )))
                .with("file", &shown)
                .with("more", more)
                .with("system", file.system),
            );
        }
    }
    if !any && cs.exists {
        out.push(Finding::pass(
            CheckId::ConfigSyntax,
            "~/.ssh/config",
            format!(
                "{} file(s) read without a syntax problem",
                cs.config.files.len()
            ),
        ));
    }
}

/// Line `n` (1-based) of a file as read, lossily decoded.
fn raw_line(file: &crate::sshconfig::ConfigFile, n: usize) -> Option<String> {
    file.bytes
        .split(|b| *b == b'\n')
        .nth(n.checked_sub(1)?)
        .map(|l| String::from_utf8_lossy(l).into_owned())
}

fn include_findings(ctx: &Context, cs: &ConfigState, out: &mut Vec<Finding>) {
    let count = cs
        .config
        .files
        .iter()
        .filter(|f| !f.system)
        .map(|f| f.includes.len())
        .sum::<usize>();
    for issue in &cs.config.include_issues {
        // A distribution's empty ssh_config.d is normal; only the user's own Includes count.
        if let IncludeIssue::NoMatch { file, .. } = issue {
            if cs.config.files.get(*file).is_some_and(|f| f.system) {
                continue;
            }
        }
        let f = match issue {
            IncludeIssue::NoMatch { file, line, pattern } => Finding::warn(CheckId::ConfigInclude, cs.shown(ctx, *file, *line), format!("`Include {pattern}` matches no file: the settings it should bring are missing"))
                .remedy(Remedy::text("Correct the path (relative paths are under ~/.ssh) or remove the line.")),
            IncludeIssue::Loop { file, line, target } => Finding::fail(CheckId::ConfigInclude, cs.shown(ctx, *file, *line), format!("Include loop: this line includes {} again, which includes this file", ctx.show(target)))
                .detail("OpenSSH follows the loop until `Too many recursive configuration includes` and stops.")
                .remedy(Remedy::text("Remove the Include that points back to a file that includes it.")),
            IncludeIssue::Depth { file, line } => Finding::fail(CheckId::ConfigInclude, cs.shown(ctx, *file, *line), format!("Includes are nested deeper than OpenSSH's limit of {}", crate::sshconfig::MAX_DEPTH))
                .remedy(Remedy::text("Flatten the Include chain.")),
            IncludeIssue::Unreadable { file, line, target, error } => Finding::fail(CheckId::ConfigInclude, cs.shown(ctx, *file, *line), format!("included file {} cannot be read: {error}", ctx.show(target)))
                .remedy(Remedy::text("Make the file readable by you, or remove the Include.")),
        };
        out.push(f);
    }
    if !out.iter().any(|f| f.id == CheckId::ConfigInclude) && count > 0 {
        out.push(Finding::pass(
            CheckId::ConfigInclude,
            "~/.ssh/config",
            format!(
                "{count} Include line(s) resolve to {} file(s)",
                cs.config
                    .files
                    .iter()
                    .filter(|f| !f.system)
                    .count()
                    .saturating_sub(1)
            ),
        ));
    }
}

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

fn node_findings(
    ctx: &Context,
    state: &RunState,
    cs: &ConfigState,
    node: &Node,
    out: &mut Vec<Finding>,
) {
    let alias = node.alias();
    let Some(eff) = cs.effective.get(alias) else {
        return;
    };
    let subject = format!("Host {alias}");
    let plan = cs.plan(ctx, node);
    let defined = !eff.specific_blocks.is_empty();

    // config.alias
    if defined {
        let (f, l) = eff.specific_blocks[0];
        out.push(
            Finding::pass(
                CheckId::ConfigAlias,
                &subject,
                format!("`{alias}` is defined at {}", cs.shown(ctx, f, l)),
            )
            .node(alias),
        );
    } else if cs.exists {
        out.push(
            Finding::warn(CheckId::ConfigAlias, &subject, format!("`{alias}` is not defined in your config: `ssh {alias}` will not find the login node"))
                .remedy(Remedy::command("Add this block to ~/.ssh/config:", suggested_block(ctx, state, &[alias.to_string()], username_in_config(ctx, cs))))
                .node(alias),
        );
    }

    // config.hostname
    match eff.first("hostname") {
        Some(a) => {
            let host = eff.hostname(alias);
            if host.eq_ignore_ascii_case(node.hostname()) {
                out.push(Finding::pass(CheckId::ConfigHostname, &subject, format!("HostName is {host}")).node(alias));
            } else {
                out.push(
                    Finding::warn(CheckId::ConfigHostname, &subject, format!("HostName is {host}, not the profile's {}", node.hostname()))
                        .detail(format!("Set at {}.", cs.shown(ctx, a.file, a.line)))
                        .remedy(Remedy::text(format!("Set `HostName {}` in the `Host {alias}` block unless support told you otherwise.", node.hostname())))
                        .with("configured", &host)
                        .with("expected", node.hostname())
                        .node(alias),
                );
            }
        }
        None if defined => out.push(
            Finding::fail(CheckId::ConfigHostname, &subject, format!("`{alias}` has no HostName: ssh would look up `{alias}` as a machine name, which does not exist"))
                .remedy(Remedy::text(format!("Add `HostName {}` to the `Host {alias}` block.", node.hostname())))
                .with("expected", node.hostname())
                .node(alias),
        ),
        None => {}
    }

    // config.user
    match eff.first("user") {
        Some(a) => {
            let user = a.value();
            let at = cs.shown(ctx, a.file, a.line);
            let pattern = ctx.profile.username_regex();
            let f = if is_placeholder(ctx, user) {
                Finding::fail(CheckId::ConfigUser, &subject, format!("User is `{user}`, a placeholder from the guide, not your username"))
                    .detail(format!("Set at {at}. The server refuses every key for an unknown user, exactly as if your key were not deployed."))
                    .remedy(Remedy::text(format!("Replace `{user}` with your cluster username (from your account e-mail) at {at}.")))
                    .fact(Fact::User(UserValue::Placeholder))
            } else if user.contains('@') {
                Finding::fail(CheckId::ConfigUser, &subject, format!("User `{user}` is an e-mail address, not a cluster username"))
                    .detail(format!("Set at {at}."))
                    .remedy(Remedy::text(format!("Use your cluster username (e.g. pbb111) instead of your e-mail address at {at}.")))
                    .fact(Fact::User(UserValue::Email))
            } else if pattern.as_ref().is_some_and(|p| !p.is_match(user)) {
                Finding::warn(
                    CheckId::ConfigUser,
                    &subject,
                    format!(
                        "User `{user}` does not look like a {} username ({})",
                        ctx.profile.name,
                        ctx.profile
                            .username_pattern
                            .as_ref()
                            .map(|p| p.get_ref().as_str())
                            .unwrap_or("")
                    ),
                )
                .detail(format!("Set at {at}."))
                .remedy(Remedy::text("Check the username in your account e-mail."))
                .fact(Fact::User(UserValue::Unusual))
            } else {
                Finding::pass(CheckId::ConfigUser, &subject, format!("User is {user}"))
                    .fact(Fact::User(UserValue::Set))
            };
            out.push(f.with("user", user).with("at", at).node(alias));
        }
        None => {
            let sent = ctx
                .user_override
                .clone()
                .unwrap_or_else(|| ctx.local_user.clone());
            let extra = if ctx.user_override.is_some() {
                " (the doctor uses --user for its own probes)"
            } else {
                ""
            };
            let (local, note) = ctx.os.login_name_sent(&ctx.local_user, &ctx.env);
            let mut f = Finding::warn(
                CheckId::ConfigUser,
                &subject,
                format!(
                    "no User for `{alias}`: ssh would send your local login name `{local}`{extra}"
                ),
            );
            if let Some(note) = note {
                f = f.detail(note);
            }
            out.push(
                f.remedy(Remedy::text(format!(
                    "Add `User <your cluster username>` to the `Host {alias}` block."
                )))
                .with("sent", sent)
                .fact(Fact::User(UserValue::Missing))
                .node(alias),
            );
        }
    }

    // config.identity-file
    let ids = eff.identity_assignments();
    if ids.is_empty() {
        out.push(Finding::pass(CheckId::ConfigIdentityFile, &subject, "no IdentityFile: ssh tries the default key names (~/.ssh/id_ed25519, ~/.ssh/id_rsa, …)").node(alias));
    } else {
        let mut problems = 0;
        for (a, path) in ids.iter().zip(&plan.identity_files) {
            let at = cs.shown(ctx, a.file, a.line);
            let shown = ctx.show(path);
            if path.extension().is_some_and(|e| e == "pub") {
                problems += 1;
                let private = path.with_extension("");
                out.push(
                    Finding::fail(
                        CheckId::ConfigIdentityFile,
                        &subject,
                        format!(
                            "IdentityFile {shown} is a public key; ssh needs the private key file"
                        ),
                    )
                    .remedy(Remedy::text(format!(
                        "Change {at} to `IdentityFile {}`.",
                        ctx.show(&private)
                    )))
                    .with("at", at)
                    .node(alias),
                );
            } else if std::fs::metadata(path).is_err() {
                problems += 1;
                out.push(
                    Finding::fail(CheckId::ConfigIdentityFile, &subject, format!("IdentityFile {shown} does not exist; ssh silently skips it"))
                        .remedy(Remedy::command(format!("Correct the path at {at} to your private key; this lists the keys you have:"), "ls -l ~/.ssh"))
                        .with("at", at)
                        .node(alias),
                );
            }
        }
        if ids.len() > 1 {
            out.push(
                Finding::warn(
                    CheckId::ConfigIdentityFile,
                    &subject,
                    format!(
                        "{} IdentityFile lines apply to `{alias}`: every key is offered in turn",
                        ids.len()
                    ),
                )
                .detail(format!(
                    "Lines: {}. Each refused key counts against the server's limit of 6 attempts.",
                    ids.iter()
                        .map(|a| cs.shown(ctx, a.file, a.line))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .remedy(Remedy::text(
                    "Keep one IdentityFile for the login nodes (and `IdentitiesOnly yes`).",
                ))
                .node(alias),
            );
        } else if problems == 0 {
            out.push(
                Finding::pass(
                    CheckId::ConfigIdentityFile,
                    &subject,
                    format!("IdentityFile {}", ctx.show(&plan.identity_files[0])),
                )
                .node(alias),
            );
        }
    }

    // config.precedence
    let mut overridden = false;
    for kw in [
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
    ] {
        let all = eff.all(kw);
        let Some(first) = all.first() else { continue };
        let first_specific = first
            .block
            .is_some_and(|b| eff.specific_blocks.contains(&b));
        if first_specific {
            continue;
        }
        if let Some(loser) = all.iter().skip(1).find(|a| {
            a.block.is_some_and(|b| eff.specific_blocks.contains(&b)) && a.args != first.args
        }) {
            overridden = true;
            let block_of = |a: &crate::sshconfig::Assignment| match a.block {
                Some((f, l)) => cs
                    .config
                    .line(f, l)
                    .map(|x| format!("`{}`", x.text))
                    .unwrap_or_default(),
                None => "the top of the file (outside any Host block)".to_string(),
            };
            let win_at = cs.shown(ctx, first.file, first.line);
            let lose_at = cs.shown(ctx, loser.file, loser.line);
            let canonical = crate::sshconfig::keywords::lookup(kw)
                .map(|k| k.canonical)
                .unwrap_or(kw);
            out.push(
                Finding::warn(CheckId::ConfigPrecedence, &subject, format!("{canonical} {} at {win_at} (in {}) wins over {canonical} {} at {lose_at}", first.value(), block_of(first), loser.value()))
                    .detail("OpenSSH takes the first value it finds for each setting, so the line in the alias's own block is silently ignored.")
                    .remedy(Remedy::text(format!("Move the block containing {win_at} to the end of the file, or delete that {canonical} line.")))
                    .with("winner", serde_json::json!({"at": win_at, "value": first.value()}))
                    .with("overridden", serde_json::json!({"at": lose_at, "value": loser.value()}))
                    .fact(Fact::Shadowed(kw.to_string()))
                    .node(alias),
            );
        }
    }
    if !overridden && defined {
        out.push(
            Finding::pass(
                CheckId::ConfigPrecedence,
                &subject,
                "no earlier block overrides the alias's settings",
            )
            .node(alias),
        );
    }

    // config.auth-override
    let mut blocked = Vec::new();
    let at = |kw: &str| {
        eff.first(kw)
            .map(|a| cs.shown(ctx, a.file, a.line))
            .unwrap_or_default()
    };
    if eff.flag("pubkeyauthentication") == Some(false) {
        blocked.push((
            "PubkeyAuthentication no".to_string(),
            at("pubkeyauthentication"),
            "the login nodes accept only public keys".to_string(),
        ));
    }
    if let Some(pref) = eff.preferred_authentications() {
        if !pref.split(',').any(|m| m == "publickey") {
            blocked.push((
                format!("PreferredAuthentications {pref}"),
                at("preferredauthentications"),
                "publickey is not in the list".to_string(),
            ));
        }
    }
    if ctx.profile.policy.second_factor().is_some() {
        if eff.flag("batchmode") == Some(true) {
            blocked.push((
                "BatchMode yes".to_string(),
                at("batchmode"),
                "ssh may not ask for the TOTP code".to_string(),
            ));
        }
        for kw in [
            "kbdinteractiveauthentication",
            "challengeresponseauthentication",
        ] {
            if eff.flag(kw) == Some(false) {
                let canonical = crate::sshconfig::keywords::lookup(kw)
                    .map(|k| k.canonical)
                    .unwrap_or(kw);
                blocked.push((
                    format!("{canonical} no"),
                    at(kw),
                    "the TOTP code is asked for with keyboard-interactive".to_string(),
                ));
            }
        }
        if let Some(pref) = eff.preferred_authentications() {
            if !pref.split(',').any(|m| m == "keyboard-interactive") {
                blocked.push((
                    format!("PreferredAuthentications {pref}"),
                    at("preferredauthentications"),
                    "keyboard-interactive (the TOTP prompt) is not in the list".to_string(),
                ));
            }
        }
    }
    if blocked.is_empty() {
        out.push(
            Finding::pass(
                CheckId::ConfigAuthOverride,
                &subject,
                "no setting blocks public key or the TOTP prompt",
            )
            .node(alias),
        );
    }
    for (setting, at, why) in blocked {
        out.push(
            Finding::fail(
                CheckId::ConfigAuthOverride,
                &subject,
                format!("`{setting}` at {at}: {why}"),
            )
            .remedy(Remedy::text(format!(
                "Remove `{setting}` from the settings that apply to `{alias}` (line {at})."
            )))
            .with("setting", setting)
            .with("at", at)
            .node(alias),
        );
    }
}

/// The config block to paste, for the given aliases.
/// `known_user` fills User when `--user` was not given (a username-shaped User found
/// elsewhere in the config).
pub fn suggested_block(
    ctx: &Context,
    state: &RunState,
    aliases: &[String],
    known_user: Option<String>,
) -> String {
    let key = crate::probes::keys::preferred_key_path(ctx, state);
    let user = ctx
        .user_override
        .clone()
        .or(known_user)
        .unwrap_or_else(|| "<your cluster username>".to_string());
    let mut text = String::new();
    for alias in aliases {
        let Some(node) = ctx.profile.node(alias) else {
            continue;
        };
        if !text.is_empty() {
            text.push('\n');
        }
        let _ = writeln!(text, "Host {alias}");
        let _ = writeln!(text, "  HostName {}", node.hostname());
        if node.port() != 22 {
            let _ = writeln!(text, "  Port {}", node.port());
        }
        let _ = writeln!(text, "  User {user}");
        let _ = writeln!(text, "  IdentityFile {key}");
        let _ = writeln!(text, "  IdentitiesOnly yes");
    }
    text.trim_end().to_string()
}

/// A config line without a trailing `# comment` (outside quotes): comments are not
/// configuration and may hold anything.
fn without_comment(line: &str) -> String {
    let mut quote = None;
    let mut prev_space = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return line[..i].trim_end().to_string(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line.to_string()
}

/// The config as the bundle shows it: only lines that are configuration are copied; a
/// line the reader did not take as a config line, and every comment, is shown by its
/// line number and shape only.
fn config_listing(ctx: &Context, cs: &ConfigState) -> String {
    let mut out = String::new();
    if !cs.exists {
        out.push_str("# ~/.ssh/config does not exist\n");
    }
    for f in &cs.config.files {
        let _ = writeln!(
            out,
            "==> {}{} <==",
            ctx.show(&f.path),
            if f.system { " (system-wide)" } else { "" }
        );
        let not_text = f.parsed.issues.iter().any(|i| {
            matches!(
                i.kind,
                crate::sshconfig::IssueKind::Binary | crate::sshconfig::IssueKind::TooLarge { .. }
            )
        });
        if !f.parsed.usable || not_text {
            let _ = writeln!(
                out,
                "# not shown: the file is not a text config ({} bytes)",
                f.bytes.len()
            );
            continue;
        }
        let bad: std::collections::BTreeSet<usize> =
            f.parsed.issues.iter().map(|i| i.line).collect();
        let good: std::collections::BTreeSet<usize> =
            f.parsed.lines.iter().map(|l| l.number).collect();
        let body = f.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&f.bytes);
        for (i, line) in String::from_utf8_lossy(body).lines().enumerate() {
            let n = i + 1;
            let line = line.trim_end_matches('\r');
            let shown = if good.contains(&n) && !bad.contains(&n) {
                without_comment(line)
            } else if line.trim().is_empty() {
                String::new()
            } else if line.trim_start().starts_with('#') {
                "# (comment not shown)".to_string()
            } else {
                format!(
                    "<not a config line: {}>",
                    crate::sshconfig::parse::shape(line)
                )
            };
            let _ = writeln!(out, "{n:5} | {shown}");
        }
        out.push('\n');
    }
    out
}

fn effective_listing(ctx: &Context, cs: &ConfigState, eff: &Effective, plan: &NodePlan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# mlc-doctor's evaluation of the config for `{}` (first value wins; file:line of each)",
        plan.alias
    );
    for (kw, list) in &eff.values {
        for (i, a) in list.iter().enumerate() {
            let mark = if i == 0 || crate::sshconfig::eval::ACCUMULATE.contains(kw) {
                ""
            } else {
                "  # ignored: set earlier"
            };
            let _ = writeln!(
                out,
                "{kw} {}    # {}{mark}",
                a.args.join(" "),
                cs.shown(ctx, a.file, a.line)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n# what the doctor probes\nhostname {}\nport {}\nuser {}\nidentityfile {}\n",
        plan.hostname,
        plan.port,
        plan.user
            .as_deref()
            .unwrap_or("(none: the local login name)"),
        plan.identity_files
            .iter()
            .map(|p| ctx.show(p))
            .collect::<Vec<_>>()
            .join(" ")
    );
    out
}

/// `ssh -G` output per alias.
pub type DashG = Vec<(String, Result<crate::proc::Output, String>)>;

/// Runs `ssh -G -F <config> <alias>` for every alias at once (each a few milliseconds).
/// Only ever called with the copy `probes::handover` made of a trusted config.
pub fn dash_g(
    ssh: &std::path::Path,
    config: &std::path::Path,
    aliases: &[String],
    path_env: Option<&str>,
) -> DashG {
    let handles: Vec<_> = aliases
        .iter()
        .map(|alias| {
            let mut cmd = std::process::Command::new(ssh);
            // `-v` makes ssh print its version first on stderr: no separate `ssh -V` needed.
            cmd.arg("-v")
                .arg("-G")
                .arg("-F")
                .arg(config)
                .arg("--")
                .arg(alias)
                .env_clear();
            if let Some(p) = path_env {
                cmd.env("PATH", p);
            }
            cmd.envs(crate::platform::system_env());
            let alias = alias.clone();
            std::thread::spawn(move || {
                (
                    alias,
                    crate::proc::run(&mut cmd, Duration::from_secs(5), 256 * 1024)
                        .map_err(|e| e.to_string()),
                )
            })
        })
        .collect();
    handles.into_iter().filter_map(|h| h.join().ok()).collect()
}

/// `config.openssh-agrees`: compares our evaluation with `ssh -G` for each alias.
pub fn openssh_agrees(ctx: &Context, state: &mut RunState, prefetched: Option<DashG>) {
    let Some(cs) = state.config.clone() else {
        return;
    };
    let subject = "~/.ssh/config";
    let ssh = match (&state.openssh, &ctx.openssh) {
        (_, OpenSshChoice::Disabled) => {
            state.push([Finding::skip(
                CheckId::ConfigOpensshAgrees,
                subject,
                "not compared: --no-openssh",
            )]);
            return;
        }
        (Some(o), _) => o.path.clone(),
        (None, _) => {
            state.push([Finding::skip(
                CheckId::ConfigOpensshAgrees,
                subject,
                "not compared: no OpenSSH client",
            )]);
            return;
        }
    };
    if !cs.exists || cs.config.files.first().is_none_or(|f| f.system) {
        state.push([Finding::skip(
            CheckId::ConfigOpensshAgrees,
            subject,
            "not compared: there is no readable ~/.ssh/config",
        )]);
        return;
    }
    let copy = state.handover.as_ref().and_then(|h| h.for_dash_g());
    let Some(copy) = copy else {
        let why = match state.handover.as_ref().map(|h| &h.mode) {
            Some(super::handover::Mode::Sanitized(reasons)) => reasons.join("; "),
            _ => "the config could not be prepared".into(),
        };
        state.push([Finding::skip(CheckId::ConfigOpensshAgrees, subject, "not compared: `ssh -G` is only run on a config the doctor fully understood and that can run no program")
            .detail(format!("The doctor never runs commands from your config and never hands OpenSSH a file it did not fully understand. Here: {why}."))
            .with("reasons", why)]);
        return;
    };
    if cs
        .config
        .files
        .iter()
        .any(|f| !f.system && f.parsed.issues.iter().any(|i| i.kind.is_fatal()))
    {
        state.push([Finding::skip(
            CheckId::ConfigOpensshAgrees,
            subject,
            "not compared: OpenSSH refuses this config (see config.syntax)",
        )]);
        return;
    }
    // `ssh -F` reads only the user's file: evaluate the same, without the system config.
    let version = state.openssh.as_ref().map(|o| (o.major, o.minor));
    let user_only = Config::load(&Disk, Some(&cs.path), None, &ctx.home, version);
    let differs_home = ctx.home_differs_from_passwd();
    let mut disagreements = Vec::new();
    let mut compared = 0;
    for alias in &ctx.nodes {
        let eff = evaluate(
            &user_only,
            &EvalInput {
                alias,
                local_user: &ctx.local_user,
            },
        );
        let result = match prefetched
            .as_ref()
            .and_then(|p| p.iter().find(|(a, _)| a == alias))
        {
            Some((_, r)) => r.clone(),
            None => {
                dash_g(
                    &ssh,
                    &copy,
                    std::slice::from_ref(alias),
                    crate::platform::env_get(ctx.os, &ctx.env, "PATH").map(String::as_str),
                )
                .remove(0)
                .1
            }
        };
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                disagreements.push(format!("{alias}: {e}"));
                continue;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if let Some(text) = state
            .artifacts
            .get_mut(&format!("ssh/effective/{alias}.txt"))
        {
            let header = format!(
                "# `ssh -G -F <a copy of {}> {alias}` (exit {}):\n",
                ctx.show(&cs.path),
                out.status.code().unwrap_or(-1)
            );
            text.extend_from_slice(header.as_bytes());
            text.extend_from_slice(stdout.as_bytes());
            if differs_home {
                text.extend_from_slice(b"# note: OpenSSH expands ~ from the account's passwd entry, which is not the home being checked\n");
            }
        }
        if !out.status.success() {
            disagreements.push(format!(
                "{alias}: ssh -G failed: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
            continue;
        }
        compared += 1;
        let get = |k: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} ")))
                .map(str::to_string)
        };
        let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
        let mut ids: Vec<String> = eff.identity_files().iter().map(|s| s.to_string()).collect();
        let theirs_ids: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("identityfile "))
            .map(str::to_string)
            .collect();
        if ids.is_empty() {
            ids = theirs_ids.clone();
        }
        let pairs = [
            (
                "hostname",
                eff.hostname(alias),
                get("hostname").unwrap_or_default(),
            ),
            (
                "port",
                eff.port().to_string(),
                get("port").unwrap_or_default(),
            ),
            (
                "user",
                eff.user().unwrap_or(&ctx.local_user).to_string(),
                get("user").unwrap_or_default(),
            ),
            ("identityfile", ids.join(" "), theirs_ids.join(" ")),
            (
                "identitiesonly",
                yn(eff.flag("identitiesonly")),
                get("identitiesonly").unwrap_or_default(),
            ),
            (
                "batchmode",
                yn(eff.flag("batchmode")),
                get("batchmode").unwrap_or_default(),
            ),
            (
                "preferredauthentications",
                eff.preferred_authentications().unwrap_or("").to_string(),
                get("preferredauthentications").unwrap_or_default(),
            ),
        ];
        for (k, mine, theirs) in pairs {
            if mine != theirs {
                disagreements.push(format!(
                    "{alias}: {k} is `{theirs}` for OpenSSH, `{mine}` for the doctor"
                ));
            }
        }
    }
    let f = if disagreements.is_empty() {
        Finding::pass(
            CheckId::ConfigOpensshAgrees,
            subject,
            format!("`ssh -G` agrees with the doctor for {compared} alias(es)"),
        )
    } else {
        let mut f = Finding::warn(
            CheckId::ConfigOpensshAgrees,
            subject,
            format!(
                "`ssh -G` reads the config differently: {}",
                disagreements[0]
            ),
        )
        .detail(format!(
            "{}{}",
            disagreements.join("; "),
            if differs_home {
                ". OpenSSH expands ~ from the account's home, not the home being checked (--home)."
            } else {
                ""
            }
        ));
        f = f.with("differences", &disagreements);
        f
    };
    state.push([f.with("home_differs_from_passwd", differs_home)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn proxy_jump_first_hop() {
        assert_eq!(
            first_hop("jump@gw.example.org:2222,other"),
            Some(("gw.example.org".into(), 2222))
        );
        assert_eq!(first_hop("gw"), Some(("gw".into(), 22)));
        assert_eq!(first_hop("[::1]:2200"), Some(("::1".into(), 2200)));
        assert_eq!(first_hop("ssh://u@h:23"), Some(("h".into(), 23)));
    }

    #[test]
    fn tokens_expand() {
        let ctx = Context::for_home(Path::new("/home/u"), crate::profile::Profile::embedded());
        let t = Tokens {
            ctx: &ctx,
            alias: "slurm",
            host: "h.example",
            user: "pbb111",
            port: 22,
        };
        assert_eq!(
            t.path("~/.ssh/id_%r_%h"),
            PathBuf::from("/home/u/.ssh/id_pbb111_h.example")
        );
        assert_eq!(t.path("%d/.ssh/%n%%"), PathBuf::from("/home/u/.ssh/slurm%"));
        assert_eq!(t.path("/abs/%u"), PathBuf::from("/abs/tester"));
    }
}
