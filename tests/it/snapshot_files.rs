//! The snapshot files match the tests that assert them: each is named for its module
//! (`it__<module>__<name>.snap`), names the file that asserts it, and that file asserts a
//! snapshot of that name. A snapshot left behind by a rename or a move would otherwise lie
//! there unnoticed, and a `.snap.new` means a change nobody reviewed.

use std::path::Path;

#[test]
fn every_snapshot_file_belongs_to_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("tests/it/snapshots")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let stem = name
            .strip_suffix(".snap")
            .unwrap_or_else(|| panic!("{name}: not a snapshot (an unreviewed change?)"));
        let (module, snapshot) = stem
            .strip_prefix("it__")
            .and_then(|rest| rest.split_once("__"))
            .unwrap_or_else(|| panic!("{name}: not named it__<module>__<name>.snap"));
        let text = std::fs::read_to_string(root.join("tests/it/snapshots").join(&name)).unwrap();
        let source = text
            .lines()
            .find_map(|l| l.strip_prefix("source: "))
            .unwrap_or_else(|| panic!("{name}: no source: line"));
        assert_eq!(source, format!("tests/it/{module}.rs"), "{name}");
        let code = std::fs::read_to_string(root.join(source))
            .unwrap_or_else(|e| panic!("{name}: {source}: {e}"));
        // A name given to the assertion, or the test function an unnamed one is named for.
        assert!(
            code.contains(&format!("\"{snapshot}\"")) || code.contains(&format!("fn {snapshot}(")),
            "{name}: {source} asserts no snapshot named {snapshot}"
        );
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} snapshots");
}
