//! The key file sniffer on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let facts = mlc_doctor::keyfile::sniff(data);
    let _ = facts.public();
    let _ = mlc_doctor::keyfile::looks_private(data);
    let _ = mlc_doctor::bundle::leakcheck::key_body_lines(&String::from_utf8_lossy(data));
});
