//! The config as text: the listings the bundle carries and the block a remedy offers.

use std::fmt::Write as _;

use crate::context::Context;
use crate::probes::NodePlan;
use crate::runner::{Artifacts, RunState};
use crate::sshconfig::Effective;

use super::ConfigState;

/// Adds the config listing and each node's evaluation to the bundle's files.
pub(super) fn record(ctx: &Context, cs: &ConfigState, artifacts: &mut Artifacts) {
    artifacts.insert(
        "ssh/config.txt".into(),
        config_listing(ctx, cs).into_bytes(),
    );
    for alias in &ctx.nodes {
        if let (Some(eff), Some(node)) = (cs.effective.get(alias), ctx.profile.node(alias)) {
            let text = effective_listing(ctx, cs, eff, &cs.plan(ctx, node));
            artifacts.insert(format!("ssh/effective/{alias}.txt"), text.into_bytes());
        }
    }
}

/// The key lines of a new Host block: the user's key (or the one to create) and
/// `IdentitiesOnly yes`; none when there is no key file yet but the agent holds keys
/// (ssh offers those without an IdentityFile, and IdentitiesOnly with a file that is not
/// there would stop it).
pub fn key_lines(ctx: &Context, state: &RunState) -> Vec<String> {
    let key = crate::probes::keys::preferred_key_path(ctx, state);
    let on_disk = match key.strip_prefix("~/") {
        Some(rest) => ctx.home.join(rest),
        None => std::path::PathBuf::from(&key),
    };
    let agent_only = !on_disk.is_file() && state.agent.as_ref().is_some_and(|a| !a.keys.is_empty());
    if agent_only {
        return Vec::new();
    }
    vec![
        format!("  IdentityFile {key}"),
        "  IdentitiesOnly yes".into(),
    ]
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
    let key_lines = key_lines(ctx, state);
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
        for line in &key_lines {
            let _ = writeln!(text, "{line}");
        }
    }
    text.trim_end().to_string()
}

/// A config line without a trailing `# comment` (outside quotes): comments are not
/// configuration and may hold anything.
/// A config line whose arguments are quoted or escaped, as OpenSSH reads it: each
/// argument whole, in double quotes where it holds a space, a quote or a backslash. The
/// redactor finds a value there as it finds it everywhere else (`~/"Jane Private"/id`
/// would hide `~/Jane Private/id`); `None` for a line without quotes or escapes.
fn as_read(line: &str, parsed: &crate::sshconfig::Line) -> Option<String> {
    use crate::sshconfig::LineKind;
    let text = without_comment(line);
    if !text.contains(['"', '\'', '\\']) {
        return None;
    }
    let quoted = |a: &str| {
        if !a.is_empty() && !a.contains(|c: char| c.is_whitespace() || "\"'\\".contains(c)) {
            return a.to_string();
        }
        format!("\"{}\"", a.replace('\\', "\\\\").replace('"', "\\\""))
    };
    let args: Vec<String> = match &parsed.kind {
        LineKind::Option { args, .. } | LineKind::Host(args) | LineKind::Include(args) => {
            args.iter().map(|a| quoted(a)).collect()
        }
        LineKind::Match(criteria) => criteria
            .iter()
            .map(|c| {
                let head = format!("{}{}", if c.negated { "!" } else { "" }, c.attribute);
                match &c.argument {
                    Some(arg) => format!("{head} {}", quoted(arg)),
                    None => head,
                }
            })
            .collect(),
    };
    let indent = &text[..text.len() - text.trim_start().len()];
    let keyword: String = text
        .trim_start()
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '=')
        .collect();
    Some(format!("{indent}{keyword} {}", args.join(" ")))
}

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
        if !f.parsed.usable || super::not_text(f).is_some() {
            let _ = writeln!(
                out,
                "# not shown: the file is not a text config ({} bytes)",
                f.bytes.len()
            );
            continue;
        }
        let bad: std::collections::BTreeSet<usize> =
            f.parsed.issues.iter().map(|i| i.line).collect();
        let good: std::collections::BTreeMap<usize, &crate::sshconfig::Line> =
            f.parsed.lines.iter().map(|l| (l.number, l)).collect();
        let body = f.bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&f.bytes);
        for (i, line) in String::from_utf8_lossy(body).lines().enumerate() {
            let n = i + 1;
            let line = line.trim_end_matches('\r');
            let shown = if let Some(parsed) = good.get(&n).filter(|_| !bad.contains(&n)) {
                as_read(line, parsed).unwrap_or_else(|| without_comment(line))
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

/// The evaluation for one alias, each value with the file and line that set it, and the
/// settings the doctor probes with.
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
