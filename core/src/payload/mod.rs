//! Record metadata: the values a record may carry and the `where` filters over them.

mod filter;
mod value;

pub use filter::Where;
#[allow(
    unused_imports,
    reason = "the payload store of issue 13 uses them; not wired yet"
)]
pub(crate) use value::{validate_metadata, ScalarKey};
pub use value::{Metadata, Scalar};
