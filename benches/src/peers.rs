//! hnswlib, USearch and FAISS HNSW through `../shared/peers/run_peers.py`, on the same
//! texmex files and parameters as FletchDB, in the same run.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use fletchdb::Metric;

use crate::report::{read_csv, Row};

/// Where the peers' runner lives and which virtualenv runs it.
#[derive(Debug, Clone)]
pub struct Peers {
    /// The `shared/` directory beside the project (holds `peers/` and `data/`).
    pub shared: PathBuf,
    /// The virtualenv `peers/setup.sh` installs the libraries into.
    pub venv: PathBuf,
}

/// The parameters of one peers run.
#[derive(Debug, Clone)]
pub struct PeerRun<'a> {
    /// The distance.
    pub metric: Metric,
    /// HNSW links per node.
    pub m: usize,
    /// Candidates considered while inserting.
    pub ef_construction: usize,
    /// The `ef` values to search with.
    pub efs: &'a [usize],
    /// Search threads.
    pub threads: usize,
    /// Build threads.
    pub build_threads: usize,
    /// Neighbours per query.
    pub k: usize,
}

impl Peers {
    /// `shared/` found beside the workspace this crate was built from
    /// (`benches/../../shared`), and the virtualenv the project's scripts use.
    pub fn beside_workspace() -> Peers {
        Peers {
            shared: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("..")
                .join("shared"),
            venv: PathBuf::from("/tmp/fletchdb-peers"),
        }
    }

    fn python(&self) -> PathBuf {
        self.venv.join("bin").join("python")
    }

    /// Creates the virtualenv with `peers/setup.sh` unless it already has a Python.
    ///
    /// # Errors
    /// When `setup.sh` is missing or fails (it needs `python3 -m venv` and PyPI).
    pub fn ensure_installed(&self) -> io::Result<()> {
        if self.python().exists() {
            return Ok(());
        }
        let setup = self.shared.join("peers").join("setup.sh");
        eprintln!(
            "installing the peers: bash {} {}",
            setup.display(),
            self.venv.display()
        );
        let status = Command::new("bash").arg(&setup).arg(&self.venv).status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "{} failed: {status}",
                setup.display()
            )));
        }
        Ok(())
    }

    /// Runs the peers on `PREFIX_{base,query}.fvecs` and `PREFIX_groundtruth.ivecs`,
    /// their output going to this process's stdout, their rows to `csv`; returns the
    /// rows.
    ///
    /// # Errors
    /// When the runner fails or its CSV cannot be read.
    pub fn run(&self, prefix: &Path, p: &PeerRun<'_>, csv: &Path) -> io::Result<Vec<Row>> {
        let script = self.shared.join("peers").join("run_peers.py");
        let efs: Vec<String> = p.efs.iter().map(usize::to_string).collect();
        let status = Command::new(self.python())
            .arg(&script)
            .arg(prefix)
            .args(["--metric", p.metric.name()])
            .args(["--m", &p.m.to_string()])
            .args(["--ef-construction", &p.ef_construction.to_string()])
            .args(["--efs", &efs.join(",")])
            .args(["--threads", &p.threads.to_string()])
            .args(["--build-threads", &p.build_threads.to_string()])
            .args(["--k", &p.k.to_string()])
            .arg("--csv")
            .arg(csv)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "{} failed: {status}",
                script.display()
            )));
        }
        read_csv(csv)
    }
}
