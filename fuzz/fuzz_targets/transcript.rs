//! The `ssh -vvv` transcript parser on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t = mlc_doctor::transcript::parse(&String::from_utf8_lossy(data));
    let _ = t.outcome.map(|o| o.describe());
});
