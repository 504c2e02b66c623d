//! Record payloads: metadata and documents, how they are stored, indexed and filtered.

pub(crate) mod codec;
mod dense;
mod filter;
pub(crate) mod index;
pub(crate) mod links;
pub(crate) mod matches;
mod numbers;
pub(crate) mod store;
mod value;

pub use codec::Payload;
pub use filter::Where;
pub(crate) use value::{validate_metadata, ScalarKey};
pub use value::{Metadata, Scalar};
