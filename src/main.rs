//! The `mlc-doctor` binary: parse, run, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let status = mlc_doctor::main_with(std::env::args_os().collect(), env);
    ExitCode::from(status.code())
}
