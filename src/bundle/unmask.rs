//! `mlc-doctor unmask`: puts the user's real names back into text from support, using the
//! pseudonym map kept on this machine.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::redact::{Mapping, Redactor};
use crate::error::ExitStatus;

#[derive(serde::Deserialize)]
struct MapFile {
    mappings: Vec<Mapping>,
}

fn newest_map(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    let os = crate::platform::Os::current();
    let home = crate::platform::default_home(os, env)?;
    let dir = os.state_dir(env, &home).join("maps");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .map(|e| e.path())
}

/// Reads FILE (or stdin), replaces pseudonyms with real values, prints the result.
pub fn command(
    file: Option<&Path>,
    map: Option<&Path>,
    env: &BTreeMap<String, String>,
) -> ExitStatus {
    let map_path = match map.map(Path::to_path_buf).or_else(|| newest_map(env)) {
        Some(p) => p,
        None => return crate::app::fatal(&format!("no pseudonym map found (bundles written on this machine leave one in {}); pass --map FILE", crate::platform::Os::current().state_dir_words())),
    };
    let mappings = match std::fs::read(&map_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<MapFile>(&b).map_err(|e| e.to_string()))
    {
        Ok(m) => m.mappings,
        Err(e) => {
            return crate::app::fatal(&format!(
                "cannot read the pseudonym map {}: {e}",
                map_path.display()
            ))
        }
    };
    let mut text = String::new();
    let read = match file {
        None => std::io::stdin().read_to_string(&mut text).map(|_| ()),
        Some(p) if p == Path::new("-") => std::io::stdin().read_to_string(&mut text).map(|_| ()),
        Some(p) => std::fs::read(p).map(|b| text = String::from_utf8_lossy(&b).into_owned()),
    };
    if let Err(e) = read {
        return crate::app::fatal(&format!("cannot read the input: {e}"));
    }
    print!("{}", Redactor::unmask(&mappings, &text));
    ExitStatus::Healthy
}
