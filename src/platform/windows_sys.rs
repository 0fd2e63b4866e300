//! Windows system access: the current user's SID, a file's owner and DACL, PuTTY's and
//! the ProfileList's registry values. Read-only: nothing here writes the registry.

use std::ffi::{OsStr, OsString};
use std::os::windows::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};

use windows_sys::Win32::Foundation::{CloseHandle, LocalFree, ERROR_SUCCESS, HANDLE};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, GetNamedSecurityInfoW, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    AclSizeInformation, GetAce, GetAclInformation, GetTokenInformation, LookupAccountSidW,
    TokenUser, ACCESS_ALLOWED_ACE, ACL, ACL_SIZE_INFORMATION, DACL_SECURITY_INFORMATION,
    OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Registry::{
    RegCloseKey, RegEnumKeyExW, RegEnumValueW, RegGetValueW, RegOpenKeyExW, HKEY,
    HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, KEY_READ, RRF_RT_REG_DWORD, RRF_RT_REG_SZ,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use super::{Ace, Acl, Putty, PuttySession};

const ACCESS_ALLOWED_ACE_TYPE: u8 = 0;
const ACCESS_DENIED_ACE_TYPE: u8 = 1;

fn wide(s: &OsStr) -> Vec<u16> {
    s.encode_wide().chain(std::iter::once(0)).collect()
}

fn from_wide(buf: &[u16]) -> String {
    let end = buf.iter().position(|c| *c == 0).unwrap_or(buf.len());
    OsString::from_wide(&buf[..end])
        .to_string_lossy()
        .into_owned()
}

fn sid_string(sid: PSID) -> Option<String> {
    let mut out: *mut u16 = null_mut();
    // SAFETY: sid is a valid SID from the system; out receives a LocalAlloc'd string.
    if unsafe { ConvertSidToStringSidW(sid, &mut out) } == 0 || out.is_null() {
        return None;
    }
    let mut len = 0;
    // SAFETY: out is NUL-terminated.
    while unsafe { *out.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: len u16s are readable at out.
    let s = from_wide(unsafe { std::slice::from_raw_parts(out, len) });
    // SAFETY: allocated by ConvertSidToStringSidW.
    unsafe { LocalFree(out.cast()) };
    Some(s)
}

fn sid_name(sid: PSID) -> Option<String> {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut n, mut d) = (name.len() as u32, domain.len() as u32);
    let mut kind = 0;
    // SAFETY: buffers are writable for the lengths given.
    let ok = unsafe {
        LookupAccountSidW(
            null(),
            sid,
            name.as_mut_ptr(),
            &mut n,
            domain.as_mut_ptr(),
            &mut d,
            &mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    let (name, domain) = (from_wide(&name), from_wide(&domain));
    Some(if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    })
}

/// The SID of the user this process runs as.
pub fn current_user_sid() -> Option<String> {
    let mut token: HANDLE = null_mut();
    // SAFETY: the pseudo handle of the current process needs no closing.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let mut buf = vec![0u8; 512];
    let mut len = 0u32;
    // SAFETY: buf is writable for its length; token is open.
    let ok = unsafe {
        GetTokenInformation(
            token,
            TokenUser,
            buf.as_mut_ptr().cast(),
            buf.len() as u32,
            &mut len,
        )
    };
    let sid = if ok != 0 {
        // SAFETY: on success buf starts with a TOKEN_USER.
        let user = unsafe { &*(buf.as_ptr() as *const TOKEN_USER) };
        sid_string(user.User.Sid)
    } else {
        None
    };
    // SAFETY: token was opened above.
    unsafe { CloseHandle(token) };
    sid
}

/// The owner and DACL of a file or directory.
pub fn read_acl(path: &Path) -> Result<Acl, String> {
    let w = wide(path.as_os_str());
    let mut owner: PSID = null_mut();
    let mut dacl: *mut ACL = null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = null_mut();
    // SAFETY: all out-pointers are valid; sd is freed below.
    let rc = unsafe {
        GetNamedSecurityInfoW(
            w.as_ptr(),
            SE_FILE_OBJECT,
            OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION,
            &mut owner,
            null_mut(),
            &mut dacl,
            null_mut(),
            &mut sd,
        )
    };
    if rc != ERROR_SUCCESS {
        return Err(std::io::Error::from_raw_os_error(rc as i32).to_string());
    }
    let owner_sid = sid_string(owner).unwrap_or_default();
    let owner_name = sid_name(owner).unwrap_or_else(|| owner_sid.clone());
    let mut entries = Vec::new();
    if dacl.is_null() {
        // A NULL DACL grants everyone everything.
        entries.push(Ace {
            sid: "S-1-1-0".into(),
            name: "Everyone".into(),
            allow: true,
            rights: 0x1F_01FF,
        });
    } else {
        let mut info = ACL_SIZE_INFORMATION {
            AceCount: 0,
            AclBytesInUse: 0,
            AclBytesFree: 0,
        };
        // SAFETY: dacl points into sd; info is writable.
        let ok = unsafe {
            GetAclInformation(
                dacl,
                (&mut info as *mut ACL_SIZE_INFORMATION).cast(),
                std::mem::size_of::<ACL_SIZE_INFORMATION>() as u32,
                AclSizeInformation,
            )
        };
        if ok != 0 {
            for i in 0..info.AceCount {
                let mut ace: *mut core::ffi::c_void = null_mut();
                // SAFETY: i < AceCount.
                if unsafe { GetAce(dacl, i, &mut ace) } == 0 || ace.is_null() {
                    continue;
                }
                // SAFETY: allowed and denied ACEs share this layout; the SID follows Mask.
                let a = unsafe { &*(ace as *const ACCESS_ALLOWED_ACE) };
                let allow = match a.Header.AceType {
                    ACCESS_ALLOWED_ACE_TYPE => true,
                    ACCESS_DENIED_ACE_TYPE => false,
                    // Object and callback ACEs: OpenSSH ignores them too.
                    _ => continue,
                };
                let sid: PSID = (&a.SidStart as *const u32) as PSID;
                let sid_s = sid_string(sid).unwrap_or_default();
                entries.push(Ace {
                    name: sid_name(sid).unwrap_or_else(|| sid_s.clone()),
                    sid: sid_s,
                    allow,
                    rights: a.Mask,
                });
            }
        }
    }
    // SAFETY: sd was allocated by GetNamedSecurityInfoW.
    unsafe { LocalFree(sd) };
    Ok(Acl {
        owner_sid,
        owner_name,
        entries,
    })
}

struct Key(HKEY);

impl Drop for Key {
    fn drop(&mut self) {
        // SAFETY: the key was opened by RegOpenKeyExW.
        unsafe { RegCloseKey(self.0) };
    }
}

fn open(root: HKEY, sub: &str) -> Option<Key> {
    let w = wide(OsStr::new(sub));
    let mut key: HKEY = null_mut();
    // SAFETY: w is NUL-terminated; key is writable. KEY_READ never writes.
    let rc = unsafe { RegOpenKeyExW(root, w.as_ptr(), 0, KEY_READ, &mut key) };
    (rc == ERROR_SUCCESS).then_some(Key(key))
}

fn string_value(key: &Key, name: &str) -> Option<String> {
    let w = wide(OsStr::new(name));
    let mut buf = vec![0u16; 2048];
    let mut len = (buf.len() * 2) as u32;
    // SAFETY: buf is writable for len bytes.
    let rc = unsafe {
        RegGetValueW(
            key.0,
            null(),
            w.as_ptr(),
            // REG_EXPAND_SZ values come back expanded under this filter; asking for
            // RRF_RT_REG_EXPAND_SZ without RRF_NOEXPAND is an invalid parameter.
            RRF_RT_REG_SZ,
            null_mut(),
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (rc == ERROR_SUCCESS).then(|| from_wide(&buf))
}

fn dword_value(key: &Key, name: &str) -> Option<u32> {
    let w = wide(OsStr::new(name));
    let mut v = 0u32;
    let mut len = 4u32;
    // SAFETY: v is writable for 4 bytes.
    let rc = unsafe {
        RegGetValueW(
            key.0,
            null(),
            w.as_ptr(),
            RRF_RT_REG_DWORD,
            null_mut(),
            (&mut v as *mut u32).cast(),
            &mut len,
        )
    };
    (rc == ERROR_SUCCESS).then_some(v)
}

/// RegEnumKeyExW and RegEnumValueW: the same first five parameters (key, index, name
/// buffer, its length, reserved), then three outputs the doctor does not ask for.
type RegEnum<A, B, C> = unsafe extern "system" fn(
    HKEY,
    u32,
    *mut u16,
    *mut u32,
    *const u32,
    *mut A,
    *mut B,
    *mut C,
) -> u32;

/// The names `enumerate` yields for `key`, index by index, until it fails
/// (ERROR_NO_MORE_ITEMS at the end, or a name longer than `N` u16s); at most `limit`.
fn enum_names<const N: usize, A, B, C>(
    key: &Key,
    limit: u32,
    enumerate: RegEnum<A, B, C>,
) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..limit {
        let mut name = [0u16; N];
        let mut len = N as u32;
        // SAFETY: name is writable for len u16s; the optional outputs are null.
        let rc = unsafe {
            enumerate(
                key.0,
                i,
                name.as_mut_ptr(),
                &mut len,
                null(),
                null_mut(),
                null_mut(),
                null_mut(),
            )
        };
        if rc != ERROR_SUCCESS {
            break;
        }
        out.push(from_wide(&name[..len as usize]));
    }
    out
}

/// The names of a key's subkeys (PuTTY's sessions).
fn subkeys(key: &Key) -> Vec<String> {
    enum_names::<512, _, _, _>(key, 10_000, RegEnumKeyExW)
}

/// The names of a key's values (PuTTY's cached host keys).
fn value_names(key: &Key) -> Vec<String> {
    enum_names::<1024, _, _, _>(key, 100_000, RegEnumValueW)
}

/// The 8.3 short form of an existing path (`C:\Users\ANALOP~1`), when the volume keeps
/// short names and it differs from the path.
pub fn short_path(path: &Path) -> Option<PathBuf> {
    let long = wide(path.as_os_str());
    let mut buf = vec![0u16; 1024];
    // SAFETY: `long` is NUL-terminated; `buf` has room for the length passed.
    let n = unsafe {
        windows_sys::Win32::Storage::FileSystem::GetShortPathNameW(
            long.as_ptr(),
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
    } as usize;
    if n == 0 || n >= buf.len() {
        return None;
    }
    let short = PathBuf::from(OsString::from_wide(&buf[..n]));
    (short != path).then_some(short)
}

/// The profile directory OpenSSH for Windows uses as `~` (ProfileList in HKLM).
pub fn profile_dir() -> Option<PathBuf> {
    let sid = current_user_sid()?;
    let key = open(
        HKEY_LOCAL_MACHINE,
        &format!(r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList\{sid}"),
    )?;
    string_value(&key, "ProfileImagePath")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
}

/// PuTTY's saved sessions and cached host keys (HKCU), read-only.
pub fn putty() -> Putty {
    let mut out = Putty::default();
    if let Some(sessions) = open(HKEY_CURRENT_USER, r"Software\SimonTatham\PuTTY\Sessions") {
        for name in subkeys(&sessions).into_iter().take(1000) {
            let Some(s) = open(
                HKEY_CURRENT_USER,
                &format!(r"Software\SimonTatham\PuTTY\Sessions\{name}"),
            ) else {
                continue;
            };
            out.sessions.push(PuttySession {
                name: super::url_unescape(&name),
                host_name: string_value(&s, "HostName").filter(|v| !v.is_empty()),
                port: dword_value(&s, "PortNumber").and_then(|p| u16::try_from(p).ok()),
                user_name: string_value(&s, "UserName").filter(|v| !v.is_empty()),
                public_key_file: string_value(&s, "PublicKeyFile").filter(|v| !v.is_empty()),
            });
        }
    }
    if let Some(keys) = open(HKEY_CURRENT_USER, r"Software\SimonTatham\PuTTY\SshHostKeys") {
        out.host_keys = value_names(&keys)
            .iter()
            .filter_map(|n| super::parse_host_key_name(n))
            .collect();
    }
    out
}
