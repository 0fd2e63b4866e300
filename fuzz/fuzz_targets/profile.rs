//! The site profile loader on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(p) = mlc_doctor::profile::Profile::parse(text, "fuzz") {
            let _ = p.to_toml();
            let _ = p.username_regex();
        }
    }
});
