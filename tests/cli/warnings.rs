//! What commands say about input they cannot use, and a stdout closed early. Over the `sync`
//! fixture (two nodes, `pve1` and `pve2`, as two roots sharing one `etc/pve`).

use std::process::Command;

use crate::harness::{copy_tree, fixture};

/// Regression: `idfed emit --out DIR | head -1` panicked with "failed printing to stdout".
#[test]
fn emit_to_a_reader_that_stops_early_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&fixture("sync"), dir.path());
    let root = dir.path().to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_idfed"))
        .env_clear()
        .args(["-c", &format!("{root}/idfed.toml")])
        .args(["--root", &format!("{root}/pve1"), "--node", "pve1"])
        .args(["emit", "--out", &format!("{root}/bundles")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end before idfed has loaded anything, so its write meets EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The bundles are written all the same.
    assert!(dir.path().join("bundles/plan.json").is_file());
}
