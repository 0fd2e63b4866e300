//! OpenSSH's wildcard patterns (`*`, `?`) and pattern lists with `!` negation.

/// Matches `s` against one glob with `*` and `?` (match.c's match_pattern).
pub fn matches(s: &str, pattern: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Iterative glob with backtracking to the last `*`: linear in practice, no recursion.
    let (mut si, mut pi) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Result of a comma-separated pattern list (match_pattern_list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A negated pattern matched: the whole list fails.
    Negated,
    /// A positive pattern matched.
    Yes,
    No,
}

/// Matches `s` against `a,b,!c`; with `lower`, `s` is lowercased first (hosts).
pub fn match_list(s: &str, list: &str, lower: bool) -> ListMatch {
    let s = if lower {
        s.to_ascii_lowercase()
    } else {
        s.to_string()
    };
    let mut got = ListMatch::No;
    for pat in list.split(',') {
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pat),
        };
        if pat.is_empty() {
            continue;
        }
        if matches(&s, pat) {
            if negated {
                return ListMatch::Negated;
            }
            got = ListMatch::Yes;
        }
    }
    got
}

/// A `Host` line: whitespace-separated patterns, any negated match wins.
pub fn host_line_matches(host: &str, patterns: &[String]) -> bool {
    let mut result = false;
    for pat in patterns {
        let (negated, pat) = match pat.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pat.as_str()),
        };
        if matches(host, pat) {
            if negated {
                return false;
            }
            result = true;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("slurm", "slurm"));
        assert!(matches("slurm", "*"));
        assert!(matches("slurm2", "slurm?"));
        assert!(!matches("slurm", "slurm?"));
        assert!(matches(
            "galvani-login.mlcloud.uni-tuebingen.de",
            "*.uni-tuebingen.de"
        ));
        assert!(matches("a.b.c", "a*c"));
        assert!(matches("", "*"));
        assert!(!matches("abc", "abd*"));
        assert!(matches(
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            "*a*a*a*a*a*a*b"
        ));
        assert!(!matches("SLURM", "slurm"));
    }

    #[test]
    fn lists_and_negation() {
        assert_eq!(match_list("slurm", "slurm,other", false), ListMatch::Yes);
        assert_eq!(match_list("slurm", "*,!slurm", false), ListMatch::Negated);
        assert_eq!(match_list("x", "slurm", false), ListMatch::No);
        assert_eq!(match_list("SLURM", "slurm", true), ListMatch::Yes);
        assert!(host_line_matches("slurm", &["*".into()]));
        assert!(!host_line_matches("slurm", &["*".into(), "!slurm".into()]));
        assert!(!host_line_matches("slurm", &["!other".into()]));
    }
}
