//! A builder that runs the real `idfed` binary in a temporary root with a cleaned environment
//! (just's `Test`, fd's `TestEnv`).

#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// The repository's `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The text of `tests/fixtures/NAME/REL`.
pub fn fixture_text(name: &str, rel: &str) -> String {
    let path = fixture(name).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `idfed -c idfed.toml --root NODE --node NODE ARGS...` in a fixture of nodes (`sync`,
/// `rollout`): see [`Test::on_node`].
pub fn on(t: Test, node: &str, args: &[&str]) -> Run {
    t.on_node(node).args(args).run()
}

/// The `sources-files` fixture with its config at `etc/idfed/idfed.toml` (the default path
/// under `--root`), `{root}` replaced by the temp dir.
pub fn files_test() -> Test {
    let t = Test::new().fixture("sources-files");
    let root = t.path().display().to_string();
    let config = std::fs::read_to_string(t.path().join("idfed.toml"))
        .unwrap()
        .replace("{root}", &root);
    t.write("etc/idfed/idfed.toml", &config)
}

/// Sets (`on`) or clears the immutable attribute of `path` with `chattr`: the tests' failure
/// injection (a write or rename there fails with EPERM, even for root).
pub fn immutable(path: &Path, on: bool) {
    let status = Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "chattr failed on `{}`: the test needs a filesystem with attributes",
        path.display()
    );
}

/// Takes PVE's config lock of CT `vmid` under `node`'s root, as another process would: held
/// until the file is dropped.
pub fn hold_config_lock(t: &Test, node: &str, vmid: u32) -> std::fs::File {
    use rustix::fs::{FlockOperation, flock};

    let lock_path = t
        .path()
        .join(format!("{node}/run/lock/lxc/pve-config-{vmid}.lock"));
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&lock_path).unwrap();
    flock(&file, FlockOperation::LockExclusive).unwrap();
    file
}

/// Copies a directory tree (files, directories and symlinks as they are).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// One run of `idfed`: a temp dir (the `--root` unless told otherwise), args, env, then checks.
pub struct Test {
    dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    /// A command the binary runs under (its path and args appended), e.g. strace.
    wrapper: Vec<String>,
}

impl Test {
    pub fn new() -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            wrapper: Vec::new(),
        }
    }

    /// The temp dir every relative path of the test is under.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copies `tests/fixtures/NAME` into the temp dir.
    pub fn fixture(self, name: &str) -> Test {
        copy_tree(&fixture(name), self.dir.path());
        self
    }

    /// Writes a file (parents created) at `rel` under the temp dir.
    pub fn write(self, rel: &str, text: &str) -> Test {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// `-c {root}/idfed.toml --root {root}/NODE --node NODE`: idfed run as `node` of a fixture
    /// whose nodes are roots under the temp dir sharing one `etc/pve` (`sync`, `rollout`,
    /// `report-cluster`).
    pub fn on_node(self, node: &str) -> Test {
        self.args(["-c", "{root}/idfed.toml", "--root"]).args([
            format!("{{root}}/{node}"),
            "--node".into(),
            node.into(),
        ])
    }

    /// `-c {root}/idfed.toml --root {root} --node NODE`: a fixture that is one root.
    pub fn at_root(self, node: &str) -> Test {
        self.args([
            "-c",
            "{root}/idfed.toml",
            "--root",
            "{root}",
            "--node",
            node,
        ])
    }

    /// Appends arguments; `{root}` in an argument is replaced by the temp dir.
    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let root = self.dir.path().to_str().unwrap().to_string();
        self.args.extend(
            args.into_iter()
                .map(|a| a.as_ref().replace("{root}", &root)),
        );
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Test {
        let root = self.dir.path().to_str().unwrap().to_string();
        self.env
            .push((key.to_string(), value.replace("{root}", &root)));
        self
    }

    /// Runs the binary under `wrapper` (the binary's path and arguments follow it): `strace`
    /// injecting a SIGKILL at an exact system call, say.
    pub fn under<S: AsRef<str>>(mut self, wrapper: &[S]) -> Test {
        self.wrapper = wrapper.iter().map(|w| w.as_ref().to_string()).collect();
        self
    }

    pub fn stdin(mut self, text: &str) -> Test {
        self.stdin = Some(text.to_string());
        self
    }

    /// The command [`Test::run`] runs.
    fn command(&self) -> Command {
        let bin = env!("CARGO_BIN_EXE_idfed");
        let mut cmd = match self.wrapper.split_first() {
            None => Command::new(bin),
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin);
                cmd
            }
        };
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs the binary (stdin empty) and returns what it did and its peak resident memory in
    /// bytes, the binary's alone. `wait4`'s `ru_maxrss` on the child this process spawns is not:
    /// the child starts on this process's memory (posix_spawn shares it, fork copies it) and
    /// Linux keeps the larger high-water mark across `exec`, so a test process that once held
    /// 300 MB read every child as 300 MB. GNU `time` (package `time`) forks the binary from its
    /// own small process and reports that child's `ru_maxrss` (busybox's `time` reports it four
    /// times too large: it takes the KiB for pages).
    pub fn run_with_peak_rss(mut self) -> (Run, u64) {
        let report = tempfile::NamedTempFile::new().unwrap();
        let path = report.path().to_str().unwrap().to_string();
        let mut wrapper: Vec<String> = ["/usr/bin/time", "-f", "%M", "-o", &path]
            .map(String::from)
            .to_vec();
        wrapper.append(&mut self.wrapper);
        self.wrapper = wrapper;
        let run = self.run();
        let text = std::fs::read_to_string(report.path()).unwrap();
        // `Command exited with non-zero status 1` may come first; the figure is the last line.
        let kib: u64 = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no peak RSS in `time`'s report:\n{text}"));
        (run, kib * 1024)
    }

    /// Runs the binary and returns what it did, for the checks of [`Run`].
    pub fn run(self) -> Run {
        let mut cmd = self.command();
        let output = match &self.stdin {
            None => cmd.stdin(std::process::Stdio::null()).output().unwrap(),
            Some(text) => {
                use std::io::Write;
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        };
        Run {
            dir: self.dir,
            args: self.args,
            output,
        }
    }
}

/// The result of a run: checks chain and panic with the whole output on failure.
pub struct Run {
    pub dir: TempDir,
    pub args: Vec<String>,
    pub output: Output,
}

impl Run {
    /// A new run in the same temp dir (fresh args and env): for multi-step scenarios.
    pub fn again(self) -> Test {
        Test {
            dir: self.dir,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            wrapper: Vec::new(),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The text of a file under the temp dir.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel))
            .unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout()))
    }

    fn describe(&self) -> String {
        format!(
            "idfed {:?}\nexit: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.args,
            self.output.status.code(),
            self.stdout(),
            self.stderr()
        )
    }

    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.output.status.code(), Some(code), "{}", self.describe());
        self
    }

    pub fn success(self) -> Run {
        self.code(0)
    }

    /// Ended by SIGKILL.
    pub fn killed(self) -> Run {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(self.output.status.signal(), Some(9), "{}", self.describe());
        self
    }

    pub fn failure(self) -> Run {
        self.code(1)
    }

    pub fn stdout_is(self, want: &str) -> Run {
        assert_eq!(self.stdout(), want, "{}", self.describe());
        self
    }

    pub fn stderr_is(self, want: &str) -> Run {
        assert_eq!(self.stderr(), want, "{}", self.describe());
        self
    }

    pub fn stdout_has(self, want: &str) -> Run {
        assert!(
            self.stdout().contains(want),
            "stdout lacks {want:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn stdout_lacks(self, unwanted: &str) -> Run {
        assert!(
            !self.stdout().contains(unwanted),
            "stdout has {unwanted:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn stderr_has(self, want: &str) -> Run {
        assert!(
            self.stderr().contains(want),
            "stderr lacks {want:?}\n{}",
            self.describe()
        );
        self
    }

    pub fn stderr_lacks(self, unwanted: &str) -> Run {
        assert!(
            !self.stderr().contains(unwanted),
            "stderr has {unwanted:?}\n{}",
            self.describe()
        );
        self
    }
}

/// The first element of the array `json[list]` that `pred` accepts (a finding, a container, a
/// warning); panics showing the whole JSON when `list` is not an array or nothing matches.
pub fn finding<'a>(
    json: &'a serde_json::Value,
    list: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> &'a serde_json::Value {
    json[list]
        .as_array()
        .unwrap_or_else(|| panic!("`{list}` is not an array: {json:#}"))
        .iter()
        .find(|v| pred(v))
        .unwrap_or_else(|| panic!("no element of `{list}` matches: {json:#}"))
}

/// The variable `.ci/run` sets to `1`: a test that needs root then fails instead of skipping.
pub const REQUIRE_ROOT_TESTS: &str = "IDFED_REQUIRE_ROOT_TESTS";

/// Should a test that needs root (user namespaces, mounts, LXC, `chattr`, `chown`) skip? True when
/// not root: the test returns at once (`if skip_without_root("the LXC test") { return; }`) after
/// a loud `SKIPPED` line naming what needs root, written past the test harness's capture so it shows
/// in every run. With `IDFED_REQUIRE_ROOT_TESTS=1` (set by `.ci/run`) it fails instead, so CI can
/// never skip such a test silently.
#[must_use]
pub fn skip_without_root(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    let why = format!("{what} needs root");
    assert!(
        std::env::var_os(REQUIRE_ROOT_TESTS).is_none_or(|v| v != "1"),
        "{why}, and {REQUIRE_ROOT_TESTS}=1 forbids skipping it: run the tests as root, as .ci/run does"
    );
    // `std::io::stderr()` itself, not `eprintln!`: the test harness captures only the macros.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {why}: run the tests as root to run it ({REQUIRE_ROOT_TESTS}=1 makes this a failure)"
    );
    true
}
