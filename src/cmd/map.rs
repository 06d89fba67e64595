//! `idfed map`: the map for a set of ids, no configuration needed.

use crate::cli::MapArgs;

use super::{Globals, Outcome};

/// Runs `idfed map`.
pub fn run(_globals: &Globals, _args: &MapArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`idfed map` is not available in this build yet")
}
