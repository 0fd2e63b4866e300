//! The command line as a user meets it: exit codes, subcommands, JSON on stdout only.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use crate::common::*;

#[test]
fn offline_check_prints_a_readable_report() {
    let home = TestHome::new();
    let out = home
        .cmd(&["--offline", "--no-bundle", "--color", "never"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("mlc-doctor "), "{text}");
    assert!(text.contains("Node slurm "), "{text}");
    assert!(text.contains("not probed: --offline"), "{text}");
    assert!(text.contains("Summary:"), "{text}");
    assert!(!text.contains('\x1b'), "colour codes without a TTY");
}

#[test]
fn color_always_adds_escape_codes_and_no_color_is_honoured_in_auto() {
    let home = TestHome::new();
    let out = home
        .cmd(&["--offline", "--no-bundle", "--color", "always"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b["));
    let out = home
        .cmd(&["--offline", "--no-bundle"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\x1b["));
}

#[test]
fn json_report_has_the_contract_fields_and_nothing_else_on_stdout() {
    let home = TestHome::new();
    let (code, report) = home.json(&["--offline"]);
    for key in [
        "schema",
        "tool",
        "profile",
        "started_at",
        "duration_ms",
        "findings",
        "nodes",
        "diagnosis",
        "summary",
        "bundle",
        "exit_code",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    assert_eq!(report["schema"], "mlc-doctor.report/1");
    assert_eq!(report["exit_code"], code);
    assert_eq!(report["nodes"].as_array().unwrap().len(), 4);
    let s = &report["summary"];
    let total: u64 = ["pass", "info", "warn", "fail", "skip"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, report["findings"].as_array().unwrap().len());
    for f in report["findings"].as_array().unwrap() {
        for key in ["id", "severity", "subject", "summary", "evidence", "node"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }
}

#[test]
fn node_filter_limits_the_nodes() {
    let home = TestHome::new();
    let (_, report) = home.json(&["--offline", "--node", "slurm2"]);
    let nodes = report["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["alias"], "slurm2");
    assert_eq!(
        nodes[0]["hostname"],
        "galvani-login2.mlcloud.uni-tuebingen.de"
    );
}

#[test]
fn bad_flags_exit_2() {
    let home = TestHome::new();
    for args in [
        &["--bogus"][..],
        &["--timeout", "0"],
        &["--timeout", "abc"],
        &["--node", "nosuch"],
        &["--color", "pink"],
        &["--bundle", "x.zip", "--no-bundle"],
    ] {
        let out = home.cmd(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    }
    let out = doctor()
        .args(["--home", "/nonexistent/home/x", "--offline"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn bad_profile_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "schema = 1\nname = \"x\"\nsupport = \"y\"\ncolour = \"blue\"\n",
    )
    .unwrap();
    let home = TestHome::new();
    let out = home
        .cmd(&["--offline", "--profile", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("colour") && err.contains("line 4") && err.contains("bad.toml"),
        "{err}"
    );
    let out = doctor()
        .args(["profile", "show", "--profile", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_explain_profile_completions_and_man_work() {
    let out = doctor().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("env.openssh ")),
        "{text}"
    );

    let out = doctor().args(["list", "--json"]).output().unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["id"] == "net.tcp"));

    let out = doctor().args(["explain", "net.tcp"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for head in ["What it checks", "Why it matters", "How to fix"] {
        assert!(text.contains(head), "{text}");
    }
    // Another site's profile: its words in the texts; a bad profile is a usage error.
    let dir = tempfile::tempdir().unwrap();
    let site = loopback_profile(dir.path(), &[("hpc", "127.0.0.1", 2222)], "");
    let mut text = std::fs::read_to_string(&site).unwrap();
    text.push_str("\n[advice]\nvpn = \"the Example VPN\"\n");
    std::fs::write(&site, text).unwrap();
    let site = site.to_str().unwrap();
    let out = doctor()
        .args(["explain", "diagnosis.network-blocked", "--profile", site])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Connect to the Example VPN"), "{text}");
    let out = doctor()
        .args(["explain", "diagnosis.healthy", "--profile", site])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("`ssh hpc`"));
    let out = doctor().args(["list", "--profile", site]).output().unwrap();
    assert!(out.status.success());
    let missing = dir.path().join("missing.toml");
    for sub in ["list", "explain net.tcp"] {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.extend(["--profile", missing.to_str().unwrap()]);
        let out = doctor().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{sub}");
    }

    let out = doctor().args(["explain", "net.tpc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("net.tcp"));

    let out = doctor().args(["profile", "show"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("galvani-login.mlcloud.uni-tuebingen.de"));
    assert!(text.contains("min_rsa_bits = 4096"));

    let out = doctor().args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("mlc-doctor"));

    let out = doctor().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH"));

    let out = doctor().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("mlc-doctor "));
}

#[test]
fn no_openssh_and_missing_ssh_are_reported() {
    let home = TestHome::new();
    let (_, report) = home.json(&["--offline", "--no-openssh"]);
    assert_eq!(severity(&report, "env.openssh"), "skip");
    let (_, report) = home.json(&["--offline", "--ssh", "/nonexistent/bin/ssh"]);
    assert_eq!(severity(&report, "env.openssh"), "fail");
    let out = home
        .cmd(&["--offline", "--json", "--no-bundle"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let report = parse_report(&out);
    assert_eq!(severity(&report, "env.openssh"), "fail");
}

#[test]
fn old_openssh_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let fake = fake_ssh(dir.path(), "echo 'OpenSSH_7.1p2, OpenSSL 1.0.2' >&2\n");
    let home = TestHome::new();
    let (_, report) = home.json(&["--offline", "--ssh", fake.to_str().unwrap()]);
    let f = finding(&report, "env.openssh");
    assert_eq!(f["severity"], "fail", "{f}");
    assert_eq!(f["evidence"]["version"], "7.1", "{f}");
    assert_eq!(
        f["evidence"]["banner"], "OpenSSH_7.1p2, OpenSSL 1.0.2",
        "{f}"
    );
}

#[test]
fn offline_report_on_an_empty_home_snapshot() {
    let home = TestHome::new();
    let (_, report) = home.json(&["--offline", "--no-openssh"]);
    let mut settings = home.snapshot_settings();
    settings.add_filter(r#""started_at": "[^"]*""#, r#""started_at": "[time]""#);
    settings.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": 0"#);
    settings.add_filter(r#""(ms|elapsed_ms)": \d+"#, r#""$1": 0"#);
    // The version, and the commit of a build from a repository.
    settings.add_filter(
        r#"("tool": \{\s*"name": "mlc-doctor",\s*"version": )"[^"]*"(,\s*"commit": "[^"]*")?"#,
        r#"${1}"[version]""#,
    );
    let login = regex::escape(&login());
    settings.add_filter(&format!("`{login}`"), "`[login]`");
    settings.add_filter(&format!(r#""sent": "{login}""#), r#""sent": "[login]""#);
    settings.bind(|| insta::assert_json_snapshot!(machine_masked(&report)));
}

/// The report with the two findings that describe this machine (its OS and OpenSSH)
/// reduced to their id and severity: what they say differs between machines.
fn machine_masked(report: &serde_json::Value) -> serde_json::Value {
    let mut r = report.clone();
    for f in r["findings"].as_array_mut().unwrap() {
        if f["id"] == "env.os" || f["id"] == "env.openssh" {
            f["summary"] = "[machine]".into();
            f["subject"] = "[machine]".into();
            f["evidence"] = serde_json::json!({});
        }
    }
    r
}

#[test]
fn quiet_prints_only_the_diagnosis_and_verbose_adds_evidence() {
    let home = TestHome::new();
    let out = home
        .cmd(&["--offline", "--no-bundle", "-q"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Most likely: "), "{text}");
    assert!(
        !text.contains("Summary:") && !text.contains("[env.os]"),
        "{text}"
    );
    let out = home
        .cmd(&["--offline", "--no-bundle", "-v", "--color", "never"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("evidence: {"));
}

#[test]
fn bash_completion_completes_subcommands_check_ids_and_node_aliases() {
    let out = doctor().args(["completions", "bash"]).output().unwrap();
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(script.path(), &out.stdout).unwrap();
    let complete = |words: &str| {
        let cmd = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _mlc__doctor mlc-doctor \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; echo \"${{COMPREPLY[*]}}\"",
            script.path().display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(complete("mlc-doctor bun"), "bundle");
    assert!(complete("mlc-doctor bundle ''").contains("inspect"));
    assert_eq!(
        complete("mlc-doctor --node ''"),
        "slurm slurm2 slurm-r2 slurm1-r2"
    );
    assert_eq!(complete("mlc-doctor check --node slurm-"), "slurm-r2");
    assert!(complete("mlc-doctor explain key.pa").contains("key.passphrase"));
}

#[test]
fn the_man_page_has_its_sections_and_help_works_as_a_subcommand() {
    let out = doctor().arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&out.stdout);
    for section in [
        ".SH SYNOPSIS",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        "NO_COLOR",
        "SSH_AUTH_SOCK",
    ] {
        assert!(page.contains(section), "{section} missing");
    }
    // No reference to a page that does not exist (one page per subcommand).
    assert!(
        !page.contains("mlc\\-doctor\\-check(1)") && !page.contains("(1)\\fR"),
        "{page}"
    );
    let help = doctor().arg("help").output().unwrap();
    let long = doctor().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert_eq!(help.stdout, long.stdout);
}

#[test]
fn unmask_names_its_map_and_refuses_one_made_for_another_bundle() {
    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  User abc123\n");
    let state = home.path().join("state");
    for name in ["first.zip", "second.zip"] {
        let zip = home.path().join(name);
        let st = home
            .cmd(&["--offline", "--bundle", zip.to_str().unwrap()])
            .env("XDG_STATE_HOME", &state)
            .status()
            .unwrap();
        assert_ne!(st.code(), Some(3));
    }
    let maps: Vec<std::path::PathBuf> = std::fs::read_dir(state.join("mlc-doctor/maps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(maps.len(), 2);
    let first_map = maps
        .iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("first.zip")
        })
        .unwrap();
    let run = |text: &str, map: Option<&std::path::Path>| {
        let mut cmd = doctor();
        cmd.env("HOME", home.path())
            .env("XDG_STATE_HOME", &state)
            .arg("unmask");
        if let Some(m) = map {
            cmd.arg("--map").arg(m);
        }
        with_stdin(&mut cmd, text.as_bytes())
    };
    let out = run("About second.zip: user-1 should check ~/.ssh", None);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("made for second.zip"), "{err}");
    let out = run("About second.zip: user-1", Some(first_map));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was made for first.zip"));
}

#[test]
fn unmask_takes_any_bytes_once_and_bounds_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.json");
    // A raw value that looks like another pseudonym is put back once, not read again.
    std::fs::write(
        &map,
        r#"{"mappings":[{"category":"path","raw":"path-1","pseudonym":"path-2"},{"category":"path","raw":"/srv/x","pseudonym":"path-1"}]}"#,
    )
    .unwrap();
    let run = |input: Vec<u8>| {
        let mut child = doctor()
            .arg("unmask")
            .arg("--map")
            .arg(&map)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().unwrap();
        feeder.join().unwrap();
        out
    };
    let out = run(b"see path-1 and path-2\n".to_vec());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "see /srv/x and path-1\n"
    );
    // Not UTF-8 on a pipe: read as a file would be, with U+FFFD.
    let out = run(b"path-1 \xff\xfe\n".to_vec());
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/srv/x \u{fffd}\u{fffd}\n"
    );
    // Larger than any message from support: refused, with the reason.
    let out = run(vec![b'a'; (16 << 20) + 1]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("larger than 16 MiB"));
}
