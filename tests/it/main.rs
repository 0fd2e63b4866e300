//! The integration tests, one binary: each module is one area (`cargo test --test it
//! network` runs one). Shared helpers live in `common`: a temp home, the binary run with
//! a clean environment, a loopback sshd and ssh-agent, snapshot filters.
//!
//! `tests/release_panic.rs` stays a binary of its own: it needs the release profile and the
//! `fault-injection` feature, and on its own only that one test goes through the LTO build.

mod common;

mod bundle;
mod cli;
mod config_checks;
mod config_diff;
mod fix;
mod fuzz_corpus;
mod hostile_inputs;
mod key_checks;
mod keyfiles;
mod network;
mod platforms;
mod politeness;
mod properties;
mod redaction;
mod remedies;
mod scenarios;
mod schema;
mod snapshot_files;
mod transcripts;
mod trust;
