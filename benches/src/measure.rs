//! What the benches and the runner measure besides time: recall, latency percentiles,
//! memory (from `/proc/self/status`) and size on disk.

use std::io;
use std::path::Path;
use std::time::Duration;

/// Mean recall@`k`: the share of each query's true `k` nearest (the first `k` of its
/// `truth` row) found among its first `k` results.
///
/// # Panics
/// If `got` and `truth` differ in length.
pub fn recall(got: &[Vec<u64>], truth: &[Vec<u32>], k: usize) -> f64 {
    assert_eq!(got.len(), truth.len(), "one result list per query");
    if got.is_empty() || k == 0 {
        return 0.0;
    }
    let hits: usize = got
        .iter()
        .zip(truth)
        .map(|(g, t)| {
            let t = &t[..k.min(t.len())];
            g.iter()
                .take(k)
                .filter(|&&id| u32::try_from(id).is_ok_and(|id| t.contains(&id)))
                .count()
        })
        .sum();
    hits as f64 / (k * got.len()) as f64
}

/// Latency percentiles of one kind of operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Operations measured.
    pub count: usize,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
}

impl Latency {
    /// The percentiles of `samples` (sorted in place); all zero when empty.
    pub fn of(samples: &mut [Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        Latency {
            count: samples.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        }
    }
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len()..]
        .trim()
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// The process's peak resident set size (`VmHWM`), in bytes; `None` off Linux.
pub fn peak_rss() -> Option<u64> {
    status_kb("VmHWM")
}

/// The process's resident set size now (`VmRSS`), in bytes; `None` off Linux.
pub fn current_rss() -> Option<u64> {
    status_kb("VmRSS")
}

/// Resets the peak RSS to the current RSS (writing `5` to `/proc/self/clear_refs`,
/// Linux 4.0+), so [`peak_rss`] measures one phase; false if the kernel refused.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Writes dirty pages out and empties the page cache (`sync; echo 3 >
/// /proc/sys/vm/drop_caches`) so the next open reads from the disk; false without the
/// rights to (it needs root).
pub fn drop_page_cache() -> bool {
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Bytes under a directory: all files, and those under its `wal/` subdirectory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DiskUsage {
    /// Every file's length (the apparent size, `du --apparent-size`).
    pub total: u64,
    /// The write-ahead log's share (preallocated segments count in full).
    pub wal: u64,
    /// The blocks the files occupy (`du`): below `total` where a file is sparse (a
    /// vector segment not yet filled), so it shows growth inside preallocated files.
    pub allocated: u64,
}

/// The bytes `meta`'s file occupies on disk (its length where that is unknown).
#[cfg(unix)]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.blocks() * 512
}

#[cfg(not(unix))]
fn allocated(meta: &std::fs::Metadata) -> u64 {
    meta.len()
}

/// The [`DiskUsage`] of the database directory `dir`.
///
/// # Errors
/// I/O errors while listing it.
pub fn disk_usage(dir: &Path) -> io::Result<DiskUsage> {
    fn walk(p: &Path, in_wal: bool, u: &mut DiskUsage) -> io::Result<()> {
        for entry in std::fs::read_dir(p)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                walk(&entry.path(), in_wal || entry.file_name() == "wal", u)?;
            } else {
                u.total += meta.len();
                u.allocated += allocated(&meta);
                if in_wal {
                    u.wal += meta.len();
                }
            }
        }
        Ok(())
    }
    let mut u = DiskUsage::default();
    walk(dir, false, &mut u)?;
    Ok(u)
}

/// `bytes` in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_only_the_first_k() {
        let truth = vec![vec![1, 2, 3, 9], vec![4, 5, 6, 9]];
        let got = vec![vec![3, 2, 9], vec![6, 7, 8]];
        // k = 3: query 0 finds 3 and 2 of {1,2,3}; query 1 finds 6 of {4,5,6}.
        assert!((recall(&got, &truth, 3) - 3.0 / 6.0).abs() < 1e-12);
        assert_eq!(recall(&[vec![u64::MAX]], &[vec![1]], 1), 0.0);
    }

    #[test]
    fn percentiles() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latency::of(&mut v);
        assert_eq!(l.count, 100);
        assert_eq!(l.p50, Duration::from_millis(51)); // index round(99 * 0.5) = 50
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latency::of(&mut []), Latency::default());
    }

    #[test]
    fn memory_and_disk_figures() {
        if cfg!(target_os = "linux") {
            let peak = peak_rss().unwrap();
            assert!(peak > 0 && peak >= current_rss().unwrap() / 2);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("wal")).unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join("wal").join("1.wal"), [0u8; 5]).unwrap();
        let u = disk_usage(dir.path()).unwrap();
        assert_eq!((u.total, u.wal), (15, 5));
        // A sparse file is long but occupies (almost) nothing.
        let f = std::fs::File::create(dir.path().join("sparse")).unwrap();
        f.set_len(64 << 20).unwrap();
        let u = disk_usage(dir.path()).unwrap();
        assert_eq!(u.total, 15 + (64 << 20));
        assert!(u.allocated < 1 << 20, "{u:?}");
    }
}
