//! hnswlib, USearch and FAISS HNSW through `../shared/peers/run_peers.py`, on the same
//! texmex files and parameters as FletchDB, in the same run; and the virtualenv that
//! runs the peers' other scripts (`benches/scripts/`).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use fletchdb::Metric;

use crate::report::{read_csv, write_csv, Row};

/// Runs the script `argv[2]` with the arguments after it as `__main__`, then writes
/// the process's peak resident memory in KiB (Linux's `ru_maxrss`) to `argv[1]`.
const PEAK_RSS: &str = "import resource, runpy, sys\n\
out, script = sys.argv[1], sys.argv[2]\n\
sys.argv = sys.argv[2:]\n\
try:\n    runpy.run_path(script, run_name='__main__')\n\
finally:\n    open(out, 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n";

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

/// One peer library's peak resident memory in its run.
#[derive(Debug, Clone)]
pub struct PeakRss {
    /// The library (and compact mode), as `--libs` names it.
    pub lib: String,
    /// Peak resident bytes of its process.
    pub bytes: u64,
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
    /// each library (and compact mode) in a process of its own so that its peak
    /// resident memory is its own, their output going to this process's stdout, their
    /// rows to `csv`; returns the rows and each library's peak RSS in bytes (the data
    /// set it loaded included).
    ///
    /// # Errors
    /// When the runner fails or its CSV cannot be read.
    pub fn run(
        &self,
        prefix: &Path,
        p: &PeerRun<'_>,
        csv: &Path,
    ) -> io::Result<(Vec<Row>, Vec<PeakRss>)> {
        let script = self.shared.join("peers").join("run_peers.py");
        let efs: Vec<String> = p.efs.iter().map(usize::to_string).collect();
        let (mut rows, mut memory) = (Vec::new(), Vec::new());
        for lib in p.libs.split(',').filter(|l| !l.is_empty()) {
            let lib_csv = csv.with_extension(format!("{lib}.csv"));
            let rss_file = csv.with_extension(format!("{lib}.rss"));
            let mut args: Vec<OsString> = vec!["-c".into(), PEAK_RSS.into()];
            args.extend([rss_file.clone().into_os_string(), script.clone().into()]);
            args.push(prefix.into());
            for (flag, value) in [
                ("--metric", p.metric.name().to_string()),
                ("--m", p.m.to_string()),
                ("--ef-construction", p.ef_construction.to_string()),
                ("--efs", efs.join(",")),
                ("--threads", p.threads.to_string()),
                ("--build-threads", p.build_threads.to_string()),
                ("--k", p.k.to_string()),
                ("--libs", lib.to_string()),
            ] {
                args.extend([flag.into(), value.into()]);
            }
            args.extend(["--csv".into(), lib_csv.clone().into()]);
            self.python_with(&args)?;
            // A library that is not installed is skipped by the runner, which then
            // writes no rows.
            if let Ok(found) = read_csv(&lib_csv) {
                rows.extend(found);
            }
            let kib: u64 = std::fs::read_to_string(&rss_file)?
                .trim()
                .parse()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{e}")))?;
            memory.push(PeakRss {
                lib: lib.to_string(),
                bytes: kib * 1024,
            });
        }
        write_csv(csv, &rows)?;
        Ok((rows, memory))
    }

    /// Runs the Python script `script` with `args` in the virtualenv (see
    /// [`ensure_installed`](Self::ensure_installed)), its output going to this
    /// process's stdout.
    ///
    /// # Errors
    /// When Python cannot be started or the script fails.
    pub fn run_script(&self, script: &Path, args: &[OsString]) -> io::Result<()> {
        let mut all: Vec<OsString> = vec![script.into()];
        all.extend(args.iter().cloned());
        self.python_with(&all)
    }

    /// Runs the virtualenv's Python with `args`.
    fn python_with(&self, args: &[OsString]) -> io::Result<()> {
        let status = Command::new(self.python()).args(args).status()?;
        if !status.success() {
            return Err(io::Error::other(format!(
                "python {} failed: {status}",
                args.iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            )));
        }
        Ok(())
    }
}
