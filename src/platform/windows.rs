//! Windows rules, as OpenSSH for Windows applies them: file access by ACL, paths,
//! PowerShell fix commands, the agent's pipe, PuTTY's saved sessions. Everything here
//! except [`sys`] is plain data in, data out, and unit-tested on every host.

use std::path::PathBuf;

/// OpenSSH for Windows' agent service pipe, used when `SSH_AUTH_SOCK` is unset.
pub const AGENT_PIPE: &str = r"\\.\pipe\openssh-ssh-agent";

/// Enables the (by default disabled) agent service; needs an administrator PowerShell.
pub const AGENT_ENABLE: &str =
    "Get-Service ssh-agent | Set-Service -StartupType Manual; Start-Service ssh-agent";

/// Well-known SIDs OpenSSH for Windows trusts as owners and in ACLs.
pub const SID_ADMINISTRATORS: &str = "S-1-5-32-544";
pub const SID_SYSTEM: &str = "S-1-5-18";
pub const SID_TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";

/// Joins a Windows base path and components with `\`, whatever the host.
pub fn join(base: &str, parts: &[&str]) -> PathBuf {
    let mut s = base.trim_end_matches(['\\', '/']).to_string();
    for p in parts {
        s.push('\\');
        s.push_str(p);
    }
    PathBuf::from(s)
}

/// A path inside the profile written for PowerShell: `"$env:USERPROFILE\.ssh\id_ed25519"`.
/// Double quotes keep spaces together and still expand the variable; `~` is not expanded
/// for native programs such as icacls in Windows PowerShell 5.1.
pub fn ps_profile_path(rest: &str) -> String {
    let rest = rest.replace('/', "\\");
    let rest = rest.trim_start_matches('\\');
    // PowerShell ends a double-quoted string at `"` and at the curly double quotes too.
    let mut quoted = String::with_capacity(rest.len());
    for c in rest.chars() {
        if matches!(c, '`' | '"' | '$' | '\u{201c}' | '\u{201d}' | '\u{201e}') {
            quoted.push('`');
        }
        quoted.push(c);
    }
    if quoted.is_empty() {
        "\"$env:USERPROFILE\"".to_string()
    } else {
        format!("\"$env:USERPROFILE\\{quoted}\"")
    }
}

/// Any other path for PowerShell: single-quoted (no expansion inside). PowerShell also
/// ends such a string at the curly single quotes (U+2018–U+201B): each is doubled too.
pub fn ps_literal(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 2);
    out.push('\'');
    for c in path.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201a}' | '\u{201b}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

// Access rights (winnt.h) that let a SID change a file or its protection.
const FILE_WRITE_DATA: u32 = 0x0002;
const FILE_APPEND_DATA: u32 = 0x0004;
const FILE_WRITE_EA: u32 = 0x0010;
const FILE_WRITE_ATTRIBUTES: u32 = 0x0100;
const DELETE: u32 = 0x0001_0000;
const WRITE_DAC: u32 = 0x0004_0000;
const WRITE_OWNER: u32 = 0x0008_0000;
const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;

/// The rights that count as "may write" for a config file.
pub const WRITE_RIGHTS: u32 = FILE_WRITE_DATA
    | FILE_APPEND_DATA
    | FILE_WRITE_EA
    | FILE_WRITE_ATTRIBUTES
    | DELETE
    | WRITE_DAC
    | WRITE_OWNER
    | GENERIC_ALL
    | GENERIC_WRITE;

/// One access control entry: who, allowed or denied, which rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ace {
    pub sid: String,
    /// The account name (`BUILTIN\Users`), or the SID when it has none.
    pub name: String,
    pub allow: bool,
    pub rights: u32,
}

/// Owner and entries of a file's security descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    pub owner_sid: String,
    pub owner_name: String,
    pub entries: Vec<Ace>,
}

/// Which of OpenSSH's two rules applies to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// Private keys: nobody but the trusted SIDs may have any allow entry.
    PrivateKey,
    /// Config and known_hosts files, ~/.ssh: others may read, not write.
    Shared,
}

/// What OpenSSH for Windows would say about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclVerdict {
    /// The owner when it is not one OpenSSH accepts: (SID, name).
    pub bad_owner: Option<(String, String)>,
    /// Allow entries OpenSSH objects to: (SID, name), once each.
    pub offenders: Vec<(String, String)>,
}

impl AclVerdict {
    /// True when OpenSSH accepts the file.
    pub fn ok(&self) -> bool {
        self.bad_owner.is_none() && self.offenders.is_empty()
    }

    /// `BUILTIN\Users (S-1-5-32-545), Everyone (S-1-1-0)`.
    pub fn offenders_words(&self) -> String {
        self.offenders
            .iter()
            .map(|(sid, name)| {
                if name == sid || name.is_empty() {
                    sid.clone()
                } else {
                    format!("{name} ({sid})")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// True for the SIDs OpenSSH for Windows trusts besides the user.
pub fn is_trusted(sid: &str, user_sid: &str) -> bool {
    sid.eq_ignore_ascii_case(user_sid)
        || sid == SID_ADMINISTRATORS
        || sid == SID_SYSTEM
        || sid == SID_TRUSTED_INSTALLER
}

/// OpenSSH for Windows' rule (`check_secure_file_permission`): the owner must be the user,
/// Administrators, SYSTEM or TrustedInstaller; deny entries never matter; for a private key
/// every allow entry must belong to those, for other files others may hold no write right.
pub fn evaluate(acl: &Acl, user_sid: &str, role: FileRole) -> AclVerdict {
    let bad_owner = (!is_trusted(&acl.owner_sid, user_sid))
        .then(|| (acl.owner_sid.clone(), acl.owner_name.clone()));
    let mut offenders: Vec<(String, String)> = Vec::new();
    for ace in acl.entries.iter().filter(|a| a.allow && a.rights != 0) {
        if is_trusted(&ace.sid, user_sid) {
            continue;
        }
        let objects = match role {
            FileRole::PrivateKey => true,
            FileRole::Shared => ace.rights & WRITE_RIGHTS != 0,
        };
        if objects && !offenders.iter().any(|(s, _)| s == &ace.sid) {
            offenders.push((ace.sid.clone(), ace.name.clone()));
        }
    }
    AclVerdict {
        bad_owner,
        offenders,
    }
}

/// The PowerShell commands that make a file acceptable: drop inherited entries, give the
/// user full control, remove each named SID; take ownership first when the owner is wrong.
/// `path` is already quoted for PowerShell. The user is named by SID (`*S-1-…`), which
/// icacls takes for any account: `$env:USERNAME` alone does not resolve for Microsoft Entra
/// ID (Azure AD) or some domain accounts ("No mapping between account names and security
/// IDs"). The SID is looked up when the line runs, so the report never holds it.
pub fn icacls_fix(path: &str, verdict: &AclVerdict) -> String {
    let mut cmds = vec![ICACLS_ME.to_string()];
    if verdict.bad_owner.is_some() {
        cmds.push(format!("icacls {path} /setowner $me"));
    }
    cmds.push(format!(
        "icacls {path} /inheritance:r /grant:r \"$($me):F\""
    ));
    for (sid, _) in &verdict.offenders {
        cmds.push(format!("icacls {path} /remove \"*{sid}\""));
    }
    cmds.join("; ")
}

/// PowerShell: the current user as icacls names an account by SID.
pub const ICACLS_ME: &str = "$me = \"*$([Security.Principal.WindowsIdentity]::GetCurrent().User)\"";

/// A PuTTY saved session: the values the doctor checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PuttySession {
    /// The session name, URL-unescaped (`ML Cloud`).
    pub name: String,
    pub host_name: Option<String>,
    pub port: Option<u16>,
    pub user_name: Option<String>,
    pub public_key_file: Option<String>,
}

/// PuTTY's saved sessions and cached host keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Putty {
    pub sessions: Vec<PuttySession>,
    /// `(algorithm, port, host)` of each cached host key.
    pub host_keys: Vec<(String, u16, String)>,
}

const PUTTY_KEY: &str = r"software\simontatham\putty";

/// Reads a registry export (`reg export HKCU\Software\SimonTatham\PuTTY file.reg`, UTF-16
/// with a byte-order mark, or UTF-8) into sessions and host keys. Never fails: what it
/// cannot read it leaves out.
pub fn parse_reg_export(bytes: &[u8]) -> Putty {
    let text = decode_reg(bytes);
    let mut out = Putty::default();
    enum Section {
        Session(usize),
        HostKeys,
        Other,
    }
    let mut section = Section::Other;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(key) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let lower = key.to_ascii_lowercase();
            let rel = lower
                .find(PUTTY_KEY)
                .map(|i| &key[i + PUTTY_KEY.len()..])
                .unwrap_or("");
            let rel_lower = rel.to_ascii_lowercase();
            section = if let Some(name) = rel_lower
                .strip_prefix("\\sessions\\")
                .map(|_| &rel["\\sessions\\".len()..])
                .filter(|n| !n.is_empty() && !n.contains('\\'))
            {
                out.sessions.push(PuttySession {
                    name: url_unescape(name),
                    ..PuttySession::default()
                });
                Section::Session(out.sessions.len() - 1)
            } else if rel_lower == "\\sshhostkeys" {
                Section::HostKeys
            } else {
                Section::Other
            };
            continue;
        }
        let Some((name, value)) = split_value(line) else {
            continue;
        };
        match section {
            Section::Session(i) => {
                let s = &mut out.sessions[i];
                match (name.to_ascii_lowercase().as_str(), value) {
                    ("hostname", RegValue::Str(v)) => s.host_name = non_empty(v),
                    ("portnumber", RegValue::Dword(v)) => s.port = u16::try_from(v).ok(),
                    ("username", RegValue::Str(v)) => s.user_name = non_empty(v),
                    ("publickeyfile", RegValue::Str(v)) => s.public_key_file = non_empty(v),
                    _ => {}
                }
            }
            Section::HostKeys => {
                out.host_keys.extend(parse_host_key_name(&name));
            }
            Section::Other => {}
        }
    }
    out
}

/// PuTTY's host key value name: `ssh-ed25519@22:galvani-login.example`.
pub(crate) fn parse_host_key_name(name: &str) -> Option<(String, u16, String)> {
    let (alg, rest) = name.split_once('@')?;
    let (port, host) = rest.split_once(':')?;
    Some((alg.to_string(), port.parse().ok()?, host.to_string()))
}

fn non_empty(v: String) -> Option<String> {
    (!v.trim().is_empty()).then_some(v)
}

enum RegValue {
    Str(String),
    Dword(u32),
    Other,
}

fn decode_reg(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    String::from_utf8_lossy(body).into_owned()
}

/// `"Name"=value` with the registry export's escaping (`\\`, `\"`).
fn split_value(line: &str) -> Option<(String, RegValue)> {
    let rest = line.strip_prefix('"')?;
    let (name, after) = read_quoted(rest)?;
    let value = after.trim_start().strip_prefix('=')?.trim();
    let v = if let Some(q) = value.strip_prefix('"') {
        RegValue::Str(read_quoted(q)?.0)
    } else if let Some(hex) = value.strip_prefix("dword:") {
        u32::from_str_radix(hex.trim(), 16)
            .map(RegValue::Dword)
            .unwrap_or(RegValue::Other)
    } else {
        RegValue::Other
    };
    Some((name, v))
}

/// Reads up to the closing quote; returns the unescaped text and what follows.
fn read_quoted(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '"' => return Some((out, &s[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// PuTTY stores session names URL-escaped (`ML%20Cloud`).
pub(crate) fn url_unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The real system: the registry and security descriptors. Windows only.
#[cfg(windows)]
pub mod sys {
    pub use super::sys_impl::*;
}

#[cfg(windows)]
#[path = "windows_sys.rs"]
mod sys_impl;

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "S-1-5-21-1-2-3-1001";

    fn ace(sid: &str, name: &str, allow: bool, rights: u32) -> Ace {
        Ace {
            sid: sid.into(),
            name: name.into(),
            allow,
            rights,
        }
    }

    fn acl(owner: &str, entries: Vec<Ace>) -> Acl {
        Acl {
            owner_sid: owner.into(),
            owner_name: owner.into(),
            entries,
        }
    }

    const FULL: u32 = 0x001F_01FF;
    const READ: u32 = 0x0012_0089;

    #[test]
    fn private_key_allows_only_user_admins_system() {
        let good = acl(
            USER,
            vec![
                ace(USER, "PC\\ana", true, FULL),
                ace(SID_SYSTEM, "NT AUTHORITY\\SYSTEM", true, FULL),
                ace(SID_ADMINISTRATORS, "BUILTIN\\Administrators", true, FULL),
                // Deny entries never matter.
                ace("S-1-1-0", "Everyone", false, FULL),
            ],
        );
        assert!(evaluate(&good, USER, FileRole::PrivateKey).ok());

        // Inherited read for BUILTIN\Users: OpenSSH refuses the key even though read-only.
        let mut inherited = good.clone();
        inherited
            .entries
            .push(ace("S-1-5-32-545", "BUILTIN\\Users", true, READ));
        let v = evaluate(&inherited, USER, FileRole::PrivateKey);
        assert!(!v.ok());
        assert_eq!(v.offenders_words(), "BUILTIN\\Users (S-1-5-32-545)");
        // The same entry on a config file is fine: others may read.
        assert!(evaluate(&inherited, USER, FileRole::Shared).ok());
    }

    #[test]
    fn config_refuses_writers_and_foreign_owners() {
        let writable = acl(
            USER,
            vec![
                ace(USER, "PC\\ana", true, FULL),
                ace(
                    "S-1-5-11",
                    "NT AUTHORITY\\Authenticated Users",
                    true,
                    READ | FILE_WRITE_DATA,
                ),
                ace("S-1-1-0", "Everyone", true, GENERIC_WRITE),
            ],
        );
        let v = evaluate(&writable, USER, FileRole::Shared);
        assert_eq!(v.offenders.len(), 2);
        assert!(v.bad_owner.is_none());

        let foreign = acl(
            "S-1-5-21-1-2-3-1002",
            vec![ace(USER, "PC\\ana", true, FULL)],
        );
        let v = evaluate(&foreign, USER, FileRole::Shared);
        assert_eq!(v.bad_owner.as_ref().unwrap().0, "S-1-5-21-1-2-3-1002");
        // Administrators, SYSTEM and TrustedInstaller may own it.
        for owner in [SID_ADMINISTRATORS, SID_SYSTEM, SID_TRUSTED_INSTALLER] {
            assert!(evaluate(&acl(owner, vec![]), USER, FileRole::PrivateKey).ok());
        }
    }

    #[test]
    fn fix_commands_are_powershell() {
        let v = AclVerdict {
            bad_owner: None,
            offenders: vec![("S-1-5-32-545".into(), "BUILTIN\\Users".into())],
        };
        let path = ps_profile_path(".ssh/id_ed25519");
        assert_eq!(path, "\"$env:USERPROFILE\\.ssh\\id_ed25519\"");
        assert_eq!(
            icacls_fix(&path, &v),
            "$me = \"*$([Security.Principal.WindowsIdentity]::GetCurrent().User)\"; icacls \"$env:USERPROFILE\\.ssh\\id_ed25519\" /inheritance:r /grant:r \"$($me):F\"; icacls \"$env:USERPROFILE\\.ssh\\id_ed25519\" /remove \"*S-1-5-32-545\""
        );
        let owned_by_other = AclVerdict {
            bad_owner: Some(("S-1-5-21-1-2-3-1002".into(), "PC\\bo".into())),
            offenders: vec![],
        };
        let cmd = icacls_fix("'D:\\k'", &owned_by_other);
        assert!(cmd.starts_with(ICACLS_ME), "{cmd}");
        assert!(
            cmd.contains("; icacls 'D:\\k' /setowner $me; icacls 'D:\\k' /inheritance:r"),
            "{cmd}"
        );
        // The user's own SID never reaches the report: it is looked up when the line runs.
        assert!(!cmd.contains("S-1-5-21"), "{cmd}");
        assert_eq!(
            ps_profile_path(".ssh/my $key"),
            "\"$env:USERPROFILE\\.ssh\\my `$key\""
        );
        assert_eq!(ps_literal(r"D:\keys\it's"), r"'D:\keys\it''s'");
        // Curly quotes end PowerShell strings too: doubled, or escaped with a backtick.
        assert_eq!(ps_literal("D:\\it\u{2019}s"), "'D:\\it\u{2019}\u{2019}s'");
        assert_eq!(
            ps_profile_path(".ssh/a\u{201d}b"),
            "\"$env:USERPROFILE\\.ssh\\a`\u{201d}b\""
        );
        assert_eq!(
            join(r"C:\ProgramData\", &["ssh", "ssh_config"]),
            PathBuf::from(r"C:\ProgramData\ssh\ssh_config")
        );
    }

    #[test]
    fn reads_putty_registry_exports() {
        let text = "Windows Registry Editor Version 5.00\r\n\r\n\
[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY]\r\n\r\n\
[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions]\r\n\r\n\
[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\Sessions\\ML%20Cloud]\r\n\
\"HostName\"=\"galvani-login.mlcloud.uni-tuebingen.de\"\r\n\
\"PortNumber\"=dword:00000016\r\n\
\"UserName\"=\"pbb111\"\r\n\
\"PublicKeyFile\"=\"C:\\\\Users\\\\Ana Lopez\\\\.ssh\\\\mlcloud.ppk\"\r\n\
\"Protocol\"=\"ssh\"\r\n\r\n\
[HKEY_CURRENT_USER\\Software\\SimonTatham\\PuTTY\\SshHostKeys]\r\n\
\"ssh-ed25519@22:galvani-login.mlcloud.uni-tuebingen.de\"=\"0x1,0x2\"\r\n";
        let mut utf16 = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        for bytes in [text.as_bytes().to_vec(), utf16] {
            let p = parse_reg_export(&bytes);
            assert_eq!(p.sessions.len(), 1);
            let s = &p.sessions[0];
            assert_eq!(s.name, "ML Cloud");
            assert_eq!(
                s.host_name.as_deref(),
                Some("galvani-login.mlcloud.uni-tuebingen.de")
            );
            assert_eq!(s.port, Some(22));
            assert_eq!(s.user_name.as_deref(), Some("pbb111"));
            assert_eq!(
                s.public_key_file.as_deref(),
                Some(r"C:\Users\Ana Lopez\.ssh\mlcloud.ppk")
            );
            assert_eq!(
                p.host_keys,
                vec![(
                    "ssh-ed25519".to_string(),
                    22,
                    "galvani-login.mlcloud.uni-tuebingen.de".to_string()
                )]
            );
        }
        // Garbage never panics.
        let p = parse_reg_export(b"[HKEY\\Software\\SimonTatham\\PuTTY\\Sessions\\%\n\"x\"=\"\\");
        assert!(p.sessions.is_empty());
    }
}
