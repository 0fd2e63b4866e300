//! The known_hosts parser and matcher on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlc_doctor::knownhosts;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let entries = knownhosts::parse(&text);
    let names = vec![knownhosts::host_name("slurm.example.org", 22), knownhosts::host_name("127.0.0.1", 2222)];
    let key = entries.first().map(|e| e.key.clone()).unwrap_or_default();
    let _ = knownhosts::check(&entries, &names, "ssh-ed25519", &key);
});
