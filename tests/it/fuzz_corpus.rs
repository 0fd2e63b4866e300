//! Replays the corpus the fuzzers found (fuzz/corpus/<target>/) through the same entry
//! points as the fuzz targets, so every input that once reached new code keeps being run
//! in CI without a nightly compiler.

use std::path::{Path, PathBuf};

use mlc_doctor::sshconfig::{evaluate, Config, EvalInput, FileSource};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the {target} corpus is nearly empty");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

struct One(Vec<u8>);

impl FileSource for One {
    fn read(&self, path: &Path) -> Result<Vec<u8>, String> {
        if path.starts_with("/h/.ssh") {
            Ok(self.0.clone())
        } else {
            Err("no such file".into())
        }
    }
    fn glob(&self, pattern: &str) -> Vec<PathBuf> {
        if pattern.starts_with("/h/.ssh/") && pattern.len() < 64 {
            vec![PathBuf::from(pattern)]
        } else {
            vec![]
        }
    }
}

#[test]
fn sshconfig_corpus() {
    for data in corpus("sshconfig") {
        let cfg = Config::load(
            &One(data),
            Some(Path::new("/h/.ssh/config")),
            None,
            Path::new("/h"),
            Some((9, 2)),
        );
        for alias in ["slurm", "SLURM", "x.example.org"] {
            let e = evaluate(
                &cfg,
                &EvalInput {
                    alias,
                    local_user: "me",
                },
            );
            let _ = (e.hostname(alias), e.port(), e.user(), e.identity_files());
        }
    }
}

#[test]
fn keyfile_corpus() {
    for data in corpus("keyfile") {
        let facts = mlc_doctor::keyfile::sniff(&data);
        let _ = facts.public();
        let _ = mlc_doctor::bundle::leakcheck::key_body_lines(&String::from_utf8_lossy(&data));
    }
}

#[test]
fn knownhosts_corpus() {
    use mlc_doctor::knownhosts;
    for data in corpus("knownhosts") {
        let entries = knownhosts::parse(&String::from_utf8_lossy(&data));
        let names = vec![
            knownhosts::host_name("slurm.example.org", 22),
            knownhosts::host_name("127.0.0.1", 2222),
        ];
        let key = entries.first().map(|e| e.key.clone()).unwrap_or_default();
        let _ = knownhosts::check(&entries, &names, "ssh-ed25519", &key);
    }
}

#[test]
fn transcript_corpus() {
    for data in corpus("transcript") {
        let t = mlc_doctor::transcript::parse(&String::from_utf8_lossy(&data));
        assert!(t.outcome.is_some());
    }
}

#[test]
fn profile_corpus() {
    let mut valid = 0;
    for data in corpus("profile") {
        if let Ok(text) = std::str::from_utf8(&data) {
            if let Ok(p) = mlc_doctor::profile::Profile::parse(text, "corpus") {
                valid += 1;
                assert!(!p.nodes().is_empty());
                let _ = mlc_doctor::profile::Profile::parse(&p.to_toml(), "round trip");
            }
        }
    }
    assert!(valid >= 1);
}
