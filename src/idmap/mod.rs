//! Container id maps: the extent type, building a CT's map from its passthroughs, the kernel's
//! budget, and validation of any map. No I/O.

mod extent;

pub use extent::{Extent, ExtentJson, ExtentParseError};
