//! Lookups over the registry of check ids ([`crate::check`]) for `list`, `explain` and
//! shell completion.

pub use crate::check::{Area, CheckDoc, CheckId};
use crate::profile::Profile;

/// Every registered check, in report order (areas as the runner visits them).
pub fn all() -> impl Iterator<Item = &'static CheckDoc> {
    CheckId::ALL.iter().map(|id| id.doc())
}

/// The docs of one id string, if it is registered.
pub fn lookup(id: &str) -> Option<&'static CheckDoc> {
    CheckId::parse(id).map(CheckId::doc)
}

/// The placeholders docs may use for the site's words, each with its value.
fn site_words(profile: &Profile) -> [(&'static str, String); 9] {
    let aliases: Vec<&str> = profile.nodes().iter().map(|n| n.alias()).collect();
    let second = aliases.get(1).copied().unwrap_or(profile.example_alias());
    [
        ("{alias}", profile.example_alias().to_string()),
        ("{alias2}", second.to_string()),
        ("{aliases}", aliases.join(", ")),
        ("{key}", profile.advice.key_path()),
        ("{keyfile}", profile.advice.key_file.clone()),
        ("{rounds}", profile.policy.min_kdf_rounds.to_string()),
        (
            "{days}",
            match profile.advice.self_deploy_days {
                1 => "a day".to_string(),
                n => format!("{n} days"),
            },
        ),
        ("{vpn}", profile.advice.vpn.clone()),
        ("{campus}", profile.advice.campus_network.clone()),
    ]
}

/// A docs text in the site's words: the placeholders filled in from the profile.
pub fn in_site_words(text: &str, profile: &Profile) -> String {
    site_words(profile)
        .iter()
        .fold(text.to_string(), |t, (placeholder, value)| {
            t.replace(placeholder, value)
        })
}

/// Ids close to `id`, for a helpful "did you mean" on a typo.
pub fn suggestions(id: &str) -> Vec<&'static str> {
    let mut scored: Vec<(f64, &'static str)> = all()
        .map(|doc| (strsim::jaro_winkler(id, doc.id.as_str()), doc.id.as_str()))
        .filter(|(score, _)| *score > 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, id)| id).collect()
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
            assert!(seen.insert(doc.id.as_str()), "duplicate id {}", doc.id);
        }
    }

    #[test]
    fn ids_are_well_formed() {
        for doc in all() {
            assert!(well_formed(doc.id.as_str()), "malformed id {}", doc.id);
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
    fn id_list_snapshot() {
        let ids: Vec<&str> = all().map(|d| d.id.as_str()).collect();
        insta::assert_snapshot!(ids.join("\n"));
    }

    #[test]
    fn docs_use_only_known_placeholders() {
        let profile = Profile::embedded();
        let placeholder = regex::Regex::new(r"\{[a-z0-9]+\}").unwrap();
        for doc in all() {
            for text in [doc.title, doc.what, doc.why, doc.fix] {
                let shown = in_site_words(text, &profile);
                assert!(
                    placeholder.find(&shown).is_none(),
                    "{}: unknown placeholder in {shown:?}",
                    doc.id
                );
            }
        }
        let fix = in_site_words(CheckId::KeyKdfRounds.doc().fix, &profile);
        assert!(
            fix.contains("ssh-keygen -p -a 100 -f ~/.ssh/id_ed25519"),
            "{fix}"
        );
    }

    #[test]
    fn docs_speak_the_profiles_words() {
        let mut profile = Profile::embedded();
        profile.advice.key_file = "id_site".into();
        profile.advice.vpn = "the Example VPN".into();
        let fix = in_site_words(CheckId::DiagnosisNetworkBlocked.doc().fix, &profile);
        assert!(fix.contains("the Example VPN"), "{fix}");
        let fix = in_site_words(CheckId::KeyPresent.doc().fix, &profile);
        assert!(fix.contains("-f ~/.ssh/id_site"), "{fix}");
    }

    #[test]
    fn typo_suggests_the_right_id() {
        assert_eq!(suggestions("env.opensh").first(), Some(&"env.openssh"));
    }
}
