//! Rules over all findings that name the most likely causes, ranked, with the steps to fix.

use serde::{Deserialize, Serialize};

use crate::catalogue::CheckDoc;
use crate::finding::Finding;

pub const CHECKS: &[CheckDoc] = &[];

/// One step of a fix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// A likely cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub id: String,
    pub summary: String,
    pub because: Vec<String>,
    pub confidence: String,
    pub steps: Vec<Step>,
}

/// The ranked causes behind the findings.
pub fn diagnose(_findings: &[Finding]) -> Vec<Diagnosis> {
    vec![]
}
