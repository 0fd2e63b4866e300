//! The finding model: what a probe concluded, in words a researcher can act on.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::check::{Area, CheckId};
use crate::fact::Fact;

/// How bad a finding is. Ordered from harmless to blocking so that `max()` gives the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Skip,
    Pass,
    Info,
    Warn,
    Fail,
}

impl Severity {
    /// All severities, in the order reports list their counts.
    pub const ALL: [Severity; 5] = [
        Severity::Pass,
        Severity::Info,
        Severity::Warn,
        Severity::Fail,
        Severity::Skip,
    ];

    /// The lowercase word used in JSON and in the human summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Pass => "pass",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Fail => "fail",
            Severity::Skip => "skip",
        }
    }

    /// The one-character mark of the human report.
    pub fn mark(self) -> &'static str {
        match self {
            Severity::Pass => "✓",
            Severity::Info => "i",
            Severity::Warn => "!",
            Severity::Fail => "✗",
            Severity::Skip => "–",
        }
    }

    /// True for warnings and failures: things the user should act on.
    pub fn is_problem(self) -> bool {
        matches!(self, Severity::Warn | Severity::Fail)
    }
}

/// What to do about a finding: words, and where possible the exact command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remedy {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Remedy {
    /// A remedy in words only.
    pub fn text(text: impl Into<String>) -> Self {
        Remedy {
            text: crate::escape::text(&text.into()),
            command: None,
        }
    }

    /// A remedy with the exact command that applies it. A command that carries a
    /// character a terminal would act on, or the escaped form of one (a file name from
    /// outside), is never offered for pasting: the words say to rename the file instead.
    pub fn command(text: impl Into<String>, command: impl Into<String>) -> Self {
        let (text, command) = (text.into(), command.into());
        let lines_ok = command
            .chars()
            .all(|c| c == '\n' || !crate::escape::is_unsafe(c));
        if !lines_ok || crate::escape::carries_escape(&command) {
            return Remedy {
                text: format!("{} (No command is shown: a file name in it contains control or invisible characters. Rename that file first, then run the doctor again.)", crate::escape::text(&text)),
                command: None,
            };
        }
        // A home the command cannot spell stands as a placeholder: pasted as is, a
        // `mkdir -p` would make it in the current directory.
        if command.contains(crate::platform::HOME_PLACEHOLDER) {
            return Remedy {
                text: format!("{} (No command is shown: the directory given with --home cannot be written in a command: its name is not UTF-8 text or holds control characters. Rename it, then run the doctor again.)", crate::escape::text(&text)),
                command: None,
            };
        }
        // A name that is not UTF-8 reached the command as U+FFFD: the command would name
        // another file (or none).
        if command.contains(char::REPLACEMENT_CHARACTER) {
            return Remedy {
                text: format!("{} (No command is shown: a file or folder name in it is not UTF-8 text, which a command here cannot spell. Rename it first, then run the doctor again.)", crate::escape::text(&text)),
                command: None,
            };
        }
        Remedy {
            text: crate::escape::text(&text),
            command: Some(command),
        }
    }

    /// Makes every unsafe character visible (see [`crate::escape`]).
    pub fn escape(&mut self) {
        self.text = crate::escape::text(&self.text);
        if let Some(c) = &mut self.command {
            *c = crate::escape::multiline(c);
        }
    }
}

/// One conclusion of one check about one subject (a file, a node, the system).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: CheckId,
    pub severity: Severity,
    pub subject: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remedy: Option<Remedy>,
    #[serde(default)]
    pub evidence: Map<String, Value>,
    #[serde(default)]
    pub node: Option<String>,
    /// What the check observed, for the diagnosis rules (not serialised).
    #[serde(skip)]
    pub fact: Option<Fact>,
}

impl Finding {
    /// A finding with the four fields every finding has.
    pub fn new(
        id: CheckId,
        severity: Severity,
        subject: impl Into<String>,
        summary: impl Into<String>,
    ) -> Self {
        Finding {
            id,
            severity,
            subject: crate::escape::text(&subject.into()),
            summary: crate::escape::text(&summary.into()),
            detail: None,
            remedy: None,
            evidence: Map::new(),
            node: None,
            fact: None,
        }
    }

    pub fn pass(id: CheckId, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(id, Severity::Pass, subject, summary)
    }
    pub fn info(id: CheckId, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(id, Severity::Info, subject, summary)
    }
    pub fn warn(id: CheckId, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(id, Severity::Warn, subject, summary)
    }
    pub fn fail(id: CheckId, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(id, Severity::Fail, subject, summary)
    }
    pub fn skip(id: CheckId, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(id, Severity::Skip, subject, summary)
    }

    /// Adds the longer explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(crate::escape::multiline(&detail.into()));
        self
    }

    /// Adds what to do.
    pub fn remedy(mut self, remedy: Remedy) -> Self {
        self.remedy = Some(remedy);
        self
    }

    /// Adds one evidence field.
    pub fn with(mut self, key: &str, value: impl Serialize) -> Self {
        let mut value = serde_json::to_value(value).unwrap_or(Value::Null);
        crate::escape::json(&mut value);
        self.evidence.insert(crate::escape::text(key), value);
        self
    }

    /// Records what the check observed, for the rules that read it.
    pub fn fact(mut self, fact: Fact) -> Self {
        self.fact = Some(fact);
        self
    }

    /// Ties the finding to a login node alias.
    pub fn node(mut self, alias: impl Into<String>) -> Self {
        self.node = Some(alias.into());
        self
    }

    /// Makes every unsafe character in every text field visible. Idempotent; run over
    /// the whole report once more before it is rendered, whatever changed it since.
    pub fn escape(&mut self) {
        self.subject = crate::escape::text(&self.subject);
        self.summary = crate::escape::text(&self.summary);
        if let Some(d) = &mut self.detail {
            *d = crate::escape::multiline(d);
        }
        if let Some(r) = &mut self.remedy {
            r.escape();
        }
        let mut ev = Value::Object(std::mem::take(&mut self.evidence));
        crate::escape::json(&mut ev);
        if let Value::Object(m) = ev {
            self.evidence = m;
        }
        if let Some(n) = &mut self.node {
            *n = crate::escape::text(n);
        }
    }

    /// The area of the check (`key` for `key.format`).
    pub fn area(&self) -> Area {
        self.id.area()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_severity_is_fail() {
        let worst = [Severity::Pass, Severity::Fail, Severity::Warn]
            .into_iter()
            .max();
        assert_eq!(worst, Some(Severity::Fail));
        assert!(Severity::Warn > Severity::Info);
        assert!(Severity::Skip < Severity::Pass);
    }

    #[test]
    fn a_command_that_cannot_spell_a_name_is_not_offered() {
        let r = Remedy::command("Make it private:", "chmod 600 ~/.ssh/key-\u{FFFD}");
        assert_eq!(r.command, None);
        assert!(r.text.starts_with("Make it private: (No command is shown"));
        assert!(r.text.contains("not UTF-8"));
        let r = Remedy::command("Make it private:", "chmod 600 ~/.ssh/clé");
        assert_eq!(r.command.as_deref(), Some("chmod 600 ~/.ssh/clé"));
    }

    #[test]
    fn finding_serialises_with_contract_fields() {
        let f = Finding::warn(CheckId::EnvOpenssh, "ssh", "old")
            .remedy(Remedy::command("upgrade", "apt install openssh-client"))
            .with("version", "7.1")
            .node("slurm");
        let v = serde_json::to_value(&f).unwrap();
        for key in [
            "id", "severity", "subject", "summary", "remedy", "evidence", "node",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["severity"], "warn");
        assert_eq!(v["remedy"]["command"], "apt install openssh-client");
        assert_eq!(v["evidence"]["version"], "7.1");
    }
}
