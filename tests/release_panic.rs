//! The shipped profile keeps the runner's promise: a panicking probe becomes a finding and
//! the run goes on. Built only with the `fault-injection` feature; `scripts/release-test`
//! runs it with `--release`, so the binary has the release profile's panic strategy.
//!
//! Its own test binary, not a module of `tests/it`: `scripts/release-test` builds it with
//! `--release` (LTO) and the feature, and so only this test goes through that build, not
//! the whole suite.
#![cfg(all(unix, feature = "fault-injection"))]

#[allow(dead_code)] // the shared helpers; this test uses a few
#[path = "it/common/mod.rs"]
mod common;

use common::*;

#[test]
fn a_panicking_probe_becomes_a_finding_in_this_build() {
    for probe in ["env.os", "config.present", "key.present"] {
        let home = TestHome::new();
        home.write(".ssh/config", "Host slurm\n  User abc123\n");
        let out = home
            .cmd(&[
                "--offline",
                "--json",
                "--no-bundle",
                "--fault-inject",
                probe,
            ])
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{probe}: the run died ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let r = parse_report(&out);
        let hit = findings(&r, probe)
            .into_iter()
            .find(|f| f["evidence"]["internal_error"] == true)
            .unwrap_or_else(|| panic!("{probe}: no internal-error finding"));
        assert_eq!(hit["severity"], "skip");
        // The other checks still ran.
        assert!(!findings(&r, "perm.ssh-dir").is_empty());
    }
}
