//! The human report: diagnosis first, then findings by area and by node.

use std::io::{self, Write};

use super::Style;
use crate::check::Area;
use crate::diagnosis::Diagnosis;
use crate::finding::{Finding, Severity};
use crate::report::{NodeReport, Report};
use crate::settings::Verbosity;

const RESET: &str = "\x1b[0m";

fn paint(style: &Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Pass => "32",
        Severity::Info => "34",
        Severity::Warn => "33",
        Severity::Fail => "1;31",
        Severity::Skip => "2",
    }
}

fn area_title(area: Area) -> &'static str {
    match area {
        Area::Env => "System",
        Area::Config => "SSH config",
        Area::Perm => "Permissions",
        Area::Key => "Keys",
        Area::Bundle => "Bundle",
        Area::Net | Area::Ssh => "Network",
        Area::Diagnosis => "Diagnosis",
    }
}

/// Greedy word wrap; every line gets `indent`, words longer than the width stay whole.
pub fn wrap(text: &str, width: usize, indent: &str) -> Vec<String> {
    let room = width.saturating_sub(indent.chars().count()).max(20);
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ').filter(|w| !w.is_empty()) {
            if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > room {
                lines.push(format!("{indent}{line}"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(format!("{indent}{line}"));
    }
    lines
}

fn finding_lines(
    f: &Finding,
    style: &Style,
    with_subject: bool,
    ids: &str,
    shown_commands: &[&str],
) -> Vec<String> {
    let mark = paint(style, severity_code(f.severity), f.severity.mark());
    let head = if with_subject && !f.subject.is_empty() && !f.summary.starts_with(&f.subject) {
        format!("{}: {}", f.subject, f.summary)
    } else {
        f.summary.clone()
    };
    let mut out = Vec::new();
    let mut first = wrap(&head, style.width, "    ");
    if let Some(l) = first.first_mut() {
        *l = format!("  {mark} {}", l.trim_start());
    }
    if let Some(last) = first.last_mut() {
        last.push_str(&format!("  {}", paint(style, "2", &format!("[{ids}]"))));
    }
    out.extend(first);
    let problem = f.severity.is_problem();
    if let Some(detail) = &f.detail {
        if problem || style.verbosity == Verbosity::Verbose {
            out.extend(wrap(detail, style.width, "      "));
        }
    }
    if let Some(remedy) = &f.remedy {
        if problem || style.verbosity == Verbosity::Verbose {
            let mut lines = wrap(&format!("fix: {}", remedy.text), style.width, "      ");
            if let Some(l) = lines.first_mut() {
                *l = l.replacen("fix:", &paint(style, "1", "fix:"), 1);
            }
            out.extend(lines);
            if let Some(cmd) = &remedy.command {
                let shown = shown_commands
                    .iter()
                    .any(|c| *c == cmd || (cmd.contains('\n') && c.contains(cmd.trim())));
                if shown {
                    out.push(format!(
                        "        {}",
                        paint(style, "2", "(shown in the steps above)")
                    ));
                } else {
                    out.extend(command_lines(cmd, style, "        "));
                }
            }
        }
    }
    if style.verbosity == Verbosity::Verbose && !f.evidence.is_empty() {
        let ev = serde_json::to_string(&f.evidence).unwrap_or_default();
        out.extend(
            wrap(&format!("evidence: {ev}"), style.width, "      ")
                .into_iter()
                .map(|l| paint(style, "2", &l)),
        );
    }
    out
}

/// A one-line command as `$ cmd`; a multi-line text to paste (a config block) as is.
fn command_lines(cmd: &str, style: &Style, indent: &str) -> Vec<String> {
    if cmd.contains('\n') {
        cmd.lines()
            .map(|l| {
                if l.trim().is_empty() {
                    String::new()
                } else {
                    format!("{indent}  {}", paint(style, "36", l))
                }
            })
            .collect()
    } else {
        vec![format!(
            "{indent}{}",
            paint(style, "36", &format!("$ {cmd}"))
        )]
    }
}

/// Findings with consecutive identical skips merged, so `--offline` reads as one line a node.
fn grouped<'a>(findings: &[&'a Finding]) -> Vec<(&'a Finding, String)> {
    let mut out: Vec<(&Finding, String)> = Vec::new();
    for f in findings {
        if let Some((last, ids)) = out.last_mut() {
            if f.severity == Severity::Skip
                && last.severity == Severity::Skip
                && last.summary == f.summary
                && last.node == f.node
            {
                ids.push_str(&format!(", {}", f.id));
                continue;
            }
        }
        out.push((f, f.id.to_string()));
    }
    out
}

/// One area or node. With `-v` every finding in full under a heading; by default one
/// line for what passed, and every warning and failure in full (a fix already shown in
/// the diagnosis is pointed at, not printed twice).
fn section(
    out: &mut impl Write,
    block_before: &mut bool,
    style: &Style,
    head: &str,
    findings: &[&Finding],
    shown_commands: &[&str],
    with_subject: bool,
) -> io::Result<()> {
    if style.verbosity == Verbosity::Verbose {
        writeln!(out)?;
        writeln!(out, "{}", paint(style, "1", head))?;
        for (f, ids) in grouped(findings) {
            for line in finding_lines(f, style, with_subject, &ids, &[]) {
                writeln!(out, "{line}")?;
            }
        }
        return Ok(());
    }
    let problems: Vec<&Finding> = findings
        .iter()
        .copied()
        .filter(|f| f.severity.is_problem())
        .collect();
    let count = |sev: Severity| findings.iter().filter(|f| f.severity == sev).count();
    let (pass, info, skip) = (
        count(Severity::Pass),
        count(Severity::Info),
        count(Severity::Skip),
    );
    let mut parts = Vec::new();
    if pass > 0 {
        parts.push(format!("{pass} passed"));
    }
    if info > 0 {
        parts.push(format!("{info} note{}", if info == 1 { "" } else { "s" }));
    }
    if skip > 0 {
        // One reason for all of them (`--offline`, an earlier step failed): say it.
        let mut reasons = findings
            .iter()
            .filter(|f| f.severity == Severity::Skip)
            .map(|f| f.summary.as_str());
        let first = reasons.next().unwrap_or("");
        if reasons.all(|r| r == first) {
            parts.push(format!("{skip} not run ({first})"));
        } else {
            parts.push(format!("{skip} not run"));
        }
    }
    let rest = parts.join(", ");
    if problems.is_empty() {
        // All skipped: say why, once (`--offline`, an earlier step failed).
        let (mark, words) = if pass == 0 && info == 0 {
            let why = findings
                .first()
                .map(|f| f.summary.clone())
                .unwrap_or_default();
            (Severity::Skip, why)
        } else {
            (Severity::Pass, rest)
        };
        let line = format!("{head}: {words}");
        let mut lines = wrap(&line, style.width, "    ");
        if let Some(l) = lines.first_mut() {
            *l = format!(
                "{} {}",
                paint(style, severity_code(mark), mark.mark()),
                l.trim_start()
            );
        }
        if std::mem::take(block_before) {
            writeln!(out)?;
        }
        for l in lines {
            writeln!(out, "{l}")?;
        }
        return Ok(());
    }
    writeln!(out)?;
    *block_before = true;
    writeln!(out, "{}", paint(style, "1", head))?;
    for (f, ids) in grouped(&problems) {
        for line in finding_lines(f, style, with_subject, &ids, shown_commands) {
            writeln!(out, "{line}")?;
        }
    }
    if !rest.is_empty() {
        writeln!(
            out,
            "  {} {}",
            paint(style, severity_code(Severity::Pass), Severity::Pass.mark()),
            paint(style, "2", &format!("other checks: {rest} (-v shows them)"))
        )?;
    }
    Ok(())
}

/// Writes the human report.
pub fn render(report: &Report, style: &Style, out: &mut impl Write) -> io::Result<()> {
    let quiet = style.verbosity == Verbosity::Quiet;
    if !quiet {
        let title = format!(
            "mlc-doctor {} · {} profile · {}",
            report.tool.version, report.profile.name, report.started_at
        );
        writeln!(out, "{}", paint(style, "1", &title))?;
    }
    if !report.diagnosis.is_empty() {
        if !quiet {
            writeln!(out)?;
        }
        for (i, d) in report.diagnosis.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            diagnosis(out, style, i == 0, d)?;
        }
    }
    if !quiet {
        sections(report, style, out)?;
    }
    summary(report, style, out)
}

/// One ranked cause: its head line, the numbered steps with their commands, and with
/// `-v` the findings it rests on.
fn diagnosis(
    out: &mut impl Write,
    style: &Style,
    most_likely: bool,
    d: &Diagnosis,
) -> io::Result<()> {
    let lead = if most_likely {
        "Most likely"
    } else {
        "Also possible"
    };
    let head = format!("{lead}: {}", d.summary);
    for (j, line) in wrap(&head, style.width, "").into_iter().enumerate() {
        let line = if j == 0 {
            paint(style, "1", &line)
        } else {
            line
        };
        writeln!(out, "{line}")?;
    }
    for (n, step) in d.steps.iter().enumerate() {
        let number = format!("  {}. ", n + 1);
        let lines = wrap(&step.text, style.width, &" ".repeat(number.len()));
        for (j, line) in lines.into_iter().enumerate() {
            if j == 0 {
                writeln!(out, "{number}{}", line.trim_start())?;
            } else {
                writeln!(out, "{line}")?;
            }
        }
        if let Some(cmd) = &step.command {
            for line in command_lines(cmd, style, "       ") {
                writeln!(out, "{line}")?;
            }
        }
    }
    if style.verbosity == Verbosity::Verbose {
        let because = d
            .because
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            out,
            "  {}",
            paint(
                style,
                "2",
                &match because.is_empty() {
                    true => format!("({} confidence)", d.confidence.as_str()),
                    false => format!("because: {because} ({} confidence)", d.confidence.as_str()),
                }
            )
        )?;
    }
    Ok(())
}

/// The findings: the local ones by area, then each node's.
fn sections(report: &Report, style: &Style, out: &mut impl Write) -> io::Result<()> {
    let shown_commands: Vec<&str> = report
        .diagnosis
        .iter()
        .flat_map(|d| d.steps.iter().filter_map(|s| s.command.as_deref()))
        .collect();
    if style.verbosity == Verbosity::Normal {
        writeln!(out)?;
    }
    let mut block_before = false;
    for (title, list) in &local_areas(report) {
        section(
            out,
            &mut block_before,
            style,
            title,
            list,
            &shown_commands,
            true,
        )?;
    }
    for node in &report.nodes {
        let mut node_findings: Vec<&Finding> = report
            .findings
            .iter()
            .filter(|f| f.node.as_deref() == Some(&node.alias))
            .collect();
        node_findings.sort_by_key(|f| f.id);
        if node_findings.is_empty() {
            continue;
        }
        section(
            out,
            &mut block_before,
            style,
            &node_head(node),
            &node_findings,
            &shown_commands,
            false,
        )?;
    }
    Ok(())
}

/// The findings tied to no node, grouped under their areas' titles in area order.
fn local_areas(report: &Report) -> Vec<(&'static str, Vec<&Finding>)> {
    let mut local: Vec<&Finding> = report
        .findings
        .iter()
        .filter(|f| f.node.is_none())
        .collect();
    local.sort_by_key(|f| f.area());
    let mut areas: Vec<(&'static str, Vec<&Finding>)> = Vec::new();
    for f in local {
        let title = area_title(f.area());
        match areas.last_mut() {
            Some((t, list)) if *t == title => list.push(f),
            _ => areas.push((title, vec![f])),
        }
    }
    areas
}

/// A node's heading: `Node slurm (user@host:22, region)`.
fn node_head(node: &NodeReport) -> String {
    let user = node
        .user
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    format!(
        "Node {} ({user}{}:{}{})",
        node.alias,
        node.hostname,
        node.port,
        node.region
            .as_deref()
            .map(|r| format!(", {r}"))
            .unwrap_or_default()
    )
}

/// The counts and exit status (not with `-q`), and where the bundle is.
fn summary(report: &Report, style: &Style, out: &mut impl Write) -> io::Result<()> {
    let quiet = style.verbosity == Verbosity::Quiet;
    if !quiet || report.bundle.is_some() {
        writeln!(out)?;
    }
    let s = &report.summary;
    let mut parts = Vec::new();
    for (sev, word) in [
        (Severity::Fail, "failed"),
        (Severity::Warn, "warnings"),
        (Severity::Pass, "passed"),
        (Severity::Info, "info"),
        (Severity::Skip, "skipped"),
    ] {
        let n = s.get(sev);
        if n > 0 {
            let word = if n == 1 && sev == Severity::Warn {
                "warning"
            } else {
                word
            };
            parts.push(paint(style, severity_code(sev), &format!("{n} {word}")));
        }
    }
    if !quiet {
        writeln!(
            out,
            "Summary: {} · exit {}",
            parts.join(", "),
            report.exit_code
        )?;
    }
    if let Some(b) = &report.bundle {
        writeln!(
            out,
            "Bundle: {} ({} bytes, sha256 {})",
            b.path, b.size, b.sha256
        )?;
        writeln!(out, "Attach this file to your support ticket; it contains no private key and no passphrase.")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_respects_width_and_indent() {
        let lines = wrap("one two three four five six seven eight nine ten", 24, "  ");
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(l.starts_with("  "));
            assert!(l.chars().count() <= 24, "{l:?}");
        }
        assert_eq!(wrap("", 80, "  "), vec!["  ".to_string()]);
    }
}
