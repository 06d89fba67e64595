//! `--format json` errors: stdout holds one JSON document whatever happens, `{"error": {"message",
//! "causes"}}` for a failure (the context first, then each cause), with the exit code and the
//! text on stderr unchanged; a failure after the command's own document adds no second one.

use serde_json::json;

use crate::harness::{Test, hold_config_lock, on};

#[test]
fn an_error_is_a_json_document_with_its_causes() {
    // One message, no cause.
    let run = on(
        Test::new().fixture("sync"),
        "pve1",
        &["--format", "json", "plan", "--ct", "999"],
    )
    .failure()
    .stderr_has("idfed: error: CT 999 is not a container of the cluster under `");
    let json = run.json();
    let message = json["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("CT 999 is not a container of the cluster under `")
            && message.ends_with("/pve1/etc/pve` (it has 5 CTs, from 101 to 201)"),
        "{json:#}"
    );
    assert_eq!(json["error"]["causes"], json!([]));
    assert_eq!(json.as_object().unwrap().len(), 1, "{json:#}");
    // The command's context, then the cause under it.
    let run = on(run.again(), "pve1", &["--format", "json", "shift", "102"]).failure();
    assert_eq!(
        run.json(),
        json!({"error": {
            "message": "cannot shift CT 102",
            "causes": ["CT 102: the root filesystem `local-lvm:vm-102-disk-0` is on storage \
                        `local-lvm`, which `storage.cfg` does not define"]
        }})
    );
    // Text stays text.
    on(run.again(), "pve1", &["plan", "--ct", "999"])
        .failure()
        .stdout_is("");
}

/// A usage error clap finds, with `--format json` on the command line, is a document too.
#[test]
fn a_usage_error_is_a_json_document() {
    for format in [&["--format", "json"][..], &["--format=json"][..]] {
        let run = Test::new()
            .args(format)
            .args(["plan", "--bogus"])
            .run()
            .failure()
            .stderr_has("unexpected argument '--bogus' found");
        assert_eq!(
            run.json(),
            json!({"error": {"message": "unexpected argument '--bogus' found", "causes": []}})
        );
    }
    Test::new()
        .args(["plan", "--bogus"])
        .run()
        .failure()
        .stdout_is("");
}

/// apply writes its report (with its `errors`), then fails: one document on stdout, not two.
#[test]
fn a_failure_after_the_report_adds_no_second_document() {
    let t = on(Test::new().fixture("sync"), "pve2", &["apply"])
        .success()
        .again();
    let file = hold_config_lock(&t, "pve1", 101);
    let run = on(t, "pve1", &["--format", "json", "apply"])
        .failure()
        .stderr_has("idfed: error: 1 failure(s), after the report above:");
    drop(file);
    // `json()` parses stdout as exactly one document.
    let json = run.json();
    assert!(
        json["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("CT 101: config lock `"),
        "{json:#}"
    );
}
