//! The ssh_config parser and evaluator on arbitrary bytes, with an Include of itself.
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use mlc_doctor::sshconfig::{evaluate, Config, EvalInput, FileSource};

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

fuzz_target!(|data: &[u8]| {
    let src = One(data.to_vec());
    let cfg = Config::load(&src, Some(Path::new("/h/.ssh/config")), None, Path::new("/h"), Some((9, 2)));
    for alias in ["slurm", "SLURM", "x.example.org"] {
        let e = evaluate(&cfg, &EvalInput { alias, local_user: "me" });
        let _ = (e.hostname(alias), e.port(), e.user(), e.identity_files());
    }
});
