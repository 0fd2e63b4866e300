//! Redaction by allowlist: a realistic config with secrets planted in every risky
//! keyword yields a bundle that contains none of them, in any case or encoding, in any
//! file or file name, and still shows support the evidence it needs.
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;

/// (keyword or place, canary)
const CANARIES: &[(&str, &str)] = &[
    ("ProxyCommand token", "ProxyTokenCanary9981"),
    ("ProxyCommand host", "gw.canary-corp.example.net"),
    ("RemoteCommand", "RemoteCmdCanary"),
    ("LocalForward target", "db.canary-internal.example.net"),
    ("RemoteForward target", "canaryremotehost"),
    ("IdentityAgent", "/opt/canary-agent-dir/agent.sock"),
    ("CertificateFile", "/srv/canarycerts/user-cert.pub"),
    ("ControlPath", "/var/run/canary-control"),
    ("UserKnownHostsFile", "/srv/canary-kh/known_hosts"),
    ("LocalCommand", "LocalCmdCanary"),
    ("KnownHostsCommand", "/usr/local/bin/canary-khcmd"),
    ("PKCS11Provider", "/usr/lib/canary-pkcs11.so"),
    ("BindAddress", "100.99.88.77"),
    ("HostName", "bastion.canary-corp.example.net"),
    ("bastion User", "canaryjumpuser"),
    ("SetEnv", "SetEnvCanary7781"),
    ("Match user", "canarymatchuser"),
    ("IPv6 HostName", "fd42:cafe:beef::77"),
    ("Match host", "canarymatchhost"),
    ("Match host wildcard", "wildcanary.example.org"),
    ("known_hosts wildcard", "khwildcanary.example.org"),
];

fn config(port: u16, with_commands: bool) -> String {
    let mut c = loopback_host(
        port,
        "  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n  SetEnv LAB_TOKEN=SetEnvCanary7781\n  SendEnv LANG\n\nMatch user canarymatchuser\n  ForwardAgent no\n\nMatch host canarymatchhost\n  Compression yes\n\nMatch host ci.example.org,*.wildcanary.example.org\n  Compression yes\n\nHost v6\n  HostName fd42:cafe:beef::77\n\nHost bastion\n  HostName bastion.canary-corp.example.net\n  User canaryjumpuser\n  LocalForward 5432 db.canary-internal.example.net:5432\n  RemoteForward 9000 canaryremotehost:22\n  IdentityAgent /opt/canary-agent-dir/agent.sock\n  CertificateFile /srv/canarycerts/user-cert.pub\n  ControlPath /var/run/canary-control/%C\n  UserKnownHostsFile /srv/canary-kh/known_hosts\n  BindAddress 100.99.88.77\n",
    );
    // Without commands the config is trusted: OpenSSH reads it (a copy), and its
    // `checking match for 'user …'` lines reach the transcript.
    if with_commands {
        c.push_str("  ProxyCommand ssh -W %h:%p gw.canary-corp.example.net --token=ProxyTokenCanary9981\n  RemoteCommand tmux attach -t RemoteCmdCanary\n  PermitLocalCommand yes\n  LocalCommand echo LocalCmdCanary\n  KnownHostsCommand /usr/local/bin/canary-khcmd\n  PKCS11Provider /usr/lib/canary-pkcs11.so\n");
    }
    c
}

fn bundle_for(with_commands: bool) -> (Vec<(String, String)>, tempfile::TempDir, u16) {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::with_config(config(sshd.port, with_commands));
    home.key("ed25519_100", "id_ed25519");
    // The login node's line also names a wildcard pattern of another domain.
    let line = sshd
        .known_hosts_line()
        .replacen(' ', ",*.khwildcanary.example.org ", 1);
    home.write(".ssh/known_hosts", line);
    let profile = sshd.profile(&home, "");
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("b.zip");
    let o = home
        .cmd(&[
            "--json",
            "--profile",
            profile.to_str().unwrap(),
            "--timeout",
            "3",
            "--bundle",
            zip.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        zip.exists(),
        "no bundle: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (read_zip_text(&zip), out, sshd.port)
}

#[test]
fn no_planted_secret_reaches_the_bundle_and_the_evidence_stays() {
    for with_commands in [true, false] {
        let (files, _keep, port) = bundle_for(with_commands);
        for (what, canary) in CANARIES {
            assert_absent(
                &files,
                canary,
                &format!("{what} (commands: {with_commands})"),
            );
        }
        let get = |n: &str| zip_entry(&files, n);
        // What support needs is still there.
        let eff = get("ssh/effective/slurm.txt");
        let login = login();
        for needle in [
            "hostname 127.0.0.1".to_string(),
            format!("port {port}"),
            format!("user {login}"),
            "identitiesonly yes".into(),
            "identityfile ~/.ssh/id_ed25519".into(),
        ] {
            assert!(eff.contains(&needle), "{needle} missing from:\n{eff}");
        }
        let t = get("nodes/slurm/ssh-vvv.txt");
        for needle in [
            "kex: algorithm:",
            "Server host key:",
            "Authentications that can continue",
            "Server accepts key",
        ] {
            assert!(
                t.contains(needle),
                "{needle} missing from the transcript:\n{t}"
            );
        }
        let keys = get("ssh/keys.json");
        assert!(keys.contains("SHA256:"), "{keys}");
        let config = get("ssh/config.txt");
        if with_commands {
            assert!(config.contains("<command "), "{config}");
        }
        if !with_commands {
            // OpenSSH read the config: its match lines name a pseudonym, not the user.
            assert!(t.contains("checking match for"), "{t}");
        }
        // The allowlist never rewrites the tool's own words: every id is still an id.
        let report: serde_json::Value = serde_json::from_str(&get("report.json")).unwrap();
        for f in report["findings"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            assert!(
                mlc_doctor::catalogue::lookup(id).is_some(),
                "{id} in report.json"
            );
        }
        let readme = get("README.txt");
        assert!(readme.contains("only values known to be safe are kept"));
    }
}

#[test]
fn the_shipped_config_listing_is_reviewed_in_snapshots() {
    let (files, _keep, port) = bundle_for(true);
    let config = zip_entry(&files, "ssh/config.txt")
        .lines()
        .take_while(|l| !l.starts_with("==> /etc"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex::escape(&port.to_string()), "[port]");
    settings.add_filter(&format!("User {}", regex::escape(&login())), "User [login]");
    settings.bind(|| insta::assert_snapshot!("shipped_config", config));
}

#[test]
fn a_value_with_a_control_character_is_redacted_in_its_escaped_form() {
    // The bundle holds escaped text (`\x07`): the redactor must find the value there.
    let home = TestHome::with_config(
        "Host ctl\n  HostName 127.0.0.2\n  User zedcanary\u{7}\n\nHost zedcanary\u{1b}[5m\n  Port 2222\n",
    );
    home.key("ed25519_100", "id_ed25519");
    let files = offline_bundle(&home);
    assert_absent(&files, "zedcanary", "a value with a control character");
    // The lines are still there for support, renamed.
    let config = zip_entry(&files, "ssh/config.txt");
    assert!(config.contains("  User other-user-"), "{config}");
}

#[test]
fn a_path_under_the_home_is_named_as_it_is_with_a_tilde_and_json_strings_keep_their_lines() {
    let home = TestHome::new();
    let h = home.path().display().to_string();
    home.write(
        ".ssh/config",
        format!("Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n  IdentityFile {h}/.ssh/id_ed25519\n  IdentityFile {h}/.ssh/zedwork_key\n\nHost other\n  IdentityFile ~/.ssh/zedwork_key\n"),
    );
    home.key("ed25519_100", "id_ed25519");
    let files = offline_bundle(&home);
    assert_absent(&files, "zedwork", "an unconventional key name");
    assert_absent(&files, &h, "the home path");
    let config = zip_entry(&files, "ssh/config.txt");
    // The conventional key keeps its name; the other one has one name, however written.
    assert!(
        config.contains("IdentityFile ~/.ssh/id_ed25519"),
        "{config}"
    );
    let named: Vec<&str> = config
        .lines()
        .filter(|l| l.contains("IdentityFile ~/.ssh/file-"))
        .map(|l| l.trim_start_matches(|c: char| !c.is_alphabetic()))
        .collect();
    assert_eq!(named.len(), 2, "{config}");
    assert!(
        named
            .windows(2)
            .all(|w| w[0].ends_with(w[1].rsplit(' ').next().unwrap())),
        "{named:?}"
    );
    // A multi-line command in report.json is JSON with line breaks, not `\x0a`.
    let raw = zip_entry(&files, "report.json");
    assert!(!raw.contains(r"\\x0a"), "{raw}");
    let report: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let block = report["diagnosis"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["steps"].as_array().unwrap())
        .filter_map(|s| s["command"].as_str())
        .find(|c| c.starts_with("Host slurm2\n"))
        .expect("the block for slurm2 as a command");
    assert!(
        block.contains("\n  IdentityFile ~/.ssh/id_ed25519\n"),
        "{block}"
    );
}

#[test]
fn values_written_with_backslash_escapes_are_redacted_as_written() {
    let home = TestHome::with_config(concat!(
        "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n",
        "  IdentityFile ~/.ssh/id_ed25519\n  SetEnv DB_PASSWORD=\"Zedhunter2\\\"Secret\"\n",
        "  SetEnv P4=zedhunter\\ 55w P5=zedabc\\\\defgh\n",
        "Host box\n  User zedjane\\ doe\n  IdentityFile /srv/Zedjane\\ Private/keys/id_work\n",
        "  UserKnownHostsFile ~/zedprojects\\ acme/known_hosts\n",
    ));
    home.key("ed25519_100", "id_ed25519");
    let files = offline_bundle(&home);
    for canary in [
        "Zedhunter2",
        "zedhunter",
        "zedabc",
        "zedjane",
        "Private/keys",
        "zedprojects",
        "acme",
    ] {
        assert_absent(&files, canary, "a value written with a backslash escape");
    }
    let config = zip_entry(&files, "ssh/config.txt");
    assert!(
        config.contains("SetEnv \"DB_PASSWORD=env-value-"),
        "{config}"
    );
    assert!(config.contains("User \"other-user-"), "{config}");
}

#[test]
fn values_quoted_inside_a_word_are_redacted_as_openssh_reads_them() {
    let home = TestHome::with_config(concat!(
        "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n",
        "Host box\n  User zed\"jane doe\"x\n  IdentityFile ~/\"Zedjane Zedpriv\"/keys/id_work\n",
    ));
    home.key("ed25519_100", "id_ed25519");
    let files = offline_bundle(&home);
    for canary in ["Zedjane", "jane doe", "Zedpriv"] {
        assert_absent(&files, canary, "a value quoted inside a word");
    }
    let config = zip_entry(&files, "ssh/config.txt");
    assert!(config.contains("  User \"other-user-"), "{config}");
}

/// The files of the bundle an `--offline` run writes for `home`, as text.
fn offline_bundle(home: &TestHome) -> Vec<(String, String)> {
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("b.zip");
    let o = home
        .cmd(&["--offline", "--bundle", zip.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(zip.exists(), "{}", String::from_utf8_lossy(&o.stderr));
    read_zip_text(&zip)
}
