//! Container id maps: the extent type, building a CT's map from its passthroughs, the kernel's
//! budget, validation of any map, and what a map needs from the host (subids). No I/O.

mod budget;
mod build;
mod extent;
mod idspec;
mod needs;
mod validate;

pub use budget::{
    Budget, Fit, KERNEL_MAX_BYTES, KERNEL_MAX_EXTENTS, LXC_MAX_BYTES, fit, gaps, kernel_text,
    text_len,
};
pub use build::{BuiltMap, MapError, MapParams, build, check_passthrough, join, layout};
pub use extent::{Extent, ExtentJson, ExtentParseError};
pub use idspec::{IdSpec, IdSpecError};
pub use needs::{Subid, host_id, maps_to_self, outside_ranges, passthroughs, subid_lines, subids};
pub use validate::{MapProblem, validate};
