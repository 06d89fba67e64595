//! The command line itself: usage errors exit 1, not clap's 2 (2 means "not in the desired state").

use crate::harness::Test;

#[test]
fn usage_error_exits_1() {
    Test::new()
        .args(["no-such-command"])
        .run()
        .failure()
        .stderr_has("no-such-command");
}

#[test]
fn help_exits_0() {
    Test::new()
        .args(["--help"])
        .run()
        .success()
        .stdout_has("map");
}

#[test]
fn every_command_shows_an_example() {
    for cmd in [
        "map",
        "resolve",
        "plan",
        "emit",
        "apply",
        "report",
        "check",
        "completions",
        "man",
    ] {
        Test::new()
            .args([cmd, "--help"])
            .run()
            .success()
            .stdout_has("Example")
            .stdout_has(&format!("idfed {cmd}"));
    }
    Test::new()
        .args(["--help"])
        .run()
        .success()
        .stdout_has("Examples:");
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_idfed()"),
        ("zsh", "#compdef idfed"),
        ("fish", "complete -c idfed"),
    ] {
        Test::new()
            .args(["completions", shell])
            .run()
            .success()
            .stdout_has(marker)
            .stdout_has("detailed-exitcode");
    }
    Test::new()
        .args(["completions", "tcsh"])
        .run()
        .failure()
        .stderr_has("tcsh");
}

#[test]
fn man_pages_from_the_clap_definitions() {
    Test::new()
        .args(["man"])
        .run()
        .success()
        .stdout_has(".TH idfed 1")
        .stdout_has("EXIT STATUS")
        .stdout_has("idfed\\-plan(1)");
    let run = Test::new().args(["man", "--out", "pages"]).run().success();
    for page in ["idfed.1", "idfed-plan.1", "idfed-completions.1"] {
        assert!(
            run.read(&format!("pages/{page}")).starts_with(".ie"),
            "{page}"
        );
    }
    assert!(!run.path().join("pages/idfed-man.1").exists());
}
