//! A real OpenLDAP `slapd` for tests: its own temporary config (mdb, the Debian schemas,
//! `limits * size.prtotal=unlimited`, a self-signed certificate for ldaps:// and StartTLS), data
//! loaded with `slapadd` before it starts, free ports on 127.0.0.1, stopped when dropped.
//!
//! ```ignore
//! let ldif = Ldif::new().user("alice", 1005, 1005).posix_group("research", 3000, &["alice"]);
//! let slapd = Slapd::start(&ldif);
//! // slapd.url(), slapd.ldaps_url(), slapd.ca_file(), READER_DN / READER_PASSWORD, SUFFIX
//! ```
//!
//! Every test starts its own server: they run in parallel threads, each with its own directory
//! and ports. The server's log is `slapd.log` in [`Slapd::dir`].

#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const SUFFIX: &str = "dc=example,dc=org";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "admin-secret";
/// A non-root bind DN: unlike the rootdn it is subject to the server's size limits.
pub const READER_DN: &str = "cn=reader,dc=example,dc=org";
pub const READER_PASSWORD: &str = "reader-Pa55";

/// The LDIF a server is loaded with: the suffix, `ou=people`, `ou=groups` and the reader are
/// always there; tests add users and groups.
#[derive(Clone, Debug)]
pub struct Ldif {
    text: String,
}

impl Default for Ldif {
    fn default() -> Ldif {
        Ldif::new()
    }
}

impl Ldif {
    pub fn new() -> Ldif {
        let mut text = String::new();
        let _ = write!(
            text,
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: reader\nuserPassword: {READER_PASSWORD}\n\n"
        );
        Ldif { text }
    }

    /// A `posixAccount` (+ `inetOrgPerson`) under `ou=people`.
    pub fn user(mut self, name: &str, uid: u32, gid: u32) -> Ldif {
        let _ = write!(
            self.text,
            "dn: uid={name},{PEOPLE}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: {name}\ncn: {name}\nsn: {name}\nuidNumber: {uid}\ngidNumber: {gid}\n\
             homeDirectory: /home/{name}\n\n"
        );
        self
    }

    /// An `inetOrgPerson` without POSIX attributes under `ou=people`.
    pub fn person(mut self, name: &str) -> Ldif {
        let _ = write!(
            self.text,
            "dn: uid={name},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name}\nsn: {name}\n\n"
        );
        self
    }

    /// An RFC 2307 `posixGroup` with `memberUid` names.
    pub fn posix_group(mut self, name: &str, gid: u32, members: &[&str]) -> Ldif {
        let _ = write!(
            self.text,
            "dn: cn={name},{GROUPS}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
        );
        for m in members {
            let _ = writeln!(self.text, "memberUid: {m}");
        }
        self.text.push('\n');
        self
    }

    /// An RFC 2307bis group: `groupOfNames` + `extensibleObject` + `gidNumber`, `member` DNs
    /// (`uid=NAME,ou=people,...` for each name).
    pub fn bis_group(mut self, name: &str, gid: u32, members: &[&str]) -> Ldif {
        let _ = write!(
            self.text,
            "dn: cn={name},{GROUPS}\nobjectClass: groupOfNames\nobjectClass: extensibleObject\n\
             cn: {name}\ngidNumber: {gid}\n"
        );
        for m in members {
            let _ = writeln!(self.text, "member: uid={m},{PEOPLE}");
        }
        self.text.push('\n');
        self
    }

    /// Any LDIF entries, as written.
    pub fn raw(mut self, ldif: &str) -> Ldif {
        self.text.push_str(ldif);
        if !self.text.ends_with("\n\n") {
            self.text.push('\n');
        }
        self
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// A running slapd; killed (and its directory removed) when dropped.
pub struct Slapd {
    dir: TempDir,
    child: Option<Child>,
    port: u16,
    ldaps_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (is slapd/ldap-utils/openssl installed?)"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Slapd {
    /// Loads `ldif` and starts a server on two free ports (ldap:// and ldaps://). Panics with
    /// the server's log when it does not come up.
    pub fn start(ldif: &Ldif) -> Slapd {
        Slapd::start_with(ldif, "")
    }

    /// Like [`Slapd::start`], with `database_conf` lines (like a `limits` line, which wins over
    /// the default `limits *` when it matches first) added to the database section.
    pub fn start_with(ldif: &Ldif, database_conf: &str) -> Slapd {
        let mut dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        std::fs::create_dir(d.join("data")).unwrap();
        run(
            Command::new("openssl").current_dir(d).args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
            ]),
            "openssl req",
        );
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {d}/slapd.pid\n\
             argsfile {d}/slapd.args\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             TLSCertificateFile {d}/cert.pem\n\
             TLSCertificateKeyFile {d}/key.pem\n\
             database mdb\n\
             maxsize 1073741824\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PASSWORD}\n\
             directory {d}/data\n\
             {database_conf}\n\
             limits * size.prtotal=unlimited\n\
             access to attrs=userPassword by anonymous auth by * none\n\
             access to * by * read\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).unwrap();
        std::fs::write(d.join("data.ldif"), ldif.text()).unwrap();
        run(
            Command::new("slapadd")
                .arg("-q")
                .arg("-f")
                .arg(d.join("slapd.conf"))
                .arg("-l")
                .arg(d.join("data.ldif")),
            "slapadd",
        );
        let mut last_log = String::new();
        // A port found free may be taken by a parallel test before slapd binds it: retry.
        for _ in 0..5 {
            let (port, ldaps_port) = (free_port(), free_port());
            let log = std::fs::File::create(d.join("slapd.log")).unwrap();
            let child = Command::new("slapd")
                .arg("-h")
                .arg(format!(
                    "ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{ldaps_port}/"
                ))
                .arg("-f")
                .arg(d.join("slapd.conf"))
                .args(["-d", "0"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("slapd: is the slapd package installed?");
            let mut slapd = Slapd {
                dir,
                child: Some(child),
                port,
                ldaps_port,
            };
            if slapd.wait_ready() {
                return slapd;
            }
            last_log = std::fs::read_to_string(slapd.dir().join("slapd.log")).unwrap_or_default();
            slapd.stop();
            dir = slapd.take_dir();
        }
        panic!("slapd did not start:\n{last_log}");
    }

    fn take_dir(mut self) -> TempDir {
        self.stop();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Polls with `ldapwhoami` until the server answers (about 0.2 s).
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child
                && child.try_wait().unwrap().is_some()
            {
                return false;
            }
            let ok = Command::new("ldapwhoami")
                .args(["-x", "-H", &self.url()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// The server's self-signed certificate (PEM), to trust as `ca_file`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// The server's own directory (config, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("slapd is stopped").id()
    }

    /// Stops the server (SIGKILL: its data is thrown away anyway) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections are still accepted by the kernel but nothing
    /// answers, like a hung server. Dropping it kills it all the same.
    pub fn pause(&self) {
        use rustix::process::{Pid, Signal, kill_process};
        let raw = i32::try_from(self.pid()).expect("a pid fits in an i32");
        let pid = Pid::from_raw(raw).expect("slapd's pid is positive");
        kill_process(pid, Signal::STOP).unwrap_or_else(|e| panic!("SIGSTOP to slapd {raw}: {e}"));
    }

    /// Runs `ldapsearch` against this server with `args` after `-H URL`; returns its exit code
    /// and stdout.
    pub fn ldapsearch(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new("ldapsearch")
            .args(["-H", &self.url()])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
