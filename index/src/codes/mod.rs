//! Compact traversal codes: a copy of every indexed vector in `f16` or `i8`, which the
//! graph walk scores instead of the `f32` vectors; the walk's best candidates are then
//! re-scored exactly from the `f32` source, which stays the source of truth.
//!
//! A 384-d MiniLM vector is 1,536 bytes in `f32`, 768 in `f16` and 384 in `i8`: a walk
//! that computes about a thousand distances reads a quarter of the memory, and the `i8`
//! kernels (VNNI where the CPU has it) do four times the work per instruction. The codes
//! live in anonymous memory on 2 MiB pages ([`Buckets`]), rebuilt from the `f32` source
//! when an index is opened.
//!
//! `i8` needs a [`Calibration`] (see `calibrate.rs`); it is fitted on the first
//! [`CALIBRATE_AFTER`] vectors indexed and then frozen (the database keeps it in its
//! catalog, so a reopened index encodes exactly as before). Until then an `i8` index
//! walks the `f32` vectors.

mod calibrate;
mod kernels;
pub(crate) mod signs;

pub use calibrate::Calibration;
pub(crate) use kernels::{DotF16, DotI8, L2F16, L2I8};

use simsimd::f16;

use crate::buckets::Buckets;
use crate::types::Slot;
use signs::pack_signs;

/// Vectors indexed before an `i8` index fits its calibration and starts walking codes.
pub const CALIBRATE_AFTER: usize = 1024;

/// The compact copy a graph walk scores ([`Hnsw::quantize`](crate::Hnsw::quantize)).
///
/// ```
/// use fletchdb_index::Quantization;
/// assert_eq!(Quantization::parse("i8"), Some(Quantization::I8));
/// assert_eq!(Quantization::I8.name(), "i8");
/// assert_eq!(Quantization::F16.bytes_per_component(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Quantization {
    /// No copy: the walk scores the `f32` vectors.
    #[default]
    None,
    /// IEEE half precision: no calibration, about three decimal digits per component.
    F16,
    /// One signed byte per component on a calibrated scale.
    I8,
}

impl Quantization {
    /// `"none"`, `"f16"` or `"i8"`, as [`parse`](Self::parse) reads it.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::F16 => "f16",
            Quantization::I8 => "i8",
        }
    }

    /// The quantization called `name`, if any.
    pub fn parse(name: &str) -> Option<Quantization> {
        match name {
            "none" => Some(Quantization::None),
            "f16" => Some(Quantization::F16),
            "i8" => Some(Quantization::I8),
            _ => None,
        }
    }

    /// Stable one-byte code used in persisted files.
    pub fn code(self) -> u8 {
        match self {
            Quantization::None => 0,
            Quantization::F16 => 1,
            Quantization::I8 => 2,
        }
    }

    /// The quantization for a code written by [`code`](Self::code), if it is one.
    pub fn from_code(code: u8) -> Option<Quantization> {
        match code {
            0 => Some(Quantization::None),
            1 => Some(Quantization::F16),
            2 => Some(Quantization::I8),
            _ => None,
        }
    }

    /// The default for `dim`-component vectors: `I8` from 32 components up, else `None`.
    ///
    /// On minilm-mix-dev (100,000 × 384-d, through the database, one thread) `I8` gave
    /// the recall of `None` at each ef (0.957 / 0.991 against 0.954 / 0.991 at ef 24 /
    /// 64) at 2.3-2.8 times its queries per second, and built in half the time. Below
    /// 32 components a vector is a cache line or two either way, and 255 levels per
    /// component leave many near-ties for the walk.
    ///
    /// ```
    /// use fletchdb_index::Quantization;
    /// assert_eq!(Quantization::default_for(384), Quantization::I8);
    /// assert_eq!(Quantization::default_for(3), Quantization::None);
    /// ```
    pub fn default_for(dim: usize) -> Quantization {
        if dim >= 32 {
            Quantization::I8
        } else {
            Quantization::None
        }
    }

    /// Bytes a component takes in the compact copy (4 for `None`: the `f32` itself).
    pub fn bytes_per_component(self) -> usize {
        match self {
            Quantization::None => 4,
            Quantization::F16 => 2,
            Quantization::I8 => 1,
        }
    }
}

/// The codes of one index: an encoding and a row of `dim` codes per slot.
pub(crate) struct Codes {
    kind: Quantization,
    dim: usize,
    /// For `I8`; `F16` needs none.
    calibration: Option<Calibration>,
    rows: Buckets,
    /// For `I8`: the sign bit of each component's code, `dim / 8` bytes a row (48 for
    /// 384-d, against 384 for the code) in rows of `signs::stride` bytes (64), which the sign pre-scan ranks against the
    /// query (`signs.rs`, `exact.rs`).
    signs: Buckets,
}

impl Codes {
    /// No rows yet, encoding as `kind` (`F16`, or `I8` with its calibration).
    pub(crate) fn new(kind: Quantization, dim: usize, calibration: Option<Calibration>) -> Self {
        Codes {
            kind,
            dim,
            calibration,
            rows: Buckets::new(dim * kind.bytes_per_component()),
            signs: Buckets::new(signs::stride(dim.div_ceil(8))),
        }
    }

    /// Bytes from one slot's sign bits to the next in [`sign_rows`](Self::sign_rows).
    pub(crate) fn sign_stride(&self) -> usize {
        signs::stride(self.dim.div_ceil(8))
    }

    pub(crate) fn kind(&self) -> Quantization {
        self.kind
    }

    pub(crate) fn calibration(&self) -> Option<Calibration> {
        self.calibration
    }

    /// Bytes of memory the rows hold.
    pub(crate) fn allocated(&self) -> usize {
        self.rows.allocated() + self.signs.allocated()
    }

    /// True when the rows have sign bits beside them (`I8`).
    pub(crate) fn has_signs(&self) -> bool {
        self.kind == Quantization::I8
    }

    /// Encodes `v` (`dim` long) into `slot`'s row.
    ///
    /// The caller guarantees that no search or insert reads `slot`'s row meanwhile: the
    /// slot is not linked from any list yet (an insert writes its code before linking
    /// it; a freed slot is reused only after every walk that could still reach it has
    /// ended, `Hnsw::wait_unobserved`), or every insert is held off (`links_gate`) and
    /// no walk scores codes yet (activation).
    pub(crate) fn write(&self, slot: Slot, v: &[f32]) {
        if v.len() != self.dim {
            return;
        }
        let Some(base) = self.rows.ensure(slot.index()) else {
            return;
        };
        match self.kind {
            Quantization::I8 => {
                let cal = self.calibration.unwrap_or(Calibration::UNIT);
                // SAFETY: `base` starts the slot's row of `dim` bytes inside a live
                // bucket (freed only when `rows` drops); the caller guarantees that
                // nobody reads it meanwhile, and rows never overlap.
                let row = unsafe { std::slice::from_raw_parts_mut(base.cast::<i8>(), self.dim) };
                cal.encode(v, row);
                let Some(bits) = self.signs.ensure(slot.index()) else {
                    return;
                };
                // SAFETY: as above, for the slot's `dim / 8`-byte row of sign bits.
                let bits = unsafe { std::slice::from_raw_parts_mut(bits, self.dim.div_ceil(8)) };
                pack_signs(row, bits);
            }
            Quantization::F16 => {
                // SAFETY: as above, for `dim` f16s (2-byte rows of `2 * dim` bytes in a
                // bucket aligned to 64 bytes, so aligned for u16).
                let row = unsafe { std::slice::from_raw_parts_mut(base.cast::<f16>(), self.dim) };
                for (c, &x) in row.iter_mut().zip(v) {
                    *c = f16::from_f32(x);
                }
            }
            Quantization::None => {}
        }
    }

    /// `slot`'s `i8` row; empty (infinitely far) if its bucket was never allocated.
    #[inline(always)]
    pub(crate) fn i8_row(&self, slot: u32) -> &[i8] {
        match self.rows.get(slot as usize) {
            // SAFETY: the row is `dim` bytes inside a live bucket, freed only when `rows`
            // drops (`&self` keeps it alive); its writes happen before any walk can
            // reach the slot (see `write`), and unwritten rows are zeroed bytes.
            Some(p) if self.kind == Quantization::I8 => unsafe {
                std::slice::from_raw_parts(p.cast::<i8>(), self.dim)
            },
            _ => &[],
        }
    }

    /// `slot`'s sign bits (see [`pack_signs`]); empty if it has none.
    #[inline(always)]
    pub(crate) fn sign_row(&self, slot: u32) -> &[u8] {
        match self.signs.get(slot as usize) {
            // SAFETY: as in `i8_row`, for the `dim / 8` bytes of sign bits `write`
            // packs beside the code.
            Some(p) if self.kind == Quantization::I8 => unsafe {
                std::slice::from_raw_parts(p, self.dim.div_ceil(8))
            },
            _ => &[],
        }
    }

    /// The sign bits of the `n` slots from `first` on, [`sign_stride`](Self::sign_stride)
    /// bytes apart, if they lie in one bucket (64 from a multiple of 64 do); else empty.
    #[inline(always)]
    pub(crate) fn sign_rows(&self, first: u32, n: usize) -> &[u8] {
        match self.signs.run(first as usize, n) {
            // SAFETY: as in `sign_row`, for `n` consecutive rows inside one live bucket
            // (`run` checks that they share it).
            Some(p) if self.kind == Quantization::I8 => unsafe {
                std::slice::from_raw_parts(p, n * self.sign_stride())
            },
            _ => &[],
        }
    }

    /// `slot`'s `f16` row; empty (infinitely far) if its bucket was never allocated.
    #[inline(always)]
    pub(crate) fn f16_row(&self, slot: u32) -> &[f16] {
        match self.rows.get(slot as usize) {
            // SAFETY: as in `i8_row`, for `dim` 2-byte values, aligned (see `write`);
            // zeroed bytes are the f16 value 0.0.
            Some(p) if self.kind == Quantization::F16 => unsafe {
                std::slice::from_raw_parts(p.cast::<f16>(), self.dim)
            },
            _ => &[],
        }
    }

    /// Encodes a query into the matching buffer of `out`.
    pub(crate) fn encode_query(&self, q: &[f32], out: &mut CodedQuery) {
        match self.kind {
            Quantization::I8 => {
                out.i8.clear();
                out.i8.resize(q.len(), 0);
                self.calibration
                    .unwrap_or(Calibration::UNIT)
                    .encode(q, &mut out.i8);
            }
            Quantization::F16 => {
                out.f16.clear();
                out.f16.extend(q.iter().map(|&x| f16::from_f32(x)));
            }
            Quantization::None => {}
        }
    }
}

/// A query encoded for the walk, kept in the scratch.
#[derive(Debug, Default)]
pub(crate) struct CodedQuery {
    pub(crate) i8: Vec<i8>,
    pub(crate) f16: Vec<f16>,
    /// `i8` as the sign pre-scan ranks rows against it, set by the scan itself
    /// (encoding it for every walk cost about a tenth of the unfiltered speed).
    pub(crate) signs: signs::SignQuery,
}
