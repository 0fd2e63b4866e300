//! The `mlc-doctor` binary: parse, run, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(home) = std::env::var_os("HOME") {
        mlc_doctor::platform::keep_home_not_utf8(home);
    }
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let status = mlc_doctor::main_with(std::env::args_os().collect(), env);
    ExitCode::from(status.code())
}
