//! Politeness toward the login nodes, read from a real sshd's own log (`LogLevel
//! VERBOSE`): how many connections a run opens, that none is dropped before the banner,
//! and that no connection costs more refused keys than the MaxAuthTries budget.
//! Only 127.0.0.1 is contacted.
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::agent::Agent;
use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;
use serde_json::Value;

/// Runs `check --json` with `profile` and `args`, and returns the report and what `sshd`
/// logged for the run (its own readiness probe left out).
fn observe(
    sshd: &Sshd,
    home: &TestHome,
    profile: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Value, String) {
    let mark = sshd.log_mark();
    let mut all = vec!["--timeout", "5", "--profile", profile.to_str().unwrap()];
    all.extend_from_slice(args);
    let (_, r) = home.json_env(&all, env);
    (r, sshd.log_since(mark))
}

fn connections(log: &str) -> usize {
    log.lines()
        .filter(|l| l.starts_with("Connection from "))
        .count()
}

/// Lines sshd writes when a client goes away before the SSH banner: its
/// `kex_exchange_identification` (or `banner exchange`) line, and the bare `Connection
/// closed by … port N` of a connection it logged nothing else about. (A connection closed
/// after authenticating ends with the same bare line: it does not count.)
fn pre_banner_lines(log: &str) -> Vec<&str> {
    fn port_of(l: &str) -> Option<&str> {
        l.split(" port ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
    }
    fn closing(l: &str) -> bool {
        l.starts_with("Connection closed by ") || l.starts_with("Connection reset by ")
    }
    let past_banner: BTreeSet<&str> = log
        .lines()
        .filter(|l| !l.starts_with("Connection from ") && !closing(l))
        .filter_map(port_of)
        .collect();
    log.lines()
        .filter(|l| {
            l.contains("kex_exchange_identification")
                || l.contains("banner exchange")
                || (closing(l)
                    && !l.contains("[preauth]")
                    && port_of(l).is_some_and(|p| !past_banner.contains(p)))
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

#[test]
fn a_healthy_run_opens_two_connections_and_none_closes_before_the_banner() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = sshd.home(Some("ed25519_100"));
    let (r, log) = observe(&sshd, &home, &sshd.profile(&home, ""), &[], &[]);
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert_eq!(severity(&r, "ssh.transcript"), "info", "{r}");
    // The doctor's own connection (which the TCP check opened) and the ssh -vvv transcript.
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("Failed publickey"), "{log}");
    let f = finding(&r, "ssh.key-accepted");
    assert_eq!(f["evidence"]["connections"], 1, "{f}");
    assert_eq!(f["evidence"]["reconnections"], serde_json::json!([]), "{f}");
}

#[test]
fn the_second_factor_is_read_over_the_same_connection() {
    let sshd = Sshd::start(
        &[fixture_pub("ed25519_plain")],
        "UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n",
    );
    let home = sshd.home(Some("ed25519_plain"));
    let agent = Agent::start();
    agent.add(&home.ssh().join("id_mlcloud"));
    let (r, log) = observe(
        &sshd,
        &home,
        &sshd.profile(&home, ""),
        &[],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    let sf = &findings(&r, "ssh.second-factor")[0];
    assert_eq!(sf["severity"], "info", "{sf}");
    assert_eq!(sf["evidence"]["status"], "keyboard-interactive", "{sf}");
    assert_eq!(sf["evidence"]["same_connection"], true, "{sf}");
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("Failed publickey"), "{log}");
}

/// A run with seven keys in the agent (only the last deployed) against a loopback sshd
/// with its default MaxAuthTries (6); `policy` is added to the profile's `[policy]`.
/// The report and sshd's log lines of the run.
fn seven_agent_keys(policy: &str) -> (serde_json::Value, String) {
    let keys = tempfile::tempdir().unwrap();
    let (agent, deployed) = Agent::with_fresh_keys(keys.path(), 7);
    let sshd = Sshd::start(&[deployed], "");
    let home = sshd.home(None);
    let (r, log) = observe(
        &sshd,
        &home,
        &sshd.profile(&home, policy),
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    (r, log)
}

#[test]
fn seven_agent_keys_never_cost_more_refusals_than_max_auth_tries_per_connection() {
    let (r, log) = seven_agent_keys("");
    let f = finding(&r, "ssh.key-accepted");
    assert_eq!(f["severity"], "pass", "{f}");
    assert_eq!(f["evidence"]["refused"].as_array().unwrap().len(), 6, "{f}");
    let per = refusals_per_connection(&log);
    // One below sshd's MaxAuthTries of 6: sshd never reaches its limit, so it never logs
    // `maximum authentication attempts exceeded` (which fail2ban counts as an attack).
    assert!(per.values().all(|n| *n <= 5), "{per:?}\n{log}");
    assert_eq!(per.values().sum::<usize>(), 6, "{log}");
    assert!(
        !log.contains("maximum authentication attempts exceeded"),
        "{log}"
    );
    assert!(!log.contains("Too many authentication failures"), "{log}");
    // The doctor went on over one new connection and says why.
    assert_eq!(connections(&log), 2, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert_eq!(f["evidence"]["connections"], 2, "{f}");
    let why = f["evidence"]["reconnections"][0].as_str().unwrap();
    assert!(why.contains("stopped after 5 refused keys"), "{why}");
}

#[test]
fn a_smaller_profile_budget_is_kept_even_when_the_server_allows_more() {
    let (r, log) = seven_agent_keys("max_auth_tries = 2\n");
    let f = finding(&r, "ssh.key-accepted");
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
    let (agent, _) = Agent::with_fresh_keys(keys.path(), 7);
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "");
    let home = sshd.home(Some("ed25519_plain"));
    let (r, log) = observe(
        &sshd,
        &home,
        &sshd.profile(&home, ""),
        &["--no-openssh"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
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
    let profile = loopback_profile(
        home.path(),
        &[("slurm", "galvani-login.mlcloud.uni-tuebingen.de", 22)],
        "",
    );
    let (r, log) = observe(&jump, &home, &profile, &[], &[]);
    assert_eq!(severity(&r, "net.tcp"), "pass", "{r}");
    assert_eq!(connections(&log), 1, "{log}");
    assert!(pre_banner_lines(&log).is_empty(), "{log}");
    assert!(!log.contains("publickey"), "{log}");
}

#[test]
fn the_log_reader_tells_a_close_before_the_banner_from_one_after_login() {
    // What OpenSSH 9.2 logs (LogLevel VERBOSE) for a client that connects and goes away,
    // and for one that logs in and closes without a disconnect message.
    let before = "Connection from 127.0.0.1 port 43920 on 127.0.0.1 port 2299 rdomain \"\"\nkex_exchange_identification: Connection closed by remote host\nConnection closed by 127.0.0.1 port 43920\n";
    let after = "Connection from 127.0.0.1 port 36138 on 127.0.0.1 port 44133 rdomain \"\"\nPostponed publickey for root from 127.0.0.1 port 36138 ssh2 [preauth]\nAccepted publickey for root from 127.0.0.1 port 36138 ssh2: ED25519 SHA256:E8isPf/1utZvPUmJMVixvT/xa2ZpVgoxVGTXEDOtVzY\nConnection closed by 127.0.0.1 port 36138\nTransferred: sent 2300, received 1424 bytes\nClosing connection to 127.0.0.1 port 36138\n";
    assert_eq!(
        pre_banner_lines(before),
        [
            "kex_exchange_identification: Connection closed by remote host",
            "Connection closed by 127.0.0.1 port 43920"
        ]
    );
    assert!(pre_banner_lines(after).is_empty());
    assert_eq!(pre_banner_lines(&format!("{after}{before}")).len(), 2);
    assert_eq!(connections(&format!("{after}{before}")), 2);
}

#[test]
fn identity_agent_none_keeps_the_agents_keys_out_of_every_offer() {
    // The user's ssh never asks this agent (IdentityAgent none): neither may the doctor,
    // its handshake or its transcript.
    let keys = tempfile::tempdir().unwrap();
    let (agent, _) = Agent::with_fresh_keys(keys.path(), 7);
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "LogLevel VERBOSE\n");
    let home = sshd.home(None);
    home.key("ed25519_plain", "id_ed25519");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    home.write(
        ".ssh/config",
        format!("{config}  IdentityFile ~/.ssh/id_ed25519\n  IdentityAgent none\n"),
    );
    let (r, log) = observe(
        &sshd,
        &home,
        &sshd.profile(&home, ""),
        &[],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    assert_eq!(severity(&r, "ssh.key-accepted"), "pass", "{r}");
    assert!(!log.contains("Failed publickey"), "{log}");
    assert!(!log.contains("maximum authentication attempts"), "{log}");
    assert_ne!(severity(&r, "key.agent"), "warn", "{r}");
    let ids = diagnosis_ids(&r);
    assert!(!ids.contains(&"diagnosis.too-many-keys"), "{ids:?}");
}
