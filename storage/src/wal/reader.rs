//! Reading the log in LSN order, and deciding where it ends.
//!
//! Records are read segment by segment, each checked for length, checksum, salt and the
//! next LSN in sequence. The first position that fails is the end point E. After a
//! crash that is normally a torn tail: the group being written when the process died.
//! It is corruption instead if some intact record after that point says that E was
//! already durable when it was written: every record carries the durable LSN of its
//! moment, so a valid record beyond a bad one tells which of the two happened. Bytes of
//! a group that was being written are never claimed durable by anyone, however the
//! disk reordered them; an acknowledged record that rotted always is, by every record
//! written after it was synced (and by the marker a clean close appends).
//!
//! A clean close leaves that marker as the last record, so reopening after one needs no
//! scan past the end. After a crash the rest of the last segment is scanned (cheaply:
//! only positions whose salt matches are checksummed).

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Result, StorageError};
use crate::io::{StorageDir, StorageFile};
use crate::le;
use crate::wal::record::{self, Header, Invalid, ALIGN, KIND_CLOSE, MAX_LSN, RECORD_HEADER};
use crate::wal::segment::{parse_segment_name, SegmentHeader, SEGMENT_HEADER};

/// Bytes read from a segment at a time.
const BLOCK: usize = 1 << 20;

/// One record, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its log sequence number.
    pub lsn: u64,
    /// The kind given to [`Wal::append`](crate::wal::Wal::append).
    pub kind: u8,
    /// The payload, the appended parts back to back.
    pub payload: &'a [u8],
}

/// An open segment file and its header.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) name: String,
    pub(crate) file: Box<dyn StorageFile>,
    pub(crate) header: SegmentHeader,
    pub(crate) len: u64,
}

/// Where the log ends, once the reader has found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct End {
    /// Index of the segment the log ends in (`None` when there are no segments).
    pub(crate) segment: Option<usize>,
    /// Byte offset in that segment where the next record goes.
    pub(crate) offset: u64,
    /// The LSN the next record gets.
    pub(crate) next_lsn: u64,
    /// End of the furthest intact-but-unreachable record past `offset` in that segment
    /// (a torn group's survivors), which must be zeroed before writing resumes.
    pub(crate) garbage_end: u64,
    /// Whether the log ended with a clean-close marker.
    pub(crate) clean: bool,
}

/// Reads the records of a log directory in order, validating as it goes.
///
/// Used by recovery ([`Wal::open`](crate::wal::Wal::open)); it can also read a log that
/// is not open, as tests and the fuzz targets do.
///
/// ```
/// use std::sync::Arc;
/// use fletchdb_storage::io::MemDir;
/// use fletchdb_storage::wal::{Wal, WalOptions, WalReader};
/// let dir = Arc::new(MemDir::new());
/// let wal = Wal::open(dir.clone(), WalOptions::default())?.finish()?;
/// wal.append(1, &[b"hello"])?;
/// wal.close()?;
/// let mut reader = WalReader::open(dir)?;
/// let r = reader.next_record()?.unwrap();
/// assert_eq!((r.lsn, r.kind, r.payload), (1, 1, &b"hello"[..]));
/// assert!(reader.next_record()?.is_none());
/// # Ok::<(), fletchdb_storage::StorageError>(())
/// ```
#[derive(Debug)]
pub struct WalReader {
    dir: Arc<dyn StorageDir>,
    pub(crate) segments: Vec<Segment>,
    seg: usize,
    pos: u64,
    expected: u64,
    last_kind: Option<u8>,
    buf: Vec<u8>,
    buf_off: u64,
    buf_seg: usize,
    pub(crate) end: Option<End>,
}

impl WalReader {
    /// Opens every segment in `dir` and checks their headers. Leftover `*.tmp` files
    /// are not touched.
    ///
    /// # Errors
    /// [`StorageError::Io`]; [`StorageError::Corruption`] for a bad segment header, a
    /// header whose first LSN disagrees with the file name, or segments whose LSN ranges
    /// overlap; [`StorageError::UnsupportedVersion`].
    pub fn open(dir: Arc<dyn StorageDir>) -> Result<WalReader> {
        let io_err = |e| StorageError::io(dir.path(), e);
        let mut named: Vec<(u64, String)> = dir
            .list()
            .map_err(io_err)?
            .into_iter()
            .filter_map(|n| parse_segment_name(&n).map(|lsn| (lsn, n)))
            .collect();
        named.sort();
        let mut segments = Vec::with_capacity(named.len());
        for (lsn, name) in named {
            let path = dir.path().join(&name);
            let file = dir.open(&name).map_err(|e| StorageError::io(&path, e))?;
            let len = file.len().map_err(|e| StorageError::io(&path, e))?;
            let mut b = [0u8; SEGMENT_HEADER];
            let got = (len as usize).min(SEGMENT_HEADER);
            file.read_exact_at(&mut b[..got], 0)
                .map_err(|e| StorageError::io(&path, e))?;
            let header = SegmentHeader::decode(&b[..got], &path)?;
            if header.first_lsn != lsn || lsn == 0 || lsn >= MAX_LSN {
                return Err(StorageError::corruption(
                    &path,
                    16,
                    format!("header says first LSN {}", header.first_lsn),
                ));
            }
            segments.push(Segment {
                name,
                file,
                header,
                len,
            });
        }
        let expected = segments.first().map_or(1, |s| s.header.first_lsn);
        Ok(WalReader {
            dir,
            segments,
            seg: 0,
            pos: SEGMENT_HEADER as u64,
            expected,
            last_kind: None,
            buf: Vec::new(),
            buf_off: 0,
            buf_seg: usize::MAX,
            end: None,
        })
    }

    /// The LSN of the first record the log holds (the next LSN if it holds none).
    pub fn first_lsn(&self) -> u64 {
        self.segments.first().map_or(1, |s| s.header.first_lsn)
    }

    fn path(&self, seg: usize) -> PathBuf {
        self.dir.path().join(&self.segments[seg].name)
    }

    /// Makes `[pos, pos + want)` of segment `seg` (cut at the file's end) available in
    /// the buffer and returns it.
    fn window(&mut self, seg: usize, pos: u64, want: usize) -> Result<&[u8]> {
        let len = self.segments[seg].len;
        let want = want.min(len.saturating_sub(pos) as usize);
        let have = self.buf_seg == seg
            && pos >= self.buf_off
            && pos + want as u64 <= self.buf_off + self.buf.len() as u64;
        if !have {
            let n = want.max(BLOCK).min(len.saturating_sub(pos) as usize);
            self.buf.resize(n, 0);
            self.buf_off = pos;
            self.buf_seg = seg;
            let path = self.path(seg);
            self.segments[seg]
                .file
                .read_exact_at(&mut self.buf, pos)
                .map_err(|e| StorageError::io(path, e))?;
        }
        let start = (pos - self.buf_off) as usize;
        Ok(&self.buf[start..start + want])
    }

    /// The record at `pos` of segment `seg`, validated against the segment's salt.
    fn record_at(&mut self, seg: usize, pos: u64) -> Result<Result<(Header, usize), Invalid>> {
        let salt = self.segments[seg].header.salt;
        let max_payload = self.segments[seg].len.saturating_sub(pos) as usize;
        let head = self.window(seg, pos, RECORD_HEADER)?;
        if head.len() < RECORD_HEADER {
            return Ok(Err(Invalid::Short));
        }
        let Some(len) = le::u32_at(head, 0) else {
            return Ok(Err(Invalid::Short));
        };
        let len = len as usize;
        if len == 0 || len > max_payload {
            return Ok(Err(Invalid::BadLength));
        }
        let bytes = self.window(seg, pos, record::encoded_len(len))?;
        Ok(record::decode(bytes, salt, max_payload))
    }

    /// The next record in LSN order, or `None` at the end of the log. The log's own
    /// records (the marker a clean close appends) are skipped; they take LSNs too, so
    /// the LSNs returned increase but may skip one after each clean close.
    ///
    /// # Errors
    /// [`StorageError::Corruption`] when a bad record has intact records after it that
    /// say it was durable; [`StorageError::Io`].
    #[allow(clippy::should_implement_trait)]
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        loop {
            if self.end.is_some() {
                return Ok(None);
            }
            if self.seg >= self.segments.len() {
                self.end = Some(End {
                    segment: None,
                    offset: SEGMENT_HEADER as u64,
                    next_lsn: self.expected,
                    garbage_end: 0,
                    clean: true,
                });
                return Ok(None);
            }
            let (seg, pos) = (self.seg, self.pos);
            match self.record_at(seg, pos)? {
                Ok((h, total)) if h.lsn == self.expected => {
                    self.pos += total as u64;
                    self.expected += 1;
                    self.last_kind = Some(h.kind);
                    if h.kind == KIND_CLOSE {
                        continue;
                    }
                    let start = (pos - self.buf_off) as usize + RECORD_HEADER;
                    return Ok(Some(Record {
                        lsn: h.lsn,
                        kind: h.kind,
                        payload: &self.buf[start..start + h.len as usize],
                    }));
                }
                found => {
                    let next_first = self.segments.get(seg + 1).map(|s| s.header.first_lsn);
                    if next_first == Some(self.expected) {
                        self.seg += 1;
                        self.pos = SEGMENT_HEADER as u64;
                        continue;
                    }
                    let why = match found {
                        Ok((h, _)) => format!("expected LSN {}, found {}", self.expected, h.lsn),
                        Err(e) => e.describe().to_string(),
                    };
                    self.end = Some(self.decide_end(why)?);
                    return Ok(None);
                }
            }
        }
    }

    /// At the end point (segment `self.seg`, `self.pos`, LSN `self.expected`): torn
    /// tail or corruption?
    fn decide_end(&mut self, why: String) -> Result<End> {
        let (seg, pos, e) = (self.seg, self.pos, self.expected);
        let clean = self.last_kind == Some(KIND_CLOSE) && seg + 1 == self.segments.len();
        let mut end = End {
            segment: Some(seg),
            offset: pos,
            next_lsn: e,
            garbage_end: pos,
            clean,
        };
        if clean {
            return Ok(end);
        }
        // Intact records anywhere after the end point, and what they claim.
        let mut claim = 0u64;
        for s in seg..self.segments.len() {
            let mut at = if s == seg { pos } else { SEGMENT_HEADER as u64 };
            let len = self.segments[s].len;
            let salt = self.segments[s].header.salt.to_le_bytes();
            while at + RECORD_HEADER as u64 <= len {
                let head = self.window(s, at, RECORD_HEADER)?;
                if head[24..28] == salt {
                    if let Ok((h, total)) = self.record_at(s, at)? {
                        claim = claim.max(h.durable);
                        if s == seg {
                            end.garbage_end = end.garbage_end.max(at + total as u64);
                        }
                    }
                }
                at += ALIGN as u64;
            }
        }
        if claim >= e {
            return Err(StorageError::corruption(
                self.path(seg),
                pos,
                format!(
                    "{why} at LSN {e}, but a later intact record says the log was durable \
                     through LSN {claim}"
                ),
            ));
        }
        Ok(end)
    }

    /// Reads to the end of the log, validating every record.
    pub(crate) fn drain(&mut self) -> Result<End> {
        loop {
            if let Some(end) = self.end {
                return Ok(end);
            }
            self.next_record()?;
        }
    }
}
