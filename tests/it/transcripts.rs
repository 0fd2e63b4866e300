//! The transcript parser on real `ssh -vvv` captures.

use mlc_doctor::transcript::{parse, Outcome};

fn outcome(name: &str) -> (Outcome, mlc_doctor::transcript::Transcript) {
    let text =
        std::fs::read_to_string(crate::common::fixtures().join("transcripts").join(name)).unwrap();
    let t = parse(&text);
    (t.outcome.clone().unwrap(), t)
}

#[test]
fn every_capture_has_its_outcome() {
    let (o, t) = outcome("accepted.txt");
    assert!(matches!(o, Outcome::KeyAccepted { .. }), "{o:?}");
    assert_eq!(t.keys_accepted.len(), 1);
    assert!(t.remote_version.unwrap().starts_with("OpenSSH_9.2"));
    assert!(t.host_key.unwrap().starts_with("ssh-ed25519 SHA256:"));

    let (o, _) = outcome("denied.txt");
    assert_eq!(
        o,
        Outcome::PermissionDenied {
            methods: vec!["publickey".into()]
        }
    );

    let (o, t) = outcome("unprotected.txt");
    assert!(
        matches!(o, Outcome::KeyUnusable { ref reason, .. } if reason == "bad permissions"),
        "{o:?}"
    );
    assert_eq!(t.unprotected_keys.len(), 1);
    assert!(
        t.load_errors
            .iter()
            .any(|(_, why)| why == "bad permissions"),
        "{:?}",
        t.load_errors
    );

    let (o, _) = outcome("hostkey-changed.txt");
    match o {
        Outcome::HostKeyChanged { file, line } => {
            assert!(file.unwrap().ends_with("kh2"));
            assert_eq!(line, Some(1));
        }
        other => panic!("{other:?}"),
    }

    let (o, _) = outcome("no-matching.txt");
    assert!(
        matches!(o, Outcome::NoMatchingAlgorithm { ref what, .. } if what == "key exchange method"),
        "{o:?}"
    );
    let (o, _) = outcome("refused.txt");
    assert_eq!(
        o,
        Outcome::ConnectFailed {
            message: "Connection refused".into()
        }
    );
    let (o, _) = outcome("bad-config.txt");
    assert!(
        matches!(o, Outcome::BadConfig { ref option, line: 2, .. } if option == "identityflie"),
        "{o:?}"
    );
    let (o, t) = outcome("too-many.txt");
    assert_eq!(o, Outcome::TooManyAuthFailures);
    assert!(t.keys_offered.len() >= 6);
}

#[test]
fn truncated_and_mangled_transcripts_do_not_panic() {
    for name in ["accepted.txt", "too-many.txt", "hostkey-changed.txt"] {
        let text =
            std::fs::read_to_string(crate::common::fixtures().join("transcripts").join(name))
                .unwrap();
        for cut in (0..text.len()).step_by(97) {
            if text.is_char_boundary(cut) {
                let _ = parse(&text[..cut]);
            }
        }
    }
}
