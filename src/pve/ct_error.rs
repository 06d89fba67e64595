//! A CT config that could not be read or parsed, as the commands and `check` describe it: who,
//! what is wrong, and where.

use std::path::PathBuf;

use crate::pve::ctconf::CtConfigErrorKind;
use crate::pve::discover::{CtLoadCause, CtLoadError};

/// What was wrong with a CT config that could not be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CtErrorKind {
    /// The file could not be read.
    Unreadable,
    /// An `lxc.idmap` line of the main section is malformed: LXC refuses to start the CT.
    MalformedIdmap { line: usize, text: String },
    /// Another line (a mount point) is malformed: PVE cannot read the CT either.
    Malformed { line: usize, text: String },
    /// Other nodes have a config with the same vmid (their host paths): idfed touches none.
    Duplicate { others: Vec<PathBuf> },
}

/// A CT config that could not be read or parsed.
#[derive(Clone, Debug)]
pub struct CtError {
    pub node: String,
    pub vmid: Option<u32>,
    /// What is wrong, without the path.
    pub message: String,
    /// The config's host path (`/etc/pve/nodes/pve1/lxc/301.conf`).
    pub path: PathBuf,
    pub kind: CtErrorKind,
}

impl CtError {
    /// From a discovery error.
    pub fn from_load(e: &CtLoadError) -> CtError {
        let (kind, message) = match &e.cause {
            CtLoadCause::Read(err) => (CtErrorKind::Unreadable, format!("{err}: {}", err.source)),
            CtLoadCause::Parse(err) => {
                let (line, text) = (err.line, err.text.clone());
                match &err.kind {
                    CtConfigErrorKind::Idmap(inner) => (
                        CtErrorKind::MalformedIdmap { line, text },
                        inner.to_string(),
                    ),
                    CtConfigErrorKind::MountPoint(inner) => {
                        (CtErrorKind::Malformed { line, text }, inner.to_string())
                    }
                }
            }
            CtLoadCause::Duplicate { others, .. } => (
                CtErrorKind::Duplicate {
                    others: others.clone(),
                },
                e.cause.to_string(),
            ),
        };
        CtError {
            node: e.node.clone(),
            vmid: Some(e.vmid),
            message,
            path: e.host_path.clone(),
            kind,
        }
    }

    /// `CT 307 on pve2`.
    pub fn who(&self) -> String {
        match self.vmid {
            Some(vmid) => format!("CT {vmid} on {}", self.node),
            None => format!("a CT on {}", self.node),
        }
    }

    /// `its config cannot be read: line 6 of /etc/pve/...: ...`, on one line (without
    /// [`CtError::who`]); for a duplicate vmid, `its VMID is also configured in ...`.
    pub fn unreadable(&self) -> String {
        let path = self.path.display();
        match &self.kind {
            CtErrorKind::Unreadable => format!("its config cannot be read: {}", self.message),
            CtErrorKind::MalformedIdmap { line, .. } => format!(
                "its config cannot be read: line {line} of {path} is a malformed idmap entry: {}",
                self.message
            ),
            CtErrorKind::Malformed { line, .. } => format!(
                "its config cannot be read: line {line} of {path} is a malformed mount point: {}",
                self.message
            ),
            CtErrorKind::Duplicate { others } => format!(
                "{path}: its VMID is also configured in {}: idfed does not know which is the CT",
                paths(others)
            ),
        }
    }
}

/// `/a`, `/b`: host paths for a message.
fn paths(list: &[PathBuf]) -> String {
    list.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
