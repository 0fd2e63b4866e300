//! `mlc-doctor unmask`: puts the user's real names back into text from support, using the
//! pseudonym map kept on this machine.

use std::collections::BTreeMap;
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};

use super::redact::{Mapping, Redactor};
use crate::error::ExitStatus;

#[derive(serde::Deserialize)]
struct MapFile {
    /// The bundle's file name.
    #[serde(default)]
    bundle: String,
    mappings: Vec<Mapping>,
}

/// Bundle file names the text mentions (`mlc-doctor-20261128T014721Z.zip`, any `*.zip`).
fn named_bundles(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "\"'()<>,;`".contains(c))
        .map(|w| w.trim_end_matches([':', '.', '!', '?']))
        .filter(|w| w.ends_with(".zip") && w.len() > 4)
        .map(|w| w.rsplit(['/', '\\']).next().unwrap_or(w).to_string())
        .collect()
}

fn maps_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let os = crate::platform::Os::current();
    let home = crate::platform::default_home(os, env)?;
    Some(os.state_dir(env, &home).join("maps"))
}

/// The map made for a bundle the text names, if there is one.
fn map_for(env: &BTreeMap<String, String>, bundles: &[String]) -> Option<PathBuf> {
    let dir = maps_dir(env)?;
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<MapFile>(&b).ok())
                .is_some_and(|m| bundles.contains(&m.bundle))
        })
}

fn newest_map(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let dir = maps_dir(env)?;
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// The most text `unmask` reads.
const MAX_INPUT: u64 = 16 << 20;

/// Reads FILE (or stdin), replaces pseudonyms with real values, prints the result. The
/// map is the one given, else the one made for a bundle the text names, else the newest;
/// stderr names it. A map made for another bundle than the one the text names is refused.
pub fn command(
    file: Option<&Path>,
    map: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> ExitStatus {
    // Text from support: any bytes (not UTF-8 is shown as U+FFFD, from a file or a pipe
    // alike), up to a size that no message from support reaches.
    let mut bytes = Vec::new();
    let read = match file {
        None => std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut bytes),
        Some(p) if p == Path::new("-") => {
            std::io::stdin().take(MAX_INPUT + 1).read_to_end(&mut bytes)
        }
        Some(p) => {
            std::fs::File::open(p).and_then(|f| f.take(MAX_INPUT + 1).read_to_end(&mut bytes))
        }
    };
    if let Err(e) = read {
        return crate::app::fatal(&format!("cannot read the input: {e}"));
    }
    if bytes.len() as u64 > MAX_INPUT {
        return crate::app::fatal(&format!(
            "the input is larger than {} MiB: give unmask the message from support, not a whole file",
            MAX_INPUT >> 20
        ));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let named = named_bundles(&text);
    let map_path = match map
        .map(Path::to_path_buf)
        .or_else(|| map_for(env, &named))
        .or_else(|| newest_map(env))
    {
        Some(p) => p,
        None => return crate::app::fatal(&format!("no pseudonym map found (bundles written on this machine leave one in {}); pass --map FILE", crate::platform::Os::current().state_dir_words())),
    };
    let shown = crate::escape::text(&map_path.display().to_string());
    let map_file = match std::fs::read(&map_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<MapFile>(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => return crate::app::fatal(&format!("cannot read the pseudonym map {shown}: {e}")),
    };
    if !named.is_empty() && !map_file.bundle.is_empty() && !named.contains(&map_file.bundle) {
        eprintln!(
            "mlc-doctor: error: the text names {}, but the map {shown} was made for {}; pass --map with the map of that bundle",
            crate::escape::text(&named.join(", ")),
            crate::escape::text(&map_file.bundle)
        );
        return ExitStatus::Usage;
    }
    if named.len() > 1 {
        eprintln!(
            "mlc-doctor: note: the text names {} bundles ({}); each has its own pseudonyms and only this map's are put back (run unmask once per bundle with --map)",
            named.len(),
            crate::escape::text(&named.join(", "))
        );
    }
    eprintln!(
        "mlc-doctor: using the pseudonym map {shown}{}",
        if map_file.bundle.is_empty() {
            String::new()
        } else {
            format!(" (made for {})", crate::escape::text(&map_file.bundle))
        }
    );
    // Text from support goes to the user's terminal: nothing in it may act on it.
    let _ = write!(
        std::io::stdout(),
        "{}",
        crate::escape::multiline(&Redactor::unmask(&map_file.mappings, &text))
    );
    ExitStatus::Healthy
}
