//! [`Wal`]: opening (recovery), appending, flushing, checkpoint truncation, closing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::error::{Result, StorageError};
use crate::io::{OsDir, StorageDir};
use crate::signal::StopSignal;
use crate::wal::group_commit::{Shared, State, Tail, WalStats};
use crate::wal::options::{Durability, WalOptions, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use crate::wal::reader::{Record, WalReader};
use crate::wal::record::{encoded_len, ALIGN, KIND_CLOSE, RECORD_HEADER};
use crate::wal::segment::{parse_spare_name, spare_name, SegmentHeader, SEGMENT_HEADER};
use crate::wal::writer::{Spares, Writer};

/// A write-ahead log with group commit.
///
/// Open it with [`Wal::open`], which returns a [`Recovery`]: read the records that are
/// there, then [`Recovery::finish`] to start appending. `append` is safe from many
/// threads at once; concurrent appends are committed in groups.
///
/// ```
/// use std::sync::Arc;
/// use fletchdb_storage::io::MemDir;
/// use fletchdb_storage::wal::{Wal, WalOptions};
/// let dir = Arc::new(MemDir::new());
/// let wal = Wal::open(dir.clone(), WalOptions::default())?.finish()?;
/// let a = wal.append(7, &[b"header ", b"and body"])?; // durable when it returns
/// let b = wal.append(7, &[b"second"])?;
/// assert_eq!((a, b), (1, 2));
/// drop(wal); // closes cleanly
///
/// let mut recovery = Wal::open(dir, WalOptions::default())?;
/// let first = recovery.next_record()?.unwrap();
/// assert_eq!(first.payload, b"header and body");
/// let wal = recovery.finish()?;
/// assert_eq!(wal.append(7, &[b"third"])?, 4); // the clean-close marker took 3
/// # Ok::<(), fletchdb_storage::StorageError>(())
/// ```
#[derive(Debug)]
pub struct Wal {
    pub(super) shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    stop: Arc<StopSignal>,
}

/// A log being opened: its records can be read in order before appending starts.
#[derive(Debug)]
pub struct Recovery {
    reader: WalReader,
    dir: Arc<dyn StorageDir>,
    options: WalOptions,
    /// Spare files found: number, name, length.
    spares: Vec<(u64, String, u64)>,
}

impl Wal {
    /// Opens the log in `dir`, creating nothing yet. Leftover `*.tmp` files of an
    /// interrupted segment creation are removed.
    ///
    /// # Errors
    /// [`StorageError::InvalidArgument`] for a segment size outside
    /// [`MIN_SEGMENT_SIZE`]..=[`MAX_SEGMENT_SIZE`]; errors of [`WalReader::open`].
    pub fn open(dir: Arc<dyn StorageDir>, options: WalOptions) -> Result<Recovery> {
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&options.segment_size) {
            return Err(StorageError::InvalidArgument(format!(
                "segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes"
            )));
        }
        let names = dir.list().map_err(|e| StorageError::io(dir.path(), e))?;
        let mut spares = Vec::new();
        for name in names {
            if name.ends_with(".tmp") {
                dir.remove(&name)
                    .map_err(|e| StorageError::io(dir.path().join(&name), e))?;
            } else if let Some(n) = parse_spare_name(&name) {
                let len = dir
                    .open(&name)
                    .and_then(|f| f.len())
                    .map_err(|e| StorageError::io(dir.path().join(&name), e))?;
                spares.push((n, name, len));
            }
        }
        Ok(Recovery {
            reader: WalReader::open(dir.clone())?,
            dir,
            options,
            spares,
        })
    }

    /// [`Wal::open`] on a directory of the real file system, created if missing.
    ///
    /// # Errors
    /// As [`Wal::open`], and [`StorageError::Io`] if the directory cannot be created.
    pub fn open_path(path: &Path, options: WalOptions) -> Result<Recovery> {
        let dir = OsDir::create(path).map_err(|e| StorageError::io(path, e))?;
        Wal::open(Arc::new(dir), options)
    }

    /// Appends one record of `kind` (below [`RESERVED_KINDS`](super::RESERVED_KINDS))
    /// whose payload is `parts` back to back, and returns its LSN once it is as durable
    /// as the mode says.
    ///
    /// # Errors
    /// [`StorageError::RecordTooLarge`]; [`StorageError::InvalidArgument`] for an empty
    /// payload or a reserved kind; [`StorageError::WalPoisoned`] if this or an earlier
    /// group failed to write or sync (the record is then not acknowledged, and may or
    /// may not be found after reopening); [`StorageError::Closed`].
    pub fn append(&self, kind: u8, parts: &[&[u8]]) -> Result<u64> {
        Ok(self.shared.append(&[(kind, parts)])?.start)
    }

    /// Appends several records with consecutive LSNs and waits once. They are
    /// acknowledged together; a crash before that may keep any prefix of them.
    ///
    /// # Errors
    /// As [`append`](Self::append); a bad record refuses the whole batch before any is
    /// appended.
    pub fn append_many(&self, records: &[(u8, &[&[u8]])]) -> Result<Range<u64>> {
        self.shared.append(records)
    }

    /// A durability barrier: returns once every record appended so far is on stable
    /// storage, whatever the mode. Returns the last such LSN.
    ///
    /// # Errors
    /// [`StorageError::WalPoisoned`].
    pub fn flush(&self) -> Result<u64> {
        self.shared.flush()
    }

    /// The LSN the next append will get.
    pub fn next_lsn(&self) -> u64 {
        self.shared.state.lock().next_lsn
    }

    /// Every record up to this LSN is on stable storage.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.state.lock().durable
    }

    /// What the log has done since it was opened: records, groups, syncs.
    pub fn stats(&self) -> WalStats {
        self.shared.state.lock().stats
    }

    /// The largest payload a record may have.
    pub fn max_payload(&self) -> usize {
        self.shared.max_payload
    }

    /// Starts a new segment now (if the current one holds any record), so that the
    /// next record goes there. A checkpoint calls it at its LSN: every older segment
    /// then holds only records the checkpoint covers, and is removed whole by
    /// [`remove_segments_before`](Self::remove_segments_before).
    ///
    /// # Errors
    /// [`StorageError::WalPoisoned`] or the error creating the segment (which poisons).
    pub fn roll_over(&self) -> Result<()> {
        let mut st = self.shared.state.lock();
        if st.tail.offset > SEGMENT_HEADER as u64 {
            let size = self.shared.roll_size(&st);
            self.shared.start_segment(&mut st, size);
        }
        self.shared.drain(st)
    }

    /// How many segment files the log has.
    pub fn segment_count(&self) -> usize {
        self.shared.writer.lock().segment_count()
    }

    /// Removes (or keeps for reuse) the segments whose records all have LSNs below
    /// `lsn`: a checkpoint has made them unnecessary. Returns how many went.
    ///
    /// Segments are kept as spares, and ready spares are kept, only as many as the log
    /// filled since the last call (at most
    /// [`recycle_segments`](WalOptions::recycle_segments); one more if the segment
    /// being written is half full and its successor was prepared): spares are there for
    /// a log that writes, and one that wrote little since the last checkpoint gives
    /// them back.
    ///
    /// # Errors
    /// [`StorageError::Io`].
    pub fn remove_segments_before(&self, lsn: u64) -> Result<usize> {
        let keep = {
            let mut st = self.shared.state.lock();
            let filled = st.fills - st.fills_seen;
            st.fills_seen = st.fills;
            let filled = usize::try_from(filled).unwrap_or(usize::MAX);
            filled.min(self.shared.options.recycle_segments) + usize::from(st.spare_asked)
        };
        self.shared
            .writer
            .lock()
            .remove_before(&self.shared, lsn, keep)
    }

    /// As [`remove_segments_before`](Self::remove_segments_before), but nothing is kept
    /// as a spare: every segment wholly below `lsn` and every spare is deleted, so no
    /// byte of a record below `lsn` is left in the log's files (a compaction's promise
    /// that deleted vectors do not outlive it). Call [`discard_spares`](Self::discard_spares)
    /// before the roll-over that starts the segment holding `lsn`, so that segment is
    /// not a recycled one either.
    ///
    /// # Errors
    /// [`StorageError::Io`].
    pub fn delete_segments_before(&self, lsn: u64) -> Result<usize> {
        {
            let mut st = self.shared.state.lock();
            st.fills_seen = st.fills;
        }
        self.shared
            .writer
            .lock()
            .remove_before(&self.shared, lsn, 0)
    }

    /// Deletes every spare segment ready now, recycled ones included; the next roll-over
    /// starts a segment of zeros (made by the spare thread or by the roll-over itself).
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// [`StorageError::Io`].
    pub fn discard_spares(&self) -> Result<usize> {
        self.shared.writer.lock().discard_spares(&self.shared)
    }

    /// Makes everything durable and appends a marker that lets the next open skip
    /// looking for damage past the end, then gives back the space the log no longer
    /// needs: every spare segment is deleted and the last segment is truncated after
    /// the marker. Appends fail with [`StorageError::Closed`] afterwards. Dropping the
    /// log closes it too, ignoring errors.
    ///
    /// # Errors
    /// [`StorageError::WalPoisoned`] if the log failed earlier (nothing is given back
    /// then); [`StorageError::Io`] if giving space back fails (the log is closed
    /// cleanly all the same).
    pub fn close(&self) -> Result<()> {
        let result = self.close_log();
        self.stop_threads();
        let end = result?;
        match end {
            Some((first_lsn, end)) => {
                self.shared
                    .writer
                    .lock()
                    .give_back(&self.shared, first_lsn, end)
            }
            None => Ok(()),
        }
    }

    /// Appends the close marker and waits until it is durable. Returns the segment it
    /// is in (by first LSN) and where it ends, or `None` if the log was closed before.
    fn close_log(&self) -> Result<Option<(u64, u64)>> {
        if self.shared.state.lock().closed {
            return Ok(None);
        }
        self.shared.flush()?;
        let mut st = self.shared.state.lock();
        if st.closed {
            return Ok(None);
        }
        st.closed = true;
        if st.tail.header.size == 0 {
            // Nothing was ever written and there is no segment: a log without segments
            // already reads as ended cleanly, so no file is made for the marker.
            return Ok(None);
        }
        self.shared.encode(&mut st, KIND_CLOSE, &[&[0]]);
        let last = st.next_lsn - 1;
        let end = (st.tail.header.first_lsn, st.tail.offset);
        self.shared.wait(st, last, true)?;
        Ok(Some(end))
    }

    fn stop_threads(&self) {
        self.shared.spares.shutdown();
        self.stop.stop();
        for t in self.threads.lock().drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Recovery {
    /// The next record in LSN order, or `None` at the end of the log.
    ///
    /// # Errors
    /// [`StorageError::Corruption`] for damage that is not a torn tail;
    /// [`StorageError::Io`].
    #[allow(clippy::should_implement_trait)]
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        self.reader.next_record()
    }

    /// The LSN of the first record the log holds.
    pub fn first_lsn(&self) -> u64 {
        self.reader.first_lsn()
    }

    /// Reads whatever was not read yet, repairs a torn tail (zeroing intact records of
    /// the torn group so they can never be read later, and keeping segments past it as
    /// spares), and starts the log for appending after its last record.
    ///
    /// # Errors
    /// As [`next_record`](Self::next_record), and [`StorageError::Io`] for the repair.
    pub fn finish(mut self) -> Result<Wal> {
        let end = self.reader.drain()?;
        let dir = self.dir.clone();
        let io_at = |name: &str| {
            let path = dir.path().join(name);
            move |e| StorageError::io(path, e)
        };
        let mut segments = std::mem::take(&mut self.reader.segments);
        let mut spares = self.spares;
        let mut next_spare = spares.iter().map(|(n, _, _)| n + 1).max().unwrap_or(0);
        let keep = end.segment.map_or(0, |i| i + 1);
        for seg in segments.drain(keep..) {
            let spare = spare_name(next_spare);
            next_spare += 1;
            dir.rename(&seg.name, &spare).map_err(io_at(&seg.name))?;
            spares.push((next_spare - 1, spare, seg.len));
        }
        let mut current = None;
        let mut tail = Tail {
            header: SegmentHeader {
                salt: 0,
                first_lsn: end.next_lsn,
                size: 0,
            },
            offset: SEGMENT_HEADER as u64,
        };
        if let Some(seg) = segments.pop() {
            if end.garbage_end > end.offset {
                let zeros = vec![0u8; (end.garbage_end - end.offset) as usize];
                seg.file
                    .write_all_at(&zeros, end.offset)
                    .map_err(io_at(&seg.name))?;
            }
            // Records read back may still be only in the page cache (a killed process
            // loses nothing the OS had); sync before new records claim they are durable.
            seg.file.sync_data().map_err(io_at(&seg.name))?;
            tail = Tail {
                header: SegmentHeader {
                    size: seg.len,
                    ..seg.header
                },
                offset: end.offset,
            };
            current = Some((seg.header.first_lsn, seg.file));
        }
        dir.sync().map_err(|e| StorageError::io(dir.path(), e))?;
        let mut names: BTreeMap<u64, String> = segments
            .into_iter()
            .map(|s| (s.header.first_lsn, s.name))
            .collect();
        if let Some((first, _)) = &current {
            names.insert(*first, crate::wal::segment::segment_name(*first));
        }
        let max_payload = ((self.options.segment_size as usize - SEGMENT_HEADER) / ALIGN * ALIGN)
            .saturating_sub(RECORD_HEADER);
        debug_assert!(
            encoded_len(max_payload) <= self.options.segment_size as usize - SEGMENT_HEADER
        );
        let shared = Arc::new(Shared {
            dir,
            options: self.options,
            first_size: self.options.first_segment_size(),
            max_payload,
            state: parking_lot::Mutex::new(State {
                next_lsn: end.next_lsn,
                tail,
                pending: Vec::new(),
                free: Vec::new(),
                leader: false,
                written: end.next_lsn - 1,
                durable: end.next_lsn - 1,
                sync_wanted: 0,
                poisoned: None,
                closed: false,
                stats: WalStats::default(),
                pending_appends: 0,
                last_group: 0,
                gatherer: None,
                forming: 0,
                in_flight: None,
                fills: 0,
                fills_seen: 0,
                spare_asked: false,
                grow_from: if end.clean { 0 } else { tail.header.size },
            }),
            written: AtomicU64::new(end.next_lsn - 1),
            durable: AtomicU64::new(end.next_lsn - 1),
            poisoned: AtomicBool::new(false),
            groups: [AtomicU32::new(0), AtomicU32::new(0)],
            writer: Mutex::new(Writer::new(current, names)),
            spares: Spares::new(spares),
        });
        let stop = Arc::new(StopSignal::new());
        let mut threads = Vec::new();
        let preparer = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("fletchdb-wal-spare".into())
                .spawn(move || Spares::prepare_loop(preparer))
                .map_err(|e| StorageError::io(shared.dir.path(), e))?,
        );
        if let Durability::Buffered { interval } = self.options.durability {
            let (flusher, stop2) = (shared.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("fletchdb-wal-sync".into())
                    .spawn(move || flush_loop(&flusher, &stop2, interval))
                    .map_err(|e| StorageError::io(shared.dir.path(), e))?,
            );
        }
        Ok(Wal {
            shared,
            threads: Mutex::new(threads),
            stop,
        })
    }
}

/// `Buffered` mode's background sync, every `interval` until stopped or poisoned.
fn flush_loop(shared: &Shared, stop: &StopSignal, interval: std::time::Duration) {
    while !stop.wait(interval) {
        if shared.flush().is_err() {
            return;
        }
    }
}
