//! Network and handshake against real OpenSSH sshd on 127.0.0.1 and hostile servers
//! written here. Nothing but loopback is ever contacted.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::agent::Agent;
use crate::common::sshd::{fixture_pub, free_port, Sshd};
use crate::common::*;

/// A home whose config points `slurm` at 127.0.0.1:`port`, with a fixture key as
/// `~/.ssh/id_mlcloud` and nothing else.
fn home_for(port: u16, key: &str, known_hosts: &str) -> TestHome {
    let home = TestHome::with_config(loopback_host(port, KEY_ONLY));
    home.key(key, "id_mlcloud");
    home.write(".ssh/known_hosts", known_hosts);
    home
}

/// `check --json` against loopback `nodes` (a profile of them), `--timeout 3` unless
/// `extra_args` set one: the report and how long the run took.
fn check(
    home: &TestHome,
    nodes: &[(&str, &str, u16)],
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> (Value, Duration) {
    let profile = loopback_profile(home.path(), nodes, "");
    let mut args = vec!["--profile", profile.to_str().unwrap()];
    if !extra_args.contains(&"--timeout") {
        args.extend(["--timeout", "3"]);
    }
    args.extend_from_slice(extra_args);
    let started = Instant::now();
    let (_, report) = home.json_env(&args, env);
    (report, started.elapsed())
}

/// Where a live case looks: a finding (the first with the id) or the node, at a JSON
/// pointer into it.
#[derive(Debug)]
enum At {
    Finding(&'static str, &'static str),
    Node(&'static str),
}

/// What the value there must be.
#[derive(Debug)]
enum Is {
    Eq(Value),
    /// A string that starts with this.
    Starts(&'static str),

    /// An array that holds this value.
    Has(Value),
    /// An array that does not hold this value.
    Lacks(Value),
    Len(usize),
    /// A string that is not empty.
    Text,
    /// Not there at all.
    Absent,
}

fn sev(id: &'static str, severity: &str) -> (At, Is) {
    (At::Finding(id, "/severity"), Is::Eq(json!(severity)))
}

fn fact(id: &'static str, pointer: &'static str, is: Is) -> (At, Is) {
    (At::Finding(id, pointer), is)
}

fn node(pointer: &'static str, is: Is) -> (At, Is) {
    (At::Node(pointer), is)
}

/// What known_hosts holds for the server of a live case.
#[derive(Debug, Clone, Copy)]
enum KnownHosts {
    /// The server's own line.
    Server,
    /// The server's line, hashed by `ssh-keygen -H`.
    Hashed,
    Empty,
    /// A comment, then another key for the server's `[127.0.0.1]:port` (line 2).
    Changed,
}

/// A config and key variant run against a loopback sshd, and what the report says.
struct LiveCase {
    name: &'static str,
    /// Fixture keys the server accepts.
    deployed: &'static [&'static str],
    /// Added to the server's sshd_config.
    sshd: &'static str,
    /// The fixture the home uses as `~/.ssh/id_mlcloud` (with IdentitiesOnly).
    key: &'static str,
    known_hosts: KnownHosts,
    /// Added to the profile's only node (a host key pin).
    node_profile: &'static str,
    args: &'static [&'static str],
    expect: Vec<(At, Is)>,
    /// sshd's log must (true) or must not (false) hold this.
    log: Option<(bool, &'static str)>,
}

/// The fingerprint of a fixture public key.
fn fixture_fingerprint(name: &str) -> String {
    let line = fixture_pub(name);
    mlc_doctor::keyfile::sniff(line.as_bytes())
        .fingerprint
        .unwrap()
}

fn live_cases() -> Vec<LiveCase> {
    let plain = LiveCase {
        name: "",
        deployed: &["ed25519_100"],
        sshd: "",
        key: "ed25519_100",
        known_hosts: KnownHosts::Server,
        node_profile: "",
        args: &[],
        expect: vec![],
        log: None,
    };
    vec![
        LiveCase {
            name: "a deployed key is accepted and everything is recorded",
            expect: vec![
                sev("net.dns", "pass"),
                sev("net.tcp", "pass"),
                sev("ssh.banner", "pass"),
                sev("ssh.kex", "pass"),
                sev("ssh.host-key", "pass"),
                sev("ssh.auth-methods", "info"),
                sev("ssh.key-accepted", "pass"),
                sev("ssh.transcript", "info"),
                sev("ssh.second-factor", "skip"),
                fact(
                    "ssh.transcript",
                    "/evidence/outcome/kind",
                    Is::Eq(json!("key-accepted")),
                ),
                node("/banner", Is::Starts("SSH-2.0-OpenSSH")),
                node("/host_key/known_hosts", Is::Eq(json!("match"))),
                node("/auth_methods", Is::Has(json!("publickey"))),
                node("/accepted_keys", Is::Len(1)),
            ],
            ..plain
        },
        LiveCase {
            name: "a key the server does not have fails with the ssh-copy-id remedy",
            deployed: &["rsa4096_enc"],
            expect: vec![
                sev("ssh.key-accepted", "fail"),
                fact(
                    "ssh.key-accepted",
                    "/remedy/command",
                    Is::Starts("ssh-copy-id -i ~/.ssh/id_mlcloud.pub slurm"),
                ),
                fact(
                    "ssh.transcript",
                    "/evidence/outcome/kind",
                    Is::Eq(json!("permission-denied")),
                ),
            ],
            // The refusal is in the server's log.
            log: Some((true, "publickey")),
            ..plain
        },
        LiveCase {
            name: "an RSA key is tested with rsa-sha2",
            deployed: &["rsa4096_enc"],
            key: "rsa4096_enc",
            expect: vec![
                sev("ssh.key-accepted", "pass"),
                fact(
                    "ssh.transcript",
                    "/evidence/outcome/kind",
                    Is::Eq(json!("key-accepted")),
                ),
            ],
            ..plain
        },
        LiveCase {
            name: "a changed host key fails and no key is offered",
            known_hosts: KnownHosts::Changed,
            args: &["--no-openssh"],
            expect: vec![
                sev("ssh.host-key", "fail"),
                fact("ssh.host-key", "/evidence/line", Is::Eq(json!(2))),
                fact(
                    "ssh.host-key",
                    "/evidence/expected",
                    Is::Eq(json!(fixture_fingerprint("ed25519_16"))),
                ),
                node("/host_key/known_hosts", Is::Eq(json!("mismatch"))),
                node("/host_key/location", Is::Eq(json!("~/.ssh/known_hosts:2"))),
                sev("ssh.key-accepted", "skip"),
            ],
            log: Some((false, "publickey for")),
            ..plain
        },
        LiveCase {
            name: "hashed known_hosts entries match",
            known_hosts: KnownHosts::Hashed,
            args: &["--no-openssh"],
            expect: vec![sev("ssh.host-key", "pass")],
            ..plain
        },
        LiveCase {
            name: "an unknown host key is information",
            known_hosts: KnownHosts::Empty,
            args: &["--no-openssh"],
            expect: vec![sev("ssh.host-key", "info"), sev("ssh.key-accepted", "pass")],
            ..plain
        },
        LiveCase {
            name: "a host key pin is enforced",
            known_hosts: KnownHosts::Empty,
            node_profile: "host_keys = [\"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"]\n",
            args: &["--no-openssh"],
            expect: vec![
                sev("ssh.host-key", "fail"),
                node("/host_key/known_hosts", Is::Eq(json!("pin-mismatch"))),
                sev("ssh.key-accepted", "skip"),
            ],
            ..plain
        },
        LiveCase {
            name: "no key exchange algorithm in common",
            sshd: "KexAlgorithms diffie-hellman-group1-sha1\n",
            args: &["--no-openssh"],
            expect: vec![
                sev("ssh.kex", "fail"),
                fact(
                    "ssh.kex",
                    "/evidence/theirs",
                    Is::Has(json!("diffie-hellman-group1-sha1")),
                ),
                sev("ssh.banner", "pass"),
            ],
            ..plain
        },
        LiveCase {
            // Passwords are off too (the harness sets that first): nothing is offered.
            name: "a server without public key authentication",
            deployed: &[],
            sshd: "PubkeyAuthentication no\n",
            args: &["--no-openssh"],
            expect: vec![
                sev("ssh.auth-methods", "warn"),
                node("/auth_methods", Is::Lacks(json!("publickey"))),
            ],
            ..plain
        },
    ]
}

/// Whether `is` holds for `value`.
fn holds(is: &Is, value: Option<&Value>) -> bool {
    match (is, value) {
        (Is::Absent, v) => v.is_none(),
        (Is::Eq(want), Some(v)) => v == want,
        (Is::Starts(prefix), Some(v)) => v.as_str().is_some_and(|s| s.starts_with(prefix)),

        (Is::Has(item), Some(v)) => v.as_array().is_some_and(|a| a.contains(item)),
        (Is::Lacks(item), Some(v)) => v.as_array().is_some_and(|a| !a.contains(item)),
        (Is::Len(n), Some(v)) => v.as_array().is_some_and(|a| a.len() == *n),
        (Is::Text, Some(v)) => v.as_str().is_some_and(|s| !s.is_empty()),
        (_, None) => false,
    }
}

/// Panics, naming the case, unless every expectation holds in the report.
fn assert_expected(name: &str, r: &Value, expect: &[(At, Is)]) {
    for (at, is) in expect {
        let (value, context) = match at {
            At::Finding(id, pointer) => {
                let Some(f) = findings(r, id).into_iter().next() else {
                    panic!("{name}: no {id} finding in {:#}", r["findings"]);
                };
                (f.pointer(pointer), f)
            }
            At::Node(pointer) => (r["nodes"][0].pointer(pointer), &r["nodes"][0]),
        };
        assert!(
            holds(is, value),
            "{name}: {at:?} should be {is:?}, is {value:?} in {context:#}"
        );
    }
}

#[test]
fn live_cases_against_a_loopback_sshd() {
    let cases = live_cases();
    assert!(cases.iter().all(|c| !c.expect.is_empty()));
    for case in &cases {
        let name = case.name;
        let deployed: Vec<String> = case.deployed.iter().map(|k| fixture_pub(k)).collect();
        let sshd = Sshd::start(&deployed, case.sshd);
        let home = home_for(sshd.port, case.key, "");
        match case.known_hosts {
            KnownHosts::Server => {
                home.write(".ssh/known_hosts", sshd.known_hosts_line());
            }
            KnownHosts::Hashed => {
                home.write(".ssh/known_hosts", sshd.known_hosts_line());
                let st = Command::new("ssh-keygen")
                    .arg("-H")
                    .arg("-f")
                    .arg(home.ssh().join("known_hosts"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap();
                assert!(st.success(), "{name}: ssh-keygen -H");
                let hashed = std::fs::read_to_string(home.ssh().join("known_hosts")).unwrap();
                assert!(hashed.starts_with("|1|"), "{name}: {hashed}");
            }
            KnownHosts::Empty => {
                home.write(".ssh/known_hosts", "");
            }
            KnownHosts::Changed => {
                let other = fixture_pub("ed25519_16");
                let other: Vec<&str> = other.split_whitespace().take(2).collect();
                home.write(
                    ".ssh/known_hosts",
                    format!(
                        "# first line\n[127.0.0.1]:{} {}\n",
                        sshd.port,
                        other.join(" ")
                    ),
                );
            }
        }
        let known_hosts = std::fs::read(home.ssh().join("known_hosts")).unwrap();
        let profile = sshd.profile(&home, "");
        if !case.node_profile.is_empty() {
            let text = std::fs::read_to_string(&profile).unwrap();
            std::fs::write(&profile, format!("{text}{}", case.node_profile)).unwrap();
        }
        let mut args = vec!["--profile", profile.to_str().unwrap(), "--timeout", "3"];
        args.extend_from_slice(case.args);
        let (_, r) = home.json(&args);
        assert_expected(name, &r, &case.expect);
        assert_eq!(
            std::fs::read(home.ssh().join("known_hosts")).unwrap(),
            known_hosts,
            "{name}: known_hosts must not change"
        );
        if let Some((present, text)) = case.log {
            let log = sshd.log_since(0);
            assert_eq!(
                log.contains(text),
                present,
                "{name}: {text:?} {} the server log:\n{log}",
                if present { "missing from" } else { "in" }
            );
        }
    }
}

#[test]
fn seven_agent_keys_without_identities_only_still_find_the_deployed_one() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, deployed) = Agent::with_fresh_keys(keys.path(), 7);
    let sshd = Sshd::start(&[deployed], "");
    let home = sshd.home(None);
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    assert_eq!(severity(&r, "key.agent"), "warn");
    let f = finding(&r, "ssh.key-accepted");
    assert_eq!(f["severity"], "pass", "{f}");
    assert_eq!(f["evidence"]["refused"].as_array().unwrap().len(), 6);
}

#[test]
fn second_factor_is_seen_through_the_agent() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n");
    let home = sshd.home(Some("ed25519_plain"));
    let agent = Agent::start();
    agent.add(&home.ssh().join("id_mlcloud"));
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &[],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let f = finding(&r, "ssh.second-factor");
    assert_eq!(f["severity"], "info", "{f}");
    assert_eq!(f["evidence"]["status"], "keyboard-interactive", "{f}");
    assert_eq!(r["nodes"][0]["second_factor"], "keyboard-interactive");
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass");
}

#[test]
fn closed_port_is_refused_and_later_steps_skip() {
    let port = free_port();
    let home = home_for(port, "ed25519_100", "");
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", port)], &[], &[]);
    let f = finding(&r, "net.tcp");
    assert_eq!(f["severity"], "fail", "{f}");
    assert_eq!(f["evidence"]["port"], port, "{f}");
    assert_eq!(f["evidence"]["attempts"][0]["outcome"], "refused", "{f}");
    assert_eq!(r["nodes"][0]["tcp"][0]["outcome"], "refused");
    for id in ["ssh.banner", "ssh.transcript"] {
        assert_eq!(severity(&r, id), "skip", "{id}");
    }
    // Every node refuses: named as such, not "no known cause".
    assert_eq!(
        diagnosis_ids(&r),
        ["diagnosis.no-node-answers"],
        "{}",
        r["diagnosis"]
    );
    let summary = r["diagnosis"][0]["summary"].as_str().unwrap();
    assert!(summary.contains("refuses connections"), "{summary}");
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
    type Case = (&'static str, fn(std::net::TcpStream), Vec<(At, Is)>);
    let cases: [Case; 6] = [
        (
            "a silent server",
            silent,
            vec![
                sev("ssh.banner", "fail"),
                fact("ssh.banner", "/evidence/error", Is::Starts("timeout")),
            ],
        ),
        (
            "an HTTP server",
            http,
            vec![
                sev("ssh.banner", "fail"),
                fact(
                    "ssh.banner",
                    "/evidence/received",
                    Is::Starts("HTTP/1.1 400"),
                ),
            ],
        ),
        (
            "a server sending binary garbage",
            garbage,
            vec![
                sev("ssh.banner", "fail"),
                fact("ssh.banner", "/evidence/received", Is::Text),
            ],
        ),
        (
            "an endless pre-banner",
            endless_banner,
            vec![sev("ssh.banner", "fail")],
        ),
        // Any verdict, as long as it comes in time.
        ("a banner dripping byte by byte", slow_drip, vec![]),
        (
            "a banner, then a stall",
            banner_then_stall,
            vec![
                sev("ssh.kex", "fail"),
                fact("ssh.kex", "/evidence/error", Is::Starts("timeout")),
            ],
        ),
    ];
    for (name, behave, expect) in cases {
        let port = hostile(behave);
        let home = home_for(port, "ed25519_100", "");
        let (r, took) = check(
            &home,
            &[("slurm", "127.0.0.1", port)],
            &["--timeout", "2", "--deadline", "15"],
            &[],
        );
        assert!(took < Duration::from_secs(12), "{name}: took {took:?}");
        finding(&r, "ssh.banner");
        assert_expected(name, &r, &expect);
        assert!(
            findings(&r, "ssh.key-accepted")
                .iter()
                .all(|f| f["severity"] != "pass"),
            "{name}: a key was accepted"
        );
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
        .filter(|f| f["severity"] == "skip" && f["evidence"]["deadline_s"] == 2.0)
        .collect();
    assert!(
        !skipped.is_empty(),
        "{}",
        serde_json::to_string_pretty(&r["findings"]).unwrap()
    );
    // Nothing failed in what was checked, but the rest was not: never "healthy".
    assert_eq!(
        r["diagnosis"][0]["id"], "diagnosis.cut-short",
        "{}",
        r["diagnosis"]
    );
    let headline = r["diagnosis"][0]["summary"].as_str().unwrap();
    assert!(headline.contains("deadline of 2 s"), "{headline}");
    assert!(
        r["diagnosis"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != "diagnosis.healthy"),
        "{}",
        r["diagnosis"]
    );
    assert_eq!(r["exit_code"], 3);
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
    // The resolver's error in words a researcher reads: the words are the point here.
    assert!(dns.summary.contains("no such name"), "{}", dns.summary);
    let tcp = state.findings.iter().find(|f| f.id == "net.tcp").unwrap();
    assert_eq!(tcp.severity, mlc_doctor::finding::Severity::Skip);
    // A skip carries its reason in its words only.
    assert!(tcp.summary.contains("does not resolve"));
}

#[test]
fn proxies_are_reported_and_never_authenticated_through() {
    let jump = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let direct = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let closed = free_port();
    let far = "galvani-login.mlcloud.uni-tuebingen.de";
    let via = |proxy: &str| {
        format!("Host slurm\n  HostName {far}\n  User pbb111\n  IdentityFile ~/.ssh/id_mlcloud\n  {proxy}\n")
    };
    // (case, config (`@MARKER@`: a file that appears if a command runs), profile node, expected)
    type Case = (&'static str, String, (&'static str, u16), Vec<(At, Is)>);
    let cases: Vec<Case> = vec![
        (
            "ProxyJump: DNS and TCP go to the first hop, no handshake through it",
            via(&format!("ProxyJump jumper@127.0.0.1:{}", jump.port)),
            (far, 22),
            vec![
                sev("net.dns", "pass"),
                sev("net.tcp", "pass"),
                fact("net.tcp", "/evidence/port", Is::Eq(json!(jump.port))),
                fact(
                    "net.tcp",
                    "/evidence/attempts/0/address",
                    Is::Eq(json!(format!("127.0.0.1:{}", jump.port))),
                ),
                sev("ssh.banner", "skip"),
                node("/proxy", Is::Starts("ProxyJump jumper@127.0.0.1:")),
            ],
        ),
        (
            "ProxyJump to a port where nothing listens",
            via(&format!("ProxyJump jumper@127.0.0.1:{closed}")),
            (far, 22),
            vec![
                sev("net.tcp", "fail"),
                fact("net.tcp", "/evidence/port", Is::Eq(json!(closed))),
                fact(
                    "net.tcp",
                    "/evidence/attempts/0/outcome",
                    Is::Eq(json!("refused")),
                ),
                sev("ssh.banner", "skip"),
                node("/proxy", Is::Starts("ProxyJump")),
            ],
        ),
        (
            "ProxyCommand: never run, nothing probed",
            via("ProxyCommand touch @MARKER@"),
            (far, 22),
            vec![
                sev("net.dns", "skip"),
                sev("net.tcp", "skip"),
                sev("ssh.banner", "skip"),
                node("/proxy", Is::Starts("ProxyCommand touch ")),
            ],
        ),
        (
            "ProxyCommand none is no proxy",
            loopback_host(direct.port, &format!("{KEY_ONLY}  ProxyCommand none\n")),
            ("127.0.0.1", direct.port),
            vec![
                node("/proxy", Is::Absent),
                sev("ssh.banner", "pass"),
                sev("ssh.key-accepted", "pass"),
            ],
        ),
        (
            "ProxyJump none is no proxy",
            loopback_host(direct.port, &format!("{KEY_ONLY}  ProxyJump none\n")),
            ("127.0.0.1", direct.port),
            vec![
                node("/proxy", Is::Absent),
                sev("ssh.banner", "pass"),
                sev("ssh.key-accepted", "pass"),
            ],
        ),
    ];
    for (name, config, (host, port), expect) in &cases {
        let home = TestHome::new();
        let marker = home.path().join("proxy-ran");
        home.write(
            ".ssh/config",
            config.replace("@MARKER@", &marker.display().to_string()),
        );
        home.key("ed25519_100", "id_mlcloud");
        home.write(".ssh/known_hosts", direct.known_hosts_line());
        let (r, _) = check(&home, &[("slurm", host, *port)], &["--no-openssh"], &[]);
        assert_expected(name, &r, expect);
        assert!(!marker.exists(), "{name}: the ProxyCommand was run");
    }
    let log = jump.log_since(0);
    assert!(
        !log.contains("publickey for"),
        "a key was offered to the jump host:\n{log}"
    );
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
        finding(&r, "ssh.transcript")["evidence"]["outcome"]["kind"],
        "key-accepted"
    );
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
    let f = finding(&r, "ssh.transcript");
    assert_eq!(f["severity"], "info", "{f}");
    assert!(f["evidence"]["exit_status"].is_number(), "{f}");
}

#[test]
fn a_stale_extra_identity_file_is_a_warning_when_the_key_beside_it_is_accepted() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = sshd.home(Some("ed25519_100"));
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    home.write(
        ".ssh/config",
        format!("{config}  IdentityFile ~/.ssh/id_old_laptop\n"),
    );
    let profile = sshd.profile(&home, "");
    let (code, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    let missing = findings(&r, "config.identity-file")
        .into_iter()
        .find(|f| f["summary"].as_str().unwrap().contains("id_old_laptop"))
        .expect("the missing IdentityFile is named");
    assert_eq!(missing["severity"], "warn", "{missing}");
    let ids = diagnosis_ids(&r);
    assert!(!ids.contains(&"diagnosis.key-refused-locally"), "{ids:?}");
    assert_ne!(code, 1, "{}", r["diagnosis"]);
}

#[test]
fn without_identities_only_the_transcript_offers_the_agent_key_as_ssh_does() {
    // The config's IdentityFile names no file; the deployed key is in the agent only.
    // The user's ssh logs in with it: the transcript must too, and agree with the doctor.
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "LogLevel VERBOSE\n");
    let home = sshd.home(None);
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    home.write(
        ".ssh/config",
        format!("{config}  IdentityFile ~/.ssh/id_gone\n"),
    );
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("agent_only");
    std::fs::copy(fixtures().join("keys/ed25519_plain"), &key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let agent = Agent::start();
    agent.add(&key);
    let real = std::process::Command::new("ssh")
        .args(["-F"])
        .arg(home.ssh().join("config"))
        .args(["-o", "BatchMode=yes", "-o"])
        .arg(format!(
            "UserKnownHostsFile={}",
            home.ssh().join("known_hosts").display()
        ))
        .args(["slurm", "true"])
        .env("SSH_AUTH_SOCK", agent.sock())
        .output()
        .unwrap();
    assert!(
        real.status.success(),
        "the user's ssh logs in: {}",
        String::from_utf8_lossy(&real.stderr)
    );
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json_env(
        &["--profile", profile.to_str().unwrap(), "--timeout", "3"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    let t = finding(&r, "ssh.transcript");
    let kind = t["evidence"]["outcome"]["kind"].as_str().unwrap();
    assert!(["authenticated", "key-accepted"].contains(&kind), "{t}");
    assert!(!t["summary"].as_str().unwrap().contains("disagree"), "{t}");
}

#[test]
fn an_accepted_key_that_ssh_will_not_load_still_leads_and_another_keys_modes_do_not() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    // The accepted key itself has loose modes: the server would take it, ssh will not.
    let home = sshd.home(Some("ed25519_100"));
    home.chmod(".ssh/id_mlcloud", 0o644);
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert_eq!(
        diagnosis_ids(&r)[0],
        "diagnosis.key-refused-locally",
        "{}",
        r["diagnosis"]
    );
    // No IdentityFile: ssh tries its default keys; one of them (not the deployed one) has
    // loose modes and is skipped, the deployed one is accepted.
    let home = TestHome::with_config(loopback_host(sshd.port, ""));
    home.key("ed25519_100", "id_ed25519");
    home.key("ecdsa_enc", "id_ecdsa");
    home.chmod(".ssh/id_ecdsa", 0o644);
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert!(
        !diagnosis_ids(&r).contains(&"diagnosis.key-refused-locally"),
        "{}",
        r["diagnosis"]
    );
}

#[test]
fn a_typo_in_the_login_nodes_identity_file_leads_when_the_other_key_is_refused() {
    // `Host *` names a key the cluster does not know; the login node's own line has a typo.
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::with_config(format!(
        "Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_ed25519_mlcloud\n\nHost *\n  IdentityFile ~/.ssh/github\n",
        sshd.port,
        login()
    ));
    home.key("ed25519_plain", "github");
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(severity(&r, "ssh.key-accepted"), "fail", "{r}");
    assert_eq!(
        diagnosis_ids(&r)[0],
        "diagnosis.key-refused-locally",
        "{}",
        r["diagnosis"]
    );
}

#[test]
fn through_the_agent_a_loose_key_file_and_a_linked_agent_socket_still_log_in() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "");
    let home = sshd.home(Some("ed25519_plain"));
    home.chmod(".ssh/id_mlcloud", 0o644);
    let agent = Agent::start();
    let loaded = tempfile::tempdir().unwrap();
    let copy = loaded.path().join("k");
    std::fs::copy(home.ssh().join("id_mlcloud"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    agent.add(&copy);
    // ssh reaches the agent through a link to its socket (as a tmux setup keeps one).
    let link = home.ssh().join("agent.sock");
    std::os::unix::fs::symlink(agent.sock(), &link).unwrap();
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    home.write(
        ".ssh/config",
        format!("{config}  IdentityAgent ~/.ssh/agent.sock\n"),
    );
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json_env(
        &["--profile", profile.to_str().unwrap(), "--timeout", "3"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let accepted = finding(&r, "ssh.key-accepted");
    assert_eq!(accepted["severity"], "pass", "{r}");
    assert_eq!(
        accepted["evidence"]["accepted"][0]["in_agent"], true,
        "{accepted}"
    );
    // ssh signs through the agent and never reads the 0644 file: not the cause of anything.
    assert!(
        !diagnosis_ids(&r).contains(&"diagnosis.key-refused-locally"),
        "{}",
        r["diagnosis"]
    );
}

#[test]
fn a_config_too_large_to_read_gives_no_guessed_user_and_no_claims_about_its_lines() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = home_for(sshd.port, "ed25519_100", &sshd.known_hosts_line());
    // The real blocks first (OpenSSH reads them), then more than the doctor reads.
    let mut config = loopback_host(sshd.port, KEY_ONLY);
    let filler: String = (0..60_000)
        .map(|i| format!("Host h{i}\n  HostName 10.0.{}.{}\n", i / 256 % 256, i % 256))
        .collect();
    config.push_str(&filler);
    assert!(config.len() > 1024 * 1024);
    home.write(".ssh/config", &config);
    let mark = sshd.log_mark();
    let (r, _) = check(&home, &[("slurm", "127.0.0.1", sshd.port)], &[], &[]);
    // Neither the doctor nor its `ssh -vvv` tried a key as a guessed user.
    let log = sshd.log_since(mark);
    assert!(!log.contains("publickey"), "{log}");
    let t = finding(&r, "ssh.transcript");
    assert_eq!(t["severity"], "skip", "{t}");
    for id in ["config.user", "config.identity-file", "config.alias"] {
        assert_eq!(severity(&r, id), "skip", "{id}: {r}");
    }
    assert_eq!(severity(&r, "config.present"), "info", "{r}");
    let key = finding(&r, "ssh.key-accepted");
    assert_eq!(key["severity"], "skip", "{key}");
    assert!(key["summary"].as_str().unwrap().contains("--user"), "{key}");
    let ids = diagnosis_ids(&r);
    assert!(
        !ids.iter()
            .any(|id| id.contains("no-user") || id.contains("key-refused")),
        "{ids:?}"
    );
    // With the user given, the key is asked about and accepted.
    let (r, _) = check(
        &home,
        &[("slurm", "127.0.0.1", sshd.port)],
        &["--no-openssh", "--user", &login()],
        &[],
    );
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
}
