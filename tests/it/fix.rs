//! `mlc-doctor fix`: every kind of fix, the diff, the backup, idempotence, and the path
//! without a terminal (print only).
#![cfg(unix)] // modes, symlinks, sh, a real OpenSSH: Unix only

use crate::common::*;

const CONFIG: &str = "# my config\nUseKeychain yes\nHost slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User ml-cloud-user-id\n  IdentityFile ~/.ssh/id_ed25519\n\nHost github.com\n  User git\n";

fn broken_home() -> TestHome {
    let home = TestHome::new();
    home.write(".ssh/config", CONFIG);
    home.key("ed25519_100", "id_ed25519");
    home.write(".ssh/known_hosts", "example.org ssh-ed25519 AAAA\n");
    home.chmod(".ssh/config", 0o664);
    home.chmod(".ssh/id_ed25519", 0o644);
    home.chmod(".ssh", 0o755);
    home
}

#[test]
fn without_a_terminal_fix_only_prints_the_plan() {
    let home = broken_home();
    let out = home.fix(&["--user", "abc123"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(text.contains("--- ~/.ssh/config"), "{text}");
    assert!(text.contains("chmod 600 ~/.ssh/id_ed25519"), "{text}");
    assert!(text.contains("Nothing was changed"), "{text}");
    // The command to apply it is for this home and this username, not the default ones.
    let apply = format!(
        "`mlc-doctor fix --home {} --user abc123 --yes`",
        home.path().display()
    );
    assert!(text.contains(&apply), "{text}");
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        CONFIG
    );
    assert_eq!(home.mode(".ssh/id_ed25519"), 0o644);
}

#[test]
fn every_fix_kind_applies_with_a_backup_and_a_second_run_changes_nothing() {
    let home = broken_home();
    let key_before = std::fs::read(home.ssh().join("id_ed25519")).unwrap();
    let kh_before = std::fs::read(home.ssh().join("known_hosts")).unwrap();
    let run = || home.fix(&["--yes", "--user", "abc123"]);
    let out = run();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("done: wrote ~/.ssh/config"), "{text}");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    // Placeholder user replaced, macOS option ignored elsewhere, IdentitiesOnly added,
    // the missing login nodes added; comments and other blocks kept.
    assert!(config.contains("User abc123") && !config.contains("ml-cloud-user-id"));
    if !cfg!(target_os = "macos") {
        assert!(
            config.starts_with("IgnoreUnknown UseKeychain\n"),
            "{config}"
        );
    }
    assert!(
        config.contains("Host slurm\n  IdentitiesOnly yes\n"),
        "{config}"
    );
    for alias in ["slurm2", "slurm-r2", "slurm1-r2"] {
        assert!(config.contains(&format!("Host {alias}\n")), "{config}");
    }
    assert!(config.contains("# my config\n") && config.contains("Host github.com\n  User git\n"));
    // Modes.
    assert_eq!(home.mode(".ssh"), 0o700);
    assert_eq!(home.mode(".ssh/config"), 0o600);
    assert_eq!(home.mode(".ssh/id_ed25519"), 0o600);
    // The backup holds the old config; keys and known_hosts are untouched.
    let backups: Vec<_> = std::fs::read_dir(home.ssh())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".mlc-doctor-"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), CONFIG);
    assert_eq!(
        std::fs::read(home.ssh().join("id_ed25519")).unwrap(),
        key_before
    );
    assert_eq!(
        std::fs::read(home.ssh().join("known_hosts")).unwrap(),
        kh_before
    );
    // The checks ran again: the new diagnosis has no local failure.
    assert!(text.contains("The checks again"), "{text}");
    let (_, r) = home.json(&["--offline", "--user", "abc123"]);
    for id in [
        "config.syntax",
        "config.user",
        "perm.private-key",
        "perm.config",
    ] {
        assert_ne!(worst(&r, id), "fail", "{id} still fails");
    }
    // Idempotent.
    let again = run();
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains("Nothing to fix"), "{text}");
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        config
    );
}

#[test]
fn fix_never_writes_through_a_link() {
    let home = TestHome::new();
    let outside = home.path().join("elsewhere-config");
    std::fs::write(&outside, "Host slurm\n  User ml-cloud-user-id\n").unwrap();
    std::os::unix::fs::symlink(&outside, home.ssh().join("config")).unwrap();
    let out = home.fix(&["--yes", "--user", "abc123"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("is a link"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&outside).unwrap(),
        "Host slurm\n  User ml-cloud-user-id\n"
    );
}

#[test]
fn fix_changes_only_what_it_means_to() {
    // `user user`: only the value is replaced.
    let home = TestHome::new();
    home.write(".ssh/config", "Host slurm\n  user user\n");
    let run = |home: &TestHome| home.fix(&["--yes", "--user", "abc123"]);
    run(&home);
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(config.contains("  user abc123\n"), "{config}");
    // A config larger than what the checks keep, and one that is not UTF-8: nothing lost.
    for body in [
        {
            let mut b = b"Host slurm\n  User user\n".to_vec();
            b.extend(b"# padding\n".repeat(40_000));
            b.extend(b"Host end\n  User keep\n");
            b
        },
        b"# J\xf6rg\nHost slurm\n  User user\n".to_vec(),
    ] {
        let home = TestHome::new();
        home.write(".ssh/config", &body);
        run(&home);
        let after = std::fs::read(home.ssh().join("config")).unwrap();
        if std::str::from_utf8(&body).is_err() {
            assert_eq!(after, body, "a non-UTF-8 config is left alone");
        } else {
            let text = String::from_utf8(after.clone()).unwrap();
            assert!(
                text.contains("# padding\nHost end\n  User keep\n"),
                "the tail was lost"
            );
            assert!(after.len() >= body.len());
        }
    }
}

#[test]
fn fix_refuses_a_username_the_site_would_flag() {
    let home = TestHome::with_config("Host slurm\n  User ml-cloud-user-id\n");
    // The last five would be read differently in ~/.ssh/config (a stray quote makes
    // OpenSSH refuse the file), whatever the site's pattern says.
    for bad in [
        "ab1234",
        "ml-cloud-user-id",
        "jane@uni-tuebingen.de",
        "abc\"123",
        "ab'c",
        "#abc",
        "a%u",
        "a${HOME}",
    ] {
        let out = home.fix(&["--yes", "--user", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        // Settings already refuse what is no username at all (an e-mail address).
        assert!(err.contains("not a username"), "{bad}: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        "Host slurm\n  User ml-cloud-user-id\n",
        "nothing was written"
    );
}

#[test]
fn new_host_blocks_go_above_a_host_star_that_would_win() {
    // OpenSSH keeps the first value it reads: blocks appended after this `Host *` would
    // get its User and IdentityFile first.
    let config = "IgnoreUnknown Foo\n\nHost github.com\n  User git\n\n# defaults for everything\nHost *\n  User someone-else\n  IdentityFile ~/.ssh/other\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    // The report says where the block goes, for one alias and in the diagnosis.
    let words = alias_remedy(&home);
    assert!(words.contains("above line 7 (`Host *`)"), "{words}");
    let said = applied(&home);
    assert!(said.contains("done: wrote ~/.ssh/config"), "{said}");
    let after = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    let new_block = after.find("Host slurm\n").expect("a block for slurm");
    assert!(
        after.find("IgnoreUnknown Foo").unwrap() < new_block
            && new_block < after.find("# defaults for everything").unwrap(),
        "{after}"
    );
    assert!(after.contains("Host github.com\n  User git\n"), "{after}");
    assert_the_new_block_wins(&home);
}

#[test]
fn new_host_blocks_go_above_a_block_whose_include_would_win() {
    // The Host * block sets nothing itself: its Include does.
    let home = TestHome::new();
    let defaults = home.write(".ssh/defaults", "User someone-else\n");
    home.write(
        ".ssh/config",
        format!(
            "Host github.com\n  User git\n\nHost *\n  Include {}\n",
            defaults.display()
        ),
    );
    home.key("ed25519_100", "id_ed25519");
    home.fix(&["--yes", "--user", "abc123"]);
    let after = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    let new_block = after.find("Host slurm\n").expect("a block for slurm");
    assert!(
        after.find("Host github.com").unwrap() < new_block
            && new_block < after.find("Host *").unwrap(),
        "{after}"
    );
    let g = ssh_g(&home, "slurm");
    assert!(g.lines().any(|l| l == "user abc123"), "{g}");
}

#[test]
fn settings_outside_any_block_move_under_host_star_below_the_new_blocks() {
    // Written before the first Host line, these apply to every host and come first: a
    // block appended below could not override them.
    let config = "# my config\nUser someone-else\nIdentityFile ~/.ssh/other\n\nHost github.com\n  User git\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    home.key("ed25519_16", "other");
    let words = alias_remedy(&home);
    assert!(
        words.contains("to the top of ~/.ssh/config, above line 2, and a line `Host *`"),
        "{words}"
    );
    let said = applied(&home);
    assert!(said.contains("with `Host *` after them"), "{said}");
    let after = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    // The new blocks first, then `Host *` above what stood outside any block, unchanged.
    let new_block = after.find("Host slurm\n").expect("a block for slurm");
    let star = after
        .find("Host *\n# my config\nUser someone-else\nIdentityFile ~/.ssh/other\n")
        .unwrap_or_else(|| panic!("the old top under Host *: {after}"));
    assert!(new_block < star, "{after}");
    assert!(after.ends_with("Host github.com\n  User git\n"), "{after}");
    // What the real OpenSSH makes of it: the new block wins for the login node (and a
    // second run adds nothing)...
    assert_the_new_block_wins(&home);
    // ...and every other host keeps what the top of the file gave it.
    let other = ssh_g(&home, "example.org");
    assert!(other.lines().any(|l| l == "user someone-else"), "{other}");
    assert!(
        other
            .lines()
            .any(|l| l.starts_with("identityfile ") && l.ends_with("/.ssh/other")),
        "{other}"
    );
}

#[test]
fn new_host_blocks_go_above_an_include_outside_any_block_that_would_win() {
    // The Include stands outside any block; the file it pulls in opens with `Host *`.
    let home = TestHome::new();
    home.write(".ssh/conf.d/a.conf", "Host *\n  User ml-cloud-user-id\n");
    home.write(".ssh/config", "Include conf.d/*\n\nHost other\n  User x\n");
    home.key("ed25519_100", "id_ed25519");
    let before = ["other", "example.org"].map(|h| ssh_g(&home, h));
    home.fix(&["--yes", "--user", "abc123"]);
    let after = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    let new_block = after.find("Host slurm\n").expect("a block for slurm");
    assert!(
        new_block
            < after
                .find("Host *\nInclude conf.d/*\n")
                .expect("the Include under Host *"),
        "{after}"
    );
    assert!(ssh_g(&home, "slurm").lines().any(|l| l == "user abc123"));
    // Every other host reads the same as before.
    assert_eq!(["other", "example.org"].map(|h| ssh_g(&home, h)), before);
}

#[test]
fn an_identity_file_naming_a_missing_key_is_pointed_at_the_unused_one() {
    let home = TestHome::with_config(
        "Host *\n  IdentityFile ~/.ssh/gone_key\n\nHost slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n",
    );
    home.key("ed25519_100", "id_ed25519");
    let (_, before) = home.json(&["--offline"]);
    assert_eq!(before["diagnosis"][0]["id"], "diagnosis.no-key");
    let said = applied(&home);
    assert!(said.contains("IdentityFile on line 2"), "{said}");
    let after = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(
        after.contains("Host *\n  IdentityFile ~/.ssh/id_ed25519\n"),
        "{after}"
    );
    // The key now reaches the node.
    let (_, again) = home.json(&["--offline", "--node", "slurm"]);
    assert_eq!(
        severity(&again, "key.present"),
        "pass",
        "{}",
        again["findings"]
    );
}

/// The words of the `config.alias` remedy for `slurm`: where the report says its block goes.
fn alias_remedy(home: &TestHome) -> String {
    let (_, report) = home.json(&["--offline"]);
    let alias = findings(&report, "config.alias")
        .into_iter()
        .find(|f| f["subject"] == "Host slurm")
        .expect("config.alias for slurm");
    alias["remedy"]["text"].as_str().unwrap().to_string()
}

/// After `fix --user abc123`: the real OpenSSH takes the new block's User and key first
/// for `slurm`, and a second run of fix has no block left to add.
fn assert_the_new_block_wins(home: &TestHome) {
    let g = ssh_g(home, "slurm");
    assert!(g.lines().any(|l| l == "user abc123"), "{g}");
    let first_identity = g.lines().find(|l| l.starts_with("identityfile ")).unwrap();
    assert!(
        first_identity.ends_with("/.ssh/id_ed25519"),
        "{first_identity}"
    );
    let again = home.fix(&["--yes", "--user", "abc123"]);
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(!text.contains("Host blocks for"), "{text}");
}

/// What the real OpenSSH makes of the home's config for `alias` (`ssh -G`).
fn ssh_g(home: &TestHome, alias: &str) -> String {
    let out = std::process::Command::new("ssh")
        .args(["-G", "-F"])
        .arg(home.ssh().join("config"))
        .arg(alias)
        .env("HOME", home.path())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_byte_order_mark_goes_and_openssh_reads_the_fixed_config() {
    let home = TestHome::with_config(
        "\u{feff}Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n  IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n",
    );
    home.key("ed25519_100", "id_ed25519");
    assert!(!std::process::Command::new("ssh")
        .args(["-G", "-F"])
        .arg(home.ssh().join("config"))
        .arg("slurm")
        .output()
        .unwrap()
        .status
        .success());
    let said = applied(&home);
    assert!(said.contains("byte-order mark"), "{said}");
    let after = std::fs::read(home.ssh().join("config")).unwrap();
    assert!(after.starts_with(b"Host slurm\n"), "{after:?}");
    assert!(ssh_g(&home, "slurm").lines().any(|l| l == "user abc123"));
}

#[test]
fn a_new_user_without_a_dot_ssh_folder_gets_one_and_a_config() {
    let home = TestHome::new();
    std::fs::remove_dir(home.ssh()).unwrap();
    let said = applied(&home);
    assert!(
        said.contains("done: created ~/.ssh (mode 700)\ndone: wrote ~/.ssh/config"),
        "{said}"
    );
    assert_eq!(home.mode(".ssh"), 0o700);
    assert_eq!(home.mode(".ssh/config"), 0o600);
    assert!(ssh_g(&home, "slurm2").lines().any(|l| l == "user abc123"));
}

#[test]
fn lines_in_an_included_file_are_named_for_editing_by_hand() {
    let home = TestHome::with_config("Include conf.d/mlcloud\n");
    home.write(
        ".ssh/conf.d/mlcloud",
        "Host slurm slurm2 slurm-r2 slurm1-r2\n  User ml-cloud-user-id\n  IdentityFile ~/.ssh/id_gone\n  IdentitiesOnly yes\n",
    );
    home.key("ed25519_100", "id_ed25519");
    let said = applied(&home);
    assert!(!said.contains("no local change would help"), "{said}");
    assert!(said.contains("By hand"), "{said}");
    assert!(
        said.contains(
            "User `ml-cloud-user-id` for slurm is a placeholder at ~/.ssh/conf.d/mlcloud:2"
        ),
        "{said}"
    );
    assert!(
        said.contains("IdentityFile `~/.ssh/id_gone` names no file (your key is ~/.ssh/id_ed25519) at ~/.ssh/conf.d/mlcloud:3"),
        "{said}"
    );
}

#[test]
fn identities_only_is_not_added_where_no_identity_file_exists() {
    // ssh offers the agent's keys here: IdentitiesOnly would leave it none to offer.
    let config = "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n  User abc123\n  IdentityFile ~/.ssh/id_gone\n\nHost slurm2 slurm-r2 slurm1-r2\n  User abc123\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    let said = applied(&home);
    assert!(!said.contains("IdentitiesOnly"), "{said}");
    let g = ssh_g(&home, "slurm");
    assert!(g.lines().any(|l| l == "identitiesonly no"), "{g}");
}

#[test]
fn a_closed_output_changes_nothing_and_panics_nowhere() {
    let home = broken_home();
    let mut child = doctor()
        .env("HOME", home.path())
        .args(["fix", "--yes", "--user", "abc123", "--home"])
        .arg(home.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader went away, as `| head -c0` does
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        CONFIG
    );
    assert_eq!(home.mode(".ssh/id_ed25519"), 0o644);
}

/// `fix --yes` on `home` with an agent at `sock`.
fn fix_with_agent(home: &TestHome, sock: &str) -> String {
    let out = doctor()
        .env("HOME", home.path())
        .env("SSH_AUTH_SOCK", sock)
        .args(["fix", "--yes", "--user", "abc123", "--home"])
        .arg(home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn where_the_agent_may_be_the_way_in_fix_leaves_identities_only_and_key_lines_out() {
    let keys = tempfile::tempdir().unwrap();
    let (agent, _) = crate::common::agent::Agent::with_fresh_keys(keys.path(), 1);
    // An IdentityFile that exists, and an agent key no IdentityFile names.
    let config =
        "Host slurm slurm2 slurm-r2 slurm1-r2\n  User abc123\n  IdentityFile ~/.ssh/id_ed25519\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    let said = fix_with_agent(&home, agent.sock());
    assert!(
        said.contains("IdentitiesOnly yes is not added for slurm"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        config
    );
    // A new user whose only key is in the agent: blocks without IdentityFile and
    // IdentitiesOnly, so that ssh still offers the agent's key.
    let home = TestHome::new();
    let said = fix_with_agent(&home, agent.sock());
    let written = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(written.contains("Host slurm\n"), "{said}");
    assert!(
        !written.contains("IdentityFile") && !written.contains("IdentitiesOnly"),
        "{written}"
    );
}

#[test]
fn with_an_agent_the_doctor_cannot_see_fix_leaves_identities_only_out() {
    let config = "Host slurm slurm2 slurm-r2 slurm1-r2\n  User abc123\n  IdentityFile ~/.ssh/id_ed25519\n  IdentityAgent ~/.1password/agent.sock\n";
    let home = TestHome::with_config(config);
    home.key("ed25519_100", "id_ed25519");
    let said = applied(&home);
    assert!(
        said.contains("IdentitiesOnly yes is not added for slurm"),
        "{said}"
    );
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        config
    );
}

/// What `fix --yes --user abc123` says on `home` (no terminal).
fn applied(home: &TestHome) -> String {
    let out = home.fix(&["--yes", "--user", "abc123"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn an_edited_file_keeps_its_mode() {
    let home = broken_home();
    home.chmod(".ssh", 0o700);
    home.chmod(".ssh/id_ed25519", 0o600);
    // Read-only on purpose: the edit is made, the mode stays (no chmod was shown).
    home.chmod(".ssh/config", 0o444);
    let out = home.fix(&["--yes", "--user", "abc123"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("chmod"), "{text}");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(config.contains("User abc123"), "{config}");
    assert_eq!(home.mode(".ssh/config"), 0o444);
}

#[test]
fn a_missing_user_is_added_to_the_nodes_own_block() {
    let home = TestHome::new();
    home.write(
        ".ssh/config",
        "Host slurm slurm2\n    HostName galvani-login.mlcloud.uni-tuebingen.de\n    IdentityFile ~/.ssh/id_ed25519\n",
    );
    home.key("ed25519_100", "id_ed25519");
    let nodes = ["--node", "slurm", "--node", "slurm2"];
    // Without the username there is no User to write.
    home.fix(&[&nodes[..], &["--yes"]].concat());
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(!config.contains("User"), "{config}");
    let out = home.fix(&[&nodes[..], &["--yes", "--user", "abc123"]].concat());
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    // Once for the block both aliases share, indented as the block is.
    assert!(
        config.starts_with("Host slurm slurm2\n    User abc123\n"),
        "{config}"
    );
    assert_eq!(config.matches("User abc123").count(), 1, "{config}");
    let again = home.fix(&[&nodes[..], &["--yes", "--user", "abc123"]].concat());
    assert_eq!(
        std::fs::read_to_string(home.ssh().join("config")).unwrap(),
        config,
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
}

#[test]
fn a_user_goes_only_into_a_block_of_the_login_nodes_alone() {
    // A block shared with another host: a User there would apply to it too.
    let home = TestHome::new();
    let shared =
        "Host slurm gitlab.example.org\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n";
    home.write(".ssh/config", shared);
    let out = home.fix(&["--node", "slurm", "--yes", "--user", "abc123"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("also serves other hosts"), "{text}");
    let config = std::fs::read_to_string(home.ssh().join("config")).unwrap();
    assert!(!config.contains("User"), "{config}");

    // No ~/.ssh/config, the node's block only in the system config: the new file gets a
    // Host block of its own, never a bare `User` line that would apply to every host.
    let home = TestHome::new();
    let system = home.path().join("ssh_config");
    std::fs::write(
        &system,
        "Host slurm\n  HostName galvani-login.mlcloud.uni-tuebingen.de\n",
    )
    .unwrap();
    let out = doctor()
        .env(mlc_doctor::platform::SYSTEM_CONFIG_VAR, &system)
        .args([
            "fix", "--node", "slurm", "--yes", "--user", "abc123", "--home",
        ])
        .arg(home.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if let Ok(config) = std::fs::read_to_string(home.ssh().join("config")) {
        let first = config.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        assert!(
            first.starts_with("Host ") || first.starts_with('#'),
            "{config}\n{text}"
        );
    }
}
