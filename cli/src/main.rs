//! `fletchdb`: inspect, verify, import, export, search, back up, compact and benchmark
//! a FletchDB database from the shell. Every command prints one line to stderr and
//! exits non-zero when it fails; see the README's "The `fletchdb` command".

mod bench;
mod failure;
mod import;
mod info;
mod maintain;
mod matrix;
mod open;
mod records;
mod search;
mod transfer;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::failure::Result;

/// Inspect and maintain a FletchDB database.
#[derive(Debug, Parser)]
#[command(name = "fletchdb", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Collections, their configuration, counts and bytes on disk, the log and the last
    /// checkpoint.
    Info {
        /// The database directory.
        db: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read and check every file: catalog, log, graphs and every stored vector's
    /// checksum. Exits non-zero naming the file and offset of any damage.
    Verify {
        /// The database directory.
        db: PathBuf,
    },
    /// Insert the vectors of a .fvecs or .npy file (float32, 2-D) into a collection,
    /// created if missing.
    Import(import::Args),
    /// Write a collection's vectors to a .fvecs or .npy file, in id order.
    Export {
        /// The database directory.
        db: PathBuf,
        /// The collection.
        collection: String,
        /// The vector file to write (.fvecs or .npy).
        file: PathBuf,
        /// Also write ids, metadata and documents to this .jsonl, one row per vector.
        #[arg(long)]
        meta: Option<PathBuf>,
    },
    /// Search a collection with the queries of a .fvecs or .npy file.
    Search(search::Args),
    /// Copy the database, consistently, into DEST (which must not exist or be empty).
    Backup {
        /// The database directory.
        db: PathBuf,
        /// Where the copy goes.
        dest: PathBuf,
    },
    /// Compact a collection (or every one): move vectors into freed slots and give the
    /// space back.
    Compact {
        /// The database directory.
        db: PathBuf,
        /// The collection; every collection if omitted.
        collection: Option<String>,
    },
    /// Measure search speed and recall on queries sampled from a collection.
    Bench(bench::Args),
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { db, json } => info::run(&db, json),
        Command::Verify { db } => verify::run(&db),
        Command::Import(args) => import::run(&args),
        Command::Export {
            db,
            collection,
            file,
            meta,
        } => transfer::export(&db, &collection, &file, meta.as_deref()),
        Command::Search(args) => search::run(&args),
        Command::Backup { db, dest } => maintain::backup(&db, &dest),
        Command::Compact { db, collection } => maintain::compact(&db, collection.as_deref()),
        Command::Bench(args) => bench::run(&args),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fletchdb: {e}");
            ExitCode::FAILURE
        }
    }
}
