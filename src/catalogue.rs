//! The registry of every check id, with the docs `mlc-doctor explain` serves.
//!
//! Each probe module declares the ids it produces next to its code (`CHECKS`); this module
//! only gathers them, so an id cannot exist without its probe and its docs.

/// Documentation of one check id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDoc {
    /// `area.check`, lowercase with hyphens; never renamed.
    pub id: &'static str,
    /// One line for `mlc-doctor list`.
    pub title: &'static str,
    /// What it checks.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it.
    pub fix: &'static str,
}

impl CheckDoc {
    /// The area part of the id.
    pub fn area(&self) -> &'static str {
        self.id.split('.').next().unwrap_or(self.id)
    }
}

/// Every registered check, in report order (areas as the runner visits them).
pub fn all() -> impl Iterator<Item = &'static CheckDoc> {
    [
        crate::probes::env::CHECKS,
        crate::probes::keys::CHECKS,
        crate::probes::perms::CHECKS,
        crate::probes::config::CHECKS,
        crate::probes::putty::CHECKS,
        crate::probes::net::CHECKS,
        crate::probes::handshake::CHECKS,
        crate::probes::openssh::CHECKS,
        crate::bundle::CHECKS,
        crate::diagnosis::CHECKS,
    ]
    .into_iter()
    .flatten()
}

/// The docs of one id, if it is registered.
pub fn lookup(id: &str) -> Option<&'static CheckDoc> {
    all().find(|doc| doc.id == id)
}

/// Ids close to `id`, for a helpful "did you mean" on a typo.
pub fn suggestions(id: &str) -> Vec<&'static str> {
    let mut scored: Vec<(f64, &'static str)> = all()
        .map(|doc| (strsim::jaro_winkler(id, doc.id), doc.id))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, id)| id).collect()
}

/// Position of an area in the report, so renderers group in a stable order.
pub fn area_rank(area: &str) -> usize {
    const AREAS: [&str; 9] = [
        "diagnosis",
        "env",
        "config",
        "perm",
        "key",
        "net",
        "ssh",
        "bundle",
        "internal",
    ];
    AREAS.iter().position(|a| *a == area).unwrap_or(AREAS.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn well_formed(id: &str) -> bool {
        let mut parts = id.split('.');
        let (Some(area), Some(check), None) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let ok = |s: &str| {
            !s.is_empty()
                && !s.starts_with('-')
                && !s.ends_with('-')
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        ok(area) && ok(check)
    }

    #[test]
    fn ids_are_unique() {
        let mut seen = HashSet::new();
        for doc in all() {
            assert!(seen.insert(doc.id), "duplicate id {}", doc.id);
        }
    }

    #[test]
    fn ids_are_well_formed() {
        for doc in all() {
            assert!(well_formed(doc.id), "malformed id {}", doc.id);
        }
        assert!(!well_formed("Key.format"));
        assert!(!well_formed("key"));
        assert!(!well_formed("key.format.x"));
    }

    #[test]
    fn every_id_is_documented() {
        for doc in all() {
            for (part, text) in [
                ("title", doc.title),
                ("what", doc.what),
                ("why", doc.why),
                ("fix", doc.fix),
            ] {
                assert!(
                    text.trim().len() >= 10,
                    "{} has no real {part} text",
                    doc.id
                );
            }
            assert!(!doc.title.contains('\n'), "{} title spans lines", doc.id);
        }
    }

    #[test]
    fn every_area_has_a_rank() {
        for doc in all() {
            assert!(area_rank(doc.area()) < 9, "area of {} unranked", doc.id);
        }
    }

    #[test]
    fn id_list_snapshot() {
        let ids: Vec<&str> = all().map(|d| d.id).collect();
        insta::assert_snapshot!(ids.join("\n"));
    }

    #[test]
    fn typo_suggests_the_right_id() {
        assert_eq!(suggestions("env.opensh").first(), Some(&"env.openssh"));
    }
}
