//! `idfed report`: which containers can write as which share owners, from the configs as they are.

use crate::cli::{Format, ReportArgs};
use crate::report::{Filter, render_csv, render_grid, render_owner, report};

use super::load::load;
use super::{Globals, Outcome, require_format};

/// Runs `idfed report`.
///
/// Every share is resolved even with `--share`: a CT's exposure is measured against the owners of
/// all the shares it uses, not only the one shown.
///
/// # Errors
/// Loading errors; an unknown `--share`; a `--ct` that is not a CT of the cluster.
pub fn run(globals: &Globals, args: &ReportArgs) -> anyhow::Result<Outcome> {
    require_format(
        globals,
        &[Format::Text, Format::Json, Format::Csv],
        "report",
    )?;
    let ctx = load(globals, false)?;
    ctx.check_filters(args.share.as_deref(), args.ct)?;
    ctx.warn_unreadable_cts("left out of the report", None);
    let filter = Filter {
        owner: args.owner.clone(),
        ct: args.ct,
        share: args.share.clone(),
    };
    let rep = report(&ctx.params, &ctx.shares, &ctx.cluster.cts, &filter);
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&rep)? + "\n",
        Format::Csv => render_csv(&rep),
        Format::Text => match &args.owner {
            Some(owner) => render_owner(&rep, owner),
            None => render_grid(&rep),
        },
    };
    super::print_stdout(&text)?;
    Ok(Outcome::Ok)
}
