//! The redaction engine: raw values from authoritative sources become consistent, readable
//! pseudonyms in every file and file name of the bundle. An ordered list of rules, no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What a seed is; decides the pseudonym's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// The home directory path: becomes `~`.
    HomePath,
    LoginName,
    /// The local host name (short or FQDN).
    LocalHost,
    Email,
    /// A host name in the config that is not a login node.
    Host,
    /// A username in the config that is not the cluster user.
    User,
    /// The cluster username, with `--redact-cluster-user`.
    ClusterUser,
    KeyComment,
    Ip,
    /// A secret-looking environment value.
    EnvValue,
    /// A path outside `~/.ssh`, or an unconventional file name in it.
    Path,
    /// A command line from the config (ProxyCommand, RemoteCommand, Match exec, …).
    Command,
    /// A token, URL or other value that is not known to be safe.
    Token,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::HomePath => "home-path",
            Category::LoginName => "login-name",
            Category::LocalHost => "local-host",
            Category::Email => "email",
            Category::Host => "host",
            Category::User => "user",
            Category::ClusterUser => "cluster-user",
            Category::KeyComment => "key-comment",
            Category::Ip => "ip",
            Category::EnvValue => "env-value",
            Category::Path => "path",
            Category::Command => "command",
            Category::Token => "token",
        }
    }
}

/// One raw value and its pseudonym.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    pub category: Category,
    pub raw: String,
    pub pseudonym: String,
    /// Another spelling of a value that has its own mapping (escaped, as a config writes
    /// it, the absolute form of a `~` path): redacted, never what `unmask` puts back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spelling: bool,
}

/// Seeds shorter than this are not redacted: they would rewrite ordinary words. The
/// manifest says so, and the leak gate skips them too.
pub const MIN_SEED_LEN: usize = 3;

/// Words of the bundle's own text (file names, pseudonyms, keywords, categories): a login
/// name or key comment that is one of them (`user`, `ssh`, `host`) cannot be replaced
/// without rewriting the bundle itself, so like a too-short value it is kept, the
/// manifest says so, and the leak gate does not look for it.
pub const OWN_WORDS: &[&str] = &[
    "user",
    "users",
    "host",
    "hosts",
    "path",
    "file",
    "files",
    "name",
    "home",
    "login",
    "mlc",
    "doctor",
    "bundle",
    "ssh",
    "key",
    "keys",
    "comment",
    "token",
    "command",
    "env",
    "value",
    "email",
    "client",
    "example",
    "invalid",
    "config",
    "other",
    "cluster",
    "local",
    "node",
    "nodes",
    "report",
    "manifest",
    "agent",
    "known",
    "public",
    "private",
    "slurm",
    "none",
    "yes",
    "default",
    "system",
    "effective",
    "permissions",
    "readme",
];

/// True when `raw` can be replaced without rewriting the bundle's own words.
pub fn redactable(raw: &str) -> bool {
    raw.len() >= MIN_SEED_LEN && !OWN_WORDS.contains(&raw.to_ascii_lowercase().as_str())
}

/// The redactor: seeds in, pseudonyms out, consistent across every text it sees.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    mappings: Vec<Mapping>,
    counters: BTreeMap<Category, usize>,
    /// Replacement counts per category.
    pub counts: BTreeMap<String, usize>,
    /// Seeds refused because they are too short to redact safely.
    pub too_short: Vec<Category>,
    /// Values never redacted (login node names and addresses, the cluster user).
    keep: Vec<String>,
    /// Each raw value seeded (ASCII lowercase) and its pseudonym: one lookup per seed
    /// instead of a pass over every mapping (thousands for a large config).
    known: std::collections::HashMap<String, String>,
    /// The home paths seeded, in every spelling (what becomes `~`): asked for once per
    /// path seed, so kept apart from the thousands of mappings.
    homes: Vec<String>,
    /// The number of mappings when they were last put in order (longest raw value
    /// first): sorting on every seed made seeding quadratic in the number of seeds.
    sorted: usize,
    /// A matcher of every raw value, built for the ordered mappings of that number
    /// (mappings only grow, and keep their order while their number stays).
    matcher: Option<Matcher>,
}

/// How an ssh config may spell `raw`, other than as `raw`: OpenSSH reads `\\`, `\"`, `\'`
/// and (outside quotes) `\ ` as escapes, so `User jane\ doe` and `SetEnv
/// P="Hunter2\"Secret"` hold `jane doe` and `Hunter2"Secret`. The written forms are what
/// the bundle's copy of the config shows, so they are seeds too.
fn config_spellings(raw: &str) -> Vec<String> {
    if !raw.contains(['\\', '"', '\'', ' ']) {
        return Vec::new();
    }
    let escaped = |set: &[char]| {
        let mut out = String::with_capacity(raw.len() + 4);
        for c in raw.chars() {
            if c == '\\' || set.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    let mut out: Vec<String> = [&['"', '\'', ' '][..], &['"', '\''], &['"'], &['\''], &[' ']]
        .into_iter()
        .map(escaped)
        .filter(|s| s != raw)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Lines longer than this are redacted word by word where that gives the same result.
const LONG_LINE: usize = 4096;

/// Finds which mappings a text may hold, in one pass over it.
#[derive(Debug, Clone)]
struct Matcher {
    /// The number of mappings it was built for.
    built: usize,
    automaton: aho_corasick::AhoCorasick,
    /// The mappings whose raw value occurs in some pseudonym: a replacement can put them
    /// into any text, so they are always candidates.
    in_pseudonyms: std::collections::BTreeSet<usize>,
    /// True when some raw value holds a line break (an environment value can): then
    /// the whole text is searched at once, not line by line.
    multiline: bool,
}

fn email_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
            .expect("valid regex")
    })
}

fn ipv4_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").expect("valid regex"))
}

use super::allow::ALGORITHM_DOMAINS;

/// True for characters that continue a word (a seed must not be matched inside a word).
fn wordy(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every (start, end) of `needle` in `hay`, ASCII case-insensitive, not inside a longer word.
pub fn find_bounded(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if needle.is_empty() || needle.len() > hay.len() {
        return out;
    }
    let lower_hay = hay.to_ascii_lowercase();
    let lower_needle = needle.to_ascii_lowercase();
    let mut from = 0;
    while let Some(pos) = lower_hay[from..].find(&lower_needle) {
        let start = from + pos;
        let end = start + needle.len();
        if bounded(hay, start, end, needle) {
            out.push((start, end));
            from = end;
        } else {
            from = start + lower_needle.chars().next().map(char::len_utf8).unwrap_or(1);
        }
        if from >= hay.len() {
            break;
        }
    }
    out
}

impl Redactor {
    /// A redactor that never touches `keep` (login node names, their addresses, the cluster user).
    pub fn new(keep: Vec<String>) -> Redactor {
        Redactor {
            keep: keep.into_iter().map(|k| k.to_ascii_lowercase()).collect(),
            ..Redactor::default()
        }
    }

    /// Every mapping, for the local pseudonym map.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// Adds a raw value; returns its pseudonym (the existing one if already known).
    pub fn seed(&mut self, category: Category, raw: &str) -> Option<String> {
        let raw = raw.trim();
        if raw.is_empty() || self.keep.contains(&raw.to_ascii_lowercase()) {
            return None;
        }
        // Loopback and documentation addresses say nothing about anyone.
        if category == Category::Ip
            && raw.parse::<IpAddr>().is_ok_and(|ip| {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || is_documentation(&ip)
                    || this_network(&ip)
            })
        {
            return None;
        }
        if !redactable(raw) && category != Category::HomePath {
            if !self.too_short.contains(&category) {
                self.too_short.push(category);
            }
            return None;
        }
        if let Some(pseudonym) = self.known.get(&raw.to_ascii_lowercase()) {
            return Some(pseudonym.clone());
        }
        let n = {
            let c = self.counters.entry(category).or_insert(0);
            *c += 1;
            *c
        };
        let pseudonym = match category {
            Category::HomePath => "~".to_string(),
            Category::LoginName => format!("user-{n}"),
            Category::User => format!("other-user-{n}"),
            Category::ClusterUser => format!("cluster-user-{n}"),
            Category::LocalHost => format!("client-{n}"),
            Category::Email => format!("email-{n}@example.invalid"),
            Category::Host => format!("host-{n}.example.invalid"),
            Category::KeyComment => format!("key-comment-{n}"),
            Category::EnvValue => format!("env-value-{n}"),
            Category::Path if raw.starts_with("~/.ssh/") => format!("~/.ssh/file-{n}"),
            Category::Path => format!("path-{n}"),
            Category::Command => format!("<command {n}>"),
            Category::Token => format!("token-{n}"),
            Category::Ip => ip_pseudonym(raw, n),
        };
        self.remember(category, raw, &pseudonym, true);
        Some(pseudonym)
    }

    /// Adds `raw` under an existing `pseudonym` (another spelling of a seeded value), and
    /// its escaped form: bundle text is escaped before it is redacted, so a value with a
    /// character a terminal acts on is found as `zed\x07`, under the same name.
    pub fn also(&mut self, category: Category, raw: &str, pseudonym: &str) {
        self.remember(category, raw, pseudonym, false);
    }

    /// Records `raw` (the value `unmask` puts back when `primary`) and its other
    /// spellings under `pseudonym`.
    fn remember(&mut self, category: Category, raw: &str, pseudonym: &str, primary: bool) {
        let mut raws = vec![raw.to_string()];
        if crate::escape::needs(raw) {
            raws.push(crate::escape::text(raw));
        }
        // The config the bundle lists spells the value as the user wrote it.
        raws.extend(config_spellings(raw));
        for (i, raw) in raws.into_iter().enumerate() {
            let lower = raw.to_ascii_lowercase();
            if self.known.contains_key(&lower) {
                continue;
            }
            self.known.insert(lower, pseudonym.to_string());
            if category == Category::HomePath {
                self.homes.push(raw.clone());
            }
            self.mappings.push(Mapping {
                category,
                raw,
                pseudonym: pseudonym.to_string(),
                spelling: !(primary && i == 0),
            });
        }
    }

    /// The home paths seeded (what becomes `~`).
    pub fn homes(&self) -> &[String] {
        &self.homes
    }

    /// Finds e-mail addresses and IPv4 addresses in `text` and adds them as seeds.
    pub fn discover(&mut self, text: &str) {
        for m in email_re().find_iter(text) {
            let domain = m
                .as_str()
                .rsplit('@')
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            // Algorithm names look like addresses (`chacha20-poly1305@openssh.com`) and are kept.
            if !m.as_str().ends_with("@example.invalid")
                && !ALGORITHM_DOMAINS.contains(&domain.as_str())
            {
                self.seed(Category::Email, m.as_str());
            }
        }
        for m in ipv4_re().find_iter(text) {
            if let Ok(ip) = m.as_str().parse::<IpAddr>() {
                if !ip.is_loopback()
                    && !ip.is_unspecified()
                    && !is_documentation(&ip)
                    && !self.keep.contains(&ip.to_string())
                {
                    self.seed(Category::Ip, &ip.to_string());
                }
            }
        }
    }

    /// Seeds every token of `text` that looks private and that `vocab` does not allow
    /// (see [`super::allow`]): the allowlist half of redaction.
    pub fn sweep(&mut self, text: &str, vocab: &super::allow::Vocabulary) {
        use super::allow::Shape;
        for (token, shape) in super::allow::unsafe_tokens(text, vocab) {
            let category = match shape {
                Shape::Host => Category::Host,
                Shape::Ip => Category::Ip,
                Shape::Email => Category::Email,
                Shape::Path => Category::Path,
                Shape::Url | Shape::Secret | Shape::Plain => Category::Token,
            };
            let raw = if shape == Shape::Ip {
                super::allow::bare_address(token)
            } else {
                token
            };
            self.seed(category, raw);
        }
    }

    /// The raw values seeded so far.
    pub fn raws(&self) -> std::collections::BTreeSet<String> {
        self.mappings.iter().map(|m| m.raw.clone()).collect()
    }

    /// Replaces every seed in `text`.
    pub fn redact(&mut self, text: &str) -> String {
        self.redact_except(text, &std::collections::BTreeSet::new())
    }

    /// Replaces every seed in `text` but those in `skip` (already applied: a second
    /// pass must not rewrite pseudonyms).
    ///
    /// Seeds are applied one after the other, longest first (a FQDN before its short
    /// name), each only where its rule allows. No seed spans a line (unless one holds a
    /// line break), so this is done line by line with the same result: a text that
    /// holds thousands of seeds (a large config) is then not rewritten once per seed.
    pub fn redact_except(
        &mut self,
        text: &str,
        skip: &std::collections::BTreeSet<String>,
    ) -> String {
        self.order();
        let Some(matcher) = self.matcher.take() else {
            // No matcher: every mapping is tried on the whole text.
            let all: Vec<usize> = (0..self.mappings.len()).collect();
            return self.apply(text, &all, skip);
        };
        let out = if matcher.multiline {
            let candidates = matcher.candidates(text);
            self.apply(text, &candidates, skip)
        } else {
            let mut out = String::with_capacity(text.len());
            for line in text.split_inclusive('\n') {
                let candidates = matcher.candidates(line);
                // A long line (a `Host` line of thousands of names) is taken word by
                // word when no seed it may hold spans a space: the same result again.
                let spaced = || {
                    candidates
                        .iter()
                        .any(|&i| self.mappings[i].raw.contains(char::is_whitespace))
                };
                if line.len() > LONG_LINE && !spaced() {
                    for word in line.split_inclusive(char::is_whitespace) {
                        let candidates = matcher.candidates(word);
                        out.push_str(&self.apply(word, &candidates, skip));
                    }
                } else {
                    out.push_str(&self.apply(line, &candidates, skip));
                }
            }
            out
        };
        self.matcher = Some(matcher);
        out
    }

    /// Applies the mappings `candidates` (indexes, in order) to `text`, one after the other.
    fn apply(
        &mut self,
        text: &str,
        candidates: &[usize],
        skip: &std::collections::BTreeSet<String>,
    ) -> String {
        let mut out = std::borrow::Cow::Borrowed(text);
        for &i in candidates {
            let m = &self.mappings[i];
            if skip.contains(&m.raw) {
                continue;
            }
            let hits = match m.category {
                Category::HomePath => find_path(&out, &m.raw),
                Category::Path => find_whole_path(&out, &m.raw),
                _ => find_bounded(&out, &m.raw),
            };
            if hits.is_empty() {
                continue;
            }
            *self
                .counts
                .entry(m.category.as_str().to_string())
                .or_insert(0) += hits.len();
            let mut next = String::with_capacity(out.len());
            let mut last = 0;
            for (s, e) in hits {
                next.push_str(&out[last..s]);
                next.push_str(&m.pseudonym);
                last = e;
            }
            next.push_str(&out[last..]);
            out = std::borrow::Cow::Owned(next);
        }
        out.into_owned()
    }

    /// Puts the mappings in order (longest raw value first, so a FQDN is replaced
    /// before its short name) and builds the matcher for them, when seeds were added.
    fn order(&mut self) {
        let n = self.mappings.len();
        if self.sorted != n {
            self.mappings
                .sort_by(|a, b| b.raw.len().cmp(&a.raw.len()).then(a.raw.cmp(&b.raw)));
            self.sorted = n;
        }
        if self.matcher.as_ref().is_none_or(|m| m.built != n) {
            self.matcher = Matcher::build(&self.mappings);
        }
    }

    /// Puts raw values back (for `unmask`): pseudonyms are unique, so this is exact. One
    /// pass: a raw value put back is never read again as a pseudonym.
    pub fn unmask(mappings: &[Mapping], text: &str) -> String {
        let ordered: Vec<&Mapping> = mappings
            .iter()
            .filter(|m| m.category != Category::HomePath && !m.pseudonym.is_empty() && !m.spelling)
            .collect();
        let Ok(automaton) = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(ordered.iter().map(|m| &m.pseudonym))
        else {
            return text.to_string();
        };
        // Every place a pseudonym stands as a whole word; at each place the longest.
        let mut hits: Vec<(usize, usize, usize)> = automaton
            .find_overlapping_iter(text)
            .map(|h| (h.start(), h.end(), h.pattern().as_usize()))
            .filter(|&(s, e, i)| bounded(text, s, e, &ordered[i].pseudonym))
            // `user-1` inside `other-user-1` (a pseudonym of another kind, perhaps from
            // another bundle's map) is not it; `user-1-work` (a redacted `alice-work`) is.
            .filter(|&(s, _, _)| !text[..s].ends_with("other-"))
            .collect();
        hits.sort_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for (s, e, i) in hits {
            if s < last {
                continue;
            }
            out.push_str(&text[last..s]);
            out.push_str(&ordered[i].raw);
            last = e;
        }
        out.push_str(&text[last..]);
        out
    }
}

/// True when `needle` found at `start..end` of `hay` is not inside a longer word (the
/// rule of [`find_bounded`]).
fn bounded(hay: &str, start: usize, end: usize, needle: &str) -> bool {
    let (first, last) = (
        needle.chars().next().unwrap_or(' '),
        needle.chars().last().unwrap_or(' '),
    );
    (!wordy(first) || hay[..start].chars().next_back().is_none_or(|c| !wordy(c)))
        && (!wordy(last) || hay[end..].chars().next().is_none_or(|c| !wordy(c)))
}

impl Matcher {
    /// A matcher of every mapping's raw value; `None` when none can be built (then
    /// every mapping is tried on every text).
    fn build(mappings: &[Mapping]) -> Option<Matcher> {
        let automaton = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(mappings.iter().map(|m| &m.raw))
            .ok()?;
        let in_pseudonyms = mappings
            .iter()
            .flat_map(|m| automaton.find_overlapping_iter(&m.pseudonym))
            .map(|hit| hit.pattern().as_usize())
            .collect();
        Some(Matcher {
            built: mappings.len(),
            in_pseudonyms,
            multiline: mappings.iter().any(|m| m.raw.contains('\n')),
            automaton,
        })
    }

    /// The indexes, in order, of the mappings whose raw value occurs in `text` or in a
    /// pseudonym: a superset, each is confirmed by its rule.
    fn candidates(&self, text: &str) -> Vec<usize> {
        let mut found: std::collections::BTreeSet<usize> = self
            .automaton
            .find_overlapping_iter(text)
            .map(|hit| hit.pattern().as_usize())
            .collect();
        found.extend(self.in_pseudonyms.iter().copied());
        found.into_iter().collect()
    }
}

/// The ways a path may be written in the bundle's texts: as given, with `/`, with `\`,
/// and with `\` doubled (some of ssh's messages on Windows).
pub fn path_spellings(path: &str) -> Vec<String> {
    let mut out = vec![
        path.to_string(),
        path.replace('\\', "/"),
        path.replace('/', "\\"),
        path.replace('\\', "\\\\"),
    ];
    out.sort();
    out.dedup();
    out
}

/// A path seed only as a whole path: not inside a longer path (`/net.json` is not in
/// `nodes/x/net.json`), though a path may continue after it (`/opt/x` in `/opt/x/y`).
pub fn find_whole_path(hay: &str, path: &str) -> Vec<(usize, usize)> {
    let pathy = |c: char| c.is_alphanumeric() || "/._-~%".contains(c);
    find_bounded(hay, path)
        .into_iter()
        .filter(|(s, e)| {
            let mut after = hay[*e..].chars();
            let next = after.next();
            // A sentence may end right after a path: `… of ~/.ssh/work.`
            let full_stop = next == Some('.') && after.next().is_none_or(|c| !pathy(c));
            hay[..*s].chars().next_back().is_none_or(|c| !pathy(c))
                && (full_stop || next.is_none_or(|c| c == '/' || !pathy(c)))
        })
        .collect()
}

/// The home path, only where a path continues or ends after it (not `/home/alice2`).
pub fn find_path(hay: &str, path: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if path.is_empty() {
        return out;
    }
    // ASCII case-insensitive: Windows writes one home as `C:\Users\Ana` and `C:\users\ana`.
    let (hay_lower, path) = (hay.to_ascii_lowercase(), path.to_ascii_lowercase());
    let mut from = 0;
    while let Some(pos) = hay_lower[from..].find(&path) {
        let start = from + pos;
        let end = start + path.len();
        if hay[end..]
            .chars()
            .next()
            .is_none_or(|c| c == '/' || !(c.is_alphanumeric() || c == '_' || c == '-' || c == '.'))
        {
            out.push((start, end));
        }
        from = end;
    }
    out
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// 0.0.0.0/8 is no host's address; `0.0.1.0` is a version (`OpenSSH.Client~~~~0.0.1.0`).
fn this_network(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.octets()[0] == 0)
}

/// Documentation ranges (RFC 5737, RFC 3849): the pseudonyms' own addresses.
pub fn is_documentation(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        IpAddr::V6(v6) => v6.segments()[0] == 0x2001 && v6.segments()[1] == 0x0db8,
    }
}

/// A documentation address keeping the class: private → 192.0.2.n / 2001:db8:f::n,
/// public → 198.51.100.n / 2001:db8::n.
fn ip_pseudonym(raw: &str, n: usize) -> String {
    let n = n.min(254);
    match raw.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) if is_private(&ip) => format!("192.0.2.{n}"),
        Ok(IpAddr::V4(_)) => format!("198.51.100.{n}"),
        Ok(ip @ IpAddr::V6(_)) if is_private(&ip) => format!("2001:db8:f::{n:x}"),
        _ => format!("2001:db8::{n:x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        let mut r = Redactor::new(vec![
            "galvani-login.mlcloud.uni-tuebingen.de".into(),
            "pbb111".into(),
        ]);
        r.seed(Category::HomePath, "/home/alice");
        r.seed(Category::LoginName, "alice");
        r.seed(Category::LocalHost, "alice-laptop.lab.example.org");
        r.seed(Category::LocalHost, "alice-laptop");
        r
    }

    #[test]
    fn seeds_become_readable_pseudonyms_consistently() {
        let mut r = redactor();
        let text = "/home/alice/.ssh/config by alice on alice-laptop (alice-laptop.lab.example.org); ALICE again; galvani-login.mlcloud.uni-tuebingen.de as pbb111";
        let out = r.redact(text);
        assert_eq!(out, "~/.ssh/config by user-1 on client-2 (client-1); user-1 again; galvani-login.mlcloud.uni-tuebingen.de as pbb111");
    }

    #[test]
    fn a_value_with_a_control_character_is_found_in_its_escaped_form() {
        let mut r = redactor();
        let name = r.seed(Category::User, "zedkin\u{7}").unwrap();
        let escaped = format!("User {}", crate::escape::text("zedkin\u{7}"));
        assert_eq!(r.redact(&escaped), format!("User {name}"));
    }

    #[test]
    fn words_containing_a_seed_are_left_alone() {
        let mut r = Redactor::new(vec![]);
        r.seed(Category::LoginName, "root");
        assert_eq!(
            r.redact("PermitRootLogin rootless root /root/.ssh"),
            "PermitRootLogin rootless user-1 /user-1/.ssh"
        );
        r.seed(Category::HomePath, "/home/al");
        assert_eq!(
            r.redact("/home/al/x /home/alice/y /home/al"),
            "~/x /home/alice/y ~"
        );
    }

    #[test]
    fn discovery_of_emails_and_ips_keeps_the_class() {
        let mut r = Redactor::new(vec!["10.9.9.9".into()]);
        let text = "mail jane.doe@uni-tuebingen.de from 10.1.2.3 and 8.8.4.4, node 10.9.9.9, loop 127.0.0.1, cipher chacha20-poly1305@openssh.com";
        r.discover(text);
        let out = r.redact(text);
        assert_eq!(out, "mail email-1@example.invalid from 192.0.2.1 and 198.51.100.2, node 10.9.9.9, loop 127.0.0.1, cipher chacha20-poly1305@openssh.com");
    }

    #[test]
    fn properties_idempotent_untouched_and_reversible() {
        let mut r = redactor();
        let samples = [
            "",
            "nothing to see here",
            "alice@alice-laptop:/home/alice$ ssh slurm",
            "ünïcödé alice ✓ /home/alice",
            "alicealice alice_x xalice",
        ];
        for s in samples {
            let once = r.redact(s);
            assert_eq!(r.redact(&once), once, "idempotent on {s:?}");
            assert_eq!(
                Redactor::unmask(r.mappings(), &once).replace('~', "/home/alice"),
                s.replace('~', "/home/alice"),
                "reversible on {s:?}"
            );
        }
        assert_eq!(r.redact("nothing to see here"), "nothing to see here");
        assert_eq!(
            r.seed(Category::LoginName, "Alice"),
            Some("user-1".into()),
            "same value, same pseudonym"
        );
    }

    #[test]
    fn unmask_leaves_a_longer_pseudonym_alone() {
        let r = redactor();
        // `user-1` is alice; `other-user-1` and `user-12` are other pseudonyms.
        assert_eq!(
            Redactor::unmask(
                r.mappings(),
                "other-user-1 user-12 user-1-x x-user-1 user-1, (user-1)"
            ),
            "other-user-1 user-12 alice-x x-alice alice, (alice)"
        );
    }

    /// Every mapping tried on the whole text, one after the other: what
    /// `redact_except` must equal however it splits the text.
    fn whole_text(r: &mut Redactor, text: &str) -> String {
        r.order();
        let all: Vec<usize> = (0..r.mappings.len()).collect();
        r.apply(text, &all, &std::collections::BTreeSet::new())
    }

    proptest::proptest! {
        #[test]
        fn line_by_line_and_word_by_word_equal_the_whole_text(
            words in proptest::collection::vec(
                proptest::sample::select(vec![
                    "alice", "alice-laptop", "alice-laptop.lab.example.org", "/home/alice",
                    "/home/alice/.ssh/id_work", "~/.ssh/id_work", "ssh -W %h:%p jump",
                    "jump", "x", "alicex", ".", ",", "line\nbreak", "", "é",
                ]),
                0..40,
            ),
            separators in proptest::collection::vec(
                proptest::sample::select(vec![" ", "\n", "", "\t", "/", "@", ".\n", "\r\n"]),
                40,
            ),
            long in proptest::bool::ANY,
            multiline_seed in proptest::bool::ANY,
        ) {
            let mut r = redactor();
            r.seed(Category::Path, "/home/alice/.ssh/id_work");
            r.seed(Category::Path, "~/.ssh/id_work");
            r.seed(Category::Command, "ssh -W %h:%p jump");
            r.seed(Category::Host, "jump");
            if multiline_seed {
                r.seed(Category::EnvValue, "line\nbreak");
            }
            let mut text: String = words
                .iter()
                .zip(&separators)
                .flat_map(|(w, s)| [*w, *s])
                .collect();
            if long {
                // Past LONG_LINE, a line is taken word by word.
                text = format!("{} {text}", "pad ".repeat(LONG_LINE / 4 + 1));
            }
            let expected = whole_text(&mut r.clone(), &text);
            proptest::prop_assert_eq!(r.redact(&text), expected);
        }
    }

    #[test]
    fn a_value_is_found_as_a_config_spells_it() {
        let mut r = Redactor::new(vec![]);
        let user = r.seed(Category::User, "jane doe").unwrap();
        let secret = r.seed(Category::EnvValue, "Hunter2\"Secret").unwrap();
        let path = r
            .seed(Category::Path, "/srv/Jane Private/keys/id_work")
            .unwrap();
        let back = r.seed(Category::EnvValue, "abc\\defgh").unwrap();
        assert_eq!(
            r.redact("User jane\\ doe\nSetEnv DB=\"Hunter2\\\"Secret\"\nIdentityFile /srv/Jane\\ Private/keys/id_work\nSetEnv P=abc\\\\defgh\n"),
            format!("User {user}\nSetEnv DB=\"{secret}\"\nIdentityFile {path}\nSetEnv P={back}\n")
        );
    }

    #[test]
    fn short_seeds_are_refused_and_kept_values_untouched() {
        let mut r = Redactor::new(vec!["pbb111".into()]);
        assert_eq!(r.seed(Category::LoginName, "al"), None);
        assert_eq!(r.too_short, vec![Category::LoginName]);
        assert_eq!(r.seed(Category::User, "pbb111"), None);
    }
}
