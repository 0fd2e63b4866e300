//! Network and handshake against real OpenSSH sshd on 127.0.0.1 and hostile servers
//! written here. Nothing but loopback is ever contacted.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::agent::{fresh_key, Agent};
use crate::common::sshd::{fixture_pub, free_port, Sshd};
use crate::common::*;
use serde_json::Value;

fn login() -> String {
    mlc_doctor::platform::login_name().unwrap()
}

/// A home whose config points `slurm` at the server, with a fixture key.
fn home_for(port: u16, key: &str, known_hosts: &str) -> TestHome {
    let home = TestHome::new();
    home.write(".ssh/config", format!("Host slurm\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n", login()));
    home.key(key, "id_mlcloud");
    home.write(".ssh/known_hosts", known_hosts);
    home
}

fn check(
    home: &TestHome,
    nodes: &[(&str, &str, u16)],
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> (Value, Duration) {
    let profile = loopback_profile(home.path(), nodes, "");
    let mut args = vec![
        "--json",
        "--no-bundle",
        "--profile",
        profile.to_str().unwrap(),
    ];
    if !extra_args.contains(&"--timeout") {
        args.extend(["--timeout", "3"]);
    }
    args.extend_from_slice(extra_args);
    let mut cmd = home.cmd(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (parse_report(&out), started.elapsed())
}

fn node_finding<'a>(r: &'a Value, id: &str) -> &'a Value {
    findings(r, id).into_iter().next().unwrap_or_else(|| {
        panic!(
            "no {id}: {}",
            serde_json::to_string_pretty(&r["findings"]).unwrap()
        )
    })
}

#[test]
fn deployed_key_is_accepted_and_everything_is_recorded() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    for (id, sev) in [
        ("net.dns", "pass"),
        ("net.tcp", "pass"),
        ("ssh.banner", "pass"),
        ("ssh.kex", "pass"),
        ("ssh.host-key", "pass"),
        ("ssh.auth-methods", "info"),
        ("ssh.key-accepted", "pass"),
        ("ssh.transcript", "info"),
    ] {
        assert_eq!(severity(&r, id), sev, "{id}: {}", node_finding(&r, id));
    }
    let node = &r["nodes"][0];
    assert!(node["banner"]
        .as_str()
        .unwrap()
        .starts_with("SSH-2.0-OpenSSH"));
    assert_eq!(node["host_key"]["known_hosts"], "match");
    assert!(node["auth_methods"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "publickey"));
    assert_eq!(node["accepted_keys"].as_array().unwrap().len(), 1);
    assert!(
        node["transcript"]
            .as_str()
            .unwrap()
            .contains("accepts the key"),
        "{}",
        node["transcript"]
    );
    assert_eq!(
        node_finding(&r, "ssh.transcript")["evidence"]["outcome"]["kind"],
        "key-accepted"
    );
    assert_eq!(severity(&r, "ssh.second-factor"), "skip");
}

#[test]
fn key_not_deployed_is_a_failure_with_the_ssh_copy_id_remedy() {
    let sshd = Sshd::start(&[fixture_pub("rsa4096_enc")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    let f = node_finding(&r, "ssh.key-accepted");
    assert_eq!(f["severity"], "fail");
    assert!(
        f["remedy"]["command"]
            .as_str()
            .unwrap()
            .starts_with("ssh-copy-id -i ~/.ssh/id_mlcloud.pub slurm"),
        "{f}"
    );
    assert_eq!(
        node_finding(&r, "ssh.transcript")["evidence"]["outcome"]["kind"],
        "permission-denied"
    );
    assert!(
        sshd.log().contains("Failed publickey") || sshd.log().contains("publickey"),
        "the refusal is in the server log"
    );
}

#[test]
fn changed_host_key_fails_and_no_key_is_offered() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let other = Sshd::start(&[], "");
    let wrong = format!("[127.0.0.1]:{} {}", sshd.port, other.host_key);
    drop(other);
    let home = home_for(
        sshd.port,
        "ed25519_100",
        &format!("# first line\n{wrong}\n"),
    );
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[],
    );
    let f = node_finding(&r, "ssh.host-key");
    assert_eq!(f["severity"], "fail");
    let s = f["summary"].as_str().unwrap();
    assert!(
        s.contains("~/.ssh/known_hosts:2") && s.contains("SHA256:"),
        "{s}"
    );
    assert_eq!(r["nodes"][0]["host_key"]["known_hosts"], "mismatch");
    assert_eq!(severity(&r, "ssh.key-accepted"), "skip");
    std::thread::sleep(Duration::from_millis(200));
    let log = sshd.log();
    assert!(
        !log.contains("publickey for"),
        "a key was offered to a server with a changed host key:\n{log}"
    );
}

#[test]
fn hashed_known_hosts_entries_match() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let st = Command::new("ssh-keygen")
        .arg("-H")
        .arg("-f")
        .arg(home.ssh().join("known_hosts"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(std::fs::read_to_string(home.ssh().join("known_hosts"))
        .unwrap()
        .starts_with("|1|"));
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[],
    );
    assert_eq!(
        severity(&r, "ssh.host-key"),
        "pass",
        "{}",
        node_finding(&r, "ssh.host-key")
    );
}

#[test]
fn unknown_host_key_is_information_and_pins_are_enforced() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", "");
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[],
    );
    assert_eq!(severity(&r, "ssh.host-key"), "info");
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass");
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("known_hosts")).unwrap(),
        "",
        "known_hosts must not change"
    );

    let profile = home.path().join("pinned.toml");
    let text = std::fs::read_to_string(loopback_profile(
        home.path(),
        &[("slurm", "127.0.0.1", sshd.port)],
        "",
    ))
    .unwrap();
    std::fs::write(
        &profile,
        format!("{text}host_keys = [\"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"]\n"),
    )
    .unwrap();
    let out = home
        .cmd(&[
            "--json",
            "--no-bundle",
            "--no-openssh",
            "--profile",
            profile.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r = parse_report(&out);
    assert_eq!(severity(&r, "ssh.host-key"), "fail");
    assert_eq!(r["nodes"][0]["host_key"]["known_hosts"], "pin-mismatch");
    assert_eq!(severity(&r, "ssh.key-accepted"), "skip");
}

#[test]
fn rsa_keys_are_tested_with_rsa_sha2() {
    let sshd = Sshd::start(&[fixture_pub("rsa4096_enc")], "");
    let home = home_for(sshd.port, "rsa4096_enc", &sshd.known_hosts_line());
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    assert_eq!(
        severity(&r, "ssh.key-accepted"),
        "pass",
        "{}",
        node_finding(&r, "ssh.key-accepted")
    );
    assert_eq!(
        node_finding(&r, "ssh.transcript")["evidence"]["outcome"]["kind"],
        "key-accepted"
    );
}

#[test]
fn seven_agent_keys_without_identities_only_still_find_the_deployed_one() {
    let keys = tempfile::tempdir().unwrap();
    let agent = Agent::start();
    let mut deployed = String::new();
    for i in 0..7 {
        let p = fresh_key(keys.path(), &format!("k{i}"));
        agent.add(&p);
        if i == 6 {
            deployed = std::fs::read_to_string(p.with_extension("pub"))
                .unwrap()
                .trim()
                .to_string();
        }
    }
    let sshd = Sshd::start(&[deployed], "");
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        format!(
            "Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {}\n",
            sshd.port,
            login()
        ),
    );
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    assert_eq!(severity(&r, "key.agent"), "warn");
    let f = node_finding(&r, "ssh.key-accepted");
    assert_eq!(f["severity"], "pass", "{f}");
    assert_eq!(f["evidence"]["refused"].as_array().unwrap().len(), 6);
}

#[test]
fn second_factor_is_seen_through_the_agent() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n");
    let home = home_for(sshd.port, "ed25519_plain", &sshd.known_hosts_line());
    let agent = Agent::start();
    agent.add(&home.ssh().join("id_mlcloud"));
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &[],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let f = node_finding(&r, "ssh.second-factor");
    assert_eq!(f["severity"], "info", "{f}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("keyboard-interactive"),
        "{f}"
    );
    assert_eq!(r["nodes"][0]["second_factor"], "keyboard-interactive");
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass");
}

#[test]
fn closed_port_is_refused_and_later_steps_skip() {
    let port = free_port();
    let home = home_for(port, "ed25519_100", "");
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", port)], &[], &[]);
    let f = node_finding(&r, "net.tcp");
    assert_eq!(f["severity"], "fail");
    assert!(f["summary"].as_str().unwrap().contains("refused"));
    assert_eq!(r["nodes"][0]["tcp"][0]["outcome"], "refused");
    for id in ["ssh.banner", "ssh.transcript"] {
        assert_eq!(severity(&r, id), "skip", "{id}");
    }
}

/// A server that accepts connections and then does `behave` with each one, for at most 30 s.
fn hostile(behave: fn(std::net::TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let started = Instant::now();
        for s in l.incoming().flatten() {
            std::thread::spawn(move || behave(s));
            if started.elapsed() > Duration::from_secs(30) {
                break;
            }
        }
    });
    port
}

fn silent(s: std::net::TcpStream) {
    std::thread::sleep(Duration::from_secs(20));
    drop(s);
}

fn http(mut s: std::net::TcpStream) {
    let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n");
    std::thread::sleep(Duration::from_millis(500));
}

fn garbage(mut s: std::net::TcpStream) {
    let _ = s.write_all(&[0u8, 159, 146, 150, 1, 2, 3, 255, b'\n']);
    std::thread::sleep(Duration::from_millis(500));
}

fn endless_banner(mut s: std::net::TcpStream) {
    for _ in 0..100_000 {
        if s.write_all(b"a pre-banner line that never ends the banner\r\n")
            .is_err()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn slow_drip(mut s: std::net::TcpStream) {
    for b in b"SSH-2.0-OpenSSH_9.9 drip\r\n" {
        if s.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(400));
    }
}

fn banner_then_stall(mut s: std::net::TcpStream) {
    let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 stall\r\n");
    let mut buf = [0u8; 4096];
    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
    let _ = s.read(&mut buf);
    std::thread::sleep(Duration::from_secs(20));
}

#[test]
fn hostile_servers_end_within_the_timeout_with_the_right_finding() {
    type Case = (
        fn(std::net::TcpStream),
        &'static str,
        &'static str,
        &'static str,
    );
    let cases: [Case; 6] = [
        (silent, "ssh.banner", "fail", "stayed silent"),
        (http, "ssh.banner", "fail", "HTTP"),
        (garbage, "ssh.banner", "fail", "not an SSH server"),
        (endless_banner, "ssh.banner", "fail", ""),
        (slow_drip, "ssh.banner", "", ""),
        (banner_then_stall, "ssh.kex", "fail", "did not finish"),
    ];
    for (behave, id, sev, words) in cases {
        let port = hostile(behave);
        let home = home_for(port, "ed25519_100", "");
        let (r, took) = check(
            &home,
            &[("slurm", "127.0.0.1", port)],
            &["--timeout", "2", "--deadline", "15"],
            &[],
        );
        assert!(
            took < Duration::from_secs(12),
            "{id} {words}: took {took:?}"
        );
        let f = node_finding(&r, id);
        if !sev.is_empty() {
            assert_eq!(f["severity"], sev, "{f}");
        }
        assert!(f["summary"].as_str().unwrap().contains(words), "{f}");
        assert!(findings(&r, "ssh.key-accepted")
            .iter()
            .all(|f| f["severity"] != "pass"));
    }
}

#[test]
fn four_silent_nodes_cost_one_timeout_not_four() {
    let ports: Vec<u16> = (0..4).map(|_| hostile(silent)).collect();
    let home = home_for(ports[0], "ed25519_100", "");
    let nodes: Vec<(&str, &str, u16)> = vec![
        ("slurm", "127.0.0.1", ports[0]),
        ("slurm2", "127.0.0.1", ports[1]),
        ("slurm-r2", "127.0.0.1", ports[2]),
        ("slurm1-r2", "127.0.0.1", ports[3]),
    ];
    let (r, took) = check(&home, &nodes, &["--timeout", "2", "--no-openssh"], &[]);
    assert_eq!(r["nodes"].as_array().unwrap().len(), 4);
    assert_eq!(
        findings(&r, "ssh.banner")
            .iter()
            .filter(|f| f["severity"] == "fail")
            .count(),
        4
    );
    assert!(
        took < Duration::from_secs(6),
        "4 silent nodes took {took:?}: the nodes are not probed concurrently"
    );
}

#[test]
fn the_deadline_cuts_the_run_short_and_says_so() {
    let port = hostile(silent);
    let home = home_for(port, "ed25519_100", "");
    let (r, took) = check(
        &home,
        &[("slurm", "127.0.0.1", port)],
        &["--timeout", "20", "--deadline", "2"],
        &[],
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let skipped: Vec<&Value> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["summary"].as_str().unwrap_or("").contains("deadline"))
        .collect();
    assert!(
        !skipped.is_empty(),
        "{}",
        serde_json::to_string_pretty(&r["findings"]).unwrap()
    );
}

#[test]
fn dns_failures_come_from_the_resolver_with_words() {
    // A fake resolver through the library API: no name is ever sent to a real DNS server.
    use mlc_doctor::context::{BoxFuture, Context, Resolver};
    struct NoSuchName;
    impl Resolver for NoSuchName {
        fn resolve<'a>(
            &'a self,
            _host: &'a str,
            _port: u16,
        ) -> BoxFuture<'a, Result<Vec<std::net::SocketAddr>, String>> {
            Box::pin(async {
                Err(mlc_doctor::context::resolver_words(
                    "failed to lookup address information: Name or service not known",
                ))
            })
        }
    }
    let home = TestHome::new();
    let mut ctx = Context::for_home(home.path(), mlc_doctor::profile::Profile::embedded());
    ctx.offline = false;
    ctx.nodes = vec!["slurm".into()];
    ctx.resolver = std::sync::Arc::new(NoSuchName);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = rt.block_on(mlc_doctor::runner::run(std::sync::Arc::new(ctx), None));
    let dns = state.findings.iter().find(|f| f.id == "net.dns").unwrap();
    assert_eq!(dns.severity, mlc_doctor::finding::Severity::Fail);
    assert!(dns.summary.contains("no such name"), "{}", dns.summary);
    let tcp = state.findings.iter().find(|f| f.id == "net.tcp").unwrap();
    assert_eq!(tcp.severity, mlc_doctor::finding::Severity::Skip);
    assert!(tcp.summary.contains("does not resolve"));
}

#[test]
fn proxies_are_reported_and_never_authenticated_through() {
    // ProxyJump: DNS and TCP go to the first hop; no handshake through it.
    let jump = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::new();
    home.key("ed25519_100", "id_mlcloud");
    home.write(".ssh/config", format!("Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentityFile ~/.ssh/id_mlcloud\n  ProxyJump jumper@127.0.0.1:{}\n", jump.port));
    let (r, _) = check(
        &home,
        &[("slurm", "galvani-login.mlcloud.uni-tuebingen.de", 22)],
        &[],
        &[],
    );
    assert_eq!(severity(&r, "net.tcp"), "pass");
    assert!(node_finding(&r, "net.tcp")["summary"]
        .as_str()
        .unwrap()
        .contains(&format!("127.0.0.1:{}", jump.port)));
    assert_eq!(severity(&r, "ssh.banner"), "skip");
    assert!(node_finding(&r, "ssh.banner")["summary"]
        .as_str()
        .unwrap()
        .contains("ProxyJump"));
    assert!(r["nodes"][0]["proxy"]
        .as_str()
        .unwrap()
        .starts_with("ProxyJump"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !jump.log().contains("publickey for"),
        "a key was offered to the jump host"
    );

    // ProxyCommand: never run, nothing probed.
    let marker = home.path().join("proxy-ran");
    home.write(".ssh/config", format!("Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  ProxyCommand touch {}\n", marker.display()));
    let (r, _) = check(
        &home,
        &[("slurm", "galvani-login.mlcloud.uni-tuebingen.de", 22)],
        &[],
        &[],
    );
    assert_eq!(severity(&r, "net.dns"), "skip");
    assert!(node_finding(&r, "net.dns")["summary"]
        .as_str()
        .unwrap()
        .contains("ProxyCommand"));
    assert!(!marker.exists(), "the ProxyCommand was run");
}

#[test]
fn match_exec_is_never_run_by_the_transcript_either() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let marker = home.path().join("exec-ran");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    home.write(
        ".ssh/config",
        format!(
            "{config}Match exec \"touch {}\"\n  BatchMode yes\n",
            marker.display()
        ),
    );
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    assert!(!marker.exists(), "a Match exec command was run");
    assert_eq!(severity(&r, "config.openssh-agrees"), "skip");
    assert_eq!(
        node_finding(&r, "ssh.transcript")["evidence"]["outcome"]["kind"],
        "key-accepted"
    );
}

#[test]
fn no_common_algorithm_and_no_publickey_are_reported() {
    let sshd = Sshd::start(
        &[fixture_pub("ed25519_100")],
        "KexAlgorithms diffie-hellman-group1-sha1\n",
    );
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[],
    );
    let f = node_finding(&r, "ssh.kex");
    assert_eq!(f["severity"], "fail", "{f}");
    assert!(
        f["evidence"]["theirs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "diffie-hellman-group1-sha1"),
        "{f}"
    );
    assert_eq!(severity(&r, "ssh.banner"), "pass");

    // sshd with public keys off (and passwords off, as the harness sets first) offers nothing.
    let sshd = Sshd::start(&[], "PubkeyAuthentication no\n");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[],
    );
    let f = node_finding(&r, "ssh.auth-methods");
    assert_eq!(f["severity"], "warn", "{f}");
    assert!(r["nodes"][0]["auth_methods"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m != "publickey"));
}

#[test]
fn a_config_linked_to_a_device_never_reaches_ssh() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    std::fs::remove_file(home.ssh().join("config")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", home.ssh().join("config")).unwrap();
    let (r, took) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert_eq!(severity(&r, "config.present"), "fail");
    // ssh ran with no config file instead of reading the device, and finished.
    let f = node_finding(&r, "ssh.transcript");
    assert_eq!(f["severity"], "info", "{f}");
    assert!(f["evidence"]["exit_status"].is_number(), "{f}");
}
