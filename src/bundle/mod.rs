//! The support bundle: collect → redact → leak-check → zip, written atomically and never
//! over an existing file. The pseudonym map stays on this machine.

pub mod allow;
pub mod inspect;
pub mod leakcheck;
pub mod redact;
pub mod unmask;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::check::CheckId;
use crate::context::Context;
use crate::finding::{Finding, Remedy};
use crate::report::{BundleInfo, Report};
use crate::runner::RunState;
use crate::settings::{BundleTarget, Settings};
use redact::{Category, Redactor};

/// The bundle's manifest schema.
pub const MANIFEST_SCHEMA: &str = "mlc-doctor.bundle/1";
/// Largest file kept in a bundle; longer files are cut with a note.
pub const FILE_CAP: usize = 1 << 20;

/// A file's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub tool: crate::report::Tool,
    pub created: String,
    pub argv: Vec<String>,
    pub files: Vec<ManifestFile>,
    pub redaction: RedactionSummary,
    pub leak_check: LeakSummary,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RedactionSummary {
    /// Replacements per category.
    pub counts: BTreeMap<String, usize>,
    /// Categories whose value was too short to redact safely.
    pub not_redacted_too_short: Vec<String>,
    pub cluster_user_kept: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LeakSummary {
    pub passed: bool,
    pub files_scanned: usize,
}

/// Why no bundle was written.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("leak check refused to write the bundle: {}", .0.iter().take(10).map(|l| l.to_string()).collect::<Vec<_>>().join("; "))]
    Leak(Vec<leakcheck::Leak>),
    #[error("{path} already exists; the bundle is never written over an existing file (choose another --bundle path)")]
    Exists { path: String },
    #[error("cannot write the bundle to {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot build the zip: {0}")]
    Zip(String),
}

/// A bundle being assembled: staged (redacted) files, the redactor and what the leak gate
/// searches for.
pub struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    redactor: Redactor,
    sources: leakcheck::Sources,
    argv: Vec<String>,
    created: String,
    cluster_user_kept: bool,
    map_dir: PathBuf,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn cap(mut bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() > FILE_CAP {
        bytes.truncate(FILE_CAP);
        bytes.extend_from_slice(b"\n[truncated by mlc-doctor: file larger than 1 MiB]\n");
    }
    bytes
}

/// The local IP addresses of this machine (not loopback).
fn local_ips() -> Vec<String> {
    let Ok(nets) = sysinfo::Networks::new_with_refreshed_list() else {
        return vec![];
    };
    let mut out = Vec::new();
    for (_, data) in nets.iter() {
        for ip in data.ip_networks() {
            if !ip.addr.is_loopback() && !ip.addr.is_unspecified() {
                out.push(ip.addr.to_string());
            }
        }
    }
    out
}

const SECRET_ENV_WORDS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "KEY",
    "AUTH",
    "CREDENTIAL",
    "COOKIE",
    "SESSION",
    "PRIVATE",
];

/// Builds the redactor from authoritative local sources, before anything is written.
pub fn seeds(settings: &Settings, ctx: &Context, state: &RunState) -> Redactor {
    let cluster_users: Vec<String> = state.plans.iter().filter_map(|p| p.user.clone()).collect();
    let mut keep = cluster_names(ctx, state);
    if !settings.redact_cluster_user {
        keep.extend(cluster_users.iter().cloned());
    }
    let mut r = Redactor::new(keep);
    seed_local_identity(&mut r, ctx);
    if settings.redact_cluster_user {
        for u in &cluster_users {
            r.seed(Category::ClusterUser, u);
        }
    }
    seed_key_comments(&mut r, state);
    // Key files wherever they are (a PuTTY session's `D:\Backups\Ana Lopez\k.ppk`).
    for k in &state.keys {
        seed_path(&mut r, &k.path.display().to_string());
    }
    // Hosts and users in the config that are not the cluster's.
    if let Some(cs) = &state.config {
        let config = ConfigSeeds {
            ctx,
            cluster_users: &cluster_users,
        };
        for f in cs.config.files.iter().filter(|f| !f.system) {
            for line in &f.parsed.lines {
                config.line(&mut r, line);
            }
        }
    }
    for ip in local_ips() {
        r.seed(Category::Ip, &ip);
    }
    seed_secret_env(&mut r, ctx);
    r
}

/// The login nodes' aliases and names, and the names and addresses of the nodes planned:
/// only the cluster's own (a HostName the user set to some other machine is not known to
/// be safe; the vocabulary says the same).
fn cluster_names(ctx: &Context, state: &RunState) -> Vec<String> {
    let mut keep: Vec<String> = Vec::new();
    for node in ctx.profile.nodes() {
        keep.push(node.alias().to_string());
        keep.push(node.hostname().to_string());
    }
    for n in state
        .nodes
        .iter()
        .filter(|n| ctx.profile.is_cluster_host(&n.hostname))
    {
        keep.push(n.hostname.clone());
        if let Some(d) = &n.dns {
            keep.extend(d.addresses.iter().cloned());
        }
    }
    keep
}

/// The home (as given, resolved, and the account's), the login name and this machine's
/// name.
fn seed_local_identity(r: &mut Redactor, ctx: &Context) {
    for home in [
        Some(ctx.home.clone()),
        std::fs::canonicalize(&ctx.home).ok(),
        ctx.passwd_home.clone(),
    ]
    .into_iter()
    .flatten()
    {
        let h = home.display().to_string();
        if h.len() > 1 {
            r.seed(Category::HomePath, &h);
            // Windows: the same home with `/`, with `\` doubled, and by its 8.3 name
            // (`C:\Users\ANALOP~1`, in TEMP and what ssh prints from it).
            let short = crate::platform::short_path(&home).map(|p| p.display().to_string());
            for spelling in redact::path_spellings(&h)
                .into_iter()
                .chain(short.iter().flat_map(|s| redact::path_spellings(s)))
            {
                if spelling != h && spelling.len() > 1 {
                    r.also(Category::HomePath, &spelling, "~");
                }
            }
        }
    }
    r.seed(Category::LoginName, &ctx.local_user);
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Some(v) = ctx.env.get(var) {
            r.seed(Category::LoginName, v);
        }
    }
    // The Windows domain an account belongs to (`UNI-TUEBINGEN\ana`).
    for var in ["USERDOMAIN", "USERDNSDOMAIN"] {
        if let Some(v) = ctx.env.get(var) {
            r.seed(Category::LocalHost, v);
        }
    }
    let host = ctx.local_host.clone();
    r.seed(Category::LocalHost, &host);
    if let Some(short) = host.split('.').next() {
        r.seed(Category::LocalHost, short);
    }
    if let Some(h) = ctx.env.get("HOSTNAME") {
        r.seed(Category::LocalHost, h);
    }
}

/// The comments of the key files and of the agent's keys (often `user@laptop`).
fn seed_key_comments(r: &mut Redactor, state: &RunState) {
    let mut comments: Vec<&str> = Vec::new();
    for k in &state.keys {
        comments.extend(k.comment.as_deref());
        comments.extend(k.pub_facts.as_ref().and_then(|p| p.comment.as_deref()));
    }
    if let Some(agent) = &state.agent {
        comments.extend(agent.keys.iter().map(|k| k.comment.as_str()));
    }
    for c in comments {
        r.discover(c);
        r.seed(Category::KeyComment, c);
    }
}

/// Values of environment variables named like secrets (tokens, passwords, keys).
fn seed_secret_env(r: &mut Redactor, ctx: &Context) {
    for (k, v) in &ctx.env {
        let upper = k.to_ascii_uppercase();
        if SECRET_ENV_WORDS.iter().any(|w| upper.contains(w))
            && v.len() >= 6
            && !upper.contains("SSH_AUTH_SOCK")
        {
            r.seed(Category::EnvValue, v);
        }
    }
}

/// Seeds from the user's config lines: hosts, users, paths, commands and values that are
/// not the cluster's.
struct ConfigSeeds<'a> {
    ctx: &'a Context,
    cluster_users: &'a [String],
}

impl ConfigSeeds<'_> {
    /// A username the plans use for the cluster (kept unless `--redact-cluster-user`).
    fn is_cluster_user(&self, user: &str) -> bool {
        self.cluster_users.iter().any(|c| c == user)
    }

    /// One config line, by its kind.
    fn line(&self, r: &mut Redactor, line: &crate::sshconfig::Line) {
        use crate::sshconfig::LineKind;
        match &line.kind {
            LineKind::Host(pats) => {
                for p in pats {
                    // `*.corp.example.com` names `corp.example.com`.
                    let p = p.trim_start_matches('!').trim_start_matches("*.");
                    if !p.contains(['*', '?']) && !self.ctx.profile.is_cluster_host(p) {
                        r.seed(Category::Host, p);
                    }
                }
            }
            LineKind::Include(args) => {
                for a in args {
                    seed_path(r, a);
                }
            }
            LineKind::Option { keyword, args } => self.option(r, keyword, &line.text, args),
            LineKind::Match(criteria) => {
                for c in criteria {
                    if let Some(arg) = c.argument.as_deref() {
                        self.match_criterion(r, &c.attribute, arg);
                    }
                }
            }
        }
    }

    /// An option line (`text` is the line as written, for commands).
    fn option(&self, r: &mut Redactor, keyword: &str, text: &str, args: &[String]) {
        match keyword {
            "hostname" | "proxyjump" | "hostkeyalias" => {
                for a in args {
                    self.destinations(r, a);
                }
            }
            "setenv" => {
                // Values set for the remote environment may be tokens.
                for a in args {
                    if let Some((_, value)) = a.split_once('=') {
                        r.seed(Category::EnvValue, value.trim_matches('"'));
                    }
                }
            }
            k if COMMAND_KEYWORDS.contains(&k) => seed_command(r, text, args),
            k if PATH_KEYWORDS.contains(&k) => {
                for a in args {
                    seed_path(r, a);
                }
            }
            "canonicaldomains" | "canonicalizepermittedcnames" => {
                for a in args {
                    for part in a.split([',', ':']) {
                        let part = part.trim_start_matches("*.");
                        if !part.contains(['*', '?']) {
                            r.seed(Category::Host, part);
                        }
                    }
                }
            }
            "localforward" | "remoteforward" | "dynamicforward" | "permitremoteopen"
            | "bindaddress" | "bindinterface" | "tag" => {
                for a in args {
                    seed_forward(r, a);
                }
            }
            "user" => {
                for a in args {
                    if !self.is_cluster_user(a) {
                        r.discover(a);
                        r.seed(Category::User, a);
                    }
                }
            }
            _ => {}
        }
    }

    /// A HostName, ProxyJump or HostKeyAlias value: `[user@]host[:port]`, comma-separated
    /// hops, IPv6 addresses bare or in brackets.
    fn destinations(&self, r: &mut Redactor, value: &str) {
        for part in value.split(',') {
            let host = part.rsplit_once('@').map(|(_, h)| h).unwrap_or(part);
            let host = host
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or(host);
            // A whole IPv6 address first; only then `host:port`.
            let host = if host.parse::<std::net::IpAddr>().is_ok() {
                host
            } else {
                host.split(':').next().unwrap_or(host)
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                r.seed(Category::Ip, host);
            } else if !self.ctx.profile.is_cluster_host(host) && host != "none" {
                r.seed(Category::Host, host);
            }
        }
        if let Some((user, _)) = value.split(',').next().and_then(|p| p.rsplit_once('@')) {
            if !self.is_cluster_user(user) {
                r.seed(Category::User, user);
            }
        }
    }

    /// One criterion of a `Match` line and its argument.
    fn match_criterion(&self, r: &mut Redactor, attribute: &str, arg: &str) {
        match attribute {
            "exec" => seed_command(r, arg, &[arg.to_string()]),
            "user" | "localuser" => {
                for u in arg.split(',') {
                    let u = u.trim_start_matches('!');
                    if !u.contains(['*', '?']) && !self.is_cluster_user(u) {
                        r.seed(Category::User, u);
                    }
                }
            }
            "host" | "originalhost" => {
                for h in arg.split(',') {
                    let h = h.trim_start_matches('!');
                    if !h.contains(['*', '?']) && !self.ctx.profile.is_cluster_host(h) {
                        r.seed(Category::Host, h);
                    }
                }
            }
            "localnetwork" | "tagged" => {
                for part in arg.split(',') {
                    seed_forward(r, part.trim_start_matches('!'));
                }
            }
            _ => {}
        }
    }
}

/// What the bundle may ship as it is: the cluster's names, addresses and URLs, and the
/// cluster username unless `--redact-cluster-user`.
pub fn vocabulary(settings: &Settings, ctx: &Context, state: &RunState) -> allow::Vocabulary {
    let mut hosts: Vec<String> = Vec::new();
    for node in ctx.profile.nodes() {
        hosts.push(node.alias().to_string());
        hosts.push(node.hostname().to_string());
    }
    let mut addresses = Vec::new();
    for n in &state.nodes {
        if ctx.profile.is_cluster_host(&n.hostname) {
            if let Some(d) = &n.dns {
                addresses.extend(d.addresses.iter().cloned());
            }
        }
    }
    let mut words: Vec<String> = ctx
        .profile
        .nodes()
        .iter()
        .map(|n| n.alias().to_string())
        .collect();
    if !settings.redact_cluster_user {
        words.extend(state.plans.iter().filter_map(|p| p.user.clone()));
    }
    allow::Vocabulary::new(hosts, addresses, ctx.profile.docs_url.clone(), words)
}

/// Keywords whose value is a command line (never shipped: `<command N>`).
const COMMAND_KEYWORDS: &[&str] = &[
    "proxycommand",
    "localcommand",
    "remotecommand",
    "knownhostscommand",
];

/// Keywords whose values are paths.
const PATH_KEYWORDS: &[&str] = &[
    "identityfile",
    "certificatefile",
    "identityagent",
    "controlpath",
    "userknownhostsfile",
    "globalknownhostsfile",
    "xauthlocation",
    "pkcs11provider",
    "securitykeyprovider",
    "revokedhostkeys",
];

/// A command line: the whole of it as written, and each long word of it on its own.
fn seed_command(r: &mut Redactor, line_text: &str, args: &[String]) {
    let rest = line_text
        .split_once(|c: char| c.is_whitespace() || c == '=')
        .map(|(_, rest)| rest.trim_start_matches(|c: char| c.is_whitespace() || c == '='))
        .unwrap_or(line_text);
    if !rest.eq_ignore_ascii_case("none") {
        r.seed(Category::Command, rest.trim());
        let joined = args.join(" ");
        if joined != rest {
            r.seed(Category::Command, &joined);
        }
    }
    for a in args {
        for word in a.split_whitespace() {
            let value = word.rsplit_once('=').map(|(_, v)| v).unwrap_or(word);
            if value.len() >= 6 && !value.starts_with('%') {
                r.seed(Category::Token, value);
            }
        }
    }
}

/// A path value: kept when it is a conventional name in `~/.ssh` (or `none`).
fn seed_path(r: &mut Redactor, value: &str) {
    let lower = value.to_ascii_lowercase();
    if lower == "none" || lower == "ssh_auth_sock" {
        return;
    }
    // A path is named by the form the report shows (`~/…` for one under the home, in any
    // case and with either slash, as Windows writes it) and found in every spelling.
    let tilde = tilde_form(r.homes(), value);
    if let Some(name) = tilde.strip_prefix("~/.ssh/") {
        if allow::conventional_name(name) {
            return;
        }
    }
    if let Some(pseudonym) = r.seed(Category::Path, &tilde) {
        for spelling in redact::path_spellings(value)
            .into_iter()
            .chain(redact::path_spellings(&tilde))
        {
            if spelling != tilde {
                r.also(Category::Path, &spelling, &pseudonym);
            }
        }
    }
}

/// `value` as the report shows it: `~/rest` with `/` for a path under one of `homes`
/// (ASCII case-insensitive, `\` and `/` alike), else as it is (`~\x` as `~/x`).
fn tilde_form(homes: &[String], value: &str) -> String {
    let norm = |s: &str| s.replace('\\', "/").to_ascii_lowercase();
    let v = norm(value);
    for home in homes {
        let h = norm(home.trim_end_matches(['/', '\\']));
        if !h.is_empty() && v.len() > h.len() && v.starts_with(&h) && v.as_bytes()[h.len()] == b'/'
        {
            return format!("~{}", value[h.len()..].replace('\\', "/"));
        }
    }
    match value.strip_prefix('~') {
        Some(rest) => format!("~{}", rest.replace('\\', "/")),
        None => value.to_string(),
    }
}

/// A forward or bind spec (`[addr:]port:host:hostport`, a socket path, a name): every
/// part that is not a number, `localhost` or a wildcard.
fn seed_forward(r: &mut Redactor, value: &str) {
    if value.starts_with('/') || value.starts_with('~') {
        seed_path(r, value);
        return;
    }
    if let Ok(ip) = value
        .split('/')
        .next()
        .unwrap_or(value)
        .parse::<std::net::IpAddr>()
    {
        r.seed(Category::Ip, &ip.to_string());
        return;
    }
    let inner = value.replace(['[', ']'], " ");
    for part in inner.split([':', ' ']) {
        if part.is_empty()
            || part.chars().all(|c| c.is_ascii_digit())
            || part == "*"
            || part.eq_ignore_ascii_case("localhost")
        {
            continue;
        }
        if part.parse::<std::net::IpAddr>().is_ok() {
            r.seed(Category::Ip, part);
        } else {
            r.seed(Category::Host, part);
        }
    }
}

fn json(value: &impl Serialize) -> Vec<u8> {
    let mut v = serde_json::to_vec_pretty(value).unwrap_or_default();
    v.push(b'\n');
    v
}

/// The strings of a bundle JSON file, with nothing a terminal acts on (the file stays
/// valid JSON). `report.json` was escaped as the report is for the terminal
/// ([`Report::escape`]): its commands keep their line breaks (JSON writes them as `\n`),
/// as in `--json`.
fn escape_json(name: &str, v: &mut serde_json::Value) {
    if name == "report.json" {
        crate::escape::json_keeping_lines(v);
    } else {
        crate::escape::json(v);
    }
}

/// A bundle file being redacted. JSON is redacted string by string: its escapes are
/// no part of any value (in `"~/.ssh/id_ed25519\n  IdentitiesOnly yes"` the file name
/// ends before the `\n`, which the text form would have joined to it).
enum Staged {
    Text(String),
    Json(serde_json::Value),
}

impl Staged {
    /// The file with nothing a terminal acts on: JSON as a value with its strings escaped
    /// ([`escape_json`]), any other file through [`crate::escape::bytes`].
    fn new(name: &str, bytes: &[u8]) -> Staged {
        if name.ends_with(".json") {
            if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(bytes) {
                escape_json(name, &mut v);
                return Staged::Json(v);
            }
        }
        Staged::Text(crate::escape::bytes(bytes))
    }

    /// Every text of the file: the whole of a text file, each string (and key) of JSON.
    fn texts(&self) -> Vec<&str> {
        fn walk<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
            match v {
                serde_json::Value::String(s) => out.push(s),
                serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                serde_json::Value::Object(o) => {
                    for (k, x) in o {
                        out.push(k);
                        walk(x, out);
                    }
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        match self {
            Staged::Text(t) => out.push(t.as_str()),
            Staged::Json(v) => walk(v, &mut out),
        }
        out
    }

    /// Replaces every text of the file by `f` of it.
    fn rewrite(&mut self, f: &mut dyn FnMut(&str) -> String) {
        fn walk(v: &mut serde_json::Value, f: &mut dyn FnMut(&str) -> String) {
            match v {
                serde_json::Value::String(s) => *s = f(s),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
                serde_json::Value::Object(o) => {
                    for (k, mut x) in std::mem::take(o) {
                        walk(&mut x, f);
                        // Two keys may get one name (`Work` and `work`): both stay.
                        let base = f(&k);
                        let mut key = base.clone();
                        let mut n = 2;
                        while o.contains_key(&key) {
                            key = format!("{base} ({n})");
                            n += 1;
                        }
                        o.insert(key, x);
                    }
                }
                _ => {}
            }
        }
        match self {
            Staged::Text(t) => *t = f(t),
            Staged::Json(v) => walk(v, f),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Staged::Text(t) => t.into_bytes(),
            Staged::Json(v) => json(&v),
        }
    }
}

/// Every file of the bundle, unredacted, from the run's evidence.
pub fn collect(ctx: &Context, state: &RunState, report: &Report) -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // The report as the terminal gets it: escaped field by field (a command keeps its
    // lines, a server's words do not start new ones).
    let mut report = report.clone();
    report.escape();
    let report = &report;
    files.insert("report.json".into(), json(report));
    let mut txt = Vec::new();
    let _ = crate::render::human::render(
        report,
        &crate::render::Style {
            verbosity: crate::settings::Verbosity::Verbose,
            ..crate::render::Style::plain()
        },
        &mut txt,
    );
    files.insert("report.txt".into(), txt);
    for (name, bytes) in &state.artifacts {
        let bytes = if name.ends_with("/ssh-vvv.txt") {
            crate::transcript::shipped_lines(&String::from_utf8_lossy(bytes)).into_bytes()
        } else {
            bytes.clone()
        };
        files.insert(name.clone(), bytes);
    }
    files
        .entry("env/system.json".into())
        .or_insert_with(|| b"{}\n".to_vec());
    files
        .entry("ssh/config.txt".into())
        .or_insert_with(|| b"# no config was read\n".to_vec());
    files
        .entry("ssh/keys.json".into())
        .or_insert_with(|| b"[]\n".to_vec());
    files
        .entry("ssh/permissions.txt".into())
        .or_insert_with(|| crate::probes::perms::listing(ctx).into_bytes());
    files.insert(
        "ssh/known_hosts.txt".into(),
        known_hosts_extract(ctx, state).into_bytes(),
    );
    files.insert(
        "ssh/agent.json".into(),
        json(&serde_json::json!({
            "present": state.agent.is_some(),
            "socket_set": ctx.env.contains_key("SSH_AUTH_SOCK"),
            "key_count": state.agent.as_ref().map(|a| a.keys.len()).unwrap_or(0),
            "keys": state.agent.as_ref().map(|a| a.keys.clone()).unwrap_or_default(),
        })),
    );
    for node in &state.nodes {
        files.insert(format!("nodes/{}/net.json", node.alias), json(&serde_json::json!({"hostname": node.hostname, "port": node.port, "proxy": node.proxy, "dns": node.dns, "tcp": node.tcp})));
        files.insert(
            format!("nodes/{}/handshake.json", node.alias),
            json(&serde_json::json!({"user": node.user, "banner": node.banner, "algorithms": node.algorithms, "host_key": node.host_key, "auth_methods": node.auth_methods, "accepted_keys": node.accepted_keys, "second_factor": node.second_factor, "transcript": node.transcript})),
        );
    }
    files.insert("README.txt".into(), readme(ctx, report).into_bytes());
    // JSON is never cut (half a document is no evidence and fails `bundle inspect`); the
    // doctor's own caps bound it (findings per kind, keys read, nodes).
    files
        .into_iter()
        .map(|(k, v)| {
            let v = if k.ends_with(".json") { v } else { cap(v) };
            (k, v)
        })
        .collect()
}

/// Only the known_hosts lines for the profile's nodes, and a count of the rest.
fn known_hosts_extract(ctx: &Context, state: &RunState) -> String {
    let mut names: Vec<String> = Vec::new();
    for plan in &state.plans {
        names.push(crate::knownhosts::host_name(&plan.hostname, plan.port));
        names.push(crate::knownhosts::host_name(&plan.alias, plan.port));
    }
    for node in &state.nodes {
        for a in node.dns.iter().flat_map(|d| d.addresses.iter()) {
            names.push(crate::knownhosts::host_name(a, node.port));
        }
    }
    let mut files: Vec<PathBuf> = state
        .plans
        .iter()
        .flat_map(|p| p.known_hosts_files.clone())
        .collect();
    files.sort();
    files.dedup();
    let mut out = String::from(
        "# known_hosts lines for the login nodes only; other lines are counted, not shown\n",
    );
    for f in files {
        let Ok(meta) = std::fs::metadata(&f) else {
            continue;
        };
        if !meta.is_file() || meta.len() > 16 << 20 {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap_or_default()).into_owned();
        let entries = crate::knownhosts::parse(&text);
        let lines: Vec<&str> = text.lines().collect();
        let mut others = 0;
        let _ = writeln!(out, "==> {} <==", ctx.show(&f));
        for e in &entries {
            if names.iter().any(|n| e.matches(n)) {
                // Marker, host patterns, key type and key; a trailing comment stays home.
                let fields: Vec<&str> = lines
                    .get(e.line - 1)
                    .unwrap_or(&"")
                    .split_whitespace()
                    .collect();
                let keep = if fields.first().is_some_and(|f| f.starts_with('@')) {
                    4
                } else {
                    3
                };
                let _ = writeln!(
                    out,
                    "{:5} | {}",
                    e.line,
                    fields
                        .iter()
                        .take(keep)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            } else {
                others += 1;
            }
        }
        let _ = writeln!(out, "# {others} other line(s) not shown");
    }
    out
}

fn readme(ctx: &Context, report: &Report) -> String {
    format!(
        "mlc-doctor support bundle\n=========================\n\n\
         Made by mlc-doctor {} for the {} login nodes on {}.\n\
         Summary: {} failed, {} warnings, {} passed.\n\n\
         Start with report.txt (what the user saw, with evidence) or report.json.\n\
         Layout:\n\
           report.txt / report.json      the findings, the diagnosis and per-node results\n\
           env/system.json               OS, kernel, architecture, OpenSSH version\n\
           ssh/config.txt                the user's ssh config and Included files, with line numbers\n\
           ssh/effective/<alias>.txt     the doctor's evaluation and `ssh -G` per login node\n\
           ssh/keys.json                 key facts: type, bits, encryption, KDF rounds, fingerprint,\n\
                                         mode, and the public key line (to deploy) without comment\n\
           ssh/permissions.txt           modes and owners of ~, ~/.ssh and every file in it\n\
           ssh/known_hosts.txt           only the login nodes' lines\n\
           ssh/agent.json                ssh-agent key count and fingerprints\n\
           nodes/<alias>/net.json        DNS and TCP results with timings\n\
           nodes/<alias>/handshake.json  banner, algorithms, host key, auth methods, accepted keys\n\
           nodes/<alias>/ssh-vvv.txt     the OpenSSH client's verbose log (BatchMode, nothing typed)\n\
           manifest.json                 sizes and SHA-256 of every file; what was redacted\n\n\
         Redaction: only values known to be safe are kept; everything else is a pseudonym.\n\
         Kept: keywords, numbers, booleans, algorithm names, versions, fingerprints, public\n\
         keys (comments removed), OpenSSH's own messages, the login nodes' names and addresses,\n\
         conventional ~/.ssh file names and the cluster username. Pseudonyms, one kind each:\n\
           user-N, other-user-N       the local login name; other users in the config\n\
           client-N                   the local host name\n\
           host-N.example.invalid     other hosts\n\
           192.0.2.N / 198.51.100.N   IPv4 addresses (private / public); 2001:db8:f::N and\n\
           2001:db8::N                IPv6 (private / public); loopback stays\n\
           email-N@example.invalid    e-mail addresses\n\
           ~/.ssh/file-N, path-N      unconventional file names in ~/.ssh; paths elsewhere\n\
           <command N>                command lines (ProxyCommand, RemoteCommand, Match exec, ...)\n\
           token-N, env-value-N       tokens, URLs, SetEnv values and secret-like strings\n\
           key-comment-N              key comments\n\
         The home directory is shown as ~. Lines of the config that are not configuration\n\
         (comments, garbage) appear as line number and shape only; transcript lines of an\n\
         unknown shape as their length only. No private key, passphrase or shell history is\n\
         collected, and an independent leak check refused anything that looked private.\n\
         The user can put real names back into your reply with `mlc-doctor unmask`.\n\n\
         Verify with: mlc-doctor bundle inspect <this zip>\n\
         {}\n",
        report.tool.version,
        ctx.profile.name,
        report.started_at,
        report.summary.fail,
        report.summary.warn,
        report.summary.pass,
        ctx.profile.support,
    )
}

/// The default bundle path in the current directory.
pub fn default_path(ctx: &Context) -> PathBuf {
    let stamp = ctx.started_at.strftime("%Y%m%dT%H%M%SZ").to_string();
    PathBuf::from(format!("mlc-doctor-{stamp}.zip"))
}

/// Where pseudonym maps are kept: the user's state directory, never the bundle. The
/// account's own (where `unmask` looks), not a home given with `--home`: the run may not
/// write there, and the home checked is read, not changed.
pub fn map_dir(ctx: &Context) -> PathBuf {
    let own = crate::platform::default_home(ctx.os, &ctx.env).unwrap_or_else(|| ctx.home.clone());
    ctx.os.state_dir(&ctx.env, &own).join("maps")
}

impl Bundle {
    /// Collects and redacts every file of the bundle. Nothing is written yet.
    pub fn prepare(
        settings: &Settings,
        ctx: &Context,
        state: &RunState,
        report: &Report,
    ) -> Bundle {
        let raw = collect(ctx, state, report);
        let mut redactor = seeds(settings, ctx, state);
        for bytes in raw.values() {
            redactor.discover(&String::from_utf8_lossy(bytes));
        }
        let argv: Vec<String> = settings.argv.iter().map(|a| a.to_string()).collect();
        for a in &argv {
            redactor.discover(a);
        }
        // Pass 1: the values the doctor knows to be private (seeds).
        let mut staged: Vec<(String, Staged)> = Vec::new();
        for (name, bytes) in raw {
            let mut file = Staged::new(&name, &bytes);
            file.rewrite(&mut |t| redactor.redact(t));
            staged.push((redactor.redact(&crate::escape::text(&name)), file));
        }
        let argv: Vec<String> = argv.iter().map(|a| redactor.redact(a)).collect();
        // Pass 2, the allowlist: every token that still looks private and is not known
        // to be safe becomes a pseudonym of its kind.
        let vocab = vocabulary(settings, ctx, state);
        let known = redactor.raws();
        for (name, file) in &staged {
            redactor.sweep(name, &vocab);
            for text in file.texts() {
                redactor.sweep(text, &vocab);
            }
        }
        for a in &argv {
            redactor.sweep(a, &vocab);
        }
        let mut files = BTreeMap::new();
        for (name, mut file) in staged {
            file.rewrite(&mut |t| redactor.redact_except(t, &known));
            files.insert(redactor.redact_except(&name, &known), file.into_bytes());
        }
        let argv = argv
            .iter()
            .map(|a| redactor.redact_except(a, &known))
            .collect();
        let mut sources = leakcheck::Sources {
            seeds: redactor
                .mappings()
                .iter()
                .map(|m| (m.category, m.raw.clone()))
                .collect(),
            key_lines: vec![],
            vocabulary: vocab.clone(),
        };
        for k in state.keys.iter().filter(|k| k.facts.format.is_private()) {
            if let Ok(meta) = std::fs::metadata(&k.path) {
                if meta.is_file() && meta.len() < 1 << 20 {
                    if let Ok(bytes) = std::fs::read(&k.path) {
                        sources
                            .key_lines
                            .extend(leakcheck::key_body_lines(&String::from_utf8_lossy(&bytes)));
                    }
                }
            }
        }
        // An OpenSSH private key file carries its public key in the clear: a line of the
        // file that is part of a public key the bundle ships on purpose is no secret.
        let public: Vec<String> = state
            .keys
            .iter()
            .filter_map(|k| k.public())
            .filter_map(|p| p.to_openssh().ok())
            .collect();
        sources
            .key_lines
            .retain(|l| !public.iter().any(|p| p.contains(l.as_str())));
        Bundle {
            files,
            redactor,
            sources,
            argv,
            created: report.started_at.clone(),
            cluster_user_kept: !settings.redact_cluster_user,
            map_dir: map_dir(ctx),
        }
    }

    /// Adds a file exactly as given, without redaction; the leak gate still checks it.
    pub fn insert_verbatim(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(name.to_string(), bytes);
    }

    /// The staged files (redacted), by path.
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// Runs the leak gate and writes the zip atomically at `path` (never over a file).
    pub fn finish(&self, path: &Path) -> Result<BundleInfo, BundleError> {
        let mut manifest = Manifest {
            schema: MANIFEST_SCHEMA.into(),
            tool: crate::report::Tool::this(),
            created: self.created.clone(),
            argv: self.argv.clone(),
            files: self
                .files
                .iter()
                .map(|(p, b)| ManifestFile {
                    path: p.clone(),
                    size: b.len() as u64,
                    sha256: hex(&Sha256::digest(b)),
                })
                .collect(),
            redaction: RedactionSummary {
                counts: self.redactor.counts.clone(),
                not_redacted_too_short: self
                    .redactor
                    .too_short
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect(),
                cluster_user_kept: self.cluster_user_kept,
            },
            leak_check: LeakSummary::default(),
        };
        let mut all = self.files.clone();
        all.insert("manifest.json".into(), json(&manifest));
        let scanned = leakcheck::check(&all, &self.sources).map_err(BundleError::Leak)?;
        manifest.leak_check = LeakSummary {
            passed: true,
            files_scanned: scanned,
        };
        all.insert("manifest.json".into(), json(&manifest));

        if path.exists() {
            return Err(BundleError::Exists {
                path: path.display().to_string(),
            });
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let io = |source| BundleError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".mlc-doctor-")
            .suffix(".zip.tmp")
            .tempfile_in(&dir)
            .map_err(io)?;
        crate::platform::make_private(tmp.as_file()).map_err(io)?;
        {
            let mut zip = zip::ZipWriter::new(tmp.as_file_mut());
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .unix_permissions(0o600);
            for (name, bytes) in &all {
                zip.start_file(name.as_str(), opts)
                    .map_err(|e| BundleError::Zip(e.to_string()))?;
                zip.write_all(bytes).map_err(io)?;
            }
            zip.finish().map_err(|e| BundleError::Zip(e.to_string()))?;
        }
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                BundleError::Exists {
                    path: path.display().to_string(),
                }
            } else {
                io(e.error)
            }
        })?;
        let bytes = std::fs::read(path).map_err(io)?;
        let info = BundleInfo {
            path: path.display().to_string(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(&bytes)),
        };
        if let Err(e) = self.save_map(path, &info.sha256) {
            eprintln!("mlc-doctor: the pseudonym map was not saved ({e}); `unmask` will not work for this bundle");
        }
        Ok(info)
    }

    /// Keeps the pseudonym map next to the user's other state, for `unmask`: one map per
    /// bundle, named after the bundle and its hash (two bundles never share one), written
    /// like the bundle (temp file then rename, mode 0600, never through a link or over a
    /// file). A link in place of the map directory is refused, not followed.
    fn save_map(&self, zip: &Path, sha256: &str) -> Result<PathBuf, String> {
        let name = zip
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle.zip".into());
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        crate::platform::private_dir(&self.map_dir).map_err(|e| e.to_string())?;
        let target = self
            .map_dir
            .join(format!("{safe}.{}.json", &sha256[..sha256.len().min(16)]));
        let body = json(
            &serde_json::json!({"bundle": name, "bundle_sha256": sha256, "mappings": self.redactor.mappings()}),
        );
        let mut tmp = tempfile::Builder::new()
            .prefix(".map-")
            .suffix(".tmp")
            .tempfile_in(&self.map_dir)
            .map_err(|e| e.to_string())?;
        crate::platform::make_private(tmp.as_file()).map_err(|e| e.to_string())?;
        tmp.write_all(&body).map_err(|e| e.to_string())?;
        match tmp.persist_noclobber(&target) {
            Ok(_) => Ok(target),
            // A byte-identical bundle (same content, same second) has this very map
            // already: nothing to add.
            Err(_) if same_regular_file(&target, &body) => Ok(target),
            Err(e) => Err(e.error.to_string()),
        }
    }
}

/// True when `path` is a regular file (not a link) holding exactly `body`.
fn same_regular_file(path: &Path, body: &[u8]) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() == body.len() as u64)
        && std::fs::read(path).is_ok_and(|b| b == body)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the bundle the settings ask for and records `bundle.written` in the report.
pub fn write(
    settings: &Settings,
    ctx: &Context,
    state: &RunState,
    report: &mut Report,
) -> Result<(), crate::error::ToolError> {
    let path = match &settings.bundle {
        BundleTarget::None => return Ok(()),
        BundleTarget::Path(p) => p.clone(),
        BundleTarget::Default => {
            let base = default_path(ctx);
            let mut p = base.clone();
            let mut n = 1;
            while p.exists() && n < 1000 {
                p = PathBuf::from(format!(
                    "{}-{n}.zip",
                    base.to_string_lossy().trim_end_matches(".zip")
                ));
                n += 1;
            }
            p
        }
    };
    // Nothing to prepare for a path that is taken (`finish` checks again, atomically).
    let bundle = std::fs::symlink_metadata(&path)
        .is_err()
        .then(|| Bundle::prepare(settings, ctx, state, report));
    let mut result = match &bundle {
        Some(b) => b.finish(&path),
        None => Err(BundleError::Exists {
            path: path.display().to_string(),
        }),
    };
    let mut moved = None;
    // The default place is the working directory; where that is not writable, the
    // temporary directory, and the report says where the bundle went.
    if let (BundleTarget::Default, Err(BundleError::Io { .. }), Some(b)) =
        (&settings.bundle, &result, &bundle)
    {
        let alt = std::env::temp_dir().join(path.file_name().unwrap_or_default());
        result = b.finish(&alt);
        moved = Some(path.clone());
    }
    match result {
        Ok(info) => {
            report.findings.push(
                Finding::info(
                    CheckId::BundleWritten,
                    &info.path,
                    format!("bundle written: {} ({} bytes)", info.path, info.size),
                )
                .detail(format!(
                    "{}sha256 {}. Attach it to your support ticket: {}",
                    moved
                        .map(|p| format!(
                            "The working directory is not writable ({} could not be created), so the bundle went to the temporary directory. ",
                            p.display()
                        ))
                        .unwrap_or_default(),
                    info.sha256,
                    ctx.profile.support
                ))
                .with("path", &info.path)
                .with("size", info.size)
                .with("sha256", &info.sha256),
            );
            report.bundle = Some(info);
            Ok(())
        }
        Err(e @ BundleError::Leak(_)) => {
            report.findings.push(
                Finding::fail(CheckId::BundleWritten, path.display().to_string(), "no bundle: the leak check found something private in it")
                    .detail(e.to_string())
                    .remedy(Remedy::text("Please report this to the mlc-doctor maintainers (the message names file and line, never the value). Nothing was written.")),
            );
            Err(e.into())
        }
        Err(e) => {
            report.findings.push(
                Finding::fail(
                    CheckId::BundleWritten,
                    path.display().to_string(),
                    format!("no bundle: {e}"),
                )
                .remedy(Remedy::text(
                    "Pass --bundle with a writable path that does not exist yet.",
                )),
            );
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_under_the_home_is_its_tilde_form_in_any_case_and_slash() {
        let homes = vec!["C:\\Users\\Ana Lopez".to_string(), "/home/ana".to_string()];
        for (value, tilde) in [
            (
                "C:\\users\\ana lopez\\OneDrive - Org\\keys\\id",
                "~/OneDrive - Org/keys/id",
            ),
            ("c:/Users/Ana Lopez/.ssh/id_work", "~/.ssh/id_work"),
            ("/home/ana/.ssh/x", "~/.ssh/x"),
            ("/home/anabel/x", "/home/anabel/x"),
            ("~\\.ssh\\work", "~/.ssh/work"),
            ("D:\\Backups\\k.ppk", "D:\\Backups\\k.ppk"),
        ] {
            assert_eq!(tilde_form(&homes, value), tilde, "{value}");
        }
    }

    #[test]
    fn a_windows_key_path_is_one_name_in_every_spelling() {
        let mut r = Redactor::new(vec![]);
        r.seed(Category::HomePath, "C:\\Users\\Ana Lopez");
        seed_path(
            &mut r,
            "C:\\Users\\Ana Lopez\\OneDrive - Zedorg\\keys\\id_rsa",
        );
        seed_path(&mut r, "D:\\Backups\\Ana Lopez\\k.ppk");
        let text = "IdentityFile ~/OneDrive - Zedorg/keys/id_rsa\nfrom C:\\\\Users\\\\Ana Lopez\\\\OneDrive - Zedorg\\\\keys\\\\id_rsa\nand D:/Backups/Ana Lopez/k.ppk\n";
        let out = r.redact(text);
        assert!(!out.contains("Zedorg") && !out.contains("Ana"), "{out}");
        let names: Vec<&str> = out.lines().map(|l| l.rsplit(' ').next().unwrap()).collect();
        assert_eq!(names[0], names[1], "{out}");
    }
}
