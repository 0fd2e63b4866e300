//! Platform rules run on this host with another `Os` in the context: macOS's UseKeychain,
//! Windows ACL verdicts and their PowerShell fixes, Windows paths in findings.

use std::path::Path;

use mlc_doctor::context::Context;
use mlc_doctor::finding::Severity;
use mlc_doctor::platform::windows::{Ace, Acl, FileRole};
use mlc_doctor::platform::Os;
use mlc_doctor::profile::Profile;
use mlc_doctor::runner::RunState;

fn config_findings(os: Os, config: &str) -> Vec<mlc_doctor::finding::Finding> {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/config"), config).unwrap();
    let mut ctx = Context::for_home(home.path(), Profile::embedded());
    ctx.os = os;
    let mut state = RunState::default();
    mlc_doctor::probes::config::run(&ctx, &mut state);
    state
        .findings
        .into_iter()
        .filter(|f| f.id == "config.syntax")
        .collect()
}

const KEYCHAIN: &str = "Host *\n    AddKeysToAgent yes\n    UseKeychain yes\n\nHost slurm\n    HostName galvani-login.mlcloud.uni-tuebingen.de\n    User pbb111\n";

#[test]
fn use_keychain_is_valid_on_macos_only() {
    let mac = config_findings(Os::MacOs, KEYCHAIN);
    assert!(
        mac.iter().all(|f| f.severity == Severity::Pass),
        "macOS: {mac:#?}"
    );
    let linux = config_findings(Os::Linux, KEYCHAIN);
    let f = linux
        .iter()
        .find(|f| f.severity == Severity::Fail)
        .expect("UseKeychain is an error for Linux's ssh");
    let remedy = f.remedy.as_ref().unwrap();
    assert!(
        remedy.text.contains("IgnoreUnknown UseKeychain"),
        "{remedy:?}"
    );
    assert_eq!(remedy.command.as_deref(), Some("IgnoreUnknown UseKeychain"));
    // With IgnoreUnknown, every system accepts the file.
    let shared = format!("IgnoreUnknown UseKeychain\n{KEYCHAIN}");
    for os in [Os::Linux, Os::Windows, Os::MacOs] {
        let found = config_findings(os, &shared);
        assert!(
            found.iter().all(|f| f.severity == Severity::Pass),
            "{os:?}: {found:#?}"
        );
    }
}

const USER: &str = "S-1-5-21-100-200-300-1001";

fn acl(entries: &[(&str, &str, u32)]) -> Acl {
    Acl {
        owner_sid: USER.into(),
        owner_name: "LAPTOP\\ana".into(),
        entries: entries
            .iter()
            .map(|(sid, name, rights)| Ace {
                sid: sid.to_string(),
                name: name.to_string(),
                allow: true,
                rights: *rights,
            })
            .collect(),
    }
}

#[test]
fn windows_acl_verdicts_name_the_accounts_and_fix_with_icacls() {
    let home = Path::new("/home/ana");
    let mut ctx = Context::for_home(home, Profile::embedded());
    ctx.os = Os::Windows;
    let key = home.join(".ssh").join("id_ed25519");
    let inherited = acl(&[
        (USER, "LAPTOP\\ana", 0x1F01FF),
        ("S-1-5-18", "NT AUTHORITY\\SYSTEM", 0x1F01FF),
        ("S-1-5-32-545", "BUILTIN\\Users", 0x120089),
    ]);
    let f = mlc_doctor::probes::perms::acl_finding(
        &ctx,
        mlc_doctor::check::CheckId::PermPrivateKey,
        &key,
        FileRole::PrivateKey,
        &inherited,
        USER,
        Severity::Fail,
    );
    assert_eq!(f.severity, Severity::Fail);
    assert_eq!(f.subject, "~/.ssh/id_ed25519");
    assert!(
        f.summary.contains("BUILTIN\\Users (S-1-5-32-545)"),
        "{}",
        f.summary
    );
    assert!(f.summary.contains("UNPROTECTED PRIVATE KEY FILE"));
    let cmd = f.remedy.as_ref().unwrap().command.clone().unwrap();
    assert!(cmd.starts_with("$me = \"*$([Security.Principal.WindowsIdentity]::GetCurrent().User)\"; icacls \"$env:USERPROFILE\\.ssh\\id_ed25519\" /inheritance:r /grant:r \"$($me):F\""), "{cmd}");
    assert!(cmd.contains("/remove \"*S-1-5-32-545\""), "{cmd}");
    assert!(!cmd.contains("chmod") && !cmd.contains('~'));

    // The same ACL on the config: others may read it.
    let config = home.join(".ssh").join("config");
    let f = mlc_doctor::probes::perms::acl_finding(
        &ctx,
        mlc_doctor::check::CheckId::PermConfig,
        &config,
        FileRole::Shared,
        &inherited,
        USER,
        Severity::Fail,
    );
    assert_eq!(f.severity, Severity::Pass, "{f:?}");

    // Write access for Authenticated Users stops OpenSSH.
    let writable = acl(&[
        (USER, "LAPTOP\\ana", 0x1F01FF),
        ("S-1-5-11", "NT AUTHORITY\\Authenticated Users", 0x1301BF),
    ]);
    let f = mlc_doctor::probes::perms::acl_finding(
        &ctx,
        mlc_doctor::check::CheckId::PermConfig,
        &config,
        FileRole::Shared,
        &writable,
        USER,
        Severity::Fail,
    );
    assert_eq!(f.severity, Severity::Fail);
    assert!(f.summary.contains("Bad owner or permissions"));
    assert!(f.summary.contains("S-1-5-11"));
}

#[test]
fn windows_no_user_says_what_openssh_for_windows_sends() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::write(
        home.path().join(".ssh/config"),
        "Host slurm\n    HostName galvani-login.mlcloud.uni-tuebingen.de\n",
    )
    .unwrap();
    let mut ctx = Context::for_home(home.path(), Profile::embedded());
    ctx.os = Os::Windows;
    ctx.local_user = "Ana".into();
    let mut state = RunState::default();
    mlc_doctor::probes::config::run(&ctx, &mut state);
    let f = state
        .findings
        .iter()
        .find(|f| f.id == "config.user" && f.node.as_deref() == Some("slurm"))
        .expect("config.user for slurm");
    assert!(f.summary.contains("`ana`"), "{}", f.summary);
    assert!(f.detail.as_deref().unwrap_or("").contains("lowercase"));
}

async fn agent_finding(os: Os, env: &[(&str, &str)]) -> mlc_doctor::finding::Finding {
    let mut ctx = Context::for_home(Path::new("/nonexistent-home"), Profile::embedded());
    ctx.os = os;
    ctx.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (found, _) = mlc_doctor::probes::keys::agent(&ctx, &[], &[]).await;
    found
        .into_iter()
        .find(|f| f.id == "key.agent")
        .expect("a key.agent finding")
}

#[tokio::test]
async fn the_agent_advice_fits_the_platform() {
    // Windows: no SSH_AUTH_SOCK means the service's pipe; not running, say how to start it.
    let f = agent_finding(Os::Windows, &[]).await;
    let cmd = f.remedy.as_ref().unwrap().command.clone().unwrap();
    assert!(
        cmd.starts_with(
            "Get-Service ssh-agent | Set-Service -StartupType Manual; Start-Service ssh-agent"
        ),
        "{cmd}"
    );
    assert!(!cmd.contains("eval"));
    // macOS: launchd and the Keychain.
    let f = agent_finding(Os::MacOs, &[]).await;
    let detail = f.detail.unwrap_or_default();
    assert!(detail.contains("launchd"), "{detail}");
    assert!(detail.contains("ssh-add --apple-use-keychain"), "{detail}");
    assert!(detail.contains("UseKeychain yes"), "{detail}");
    // Linux: the plain words.
    let f = agent_finding(Os::Linux, &[]).await;
    assert!(f.detail.is_none());
}

#[test]
fn diagnosis_steps_speak_powershell_for_a_windows_report() {
    use mlc_doctor::finding::Finding;
    let commands = |os: Os| -> Vec<String> {
        let findings = vec![Finding::fail(
            mlc_doctor::check::CheckId::KeyPresent,
            "~/.ssh",
            "no private key",
        )];
        mlc_doctor::diagnosis::diagnose(
            &findings,
            os.shell(),
            &mlc_doctor::profile::Profile::embedded(),
        )
        .into_iter()
        .find(|d| d.id == "diagnosis.no-key")
        .expect("diagnosis.no-key")
        .steps
        .into_iter()
        .filter_map(|s| s.command)
        .collect()
    };
    let windows = commands(Os::Windows);
    assert_eq!(
        windows[0],
        "ssh-keygen -t ed25519 -a 100 -f \"$env:USERPROFILE\\.ssh\\id_ed25519\""
    );
    assert!(
        windows[1]
            .starts_with("Get-Content \"$env:USERPROFILE\\.ssh\\id_ed25519.pub\" | ssh slurm"),
        "{}",
        windows[1]
    );
    let linux = commands(Os::Linux);
    assert_eq!(
        linux[0],
        "ssh-keygen -t ed25519 -a 100 -f ~/.ssh/id_ed25519"
    );
    assert_eq!(linux[1], "ssh-copy-id -i ~/.ssh/id_ed25519.pub slurm");
}

#[test]
fn a_config_saved_by_powershell_gets_a_powershell_fix() {
    // PowerShell 5.1's `>` writes UTF-16 LE with a BOM.
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "Host slurm\r\n    User pbb111\r\n".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::write(home.path().join(".ssh/config"), &utf16).unwrap();
    let mut ctx = Context::for_home(home.path(), Profile::embedded());
    let mut state = RunState::default();
    let command = |ctx: &Context, state: &mut RunState| {
        mlc_doctor::probes::config::run(ctx, state);
        state
            .findings
            .iter()
            .find(|f| f.id == "config.syntax" && f.severity == Severity::Fail)
            .and_then(|f| f.remedy.as_ref()?.command.clone())
            .expect("a fix for the UTF-16 config")
    };
    assert!(command(&ctx, &mut state).starts_with("iconv -f UTF-16 -t UTF-8 ~/.ssh/config"));
    ctx.os = Os::Windows;
    let mut state = RunState::default();
    assert_eq!(
        command(&ctx, &mut state),
        "[IO.File]::WriteAllText(\"$env:USERPROFILE\\.ssh\\config\", [IO.File]::ReadAllText(\"$env:USERPROFILE\\.ssh\\config\"))"
    );
}

#[test]
fn macos_names_which_ssh_runs() {
    use mlc_doctor::finding::Finding;
    use mlc_doctor::probes::env::OpenSsh;
    let summary = |os: Os, path: &str| {
        let mut ctx = Context::for_home(Path::new("/Users/ana"), Profile::embedded());
        ctx.os = os;
        let mut state = RunState::default();
        state.push([Finding::pass(
            mlc_doctor::check::CheckId::EnvOpenssh,
            path,
            "OpenSSH 9.8",
        )]);
        state.openssh = Some(OpenSsh {
            path: path.into(),
            banner: "OpenSSH_9.8p1".into(),
            major: 9,
            minor: 8,
        });
        mlc_doctor::probes::env::name_the_client(&ctx, &mut state);
        state.findings[0].summary.clone()
    };
    assert!(summary(Os::MacOs, "/opt/homebrew/bin/ssh").contains("Homebrew's OpenSSH"));
    assert!(summary(Os::MacOs, "/usr/bin/ssh").contains("Apple's ssh"));
    assert_eq!(summary(Os::Linux, "/usr/bin/ssh"), "OpenSSH 9.8");
}
