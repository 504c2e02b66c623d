//! The file side of the log: the segments being written, rolling over to a new one,
//! spare segment files prepared in the background, and recycling old segments.

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
        let spare = match shared.spares.take() {
            Some(name) => name,
            None => {
                let name = shared.spares.reserve_name();
                create_spare(dir, &name, shared.options.segment_size)
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

    /// Removes the segments whose records are all below `lsn`, keeping up to
    /// `recycle` of them as spares. The segment being written is never removed.
    pub(crate) fn remove_before(&mut self, shared: &Shared, lsn: u64) -> Result<usize> {
        let dir = &*shared.dir;
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        let mut removed = 0;
        for w in firsts.windows(2) {
            let (first, next_first) = (w[0], w[1]);
            if next_first > lsn || self.open.iter().any(|s| s.first_lsn == first) {
                break;
            }
            let Some(name) = self.segments.remove(&first) else {
                continue;
            };
            let path = dir.path().join(&name);
            if shared.spares.count() < shared.options.recycle_segments {
                let spare = shared.spares.reserve_name();
                dir.rename(&name, &spare)
                    .map_err(|e| StorageError::io(&path, e))?;
                shared.spares.add(spare);
            } else {
                dir.remove(&name).map_err(|e| StorageError::io(&path, e))?;
            }
            removed += 1;
        }
        if removed > 0 {
            dir.sync().map_err(|e| StorageError::io(dir.path(), e))?;
        }
        Ok(removed)
    }

    /// The segment files, by first LSN.
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Spare segment files, and the thread that keeps one ready.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    state: Mutex<SpareState>,
    cond: Condvar,
}

#[derive(Debug, Default)]
struct SpareState {
    ready: Vec<String>,
    next_no: u64,
    shutdown: bool,
}

impl Spares {
    /// Spares found on disk at open; new ones are numbered after them.
    pub(crate) fn new(found: Vec<(u64, String)>) -> Spares {
        let next_no = found.iter().map(|(n, _)| n + 1).max().unwrap_or(0);
        Spares {
            state: Mutex::new(SpareState {
                ready: found.into_iter().map(|(_, name)| name).collect(),
                next_no,
                shutdown: false,
            }),
            cond: Condvar::new(),
        }
    }

    /// Takes a ready spare, if there is one, and asks for another.
    fn take(&self) -> Option<String> {
        let mut st = self.state.lock();
        let name = st.ready.pop();
        self.cond.notify_all();
        name
    }

    fn reserve_name(&self) -> String {
        let mut st = self.state.lock();
        st.next_no += 1;
        spare_name(st.next_no - 1)
    }

    fn add(&self, name: String) {
        self.state.lock().ready.push(name);
    }

    fn count(&self) -> usize {
        self.state.lock().ready.len()
    }

    /// Stops the preparing thread.
    pub(crate) fn shutdown(&self) {
        self.state.lock().shutdown = true;
        self.cond.notify_all();
    }

    /// The preparing thread's loop: keep one zero-filled spare ready, so that rolling
    /// over costs a rename and a header, not writing a whole file. A failure is left
    /// for the next roll-over to meet (and report) when it creates a spare itself.
    pub(crate) fn prepare_loop(shared: Arc<Shared>) {
        let spares = &shared.spares;
        loop {
            let name = {
                let mut st = spares.state.lock();
                while !st.shutdown && !st.ready.is_empty() {
                    spares.cond.wait(&mut st);
                }
                if st.shutdown {
                    return;
                }
                st.next_no += 1;
                spare_name(st.next_no - 1)
            };
            match create_spare(&*shared.dir, &name, shared.options.segment_size) {
                Ok(()) => spares.add(name),
                Err(_) => {
                    let _ = shared.dir.remove(&format!("{name}.tmp"));
                    let mut st = spares.state.lock();
                    if !st.shutdown {
                        // Try again after the next roll-over asks, not in a hot loop.
                        spares.cond.wait(&mut st);
                    }
                }
            }
        }
    }
}
