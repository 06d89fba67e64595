//! `idfed report`: which containers can write as which share owners, from the configs as they are.

use crate::cli::{Format, ReportArgs};
use anyhow::bail;

use crate::ids;
use crate::report::{Filter, acting_as, render_csv, render_grid, render_owner, report};

use super::load::{Loaded, load_offline};
use super::{Globals, Outcome, require_format};

/// Runs `idfed report`.
///
/// Every share is resolved even with `--share`: a CT's exposure is measured against the owners of
/// all the shares it uses, not only the one shown.
///
/// # Errors
/// Loading errors; an unknown `--share`; a `--ct` that is not a CT of the cluster; an `--owner`
/// name no source has.
pub(crate) fn run(globals: &Globals, args: &ReportArgs) -> anyhow::Result<Outcome> {
    require_format(
        globals,
        &[Format::Text, Format::Json, Format::Csv],
        "report",
    )?;
    let ctx = load_offline(globals, args.owner.is_some())?;
    if let Some(first) = ctx.unresolved.first() {
        anyhow::bail!("{first}");
    }
    ctx.check_filters(args.share.as_deref(), args.ct)?;
    ctx.warn_unreadable_cts("left out of the report", None);
    let filter = Filter {
        owner: args.owner.clone(),
        ct: args.ct,
        share: args.share.clone(),
    };
    let mut rep = report(&ctx.params, &ctx.shares, &ctx.cluster.cts, &filter);
    if let Some(owner) = &args.owner
        && rep.rows.is_empty()
    {
        match ids::parse_id(owner) {
            // An id no owner has: who can act as it comes from the maps themselves.
            Ok(id) => {
                rep.acting = acting_as(id, &ctx.params, &ctx.cluster.cts, &ctx.cluster.managed);
                rep.acting.retain(|a| args.ct.is_none_or(|ct| ct == a.ct));
            }
            Err(_) => known_name(&ctx, owner)?,
        }
    }
    rep.mark_adopted(&ctx.cluster.managed);
    let text = match globals.format {
        Format::Json => serde_json::to_string_pretty(&rep)? + "\n",
        Format::Csv => render_csv(&rep),
        Format::Text => match &args.owner {
            Some(owner) => render_owner(&rep, owner),
            None => render_grid(&rep),
        },
    };
    super::print_output(globals.format, &text)?;
    Ok(Outcome::Ok)
}

/// Refuses an `--owner` name that no share's owners and no source has: a typo is an error, not
/// an empty answer.
///
/// # Errors
/// The name is unknown (with the closest owner's name, when one is close).
fn known_name(ctx: &Loaded, name: &str) -> anyhow::Result<()> {
    let owners = || ctx.shares.iter().flat_map(|s| &s.owners);
    if owners().any(|o| o.name == name)
        || ctx
            .directories
            .iter()
            .any(|d| d.user(name).is_some() || d.group(name).is_some())
    {
        return Ok(());
    }
    let hint = crate::suggest::closest(name, owners().map(|o| o.name.as_str()))
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default();
    bail!(
        "`--owner {name}`: no source has a user or group `{name}`{hint}: expected an owner's name \
         or a numeric id"
    )
}
