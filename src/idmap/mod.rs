//! Container id maps: the extent type, building a CT's map from its passthroughs, the kernel's
//! budget, validation of any map, and what a map needs from the host (subids). No I/O.

mod as_built;
mod budget;
mod build;
mod dual;
mod expose;
mod extent;
mod idspec;
mod needs;
mod slots;
mod unmap;
mod validate;
mod warning;

#[cfg(test)]
mod fit_tests;
#[cfg(test)]
mod reference_tests;

pub use as_built::as_built;
pub use budget::{KERNEL_MAX_EXTENTS, LXC_MAX_BYTES, kernel_text, text_len};
pub use build::{
    BuiltMap, MapError, MapParams, OverBudget, OverBudgetParseError, build, check_passthrough,
};
pub use extent::{Extent, ExtentParseError};
pub use idspec::{IdSpec, IdSpecError};
pub use needs::{Subid, inside_ranges, outside_ranges, passthroughs, subids};
pub use validate::{MapProblem, validate};
pub use warning::{KindWarning, MapWarning};
