//! Property tests: the redaction engine's laws, and the config evaluator against the real
//! `ssh -G` on generated configs.
#![cfg(unix)] // modes, symlinks, a real OpenSSH: Unix only

use mlc_doctor::bundle::redact::{Category, Redactor};
use mlc_doctor::sshconfig::{evaluate, Config, Disk, EvalInput};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// `cases` cases; failures are kept in `properties.proptest-regressions` beside this file.
/// (proptest's default would look for `tests/proptest-regressions/properties.txt`, as this
/// binary's root has a `main.rs`.)
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

const SEEDS: &[(Category, &str)] = &[
    (Category::LoginName, "alice"),
    (Category::LocalHost, "alicebox"),
    (Category::Email, "alice@uni.example.org"),
    (Category::Host, "git.example.com"),
    (Category::Path, "/srv/data/x"),
    (Category::Command, "nc gw 22"),
    (Category::Token, "ghp_Tok3nValue123"),
    (Category::Ip, "fd00::7"),
];

fn redactor() -> Redactor {
    let mut r = Redactor::new(vec!["slurm".into(), "pbb111".into()]);
    for (c, v) in SEEDS {
        r.seed(*c, v);
    }
    r
}

fn text_with_seeds() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        "[a-z ./:@()]{0,12}".prop_map(|s| s),
        Just("alice".to_string()),
        Just("alicebox".to_string()),
        Just("alice@uni.example.org".to_string()),
        Just("git.example.com".to_string()),
        Just("/srv/data/x".to_string()),
        Just("nc gw 22".to_string()),
        Just("ghp_Tok3nValue123".to_string()),
        Just("fd00::7".to_string()),
        Just("slurm".to_string()),
        Just("pbb111".to_string()),
    ];
    proptest::collection::vec(word, 0..12).prop_map(|w| w.join(" "))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn redaction_is_idempotent_consistent_and_reversible(text in text_with_seeds()) {
        let mut r = redactor();
        let once = r.redact(&text);
        prop_assert_eq!(r.redact(&once), once.clone());
        for (_, raw) in SEEDS {
            prop_assert!(mlc_doctor::bundle::redact::find_bounded(&once, raw).is_empty(), "{} left in {}", raw, once);
        }
        prop_assert!(once.contains("slurm") == text.contains("slurm"));
        prop_assert_eq!(Redactor::unmask(r.mappings(), &once), text);
    }

    #[test]
    fn the_allowlist_sweep_is_reversible_too(text in proptest::collection::vec(prop_oneof![
        "[a-z]{1,8}".prop_map(|s| s),
        "[a-z]{2,6}\\.[a-z]{2,6}\\.(com|org|net)".prop_map(|s| s),
        "/[a-z]{1,6}/[a-z]{1,6}".prop_map(|s| s),
        "10\\.[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}".prop_map(|s| s),
        Just("slurm".to_string()),
    ], 0..10).prop_map(|w| w.join(" "))) {
        let mut r = redactor();
        let vocab = mlc_doctor::bundle::allow::Vocabulary::new(vec!["slurm".to_string()], Vec::<String>::new(), Vec::<String>::new(), Vec::<String>::new());
        let once = r.redact(&text);
        r.sweep(&once, &vocab);
        let known = std::collections::BTreeSet::new();
        let twice = r.redact_except(&once, &known);
        prop_assert!(mlc_doctor::bundle::allow::unsafe_tokens(&twice, &vocab).is_empty(), "{}", twice);
        prop_assert_eq!(Redactor::unmask(r.mappings(), &twice), text);
    }

    #[test]
    fn text_without_seeds_is_untouched(text in "[a-z0-9 ./:_-]{0,80}") {
        let mut r = redactor();
        prop_assume!(SEEDS.iter().all(|(_, s)| !text.contains(s)));
        prop_assert_eq!(r.redact(&text), text);
    }
}

fn config_strategy() -> impl Strategy<Value = String> {
    let pattern = prop_oneof![
        Just("slurm"),
        Just("slurm*"),
        Just("*"),
        Just("!slurm2"),
        Just("slurm2"),
        Just("other"),
        Just("*-r2"),
        Just("s?urm")
    ];
    let option = prop_oneof![
        Just("User pbb111".to_string()),
        Just("User other".to_string()),
        Just("Port 2222".to_string()),
        Just("HostName %h.example.org".to_string()),
        Just("HostName h.example.org".to_string()),
        Just("IdentityFile ~/.ssh/a".to_string()),
        Just("IdentityFile ~/.ssh/b".to_string()),
        Just("IdentitiesOnly yes".to_string()),
        Just("BatchMode yes".to_string()),
        Just("PreferredAuthentications publickey".to_string()),
    ];
    let header = prop_oneof![
        proptest::collection::vec(pattern, 1..3).prop_map(|p| format!("Host {}", p.join(" "))),
        Just("Match host h.example.org".to_string()),
        Just("Match originalhost slurm*".to_string()),
        Just("Match user pbb111".to_string()),
        Just("Match all".to_string()),
    ];
    let block = (header, proptest::collection::vec(option, 0..4)).prop_map(|(h, opts)| {
        format!(
            "{h}\n{}",
            opts.iter().map(|o| format!("  {o}\n")).collect::<String>()
        )
    });
    (
        proptest::collection::vec(block, 0..5),
        proptest::collection::vec(Just("Port 2200".to_string()), 0..2),
    )
        .prop_map(|(blocks, top)| {
            format!(
                "{}{}",
                top.iter().map(|t| format!("{t}\n")).collect::<String>(),
                blocks.concat()
            )
        })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn evaluation_equals_ssh_dash_g_on_generated_configs(config in config_strategy()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(&path, &config).unwrap();
        let cfg = Config::load(&Disk, Some(&path), None, dir.path(), None);
        let login = mlc_doctor::platform::login_name().unwrap();
        for alias in ["slurm", "slurm2", "slurm-r2"] {
            let out = std::process::Command::new("ssh").args(["-G", "-F"]).arg(&path).arg(alias).output().expect("ssh");
            prop_assert!(out.status.success());
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let get = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
            let e = evaluate(&cfg, &EvalInput { alias, local_user: &login });
            prop_assert_eq!(Some(e.hostname(alias)), get("hostname"), "hostname for {} in\n{}", alias, config);
            prop_assert_eq!(Some(e.port().to_string()), get("port"), "port for {} in\n{}", alias, config);
            prop_assert_eq!(Some(e.user().unwrap_or(&login).to_string()), get("user"), "user for {} in\n{}", alias, config);
            let ids: Vec<String> = text.lines().filter_map(|l| l.strip_prefix("identityfile ")).map(str::to_string).collect();
            if !e.identity_files().is_empty() {
                prop_assert_eq!(e.identity_files().iter().map(|s| s.to_string()).collect::<Vec<_>>(), ids, "identityfile for {} in\n{}", alias, config);
            }
            let yn = |b: Option<bool>| if b == Some(true) { "yes" } else { "no" }.to_string();
            prop_assert_eq!(Some(yn(e.flag("batchmode"))), get("batchmode"));
            prop_assert_eq!(Some(yn(e.flag("identitiesonly"))), get("identitiesonly"));
            prop_assert_eq!(e.preferred_authentications().map(str::to_string), get("preferredauthentications"));
        }
    }
}
