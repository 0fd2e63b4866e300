//! The report: what one run found, in the JSON shape of schema `mlc-doctor.report/1`.

use serde::{Deserialize, Serialize};

use crate::diagnosis::Diagnosis;
use crate::finding::{Finding, Severity};

/// The JSON report's schema name.
pub const SCHEMA: &str = "mlc-doctor.report/1";

/// One run's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub tool: Tool,
    pub profile: ProfileRef,
    pub started_at: String,
    pub duration_ms: u64,
    pub offline: bool,
    pub findings: Vec<Finding>,
    pub nodes: Vec<NodeReport>,
    pub diagnosis: Vec<Diagnosis>,
    pub summary: Summary,
    pub bundle: Option<BundleInfo>,
    pub exit_code: i32,
}

impl Report {
    /// Makes every unsafe character in every text field visible (see [`crate::escape`]).
    /// Idempotent: run where the report is assembled and again before it is rendered.
    pub fn escape(&mut self) {
        self.profile.name = crate::escape::text(&self.profile.name);
        self.profile.source = crate::escape::text(&self.profile.source);
        self.findings.iter_mut().for_each(Finding::escape);
        for node in &mut self.nodes {
            // Through JSON, so that no field of the node model can be forgotten.
            if let Ok(mut v) = serde_json::to_value(&*node) {
                crate::escape::json(&mut v);
                if let Ok(n) = serde_json::from_value(v) {
                    *node = n;
                }
            }
        }
        for d in &mut self.diagnosis {
            d.summary = crate::escape::text(&d.summary);
            for step in &mut d.steps {
                step.text = crate::escape::text(&step.text);
                if let Some(c) = &mut step.command {
                    *c = crate::escape::multiline(c);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

impl Tool {
    /// This binary.
    pub fn this() -> Tool {
        Tool {
            name: "mlc-doctor".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: option_env!("MLC_DOCTOR_COMMIT")
                .filter(|c| !c.is_empty())
                .map(str::to_string),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProfileRef {
    pub name: String,
    /// "embedded" or the file given with `--profile`.
    pub source: String,
}

/// Counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub pass: usize,
    pub info: usize,
    pub warn: usize,
    pub fail: usize,
    pub skip: usize,
}

impl Summary {
    /// Counts the findings.
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            *s.slot(f.severity) += 1;
        }
        s
    }

    fn slot(&mut self, severity: Severity) -> &mut usize {
        match severity {
            Severity::Pass => &mut self.pass,
            Severity::Info => &mut self.info,
            Severity::Warn => &mut self.warn,
            Severity::Fail => &mut self.fail,
            Severity::Skip => &mut self.skip,
        }
    }

    /// The count of one severity.
    pub fn get(&self, severity: Severity) -> usize {
        match severity {
            Severity::Pass => self.pass,
            Severity::Info => self.info,
            Severity::Warn => self.warn,
            Severity::Fail => self.fail,
            Severity::Skip => self.skip,
        }
    }
}

/// The written bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleInfo {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// What one login node looked like from here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodeReport {
    pub alias: String,
    pub hostname: String,
    pub port: u16,
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ProxyJump / ProxyCommand in effect, reported, never followed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    pub dns: Option<DnsResult>,
    pub tcp: Vec<TcpResult>,
    pub banner: Option<String>,
    pub algorithms: Option<Algorithms>,
    pub host_key: Option<HostKeyReport>,
    pub auth_methods: Vec<String>,
    pub accepted_keys: Vec<String>,
    pub second_factor: Option<SecondFactor>,
    pub transcript: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DnsResult {
    pub addresses: Vec<String>,
    pub ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TcpResult {
    pub address: String,
    pub outcome: TcpOutcome,
    pub ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Algorithms {
    pub kex: String,
    pub host_key: String,
    pub cipher: String,
    pub mac: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HostKeyReport {
    pub algorithm: String,
    pub fingerprint: String,
    pub known_hosts: KnownHosts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// Declares a status enum whose JSON spelling is given per variant, with `as_str` and
/// `Display` in the same spelling (summaries and the JSON say the same word).
macro_rules! status {
    ($(#[$doc:meta])* $name:ident { $( $(#[$vdoc:meta])* $variant:ident = $word:literal, )* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
        pub enum $name {
            $( $(#[$vdoc])* #[serde(rename = $word)] $variant, )*
        }

        impl $name {
            /// The word of the JSON report.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status! {
    /// What became of one TCP connection attempt.
    TcpOutcome {
        Connected = "connected",
        Refused = "refused",
        Timeout = "timeout",
        Unreachable = "unreachable",
        Error = "error",
        /// Still unanswered when another address connected.
        Abandoned = "abandoned",
        /// Not tried: an earlier address connected.
        NotTried = "not-tried",
    }
}

status! {
    /// The node's host key against known_hosts and the profile's pins.
    KnownHosts {
        Match = "match", Mismatch = "mismatch", Unknown = "unknown",
        Revoked = "revoked", Pinned = "pinned", PinMismatch = "pin-mismatch",
    }
}

// The enum comes from `status!`, which takes no `#[default]`.
#[allow(clippy::derivable_impls)]
impl Default for KnownHosts {
    fn default() -> Self {
        KnownHosts::Unknown
    }
}

status! {
    /// What the server asks for after the key.
    SecondFactor {
        KeyboardInteractive = "keyboard-interactive",
        /// Another method than keyboard-interactive.
        Other = "other",
        /// Nothing: the key alone logs in.
        None = "none",
        /// Not tested.
        Unknown = "unknown",
    }
}
