//! Vector files: `.fvecs` (texmex: per row an `i32` dimension, then that many `f32`s,
//! little-endian) and `.npy` (NumPy, a 2-D `float32` array), read whole and written
//! whole. The format follows the file's extension.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use npyz::WriterBuilder;

use crate::failure::{Failure, Result};

/// Rows of `dim` floats, back to back.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    /// Floats per row.
    pub dim: usize,
    /// The rows, concatenated.
    pub data: Vec<f32>,
}

impl Matrix {
    /// How many rows.
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
}

/// The two vector file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// texmex `.fvecs`.
    Fvecs,
    /// NumPy `.npy`.
    Npy,
}

impl Format {
    /// The format `path`'s extension names.
    pub fn of(path: &Path) -> Result<Format> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("fvecs") => Ok(Format::Fvecs),
            Some("npy") => Ok(Format::Npy),
            _ => Err(Failure(format!(
                "{}: unknown vector file format (the name must end in .fvecs or .npy)",
                path.display()
            ))),
        }
    }
}

/// Reads a whole vector file.
pub fn read(path: &Path) -> Result<Matrix> {
    let format = Format::of(path)?;
    let file = File::open(path).map_err(|e| Failure::io(path, e))?;
    let reader = BufReader::new(file);
    match format {
        Format::Fvecs => read_fvecs(path, reader),
        Format::Npy => read_npy(path, reader),
    }
}

fn read_fvecs(path: &Path, mut r: impl Read) -> Result<Matrix> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|e| Failure::io(path, e))?;
    let mut data = Vec::new();
    let mut dim = None;
    let mut at = 0usize;
    while at < bytes.len() {
        let head: [u8; 4] = bytes
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Failure::input(path, format!("byte {at}"), "truncated row header"))?;
        let d = i32::from_le_bytes(head);
        let d = usize::try_from(d)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| Failure::input(path, format!("byte {at}"), format!("dimension {d}")))?;
        if *dim.get_or_insert(d) != d {
            return Err(Failure::input(
                path,
                format!("byte {at}"),
                format!("a row of {d} floats after rows of {}", dim.unwrap_or(d)),
            ));
        }
        let body = bytes
            .get(at + 4..at + 4 + 4 * d)
            .ok_or_else(|| Failure::input(path, format!("byte {at}"), "truncated row"))?;
        data.extend(
            body.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        at += 4 + 4 * d;
    }
    Ok(Matrix {
        dim: dim.unwrap_or(0),
        data,
    })
}

fn read_npy(path: &Path, r: impl Read) -> Result<Matrix> {
    let bad = |reason: String| Failure::input(path, "header", reason);
    let npy = npyz::NpyFile::new(r).map_err(|e| bad(e.to_string()))?;
    let shape = npy.shape().to_vec();
    let [rows, dim] = shape[..] else {
        return Err(bad(format!(
            "a {}-D array; vectors need a 2-D one",
            shape.len()
        )));
    };
    let fortran = npy.order() == npyz::Order::Fortran;
    let dtype = npy.dtype().descr();
    let data: Vec<f32> = npy
        .data::<f32>()
        .map_err(|_| bad(format!("dtype {dtype}; vectors need float32 (<f4)")))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| Failure::input(path, "data", e))?;
    let (rows, dim) = (rows as usize, dim as usize);
    let data = if fortran {
        // Column-major: element (i, j) is at j * rows + i.
        (0..rows * dim)
            .map(|k| data[(k % dim) * rows + k / dim])
            .collect()
    } else {
        data
    };
    Ok(Matrix { dim, data })
}

/// Writes `m` to `path` in the format its extension names; an existing file is replaced.
pub fn write(path: &Path, m: &Matrix) -> Result<()> {
    let format = Format::of(path)?;
    let file = File::create(path).map_err(|e| Failure::io(path, e))?;
    let mut w = BufWriter::new(file);
    let io = |e| Failure::io(path, e);
    match format {
        Format::Fvecs => {
            for i in 0..m.rows() {
                w.write_all(&(m.dim as i32).to_le_bytes()).map_err(io)?;
                for x in m.row(i) {
                    w.write_all(&x.to_le_bytes()).map_err(io)?;
                }
            }
        }
        Format::Npy => {
            let mut npy = npyz::WriteOptions::new()
                .default_dtype()
                .shape(&[m.rows() as u64, m.dim as u64])
                .writer(&mut w)
                .begin_nd()
                .map_err(io)?;
            npy.extend(m.data.iter().copied()).map_err(io)?;
            npy.finish().map_err(io)?;
        }
    }
    w.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Matrix {
            dim: 3,
            data: (0..12).map(|i| i as f32 * 0.5).collect(),
        };
        for name in ["v.fvecs", "v.npy"] {
            let path = dir.path().join(name);
            write(&path, &m).unwrap();
            assert_eq!(read(&path).unwrap(), m, "{name}");
        }
        let short = dir.path().join("short.fvecs");
        std::fs::write(&short, [3, 0, 0, 0, 0, 0]).unwrap();
        assert!(read(&short).unwrap_err().0.contains("byte 0"));
    }
}
