//! `mlc-doctor bundle inspect`: verifies a bundle (manifest hashes, no unlisted files, the
//! private-key shape checks) and prints its report for the support engineer.

use std::collections::BTreeMap;
use std::io::{Read, Write as _};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{hex, leakcheck, Manifest};
use crate::error::ExitStatus;

/// Largest entry read from a bundle (a zip bomb stops here).
const ENTRY_CAP: u64 = 16 << 20;
const TOTAL_CAP: u64 = 128 << 20;
/// Largest bundle file opened at all.
const FILE_CAP: u64 = 256 << 20;

/// Problems printed one per line; the rest are counted.
const SHOWN_PROBLEMS: usize = 20;

/// What verification found.
#[derive(Debug, Default)]
pub struct Verification {
    pub files: BTreeMap<String, Vec<u8>>,
    pub problems: Vec<String>,
    /// What the independent leak gate found (file, line, kind; never the value).
    pub leaks: Vec<String>,
    pub manifest: Option<Manifest>,
}

/// Reads and verifies a bundle; `Err` when it cannot be read as a zip at all.
pub fn verify(path: &Path) -> Result<Verification, String> {
    let shown = crate::escape::text(&path.display().to_string());
    // Only a regular file of bounded size: a FIFO or a device would block or never end.
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    if meta.len() > FILE_CAP {
        return Err(format!(
            "{shown} is {} MiB, larger than any bundle ({} MiB)",
            meta.len() >> 20,
            FILE_CAP >> 20
        ));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open {shown}: {e}"))?;
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(format!("{shown} is not a regular file"));
    }
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| format!("{shown} is not a readable zip ({e}); it may be truncated",))?;
    let mut v = Verification::default();
    // Only one entry of each name is read and checked here; another zip program may show
    // a copy that was never verified (or a private key put first under a checked name).
    if zip.has_duplicate_names() {
        v.problems.push(
            "the zip holds an entry name more than once: only one copy of each is checked here, and another zip program may show the other (a bundle the doctor writes never does this)".into(),
        );
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                v.problems.push(format!("entry {i} cannot be read: {e}"));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(n) => n.to_string(),
            Err(e) => {
                v.problems
                    .push(format!("entry {i} has an unreadable name: {e}"));
                continue;
            }
        };
        if entry.is_dir() {
            continue;
        }
        let mut bytes = Vec::new();
        let limit = ENTRY_CAP.min(TOTAL_CAP.saturating_sub(total));
        if let Err(e) = (&mut entry).take(limit + 1).read_to_end(&mut bytes) {
            v.problems.push(format!(
                "{name}: cannot be decompressed ({e}); the zip may be damaged"
            ));
            continue;
        }
        if bytes.len() as u64 > limit {
            v.problems
                .push(format!("{name}: larger than {} MiB; not read", limit >> 20));
            continue;
        }
        total += bytes.len() as u64;
        v.files.insert(name, bytes);
    }
    match v
        .files
        .get("manifest.json")
        .map(|b| serde_json::from_slice::<Manifest>(b))
    {
        None => v.problems.push("manifest.json is missing".into()),
        Some(Err(e)) => v.problems.push(format!("manifest.json is not valid: {e}")),
        Some(Ok(m)) => {
            for f in &m.files {
                match v.files.get(&f.path) {
                    None => v.problems.push(format!("{}: listed in the manifest but missing", f.path)),
                    Some(b) if b.len() as u64 != f.size || hex(&Sha256::digest(b)) != f.sha256 => v.problems.push(format!("{}: size or sha256 differs from the manifest (changed after it was written)", f.path)),
                    Some(_) => {}
                }
            }
            for name in v.files.keys() {
                if name != "manifest.json" && !m.files.iter().any(|f| &f.path == name) {
                    v.problems
                        .push(format!("{name}: not listed in the manifest"));
                }
            }
            if !m.leak_check.passed {
                v.problems
                    .push("the manifest says the leak check did not pass".into());
            }
            v.manifest = Some(m);
        }
    }
    // The report is what support reads: one that is missing or is no JSON is a problem
    // even when the manifest vouches for its bytes.
    match v.files.get("report.json") {
        None => v.problems.push("report.json is missing".into()),
        Some(b) if serde_json::from_slice::<serde_json::Value>(b).is_err() => {
            v.problems.push("report.json is not valid JSON".into());
        }
        Some(_) => {}
    }
    let sources = leakcheck::Sources {
        vocabulary: vocabulary(&v.files),
        ..leakcheck::Sources::default()
    };
    if let Err(leaks) = leakcheck::check(&v.files, &sources) {
        for l in leaks {
            v.leaks.push(l.to_string());
        }
    }
    Ok(v)
}

/// The vocabulary inspection checks against: the embedded profile's login nodes and the
/// addresses the bundle's report gives for exactly those names. Nothing else the bundle
/// says is trusted.
fn vocabulary(files: &BTreeMap<String, Vec<u8>>) -> super::allow::Vocabulary {
    let profile = crate::profile::Profile::embedded();
    let hosts: Vec<String> = profile
        .nodes()
        .iter()
        .flat_map(|n| [n.alias().to_string(), n.hostname().to_string()])
        .collect();
    let mut addresses = Vec::new();
    if let Some(report) = files
        .get("report.json")
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
    {
        for node in report["nodes"].as_array().into_iter().flatten() {
            let host = node["hostname"].as_str().unwrap_or("");
            if profile.is_cluster_host(host) {
                for a in node["dns"]["addresses"].as_array().into_iter().flatten() {
                    addresses.extend(a.as_str().map(str::to_string));
                }
            }
        }
    }
    super::allow::Vocabulary::new(
        hosts,
        addresses,
        profile.docs_url.clone(),
        Vec::<String>::new(),
    )
}

/// Verifies and prints: the report for the support engineer (escaped), or with `--json`
/// one document with the verdict and the report.
pub fn command(zip: &Path, json: bool) -> ExitStatus {
    let v = match verify(zip) {
        Ok(v) => v,
        Err(e) => {
            // A script reading --json gets a document even when there is no bundle to read.
            if json {
                let mut doc = serde_json::json!({
                    "schema": "mlc-doctor.inspect/1",
                    "bundle": zip.display().to_string(),
                    "verified": false,
                    "problems": [e.clone()],
                    "leak_check": {"passed": false, "leaks": []},
                    "files": 0,
                    "report": null,
                });
                crate::escape::json(&mut doc);
                let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
                let _ = writeln!(std::io::stdout(), "{text}");
            }
            return crate::app::fatal(&e);
        }
    };
    let verified = v.problems.is_empty() && v.leaks.is_empty();
    if json {
        let mut report = v
            .files
            .get("report.json")
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .unwrap_or(serde_json::Value::Null);
        crate::escape::json(&mut report);
        let mut doc = serde_json::json!({
            "schema": "mlc-doctor.inspect/1",
            "bundle": zip.display().to_string(),
            "verified": verified,
            "problems": v.problems,
            "leak_check": {"passed": v.leaks.is_empty(), "leaks": v.leaks},
            "files": v.manifest.as_ref().map(|m| m.files.len()).unwrap_or(0),
            "report": report,
        });
        crate::escape::json(&mut doc);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        // A closed output (`| head`) ends the printing, not the verdict.
        let _ = writeln!(std::io::stdout(), "{text}");
    } else {
        // A bundle of thousands of bad entries: the first problems and a count.
        let all: Vec<&String> = v.problems.iter().chain(&v.leaks).collect();
        for p in all.iter().take(SHOWN_PROBLEMS) {
            eprintln!("mlc-doctor: bundle problem: {}", crate::escape::text(p));
        }
        if all.len() > SHOWN_PROBLEMS {
            eprintln!(
                "mlc-doctor: … and {} more problems (all of them: `bundle inspect --json`)",
                all.len() - SHOWN_PROBLEMS
            );
        }
        match v.files.get("report.txt") {
            Some(b) => {
                let _ = write!(std::io::stdout(), "{}", crate::escape::bytes(b));
            }
            None => eprintln!("mlc-doctor: the bundle has no report.txt"),
        }
        if verified {
            let n = v.manifest.as_ref().map(|m| m.files.len()).unwrap_or(0);
            eprintln!("mlc-doctor: bundle verified: {n} files match the manifest; the independent leak check passed");
        } else {
            eprintln!(
                "mlc-doctor: the bundle did not verify ({} problem(s))",
                v.problems.len() + v.leaks.len()
            );
        }
    }
    if verified {
        ExitStatus::Healthy
    } else {
        ExitStatus::Problems
    }
}
