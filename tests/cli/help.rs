//! The command line itself: usage errors exit 1, not clap's 2 (2 means "not in the desired state").

use std::path::Path;

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
        // The command list's entry and the examples' line, not just any "map".
        .stdout_has("\n  map ")
        .stdout_has("\n  idfed map ");
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
        "shift",
        "scan",
        "completions",
        "man",
    ] {
        Test::new()
            .args([cmd, "--help"])
            .run()
            .success()
            .stdout_has("\nExample")
            // An indented example line, not clap's `Usage: idfed {cmd}`.
            .stdout_has(&format!("\n  idfed {cmd}"));
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
    let run = Test::new()
        .args(["man", "--out", "pages"])
        .run()
        .success()
        .stderr_has("idfed: wrote `pages/idfed-plan.1`");
    // `-q`: errors and warnings only.
    Test::new()
        .args(["-q", "man", "--out", "pages"])
        .run()
        .success()
        .stderr_is("");
    for page in ["idfed.1", "idfed-plan.1", "idfed-completions.1"] {
        assert!(
            run.read(&format!("pages/{page}")).starts_with(".ie"),
            "{page}"
        );
    }
    assert!(!run.path().join("pages/idfed-man.1").exists());
    assert!(
        run.read("pages/idfed.toml.5")
            .starts_with(".TH idfed.toml 5")
    );
}

/// Every page renders without a single roff warning (groff, as man(1) runs it).
#[test]
fn man_pages_render_cleanly() {
    let run = Test::new()
        .args(["-q", "man", "--out", "pages"])
        .run()
        .success();
    let mut pages: Vec<_> = std::fs::read_dir(run.path().join("pages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    assert!(pages.len() > 3, "{pages:?}");
    for page in pages {
        let out = std::process::Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("groff (package groff-base) runs");
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `idfed(1)` says what the code does: the records idfed keeps and where, that `--prune` removes
/// lines, no page that is not shipped; `--help` leads to the pages, not back to itself.
#[test]
fn the_main_page_and_help_are_true() {
    let run = Test::new().args(["man"]).run().success();
    for want in [
        "/etc/pve/idfed/idfed.toml",
        "/etc/idfed/idfed.toml",
        "/etc/pve/priv/idfed/",
        "PVE/idfed/managed/VMID.json",
        "PVE/idfed/nodes/NODE.json",
        "PVE/idfed/baseline.json",
        "/var/lib/idfed/subids.json",
        "/var/lib/idfed/backup/TIME/",
        "/var/lib/idfed/cache/SOURCE.json",
        "\\fBapply \\-\\-prune\\fR\nremoves lines idfed added",
        "/etc/subuid.lock",
        "subid\\-malformed",
        "\\fI/run/lock/idfed.lock\\fR",
        "\\fBapply \\-\\-wait\\fR",
        "\\fBidfed.toml\\fR(5)",
    ] {
        assert!(run.stdout().contains(want), "idfed.1 lacks {want:?}");
    }
    for unwanted in [
        "state.json",
        "managed.json",
        "idfed\\-help",
        "only appended",
        "man idfed`",
    ] {
        assert!(!run.stdout().contains(unwanted), "idfed.1 has {unwanted:?}");
    }
    Test::new()
        .args(["--help"])
        .run()
        .success()
        .stdout_has("`man idfed.toml`")
        .stdout_has("/etc/pve/idfed/idfed.toml")
        .stdout_lacks("`man idfed`");
}

/// The README's quick start: `plan` and `check` on the demo cluster of `config/demo/`, copied
/// (each keeps its sources' answers under `--root`'s `/var/lib/idfed/cache/`: not in the
/// repository's tree).
#[test]
fn readme_demo_plan_and_check() {
    let copy = tempfile::tempdir().unwrap();
    crate::harness::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo"),
        copy.path(),
    );
    let demo = copy.path();
    let demo_args = |cmd: &str| {
        [
            "-c".to_string(),
            demo.join("idfed.toml").to_str().unwrap().to_string(),
            "--root".to_string(),
            demo.join("pve1").to_str().unwrap().to_string(),
            "--node".to_string(),
            "pve1".to_string(),
            cmd.to_string(),
        ]
    };
    Test::new()
        .args(demo_args("plan"))
        .run()
        .success()
        .stdout_has("node pve1: add to /etc/subuid:\n  root:1005:3\n")
        .stdout_has("\nmap for CT 101:\n  lxc.idmap: u 0 100000 1005\n")
        .stdout_has(
            "\n0 container map(s) to change, 3 waiting, 1 blocked, 1 node(s) lacking subid lines\n",
        );
    Test::new()
        .args(demo_args("check"))
        .run()
        .success()
        .stdout_has("warning [privileged-share] CT 103 on pve1 is privileged")
        .stdout_has("\n0 problem(s), ");
}

/// Completions offer the commands `--help` lists, not the hidden `man`; a container, a share or
/// an owner is never completed with file names.
#[test]
fn completions_offer_no_hidden_command_and_no_file_names() {
    let bash = Test::new().args(["completions", "bash"]).run().success();
    let script = bash.stdout();
    assert!(script.contains("cmd=\"idfed__subcmd__plan\""), "{script}");
    assert!(!script.contains("subcmd__man"), "bash offers `man`");
    for opt in ["--ct", "--share", "--owner"] {
        let case = format!("\n                {opt})\n");
        let mut seen = 0;
        for (at, _) in script.match_indices(&case) {
            let body = &script[at..];
            let body = &body[..body.find(";;").unwrap()];
            assert!(
                !body.contains("compgen -f"),
                "{opt} completes file names: {body}"
            );
            seen += 1;
        }
        assert!(seen > 0, "no case for {opt}");
    }
    for shell in ["zsh", "fish"] {
        Test::new()
            .args(["completions", shell])
            .run()
            .success()
            .stdout_has("plan")
            .stdout_lacks("Write idfed's man pages");
    }
}

/// bash completes `--ct` with the cluster's VMIDs and `--share` with the configuration's shares,
/// asking `idfed __complete` (hidden: not in `--help`, not offered): the real script in a real
/// bash, `idfed` being the binary with the `sync` fixture's `-c` and `--root`.
#[test]
fn bash_completes_vmids_and_shares_from_the_cluster() {
    let t = Test::new().fixture("sync");
    let root = t.path().display().to_string();
    let bin = env!("CARGO_BIN_EXE_idfed");
    let complete = |line: &str| {
        let words: Vec<&str> = line.split(' ').collect();
        let script = format!(
            "source <({bin} completions bash)\n\
             idfed() {{ {bin} -c {root}/idfed.toml --root {root}/pve1 \"$@\"; }}\n\
             COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
             _idfed idfed '{cur}' '{prev}'\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            words = words.join(" "),
            cword = words.len() - 1,
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("idfed plan --ct 10"), "101\n102\n103\n104\n");
    assert_eq!(complete("idfed report --ct 2"), "201\n");
    assert_eq!(complete("idfed plan --share p"), "projects\n");
    // `shift VMID`: the CTs, not the options (which follow a `-`).
    assert_eq!(complete("idfed shift 1"), "101\n102\n103\n104\n");
    assert!(complete("idfed shift --").contains("--dry-run"));
    // The helper itself, and it stays hidden.
    let run = Test::new()
        .fixture("sync")
        .args(["-c", "{root}/idfed.toml", "--root", "{root}/pve1"])
        .args(["__complete", "vmids"])
        .run()
        .success()
        .stdout_is("101\n102\n103\n104\n201\n");
    run.again()
        .args(["--help"])
        .run()
        .success()
        .stdout_lacks("__complete");
    assert!(!complete("idfed ").contains("__complete"));
}

/// What `shell` (zsh or fish, both installed by `.ci/run`) offers for `line` when the user presses
/// TAB, with `idfed` a function calling the test binary on the sync fixture. zsh runs interactively
/// under zpty, its `compadd` wrapped to print what it is given between `<<` and `>>`; fish has
/// `complete -C`.
fn shell_completes(t: &Test, shell: &str, line: &str) -> Vec<String> {
    let root = t.path().display().to_string();
    let bin = env!("CARGO_BIN_EXE_idfed");
    let wrapper = format!("{bin} -c {root}/idfed.toml --root {root}/pve1");
    let out = match shell {
        "fish" => std::process::Command::new("fish")
            .args([
                "--no-config",
                "-c",
                &format!(
                    "source ({bin} completions fish | psub)\n\
                     function idfed; {wrapper} $argv; end\n\
                     complete -C '{line}'"
                ),
            ])
            .output(),
        "zsh" => {
            let script = format!(
                r#"zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z 'PROMPT= ; RPROMPT='
zpty -w z 'autoload -U compinit && compinit -u -D'
zpty -w z 'compadd() {{ builtin compadd -O __hits "$@"; print -l -- "<<" $__hits ">>"; builtin compadd "$@"; }}'
zpty -w z 'source <({bin} completions zsh)'
zpty -w z 'idfed() {{ {wrapper} "$@"; }}'
zpty -w z 'print READY'
zpty -r z out '*READY*'
zpty -r z out '*READY*'
zpty -w -n z $'{line}\t'
zpty -r z out '*>>*'
print -r -- "$out"
zpty -d z
"#
            );
            std::process::Command::new("timeout")
                .args(["30", "zsh", "-f", "-c", &script])
                .output()
        }
        _ => unreachable!("{shell}"),
    }
    .unwrap_or_else(|e| panic!("cannot run {shell} (.ci/run installs it): {e}"));
    assert!(
        out.status.success(),
        "{shell} on `{line}`: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    match shell {
        "fish" => text
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect(),
        _ => {
            let start = text.rfind("<<\n").map_or(0, |i| i + 3);
            let end = text[start..].find(">>").map_or(text.len(), |i| start + i);
            text[start..end].lines().map(str::to_string).collect()
        }
    }
}

#[test]
fn zsh_and_fish_complete_vmids_and_shares_from_the_cluster() {
    let t = Test::new().fixture("sync");
    for shell in ["zsh", "fish"] {
        let all = ["101", "102", "103", "104", "201"];
        assert_eq!(
            shell_completes(&t, shell, "idfed plan --ct "),
            all,
            "{shell}"
        );
        assert_eq!(
            shell_completes(&t, shell, "idfed report --ct 2"),
            ["201"],
            "{shell}"
        );
        assert_eq!(
            shell_completes(&t, shell, "idfed plan --share p"),
            ["projects"],
            "{shell}"
        );
        assert_eq!(shell_completes(&t, shell, "idfed shift "), all, "{shell}");
    }
}
