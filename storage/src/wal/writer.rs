//! The file side of the log: the segments being written, rolling over to a new one,
//! spare segment files prepared in the background, recycling old segments, and giving
//! unused space back on a clean close.
//!
//! Segments are sized by what is written, so that a database that writes little keeps
//! a small log, while one that writes a lot still writes into preallocated files (an
//! `fdatasync` after overwriting preallocated zeros need not persist a new file size:
//! 6,500 syncs/s of single 4 KiB records here, against 4,900/s when appending to a
//! growing file; see `segment.rs`):
//!
//! - A log's first segment is [`WalOptions::first_segment_size`] (1 MiB by default).
//!   When a segment fills, the next is twice its size, up to `segment_size`.
//! - A checkpoint's roll-over starts a segment sized by what the current one holds
//!   (rounded up to a power of two, no larger than the current one), so a log that
//!   went quiet goes back to small segments ([`Shared::roll_size`]).
//! - Spares (preallocated next segments) exist only while the log writes: when the
//!   segment being written is half full, the spare thread is asked for one twice its
//!   size, ready by the time it fills. A log that never fills half a segment makes no
//!   spare. Segments below a checkpoint are kept as spares only as many as the log
//!   filled since the previous checkpoint (at most `recycle_segments`); the rest, and
//!   spares beyond that, are deleted ([`Writer::remove_before`]).
//! - A clean close deletes every spare and truncates the last segment just after the
//!   close marker ([`Writer::give_back`]). The next open starts from the first size
//!   again: the trimmed segment has no room, so the first record after it starts a new
//!   segment.
//!
//! [`WalOptions::first_segment_size`]: crate::wal::WalOptions::first_segment_size

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::error::{Result, StorageError};
use crate::io::StorageFile;
use crate::wal::group_commit::{Chunk, Shared};
use crate::wal::segment::{activate, create_spare, segment_name, spare_name, SegmentHeader};

/// A segment open for writing.
#[derive(Debug)]
struct OpenSegment {
    first_lsn: u64,
    file: Box<dyn StorageFile>,
    dirty: bool,
}

/// What the group leader writes with: held only by the leader, a flush, or a
/// checkpoint removing segments, so it is uncontended on the hot path.
#[derive(Debug)]
pub(crate) struct Writer {
    /// Segments with unsynced writes, and the current one last.
    open: Vec<OpenSegment>,
    /// Every segment file by first LSN.
    segments: BTreeMap<u64, String>,
}

impl Writer {
    /// A writer continuing in `current` (if any), with `segments` on disk.
    pub(crate) fn new(
        current: Option<(u64, Box<dyn StorageFile>)>,
        segments: BTreeMap<u64, String>,
    ) -> Writer {
        Writer {
            open: current
                .into_iter()
                .map(|(first_lsn, file)| OpenSegment {
                    first_lsn,
                    file,
                    dirty: false,
                })
                .collect(),
            segments,
        }
    }

    /// Writes each chunk at its place, creating segments the chunks start.
    pub(crate) fn write(&mut self, shared: &Shared, chunks: &[Chunk]) -> Result<()> {
        for chunk in chunks {
            let name = segment_name(chunk.header.first_lsn);
            if chunk.new_segment {
                self.roll(shared, chunk.header)?;
            }
            let seg = self
                .open
                .iter_mut()
                .rev()
                .find(|s| s.first_lsn == chunk.header.first_lsn)
                .ok_or_else(|| {
                    StorageError::InvalidArgument(format!("segment {name} is not open"))
                })?;
            seg.file
                .write_all_at(&chunk.buf, chunk.offset)
                .map_err(|e| StorageError::io(shared.dir.path().join(&name), e))?;
            seg.dirty = true;
        }
        Ok(())
    }

    /// Syncs every segment with unsynced writes and closes all but the current one.
    pub(crate) fn sync_all(&mut self, shared: &Shared) -> Result<()> {
        for seg in self.open.iter_mut().filter(|s| s.dirty) {
            seg.file.sync_data().map_err(|e| {
                StorageError::io(shared.dir.path().join(segment_name(seg.first_lsn)), e)
            })?;
            seg.dirty = false;
        }
        let keep = self.open.len().saturating_sub(1);
        self.open.drain(..keep);
        Ok(())
    }

    /// Starts the segment `header` describes, from a spare file.
    fn roll(&mut self, shared: &Shared, header: SegmentHeader) -> Result<()> {
        let dir = &*shared.dir;
        let spare = match shared.spares.take(header.size) {
            Some(name) => name,
            None => {
                let name = shared.spares.reserve_name();
                create_spare(dir, &name, header.size)
                    .map_err(|e| StorageError::io(dir.path().join(&name), e))?;
                name
            }
        };
        let file = activate(dir, &spare, header)
            .map_err(|e| StorageError::io(dir.path().join(&spare), e))?;
        self.segments
            .insert(header.first_lsn, segment_name(header.first_lsn));
        // A segment that was left clean is no longer needed open.
        self.open.retain(|s| s.dirty);
        self.open.push(OpenSegment {
            first_lsn: header.first_lsn,
            file,
            dirty: false,
        });
        Ok(())
    }

    /// Removes the segments whose records are all below `lsn`, keeping them as spares
    /// while fewer than `keep` are ready, and deletes ready spares beyond `keep` (the
    /// smallest first). The segment being written is never removed.
    pub(crate) fn remove_before(
        &mut self,
        shared: &Shared,
        lsn: u64,
        keep: usize,
    ) -> Result<usize> {
        let dir = &*shared.dir;
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        let mut removed = 0;
        let mut changed = false;
        for w in firsts.windows(2) {
            let (first, next_first) = (w[0], w[1]);
            if next_first > lsn || self.open.iter().any(|s| s.first_lsn == first) {
                break;
            }
            let Some(name) = self.segments.remove(&first) else {
                continue;
            };
            let path = dir.path().join(&name);
            if shared.spares.count() < keep {
                let len = dir
                    .open(&name)
                    .and_then(|f| f.len())
                    .map_err(|e| StorageError::io(&path, e))?;
                let spare = shared.spares.reserve_name();
                dir.rename(&name, &spare)
                    .map_err(|e| StorageError::io(&path, e))?;
                shared.spares.add(spare, len);
            } else {
                dir.remove(&name).map_err(|e| StorageError::io(&path, e))?;
            }
            removed += 1;
            changed = true;
        }
        for name in shared.spares.prune(keep) {
            dir.remove(&name)
                .map_err(|e| StorageError::io(dir.path().join(&name), e))?;
            changed = true;
        }
        if changed {
            dir.sync().map_err(|e| StorageError::io(dir.path(), e))?;
        }
        Ok(removed)
    }

    /// On a clean close, once the close marker at `end - 40..end` of the segment
    /// starting at `first_lsn` is durable: truncates that segment at `end` and deletes
    /// every spare. The spare thread must have stopped.
    ///
    /// Truncating is safe because it removes nothing a reader needs: past the marker
    /// there are only preallocated zeros or an older generation's records, and a
    /// reader stops at the end of the file as it stops at any position that holds no
    /// valid record. A crash before the new length is durable leaves the old one, the
    /// marker the last record either way. Spares hold no record any reader needs.
    pub(crate) fn give_back(&mut self, shared: &Shared, first_lsn: u64, end: u64) -> Result<()> {
        let dir = &*shared.dir;
        if let Some(seg) = self.open.iter().rev().find(|s| s.first_lsn == first_lsn) {
            let path = dir.path().join(segment_name(first_lsn));
            let io = |e| StorageError::io(&path, e);
            if seg.file.len().map_err(io)? > end {
                seg.file.set_len(end).map_err(io)?;
                seg.file.sync_data().map_err(io)?;
            }
        }
        self.discard_spares(shared)?;
        Ok(())
    }

    /// Deletes every ready spare (a recycled one still holds an older generation's
    /// records); returns how many.
    pub(crate) fn discard_spares(&mut self, shared: &Shared) -> Result<usize> {
        let dir = &*shared.dir;
        let spares = shared.spares.take_all();
        for name in &spares {
            dir.remove(name)
                .map_err(|e| StorageError::io(dir.path().join(name), e))?;
        }
        if !spares.is_empty() {
            dir.sync().map_err(|e| StorageError::io(dir.path(), e))?;
        }
        Ok(spares.len())
    }

    /// The segment files, by first LSN.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Spare segment files, and the thread that prepares them when asked.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    state: Mutex<SpareState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct SpareState {
    /// Ready spares: name and length.
    ready: Vec<(String, u64)>,
    next_no: u64,
    /// A spare of at least this size is wanted (0: none).
    want: u64,
    shutdown: bool,
}

impl SpareState {
    fn has(&self, size: u64) -> bool {
        self.ready.iter().any(|&(_, len)| len >= size)
    }
}

impl Spares {
    /// Spares found on disk at open (number, name, length); new ones are numbered
    /// after them.
    pub(crate) fn new(found: Vec<(u64, String, u64)>) -> Spares {
        let next_no = found.iter().map(|(n, _, _)| n + 1).max().unwrap_or(0);
        Spares {
            state: Mutex::new(SpareState {
                ready: found
                    .into_iter()
                    .map(|(_, name, len)| (name, len))
                    .collect(),
                next_no,
                want: 0,
                shutdown: false,
            }),
            cond: Condvar::new(),
        }
    }

    /// Asks the preparing thread for a spare of at least `size` bytes, unless one is
    /// ready.
    pub(crate) fn want(&self, size: u64) {
        let mut st = self.state.lock();
        if !st.has(size) {
            st.want = st.want.max(size);
            self.cond.notify_all();
        }
    }

    /// Takes the smallest ready spare of at least `size` bytes, if there is one.
    fn take(&self, size: u64) -> Option<String> {
        let mut st = self.state.lock();
        let (i, _) = st
            .ready
            .iter()
            .enumerate()
            .filter(|(_, (_, len))| *len >= size)
            .min_by_key(|(_, (_, len))| *len)?;
        Some(st.ready.swap_remove(i).0)
    }

    fn reserve_name(&self) -> String {
        let mut st = self.state.lock();
        st.next_no += 1;
        spare_name(st.next_no - 1)
    }

    fn add(&self, name: String, len: u64) {
        self.state.lock().ready.push((name, len));
    }

    fn count(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Forgets the ready spares beyond the `keep` largest, returning their names for
    /// the caller to delete.
    fn prune(&self, keep: usize) -> Vec<String> {
        let mut st = self.state.lock();
        if st.ready.len() <= keep {
            return Vec::new();
        }
        st.ready.sort_by_key(|&(_, len)| std::cmp::Reverse(len));
        st.ready
            .split_off(keep)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }

    /// Forgets every ready spare, returning their names.
    fn take_all(&self) -> Vec<String> {
        let mut st = self.state.lock();
        st.want = 0;
        st.ready.drain(..).map(|(name, _)| name).collect()
    }

    /// Stops the preparing thread.
    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cond.notify_all();
    }

    /// The preparing thread's loop: when asked, write a zero-filled spare of the size
    /// wanted, so that rolling over costs a rename and a header, not writing a whole
    /// file. A failure is left for the next roll-over to meet (and report) when it
    /// creates a segment itself.
    pub(crate) fn prepare_loop(shared: Arc<Shared>) {
        let spares = &shared.spares;
        loop {
            let (name, size) = {
                let mut st = spares.state.lock();
                while !st.shutdown && (st.want == 0 || st.has(st.want)) {
                    st.want = 0;
                    spares.cond.wait(&mut st);
                }
                if st.shutdown {
                    return;
                }
                let size = std::mem::take(&mut st.want);
                st.next_no += 1;
                (spare_name(st.next_no - 1), size)
            };
            if create_spare(&*shared.dir, &name, size).is_ok() {
                spares.add(name, size);
            } else {
                let _ = shared.dir.remove(&format!("{name}.tmp"));
            }
        }
    }
}
