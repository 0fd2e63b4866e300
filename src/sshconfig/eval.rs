//! Evaluation of a config for one host alias, as `ssh <alias>` would see it.

use std::collections::BTreeMap;

use super::parse::{Criterion, LineKind};
use super::pattern::{host_line_matches, match_list, ListMatch};
use super::Config;

/// What evaluation needs from outside.
#[derive(Debug, Clone)]
pub struct EvalInput<'a> {
    /// The name given to ssh (`slurm`).
    pub alias: &'a str,
    /// The local login name (for `Match localuser` and the default `User`).
    pub local_user: &'a str,
}

/// One value a config line gave, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub args: Vec<String>,
    pub file: usize,
    pub line: usize,
    /// The Host/Match line of the block it stands in (file, line); `None` at the top.
    pub block: Option<(usize, usize)>,
}

impl Assignment {
    /// The first argument.
    pub fn value(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or("")
    }
}

/// The settings in effect for one alias, with every line that tried to set each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effective {
    /// Keyword (lowercase) → every active assignment in file order; the first wins,
    /// except for keywords that accumulate (IdentityFile, CertificateFile, …).
    pub values: BTreeMap<&'static str, Vec<Assignment>>,
    /// Host/Match lines that matched with a specific (non-`*`) pattern.
    pub specific_blocks: Vec<(usize, usize)>,
    /// `Match exec` lines met (never run; treated as not matching).
    pub match_exec: Vec<(usize, usize)>,
    /// True when a `Match final`/`canonical` or CanonicalizeHostname forced a second pass.
    pub final_pass: bool,
}

/// Keywords whose values add up instead of the first winning.
pub const ACCUMULATE: &[&str] = &[
    "identityfile",
    "certificatefile",
    "localforward",
    "remoteforward",
    "dynamicforward",
    "sendenv",
    "setenv",
];

/// A bound on evaluated lines, so Include fan-out cannot make evaluation explode.
const MAX_STEPS: usize = 2_000_000;

struct State<'a> {
    cfg: &'a Config,
    input: &'a EvalInput<'a>,
    /// What Host lines match: the alias, or the final host name in the final pass.
    host: String,
    final_pass: bool,
    want_final: bool,
    steps: usize,
    eff: Effective,
    /// The (file, line) of each assignment and specific block recorded, so that a second
    /// pass records nothing twice in constant time (a config may hold thousands).
    recorded: std::collections::HashSet<(usize, usize)>,
    specific: std::collections::HashSet<(usize, usize)>,
}

impl Effective {
    /// The winning assignment of a keyword.
    pub fn first(&self, keyword: &str) -> Option<&Assignment> {
        self.values.get(keyword).and_then(|v| v.first())
    }

    /// The winning value of a keyword.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.first(keyword).map(Assignment::value)
    }

    /// Every assignment of a keyword.
    pub fn all(&self, keyword: &str) -> &[Assignment] {
        self.values.get(keyword).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A yes/no setting.
    pub fn flag(&self, keyword: &str) -> Option<bool> {
        self.get(keyword)
            .map(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true"))
    }

    /// HostName with `%h` and `%%` expanded and lowercased, as ssh connects to it.
    pub fn hostname(&self, alias: &str) -> String {
        match self.get("hostname") {
            Some(h) => expand_hostname(h, alias).to_ascii_lowercase(),
            None => alias.to_ascii_lowercase(),
        }
    }

    /// The port (22 unless set).
    pub fn port(&self) -> u16 {
        self.get("port").and_then(|p| p.parse().ok()).unwrap_or(22)
    }

    /// The remote user if the config sets one.
    pub fn user(&self) -> Option<&str> {
        self.get("user")
    }

    /// IdentityFile lines in order, the first of each value only (OpenSSH skips repeats).
    pub fn identity_assignments(&self) -> Vec<&Assignment> {
        let mut seen = std::collections::HashSet::new();
        self.all("identityfile")
            .iter()
            .filter(|a| seen.insert(a.value()))
            .collect()
    }

    /// IdentityFile values in order, unexpanded, without repeats.
    pub fn identity_files(&self) -> Vec<&str> {
        self.identity_assignments()
            .into_iter()
            .map(Assignment::value)
            .collect()
    }

    /// PreferredAuthentications, if set.
    pub fn preferred_authentications(&self) -> Option<&str> {
        self.get("preferredauthentications")
    }
}

/// `%h` → alias, `%%` → `%` in a HostName.
pub fn expand_hostname(value: &str, alias: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('h') => out.push_str(alias),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Evaluates the config for an alias: every root file in order, then a final pass when
/// the config asks for one (`Match final`, `Match canonical`, CanonicalizeHostname).
pub fn evaluate(cfg: &Config, input: &EvalInput<'_>) -> Effective {
    let mut st = State {
        cfg,
        input,
        host: input.alias.to_string(),
        final_pass: false,
        want_final: false,
        steps: 0,
        eff: Effective::default(),
        recorded: Default::default(),
        specific: Default::default(),
    };
    for &root in &cfg.roots {
        st.file(root, false, 0);
    }
    let canonicalize = st
        .eff
        .get("canonicalizehostname")
        .map(|v| v.to_ascii_lowercase())
        .is_some_and(|v| v == "yes" || v == "always");
    if st.want_final || canonicalize {
        st.final_pass = true;
        st.eff.final_pass = true;
        st.host = st.eff.hostname(input.alias);
        for &root in &cfg.roots {
            st.file(root, false, 0);
        }
    }
    st.eff
}

impl State<'_> {
    fn file(&mut self, idx: usize, never_match: bool, depth: usize) {
        if depth > super::MAX_DEPTH {
            return;
        }
        let cfg = self.cfg;
        let Some(file) = cfg.files.get(idx) else {
            return;
        };
        if !file.parsed.usable {
            return;
        }
        let mut active = !never_match;
        let mut block: Option<(usize, usize)> = None;
        for line in &file.parsed.lines {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return;
            }
            match &line.kind {
                LineKind::Host(patterns) => {
                    block = Some((idx, line.number));
                    active = !never_match && host_line_matches(&self.host, patterns);
                    if active
                        && patterns.iter().any(|p| p != "*" && !p.starts_with('!'))
                        && self.specific.insert((idx, line.number))
                    {
                        self.eff.specific_blocks.push((idx, line.number));
                    }
                }
                LineKind::Match(criteria) => {
                    block = Some((idx, line.number));
                    let result = self.criteria(criteria, idx, line.number);
                    active = !never_match && result;
                    let specific = criteria.iter().any(|c| {
                        matches!(c.attribute.as_str(), "host" | "originalhost") && !c.negated
                    });
                    if active && specific && self.specific.insert((idx, line.number)) {
                        self.eff.specific_blocks.push((idx, line.number));
                    }
                }
                LineKind::Include(_) => {
                    let targets = file.includes.get(&line.number).cloned().unwrap_or_default();
                    for t in targets {
                        self.file(t, never_match || !active, depth + 1);
                    }
                }
                LineKind::Option { keyword, args } => {
                    if active {
                        let list = self.eff.values.entry(keyword).or_default();
                        // In the final pass only keywords still unset take values,
                        // and nothing is recorded twice (a line is one assignment).
                        if self.recorded.insert((idx, line.number)) {
                            list.push(Assignment {
                                args: args.clone(),
                                file: idx,
                                line: line.number,
                                block,
                            });
                        }
                    }
                }
            }
        }
    }

    fn criteria(&mut self, criteria: &[Criterion], file: usize, line: usize) -> bool {
        let mut result = true;
        for c in criteria {
            let arg = c.argument.as_deref().unwrap_or("");
            let matched = match c.attribute.as_str() {
                "all" => true,
                "canonical" => self.final_pass,
                "final" => {
                    self.want_final = true;
                    self.final_pass
                }
                "exec" => {
                    if !self.eff.match_exec.contains(&(file, line)) {
                        self.eff.match_exec.push((file, line));
                    }
                    // Never run: the whole line does not match, negated or not.
                    return false;
                }
                "host" => {
                    let target = match self.eff.get("hostname") {
                        Some(h) => expand_hostname(h, &self.host),
                        None => self.host.clone(),
                    };
                    match_list(&target, arg, true) == ListMatch::Yes
                }
                "originalhost" => match_list(self.input.alias, arg, true) == ListMatch::Yes,
                "user" => {
                    let ruser = self
                        .eff
                        .get("user")
                        .unwrap_or(self.input.local_user)
                        .to_string();
                    match_list(&ruser, arg, false) == ListMatch::Yes
                }
                "localuser" => match_list(self.input.local_user, arg, false) == ListMatch::Yes,
                _ => false,
            };
            if matched == c.negated {
                result = false;
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests_support::load_str;
    use super::*;

    fn eval(text: &str, alias: &str) -> Effective {
        let cfg = load_str(text);
        evaluate(
            &cfg,
            &EvalInput {
                alias,
                local_user: "me",
            },
        )
    }

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let e = eval("Host *\n User star\nHost slurm\n User pbb111\n IdentityFile ~/.ssh/a\n IdentityFile ~/.ssh/b\nHost *\n IdentityFile ~/.ssh/c\n", "slurm");
        assert_eq!(e.user(), Some("star"));
        assert_eq!(e.all("user").len(), 2);
        assert_eq!(e.identity_files(), ["~/.ssh/a", "~/.ssh/b", "~/.ssh/c"]);
        assert_eq!(e.specific_blocks.len(), 1);
    }

    #[test]
    fn hostname_tokens_and_case() {
        let e = eval("Host slurm\n HostName %h.Example.COM\n", "slurm");
        assert_eq!(e.hostname("slurm"), "slurm.example.com");
        assert_eq!(e.port(), 22);
        let e = eval("Host SLURM\n Port 1\n", "slurm");
        assert_eq!(e.port(), 22);
    }

    #[test]
    fn match_blocks() {
        let cfg = "Host slurm\n HostName h.example\nMatch host h.example user me\n Port 2222\nMatch originalhost slurm !localuser root\n User pbb111\nMatch exec true\n BatchMode yes\n";
        let e = eval(cfg, "slurm");
        assert_eq!(e.port(), 2222);
        assert_eq!(e.user(), Some("pbb111"));
        assert_eq!(e.get("batchmode"), None);
        assert_eq!(e.match_exec.len(), 1);
    }

    #[test]
    fn final_pass_matches_the_final_host_name() {
        let e = eval("Host slurm\n HostName h.example\nHost h.example\n User late\nMatch final\n IdentitiesOnly yes\n", "slurm");
        assert!(e.final_pass);
        assert_eq!(e.user(), Some("late"));
        assert_eq!(e.flag("identitiesonly"), Some(true));
        let e = eval(
            "Host slurm\n HostName h.example\nHost h.example\n User late\n",
            "slurm",
        );
        assert_eq!(e.user(), None);
    }

    #[test]
    fn include_inside_a_non_matching_block_never_matches() {
        let e = eval(
            "Host other\nInclude inc\nHost slurm\nInclude inc\n",
            "slurm",
        );
        // `inc` (see tests_support) sets Port 2200 at its top.
        assert_eq!(e.port(), 2200);
        let e = eval("Host other\nInclude inc\n", "slurm");
        assert_eq!(e.port(), 22);
    }
}
