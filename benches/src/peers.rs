//! hnswlib, USearch and FAISS HNSW through `../shared/peers/run_peers.py`, on the same
//! texmex files and parameters as FletchDB, in the same run; and the virtualenv that
//! runs the peers' other scripts (`benches/scripts/`).

use std::ffi::OsString;
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

/// The command-line options that say where the peers are, shared by the runners
/// (`#[command(flatten)]`).
#[derive(Debug, Clone, clap::Args)]
pub struct PeerArgs {
    /// The peers' virtualenv (created by ../shared/peers/setup.sh if missing).
    #[arg(long, env = "PEERS_VENV", default_value = "/tmp/fletchdb-peers")]
    pub peers_venv: PathBuf,
    /// The shared directory holding peers/ and data/ (default: beside the workspace).
    #[arg(long)]
    pub shared: Option<PathBuf>,
}

impl PeerArgs {
    /// [`Peers::beside_workspace`] with these options applied.
    pub fn peers(&self) -> Peers {
        let mut peers = Peers::beside_workspace();
        peers.venv = self.peers_venv.clone();
        if let Some(s) = &self.shared {
            peers.shared = s.clone();
        }
        peers
    }
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
    /// The runner's `--libs`: which peers and modes run (`hnswlib,usearch,faiss`,
    /// and the compact `faiss-sq8`, `usearch-i8`, `usearch-f16`).
    pub libs: &'a str,
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
        let mut args: Vec<OsString> = vec![prefix.into()];
        for (flag, value) in [
            ("--metric", p.metric.name().to_string()),
            ("--m", p.m.to_string()),
            ("--ef-construction", p.ef_construction.to_string()),
            ("--efs", efs.join(",")),
            ("--threads", p.threads.to_string()),
            ("--build-threads", p.build_threads.to_string()),
            ("--k", p.k.to_string()),
            ("--libs", p.libs.to_string()),
        ] {
            args.extend([flag.into(), value.into()]);
        }
        args.extend(["--csv".into(), csv.into()]);
        self.run_script(&script, &args)?;
        read_csv(csv)
    }

    /// Runs the Python script `script` with `args` in the virtualenv (see
    /// [`ensure_installed`](Self::ensure_installed)), its output going to this
    /// process's stdout.
    ///
    /// # Errors
    /// When Python cannot be started or the script fails.
    pub fn run_script(&self, script: &Path, args: &[OsString]) -> io::Result<()> {
        let status = Command::new(self.python())
            .arg(script)
            .args(args)
            .status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "{} failed: {status}",
                script.display()
            )));
        }
        Ok(())
    }
}
