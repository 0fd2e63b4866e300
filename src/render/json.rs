//! The JSON report.

use std::io::{self, Write};

use crate::report::Report;

/// Writes the report as one pretty JSON document and a newline.
pub fn render(report: &Report, out: &mut impl Write) -> io::Result<()> {
    let mut text = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
    text.push('\n');
    out.write_all(text.as_bytes())
}
