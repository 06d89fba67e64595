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
