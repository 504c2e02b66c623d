//! A loaded graph's layer-0 lists, checked where they are first read instead of all at
//! once by the load: [`ListChecks`].
//!
//! A graph file stores a CRC32C for every run of `per_sum` slots' layer-0 lists (32 in
//! format 3, 1,024 in format 2, `persist.rs`). The load checks the header, the node
//! records and the upper layers, and hands the layer-0 region out as it lies; the
//! first reader of a run (a search, an insert, a save) checks its checksum and every
//! list in it, as the load used to, before any list of it is read or written. A damaged
//! run is never read: its lists are emptied, and every operation on the index from then
//! on fails with the run's [`IndexError::Corruption`] (`Hnsw::lists_failure`).
//!
//! Why: those checks were the largest step of a warm open, 19.6-22.9 ms of 52.7-68.8
//! at 1,000,000 × 128-d nodes (m 16, `db_bench open`, timed by hand, 2026-12-04), most
//! of it faulting in the 132 MB of lists. A first query reads about 1,500 lists; in
//! runs of 32 slots (4.2 KB at m 16) it checks about 6 MB of them.
//!
//! A run is claimed before it is checked, so that no writer can change a list of it
//! while another thread computes its checksum: the first reader claims it and checks
//! it, any other waits until it is done (microseconds).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::error::IndexError;
use crate::image::Lists0;
use crate::nodes::CHUNK;
use crate::persist::{check_list, corrupt};
use crate::sound::{lists_sound, Lists, Present};

/// Runs a chunk holds at most: one bit each in the low half of a chunk's mark word,
/// its claim bit in the high half.
const MAX_RUNS: usize = 32;

/// The stored checksums of a loaded graph's layer-0 lists, and which runs of them have
/// been checked.
pub(crate) struct ListChecks {
    /// log2 of the slots a checksum covers.
    run_bits: u32,
    /// The slots the file holds lists for.
    bound: usize,
    /// Words of one list (`1 + 2M`).
    stride: usize,
    /// Byte offset of the lists in the file, for errors.
    offset: usize,
    /// The stored checksum of each run.
    sums: Box<[u32]>,
    /// Which slots hold a node in the file.
    present: Present,
    /// A graph of one node, whose only list may be empty.
    lone: bool,
    /// Per chunk of the file: bit `r` set once run `r` is checked, bit `32 + r` once it
    /// is claimed.
    marks: Box<[AtomicU64]>,
    /// The first damage found.
    failure: OnceLock<(usize, String)>,
}

impl ListChecks {
    /// The checks of `bound` slots' lists (`stride` words each, at byte `offset` of the
    /// file), `sums[r]` the checksum of slots `r << run_bits ..`, present where
    /// `present` says. `None` unless a run is a power of two from 32 to [`CHUNK`] slots
    /// and `sums` has one checksum per run.
    pub(crate) fn new(
        run: usize,
        bound: usize,
        stride: usize,
        offset: usize,
        sums: Box<[u32]>,
        present: Present,
        lone: bool,
    ) -> Option<ListChecks> {
        if !run.is_power_of_two() || !(CHUNK / MAX_RUNS..=CHUNK).contains(&run) {
            return None;
        }
        if sums.len() != bound.div_ceil(run) {
            return None;
        }
        let runs = CHUNK / run;
        // Runs past the bound hold no stored lists: nothing to check.
        let marks = (0..bound.div_ceil(CHUNK))
            .map(|c| {
                let stored = (bound - c * CHUNK).min(CHUNK).div_ceil(run);
                let past = (runs - stored) as u32;
                let done = if past == 0 {
                    0
                } else {
                    (u64::MAX >> (64 - past)) << stored
                };
                AtomicU64::new(done)
            })
            .collect();
        Some(ListChecks {
            run_bits: run.trailing_zeros(),
            bound,
            stride,
            offset,
            sums,
            present,
            lone,
            marks,
            failure: OnceLock::new(),
        })
    }

    /// True when `slot`'s list needs no check: a chunk the file did not hold, or a run
    /// already checked.
    #[inline(always)]
    pub(crate) fn checked(&self, chunk: usize, slot: usize) -> bool {
        match self.marks.get(chunk) {
            None => true,
            Some(word) => {
                let run = (slot & (CHUNK - 1)) >> self.run_bits;
                word.load(Ordering::Acquire) >> run & 1 == 1
            }
        }
    }

    /// Checks the run holding `slot` (in chunk `chunk`, whose lists are `lists`) unless
    /// it is checked already, or waits while another thread checks it.
    #[cold]
    #[inline(never)]
    pub(crate) fn check(&self, chunk: usize, slot: usize, lists: &Lists0) {
        let Some(word) = self.marks.get(chunk) else {
            return;
        };
        let run = (slot & (CHUNK - 1)) >> self.run_bits;
        let (done, claim) = (1u64 << run, 1u64 << (MAX_RUNS + run));
        let before = word.fetch_or(claim, Ordering::AcqRel);
        if before & done != 0 {
            return;
        }
        if before & claim != 0 {
            while word.load(Ordering::Acquire) & done == 0 {
                std::hint::spin_loop();
                std::thread::yield_now();
            }
            return;
        }
        if let Err((offset, reason)) = self.check_run(chunk, run, lists) {
            // Nothing reads the damaged lists: empty them (a private copy; the file
            // is not written), then record why for every operation from now on.
            let (first, last) = self.run_slots(chunk, run);
            for s in first..last {
                if let Some(count) = lists.get((s - chunk * CHUNK) * self.stride) {
                    count.store(0, Ordering::Release);
                }
            }
            let _ = self.failure.set((offset, reason));
        }
        word.fetch_or(done, Ordering::AcqRel);
    }

    /// Chunks the file held.
    pub(crate) fn chunks(&self) -> usize {
        self.marks.len()
    }

    /// Checks every run of chunk `chunk` (whose lists are `lists`) not checked yet.
    pub(crate) fn check_chunk(&self, chunk: usize, lists: &Lists0) {
        for run in 0..CHUNK >> self.run_bits {
            let slot = chunk * CHUNK + (run << self.run_bits);
            if !self.checked(chunk, slot) {
                self.check(chunk, slot, lists);
            }
        }
    }

    /// The first damage found, as an error.
    pub(crate) fn failure(&self) -> Result<(), IndexError> {
        match self.failure.get() {
            None => Ok(()),
            Some((offset, reason)) => Err(corrupt(*offset, reason)),
        }
    }

    /// Slots `first..last` of run `run` of chunk `chunk` that the file holds.
    fn run_slots(&self, chunk: usize, run: usize) -> (usize, usize) {
        let first = chunk * CHUNK + (run << self.run_bits);
        (first, (first + (1 << self.run_bits)).min(self.bound))
    }

    /// Checks one run: its checksum, then each list as a load does (`lists_sound`, and
    /// where it cannot tell, `check_list` one link at a time to name the fault).
    fn check_run(&self, chunk: usize, run: usize, lists: &Lists0) -> Result<(), (usize, String)> {
        let (first, last) = self.run_slots(chunk, run);
        let words = (last - first) * self.stride;
        let start = (first - chunk * CHUNK) * self.stride;
        let at = self.offset + first * self.stride * 4;
        let fail = |offset: usize, reason: &str| Err((offset, reason.to_string()));
        let Some(stored) = lists.get(start..start + words) else {
            return fail(at, "lists shorter than the slot bound");
        };
        let mut bytes = Vec::with_capacity(4 * words);
        for w in stored {
            bytes.extend_from_slice(&w.load(Ordering::Acquire).to_le_bytes());
        }
        let sum_index = first >> self.run_bits;
        if self.sums.get(sum_index) != Some(&crc32c::crc32c(&bytes)) {
            return fail(at, &format!("checksum mismatch in run {sum_index}'s lists"));
        }
        let quick = Lists {
            bytes: &bytes,
            first: first as u32,
            stride: self.stride,
        };
        if lists_sound(&quick, &self.present, self.lone) == Some(true) {
            return Ok(());
        }
        let word = |i: usize| {
            let b = &bytes[4 * i..4 * i + 4];
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        let mut ids = Vec::with_capacity(self.stride);
        for i in 0..last - first {
            let slot = (first + i) as u32;
            let list = at + i * self.stride * 4;
            let count = word(i * self.stride) as usize;
            if !self.present.has(slot) {
                if count != 0 {
                    return fail(list, "a list for a slot with no node");
                }
                continue;
            }
            if count >= self.stride {
                return fail(list, "neighbour count above capacity");
            }
            let mut k = 0;
            let next = || {
                k += 1;
                Ok((list + 4 * k, word(i * self.stride + k)))
            };
            check_list(|id| self.present.has(id), slot, count, next, &mut ids).map_err(
                |e| match e {
                    IndexError::Corruption { offset, reason } => (offset, reason),
                    other => (list, other.to_string()),
                },
            )?;
            if ids.is_empty() && !self.lone {
                return fail(list, "isolated node");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// Checks of `bound` slots of stride 3 (m 1), every slot present, each run's sum
    /// that of `lists` as they are.
    fn checks_of(lists: &Lists0, bound: usize) -> ListChecks {
        let mut sums = Vec::new();
        for first in (0..bound).step_by(32) {
            let mut bytes = Vec::new();
            for w in &lists[first * 3..(first + 32).min(bound) * 3] {
                bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
            }
            sums.push(crc32c::crc32c(&bytes));
        }
        let present = Present::new(bound, |_| true);
        ListChecks::new(32, bound, 3, 4096, sums.into(), present, false).unwrap()
    }

    /// Lists of `bound` slots of stride 3 in which slot `s` links to its neighbours
    /// `s ^ 1` and `s ^ 2`, all sound.
    fn ring(bound: usize) -> Lists0 {
        let lists = Lists0::zeroed(CHUNK * 3);
        for s in 0..bound {
            let list = &lists[s * 3..s * 3 + 3];
            list[0].store(2, Ordering::Relaxed);
            list[1].store((s ^ 1) as u32 % bound as u32, Ordering::Relaxed);
            list[2].store((s ^ 2) as u32 % bound as u32, Ordering::Relaxed);
        }
        lists
    }

    #[test]
    fn sound_runs_pass_and_runs_past_the_bound_need_no_check() {
        let lists = ring(100);
        let checks = checks_of(&lists, 100);
        assert!(!checks.checked(0, 99));
        assert!(checks.checked(0, 128) && checks.checked(0, 1023));
        assert!(checks.checked(1, 0), "a chunk the file did not hold");
        checks.check_chunk(0, &lists);
        assert!((0..100).all(|s| checks.checked(0, s)));
        checks.failure().unwrap();
    }

    #[test]
    fn a_damaged_run_is_emptied_and_named() {
        let lists = ring(100);
        let checks = checks_of(&lists, 100);
        lists[40 * 3 + 1].store(7_000, Ordering::Relaxed);
        checks.check(0, 40, &lists);
        assert!(checks.checked(0, 40));
        match checks.failure() {
            Err(IndexError::Corruption { offset, reason }) => {
                assert_eq!(offset, 4096 + 32 * 3 * 4, "{reason}");
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!((32..64).all(|s| lists[s * 3].load(Ordering::Relaxed) == 0));
        assert_eq!(lists[0].load(Ordering::Relaxed), 2, "other runs untouched");
    }

    /// A thread reading a run that another thread is checking waits for that check:
    /// returning at once would let it write a list the checker is still reading.
    #[test]
    fn a_reader_waits_for_the_thread_checking_its_run() {
        let lists = ring(64);
        let checks = checks_of(&lists, 64);
        checks.marks[0].fetch_or(1 << MAX_RUNS, Ordering::SeqCst);
        let returned = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                checks.check(0, 5, &lists);
                returned.store(true, Ordering::SeqCst);
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                !returned.load(Ordering::SeqCst),
                "returned before the check ended"
            );
            checks.marks[0].fetch_or(1, Ordering::SeqCst);
        });
        assert!(returned.load(Ordering::SeqCst));
        assert!(!checks.checked(0, 32), "the other run is still to check");
    }
}
