//! ssh_config text → lines, as OpenSSH's readconf.c tokenises them. No I/O.

use super::keywords::{self, Support};

/// A parsed line of a config file.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    pub kind: LineKind,
    /// The line as written (trimmed), for reports.
    pub text: String,
}

/// What a line says.
#[derive(Debug, Clone, PartialEq)]
pub enum LineKind {
    Host(Vec<String>),
    Match(Vec<Criterion>),
    Include(Vec<String>),
    /// A known keyword (lowercase) and its arguments.
    Option {
        keyword: &'static str,
        args: Vec<String>,
    },
}

/// One criterion of a `Match` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criterion {
    pub negated: bool,
    /// all, canonical, final, exec, host, originalhost, user, localuser, localnetwork, tagged.
    pub attribute: String,
    pub argument: Option<String>,
}

/// A problem in a config file, with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub line: usize,
    pub kind: IssueKind,
}

/// The kinds of problems; `is_fatal` ones make OpenSSH refuse to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueKind {
    Utf8Bom,
    Utf16,
    Binary,
    TooLarge {
        bytes: u64,
    },
    BadOption {
        word: String,
        suggestion: Option<&'static str>,
    },
    NewerKeyword {
        keyword: &'static str,
        since: (u32, u32),
    },
    MissingArgument {
        keyword: String,
    },
    Garbage {
        keyword: &'static str,
    },
    BadValue {
        keyword: &'static str,
        value: String,
        expected: &'static str,
    },
    InvalidQuotes,
    BadMatch {
        message: String,
    },
    Ignored {
        keyword: &'static str,
        support: Support,
    },
}

impl IssueKind {
    /// True when OpenSSH stops with an error on it.
    pub fn is_fatal(&self) -> bool {
        // A file over the doctor's size cap is the doctor's limit, not OpenSSH's.
        !matches!(
            self,
            IssueKind::Ignored { .. } | IssueKind::Binary | IssueKind::TooLarge { .. }
        )
    }

    /// True when the doctor reports it as a failure: fatal to OpenSSH, or a corrupted file.
    pub fn is_failure(&self) -> bool {
        self.is_fatal() || matches!(self, IssueKind::Binary)
    }

    /// Plain words for the report.
    pub fn describe(&self) -> String {
        match self {
            IssueKind::Utf8Bom => "the file starts with a UTF-8 byte-order mark (as some Windows editors save it); OpenSSH reads it as part of the first keyword and stops with `Bad configuration option`".into(),
            IssueKind::Utf16 => "the file is saved as UTF-16 (e.g. by Notepad or PowerShell `>`); OpenSSH needs plain UTF-8/ASCII text and stops with `no argument after keyword`".into(),
            IssueKind::Binary => "the file contains NUL bytes (binary data): it is corrupted or not a config, and OpenSSH silently ignores the rest of each such line".into(),
            IssueKind::TooLarge { .. } => "the file is larger than the doctor reads (1 MiB): its settings were not checked (OpenSSH reads files of any size)".into(),
            IssueKind::BadOption { word, suggestion: Some(s) } => format!("`{word}` is not an ssh option (did you mean `{s}`?); OpenSSH stops with `Bad configuration option`"),
            IssueKind::BadOption { word, suggestion: None } => format!("the line is not an ssh option ({}); OpenSSH stops with `Bad configuration option`", shape(word)),
            IssueKind::NewerKeyword { keyword, since } => format!("`{keyword}` needs OpenSSH {}.{} or newer; this client stops with `Bad configuration option`", since.0, since.1),
            IssueKind::MissingArgument { keyword } if keywords::lookup(keyword).is_some() => format!("`{keyword}` has no value; OpenSSH stops with `no argument after keyword`"),
            // Not a keyword at all: the line may be anything, so only its shape is told.
            IssueKind::MissingArgument { keyword } => format!("the line is not an ssh option ({}); OpenSSH stops with `no argument after keyword`", shape(keyword)),
            IssueKind::Garbage { keyword } => format!("`{keyword}` takes one value but has more (use quotes around a path with spaces); OpenSSH stops with `garbage at end of line`"),
            // The value itself is not repeated: it may be anything the user typed.
            IssueKind::BadValue { keyword, value, expected } => format!("`{keyword}` has a value it does not accept ({}): expected {expected}", shape(value)),
            IssueKind::InvalidQuotes => "unbalanced quotes; OpenSSH stops with `invalid quotes`".into(),
            IssueKind::BadMatch { message } => format!("bad Match line: {message}"),
            IssueKind::Ignored { keyword, support: Support::Deprecated } => format!("`{keyword}` is deprecated and ignored by OpenSSH"),
            IssueKind::Ignored { keyword, .. } => format!("`{keyword}` is no longer supported and is ignored by OpenSSH"),
        }
    }
}

/// What a line looks like, without its text: length, words, the kinds of characters.
pub fn shape(line: &str) -> String {
    let t = line.trim();
    let words = t.split_whitespace().count();
    let first = match t.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => "a letter",
        Some(c) if c.is_ascii_digit() => "a digit",
        Some(c) if c.is_whitespace() || c.is_control() => "a control character",
        Some(_) => "a symbol",
        None => "nothing",
    };
    format!(
        "{} characters, {words} word(s), starts with {first}",
        t.chars().count()
    )
}

/// A file's lines and problems.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub lines: Vec<Line>,
    pub issues: Vec<Issue>,
    /// False when the content could not be read as a config at all (UTF-16, binary, huge).
    pub usable: bool,
}

/// Problems per file after which bad keywords get no "did you mean" suggestion.
const MAX_SUGGESTIONS: usize = 32;

/// The largest config file the doctor evaluates; OpenSSH configs are a few KiB.
pub const MAX_BYTES: usize = 1 << 20;

/// Parses config bytes. `client` is the OpenSSH version, to flag keywords it is too old for.
pub fn parse(bytes: &[u8], client: Option<(u32, u32)>) -> Parsed {
    let mut out = Parsed {
        usable: true,
        ..Parsed::default()
    };
    if bytes.len() > MAX_BYTES {
        // Only the start is read: NUL bytes there make it no config at all.
        let kind = match bytes[..MAX_BYTES].contains(&0) {
            true => IssueKind::Binary,
            false => IssueKind::TooLarge {
                bytes: bytes.len() as u64,
            },
        };
        out.usable = false;
        out.issues.push(Issue { line: 0, kind });
        return out;
    }
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) || looks_utf16(bytes) {
        out.usable = false;
        out.issues.push(Issue {
            line: 1,
            kind: IssueKind::Utf16,
        });
        return out;
    }
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        // OpenSSH reads lines as C strings: whatever follows a NUL on its line is lost.
        let line = bytes[..pos].iter().filter(|b| **b == b'\n').count() + 1;
        out.issues.push(Issue {
            line,
            kind: IssueKind::Binary,
        });
    }
    let mut body = bytes;
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        out.issues.push(Issue {
            line: 1,
            kind: IssueKind::Utf8Bom,
        });
        body = rest;
    }
    let text = String::from_utf8_lossy(body);
    let mut ignore_unknown: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let (k, rest) = split_keyword(l.trim())?;
            k.eq_ignore_ascii_case("ignoreunknown")
                .then(|| rest.trim().trim_matches('"').to_string())
        })
        .collect();
    // A bound, so thousands of IgnoreUnknown lines cannot make every unknown line cost
    // thousands of matches (OpenSSH itself uses only the first one that applies).
    ignore_unknown.sort();
    ignore_unknown.dedup();
    ignore_unknown.truncate(16);
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.split('\0').next().unwrap_or("");
        parse_line(raw, i + 1, client, &ignore_unknown, &mut out);
    }
    out
}

fn looks_utf16(bytes: &[u8]) -> bool {
    // ASCII text in UTF-16 has a NUL in every other byte.
    let sample = &bytes[..bytes.len().min(64)];
    sample.len() >= 4
        && sample
            .iter()
            .skip(1)
            .step_by(2)
            .filter(|b| **b == 0)
            .count()
            * 2
            >= sample.len() / 2
}

/// Splits `Keyword value`, `Keyword=value` and `Keyword = value`.
fn split_keyword(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start_matches([' ', '\t']);
    if line.is_empty() {
        return None;
    }
    let end = line.find([' ', '\t', '=']).unwrap_or(line.len());
    let keyword = &line[..end];
    let mut rest = line[end..].trim_start_matches([' ', '\t']);
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start_matches([' ', '\t']);
    }
    Some((keyword, rest))
}

/// A quote without its closing partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnbalancedQuotes;

/// Splits arguments as OpenSSH's argv_split does: quotes, backslash escapes, `#` comments.
pub fn split_args(s: &str) -> Result<Vec<String>, UnbalancedQuotes> {
    let chars: Vec<char> = s.chars().collect();
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && (chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() || chars[i] == '#' {
            break;
        }
        let mut arg = String::new();
        let mut quote: Option<char> = None;
        while i < chars.len() {
            let c = chars[i];
            if c == '\\' && i + 1 < chars.len() {
                let n = chars[i + 1];
                if n == '\'' || n == '"' || n == '\\' || (quote.is_none() && n == ' ') {
                    i += 1;
                    arg.push(n);
                } else {
                    arg.push(c);
                }
            } else if quote.is_none() && (c == ' ' || c == '\t') {
                break;
            } else if quote.is_none() && (c == '"' || c == '\'') {
                quote = Some(c);
            } else if quote == Some(c) {
                quote = None;
            } else {
                arg.push(c);
            }
            i += 1;
        }
        if quote.is_some() {
            return Err(UnbalancedQuotes);
        }
        args.push(arg);
    }
    Ok(args)
}

/// Keywords whose value is the rest of the line, not split into arguments.
const REST_OF_LINE: &[&str] = &[
    "proxycommand",
    "remotecommand",
    "localcommand",
    "knownhostscommand",
];

fn parse_line(
    raw: &str,
    number: usize,
    client: Option<(u32, u32)>,
    ignore_unknown: &[String],
    out: &mut Parsed,
) {
    let line = raw.trim_end_matches(['\r', ' ', '\t', '\x0c']);
    let trimmed = line.trim_start_matches([' ', '\t']);
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return;
    }
    let issue = |kind| Issue { line: number, kind };
    let Some((word, rest)) = split_keyword(trimmed) else {
        return;
    };
    if rest.is_empty() {
        out.issues.push(issue(IssueKind::MissingArgument {
            keyword: word.to_string(),
        }));
        return;
    }
    let Some(kw) = keywords::lookup(word) else {
        let lower = word.to_ascii_lowercase();
        let ignored = ignore_unknown.iter().any(|list| {
            super::pattern::match_list(&lower, &list.to_ascii_lowercase(), true)
                == super::pattern::ListMatch::Yes
        });
        if !ignored {
            // A "did you mean" costs an edit distance to every keyword: only for the first
            // few bad lines of a file (all a report shows), so a huge file stays linear.
            let suggestion = if out.issues.len() < MAX_SUGGESTIONS && word.len() <= 40 {
                keywords::nearest(word)
            } else {
                None
            };
            out.issues.push(issue(IssueKind::BadOption {
                word: word.to_string(),
                suggestion,
            }));
        }
        return;
    };
    if let Some(v) = client {
        if kw.since > (0, 0) && v < kw.since {
            out.issues.push(issue(IssueKind::NewerKeyword {
                keyword: kw.canonical,
                since: kw.since,
            }));
            return;
        }
    }
    let text = trimmed.to_string();
    if REST_OF_LINE.contains(&kw.lower) {
        out.lines.push(Line {
            number,
            kind: LineKind::Option {
                keyword: kw.lower,
                args: vec![rest.to_string()],
            },
            text,
        });
        return;
    }
    let Ok(args) = split_args(rest) else {
        out.issues.push(issue(IssueKind::InvalidQuotes));
        return;
    };
    if args.is_empty() {
        out.issues.push(issue(IssueKind::MissingArgument {
            keyword: kw.canonical.to_string(),
        }));
        return;
    }
    match kw.support {
        Support::Known => {}
        support => {
            out.issues.push(issue(IssueKind::Ignored {
                keyword: kw.canonical,
                support,
            }));
            return;
        }
    }
    let kind = match kw.lower {
        "host" => LineKind::Host(args),
        "include" => LineKind::Include(args),
        "match" => match parse_match(&args) {
            Ok(c) => LineKind::Match(c),
            Err(message) => {
                out.issues.push(issue(IssueKind::BadMatch { message }));
                // OpenSSH stops here; evaluation treats the block as not matching.
                LineKind::Match(vec![Criterion {
                    negated: true,
                    attribute: "all".into(),
                    argument: None,
                }])
            }
        },
        lower => {
            if keywords::SINGLE_ARG.contains(&lower) && args.len() > 1 {
                out.issues.push(issue(IssueKind::Garbage {
                    keyword: kw.canonical,
                }));
            }
            if let Some(problem) = check_value(kw.canonical, lower, &args[0]) {
                out.issues.push(issue(problem));
            }
            LineKind::Option {
                keyword: kw.lower,
                args,
            }
        }
    };
    out.lines.push(Line { number, kind, text });
}

fn check_value(canonical: &'static str, lower: &str, value: &str) -> Option<IssueKind> {
    let bad = |expected| {
        Some(IssueKind::BadValue {
            keyword: canonical,
            value: value.to_string(),
            expected,
        })
    };
    let v = value.to_ascii_lowercase();
    if keywords::FLAGS.contains(&lower) && !["yes", "no", "true", "false"].contains(&v.as_str()) {
        return bad("yes or no");
    }
    match lower {
        "port" => match value.parse::<u32>() {
            Ok(p) if (1..=65535).contains(&p) => None,
            _ => bad("a port number from 1 to 65535"),
        },
        "stricthostkeychecking"
            if !["yes", "no", "ask", "off", "accept-new", "true", "false"]
                .contains(&v.as_str()) =>
        {
            bad("yes, no, ask or accept-new")
        }
        "connecttimeout" | "connectionattempts" | "serveraliveinterval" | "serveralivecountmax"
            if value.parse::<u32>().is_err() && v != "none" =>
        {
            bad("a number")
        }
        _ => None,
    }
}

fn parse_match(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut out = Vec::new();
    let mut it = args.iter().peekable();
    while let Some(word) = it.next() {
        let (negated, attr) = match word.strip_prefix('!') {
            Some(rest) => (true, rest.to_ascii_lowercase()),
            None => (false, word.to_ascii_lowercase()),
        };
        match attr.as_str() {
            "all" | "canonical" | "final" => out.push(Criterion {
                negated,
                attribute: attr,
                argument: None,
            }),
            "exec" | "host" | "originalhost" | "user" | "localuser" | "localnetwork" | "tagged" => {
                let Some(arg) = it.next() else {
                    return Err(format!("`{attr}` needs an argument"));
                };
                out.push(Criterion {
                    negated,
                    attribute: attr,
                    argument: Some(arg.clone()),
                });
            }
            other => return Err(format!("unsupported Match attribute `{other}`")),
        }
    }
    if out.is_empty() {
        return Err("no criteria".into());
    }
    let all_count = out.iter().filter(|c| c.attribute == "all").count();
    if all_count > 0
        && out
            .iter()
            .any(|c| !["all", "canonical", "final"].contains(&c.attribute.as_str()))
    {
        return Err("`all` cannot be combined with other criteria".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(p: &Parsed, i: usize) -> (&str, Vec<String>) {
        match &p.lines[i].kind {
            LineKind::Option { keyword, args } => (keyword, args.clone()),
            other => panic!("not an option: {other:?}"),
        }
    }

    #[test]
    fn keyword_forms_and_quotes() {
        let p = parse(b"Host=slurm\n  HostName = a.example\n\tUser\t\"a b\"\nIdentityFile ~/.ssh/my\\ key # comment\r\nPort 22\n", None);
        assert!(p.issues.is_empty(), "{:?}", p.issues);
        assert_eq!(p.lines[0].kind, LineKind::Host(vec!["slurm".into()]));
        assert_eq!(opt(&p, 1), ("hostname", vec!["a.example".to_string()]));
        assert_eq!(opt(&p, 2), ("user", vec!["a b".to_string()]));
        assert_eq!(
            opt(&p, 3),
            ("identityfile", vec!["~/.ssh/my key".to_string()])
        );
        assert_eq!(p.lines[4].number, 5);
    }

    #[test]
    fn split_args_like_openssh() {
        assert_eq!(split_args("a\"b c\"d e").unwrap(), vec!["ab cd", "e"]);
        assert_eq!(split_args("'x y' #c").unwrap(), vec!["x y"]);
        assert!(split_args("\"open").is_err());
        assert_eq!(split_args("a\\qb").unwrap(), vec!["a\\qb"]);
    }

    #[test]
    fn typos_missing_values_and_garbage() {
        let p = parse(b"Host slurm\n IdentityFlie ~/.ssh/id\n User\n HostName a b\n Port 99999\n BatchMode maybe\n", None);
        let kinds: Vec<&IssueKind> = p.issues.iter().map(|i| &i.kind).collect();
        assert!(matches!(
            kinds[0],
            IssueKind::BadOption {
                suggestion: Some("IdentityFile"),
                ..
            }
        ));
        assert_eq!(p.issues[0].line, 2);
        assert!(matches!(kinds[1], IssueKind::MissingArgument { .. }));
        assert!(matches!(
            kinds[2],
            IssueKind::Garbage {
                keyword: "HostName"
            }
        ));
        assert!(matches!(
            kinds[3],
            IssueKind::BadValue {
                keyword: "Port",
                ..
            }
        ));
        assert!(matches!(
            kinds[4],
            IssueKind::BadValue {
                keyword: "BatchMode",
                ..
            }
        ));
        assert!(kinds.iter().all(|k| k.is_fatal()));
    }

    #[test]
    fn encodings() {
        let p = parse(b"\xEF\xBB\xBFHost slurm\n", None);
        assert_eq!(p.issues[0].kind, IssueKind::Utf8Bom);
        assert!(p.usable);
        assert_eq!(p.lines.len(), 1);
        let utf16: Vec<u8> = "\u{feff}Host slurm\n"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        let p = parse(&utf16, None);
        assert_eq!(p.issues[0].kind, IssueKind::Utf16);
        assert!(!p.usable);
        let p = parse(b"Host a\n\x00\x01\x02binary", None);
        assert_eq!(p.issues[0].kind, IssueKind::Binary);
        assert_eq!(p.issues[0].line, 2);
        assert!(p.issues[0].kind.is_failure() && !p.issues[0].kind.is_fatal());
        let p = parse(b"Host a\r\n  User pbb111\r\n", None);
        assert!(p.issues.is_empty());
        assert_eq!(opt(&p, 1).1, vec!["pbb111".to_string()]);
    }

    #[test]
    fn match_lines() {
        let p = parse(b"Match host *.de !user root\nMatch exec \"test -f x\" final\nMatch all host x\nMatch bogus y\n", None);
        match &p.lines[0].kind {
            LineKind::Match(c) => {
                assert_eq!(c.len(), 2);
                assert!(c[1].negated);
                assert_eq!(c[1].argument.as_deref(), Some("root"));
            }
            k => panic!("{k:?}"),
        }
        assert_eq!(p.issues.len(), 2, "{:?}", p.issues);
    }

    #[test]
    fn newer_keywords_depend_on_the_client() {
        let p = parse(b"Host a\n Tag x\n", Some((9, 2)));
        assert!(matches!(
            p.issues[0].kind,
            IssueKind::NewerKeyword { keyword: "Tag", .. }
        ));
        assert!(parse(b"Host a\n Tag x\n", Some((9, 6))).issues.is_empty());
        assert!(parse(b"Host a\n Tag x\n", None).issues.is_empty());
    }

    #[test]
    fn ignore_unknown_and_deprecated() {
        let p = parse(
            b"IgnoreUnknown UseKeychain,AddKeysToAgent\nHost *\n UseKeychain yes\n Protocol 2\n",
            None,
        );
        assert_eq!(p.issues.len(), 1);
        assert!(!p.issues[0].kind.is_fatal());
    }

    #[test]
    fn proxy_command_keeps_the_rest_of_the_line() {
        let p = parse(b"Host a\n ProxyCommand ssh -W %h:%p \"jump host\"\n", None);
        assert_eq!(opt(&p, 1).1, vec!["ssh -W %h:%p \"jump host\"".to_string()]);
    }
}
