//! The churn benchmark's workload and report: a collection built fresh, then rewritten
//! round by round (a share of the ids deleted in the first round, every live id given a
//! new vector in each), exact ground truth over the live set, the files the hnswlib
//! replay (`benches/scripts/hnswlib_churn.py`) reads, and the results table.
//!
//! The replay's files, in one directory: `base.fvecs` (row `i` is id `i`) and
//! `query.fvecs`; per round `R` (from 1) `round-R_deleted.ivecs` (one row of the ids it
//! deletes, absent when it deletes none), `round-R_ids.ivecs` (one row of the ids it
//! rewrites) and `round-R_vectors.fvecs` (their new vectors, in that order); per
//! measurement point `P` (`fresh`, `1`, ...) `truth-P.ivecs`, each query's exact
//! nearest live ids. The script prints `point,recall,qps,write_s` as CSV.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use fletchdb::Metric;
use rand::rngs::StdRng;
use rand::seq::{index, SliceRandom};
use rand::SeedableRng;

use crate::data::{gaussian, ground_truth};
use crate::measure::{mib, DiskUsage};
use crate::report::{number, read_columns, thousands};
use crate::texmex::{write_fvecs, write_ivecs, Matrix};

/// Where a round's new vectors come from.
#[derive(Debug, Clone)]
pub enum Rewrite {
    /// Fresh draws from N(0, 1).
    Gaussian,
    /// Rows of this matrix (the base set, one row per id): each round draws a random
    /// cyclic permutation of them, so every id gets another row's vector and the data
    /// stay real.
    Permute(Matrix),
}

/// One round of writes: first `deleted` is deleted, then every id of `ids` (all live
/// ids, ascending) gets the matching row of `vectors`.
#[derive(Debug, Clone)]
pub struct Round {
    /// 1 for the first round.
    pub number: usize,
    /// Ids deleted, ascending.
    pub deleted: Vec<u64>,
    /// Ids rewritten, ascending.
    pub ids: Vec<u64>,
    /// Their new vectors, row `j` for `ids[j]`.
    pub vectors: Matrix,
}

/// The collection as the workload left it: each id's current vector and whether it is
/// live, and the seeded generator that chooses the next round.
#[derive(Debug, Clone)]
pub struct Churn {
    vectors: Vec<f32>,
    alive: Vec<bool>,
    dim: usize,
    rewrite: Rewrite,
    rng: StdRng,
}

impl Churn {
    /// A workload whose collection holds `base` (row `i` under id `i`), its rounds
    /// drawn with `seed`.
    ///
    /// # Panics
    /// If `rewrite` permutes a matrix of another shape than `base`.
    pub fn new(base: Matrix, rewrite: Rewrite, seed: u64) -> Churn {
        if let Rewrite::Permute(rows) = &rewrite {
            assert!(
                rows.len() == base.len() && rows.dim() == base.dim(),
                "the permuted rows must match the base set"
            );
        }
        let dim = base.dim();
        let alive = vec![true; base.len()];
        Churn {
            vectors: base.as_slice().to_vec(),
            alive,
            dim,
            rewrite,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The live ids, ascending.
    pub fn live_ids(&self) -> Vec<u64> {
        (0..self.alive.len() as u64)
            .filter(|&id| self.alive[id as usize])
            .collect()
    }

    /// How many ids are live.
    pub fn live(&self) -> usize {
        self.alive.iter().filter(|&&a| a).count()
    }

    /// Draws and applies round `number`: deletes `delete` live ids chosen at random
    /// (all of them at most), then gives every live id a new vector.
    pub fn round(&mut self, number: usize, delete: usize) -> Round {
        let live = self.live_ids();
        let mut deleted: Vec<u64> =
            index::sample(&mut self.rng, live.len(), delete.min(live.len()))
                .into_iter()
                .map(|i| live[i])
                .collect();
        deleted.sort_unstable();
        for &id in &deleted {
            self.alive[id as usize] = false;
        }
        let ids = self.live_ids();
        let vectors = match &self.rewrite {
            Rewrite::Gaussian => gaussian(ids.len(), self.dim, &mut self.rng),
            Rewrite::Permute(rows) => {
                // One cycle through every row: no id keeps its own row.
                let mut order: Vec<usize> = (0..rows.len()).collect();
                order.shuffle(&mut self.rng);
                let mut source = vec![0; rows.len()];
                for (j, &id) in order.iter().enumerate() {
                    source[id] = order[(j + 1) % order.len()];
                }
                let mut data = Vec::with_capacity(ids.len() * self.dim);
                for &id in &ids {
                    data.extend_from_slice(rows.row(source[id as usize]));
                }
                Matrix::new(self.dim, data)
            }
        };
        for (&id, v) in ids.iter().zip(vectors.rows()) {
            let at = id as usize * self.dim;
            self.vectors[at..at + self.dim].copy_from_slice(v);
        }
        Round {
            number,
            deleted,
            ids,
            vectors,
        }
    }

    /// Each query's exact `k` nearest live ids under `metric`, nearest first
    /// ([`ground_truth`] over the live vectors, in parallel).
    pub fn truth(&self, queries: &Matrix, k: usize, metric: Metric) -> Vec<Vec<u32>> {
        let ids = self.live_ids();
        let mut data = Vec::with_capacity(ids.len() * self.dim);
        for &id in &ids {
            let at = id as usize * self.dim;
            data.extend_from_slice(&self.vectors[at..at + self.dim]);
        }
        ground_truth(&Matrix::new(self.dim, data), queries, k, metric)
            .into_iter()
            .map(|row| row.into_iter().map(|r| ids[r as usize] as u32).collect())
            .collect()
    }
}

/// The directory of files the hnswlib replay reads (see the module's docs).
#[derive(Debug, Clone)]
pub struct ReplayFiles {
    /// Where they are written.
    pub dir: PathBuf,
}

impl ReplayFiles {
    /// Writes the base vectors and the queries.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_start(&self, base: &Matrix, queries: &Matrix) -> io::Result<()> {
        write_fvecs(&self.dir.join("base.fvecs"), base)?;
        write_fvecs(&self.dir.join("query.fvecs"), queries)
    }

    /// Writes a round's deletes and rewrites.
    ///
    /// # Errors
    /// I/O errors; [`io::ErrorKind::InvalidData`] for an id above `i32::MAX`.
    pub fn write_round(&self, round: &Round) -> io::Result<()> {
        let row = |ids: &[u64]| -> io::Result<Vec<Vec<u32>>> {
            let ids: Result<Vec<u32>, _> = ids.iter().map(|&id| u32::try_from(id)).collect();
            ids.map(|r| vec![r])
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "id above u32::MAX"))
        };
        let r = round.number;
        if !round.deleted.is_empty() {
            let path = self.dir.join(format!("round-{r}_deleted.ivecs"));
            write_ivecs(&path, &row(&round.deleted)?)?;
        }
        write_ivecs(
            &self.dir.join(format!("round-{r}_ids.ivecs")),
            &row(&round.ids)?,
        )?;
        write_fvecs(
            &self.dir.join(format!("round-{r}_vectors.fvecs")),
            &round.vectors,
        )
    }

    /// Writes the ground truth of measurement point `point`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_truth(&self, point: &str, truth: &[Vec<u32>]) -> io::Result<()> {
        write_ivecs(&self.dir.join(format!("truth-{point}.ivecs")), truth)
    }
}

/// The replay script, `benches/scripts/hnswlib_churn.py` in this crate's sources.
pub fn hnswlib_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join("hnswlib_churn.py")
}

/// What one library measured at one point of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// `fresh`, `1`, `2`, ...
    pub point: String,
    /// Mean recall@k against the live set's exact neighbours.
    pub recall: f64,
    /// Single-thread queries per second, the median of the passes.
    pub qps: f64,
    /// Seconds the writes before this point took (the build, or the round's deletes
    /// and upserts).
    pub write_s: f64,
}

/// FletchDB's figures at one point: [`Measured`] plus the database's state.
#[derive(Debug, Clone, PartialEq)]
pub struct DbPoint {
    /// Recall, QPS and write time.
    pub m: Measured,
    /// Seconds the checkpoint after the writes took (for the fresh point: the close).
    pub checkpoint_s: f64,
    /// Seconds the `compact()` after that checkpoint took (0 when none ran).
    pub compact_s: f64,
    /// Single-thread QPS of an untouched copy of the fresh collection, timed in passes
    /// interleaved with this point's, so `m.qps / fresh_qps` is a ratio a drifting
    /// machine moves little.
    pub fresh_qps: f64,
    /// The database directory's size: apparent (the table's figure), log, allocated.
    pub disk: DiskUsage,
    /// Vectors the collection holds.
    pub live: usize,
}

/// Reads the replay script's CSV (`point,recall,qps,write_s`).
///
/// # Errors
/// I/O errors; [`io::ErrorKind::InvalidData`] for a missing column or a bad number.
pub fn read_peer_csv(path: &Path) -> io::Result<Vec<Measured>> {
    read_columns(path, ["point", "recall", "qps", "write_s"])?
        .into_iter()
        .map(|[point, recall, qps, write_s]| {
            Ok(Measured {
                point,
                recall: number(path, &recall)?,
                qps: number(path, &qps)?,
                write_s: number(path, &write_s)?,
            })
        })
        .collect()
}

/// The peer's figures at `point`, if it measured that point.
fn peer_at<'a>(peer: &'a [Measured], point: &str) -> Option<&'a Measured> {
    peer.iter().find(|p| p.point == point)
}

/// The results as CSV: one line per point, FletchDB's columns then hnswlib's (empty
/// where it was not run).
///
/// # Errors
/// I/O errors.
pub fn write_csv(path: &Path, points: &[DbPoint], peer: &[Measured]) -> io::Result<()> {
    let mut s = String::from(
        "point,fletchdb_recall,fletchdb_qps,fresh_copy_qps,write_s,checkpoint_s,compact_s,disk_bytes,wal_bytes,\
         allocated_bytes,live,hnswlib_recall,hnswlib_qps,hnswlib_write_s\n",
    );
    for p in points {
        let _ = write!(
            s,
            "{},{:.4},{:.1},{:.1},{:.2},{:.2},{:.2},{},{},{},{}",
            p.m.point,
            p.m.recall,
            p.m.qps,
            p.fresh_qps,
            p.m.write_s,
            p.checkpoint_s,
            p.compact_s,
            p.disk.total,
            p.disk.wal,
            p.disk.allocated,
            p.live
        );
        match peer_at(peer, &p.m.point) {
            Some(h) => {
                let _ = writeln!(s, ",{:.4},{:.1},{:.2}", h.recall, h.qps, h.write_s);
            }
            None => s.push_str(",,,\n"),
        }
    }
    std::fs::write(path, s)
}

/// The results as a markdown table: sizes as ratios to the first point (the fresh
/// collection), QPS as ratios to the fresh copy timed alongside each point.
pub fn markdown_table(points: &[DbPoint], peer: &[Measured]) -> String {
    let mut s = String::from(
        "| round | FletchDB recall | QPS | QPS ÷ fresh (interleaved) | MiB on disk | size ÷ fresh | \
         live vectors | hnswlib recall | hnswlib QPS |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    let Some(fresh) = points.first() else {
        return s;
    };
    for p in points {
        let _ = write!(
            s,
            "| {} | {:.3} | {} | {:.2} | {:.0} | {:.2} | {} |",
            p.m.point,
            p.m.recall,
            thousands(p.m.qps),
            p.m.qps / p.fresh_qps,
            mib(p.disk.total),
            p.disk.total as f64 / fresh.disk.total as f64,
            thousands(p.live as f64),
        );
        match peer_at(peer, &p.m.point) {
            Some(h) => {
                let _ = writeln!(s, " {:.3} | {} |", h.recall, thousands(h.qps));
            }
            None => s.push_str(" - | - |\n"),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(n: usize, dim: usize) -> Matrix {
        Matrix::new(dim, (0..n * dim).map(|x| x as f32).collect())
    }

    #[test]
    fn rounds_delete_once_and_rewrite_every_live_id() {
        let mut c = Churn::new(base(50, 4), Rewrite::Gaussian, 1);
        let r1 = c.round(1, 10);
        assert_eq!(r1.deleted.len(), 10);
        assert_eq!((r1.ids.len(), r1.vectors.len(), c.live()), (40, 40, 40));
        assert!(r1.deleted.iter().all(|d| !r1.ids.contains(d)));
        let r2 = c.round(2, 0);
        assert!(r2.deleted.is_empty());
        assert_eq!(r2.ids, r1.ids);
        assert_ne!(r2.vectors, r1.vectors);
        // The same seed draws the same sequence.
        let mut again = Churn::new(base(50, 4), Rewrite::Gaussian, 1);
        assert_eq!(again.round(1, 10).vectors, r1.vectors);
    }

    #[test]
    fn permuted_rewrites_move_every_id_to_another_real_row() {
        let rows = base(30, 2);
        let mut c = Churn::new(rows.clone(), Rewrite::Permute(rows.clone()), 7);
        let r = c.round(1, 5);
        let mut used = Vec::new();
        for (&id, v) in r.ids.iter().zip(r.vectors.rows()) {
            let src = rows.rows().position(|row| row == v).unwrap();
            assert_ne!(src as u64, id);
            used.push(src);
        }
        used.sort_unstable();
        used.dedup();
        assert_eq!(
            used.len(),
            r.ids.len(),
            "rows are not reused within a round"
        );
    }

    #[test]
    fn truth_names_live_ids_nearest_first() {
        // Id i sits at (i, 0); after the round, the truth must follow the new vectors.
        let rows = Matrix::new(2, (0..20).flat_map(|i| [i as f32, 0.0]).collect());
        let mut c = Churn::new(rows.clone(), Rewrite::Permute(rows), 3);
        let q = Matrix::new(2, vec![0.0, 0.0]);
        assert_eq!(c.truth(&q, 3, Metric::L2), [vec![0, 1, 2]]);
        let r = c.round(1, 4);
        let t = &c.truth(&q, 5, Metric::L2)[0];
        let x = |id: u32| {
            let j = r.ids.iter().position(|&i| i == u64::from(id)).unwrap();
            r.vectors.row(j)[0]
        };
        assert!(t.iter().all(|&id| !r.deleted.contains(&u64::from(id))));
        assert!(t.windows(2).all(|w| x(w[0]) < x(w[1])), "{t:?}");
    }

    #[test]
    fn replay_files_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let files = ReplayFiles {
            dir: dir.path().to_path_buf(),
        };
        let mut c = Churn::new(base(10, 2), Rewrite::Gaussian, 1);
        let r1 = c.round(1, 2);
        let r2 = c.round(2, 0);
        files.write_round(&r1).unwrap();
        files.write_round(&r2).unwrap();
        assert!(dir.path().join("round-1_deleted.ivecs").exists());
        assert!(!dir.path().join("round-2_deleted.ivecs").exists());
        let ids = crate::texmex::read_ivecs(&dir.path().join("round-2_ids.ivecs")).unwrap();
        assert_eq!(ids[0].len(), 8);

        let csv = dir.path().join("peer.csv");
        std::fs::write(&csv, "point,recall,qps,write_s\nfresh,0.9,1000,1.5\n").unwrap();
        let peer = read_peer_csv(&csv).unwrap();
        let at = |point: &str, qps: f64, disk_bytes: u64| DbPoint {
            m: Measured {
                point: point.into(),
                recall: 0.8,
                qps,
                write_s: 1.0,
            },
            checkpoint_s: 0.1,
            compact_s: 0.0,
            fresh_qps: 2000.0,
            disk: DiskUsage {
                total: disk_bytes,
                wal: 0,
                allocated: disk_bytes / 2,
            },
            live: 8,
        };
        let points = [at("fresh", 2000.0, 1 << 20), at("1", 1000.0, 3 << 20)];
        let t = markdown_table(&points, &peer);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[2],
            "| fresh | 0.800 | 2,000 | 1.00 | 1 | 1.00 | 8 | 0.900 | 1,000 |"
        );
        assert_eq!(
            lines[3],
            "| 1 | 0.800 | 1,000 | 0.50 | 3 | 3.00 | 8 | - | - |"
        );
        let out = dir.path().join("out.csv");
        write_csv(&out, &points, &peer).unwrap();
        let back = read_columns(&out, ["point", "hnswlib_qps", "allocated_bytes"]).unwrap();
        assert_eq!(back[0], ["fresh", "1000.0", "524288"].map(String::from));
        assert_eq!(back[1][1], "");
    }
}
