//! `config.*`: the user's ssh_config, evaluated as OpenSSH would for each login node.
//!
//! Here the config is loaded and each node planned from it; `checks` holds the `config.*`
//! checks (one fact type each), `listing` the config as the bundle and the remedies show
//! it, and `agreement` the comparison with OpenSSH's own reading (`ssh -G`).

mod agreement;
mod checks;
mod listing;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::context::Context;
use crate::fact::BlockPlace;
use crate::probes::{NodePlan, Proxy};
use crate::profile::Node;
use crate::runner::RunState;
use crate::sshconfig::{
    evaluate, Config, ConfigFile, Disk, Effective, EvalInput, Issue, IssueKind, LineKind,
};

pub use agreement::{dash_g, dash_g_start, openssh_agrees, prepare_agreement, DashG, Prepared};
pub use checks::is_placeholder;
pub use listing::{key_lines, suggested_block};

/// The keywords of a Host block the doctor writes (`suggested_block`, `fix`).
const NEW_BLOCK_SETS: &[&str] = &["hostname", "port", "user", "identityfile", "identitiesonly"];

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

impl ConfigState {
    /// Reads `~/.ssh/config` (and the system-wide config after it) and evaluates it for
    /// every alias to probe. `version`: the OpenSSH client's, for the keywords it knows.
    fn load(ctx: &Context, version: Option<(u32, u32)>) -> ConfigState {
        let path = ctx.ssh_dir().join("config");
        let exists = std::fs::symlink_metadata(&path).is_ok();
        let config = Config::load(
            &Disk,
            exists.then_some(path.as_path()),
            ctx.system_config.as_deref(),
            &ctx.home,
            version,
        );
        // Every login node of the profile, not only those of this run (`--node`): which
        // keys the site's nodes use does not depend on which of them are probed.
        let effective = ctx
            .profile
            .nodes()
            .iter()
            .map(|n| n.alias().to_string())
            .chain(ctx.nodes.iter().cloned())
            .collect::<std::collections::BTreeSet<String>>()
            .into_iter()
            .map(|alias| {
                let input = EvalInput {
                    alias: &alias,
                    local_user: &ctx.local_user,
                };
                let eff = evaluate(&config, &input);
                (alias, eff)
            })
            .collect();
        ConfigState {
            path,
            exists,
            config,
            effective,
        }
    }

    /// Why the settings of `~/.ssh/config` are unknown although it exists: over the
    /// doctor's size cap, UTF-16, or not text (the alias checks cannot tell what it sets).
    pub fn main_unread(&self) -> Option<&'static str> {
        if !self.user_file_read() {
            return None;
        }
        let f = self.config.files.first()?;
        f.parsed.issues.iter().find_map(|i| match i.kind {
            IssueKind::TooLarge { .. } => Some("is larger than the doctor reads"),
            IssueKind::Utf16 => {
                Some("is UTF-16, which neither OpenSSH nor the doctor reads (re-encode it first)")
            }
            IssueKind::Binary => Some("is not a text file"),
            _ => None,
        })
    }

    /// True when `~/.ssh/config` was read (it exists and is a readable file).
    fn user_file_read(&self) -> bool {
        self.exists && self.config.files.first().is_some_and(|f| !f.system)
    }

    /// Where a new Host block for `aliases` must go in `~/.ssh/config`, since OpenSSH keeps
    /// the first value it reads: at the top when a setting outside any block (or an
    /// `Include` there) already sets something for one of them; else above the first
    /// block of that file which does (`Host *`, a wildcard, `Match all`, or a block whose
    /// `Include` does); `None` when the end of the file will do.
    pub fn new_block_place(&self, aliases: &[String]) -> Option<BlockPlace> {
        if !self.user_file_read() {
            return None;
        }
        let main = self.config.files.first()?;
        let headers: Vec<&crate::sshconfig::Line> = main
            .parsed
            .lines
            .iter()
            .filter(|l| matches!(l.kind, LineKind::Host(_) | LineKind::Match(_)))
            .collect();
        let first_header = headers.first().map_or(usize::MAX, |h| h.number);
        // Each line of the main file that sets something for them, with the keyword.
        let lines: Vec<(&str, usize)> = aliases
            .iter()
            .filter_map(|a| self.effective.get(a))
            .flat_map(|e| e.values.iter())
            .flat_map(|(k, v)| v.iter().map(move |a| (*k, a)))
            .filter_map(|(k, a)| Some((k, self.line_in_main(a.file, a.line)?)))
            .collect();
        // Outside any block, only what the new block sets itself is worth moving its
        // settings under `Host *` for; anything else comes first wherever it goes.
        if lines
            .iter()
            .any(|&(k, l)| l < first_header && NEW_BLOCK_SETS.contains(&k))
        {
            // Above the first line of the file that says anything.
            let first = main.parsed.lines.first().map_or(1, |l| l.number);
            return Some(BlockPlace::Top(first));
        }
        lines
            .iter()
            // The block of the main file that line stands in; none at the top.
            .filter_map(|&(_, line)| headers.iter().rev().find(|h| h.number < line))
            .min_by_key(|h| h.number)
            .map(|h| {
                // A header is quoted in advice: a long one is cut, not repeated whole.
                let text = match h.text.char_indices().nth(80) {
                    Some((cut, _)) => format!("{}…", &h.text[..cut]),
                    None => h.text.clone(),
                };
                BlockPlace::Above(h.number, text)
            })
    }

    /// The line of `~/.ssh/config` that brings in `line` of file `file`: itself in the
    /// main file, else the `Include` line (followed back through nested Includes).
    fn line_in_main(&self, mut file: usize, mut line: usize) -> Option<usize> {
        let files = &self.config.files;
        // Includes nest at most a few levels deep (OpenSSH stops at 16).
        for _ in 0..32 {
            if file == 0 {
                return Some(line);
            }
            let (parent, at) = files.iter().enumerate().find_map(|(i, f)| {
                f.includes
                    .iter()
                    .find(|(_, targets)| targets.contains(&file))
                    .map(|(at, _)| (i, *at))
            })?;
            (file, line) = (parent, at);
        }
        None
    }

    /// The plan for a node from the profile alone (no config).
    pub fn profile_plan(ctx: &Context, node: &Node) -> NodePlan {
        NodePlan {
            alias: node.alias().to_string(),
            hostname: node.hostname().to_string(),
            port: node.port(),
            port_at: None,
            user: ctx.user_override.clone(),
            region: node.region.clone(),
            identity_files: vec![],
            identities_only: false,
            other_agent: false,
            known_hosts_files: vec![
                ctx.ssh_dir().join("known_hosts"),
                ctx.ssh_dir().join("known_hosts2"),
            ],
            proxy: None,
            host_key_pins: node.host_keys().to_vec(),
            settings_unknown: None,
        }
    }

    /// The plan for a node: the effective config, the profile filling the gaps.
    pub fn plan(&self, ctx: &Context, node: &Node) -> NodePlan {
        let mut plan = Self::profile_plan(ctx, node);
        plan.settings_unknown = self.main_unread().filter(|_| self.exists);
        let Some(eff) = self.effective.get(node.alias()) else {
            return plan;
        };
        if eff.get("hostname").is_some() {
            plan.hostname = eff.hostname(node.alias());
        }
        if let Some(a) = eff.first("port") {
            plan.port = eff.port();
            plan.port_at = Some(self.shown(ctx, a.file, a.line));
        } else if eff.get("hostname").is_some() {
            // The config sends ssh to this host itself, without a Port: ssh uses 22,
            // whatever port the site's nodes listen on.
            plan.port = 22;
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
        plan.other_agent = eff
            .get("identityagent")
            .is_some_and(|agent| other_agent(ctx, &tokens, agent));
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

    /// `file:line` of a config line, the file as the user knows it.
    fn shown(&self, ctx: &Context, file: usize, line: usize) -> String {
        match self.config.files.get(file) {
            Some(f) => format!("{}:{line}", ctx.show(&f.path)),
            None => format!("?:{line}"),
        }
    }
}

/// True when `IdentityAgent value` names another agent than the doctor's (`SSH_AUTH_SOCK`):
/// `none`, or a socket or pipe at another place.
fn other_agent(ctx: &Context, tokens: &Tokens, value: &str) -> bool {
    if value.eq_ignore_ascii_case("none") {
        return true;
    }
    // `SSH_AUTH_SOCK` is the default; `$VAR` or `${VAR}` names a variable's socket.
    let place = match value.strip_prefix('$') {
        Some(var) => {
            let var = var.trim_start_matches('{').trim_end_matches('}');
            if var == "SSH_AUTH_SOCK" {
                return false;
            }
            match ctx.env.get(var) {
                Some(v) => v.clone(),
                None => return true,
            }
        }
        None if value == "SSH_AUTH_SOCK" => return false,
        None => value.to_string(),
    };
    // The same socket by another path (a link kept for tmux) is the same agent.
    let real = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    match crate::platform::agent_address(ctx.os, &ctx.env) {
        Some(crate::platform::AgentAddress::Socket(sock)) => {
            real(tokens.path(&place)) != real(sock)
        }
        Some(crate::platform::AgentAddress::Pipe(pipe)) => !place.eq_ignore_ascii_case(&pipe),
        None => true,
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

/// The problem that makes a file no text config at all (binary, or too large), if any.
fn not_text(file: &ConfigFile) -> Option<&Issue> {
    file.parsed
        .issues
        .iter()
        .find(|is| matches!(is.kind, IssueKind::Binary | IssueKind::TooLarge { .. }))
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
        // The home as it is, not as text: a home whose name is not UTF-8 must still name
        // the files in it.
        let home = self.ctx.home.as_os_str();
        let mut out = std::ffi::OsString::new();
        let mut chars = value.chars().peekable();
        if value == "~" || value.starts_with("~/") {
            out.push(home);
            chars.next();
        }
        let mut buf = [0u8; 4];
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c.encode_utf8(&mut buf) as &str);
                continue;
            }
            match chars.next() {
                Some('d') => out.push(home),
                Some('u') => out.push(&self.ctx.local_user),
                Some('h') => out.push(self.host),
                Some('r') => out.push(self.user),
                Some('p') => out.push(self.port.to_string()),
                Some('n') => out.push(self.alias),
                Some('l') => out.push(&self.ctx.local_host),
                Some('i') => out.push(self.ctx.uid.to_string()),
                Some('%') => out.push("%"),
                Some(other) => {
                    out.push("%");
                    out.push(other.encode_utf8(&mut buf) as &str);
                }
                None => out.push("%"),
            }
        }
        PathBuf::from(out)
    }
}

/// Loads and evaluates the config; produces every `config.*` finding but `openssh-agrees`.
pub fn run(ctx: &Context, state: &mut RunState) {
    let version = state.openssh.as_ref().map(|o| (o.major, o.minor));
    let cs = ConfigState::load(ctx, version);
    let findings = checks::all(ctx, state, &cs);
    state.push(findings);
    listing::record(ctx, &cs, &mut state.artifacts);
    state.config = Some(cs);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_new_block_goes_above_the_first_block_that_sets_something() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".ssh")).unwrap();
        let long = format!("Host github.com {} *", "x".repeat(200));
        std::fs::write(
            home.path().join(".ssh/config"),
            format!("ForwardAgent no\nHost github.com\n  User git\n{long}\n  User other\n"),
        )
        .unwrap();
        let mut ctx = Context::for_home(home.path(), crate::profile::Profile::embedded());
        ctx.system_config = None;
        let cs = ConfigState::load(&ctx, None);
        let Some(BlockPlace::Above(line, header)) = cs.new_block_place(&["slurm".to_string()])
        else {
            panic!("a place above a block")
        };
        assert_eq!(line, 4);
        // Quoted in advice: cut after 80 characters.
        assert_eq!(header.chars().count(), 81, "{header}");
        assert!(header.starts_with("Host github.com xxx") && header.ends_with('…'));
    }

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
