//! Payloads and `where` filters as fuzz inputs, and the model's own reading of them.
//!
//! Inputs (decoded with [`arbitrary`], written back by `Encode` for seeds): metadata
//! is a list of (key, value) pairs over a fixed set of keys, with values from small
//! domains (null, booleans, a few integers including the edges of `i64` and 2^53 + 1,
//! halves, -0.0, 1/11, a few strings, lists of those) so that filters hit; a few values
//! and one key are ones a write must refuse (`payload.rs`). A filter is a tree at most
//! three deep of conditions on those keys, with arguments from the same domains,
//! rendered in every form the grammar has (shorthand, operator dicts, several
//! operators or keys in one dict, `$and`, `$or`), and a few that the parser must
//! refuse (`filter.rs`).
//!
//! The model decides by itself, without the library's code, which metadata a write
//! accepts ([`valid_metadata`]), which filters parse ([`WhereIn::valid`]) and which
//! records a filter matches ([`WhereIn::matches`]), by the rules `Where` and `Metadata`
//! document: a condition on a key fails where the key is missing or null; `$eq`, `$ne`,
//! `$in`, `$nin` and the ranges look at scalars only; ranges at numbers only (not
//! booleans); `$contains` at lists only; numbers compare as `f64`, and a string, a
//! number and a boolean are never equal to each other.

mod filter;
mod payload;

pub(crate) use filter::{Arg, Cond, Node, WhereIn};
pub(crate) use payload::{document, valid_metadata, Bad, Key, Lit, MetaIn, PayloadIn, Val};
