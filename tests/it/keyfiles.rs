//! Every fixture key's facts, read without its passphrase.

use mlc_doctor::keyfile::{sniff, Defect, KeyFacts, KeyFormat};

fn facts(name: &str) -> KeyFacts {
    sniff(&std::fs::read(crate::common::fixtures().join("keys").join(name)).unwrap())
}

fn fingerprint_of_pub(name: &str) -> String {
    facts(&format!("{name}.pub")).fingerprint.unwrap()
}

#[test]
fn openssh_keys() {
    let f = facts("ed25519_100");
    assert_eq!(f.format, KeyFormat::OpenSsh);
    assert_eq!(f.algorithm.as_deref(), Some("ssh-ed25519"));
    assert_eq!(f.encrypted, Some(true));
    assert_eq!(f.cipher.as_deref(), Some("aes256-ctr"));
    assert_eq!(f.kdf.as_deref(), Some("bcrypt"));
    assert_eq!(f.kdf_rounds, Some(100));
    assert_eq!(f.bits, Some(256));
    assert!(f.defects.is_empty(), "{:?}", f.defects);
    assert_eq!(
        f.fingerprint.clone().unwrap(),
        fingerprint_of_pub("ed25519_100")
    );

    let f = facts("ed25519_16");
    assert_eq!((f.encrypted, f.kdf_rounds), (Some(true), Some(16)));
    let f = facts("ed25519_plain");
    assert_eq!((f.encrypted, f.kdf.as_deref()), (Some(false), Some("none")));
    assert_eq!(
        f.fingerprint.clone().unwrap(),
        fingerprint_of_pub("ed25519_plain")
    );

    for (name, bits, enc) in [
        ("rsa2048_enc", 2048, true),
        ("rsa2048_plain", 2048, false),
        ("rsa4096_enc", 4096, true),
        ("rsa4096_plain", 4096, false),
    ] {
        let f = facts(name);
        assert_eq!(f.algorithm.as_deref(), Some("ssh-rsa"), "{name}");
        assert_eq!(f.bits, Some(bits), "{name}");
        assert_eq!(f.encrypted, Some(enc), "{name}");
        assert_eq!(
            f.fingerprint.clone().unwrap(),
            fingerprint_of_pub(name),
            "{name}"
        );
    }
    let f = facts("ecdsa_enc");
    assert_eq!(f.algorithm.as_deref(), Some("ecdsa-sha2-nistp256"));
    assert_eq!(f.bits, Some(256));
    let f = facts("dsa_plain");
    assert_eq!(f.algorithm.as_deref(), Some("ssh-dss"));
    assert_eq!(f.bits, Some(1024));
}

#[test]
fn legacy_pem_and_pkcs8() {
    let f = facts("pem_rsa_enc");
    assert_eq!(f.format, KeyFormat::PemRsa);
    assert_eq!(f.encrypted, Some(true));
    assert_eq!(f.cipher.as_deref(), Some("aes-128-cbc"));
    assert_eq!(f.kdf.as_deref(), Some("pem (md5)"));
    let f = facts("pem_rsa_plain");
    assert_eq!((f.format, f.encrypted), (KeyFormat::PemRsa, Some(false)));
    let f = facts("pem_ec_enc");
    assert_eq!((f.format, f.encrypted), (KeyFormat::PemEc, Some(true)));
    let f = facts("pem_ec_plain");
    assert_eq!((f.format, f.encrypted), (KeyFormat::PemEc, Some(false)));
    let f = facts("pkcs8_plain");
    assert_eq!((f.format, f.encrypted), (KeyFormat::Pkcs8, Some(false)));
    let f = facts("pkcs8_enc");
    assert_eq!(
        (f.format, f.encrypted),
        (KeyFormat::Pkcs8Encrypted, Some(true))
    );
    for name in ["pem_rsa_enc", "pem_ec_plain", "pkcs8_plain", "pkcs8_enc"] {
        assert!(facts(name).format.is_legacy());
        assert!(
            facts(name).defects.is_empty(),
            "{name}: {:?}",
            facts(name).defects
        );
    }
}

#[test]
fn putty_keys() {
    for (name, format, enc) in [
        ("putty_v2_plain.ppk", KeyFormat::PuttyV2, false),
        ("putty_v2_enc.ppk", KeyFormat::PuttyV2, true),
        ("putty_v3_plain.ppk", KeyFormat::PuttyV3, false),
        ("putty_v3_enc.ppk", KeyFormat::PuttyV3, true),
    ] {
        let f = facts(name);
        assert_eq!(f.format, format, "{name}");
        assert_eq!(f.encrypted, Some(enc), "{name}");
        assert_eq!(f.algorithm.as_deref(), Some("ssh-ed25519"), "{name}");
        // The public half of a .ppk is in the clear: the same key as ed25519_plain.
        assert_eq!(
            f.fingerprint.clone().unwrap(),
            fingerprint_of_pub("ed25519_plain"),
            "{name}"
        );
        assert!(f.defects.is_empty(), "{name}: {:?}", f.defects);
    }
    assert_eq!(facts("putty_v3_enc.ppk").kdf.as_deref(), Some("argon2id"));
}

#[test]
fn damaged_files() {
    let f = facts("ed25519_crlf");
    assert!(f.defects.contains(&Defect::Crlf), "{:?}", f.defects);
    assert_eq!(
        f.fingerprint.clone().unwrap(),
        fingerprint_of_pub("ed25519_100"),
        "still identified"
    );
    let f = facts("ed25519_bom");
    assert!(f.defects.contains(&Defect::Bom));
    assert_eq!(f.format, KeyFormat::OpenSsh);
    let f = facts("ed25519_nonewline");
    assert_eq!(f.defects, vec![Defect::NoFinalNewline]);
    let f = facts("ed25519_truncated");
    assert!(f.defects.contains(&Defect::Truncated), "{:?}", f.defects);
    assert_eq!(facts("random_bytes").format, KeyFormat::NotAKey);
}

#[test]
fn public_key_files_and_mismatch() {
    let f = facts("ed25519_100.pub");
    assert_eq!(f.format, KeyFormat::PublicKey);
    assert_eq!(f.comment.as_deref(), Some("alice.canary@example.org"));
    assert!(
        !f.public_key.clone().unwrap().contains("alice"),
        "comment removed from the public key line"
    );
    assert_ne!(
        facts("ed25519_mismatch").fingerprint,
        facts("ed25519_mismatch.pub").fingerprint
    );
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let base = std::fs::read(crate::common::fixtures().join("keys/ed25519_100")).unwrap();
    let mut seed = 0x2545F4914F6CDD1Du64;
    for i in 0..400 {
        let mut bytes = base.clone();
        for _ in 0..(1 + i % 8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pos = (seed as usize) % bytes.len();
            bytes[pos] = (seed >> 32) as u8;
        }
        bytes.truncate(bytes.len() - (i % 50));
        let _ = sniff(&bytes);
    }
    for name in ["putty_v3_enc.ppk", "pem_rsa_enc", "pkcs8_enc"] {
        let b = std::fs::read(crate::common::fixtures().join("keys").join(name)).unwrap();
        for cut in (0..b.len()).step_by(37) {
            let _ = sniff(&b[..cut]);
        }
    }
}
