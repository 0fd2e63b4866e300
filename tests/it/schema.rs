//! The shipped JSON Schemas describe what the tool prints: every scenario's report (offline
//! and live) and `bundle inspect --json` validate against them.

use crate::common::*;
use serde_json::Value;

fn schema(name: &str) -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema")
        .join(name);
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(v: &jsonschema::Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}");
}

#[test]
fn every_scenario_report_matches_the_report_schema() {
    let v = schema("report-1.json");
    let scenarios: Vec<(&str, TestHome)> = vec![
        ("empty home", TestHome::new()),
        ("fixture homes", {
            let h = TestHome::new();
            h.write(
                ".ssh/config",
                "Host slurm\n  User ml-cloud-user-id\n  IdentityFile ~/.ssh/id_ed25519\n",
            );
            h.key("ed25519_plain", "id_ed25519");
            h
        }),
        ("binary config", {
            let h = TestHome::new();
            h.write(".ssh/config", [0u8, 1, 2, 3, 255, 254].repeat(100));
            h
        }),
        ("putty key", {
            let h = TestHome::new();
            h.key("putty_v3_enc.ppk", "id_ed25519");
            h
        }),
    ];
    for (what, home) in scenarios {
        let (_, report) = home.json(&["--offline"]);
        assert_valid(&v, &report, what);
    }
    // A report the schema must refuse, so the test can fail.
    let mut bad = TestHome::new().json(&["--offline"]).1;
    bad["findings"][0]["severity"] = "fatal".into();
    assert!(!v.is_valid(&bad));
}

/// Reports with the network stages run: nodes with addresses, host keys, methods and
/// transcripts, which an offline report leaves empty.
#[cfg(unix)] // a real sshd
#[test]
fn live_reports_match_the_report_schema() {
    use crate::common::sshd::{fixture_pub, Sshd};
    let v = schema("report-1.json");
    for (what, deployed) in [
        ("a deployed key", "ed25519_100"),
        ("a key the server does not have", "rsa4096_enc"),
    ] {
        let sshd = Sshd::start(&[fixture_pub(deployed)], "");
        let home = sshd.home(Some("ed25519_100"));
        let profile = sshd.profile(&home, "");
        let (_, report) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
        assert!(
            report["nodes"][0]["host_key"].is_object(),
            "{what}: the handshake did not run: {report:#}"
        );
        assert_valid(&v, &report, what);
    }
}

#[test]
fn inspect_json_matches_its_schema() {
    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  User abc123\n");
    let zip = home.path().join("b.zip");
    let st = home
        .cmd(&["--offline", "--bundle", zip.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(st.code() != Some(3));
    let out = doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&zip)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_valid(&schema("inspect-1.json"), &doc, "inspect");
    assert_valid(&schema("report-1.json"), &doc["report"], "inspect's report");
    assert_eq!(doc["verified"], true);
}
