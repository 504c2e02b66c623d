//! The `threads=` argument of `Collection.search`, `add` and `upsert` (hnswlib's
//! `num_threads` habit): `None` runs on rayon's global pool (every core, or
//! `RAYON_NUM_THREADS`), `1` on one thread, `n` on a pool of `n` threads.
//!
//! Pools are built on first use and kept for the life of the process, one per thread
//! count, so a call never pays for starting threads after the first of its size; the
//! core's `par_iter`s run on the pool because the binding calls them inside
//! [`rayon::ThreadPool::install`]. A search with one thread runs on the caller's thread
//! itself (no pool); a write with one thread runs on a one-thread pool, since the core's
//! put sequence hands its graph inserts to whatever pool it is called from.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

use fletchdb::Error;
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::errors::invalid;

/// The most threads one call may ask for: more is almost surely a mistake, and each
/// distinct count keeps a pool alive for the life of the process.
pub(crate) const MAX_THREADS: i64 = 1024;

/// The pools built so far, by thread count.
static POOLS: Mutex<Option<HashMap<usize, Arc<ThreadPool>>>> = Mutex::new(None);

/// Where a call's work runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threads {
    /// rayon's global pool (`threads=None`).
    All,
    /// This many threads (`threads=n`).
    Count(NonZeroUsize),
}

impl Threads {
    /// Reads a `threads=` argument: `None`, or an integer from 1 to [`MAX_THREADS`].
    pub(crate) fn parse(value: Option<i64>) -> Result<Threads, Error> {
        let Some(n) = value else {
            return Ok(Threads::All);
        };
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(invalid(format!(
                "threads must be None (all cores) or from 1 to {MAX_THREADS}, not {n}"
            )));
        }
        usize::try_from(n)
            .ok()
            .and_then(NonZeroUsize::new)
            .map(Threads::Count)
            .ok_or_else(|| invalid(format!("threads is out of range: {n}")))
    }

    /// True for `threads=1`, which a search runs on the caller's thread.
    pub(crate) fn is_one(self) -> bool {
        self == Threads::Count(NonZeroUsize::MIN)
    }

    /// Runs `op` so that the rayon parallelism inside it uses these threads: on the
    /// global pool as it stands for [`Threads::All`], else inside the cached pool of that
    /// size.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the pool cannot be started (the system refused to
    /// create the threads); otherwise `op`'s own result.
    pub(crate) fn install<R: Send>(
        self,
        op: impl FnOnce() -> Result<R, Error> + Send,
    ) -> Result<R, Error> {
        match self {
            Threads::All => op(),
            Threads::Count(n) => pool(n.get())?.install(op),
        }
    }
}

/// The pool of `n` threads, built on first use.
fn pool(n: usize) -> Result<Arc<ThreadPool>, Error> {
    let mut pools = POOLS.lock().unwrap_or_else(PoisonError::into_inner);
    let pools = pools.get_or_insert_with(HashMap::new);
    if let Some(p) = pools.get(&n) {
        return Ok(Arc::clone(p));
    }
    let p = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("fletchdb-{n}t-{i}"))
        .build()
        .map_err(|e| invalid(format!("cannot start a pool of {n} threads: {e}")))?;
    let p = Arc::new(p);
    pools.insert(n, Arc::clone(&p));
    Ok(p)
}
