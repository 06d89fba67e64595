//! `idfed report`: which containers can write as which share owners, from the configs as they are.

use crate::cli::{Format, ReportArgs};
use crate::report::{Filter, render_csv, render_grid, render_owner, report};

use super::context::Context;
use super::{Globals, Outcome, require_format};

/// Runs `idfed report`.
///
/// # Errors
/// Loading errors.
pub fn run(globals: &Globals, args: &ReportArgs) -> anyhow::Result<Outcome> {
    require_format(
        globals,
        &[Format::Text, Format::Json, Format::Csv],
        "report",
    )?;
    let shares: Vec<String> = args.share.iter().cloned().collect();
    let ctx = Context::load(globals, &shares)?;
    let filter = Filter {
        owner: args.owner.clone(),
        ct: args.ct,
        share: args.share.clone(),
    };
    let rep = report(&ctx.params, &ctx.shares, &ctx.cts, &filter);
    match globals.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&rep)?),
        Format::Csv => print!("{}", render_csv(&rep)),
        Format::Text => match &args.owner {
            Some(owner) => print!("{}", render_owner(&rep, owner)),
            None => print!("{}", render_grid(&rep)),
        },
    }
    Ok(Outcome::Ok)
}
