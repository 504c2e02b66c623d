//! Results of a recall/QPS sweep: rows, their CSV form (the peers' runner writes the
//! same columns) and markdown tables; reading any CSV's columns by name.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

/// One library at one `ef` and thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `fletchdb`, `hnswlib`, `usearch` or `faiss`.
    pub lib: String,
    /// Search threads.
    pub threads: usize,
    /// Candidates explored per query.
    pub ef: usize,
    /// Mean recall@k.
    pub recall: f64,
    /// Queries per second.
    pub qps: f64,
    /// Seconds the library took to build its index.
    pub build_s: f64,
}

const HEADER: [&str; 6] = ["lib", "ef", "recall", "qps", "threads", "build_s"];

/// Writes `rows` as CSV with the peers' columns: `lib,ef,recall,qps,threads,build_s`.
///
/// # Errors
/// I/O errors.
pub fn write_csv(path: &Path, rows: &[Row]) -> io::Result<()> {
    let mut s = HEADER.join(",");
    s.push('\n');
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{:.4},{:.1},{},{:.2}",
            r.lib, r.ef, r.recall, r.qps, r.threads, r.build_s
        );
    }
    std::fs::write(path, s)
}

/// Reads what [`write_csv`] or `run_peers.py --csv` wrote (columns in any order).
///
/// # Errors
/// I/O errors; [`io::ErrorKind::InvalidData`] for a missing column or a bad number.
pub fn read_csv(path: &Path) -> io::Result<Vec<Row>> {
    read_columns(path, ["lib", "ef", "recall", "qps", "threads", "build_s"])?
        .into_iter()
        .map(|[lib, ef, recall, qps, threads, build_s]| {
            Ok(Row {
                lib,
                ef: number(path, &ef)? as usize,
                recall: number(path, &recall)?,
                qps: number(path, &qps)?,
                threads: number(path, &threads)? as usize,
                build_s: number(path, &build_s)?,
            })
        })
        .collect()
}

/// The fields of `columns`, in that order wherever the header puts them, on each
/// non-blank line of the CSV file at `path` (plain CSV: no quoted commas).
///
/// # Errors
/// I/O errors; [`io::ErrorKind::InvalidData`] for a missing column or a short line.
pub fn read_columns<const N: usize>(
    path: &Path,
    columns: [&str; N],
) -> io::Result<Vec<[String; N]>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let Some(header) = lines.next() else {
        return Ok(Vec::new());
    };
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let mut at = [0; N];
    for (i, name) in columns.iter().enumerate() {
        at[i] = cols
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| invalid(path, format!("no column {name}")))?;
    }
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if at.iter().any(|&i| i >= f.len()) {
                return Err(invalid(path, format!("short line {line:?}")));
            }
            Ok(at.map(|i| f[i].to_string()))
        })
        .collect()
}

/// `field` of the CSV file at `path` as a number.
///
/// # Errors
/// [`io::ErrorKind::InvalidData`] naming the file when it is not one.
pub fn number(path: &Path, field: &str) -> io::Result<f64> {
    field
        .parse()
        .map_err(|_| invalid(path, format!("bad number {field:?}")))
}

fn invalid(path: &Path, what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// How a library is named in tables and plots.
pub fn display_name(lib: &str) -> &str {
    match lib {
        "fletchdb" => "FletchDB",
        "fletchdb-i8" => "FletchDB i8",
        "fletchdb-f16" => "FletchDB f16",
        "hnswlib" => "hnswlib",
        "usearch" => "USearch",
        "faiss" => "FAISS HNSW",
        other => other,
    }
}

/// `x` rounded, with thousands separated by commas: `30,001`.
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.abs().round()); // half away from zero
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if x < 0.0 && digits != "0" {
        out.insert(0, '-');
    }
    out
}

/// The libraries of `rows`, FletchDB first, the rest in order of appearance.
pub fn libraries(rows: &[Row]) -> Vec<String> {
    let mut libs: Vec<String> = Vec::new();
    for r in rows {
        if !libs.contains(&r.lib) {
            libs.push(r.lib.clone());
        }
    }
    libs.sort_by_key(|l| l != "fletchdb");
    libs
}

/// The highest QPS among `rows` reaching `recall` (none if no row does).
pub fn qps_at(rows: &[&Row], recall: f64) -> Option<f64> {
    rows.iter()
        .filter(|r| r.recall >= recall)
        .map(|r| r.qps)
        .max_by(f64::total_cmp)
}

/// A markdown table of the rows with `threads` search threads: one line per library,
/// a `recall / QPS` cell per ef, and the best QPS at recall 0.95 and 0.99 (in bold for
/// the fastest library).
pub fn markdown_table(rows: &[Row], threads: usize) -> String {
    let rows: Vec<&Row> = rows.iter().filter(|r| r.threads == threads).collect();
    let mut efs: Vec<usize> = rows.iter().map(|r| r.ef).collect();
    efs.sort_unstable();
    efs.dedup();
    let libs = libraries(&rows.iter().map(|r| (*r).clone()).collect::<Vec<_>>());
    const TARGETS: [f64; 2] = [0.95, 0.99];
    let best: Vec<Option<f64>> = TARGETS
        .iter()
        .map(|&t| {
            libs.iter()
                .filter_map(|l| {
                    let mine: Vec<&Row> = rows.iter().copied().filter(|r| &r.lib == l).collect();
                    qps_at(&mine, t)
                })
                .max_by(f64::total_cmp)
        })
        .collect();
    let mut s = String::from("| library | build s |");
    for ef in &efs {
        let _ = write!(s, " ef {ef} |");
    }
    s.push_str(" QPS at 0.95 | QPS at 0.99 |\n| --- | ---: |");
    s.push_str(&" --- |".repeat(efs.len()));
    s.push_str(" ---: | ---: |\n");
    for lib in &libs {
        let mine: Vec<&Row> = rows.iter().copied().filter(|r| &r.lib == lib).collect();
        let name = display_name(lib);
        let name = if lib == "fletchdb" {
            format!("**{name}**")
        } else {
            name.to_string()
        };
        let _ = write!(s, "| {name} | {:.1} |", mine[0].build_s);
        for ef in &efs {
            match mine.iter().find(|r| r.ef == *ef) {
                Some(r) => {
                    let _ = write!(s, " {:.3} / {} |", r.recall, thousands(r.qps));
                }
                None => s.push_str(" - |"),
            }
        }
        for (t, b) in TARGETS.iter().zip(&best) {
            match qps_at(&mine, *t) {
                Some(q) if Some(q) == *b => {
                    let _ = write!(s, " **{}** |", thousands(q));
                }
                Some(q) => {
                    let _ = write!(s, " {} |", thousands(q));
                }
                None => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lib: &str, threads: usize, ef: usize, recall: f64, qps: f64) -> Row {
        Row {
            lib: lib.into(),
            threads,
            ef,
            recall,
            qps,
            build_s: 1.5,
        }
    }

    #[test]
    fn csv_round_trips_and_reads_the_peers_column_order() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        let rows = vec![
            row("fletchdb", 1, 16, 0.9289, 30000.5),
            row("faiss", 2, 32, 0.97, 100.0),
        ];
        write_csv(&p, &rows).unwrap();
        assert_eq!(read_csv(&p).unwrap(), rows);
        std::fs::write(
            &p,
            "lib,ef,recall,qps,threads,build_s\nhnswlib,16,0.9231,26597.1,1,2.1\n",
        )
        .unwrap();
        assert_eq!(read_csv(&p).unwrap()[0].qps, 26597.1);
        std::fs::write(&p, "lib,ef\nx,1\n").unwrap();
        assert!(read_csv(&p).is_err());
        std::fs::write(&p, "b,a\n1,2\n\n3,4\n").unwrap();
        let got = read_columns(&p, ["a", "b"]).unwrap();
        assert_eq!(got, [["2", "1"], ["4", "3"]].map(|r| r.map(String::from)));
        std::fs::write(&p, "a,b\n1\n").unwrap();
        assert!(read_columns(&p, ["b"]).is_err());
        assert!(number(&p, "x").is_err());
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(thousands(30000.5), "30,001");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(-1000.0), "-1,000");
    }

    #[test]
    fn table_puts_fletchdb_first_and_bolds_the_best() {
        let rows = vec![
            row("hnswlib", 1, 16, 0.93, 900.0),
            row("hnswlib", 1, 32, 0.96, 500.0),
            row("fletchdb", 1, 16, 0.951, 1000.0),
            row("fletchdb", 1, 32, 0.991, 600.0),
            row("fletchdb", 2, 16, 0.951, 2000.0),
        ];
        let t = markdown_table(&rows, 1);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("ef 16") && lines[0].contains("ef 32"));
        assert!(lines[2].starts_with("| **FletchDB** | 1.5 | 0.951 / 1,000 | 0.991 / 600 |"));
        assert!(
            lines[2].ends_with("| **1,000** | **600** |"),
            "{}",
            lines[2]
        );
        assert!(lines[3].ends_with("| 500 | - |"), "{}", lines[3]);
    }
}
