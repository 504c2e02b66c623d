//! A copy of the log up to a position: [`Wal::position`] notes where the log ends, and
//! [`Wal::copy_until`] copies its segments up to there, the last one cut at that byte,
//! while appends go on past it. A backup is made of this.

use crate::error::{Result, StorageError};
use crate::io::{copy_file, StorageDir};
use crate::wal::log::Wal;
use crate::wal::segment::{parse_segment_name, segment_name};

/// Where the log ended at some moment: every record below [`next_lsn`](Self::next_lsn)
/// was on stable storage, and none at or past it had been appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    /// The LSN the next record was to get.
    pub next_lsn: u64,
    /// First LSN of the segment the next record was to go into (0: no segment yet).
    segment: u64,
    /// Byte offset in that segment where it was to go.
    offset: u64,
}

impl Wal {
    /// Makes every record appended so far durable and returns where the log ends. With
    /// appends kept out meanwhile (a database holds its write gate), that is the end of
    /// the last record appended before the call; otherwise some moment after the flush.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use fletchdb_storage::io::MemDir;
    /// use fletchdb_storage::wal::{Wal, WalOptions, WalReader};
    /// let (src, dst) = (Arc::new(MemDir::new()), Arc::new(MemDir::new()));
    /// let wal = Wal::open(src, WalOptions::default())?.finish()?;
    /// wal.append(1, &[b"kept"])?;
    /// let at = wal.position()?;
    /// wal.append(1, &[b"after the position"])?;
    /// wal.copy_until(&at, &*dst)?;
    /// let mut copy = WalReader::open(dst)?;
    /// assert_eq!(copy.next_record()?.unwrap().payload, b"kept");
    /// assert!(copy.next_record()?.is_none());
    /// # Ok::<(), fletchdb_storage::StorageError>(())
    /// ```
    ///
    /// # Errors
    /// [`StorageError::WalPoisoned`]; [`StorageError::Closed`].
    pub fn position(&self) -> Result<LogPosition> {
        loop {
            self.shared.flush()?;
            let st = self.shared.state.lock();
            if st.closed {
                return Err(StorageError::Closed);
            }
            // An append between the flush and the lock: flush again.
            if st.pending.is_empty() && st.durable + 1 >= st.next_lsn {
                let segment = if st.tail.header.size == 0 {
                    0
                } else {
                    st.tail.header.first_lsn
                };
                return Ok(LogPosition {
                    next_lsn: st.next_lsn,
                    segment,
                    offset: st.tail.offset,
                });
            }
        }
    }

    /// Copies the log's segments up to `at` into `dst` (which must hold none of them):
    /// every segment that starts before `at`'s, whole, and `at`'s own up to its byte.
    /// Spares and segments started since are left out, so the copy reads as a log that
    /// ends at `at.next_lsn`. Records appended meanwhile are never copied, but segments
    /// must not be removed while this runs: a database holds off its checkpoints. The
    /// files are synced; sync `dst` afterwards. Returns the bytes copied.
    ///
    /// # Errors
    /// [`StorageError::Io`], naming the segment.
    pub fn copy_until(&self, at: &LogPosition, dst: &dyn StorageDir) -> Result<u64> {
        let src = &*self.shared.dir;
        let names = src.list().map_err(|e| StorageError::io(src.path(), e))?;
        let mut segments: Vec<u64> = names
            .iter()
            .filter_map(|n| parse_segment_name(n))
            .filter(|&lsn| lsn <= at.segment)
            .collect();
        segments.sort_unstable();
        let mut bytes = 0;
        for lsn in segments {
            let name = segment_name(lsn);
            let len = (lsn == at.segment).then_some(at.offset);
            bytes += copy_file(src, &name, dst, len)
                .map_err(|e| StorageError::io(src.path().join(&name), e))?;
        }
        Ok(bytes)
    }
}
