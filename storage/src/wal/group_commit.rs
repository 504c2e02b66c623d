//! Group commit: many writers, one `write` and one `fdatasync` per group.
//!
//! An appender encodes its record straight into the pending buffer under the state
//! lock (taking the next LSN and its place in the segment), then waits. The first
//! waiter that finds no leader becomes the leader: it takes everything pending, writes
//! it with one positioned write per segment, syncs once (in `Sync` mode), publishes the
//! written and durable LSNs, and wakes everyone. Whoever arrived while it worked is in
//! the next group, led by one of them. With a commit window the leader first waits a
//! little for more writers to join, as Postgres' `commit_delay` does.
//!
//! Waking costs two system calls per group, whatever its size. A waiter sleeps on one
//! of two futex words, chosen by the parity of the group its record joined; the leader
//! publishes the written and durable LSNs in atomics, bumps its group's word and wakes
//! everyone on it at once (they return without touching the lock), then bumps the next
//! group's word and wakes one waiter there to lead it. A condition variable made every
//! waiter retake the lock in turn, and unparking waiters one by one cost a system call
//! each: on this 2-core VM either left 60 to 150 µs between syncs of ~100 µs. The
//! commit window ends as soon as the group is as large as the last one, so a lone
//! writer never waits for it.
//!
//! A failed write or sync poisons the log: the records of that group, and every later
//! one, are refused, since after a failed `fsync` Linux may have dropped the dirty pages
//! and a retry would report success for data that is gone (the "fsyncgate" lesson).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use parking_lot::{Mutex, MutexGuard};

use crate::error::{Result, StorageError};
use crate::io::StorageDir;
use crate::wal::options::{Durability, WalOptions};
use crate::wal::record::{self, Header, KIND_CLOSE, MAX_LSN, RESERVED_KINDS};
use crate::wal::segment::{SegmentHeader, SEGMENT_HEADER};
use crate::wal::writer::{Spares, Writer};

/// Encoded bytes bound for one segment, starting at `offset`.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) header: SegmentHeader,
    /// The segment must be created before this chunk is written.
    pub(crate) new_segment: bool,
    pub(crate) offset: u64,
    pub(crate) buf: Vec<u8>,
}

/// Where the next record goes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tail {
    pub(crate) header: SegmentHeader,
    pub(crate) offset: u64,
}

/// What appenders share, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) next_lsn: u64,
    pub(crate) tail: Tail,
    pub(crate) pending: Vec<Chunk>,
    /// Buffers of earlier groups, for reuse.
    pub(crate) free: Vec<Vec<u8>>,
    pub(crate) leader: bool,
    /// Every record up to this LSN has been handed to the operating system.
    pub(crate) written: u64,
    /// Every record up to this LSN is on stable storage.
    pub(crate) durable: u64,
    /// A flush wants `durable` to reach this, whatever the durability mode.
    pub(crate) sync_wanted: u64,
    pub(crate) poisoned: Option<String>,
    pub(crate) closed: bool,
    pub(crate) stats: WalStats,
    /// Appends (calls, not records) waiting in `pending`.
    pub(crate) pending_appends: usize,
    /// Appends in the last group written: how many writers the next group can expect.
    pub(crate) last_group: usize,
    /// The leader, while it waits out the commit window for the group to fill.
    pub(crate) gatherer: Option<Thread>,
    /// The number of the group being formed (incremented when a leader takes it).
    pub(crate) forming: u64,
    /// The group a leader is writing: its number, last LSN, and whether it syncs.
    pub(crate) in_flight: Option<(u64, u64, bool)>,
    /// Segments started because the one before filled (of at least the first size):
    /// how fast the log is writing, which decides how many spares are worth keeping.
    pub(crate) fills: u64,
    /// `fills` when a checkpoint last removed segments.
    pub(crate) fills_seen: u64,
    /// The tail segment is half full and the spare to follow it has been asked for.
    pub(crate) spare_asked: bool,
    /// The size the segment after the tail doubles when the tail fills: the tail's
    /// size, or 0 when the log was reopened after a clean close (whose trimmed last
    /// segment says nothing about the write rate), so it starts from the first size.
    pub(crate) grow_from: u64,
}

impl State {
    /// Records are pending, or a flush wants a sync.
    fn has_work(&self) -> bool {
        !self.pending.is_empty() || self.sync_wanted > self.durable
    }
}

/// Counters of what the log has done since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Groups written (one positioned write per segment each).
    pub groups: u64,
    /// `fdatasync` calls that made groups durable.
    pub syncs: u64,
    /// Records appended.
    pub records: u64,
    /// Bytes of the records appended, headers and padding included.
    pub bytes: u64,
    /// Nanoseconds leaders spent in `write` and `fdatasync`.
    pub io_nanos: u64,
}

/// The log's shared core: state, the leader's file writer, spare segments.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: Arc<dyn StorageDir>,
    pub(crate) options: WalOptions,
    /// [`WalOptions::first_segment_size`].
    pub(crate) first_size: u64,
    pub(crate) max_payload: usize,
    pub(crate) state: Mutex<State>,
    /// `State::written`, readable without the lock.
    pub(crate) written: AtomicU64,
    /// `State::durable`, readable without the lock.
    pub(crate) durable: AtomicU64,
    /// `State::poisoned.is_some()`, readable without the lock.
    pub(crate) poisoned: AtomicBool,
    /// Futex words waiters of even and odd groups sleep on.
    pub(crate) groups: [AtomicU32; 2],
    pub(crate) writer: Mutex<Writer>,
    pub(crate) spares: Spares,
}

/// Buffers kept for reuse between groups.
const FREE_BUFFERS: usize = 4;

impl Shared {
    /// Appends `records` with consecutive LSNs and waits as the durability mode says.
    pub(crate) fn append(&self, records: &[(u8, &[&[u8]])]) -> Result<Range<u64>> {
        if records.is_empty() {
            return Err(StorageError::InvalidArgument("no records to append".into()));
        }
        for (kind, parts) in records {
            if *kind >= RESERVED_KINDS {
                return Err(StorageError::InvalidArgument(format!(
                    "record kind {kind} is reserved for the log"
                )));
            }
            self.check_size(parts)?;
        }
        let mut st = self.state.lock();
        check_open(&st)?;
        if st.next_lsn + records.len() as u64 >= MAX_LSN {
            return Err(StorageError::InvalidArgument(
                "the log has used up its sequence numbers".into(),
            ));
        }
        let first = st.next_lsn;
        for (kind, parts) in records {
            self.encode(&mut st, *kind, parts);
        }
        st.pending_appends += 1;
        if st.pending_appends >= st.last_group {
            if let Some(leader) = st.gatherer.take() {
                leader.unpark();
            }
        }
        let last = st.next_lsn - 1;
        let durable = self.options.durability == Durability::Sync;
        self.wait(st, last, durable)?;
        Ok(first..last + 1)
    }

    fn check_size(&self, parts: &[&[u8]]) -> Result<usize> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len == 0 {
            return Err(StorageError::InvalidArgument("empty record".into()));
        }
        if len > self.max_payload {
            return Err(StorageError::RecordTooLarge {
                size: len,
                max: self.max_payload,
            });
        }
        Ok(len)
    }

    /// Encodes one record into the pending chunk of the tail segment, rolling to a new
    /// segment when it does not fit. The caller has checked its size.
    ///
    /// The clean-close marker is the exception: it never starts a segment when one
    /// exists, but goes right after the last record, past the segment's preallocated
    /// size if need be (the file grows by its 40 bytes). So closing a log whose segment
    /// is full, as a reopened log's trimmed segment is, adds no file.
    pub(crate) fn encode(&self, st: &mut State, kind: u8, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let total = record::encoded_len(len) as u64;
        let size = st.tail.header.size;
        if st.tail.offset + total > size {
            let need = SEGMENT_HEADER as u64 + total;
            if kind != KIND_CLOSE {
                if st.grow_from >= self.first_size {
                    st.fills += 1;
                }
                let grown = st.grow_from.saturating_mul(2).max(self.first_size);
                self.start_segment(st, grown.max(need).min(self.options.segment_size));
            } else if size == 0 {
                // No segment yet: one just large enough for the marker.
                self.start_segment(st, need);
            }
        }
        let tail = st.tail;
        if st
            .pending
            .last()
            .is_none_or(|c| c.header.first_lsn != tail.header.first_lsn)
        {
            let mut buf = st.free.pop().unwrap_or_default();
            buf.clear();
            st.pending.push(Chunk {
                header: tail.header,
                new_segment: false,
                offset: tail.offset,
                buf,
            });
        }
        let header = Header {
            len: len as u32,
            lsn: st.next_lsn,
            durable: st.durable,
            salt: tail.header.salt,
            kind,
        };
        if let Some(chunk) = st.pending.last_mut() {
            record::encode(&mut chunk.buf, header, parts);
        }
        st.tail.offset += total;
        st.next_lsn += 1;
        st.stats.records += 1;
        st.stats.bytes += total;
        if !st.spare_asked
            && kind != KIND_CLOSE
            && st.tail.offset.saturating_mul(2) >= st.tail.header.size
        {
            // Half full: the log is writing enough to fill this segment, so have the
            // next one (twice the size) preallocated by the time it does.
            st.spare_asked = true;
            let next = st.tail.header.size.saturating_mul(2);
            self.spares.want(next.min(self.options.segment_size));
        }
    }

    /// The size of the segment a checkpoint's roll-over starts: what the current one
    /// holds, rounded up to a power of two, between the first size and the current
    /// segment's size (the first size after a clean reopen). A log that fills segments
    /// keeps their size; one written little between checkpoints goes back to small
    /// segments.
    pub(crate) fn roll_size(&self, st: &State) -> u64 {
        st.tail
            .offset
            .next_power_of_two()
            .min(st.grow_from)
            .max(self.first_size)
            .min(self.options.segment_size)
    }

    fn done(&self, target: u64, durable: bool) -> bool {
        let reached = if durable {
            &self.durable
        } else {
            &self.written
        };
        reached.load(Ordering::Acquire) >= target
    }

    /// Makes the next record start a new segment of `size` bytes: the tail moves
    /// there, and a chunk that creates it is queued (the next group's leader creates
    /// the file).
    pub(crate) fn start_segment(&self, st: &mut State, size: u64) {
        let header = SegmentHeader {
            salt: rand::random(),
            first_lsn: st.next_lsn,
            size,
        };
        st.tail = Tail {
            header,
            offset: SEGMENT_HEADER as u64,
        };
        st.spare_asked = false;
        st.grow_from = size;
        let mut buf = st.free.pop().unwrap_or_default();
        buf.clear();
        st.pending.push(Chunk {
            header,
            new_segment: true,
            offset: SEGMENT_HEADER as u64,
            buf,
        });
    }

    /// Waits until `target` is written (or durable, if `durable`), leading groups
    /// whenever no one else is.
    pub(crate) fn wait<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        target: u64,
        durable: bool,
    ) -> Result<()> {
        if durable {
            st.sync_wanted = st.sync_wanted.max(target);
        }
        loop {
            if self.done(target, durable) {
                return Ok(());
            }
            if let Some(cause) = &st.poisoned {
                return Err(StorageError::WalPoisoned {
                    cause: cause.clone(),
                });
            }
            if !st.leader && st.has_work() {
                st = self.lead(st);
                continue;
            }
            // Sleep until the group that will finish our target is done, or we are asked
            // to lead: the group in flight if it covers the target, else the one being
            // formed. (Sleeping on the wrong one loses the wake-up.)
            let group = match st.in_flight {
                Some((g, last, syncs)) if target <= last && (syncs || !durable) => g,
                _ => st.forming,
            };
            let word = &self.groups[(group % 2) as usize];
            let seen = word.load(Ordering::Acquire);
            drop(st);
            while word.load(Ordering::Acquire) == seen
                && !self.done(target, durable)
                && !self.poisoned.load(Ordering::Acquire)
            {
                atomic_wait::wait(word, seen);
            }
            if self.done(target, durable) {
                return Ok(());
            }
            st = self.state.lock();
        }
    }

    /// Writes (and syncs, if wanted) everything pending, as the group's leader.
    fn lead<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        st.leader = true;
        let window = self.options.commit_window;
        if !window.is_zero() && !st.pending.is_empty() {
            // Wait for as many appends as the last group had (its writers, just woken,
            // coming back), but no longer than the window.
            let deadline = std::time::Instant::now() + window;
            while st.pending_appends < st.last_group && st.poisoned.is_none() {
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                st.gatherer = Some(std::thread::current());
                MutexGuard::unlocked(&mut st, || std::thread::park_timeout(deadline - now));
            }
            st.gatherer = None;
        }
        st.last_group = std::mem::take(&mut st.pending_appends);
        let group = st.forming;
        st.forming += 1;
        let chunks = std::mem::take(&mut st.pending);
        let last = st.next_lsn - 1;
        let sync = self.options.durability == Durability::Sync || st.sync_wanted > st.durable;
        st.in_flight = Some((group, last, sync));
        let io_start = std::time::Instant::now();
        let result = MutexGuard::unlocked(&mut st, || {
            let mut w = self.writer.lock();
            w.write(self, &chunks)?;
            if sync {
                w.sync_all(self)?;
            }
            Ok::<(), StorageError>(())
        });
        match result {
            Ok(()) => {
                st.stats.groups += (!chunks.is_empty()) as u64;
                st.stats.syncs += sync as u64;
                st.stats.io_nanos += io_start.elapsed().as_nanos() as u64;
                st.written = st.written.max(last);
                self.written.store(st.written, Ordering::Release);
                if sync {
                    st.durable = st.durable.max(last);
                    self.durable.store(st.durable, Ordering::Release);
                }
            }
            Err(e) => {
                if st.poisoned.is_none() {
                    st.poisoned = Some(e.to_string());
                }
                self.poisoned.store(true, Ordering::Release);
            }
        }
        for chunk in chunks {
            if st.free.len() < FREE_BUFFERS {
                st.free.push(chunk.buf);
            }
        }
        st.leader = false;
        st.in_flight = None;
        let poisoned = st.poisoned.is_some();
        let next_leader = !poisoned && st.has_work();
        // Everyone who waited on this group is done: wake them all at once. If the next
        // group has work, wake one of its waiters to lead it (the bump makes it leave
        // its wait loop; the others sleep on until their group is done).
        let (mine, next) = (
            &self.groups[(group % 2) as usize],
            &self.groups[((group + 1) % 2) as usize],
        );
        mine.fetch_add(1, Ordering::Release);
        if poisoned || next_leader {
            next.fetch_add(1, Ordering::Release);
        }
        MutexGuard::unlocked(&mut st, || {
            atomic_wait::wake_all(mine);
            if poisoned {
                atomic_wait::wake_all(next);
            } else if next_leader {
                atomic_wait::wake_one(next);
            }
        });
        st
    }

    /// Writes everything pending (leading groups as needed), without waiting for any
    /// particular LSN.
    pub(crate) fn drain<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<()> {
        loop {
            if let Some(cause) = &st.poisoned {
                return Err(StorageError::WalPoisoned {
                    cause: cause.clone(),
                });
            }
            if st.pending.is_empty() {
                return Ok(());
            }
            if st.leader {
                // Rare (a checkpoint rolls the log while appenders are held off): let
                // the current leader finish.
                MutexGuard::unlocked(&mut st, || {
                    std::thread::sleep(std::time::Duration::from_micros(50))
                });
            } else {
                st = self.lead(st);
            }
        }
    }

    /// Makes everything appended so far durable.
    pub(crate) fn flush(&self) -> Result<u64> {
        let st = self.state.lock();
        if let Some(cause) = &st.poisoned {
            return Err(StorageError::WalPoisoned {
                cause: cause.clone(),
            });
        }
        let target = st.next_lsn - 1;
        self.wait(st, target, true)?;
        Ok(target)
    }
}

fn check_open(st: &State) -> Result<()> {
    if let Some(cause) = &st.poisoned {
        return Err(StorageError::WalPoisoned {
            cause: cause.clone(),
        });
    }
    if st.closed {
        return Err(StorageError::Closed);
    }
    Ok(())
}
