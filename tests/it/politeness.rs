//! Politeness toward the login nodes, read from a real sshd's own log (`LogLevel
//! VERBOSE`): how many connections a run opens, that none is dropped before the banner,
//! and that no connection costs more refused keys than the MaxAuthTries budget.
//! Only 127.0.0.1 is contacted.
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::agent::{fresh_key, Agent};
use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;
use serde_json::Value;

fn login() -> String {
    mlc_doctor::platform::login_name().unwrap()
}

/// What sshd logged from `from` on, once it stopped writing (its children log a moment
/// after the doctor has exited).
fn log_since(sshd: &Sshd, from: usize) -> String {
    let started = Instant::now();
    let mut last = sshd.log().len();
    // Settled when nothing was added for two looks in a row (sshd's children write late
    // on a loaded machine).
    let mut quiet = 0;
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = sshd.log().len();
        quiet = if now == last { quiet + 1 } else { 0 };
        if quiet >= 2 || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        last = now;
    }
    sshd.log()[from.min(last)..].to_string()
}

/// Where the log stands once sshd has logged the helper's own readiness probe (a
/// connection that closes before the banner), so that only the run is counted.
fn log_start(sshd: &Sshd) -> usize {
    let started = Instant::now();
    while !sshd.log().contains("Connection closed by") && started.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    sshd.log().len()
}

fn connections(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("Connection from "))
        .count()
}

/// Lines sshd writes when a client goes away before the SSH banner.
fn pre_banner_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("kex_exchange_identification")
                || l.contains("banner exchange")
                || ((l.starts_with("Connection closed by ")
                    || l.starts_with("Connection reset by "))
                    && !l.contains("[preauth]"))
        })
        .collect()
}

/// `Failed publickey` lines per client port (one port is one connection).
fn refusals_per_connection(log: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.starts_with("Failed publickey for "))
    {
        let port = line
            .split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string();
        *out.entry(port).or_insert(0) += 1;
    }
    out
}

fn run(home: &TestHome, port: u16, policy: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    let profile = loopback_profile(home.path(), &[("slurm", "127.0.0.1", port)], policy);
    let mut all = vec![
        "--json",
        "--no-bundle",
        "--timeout",
        "5",
        "--profile",
        profile.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let mut cmd = home.cmd(&all);
    for (k, v) in env {
        cmd.env(k, v);
    }
    parse_report(&cmd.output().unwrap())
}

fn key_accepted(r: &Value) -> &Value {
    findings(r, "ssh.key-accepted")
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no ssh.key-accepted in {r}"))
}

/// Seven fresh keys in an agent; the last one is the deployed one.
fn seven_agent_keys(keys: &std::path::Path) -> (Agent, String) {
    let agent = Agent::start();
    let mut deployed = String::new();
    for i in 0..7 {
        let p = fresh_key(keys, &format!("k{i}"));
        agent.add(&p);
        deployed = std::fs::read_to_string(p.with_extension("pub"))
            .unwrap()
            .trim()
            .to_string();
    }
    (agent, deployed)
}

#[test]
fn a_healthy_run_opens_two_connections_and_none_closes_before_the_banner() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::new();
    home.write(".ssh/config", format!("Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n", sshd.port, login()));
    home.key("ed25519_100", "id_mlcloud");
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let from = log_start(&sshd);
    let r = run(&home, sshd.port, "", &[], &[]);
    let log = log_since(&sshd, from);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert_eq!(severity(&r, "ssh.transcript"), "info", "{r}");
    // The doctor's own connection (which the TCP check opened) and the ssh -vvv transcript.
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("Failed publickey"), "{log}");
    let f = key_accepted(&r);
    assert_eq!(f["evidence"]["connections"], 1, "{f}");
    assert_eq!(f["evidence"]["reconnections"], serde_json::json!([]), "{f}");
}

#[test]
fn the_second_factor_is_read_over_the_same_connection() {
    let sshd = Sshd::start(
        &[fixture_pub("ed25519_plain")],
        "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
    );
    let home = TestHome::new();
    home.write(".ssh/config", format!("Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n", sshd.port, login()));
    home.key("ed25519_plain", "id_mlcloud");
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let agent = Agent::start();
    agent.add(&home.ssh().join("id_mlcloud"));
    let from = log_start(&sshd);
    let r = run(
        &home,
        sshd.port,
        "",
        &[],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let log = log_since(&sshd, from);
    let sf = &findings(&r, "ssh.second-factor")[0];
    assert_eq!(sf["severity"], "info", "{sf}");
    assert_eq!(sf["evidence"]["status"], "keyboard-interactive", "{sf}");
    assert_eq!(sf["evidence"]["same_connection"], true, "{sf}");
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("Failed publickey"), "{log}");
}

#[test]
fn seven_agent_keys_never_cost_more_refusals_than_max_auth_tries_per_connection() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, deployed) = seven_agent_keys(keys.path());
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
    let from = log_start(&sshd);
    let r = run(
        &home,
        sshd.port,
        "",
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let log = log_since(&sshd, from);
    let f = key_accepted(&r);
    assert_eq!(f["severity"], "pass", "{f}");
    assert_eq!(f["evidence"]["refused"].as_array().unwrap().len(), 6, "{f}");
    let per = refusals_per_connection(&log);
    assert!(per.values().all(|n| *n <= 6), "{per:?}\n{log}");
    assert_eq!(per.values().sum::<usize>(), 6, "{log}");
    // The server hung up after the sixth refusal, as it does for ssh; the doctor went on
    // over one new connection and says why.
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert_eq!(f["evidence"]["connections"], 2, "{f}");
    let why = f["evidence"]["reconnections"][0].as_str().unwrap();
    assert!(why.contains("closed the connection after 6"), "{why}");
}

#[test]
fn a_smaller_profile_budget_is_kept_even_when_the_server_allows_more() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, deployed) = seven_agent_keys(keys.path());
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
    let from = log_start(&sshd);
    let r = run(
        &home,
        sshd.port,
        "max_auth_tries = 2\n",
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let log = log_since(&sshd, from);
    let f = key_accepted(&r);
    assert_eq!(f["severity"], "pass", "{f}");
    assert_eq!(f["evidence"]["max_auth_tries"], 2, "{f}");
    let per = refusals_per_connection(&log);
    assert!(per.values().all(|n| *n <= 2), "{per:?}\n{log}");
    assert_eq!(per.values().sum::<usize>(), 6, "{log}");
    assert_eq!(connections(&log), 4, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
}

#[test]
fn with_identities_only_no_other_agent_key_is_offered() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, _) = seven_agent_keys(keys.path());
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "");
    let home = TestHome::new();
    home.write(".ssh/config", format!("Host slurm\n  HostName 127.0.0.1\n  Port {}\n  User {}\n  IdentityFile ~/.ssh/id_mlcloud\n  IdentitiesOnly yes\n", sshd.port, login()));
    home.key("ed25519_plain", "id_mlcloud");
    home.write(".ssh/known_hosts", sshd.known_hosts_line());
    let from = log_start(&sshd);
    let r = run(
        &home,
        sshd.port,
        "",
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let log = log_since(&sshd, from);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert!(!log.contains("Failed publickey"), "{log}");
    assert_eq!(connections(&log), 1, "{log}");
}

#[test]
fn the_first_hop_of_a_proxy_jump_sees_a_client_that_parts_after_the_banner() {
    let jump = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::new();
    home.key("ed25519_100", "id_mlcloud");
    home.write(".ssh/config", format!("Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User pbb111\n  IdentityFile ~/.ssh/id_mlcloud\n  ProxyJump jumper@127.0.0.1:{}\n", jump.port));
    let from = log_start(&jump);
    let profile = loopback_profile(
        home.path(),
        &[("slurm", "galvani-login.mlcloud.uni-tuebingen.de", 22)],
        "",
    );
    let out = home
        .cmd(&[
            "--json",
            "--no-bundle",
            "--timeout",
            "3",
            "--profile",
            profile.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let r = parse_report(&out);
    let log = log_since(&jump, from);
    assert_eq!(severity(&r, "net.tcp"), "pass", "{r}");
    assert_eq!(connections(&log), 1, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("publickey"), "{log}");
}
