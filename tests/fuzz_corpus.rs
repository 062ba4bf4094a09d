//! Replays the fuzzing corpus on stable Rust: every file under `fuzz/corpus/<target>/` and every
//! saved crash under `fuzz/regressions/<target>/` goes through the same entry function the
//! libFuzzer target calls (`fuzz/src/entries.rs`). Each must end without a panic, with typed
//! errors and no secret in any message or log line (the entries assert that).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/entries.rs"]
mod entries;

use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file());
    v.sort();
    v
}

fn replay(kind: &str, must_exist: bool) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind);
    let mut failures = Vec::new();
    let mut count = 0;
    for &(name, entry) in entries::TARGETS {
        let found = files(&root.join(name));
        assert!(
            !must_exist || !found.is_empty(),
            "fuzz/{kind}/{name}/ has no files: run `python3 fuzz/make_seeds.py`"
        );
        for file in found {
            let data = std::fs::read(&file).unwrap();
            count += 1;
            if std::panic::catch_unwind(|| entry(&data)).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(failures.is_empty(), "inputs that fail: {failures:#?}");
    count
}

#[test]
fn every_corpus_input_ends_in_a_value_or_a_typed_error() {
    let n = replay("corpus", true);
    assert!(n >= entries::TARGETS.len());
}

#[test]
fn every_saved_crash_is_fixed() {
    replay("regressions", false);
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for &(name, _) in entries::TARGETS {
        assert!(dir.join(format!("{name}.rs")).is_file(), "no fuzz target {name}");
    }
}
