//! [`Payload`], what a record carries besides its vector, and its stored form: the
//! same bytes in a log record and in the catalog.
//!
//! ```text
//! flags u8            bit 0: metadata follows, bit 1: a document follows; others zero
//! [meta_len u32, meta_len bytes of JSON]   the metadata object, if bit 0
//! [the rest: UTF-8]                        the document, if bit 1
//! ```
//!
//! The metadata is stored as JSON text (serde_json, keys in the order given): a
//! Debian package's four keys take about 110 bytes. An absent payload (no metadata, no
//! document) is never stored: its record is a plain put, and the catalog holds no row.

use crate::error::{Error, Result};
use crate::payload::{validate_metadata, Metadata};

const HAS_META: u8 = 1;
const HAS_DOC: u8 = 2;

/// What a record holds besides its vector: metadata (a JSON object of scalars and
/// lists of scalars) and a document (the text the vector was made from), each optional.
///
/// ```
/// use fletchdb::Payload;
/// let p = Payload::new()
///     .with_metadata(serde_json::json!({"source": "wiki", "year": 2021}))
///     .with_document("The text the vector came from.");
/// assert_eq!(p.metadata.as_ref().unwrap()["year"], 2021);
/// assert!(!p.is_empty());
/// assert!(Payload::new().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The record's metadata, if it has any.
    pub metadata: Option<Metadata>,
    /// The record's document, if it has one.
    pub document: Option<String>,
}

impl Payload {
    /// No metadata, no document.
    pub fn new() -> Payload {
        Payload::default()
    }

    /// Sets the metadata from a JSON object; any other JSON value leaves the metadata
    /// unset (a payload made this way is checked when it is written, as every payload is).
    #[must_use]
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Payload {
        if let serde_json::Value::Object(map) = metadata {
            self.metadata = Some(map);
        }
        self
    }

    /// Sets the document.
    #[must_use]
    pub fn with_document(mut self, document: impl Into<String>) -> Payload {
        self.document = Some(document.into());
        self
    }

    /// True if it holds neither metadata nor a document.
    pub fn is_empty(&self) -> bool {
        self.metadata.is_none() && self.document.is_none()
    }

    /// Checks the metadata's values (see [`Metadata`]).
    pub(crate) fn validate(&self) -> Result<()> {
        match &self.metadata {
            Some(meta) => validate_metadata(meta),
            None => Ok(()),
        }
    }

    /// The payload's stored form: the bytes a log record and the catalog hold for it.
    /// [`from_bytes`](Self::from_bytes) reads it back.
    ///
    /// ```text
    /// flags u8          bit 0: metadata follows; bit 1: a document follows; others 0
    /// meta_len u32 LE   if bit 0: the length of the metadata, then the metadata as
    ///                   JSON text (an object, keys in their order)
    /// the rest          if bit 1: the document, UTF-8 (else nothing)
    /// ```
    ///
    /// An empty payload is the empty slice (and no other payload is).
    ///
    /// A payload whose metadata a write would refuse (see [`Metadata`]) still encodes,
    /// but `from_bytes` refuses the bytes.
    ///
    /// ```
    /// use fletchdb::{Error, Payload};
    /// use serde_json::json;
    ///
    /// let p = Payload::new()
    ///     .with_metadata(json!({"page": 3, "ratio": 1.0 / 11.0, "tags": ["a", 1]}))
    ///     .with_document("The text the vector came from.");
    /// let bytes = p.to_bytes();
    /// assert_eq!(Payload::from_bytes(&bytes)?, p);
    /// assert!(Payload::new().to_bytes().is_empty());
    /// assert_eq!(Payload::from_bytes(&[])?, Payload::new());
    ///
    /// // Bytes that are not a stored payload are refused, saying why.
    /// let err = Payload::from_bytes(&bytes[..3]).unwrap_err();
    /// assert!(matches!(err, Error::InvalidArgument(ref why) if why.contains("metadata")));
    /// # Ok::<(), fletchdb::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        self.encode()
    }

    /// Reads a payload's stored form, as [`to_bytes`](Self::to_bytes) writes it; the
    /// empty slice is the empty payload. What it accepts is a payload a write would
    /// accept, and its `to_bytes` reads back to an equal payload.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] saying what is wrong: unknown flags, a cut metadata
    /// length or metadata, metadata that is not a JSON object of values a record may
    /// carry (see [`Metadata`]), a document that is not UTF-8, or bytes after a payload
    /// without a document.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload> {
        Payload::decode(bytes).map_err(Error::InvalidArgument)
    }

    /// The stored form; empty for an empty payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        if self.is_empty() {
            return Vec::new();
        }
        let meta = self
            .metadata
            .as_ref()
            .map(|m| serde_json::to_vec(m).unwrap_or_default());
        let doc = self.document.as_deref().unwrap_or("");
        let mut out = Vec::with_capacity(5 + meta.as_ref().map_or(0, Vec::len) + doc.len());
        out.push(
            if meta.is_some() { HAS_META } else { 0 }
                | if self.document.is_some() { HAS_DOC } else { 0 },
        );
        if let Some(meta) = meta {
            out.extend_from_slice(&(meta.len() as u32).to_le_bytes());
            out.extend_from_slice(&meta);
        }
        out.extend_from_slice(doc.as_bytes());
        out
    }

    /// Decodes what [`encode`](Self::encode) wrote; the empty slice is the empty
    /// payload. The error says what is wrong, for the caller to place in a file.
    pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Payload, String> {
        let Some((&flags, rest)) = bytes.split_first() else {
            return Ok(Payload::new());
        };
        if flags & !(HAS_META | HAS_DOC) != 0 || flags == 0 {
            return Err(format!(
                "payload flags {flags:#04x} are not ones this version writes"
            ));
        }
        let mut rest = rest;
        let metadata = if flags & HAS_META != 0 {
            let len = fletchdb_storage::le::u32_at(rest, 0)
                .ok_or("payload ends inside its metadata length")? as usize;
            // `checked_add`: on a 32-bit target a length near `u32::MAX` would wrap.
            let end = len
                .checked_add(4)
                .ok_or("payload metadata length overflows")?;
            let json = rest.get(4..end).ok_or("payload ends inside its metadata")?;
            rest = &rest[end..];
            let meta: Metadata = serde_json::from_slice(json)
                .map_err(|e| format!("payload metadata is not a JSON object: {e}"))?;
            validate_metadata(&meta).map_err(|e| format!("payload metadata: {e}"))?;
            Some(meta)
        } else {
            None
        };
        let document = if flags & HAS_DOC != 0 {
            Some(
                std::str::from_utf8(rest)
                    .map_err(|e| format!("payload document is not UTF-8: {e}"))?
                    .to_owned(),
            )
        } else if !rest.is_empty() {
            return Err(format!(
                "{} bytes follow a payload without a document",
                rest.len()
            ));
        } else {
            None
        };
        Ok(Payload { metadata, document })
    }
}

/// [`Error::InvalidArgument`] for a list of payloads whose length is not the ids'.
pub(crate) fn check_len(what: &str, got: usize, ids: usize) -> Result<()> {
    if got == ids {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{got} {what} for {ids} ids: give one per id (None for none)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_round_trip_and_damage_is_refused() {
        let cases = [
            Payload::new(),
            Payload::new().with_document(""),
            Payload::new().with_document("héllo"),
            Payload::new().with_metadata(json!({})),
            Payload::new().with_metadata(json!({"b": 1, "a": [1.5, "x", true], "n": null})),
            Payload::new()
                .with_metadata(json!({"k": "v"}))
                .with_document("doc"),
        ];
        for p in &cases {
            let bytes = p.encode();
            assert_eq!(bytes.is_empty(), p.is_empty());
            assert_eq!(&Payload::decode(&bytes).unwrap(), p);
            // Key order is kept.
            if let Some(m) = &p.metadata {
                let back = Payload::decode(&bytes).unwrap().metadata.unwrap();
                assert!(m.keys().eq(back.keys()));
            }
        }
        let full = cases[5].encode();
        for cut in 1..full.len() {
            // A cut inside the metadata is refused; after it, a shorter document is
            // still a document (the log and catalog checksum their values).
            let r = Payload::decode(&full[..cut]);
            if cut < 5 + 9 {
                assert!(r.is_err(), "cut {cut}");
            }
        }
        assert!(Payload::decode(&[0]).is_err());
        assert!(Payload::decode(&[4]).is_err());
        assert!(Payload::decode(&[HAS_META, 2, 0, 0, 0, b'[', b']']).is_err());
        assert!(Payload::decode(&[HAS_META, 9, 0, 0, 0, b'{', b'}']).is_err());
        assert!(Payload::decode(&[HAS_DOC, 0xff]).is_err());
        assert!(Payload::decode(&[HAS_META, 2, 0, 0, 0, b'{', b'}', b'x']).is_err());
        // A nested object is not metadata this version writes.
        let bad = br#"{"a":{"b":1}}"#;
        let mut b = vec![HAS_META];
        b.extend_from_slice(&(bad.len() as u32).to_le_bytes());
        b.extend_from_slice(bad);
        assert!(Payload::decode(&b).is_err());
    }
}
