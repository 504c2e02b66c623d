//! The byte layout of one log record, and its encoder and validating decoder.
//!
//! ```text
//! 0   u32  payload length in bytes
//! 4   u32  CRC32C of bytes 0..4 and 8..32+len (everything but itself)
//! 8   u64  LSN
//! 16  u64  durable LSN: every record at or below it was on stable storage when this
//!          one was encoded (tells a torn tail from corruption, see `reader.rs`)
//! 24  u32  salt of the segment generation the record was written into
//! 28  u8   kind (chosen by the caller; kinds >= 0xF0 are the log's own)
//! 29  [3]  zero
//! 32  payload, then zero padding to a multiple of 8 bytes
//! ```
//!
//! All integers are little-endian. The salt makes bytes left in a reused segment by an
//! earlier generation fail validation even where they are intact records.

use crate::le;

/// Bytes before the payload.
pub(crate) const RECORD_HEADER: usize = 32;
/// Records start at multiples of this.
pub(crate) const ALIGN: usize = 8;
/// The kind of the marker a clean close appends: nothing follows it until reopen.
pub(crate) const KIND_CLOSE: u8 = 0xF0;
/// Kinds at or above this are reserved for the log itself.
pub const RESERVED_KINDS: u8 = 0xF0;
/// LSNs stay below this (2^62): a header or record claiming more is damage, and adding
/// to any LSN the log accepts cannot overflow.
pub(crate) const MAX_LSN: u64 = 1 << 62;

/// The encoded size of a record with `payload` bytes, padding included.
pub(crate) fn encoded_len(payload: usize) -> usize {
    (RECORD_HEADER + payload).next_multiple_of(ALIGN)
}

/// The fields of a record header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) len: u32,
    pub(crate) lsn: u64,
    pub(crate) durable: u64,
    pub(crate) salt: u32,
    pub(crate) kind: u8,
}

/// Appends one encoded record (header, the payload `parts` back to back, padding) to
/// `buf`. The caller has checked that the payload length fits in a `u32`.
pub(crate) fn encode(buf: &mut Vec<u8>, h: Header, parts: &[&[u8]]) {
    let start = buf.len();
    buf.extend_from_slice(&h.len.to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    buf.extend_from_slice(&h.lsn.to_le_bytes());
    buf.extend_from_slice(&h.durable.to_le_bytes());
    buf.extend_from_slice(&h.salt.to_le_bytes());
    buf.extend_from_slice(&[h.kind, 0, 0, 0]);
    for p in parts {
        buf.extend_from_slice(p);
    }
    let end = start + RECORD_HEADER + h.len as usize;
    let crc = checksum(&buf[start..end]);
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    buf.resize(start + encoded_len(h.len as usize), 0);
}

/// CRC32C of a record's bytes (header and payload) except the CRC field itself.
fn checksum(record: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&record[..4]);
    crc32c::crc32c_append(crc, &record[8..])
}

/// Why bytes at a position are not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Fewer bytes left than a header, or than the length says.
    Short,
    /// The length is zero or larger than any record can be; often just zeros.
    BadLength,
    /// The salt is another generation's.
    OtherGeneration,
    /// The checksum does not match.
    Checksum,
    /// Reserved bytes are not zero, or the kind is reserved but not one the log writes.
    Reserved,
    /// The LSN is out of range, or the record claims itself durable.
    Lsn,
}

impl Invalid {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Invalid::Short => "record cut short",
            Invalid::BadLength => "impossible record length",
            Invalid::OtherGeneration => "record from another segment generation",
            Invalid::Checksum => "record checksum mismatch",
            Invalid::Reserved => "reserved bytes or kind",
            Invalid::Lsn => "LSN out of range",
        }
    }
}

/// Decodes and validates the record at the start of `bytes` against `salt`; a payload
/// of more than `max_payload` bytes is refused. Returns the header (the payload is
/// `bytes[RECORD_HEADER..][..len]`) and the record's encoded length.
pub(crate) fn decode(
    bytes: &[u8],
    salt: u32,
    max_payload: usize,
) -> Result<(Header, usize), Invalid> {
    let (Some(len), Some(crc), Some(lsn), Some(durable), Some(stored_salt), Some(&kind)) = (
        le::u32_at(bytes, 0),
        le::u32_at(bytes, 4),
        le::u64_at(bytes, 8),
        le::u64_at(bytes, 16),
        le::u32_at(bytes, 24),
        bytes.get(28),
    ) else {
        return Err(Invalid::Short);
    };
    if bytes.len() < RECORD_HEADER {
        return Err(Invalid::Short); // the header's padding bytes are missing
    }
    if len == 0 || len as usize > max_payload {
        // Zero-length records are never written, so zeros here are unwritten space.
        return Err(Invalid::BadLength);
    }
    let h = Header {
        len,
        lsn,
        durable,
        salt: stored_salt,
        kind,
    };
    if h.salt != salt {
        return Err(Invalid::OtherGeneration);
    }
    let total = encoded_len(len as usize);
    if bytes.len() < total {
        return Err(Invalid::Short);
    }
    if checksum(&bytes[..RECORD_HEADER + len as usize]) != crc {
        return Err(Invalid::Checksum);
    }
    if bytes[29..32] != [0, 0, 0] || (h.kind >= RESERVED_KINDS && h.kind != KIND_CLOSE) {
        return Err(Invalid::Reserved);
    }
    if h.lsn == 0 || h.lsn >= MAX_LSN || h.durable >= h.lsn {
        return Err(Invalid::Lsn);
    }
    Ok((h, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize) -> Header {
        Header {
            len: len as u32,
            lsn: 42,
            durable: 41,
            salt: 0xdead_beef,
            kind: 3,
        }
    }

    #[test]
    fn round_trip_with_parts_and_padding() {
        let mut buf = vec![9u8; 5]; // encoding appends after existing bytes
        encode(&mut buf, header(7), &[b"abc", b"defg"]);
        assert_eq!(buf.len(), 5 + 40);
        let (h, total) = decode(&buf[5..], 0xdead_beef, 100).unwrap();
        assert_eq!(h, header(7));
        assert_eq!(total, 40);
        assert_eq!(&buf[5 + RECORD_HEADER..][..7], b"abcdefg");
    }

    #[test]
    fn every_damage_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, header(13), &[&[7u8; 13]]);
        for i in 0..RECORD_HEADER + 13 {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(&bad, 0xdead_beef, 100).is_err(), "flip {i}:{bit}");
            }
        }
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut], 0xdead_beef, 100).is_err());
        }
        assert_eq!(decode(&buf, 1, 100), Err(Invalid::OtherGeneration));
        assert_eq!(decode(&buf, 0xdead_beef, 12), Err(Invalid::BadLength));
        assert_eq!(decode(&[0; 64], 0, 100), Err(Invalid::BadLength));
    }

    #[test]
    fn reserved_kinds_and_impossible_lsns_are_refused_even_with_a_good_checksum() {
        let enc = |h: Header| {
            let mut b = Vec::new();
            encode(&mut b, h, &[b"abc"]);
            b
        };
        let ok = header(3);
        assert!(decode(&enc(ok), ok.salt, 100).is_ok());
        let close = Header {
            kind: KIND_CLOSE,
            ..ok
        };
        assert!(decode(&enc(close), ok.salt, 100).is_ok());
        for bad in [
            Header { kind: 0xF5, ..ok },
            Header { lsn: MAX_LSN, ..ok },
            Header {
                lsn: u64::MAX,
                ..ok
            },
            Header {
                lsn: 0,
                durable: 0,
                ..ok
            },
            Header {
                durable: ok.lsn,
                ..ok
            },
        ] {
            assert!(decode(&enc(bad), ok.salt, 100).is_err(), "{bad:?}");
        }
    }
}
