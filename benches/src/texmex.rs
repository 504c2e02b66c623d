//! The texmex vector formats: `.fvecs` (f32), `.bvecs` (u8) and `.ivecs` (i32).
//!
//! Each record is a little-endian `i32` dimension `d` followed by `d` values (4 bytes
//! each, or 1 byte for `.bvecs`). Every record of a file has the same dimension.

use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Row-major vectors of one dimension, back to back.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Wraps `data`, which holds `data.len() / dim` vectors.
    ///
    /// # Panics
    /// If `dim` is zero or does not divide `data.len()`.
    pub fn new(dim: usize, data: Vec<f32>) -> Matrix {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "{} floats are not rows of {dim}",
            data.len()
        );
        Matrix { dim, data }
    }

    /// Components per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Vectors held.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// True when no vector is held.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Vector `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Every vector, in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }

    /// All components, back to back.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Scales every vector to unit length (zero vectors stay zero).
    pub fn normalize_rows(&mut self) {
        for row in self.data.chunks_exact_mut(self.dim) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
    }
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

/// Splits a texmex file into its records' payloads, each `dim * width` bytes long.
fn records<'a>(path: &Path, bytes: &'a [u8], width: usize) -> io::Result<(usize, Vec<&'a [u8]>)> {
    if bytes.is_empty() {
        return Err(invalid(path, "empty file"));
    }
    let dim_at = |at: usize| -> io::Result<usize> {
        let b = bytes
            .get(at..at + 4)
            .ok_or_else(|| invalid(path, format!("truncated header at byte {at}")))?;
        let d = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| invalid(path, format!("bad dimension {d} at byte {at}")))
    };
    let dim = dim_at(0)?;
    let record = 4 + dim * width;
    if !bytes.len().is_multiple_of(record) {
        return Err(invalid(
            path,
            format!("{} bytes are not records of {record}", bytes.len()),
        ));
    }
    let mut out = Vec::with_capacity(bytes.len() / record);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let d = dim_at(i * record)?;
        if d != dim {
            return Err(invalid(
                path,
                format!("record {i} has dimension {d}, not {dim}"),
            ));
        }
        out.push(&r[4..]);
    }
    Ok((dim, out))
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// Reads an `.fvecs` file.
///
/// # Errors
/// I/O errors, and [`io::ErrorKind::InvalidData`] for a malformed file.
pub fn read_fvecs(path: &Path) -> io::Result<Matrix> {
    let bytes = read(path)?;
    let (dim, recs) = records(path, &bytes, 4)?;
    let mut data = Vec::with_capacity(recs.len() * dim);
    for r in recs {
        data.extend(
            r.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    Ok(Matrix::new(dim, data))
}

/// Reads a `.bvecs` file, converting its bytes to `f32`.
///
/// # Errors
/// As [`read_fvecs`].
pub fn read_bvecs(path: &Path) -> io::Result<Matrix> {
    let bytes = read(path)?;
    let (dim, recs) = records(path, &bytes, 1)?;
    let mut data = Vec::with_capacity(recs.len() * dim);
    for r in recs {
        data.extend(r.iter().map(|&b| f32::from(b)));
    }
    Ok(Matrix::new(dim, data))
}

/// Reads `.fvecs` or `.bvecs`, by the file's extension.
///
/// # Errors
/// As [`read_fvecs`]; [`io::ErrorKind::InvalidInput`] for another extension.
pub fn read_vectors(path: &Path) -> io::Result<Matrix> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("fvecs") => read_fvecs(path),
        Some("bvecs") => read_bvecs(path),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: expected .fvecs or .bvecs", path.display()),
        )),
    }
}

/// Reads an `.ivecs` file (ground truth: each row the ids of a query's neighbours,
/// nearest first).
///
/// # Errors
/// As [`read_fvecs`], and for negative values.
pub fn read_ivecs(path: &Path) -> io::Result<Vec<Vec<u32>>> {
    let bytes = read(path)?;
    let (_, recs) = records(path, &bytes, 4)?;
    recs.into_iter()
        .map(|r| {
            r.chunks_exact(4)
                .map(|b| {
                    let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    u32::try_from(v).map_err(|_| invalid(path, format!("negative id {v}")))
                })
                .collect()
        })
        .collect()
}

fn write_records<T: Copy>(
    path: &Path,
    rows: impl Iterator<Item = impl AsRef<[T]>>,
    encode: impl Fn(T) -> [u8; 4],
) -> io::Result<()> {
    let file = std::fs::File::create(path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    for row in rows {
        let row = row.as_ref();
        let d = i32::try_from(row.len()).map_err(|_| invalid(path, "row too long"))?;
        w.write_all(&d.to_le_bytes())?;
        for &x in row {
            w.write_all(&encode(x))?;
        }
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}

/// Writes `m` as an `.fvecs` file.
///
/// # Errors
/// I/O errors.
pub fn write_fvecs(path: &Path, m: &Matrix) -> io::Result<()> {
    write_records(path, m.rows(), f32::to_le_bytes)
}

/// Writes `rows` as an `.ivecs` file.
///
/// # Errors
/// I/O errors; [`io::ErrorKind::InvalidData`] for an id above `i32::MAX`.
pub fn write_ivecs(path: &Path, rows: &[Vec<u32>]) -> io::Result<()> {
    if rows.iter().flatten().any(|&v| v > i32::MAX as u32) {
        return Err(invalid(path, "id above i32::MAX"));
    }
    write_records(path, rows.iter(), u32::to_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvecs_and_ivecs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Matrix::new(3, vec![1.0, 2.0, 3.0, -4.0, 5.5, 6.0]);
        let p = dir.path().join("x_base.fvecs");
        write_fvecs(&p, &m).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * (4 + 12));
        assert_eq!(read_vectors(&p).unwrap(), m);
        let truth = vec![vec![0u32, 1], vec![1, 0]];
        let p = dir.path().join("x_groundtruth.ivecs");
        write_ivecs(&p, &truth).unwrap();
        assert_eq!(read_ivecs(&p).unwrap(), truth);
    }

    #[test]
    fn bvecs_become_floats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.bvecs");
        let mut bytes = Vec::new();
        for row in [[1u8, 2], [255, 0]] {
            bytes.extend_from_slice(&2i32.to_le_bytes());
            bytes.extend_from_slice(&row);
        }
        std::fs::write(&p, bytes).unwrap();
        let m = read_vectors(&p).unwrap();
        assert_eq!(m.as_slice(), [1.0, 2.0, 255.0, 0.0]);
        assert_eq!(m.dim(), 2);
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.fvecs");
        let m = Matrix::new(2, vec![1.0, 2.0, 3.0, 4.0]);
        write_fvecs(&p, &m).unwrap();
        let good = std::fs::read(&p).unwrap();
        for cut in (0..good.len()).filter(|&c| c != 12) {
            // (12 bytes is one whole record: a valid file.)
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(read_fvecs(&p).is_err(), "cut at {cut}");
        }
        let mut mixed = good.clone();
        mixed[12] = 3; // second record claims dimension 3
        std::fs::write(&p, &mixed).unwrap();
        assert!(read_fvecs(&p).is_err());
        assert!(read_vectors(&dir.path().join("x.txt")).is_err());
    }
}
