//! The promises an attacker tries first: nothing from the config runs, nothing a
//! terminal would act on is printed or bundled, only configuration is copied, the side
//! files are written safely, every run ends within its bounds, the verdict never claims
//! more than was checked. Everything network-facing talks to 127.0.0.1 only.
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::sshd::{fixture_pub, Sshd};
use crate::common::*;
use serde_json::Value;

/// Characters a terminal acts on or that hide text: none may reach output.
fn assert_no_terminal_controls(what: &str, text: &str) {
    for (i, c) in text.chars().enumerate() {
        let bad = (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        assert!(!bad, "{what}: character {c:?} at {i} reached the output");
    }
}

/// Files of a home: (path under `~/.ssh`, content).
type Files = Vec<(&'static str, Vec<u8>)>;

/// Every spelling OpenSSH accepts for a command in the config, each alone in a home.
/// `{C}` is the canary path: if anything runs the command, the file appears.
const SPELLINGS: &[&str] = &[
    "Match exec \"touch {C}\"\n",
    "MATCH EXEC \"touch {C}\"\n",
    "match !exec \"touch {C}\"\n",
    "Match\texec\t\"touch {C}\"\n",
    "  match   Exec   'touch {C}'\n",
    "Match exec \"touch {C}\" nosuchcriterion x\n",
    "\rMatch exec \"touch {C}\"\n",
    "Match exec \"touch {C}\"\r\n  BatchMode yes\r\n",
    "Match host * exec \"touch {C}\"\n",
    "Match exec \"touch {C}\"\0trailing\n",
    "Host slurm\n  ProxyCommand sh -c \"touch {C}; exec nc %h %p\"\n",
    "Host slurm\n  proxycommand=sh -c \"touch {C}\"\n",
    "Host *\n  PermitLocalCommand yes\n  LocalCommand touch {C}\n",
    "KnownHostsCommand /bin/sh -c \"touch {C}\"\n",
    "Host slurm\n  ProxyUseFdpass yes\n  ProxyCommand touch {C}\n",
    // Libraries ssh would load, and so run: {L} is one whose constructor touches {C}.
    "Host slurm\n  PKCS11Provider {L}\n",
    "Host slurm\n  SmartcardDevice {L}\n",
    "Host *\n  SecurityKeyProvider {L}\n",
];

/// A shared library that creates `canary` as it is loaded (built with the system's C
/// compiler, which the Rust toolchain needs anyway to link).
fn canary_library(dir: &std::path::Path, canary: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("canary.c");
    let lib = dir.join("canary.so");
    std::fs::write(
        &src,
        format!(
            "#include <fcntl.h>\n__attribute__((constructor)) static void loaded(void) {{ open({:?}, O_CREAT | O_WRONLY, 0600); }}\n",
            canary.display().to_string()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    lib
}

#[test]
fn no_command_from_the_config_ever_runs() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let mut cases: Vec<(String, Files)> = SPELLINGS
        .iter()
        .map(|s| (format!("{s:?}"), vec![("config", s.as_bytes().to_vec())]))
        .collect();
    // An Include with a glob that pulls the command in from another file.
    cases.push((
        "Include glob".into(),
        vec![
            ("config", b"Include conf.d/*\n".to_vec()),
            ("conf.d/x.conf", b"Match exec \"touch {C}\"\n".to_vec()),
        ],
    ));
    // A quoted keyword that OpenSSH reads as Include, hidden by `IgnoreUnknown *`.
    cases.push((
        "IgnoreUnknown and a quoted Include".into(),
        vec![
            (
                "config",
                b"IgnoreUnknown *\n\"Include\" {H}/.ssh/evil\n".to_vec(),
            ),
            ("evil", b"Match exec \"touch {C}\"\n".to_vec()),
        ],
    ));
    // A config over the doctor's size cap, with the command at its end.
    let mut huge = b"# padding\n".repeat(500_000);
    huge.extend_from_slice(b"Match exec \"touch {C}\"\n");
    cases.push(("over the size cap".into(), vec![("config", huge)]));
    assert!(cases.len() >= 10);

    for (name, files) in &cases {
        for offline in [true, false] {
            let home = TestHome::new();
            let canary = home.path().join("canary-ran");
            let c = canary.display().to_string();
            let needs_lib = files.iter().any(|(_, b)| b.windows(3).any(|w| w == b"{L}"));
            let lib = match needs_lib {
                true => canary_library(home.path(), &canary).display().to_string(),
                false => String::new(),
            };
            let mut prefix = loopback_host(sshd.port, "  IdentityFile ~/.ssh/id_mlcloud\n");
            for (rel, body) in files {
                let body = String::from_utf8_lossy(body)
                    .replace("{C}", &c)
                    .replace("{L}", &lib)
                    .replace("{H}", &home.path().display().to_string());
                if *rel == "config" {
                    prefix.push_str(&body);
                    home.write(".ssh/config", prefix.as_bytes());
                } else {
                    home.write(&format!(".ssh/{rel}"), body.as_bytes());
                }
            }
            home.key("ed25519_100", "id_mlcloud");
            home.write(".ssh/known_hosts", sshd.known_hosts_line());
            let profile = sshd.profile(&home, "");
            let mut args = vec!["--profile", profile.to_str().unwrap(), "--timeout", "3"];
            if offline {
                args.push("--offline");
            }
            let (_, r) = home.json(&args);
            assert!(
                !canary.exists(),
                "{name} (offline: {offline}): a command from the config ran"
            );
            // OpenSSH never read the user's file: the agreement check says why.
            let agrees = findings(&r, "config.openssh-agrees");
            assert!(
                agrees.iter().all(|f| f["severity"] == "skip"),
                "{name}: ssh -G ran on a config with a command: {agrees:?}"
            );
            if !offline {
                let t = findings(&r, "ssh.transcript");
                if let Some(t) = t.first().filter(|t| t["severity"] != "skip") {
                    // ssh read a config the doctor wrote, and the evidence says why.
                    assert_eq!(t["evidence"]["config_copied"], false, "{name}: {t}");
                    assert_eq!(t["evidence"]["public_keys_only"], false, "{name}: {t}");
                    assert!(
                        t["evidence"]["config_sanitized_because"]
                            .as_array()
                            .is_some_and(|why| !why.is_empty()),
                        "{name}: {t}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_clean_config_is_handed_to_openssh_as_a_copy() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = sshd.home(Some("ed25519_100"));
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    assert_eq!(severity(&r, "config.openssh-agrees"), "pass");
    let t = &findings(&r, "ssh.transcript")[0];
    assert_eq!(t["evidence"]["config_copied"], true);
    assert_eq!(t["evidence"]["public_keys_only"], false);
    assert_eq!(t["evidence"]["outcome"]["kind"], "key-accepted");
}

#[test]
fn an_unverified_host_gets_no_signature_from_the_agent_or_a_key() {
    // An unencrypted key in the agent would sign for anyone who asks: for a host that is
    // not in known_hosts the doctor and its transcript offer public keys only.
    let sshd = Sshd::start(&[fixture_pub("ed25519_plain")], "LogLevel VERBOSE\n");
    let home = TestHome::with_config(loopback_host(
        sshd.port,
        "  IdentityFile ~/.ssh/id_mlcloud\n",
    ));
    home.key("ed25519_plain", "id_mlcloud");
    let agent = crate::common::agent::Agent::start();
    agent.add(&home.ssh().join("id_mlcloud"));
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json_env(
        &["--profile", profile.to_str().unwrap(), "--timeout", "3"],
        &[("SSH_AUTH_SOCK", agent.sock())],
    );
    assert_eq!(
        severity(&r, "ssh.key-accepted"),
        "pass",
        "the query itself signs nothing"
    );
    let sf = &findings(&r, "ssh.second-factor")[0];
    assert_eq!(sf["severity"], "skip");
    assert_eq!(sf["evidence"]["host_key_verified"], false);
    let t = &findings(&r, "ssh.transcript")[0];
    assert_eq!(t["evidence"]["public_keys_only"], true);
    std::thread::sleep(Duration::from_millis(300));
    let log = sshd.log();
    assert!(
        !log.contains("Accepted publickey"),
        "something signed for an unverified host:\n{log}"
    );
}

/// A server whose banner and pre-banner lines carry terminal controls.
fn hostile_banner_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().take(8) {
            let Ok(mut s) = s else { continue };
            let _ = s.write_all(
                "\u{1b}]0;pwned\u{7}\u{1b}[2Jhello \u{9b}31m\u{202e}txt.exe\u{2066}\r\nSSH-2.0-Evil\u{1b}[31mRed\u{202e}x\r\n"
                    .as_bytes(),
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    port
}

#[test]
fn nothing_a_terminal_would_act_on_is_printed_or_bundled() {
    let port = hostile_banner_server();
    let home = TestHome::new();
    // A file name with a newline and an escape: never pasted into a block or a command.
    let evil = home.ssh().join("id_ed25519\n\u{1b}[2J\u{202e}x");
    std::fs::copy(crate::common::fixtures().join("keys/ed25519_100"), &evil).unwrap();
    home.write(
        ".ssh/config",
        "Host slurm\n  HostName 127.0.0.1\n  User abc123\n  Bogus \u{1b}[2Jvalue\u{202e}\n",
    );
    let profile = loopback_profile(home.path(), &[("slurm", "127.0.0.1", port)], "");
    let bundle = home.path().join("b.zip");
    let out = home
        .cmd(&[
            "-v",
            "--color",
            "never",
            "--profile",
            profile.to_str().unwrap(),
            "--timeout",
            "2",
            "--bundle",
            bundle.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_terminal_controls("report", &stdout);
    assert_no_terminal_controls("stderr", &String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("\\x1b"),
        "escapes are shown visibly:\n{stdout}"
    );
    assert!(
        stdout.contains("id_ed25519\\x0a"),
        "the file name is shown with its newline escaped:\n{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.trim_start().starts_with("[2J")),
        "a newline in a file name split a line:\n{stdout}"
    );
    for (name, text) in read_zip_text(&bundle) {
        assert_no_terminal_controls(&name, &name);
        assert_no_terminal_controls(&name, &text);
    }
    let inspect = crate::common::doctor()
        .args(["bundle", "inspect"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_no_terminal_controls("inspect", &String::from_utf8_lossy(&inspect.stdout));
    let inspect_json = crate::common::doctor()
        .args(["bundle", "inspect", "--json"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert_no_terminal_controls(
        "inspect --json",
        &String::from_utf8_lossy(&inspect_json.stdout),
    );
    // The JSON report escapes them too (not only JSON's own \u001b).
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "2"]);
    assert_no_terminal_controls("json", &serde_json::to_string(&r).unwrap());
}

#[test]
fn only_configuration_is_copied() {
    let home = TestHome::new();
    // ~/.ssh/config is a link to a file that is no config (a password database).
    let secret = home.path().join("passwords.db");
    std::fs::write(&secret, "root:CanaryHashXq7:0:0\nbank-pin CanaryPin9931\n").unwrap();
    std::os::unix::fs::symlink(&secret, home.ssh().join("config")).unwrap();
    let bundle = home.path().join("b.zip");
    let out = home
        .cmd(&["--offline", "-v", "--bundle", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for canary in ["CanaryHashXq7", "CanaryPin9931"] {
        assert!(!stdout.contains(canary), "{canary} in the report");
        for (name, text) in read_zip_text(&bundle) {
            assert!(!text.contains(canary), "{canary} in {name}");
        }
    }
    // Include of the process environment.
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        "Include /proc/self/environ\nHost slurm\n  User abc123\n",
    );
    let bundle = home.path().join("b.zip");
    let out = home
        .cmd(&["--offline", "-v", "--bundle", bundle.to_str().unwrap()])
        .env("MLC_TEST_SECRET", "EnvCanaryToken42")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("EnvCanaryToken42"));
    for (name, text) in read_zip_text(&bundle) {
        assert!(!text.contains("EnvCanaryToken42"), "environment in {name}");
    }
}

#[test]
fn no_mode_change_is_suggested_through_a_link() {
    let home = TestHome::new();
    let outside = home.path().join("outside-config");
    std::fs::write(&outside, "Host slurm\n  User abc123\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    std::os::unix::fs::symlink(&outside, home.ssh().join("config")).unwrap();
    let (_, r) = home.json(&["--offline"]);
    let f = &findings(&r, "perm.config")[0];
    assert_eq!(f["severity"], "fail");
    assert!(f["remedy"]["command"].is_null(), "{f}");
    // In place of a command, the words say why there is none.
    assert!(f["remedy"]["text"].as_str().unwrap().contains("is a link"));
}

#[test]
fn the_pseudonym_map_is_written_safely_and_once_per_bundle() {
    use std::os::unix::fs::PermissionsExt;
    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  User abc123\n");
    let state = home.path().join("state");
    let maps = state.join("mlc-doctor/maps");
    // A link in place of the map directory is refused, and its target left alone.
    let elsewhere = home.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(maps.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &maps).unwrap();
    let b1 = home.path().join("one.zip");
    let out = home
        .cmd(&["--offline", "--bundle", b1.to_str().unwrap()])
        .env("XDG_STATE_HOME", &state)
        .output()
        .unwrap();
    assert!(b1.exists(), "the bundle itself is still written");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pseudonym map was not saved"));
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert_eq!(
        std::fs::metadata(&elsewhere).unwrap().permissions().mode() & 0o777,
        0o755
    );
    // A real directory: one map per bundle, mode 0600.
    std::fs::remove_file(&maps).unwrap();
    let b2 = home.path().join("a/same.zip");
    let b3 = home.path().join("b/same.zip");
    for (i, b) in [&b2, &b3].into_iter().enumerate() {
        // Two different bundles (a run within the same second could otherwise write the
        // same bytes twice, which rightly share one map).
        home.write(".ssh/config", format!("Host slurm\n  User abc12{i}\n"));
        std::fs::create_dir_all(b.parent().unwrap()).unwrap();
        let st = home
            .cmd(&["--offline", "--bundle", b.to_str().unwrap()])
            .env("XDG_STATE_HOME", &state)
            .status()
            .unwrap();
        assert!(st.code() != Some(3));
    }
    let written: Vec<_> = std::fs::read_dir(&maps)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        written.len(),
        2,
        "two bundles of the same name share no map: {written:?}"
    );
    for m in written {
        let meta = std::fs::symlink_metadata(&m).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }
}

#[test]
fn a_bundle_path_beside_the_home_is_not_a_leak() {
    let base = tempfile::tempdir().unwrap();
    let home_dir = base.path().join("u");
    std::fs::create_dir_all(home_dir.join(".ssh")).unwrap();
    let zip = base.path().join("u-ticket.zip");
    let out = crate::common::doctor()
        .env("HOME", &home_dir)
        .arg("--home")
        .arg(&home_dir)
        .args(["--offline", "--bundle"])
        .arg(&zip)
        .output()
        .unwrap();
    assert_ne!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(zip.exists());
}

#[test]
fn an_unwritable_working_directory_sends_the_bundle_to_the_temp_dir() {
    let home = TestHome::new();
    let tmp = home.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = home
        .cmd(&["--offline", "--json"])
        .current_dir("/proc")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let r = parse_report(&out);
    let path = r["bundle"]["path"].as_str().unwrap().to_string();
    assert!(path.starts_with(tmp.to_str().unwrap()), "{path}");
    assert!(Path::new(&path).exists());
    // The report says why it went there; no evidence field carries that.
    assert!(findings(&r, "bundle.written")[0]["detail"]
        .as_str()
        .unwrap()
        .contains("not writable"));
}

#[test]
fn inspect_reads_only_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("bundle.zip");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(st.success());
    let started = Instant::now();
    let out = crate::common::doctor()
        .args(["bundle", "inspect"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a regular file"));
}

#[test]
fn a_huge_config_of_bad_lines_gives_a_screenful_not_thousands() {
    let home = TestHome::new();
    let line = "ThisIsNotAnOption with some value here\n";
    home.write(".ssh/config", line.repeat(900_000 / line.len()));
    let (_, r) = home.json(&["--offline"]);
    let syntax = findings(&r, "config.syntax");
    assert!(
        syntax.len() <= 12,
        "{} config.syntax findings",
        syntax.len()
    );
    // The last one counts the lines not shown.
    assert!(
        syntax
            .iter()
            .any(|f| f["evidence"]["more"].as_u64().is_some_and(|n| n > 1000)),
        "{syntax:?}"
    );
    // Binary data is one finding with one fix.
    let home = TestHome::new();
    let mut junk = vec![0u8; 50_000];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 7 % 256) as u8;
    }
    home.write(".ssh/config", &junk);
    let (_, r) = home.json(&["--offline"]);
    let syntax = findings(&r, "config.syntax");
    assert_eq!(syntax.len(), 1, "{syntax:?}");
    assert!(syntax[0]["remedy"]["command"]
        .as_str()
        .unwrap()
        .starts_with("mv "));
}

#[test]
fn no_client_is_a_failure_and_never_healthy() {
    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  User abc123\n");
    let empty = tempfile::tempdir().unwrap();
    let out = home
        .cmd(&["--offline", "--json", "--no-bundle"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let r = parse_report(&out);
    assert_eq!(severity(&r, "env.openssh"), "fail");
    assert_eq!(r["diagnosis"][0]["id"], "diagnosis.no-client");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_damaged_key_file_is_a_damaged_key_not_no_key() {
    let home = TestHome::new();
    let junk: Vec<u8> = (0..400u32).map(|i| (i * 131 % 251) as u8).collect();
    home.write(".ssh/id_ed25519", &junk);
    let (_, r) = home.json(&["--offline"]);
    let f = finding(&r, "key.format");
    assert_eq!(f["severity"], "fail", "{f}");
    assert_eq!(f["evidence"]["damaged"], true, "{f}");
    let ids = diagnosis_ids(&r);
    assert!(!ids.contains(&"diagnosis.no-key"), "{ids:?}");
    assert!(ids.contains(&"diagnosis.key-refused-locally"), "{ids:?}");
}

#[test]
fn revoked_in_a_later_file_wins_over_a_match_in_an_earlier_one() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = TestHome::new();
    let line = sshd.known_hosts_line();
    let key = line
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ");
    home.write(
        ".ssh/config",
        loopback_host(sshd.port, "  UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2\n"),
    );
    home.write(".ssh/kh1", &line);
    home.write(".ssh/kh2", format!("@revoked * {key}\n"));
    let profile = sshd.profile(&home, "");
    let (_, r) = home.json(&["--profile", profile.to_str().unwrap(), "--timeout", "3"]);
    let node: &Value = &r["nodes"][0];
    assert_eq!(node["host_key"]["known_hosts"], "revoked");
    assert_eq!(severity(&r, "ssh.host-key"), "fail");
}

/// A network namespace of the test's own, removed (with its resolv.conf) when dropped.
struct Netns {
    name: String,
    hole: Option<std::process::Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(mut c) = self.hole.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.name));
    }
}

#[test]
fn a_resolver_that_never_answers_does_not_hold_the_process() {
    let ip_works = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if mlc_doctor::platform::current_uid() != 0 || !ip_works {
        eprintln!("SKIPPED: network namespaces need root and iproute2 (CI has both)");
        return;
    }
    let name = format!("mlcd-dns-{}", std::process::id());
    let run = |args: &[&str]| {
        let st = std::process::Command::new("ip")
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "ip {args:?}");
    };
    run(&["netns", "add", &name]);
    let mut ns = Netns {
        name: name.clone(),
        hole: None,
    };
    run(&["-n", &name, "link", "set", "lo", "up"]);
    // Inside the namespace the resolver is a loopback listener that never replies.
    std::fs::create_dir_all(format!("/etc/netns/{name}")).unwrap();
    std::fs::write(
        format!("/etc/netns/{name}/resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:10 attempts:3\n",
    )
    .unwrap();
    let hole = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "python3", "-c"])
        .arg("import socket,time\nu=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nu.bind(('127.0.0.1',53))\nt=socket.socket()\nt.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\nt.bind(('127.0.0.1',53))\nt.listen(8)\ntime.sleep(120)\n")
        .spawn()
        .unwrap();
    ns.hole = Some(hole);
    std::thread::sleep(Duration::from_millis(500));

    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  User abc123\n");
    let profile = loopback_profile(home.path(), &[("slurm", "login.mlcd-test.invalid", 22)], "");
    let bin = assert_cmd::cargo::cargo_bin("mlc-doctor");
    let tmp = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(&bin)
        .arg("--home")
        .arg(home.path())
        .args(["--profile", profile.to_str().unwrap()])
        .args(["--timeout", "2", "--no-bundle", "--no-openssh", "--json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let r = parse_report(&out);
    assert_eq!(severity(&r, "net.dns"), "fail", "{}", r["findings"]);
    // The resolver would take 30 s (10 s × 3 attempts); the process ends with the step.
    assert!(
        elapsed < Duration::from_millis(4_500),
        "the process exited after {elapsed:?}, not within --timeout 2"
    );
    // The lookup still under way held the config copy: it is gone all the same.
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(ns);
}

#[test]
fn ordinary_setups_never_cost_the_bundle() {
    // An RSA 4096 key with a passphrase (the site's own policy): its private file holds
    // lines of the public key, which the bundle ships on purpose.
    let home = TestHome::new();
    let key = home.ssh().join("id_rsa");
    let st = std::process::Command::new("ssh-keygen")
        .args([
            "-q", "-t", "rsa", "-b", "4096", "-a", "16", "-N", "secretpw", "-C", "", "-f",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    home.write(
        ".ssh/config",
        "Host slurm\n  User abc123\n  IdentityFile ~/.ssh/id_rsa\n  ServerAliveInterval 30s\nInclude work\n",
    );
    home.write(".ssh/work", "Host x\n  ConnectTimeout notanumber\n");
    // Login names that are words of the bundle itself.
    for login in ["user", "ssh", "host"] {
        let zip = home.path().join(format!("{login}.zip"));
        let out = home
            .cmd(&["--offline", "--bundle", zip.to_str().unwrap()])
            .env("USER", login)
            .env("LOGNAME", login)
            .output()
            .unwrap();
        assert_ne!(
            out.status.code(),
            Some(3),
            "{login}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(zip.exists());
        let texts = read_zip_text(&zip);
        assert!(
            texts.iter().any(|(n, _)| n == "ssh/config.txt"),
            "file names kept"
        );
    }
}

/// An interrupted run (SIGTERM while a node keeps it waiting) exits with 130 and leaves
/// none of the doctor's temporary copies (the config it hands to OpenSSH) behind.
#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_no_temporary_copy() {
    use std::time::{Duration, Instant};
    // A node that accepts connections and never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let home = TestHome::with_config(crate::common::loopback_host(port, ""));
    let profile = crate::common::loopback_profile(home.path(), &[("slurm", "127.0.0.1", port)], "");
    let tmp = tempfile::tempdir().unwrap();
    let mut child = home
        .cmd(&[
            "--profile",
            profile.to_str().unwrap(),
            "--timeout",
            "20",
            "--no-bundle",
        ])
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let ours = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("mlc-doctor-"))
            .collect()
    };
    let started = Instant::now();
    while ours(tmp.path()).is_empty() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        ours(tmp.path())
            .iter()
            .any(|n| n.starts_with("mlc-doctor-cfg-")),
        "the run made its config copy: {:?}",
        ours(tmp.path())
    );
    std::thread::sleep(Duration::from_millis(200));
    let status = signal_and_wait(&mut child, "TERM", Duration::from_secs(10));
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(ours(tmp.path()), Vec::<String>::new(), "copies left behind");
}

#[test]
#[cfg(target_os = "linux")] // /proc tells whether the transcript still runs
fn an_interruption_stops_a_running_transcript() {
    let sshd = Sshd::start(&[fixture_pub("ed25519_100")], "");
    let home = sshd.home(Some("ed25519_100"));
    let profile = sshd.profile(&home, "");
    // An `ssh` that answers `-G` as OpenSSH does and hangs as `ssh -vvv`, noting its pid.
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("transcript.pid");
    let real = which_ssh();
    let fake = fake_ssh(
        dir.path(),
        &format!(
            "case \" $* \" in *\" -G \"*) exec {real} \"$@\";; esac\necho $$ > {}\nexec sleep 60\n",
            pid_file.display()
        ),
    );
    let mut child = home
        .cmd(&[
            "--profile",
            profile.to_str().unwrap(),
            "--ssh",
            fake.to_str().unwrap(),
            "--no-bundle",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !pid_file.exists() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let pid = std::fs::read_to_string(&pid_file)
        .expect("the transcript started")
        .trim()
        .to_string();
    let running = |pid: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.split(") ").nth(1).is_some_and(|r| !r.starts_with('Z')))
            .unwrap_or(false)
    };
    assert!(running(&pid), "the hung transcript runs");
    let status = signal_and_wait(&mut child, "INT", Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    // The transcript went with the run, not 60 s later.
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        !running(&pid)
    });
    assert!(
        gone,
        "ssh -vvv ({pid}) still runs after the doctor was interrupted"
    );
}

#[cfg(target_os = "linux")] // only the transcript interruption test needs it
fn which_ssh() -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v ssh"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends `SIG<signal>` to `child` with the shell's own `kill` (no procps needed) and waits
/// at most `limit` for it to exit.
fn signal_and_wait(
    child: &mut std::process::Child,
    signal: &str,
    limit: Duration,
) -> std::process::ExitStatus {
    let killed = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    let waited = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(waited.elapsed() < limit, "no exit after SIG{signal}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
