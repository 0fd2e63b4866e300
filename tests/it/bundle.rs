//! The support bundle: canaries never reach it, the leak gate fails closed, the manifest
//! verifies, a second zip implementation reads it, and unmask reverses the pseudonyms.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::path::PathBuf;
use std::process::Command;

use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;

const CANARY_USER: &str = "zedcanaryuser";
const CANARY_HOST: &str = "canary-workstation.lab.example.net";
const CANARY_EMAIL: &str = "alice.canary@example.org";
const CANARY_OTHER_HOST: &str = "gitlab-canary.example.com";
const CANARY_OTHER_USER: &str = "gitcanaryuser";
const CANARY_IP: &str = "100.77.66.55";
const CANARY_IP6: &str = "fd12:3456:789a::55";
const CANARY_TOKEN: &str = "ghp_canaryTOKEN0123456789";
const CANARY_SETENV: &str = "setenvCANARYvalue42";

struct Scenario {
    home: TestHome,
    sshd: Sshd,
    profile: PathBuf,
    out: tempfile::TempDir,
}

/// A home planted with canaries, and a loopback sshd that accepts its key.
fn scenario() -> Scenario {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::with_config(loopback_host(
        sshd.port,
        &format!("  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n\nHost {CANARY_OTHER_HOST}\n  User {CANARY_OTHER_USER}\n  SetEnv API_TOKEN={CANARY_SETENV}\n\nHost lab\n  HostName {CANARY_IP}\n  User {CANARY_OTHER_USER}\n\nHost lab6\n  HostName {CANARY_IP6}\n"),
    ));
    home.key("ed25519_100", "id_ed25519");
    home.key("ed25519_plain", "id_unencrypted_extra");
    home.key("pem_rsa_plain", "legacy_rsa");
    home.key("putty_v2_plain.ppk", "putty.ppk");
    home.write(
        ".ssh/known_hosts",
        format!(
            "{}\n{CANARY_OTHER_HOST} {}\n",
            sshd.known_hosts_line(),
            fixture_pub("rsa4096_plain")
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ),
    );
    home.write(
        ".bash_history",
        format!("ssh {CANARY_OTHER_HOST}\nexport GITHUB_TOKEN={CANARY_TOKEN}\n"),
    );
    let profile = sshd.profile(&home, "");
    Scenario {
        home,
        sshd,
        profile,
        out: tempfile::tempdir().unwrap(),
    }
}

impl Scenario {
    fn run(&self, extra: &[&str]) -> (std::process::Output, PathBuf) {
        let zip = self.out.path().join("b.zip");
        let mut args = vec![
            "--json",
            "--profile",
            self.profile.to_str().unwrap(),
            "--bundle",
            zip.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = self
            .home
            .cmd(&args)
            .env("USER", CANARY_USER)
            .env("LOGNAME", CANARY_USER)
            .env("HOSTNAME", CANARY_HOST)
            .env("GITHUB_TOKEN", CANARY_TOKEN)
            .env("AWS_SECRET_ACCESS_KEY", "wJalrCANARYsecretKEY0987")
            .current_dir(self.out.path())
            .output()
            .unwrap();
        (out, zip)
    }
}

#[test]
fn no_canary_reaches_the_bundle_and_everything_else_is_there() {
    let s = scenario();
    let (out, zip) = s.run(&[]);
    let report = parse_report(&out);
    assert_eq!(
        severity(&report, "bundle.written"),
        "info",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(report["bundle"]["path"], zip.to_str().unwrap());
    let meta = std::fs::metadata(&zip).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let files = read_zip_text(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "README.txt",
        "manifest.json",
        "report.json",
        "report.txt",
        "env/system.json",
        "ssh/config.txt",
        "ssh/effective/slurm.txt",
        "ssh/keys.json",
        "ssh/permissions.txt",
        "ssh/known_hosts.txt",
        "ssh/agent.json",
        "nodes/slurm/net.json",
        "nodes/slurm/handshake.json",
        "nodes/slurm/ssh-vvv.txt",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }

    for (canary, what) in [
        (CANARY_USER, "login name"),
        (CANARY_HOST, "host name"),
        (CANARY_EMAIL, "e-mail in a key comment"),
        (CANARY_OTHER_HOST, "non-cluster host"),
        (CANARY_OTHER_USER, "non-cluster user"),
        (CANARY_IP, "non-cluster IP"),
        (CANARY_IP6, "non-cluster IPv6 address"),
        (CANARY_TOKEN, "environment token"),
        (CANARY_SETENV, "SetEnv value in the config"),
        ("wJalrCANARYsecretKEY0987", "environment secret"),
        (s.home.path().to_str().unwrap(), "home path"),
    ] {
        assert_absent(&files, canary, what);
    }
    // Private key bodies (every file in ~/.ssh that holds one).
    for key in [
        "ed25519_100",
        "ed25519_plain",
        "pem_rsa_plain",
        "putty_v2_plain.ppk",
    ] {
        let text = std::fs::read_to_string(fixtures().join("keys").join(key)).unwrap();
        for line in mlc_doctor::bundle::leakcheck::key_body_lines(&text) {
            for (name, text) in &files {
                assert!(!text.contains(&line), "private key data of {key} in {name}");
            }
        }
    }
    for (name, text) in &files {
        for marker in [
            "PRIVATE KEY-----",
            "openssh-key-v1",
            "b3BlbnNzaC1rZXktdjE",
            "Private-Lines",
        ] {
            assert!(!text.contains(marker), "{marker} in {name}");
        }
    }
    // What support needs is kept: node address, fingerprints, the public key without comment.
    let keys = zip_entry(&files, "ssh/keys.json");
    let public = fixture_pub("ed25519_100")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        keys.contains(&public),
        "the public key to deploy is in the bundle"
    );
    let kh = zip_entry(&files, "ssh/known_hosts.txt");
    assert!(
        kh.contains(&format!("[127.0.0.1]:{}", s.sshd.port))
            && kh.contains("1 other line(s) not shown"),
        "{kh}"
    );
    let vvv = zip_entry(&files, "nodes/slurm/ssh-vvv.txt");
    assert!(vvv.contains("Server accepts key"), "{vvv}");
    let manifest: serde_json::Value =
        serde_json::from_str(&zip_entry(&files, "manifest.json")).unwrap();
    assert_eq!(manifest["leak_check"]["passed"], true);
    assert!(
        manifest["redaction"]["counts"]["host"].as_u64().unwrap() >= 1,
        "{}",
        manifest["redaction"]
    );
    // The pseudonym map stays home, private.
    let maps = s.home.path().join(".local/state/mlc-doctor/maps");
    let map = std::fs::read_dir(&maps)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::metadata(&map).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn a_second_zip_implementation_reads_it_and_inspect_verifies_it() {
    let s = scenario();
    let (_, zip) = s.run(&[]);
    let t = Command::new("unzip")
        .arg("-t")
        .arg(&zip)
        .output()
        .expect("unzip is installed by scripts/test");
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
    let out = doctor()
        .args(["bundle", "inspect"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("mlc-doctor "));
    let out = doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&zip)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "mlc-doctor.inspect/1");
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["leak_check"]["passed"], true);
    assert_eq!(doc["report"]["schema"], "mlc-doctor.report/1");
}

#[test]
fn tampered_and_truncated_bundles_are_clear_errors() {
    let s = scenario();
    let (_, zip) = s.run(&[]);
    // Rewrite the zip with one file changed.
    let files = read_zip(&zip);
    let tampered = s.out.path().join("tampered.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&tampered).unwrap());
        for (name, bytes) in &files {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            let body = if name == "report.txt" {
                b"all good, nothing to see".to_vec()
            } else {
                bytes.clone()
            };
            std::io::Write::write_all(&mut w, &body).unwrap();
        }
        w.finish().unwrap();
    }
    let out = doctor()
        .args(["bundle", "inspect"])
        .arg(&tampered)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("report.txt: size or sha256 differs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bytes = std::fs::read(&zip).unwrap();
    let truncated = s.out.path().join("truncated.zip");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = doctor()
        .args(["bundle", "inspect"])
        .arg(&truncated)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a readable zip"));
    // With --json, a document that says so.
    let out = doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&truncated)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "mlc-doctor.inspect/1");
    assert_eq!(doc["verified"], false);
    assert!(
        doc["problems"][0]
            .as_str()
            .unwrap()
            .contains("not a readable zip"),
        "{doc}"
    );
    let out = doctor()
        .args(["bundle", "inspect", "/nonexistent/b.zip"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_name_twice_in_the_zip_fails_inspection() {
    let s = scenario();
    let (_, zip) = s.run(&[]);
    // A copy of the bundle with an extra report.txt first: the zip crate refuses to write
    // a name twice, so the entry is written as `report.tx_` and renamed in the bytes
    // (names are not covered by the CRC).
    let doubled = s.out.path().join("doubled.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&doubled).unwrap());
        w.start_file("report.tx_", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut w, b"all good, nothing to see").unwrap();
        for (name, bytes) in &read_zip(&zip) {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, bytes).unwrap();
        }
        w.finish().unwrap();
    }
    let mut bytes = std::fs::read(&doubled).unwrap();
    let mut renamed = 0;
    for i in 0..bytes.len() - 10 {
        if &bytes[i..i + 10] == b"report.tx_" {
            bytes[i + 9] = b't';
            renamed += 1;
        }
    }
    assert_eq!(renamed, 2, "local header and central directory");
    std::fs::write(&doubled, &bytes).unwrap();
    let out = doctor()
        .args(["bundle", "inspect"])
        .arg(&doubled)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("entry name more than once"), "{stderr}");
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let s = scenario();
    let zip = s.out.path().join("b.zip");
    std::fs::write(&zip, b"precious").unwrap();
    let (out, _) = s.run(&[]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(std::fs::read(&zip).unwrap(), b"precious");
    let report = parse_report(&out);
    assert_eq!(report["exit_code"], 3);
    assert_eq!(severity(&report, "bundle.written"), "fail");
}

#[test]
fn default_name_lands_in_the_current_directory() {
    let s = scenario();
    let out = s
        .home
        .cmd(&[
            "--json",
            "--offline",
            "--profile",
            s.profile.to_str().unwrap(),
        ])
        .current_dir(s.out.path())
        .output()
        .unwrap();
    let report = parse_report(&out);
    let path = report["bundle"]["path"].as_str().unwrap();
    assert!(
        path.starts_with("mlc-doctor-") && path.ends_with("Z.zip"),
        "{path}"
    );
    assert!(s.out.path().join(path).exists());
}

#[test]
fn the_cluster_user_is_kept_unless_asked_and_unmask_reverses() {
    let s = scenario();
    let login = login();
    let (_, zip) = s.run(&["--offline"]);
    let files = read_zip_text(&zip);
    let report = zip_entry(&files, "report.json");
    assert!(
        report.contains(&format!("\"user\": \"{login}\"")),
        "the cluster user is kept by default"
    );
    std::fs::remove_file(&zip).unwrap();
    let (_, zip) = s.run(&["--offline", "--redact-cluster-user"]);
    let files = read_zip_text(&zip);
    if login.len() >= 3 {
        assert_absent(&files, &login, "cluster user with --redact-cluster-user");
    }
    // Support writes back using pseudonyms; unmask puts the real values back.
    let text = zip_entry(&files, "ssh/config.txt");
    assert!(text.contains("host-1.example.invalid"), "{text}");
    let out = doctor()
        .arg("unmask")
        .env("HOME", s.home.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"Your config names host-1.example.invalid for other-user-1.")?;
            c.wait_with_output()
        })
        .unwrap();
    let back = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        back,
        format!("Your config names {CANARY_OTHER_HOST} for {CANARY_OTHER_USER}.")
    );
}

#[test]
fn the_leak_gate_refuses_a_forced_canary_and_writes_nothing() {
    let s = scenario();
    let args = mlc_doctor::cli::CheckArgs {
        home: Some(s.home.path().to_path_buf()),
        offline: true,
        timeout: 5.0,
        deadline: 30.0,
        no_openssh: true,
        ..Default::default()
    };
    let mut env = std::collections::BTreeMap::new();
    env.insert("HOME".to_string(), s.home.path().display().to_string());
    env.insert("USER".to_string(), CANARY_USER.to_string());
    let settings = mlc_doctor::settings::Settings::from_args(&args, &env, vec![]).unwrap();
    let ctx = std::sync::Arc::new(mlc_doctor::context::Context::from_settings(&settings, env));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = rt.block_on(mlc_doctor::runner::run(ctx.clone(), None));
    let report =
        mlc_doctor::app::build_report(&settings, &ctx, state.findings.clone(), state.nodes.clone());
    let target = s.out.path().join("never.zip");

    // Redacted normally, it passes.
    let bundle = mlc_doctor::bundle::Bundle::prepare(&settings, &ctx, &state, &report);
    assert!(bundle
        .files()
        .values()
        .all(|b| !String::from_utf8_lossy(b).contains(CANARY_USER)));

    for (name, forced) in [
        ("extra.txt", format!("hello {CANARY_USER}")),
        (
            "key.txt",
            std::fs::read_to_string(fixtures().join("keys/ed25519_plain")).unwrap(),
        ),
        (&*format!("{CANARY_USER}.txt"), "name only".to_string()),
        // Values the redactor never saw: only the allowlist half of the gate knows them.
        ("host.txt", "via internal.corp.example.com".to_string()),
        ("v6.txt", "from fd00:1234::9".to_string()),
        ("path.txt", "see /srv/private/data".to_string()),
        ("mail.txt", "ask jane@corp.example.com".to_string()),
        ("token.txt", "ghp_AbCdEf1234567890XyZqWeRtY9876".to_string()),
        ("url.txt", "https://intranet.corp.example.com/x".to_string()),
    ] {
        let mut bundle = mlc_doctor::bundle::Bundle::prepare(&settings, &ctx, &state, &report);
        bundle.insert_verbatim(name, forced.into_bytes());
        let err = bundle.finish(&target).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("leak check refused"), "{msg}");
        assert!(
            !msg.contains(CANARY_USER) || name.contains(CANARY_USER),
            "the message never shows the value: {msg}"
        );
        assert!(!target.exists(), "nothing is written");
        assert!(
            std::fs::read_dir(s.out.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tmp")),
            "no temp file left"
        );
    }
}

#[test]
fn a_report_that_is_no_json_fails_inspection_and_many_problems_are_counted() {
    use sha2::Digest;
    let s = scenario();
    let (_, zip) = s.run(&[]);
    let mut files: std::collections::BTreeMap<String, Vec<u8>> =
        read_zip(&zip).into_iter().collect();
    let bad = b"{ not json".to_vec();
    // The manifest vouches for the broken report (hashes consistent).
    let mut manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    for f in manifest["files"].as_array_mut().unwrap() {
        if f["path"] == "report.json" {
            f["size"] = bad.len().into();
            f["sha256"] = sha2::Sha256::digest(&bad)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into();
        }
    }
    files.insert("report.json".into(), bad);
    files.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    for i in 0..30 {
        files.insert(format!("extra/{i}.txt"), b"x".to_vec());
    }
    let broken = s.out.path().join("broken.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&broken).unwrap());
        for (name, bytes) in &files {
            w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut w, bytes).unwrap();
        }
        w.finish().unwrap();
    }
    let out = doctor()
        .args(["bundle", "inspect"])
        .arg(&broken)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("bundle problem:").count(), 20, "{err}");
    assert!(err.contains("… and 11 more problems"), "{err}");
    let out = doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&broken)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["verified"], false);
    assert!(doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "report.json is not valid JSON"));
    // A reader that goes away early (`| head -c 10`) ends the printing, not in a panic.
    let mut child = doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&zip)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}

/// With `--home DIR` (HOME elsewhere) the pseudonym map goes to the account's own state
/// directory, where `unmask` looks, and nothing is written into DIR.
#[test]
fn the_map_of_a_home_given_with_home_is_kept_in_the_accounts_state_dir() {
    let home = TestHome::new();
    home.write(".ssh/config", GUIDE);
    home.key("ed25519_100", "id_ed25519");
    let own = tempfile::tempdir().unwrap();
    let zip = own.path().join("b.zip");
    let before: Vec<_> = walk(home.path());
    let out = doctor()
        .env("HOME", own.path())
        .arg("--home")
        .arg(home.path())
        .args(["--offline", "--bundle"])
        .arg(&zip)
        .output()
        .unwrap();
    assert!(zip.exists(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        walk(home.path()),
        before,
        "the run wrote into the home it checked"
    );
    let maps = own.path().join(".local/state/mlc-doctor/maps");
    assert_eq!(std::fs::read_dir(&maps).unwrap().count(), 1);
    // unmask, run as the same account, finds it by the bundle's name.
    let out = with_stdin(
        doctor().env("HOME", own.path()).args(["unmask", "-"]),
        b"see b.zip\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("made for b.zip"));
}

/// Every path under `dir`, sorted.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}
