//! Conversions between Python values and what the core crate takes: vectors and ids in,
//! search results out, metric and durability names.
//!
//! Vectors: a C-contiguous, aligned `float32` numpy array is borrowed as it is (no copy);
//! anything else that numpy can turn into floats (other dtypes, lists, non-contiguous or
//! Fortran-ordered arrays) is converted by one `numpy.ascontiguousarray(x, float32)`, a
//! single copy. Ids: a contiguous `uint64` array is borrowed; any other integer array-like
//! is converted once, refusing negative values and non-integer dtypes with a clear error.
//!
//! The borrows are numpy's readonly borrows ([`PyReadonlyArray`]), which stay valid while
//! the GIL is released (see the `numpy` crate's `borrow` module): the Python caller must
//! not modify the same array from another thread during the call, exactly as with numpy's
//! own GIL-releasing functions.

use fletchdb::{Durability, Error, Metric};
use numpy::ndarray::{Array1, Array2, Dimension};
use numpy::{
    Element, IntoPyArray, PyArray, PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArray,
    PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyInt};
use pyo3::{intern, IntoPyObjectExt};

use crate::errors::{invalid, OrRaise};

/// The id in search results where fewer than `k` vectors were found (`2**64 - 1`);
/// its distance there is `inf`. `add` and `upsert` refuse it as an id.
pub(crate) const NO_ID: u64 = u64::MAX;

static ASCONTIGUOUSARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static FLOAT32: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static UINT64: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `numpy.<name>`, imported once.
fn np<'a, 'py>(
    py: Python<'py>,
    cell: &'a PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<&'a Bound<'py, PyAny>> {
    cell.import(py, "numpy", name)
}

/// Vectors borrowed from a float32 numpy array: one vector (`one`, from a 1-D input) or
/// `rows` vectors of `dim` components, back to back.
pub(crate) struct Vectors<'py> {
    array: PyReadonlyArrayDyn<'py, f32>,
    /// How many vectors.
    pub(crate) rows: usize,
    /// Components per vector.
    pub(crate) dim: usize,
    /// The input was a single 1-D vector.
    pub(crate) one: bool,
}

impl Vectors<'_> {
    /// The components, row after row.
    pub(crate) fn flat(&self) -> Result<&[f32], Error> {
        self.array
            .as_slice()
            .map_err(|_| invalid("vectors are not contiguous"))
    }

    /// An error unless the vectors have `dim` components.
    pub(crate) fn check_dim(&self, dim: usize) -> Result<(), Error> {
        if self.dim == dim {
            Ok(())
        } else {
            Err(Error::DimensionMismatch {
                expected: dim,
                got: self.dim,
            })
        }
    }
}

/// Reads a vector or a 2-D array of vectors from any float array-like.
pub(crate) fn vectors<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vectors<'py>> {
    let py = obj.py();
    let array = match obj.cast::<PyArrayDyn<f32>>() {
        Ok(a) if a.is_c_contiguous() => a.clone(),
        _ => np(py, &ASCONTIGUOUSARRAY, "ascontiguousarray")?
            .call1((obj, np(py, &FLOAT32, "float32")?))?
            .cast_into::<PyArrayDyn<f32>>()?,
    };
    let mut ro = readonly(&array)?;
    if ro.as_slice().is_err() {
        // A contiguous but misaligned array (a view into a byte buffer): copy it.
        ro = readonly(&array.call_method0(intern!(py, "copy"))?.cast_into()?)?;
    }
    let (rows, dim, one) = match *ro.shape() {
        [dim] => (1, dim, true),
        [rows, dim] => (rows, dim, false),
        ref shape => {
            return Err(invalid(format!(
                "expected a vector or a 2-D array of vectors, got an array of shape {shape:?}"
            )))
            .or_raise(py)
        }
    };
    Ok(Vectors {
        array: ro,
        rows,
        dim,
        one,
    })
}

/// A readonly borrow of `a`, which stays valid while the GIL is released.
fn readonly<'py, T: Element, D: Dimension>(
    a: &Bound<'py, PyArray<T, D>>,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    a.try_readonly()
        .map_err(|e| invalid(format!("cannot read the array: {e}")))
        .or_raise(a.py())
}

/// Ids read from an integer or an integer array-like.
pub(crate) enum Ids<'py> {
    /// A single id, from a Python or numpy integer.
    One(u64),
    /// A contiguous uint64 array, borrowed.
    Array(PyReadonlyArray1<'py, u64>),
    /// Ids converted one by one (from big Python integers).
    Owned(Vec<u64>),
}

impl Ids<'_> {
    /// The ids.
    pub(crate) fn as_slice(&self) -> Result<&[u64], Error> {
        match self {
            Ids::One(id) => Ok(std::slice::from_ref(id)),
            Ids::Array(a) => a.as_slice().map_err(|_| invalid("ids are not contiguous")),
            Ids::Owned(v) => Ok(v),
        }
    }

    /// The input was a single id rather than a sequence.
    pub(crate) fn is_one(&self) -> bool {
        matches!(self, Ids::One(_))
    }
}

/// Reads ids: a non-negative integer, or a 1-D array-like of them.
pub(crate) fn ids<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Ids<'py>> {
    let py = obj.py();
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("ids must be integers, not bool"));
    }
    if obj.is_instance_of::<PyInt>() {
        return Ok(Ids::One(id_from_int(obj)?));
    }
    if let Ok(a) = obj.cast::<PyArray1<u64>>() {
        if let Ok(ro) = a.try_readonly() {
            if ro.as_slice().is_ok() {
                return Ok(Ids::Array(ro));
            }
        }
    }
    let arr = np(py, &ASARRAY, "asarray")?.call1((obj,))?;
    let ndim: usize = arr.getattr(intern!(py, "ndim"))?.extract()?;
    if ndim > 1 {
        return Err(invalid(format!(
            "ids must be an integer or a 1-D sequence of integers, got a {ndim}-D array"
        )))
        .or_raise(py);
    }
    let size: usize = arr.getattr(intern!(py, "size"))?.extract()?;
    let dtype = arr.getattr(intern!(py, "dtype"))?;
    let kind: String = dtype.getattr(intern!(py, "kind"))?.extract()?;
    let flat = arr.call_method0(intern!(py, "ravel"))?;
    let uint64 = np(py, &UINT64, "uint64")?;
    let converted = match kind.as_str() {
        "u" => flat.call_method1(intern!(py, "astype"), (uint64,))?,
        "i" => {
            if size > 0 {
                let min: i64 = flat.call_method0(intern!(py, "min"))?.extract()?;
                if min < 0 {
                    return Err(negative(min)).or_raise(py);
                }
            }
            flat.call_method1(intern!(py, "astype"), (uint64,))?
        }
        // `[]` becomes an empty float64 array.
        _ if size == 0 => return Ok(Ids::Owned(Vec::new())),
        // Python integers too big for int64 (object arrays), or a list that numpy made
        // float (it does so for `[2**64 - 2, -1]`): convert each item, so that the
        // error names the culprit.
        k if k == "O" || !obj.is_instance_of::<PyUntypedArray>() => {
            let items = np(py, &ASARRAY, "asarray")?
                .call1((obj, intern!(py, "object")))?
                .call_method0(intern!(py, "ravel"))?
                .call_method0(intern!(py, "tolist"))?;
            let items: Vec<Bound<'py, PyAny>> = items.extract()?;
            let v = items
                .iter()
                .map(id_from_int)
                .collect::<PyResult<Vec<u64>>>()?;
            return Ok(match (ndim, v.as_slice()) {
                (0, &[id]) => Ids::One(id),
                _ => Ids::Owned(v),
            });
        }
        _ => {
            return Err(PyTypeError::new_err(format!(
                "ids must be integers, got an array of dtype {dtype}"
            )))
        }
    };
    let ro = readonly(&converted.cast_into::<PyArray1<u64>>()?)?;
    if ndim == 0 {
        let id = ro.as_slice().ok().and_then(|s| s.first().copied());
        return Ok(Ids::One(id.unwrap_or_default()));
    }
    Ok(Ids::Array(ro))
}

/// One id from a Python integer.
fn id_from_int(obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    let py = obj.py();
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err("ids must be integers, not bool"));
    }
    if let Ok(id) = obj.extract::<u64>() {
        return Ok(id);
    }
    if !obj.is_instance_of::<PyInt>() {
        let t = obj.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "ids must be integers, got {t}"
        )));
    }
    if obj.lt(0)? {
        let shown = obj.str()?.to_string();
        return Err(invalid(format!(
            "ids must be non-negative integers, got {shown}"
        )))
        .or_raise(py);
    }
    Err(invalid("ids must be below 2**64")).or_raise(py)
}

fn negative(id: i64) -> Error {
    invalid(format!("ids must be non-negative integers, got {id}"))
}

/// An error if `ids` holds [`NO_ID`], which marks padding in search results.
pub(crate) fn check_not_sentinel(ids: &[u64]) -> Result<(), Error> {
    if ids.contains(&NO_ID) {
        Err(invalid(
            "id 2**64-1 is reserved: search results use it to mark missing neighbours",
        ))
    } else {
        Ok(())
    }
}

/// A count argument (`k`, `ef`, `dim`, ...): an error unless at least `min`.
pub(crate) fn count(name: &str, value: i64, min: i64) -> Result<usize, Error> {
    if value < min {
        return Err(invalid(format!(
            "{name} must be at least {min}, not {value}"
        )));
    }
    usize::try_from(value).map_err(|_| invalid(format!("{name} is too large: {value}")))
}

/// `(ids, distances)` numpy arrays of shape `(k,)` if `one`, else `(rows, k)`; the vectors
/// are moved into numpy without a copy.
pub(crate) fn results(
    py: Python<'_>,
    ids: Vec<u64>,
    dists: Vec<f32>,
    rows: usize,
    k: usize,
    one: bool,
) -> PyResult<Py<PyAny>> {
    if one {
        let ids = Array1::from_vec(ids).into_pyarray(py);
        let dists = Array1::from_vec(dists).into_pyarray(py);
        return (ids, dists).into_py_any(py);
    }
    let shape_err = |e: numpy::ndarray::ShapeError| invalid(e.to_string());
    let ids = Array2::from_shape_vec((rows, k), ids)
        .map_err(shape_err)
        .or_raise(py)?
        .into_pyarray(py);
    let dists = Array2::from_shape_vec((rows, k), dists)
        .map_err(shape_err)
        .or_raise(py)?
        .into_pyarray(py);
    (ids, dists).into_py_any(py)
}

/// `rows` vectors of `dim` float32 components as a numpy array: `(dim,)` if `one`, else
/// `(rows, dim)`.
pub(crate) fn matrix(
    py: Python<'_>,
    flat: Vec<f32>,
    rows: usize,
    dim: usize,
    one: bool,
) -> PyResult<Py<PyAny>> {
    if one {
        return Array1::from_vec(flat).into_pyarray(py).into_py_any(py);
    }
    Array2::from_shape_vec((rows, dim), flat)
        .map_err(|e| invalid(e.to_string()))
        .or_raise(py)?
        .into_pyarray(py)
        .into_py_any(py)
}

/// A metric from its name, as [`Metric::parse`] reads it: `"l2"` (squared Euclidean), `"ip"`
/// (`1 - dot`), `"cosine"` (`1 - cos`), or an alias, in any case.
pub(crate) fn metric(name: &str) -> Result<Metric, Error> {
    Metric::parse(name).ok_or_else(|| {
        invalid(format!(
            "unknown metric {name:?}: use \"l2\", \"ip\" or \"cosine\""
        ))
    })
}

/// A durability mode from its name: `"sync"`, `"buffered"` (syncing every `interval`),
/// `"none"`.
pub(crate) fn durability(name: &str, interval: std::time::Duration) -> Result<Durability, Error> {
    match name.to_ascii_lowercase().as_str() {
        "sync" => Ok(Durability::Sync),
        "buffered" => Ok(Durability::Buffered { interval }),
        "none" => Ok(Durability::None),
        _ => Err(invalid(format!(
            "unknown durability {name:?}: use \"sync\", \"buffered\" or \"none\""
        ))),
    }
}

/// A duration from `value` in units of `unit` seconds: an error unless `value` is finite
/// and at least `min` (in the same units).
pub(crate) fn duration(
    name: &str,
    value: f64,
    unit: f64,
    min: f64,
) -> Result<std::time::Duration, Error> {
    if !value.is_finite() || value < min {
        return Err(invalid(format!(
            "{name} must be a finite number of at least {min}, not {value}"
        )));
    }
    std::time::Duration::try_from_secs_f64(value * unit)
        .map_err(|e| invalid(format!("{name}: {e}")))
}

/// Adds `NO_ID` to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NO_ID", NO_ID)
}
