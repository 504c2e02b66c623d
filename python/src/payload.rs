//! Metadata, documents and `where` filters between Python and the core crate: Python
//! values to JSON and back, and the `metadatas` and `documents` arguments read into one
//! entry per id.
//!
//! The core crate decides what metadata is valid (no nested dicts, no lists of lists, no
//! `$` keys, integers within `i64`) and parses `where` with its own messages; this file
//! only translates, refusing what JSON cannot hold (a `bytes`, a `set`, a NaN, a dict
//! key that is not a `str`) with a message that names the key. Types are read exactly:
//! `True` is a bool, never the integer 1, and `1.0` stays a float. A numpy scalar is
//! read as the Python value its `item()` gives (`np.int64(3)` as `3`, `np.bool_(True)`
//! as `True`); numpy arrays are refused (pass `a.tolist()`).
//!
//! The translation is by hand rather than with `pythonize`: its newest release (0.29)
//! is built on pyo3 0.29, which cannot link beside this crate's pyo3 0.30 (both link
//! `python`), and its deserializer reads any mapping, set or bytes as JSON, which the
//! rules above refuse.

use fletchdb::{Error, Metadata, Payload, Where};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PySequence, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::{invalid, OrRaise};

/// The deepest a value may nest (dicts and lists) before it is refused: metadata is
/// valid two levels deep, `where` filters nest `$and`/`$or` a few levels; the cap stops
/// a self-containing list.
const MAX_DEPTH: usize = 64;

static NUMPY_GENERIC: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `obj`'s type, as Python names it (`bytes`, `numpy.ndarray`).
fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .fully_qualified_name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

/// `repr(obj)`, for error messages.
fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map_or_else(|_| "?".to_string(), |r| r.to_string())
}

/// The JSON value of a Python value, or what is wrong with it (the caller says where).
fn to_json(obj: &Bound<'_, PyAny>, depth: usize) -> Result<Value, String> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: bool is a subclass of int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(Value::from(i)),
            Err(_) => Err(format!(
                "the integer {} does not fit a signed 64-bit integer",
                repr(obj)
            )),
        };
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let x = f.value();
        return Number::from_f64(x).map(Value::Number).ok_or_else(|| {
            let shown = if x.is_nan() {
                "nan"
            } else if x > 0.0 {
                "inf"
            } else {
                "-inf"
            };
            format!("the number {shown} is not finite")
        });
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_cow()
            .map(|s| Value::String(s.into_owned()))
            .map_err(|_| format!("the string {} is not valid Unicode", repr(obj)));
    }
    let nested = obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.is_instance_of::<PyDict>();
    if nested && depth >= MAX_DEPTH {
        return Err(format!("the value nests more than {MAX_DEPTH} levels deep"));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj
            .try_iter()
            .map_err(|e| e.to_string())?
            .map(|item| to_json(&item.map_err(|e| e.to_string())?, depth + 1))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Array(items));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = dict_key(&k)?;
            let value = to_json(&v, depth + 1).map_err(|e| format!("key {key:?}: {e}"))?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if is_numpy_scalar(obj) {
        if let Ok(item) = obj.call_method0(pyo3::intern!(obj.py(), "item")) {
            if !is_numpy_scalar(&item) {
                return to_json(&item, depth);
            }
        }
    }
    Err(format!(
        "a value of type {} is not allowed: use str, int, float, bool, None or a list of them",
        type_name(obj)
    ))
}

/// A dict key as a `String`: only a `str` is one.
fn dict_key(k: &Bound<'_, PyAny>) -> Result<String, String> {
    match k.cast::<PyString>() {
        Ok(s) => s
            .to_cow()
            .map(|s| s.into_owned())
            .map_err(|_| format!("the key {} is not valid Unicode", repr(k))),
        Err(_) => Err(format!(
            "keys must be str, not {}: {}",
            type_name(k),
            repr(k)
        )),
    }
}

/// True for a numpy scalar (`numpy.generic`): `np.int64(3)`, `np.bool_(True)`.
fn is_numpy_scalar(obj: &Bound<'_, PyAny>) -> bool {
    NUMPY_GENERIC
        .import(obj.py(), "numpy", "generic")
        .and_then(|g| obj.is_instance(g))
        .unwrap_or(false)
}

/// One entry of `metadatas`: a dict, or `None` for no metadata.
fn metadata(obj: &Bound<'_, PyAny>, i: usize) -> Result<Option<Metadata>, Error> {
    if obj.is_none() {
        return Ok(None);
    }
    let Ok(d) = obj.cast::<PyDict>() else {
        return Err(invalid(format!(
            "metadatas[{i}] must be a dict or None, not {}",
            type_name(obj)
        )));
    };
    let mut map = Metadata::new();
    for (k, v) in d.iter() {
        let key = dict_key(&k).map_err(|e| invalid(format!("metadatas[{i}]: {e}")))?;
        let value = to_json(&v, 1).map_err(|e| invalid(format!("metadata key {key:?}: {e}")))?;
        map.insert(key, value);
    }
    Ok(Some(map))
}

/// One entry of `documents`: a `str`, or `None` for no document.
fn document(obj: &Bound<'_, PyAny>, i: usize) -> Result<Option<String>, Error> {
    if obj.is_none() {
        return Ok(None);
    }
    match obj.cast::<PyString>() {
        Ok(s) => s
            .to_cow()
            .map(|s| Some(s.into_owned()))
            .map_err(|_| invalid(format!("documents[{i}] is not valid Unicode"))),
        Err(_) => Err(invalid(format!(
            "documents[{i}] must be a str or None, not {}",
            type_name(obj)
        ))),
    }
}

/// The entries of a `metadatas` or `documents` argument, one per id. With a single id
/// (`one`) a lone entry (`lone` says which: a dict, a str) stands for a one-element list.
fn entries<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    n: usize,
    one: bool,
    lone: fn(&Bound<'py, PyAny>) -> bool,
) -> Result<Vec<Bound<'py, PyAny>>, Error> {
    if one && lone(obj) {
        return Ok(vec![obj.clone()]);
    }
    let what = if name == "metadatas" { "dicts" } else { "strs" };
    let refuse = || {
        invalid(format!(
            "{name} must be a list of {what} (or None), one per id, not {}{}",
            type_name(obj),
            if one {
                ""
            } else {
                "; a single entry goes with a single integer id"
            }
        ))
    };
    let is_text = obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>();
    if is_text || obj.is_instance_of::<PyDict>() {
        return Err(refuse());
    }
    let seq = obj.cast::<PySequence>().map_err(|_| refuse())?;
    let items: Vec<Bound<'py, PyAny>> = seq
        .try_iter()
        .and_then(|it| it.collect::<PyResult<_>>())
        .map_err(|e| invalid(format!("{name}: {e}")))?;
    if items.len() != n {
        return Err(invalid(format!(
            "{} {name} for {n} ids: give one per id (None for none)",
            items.len()
        )));
    }
    Ok(items)
}

/// The `metadatas` argument: one entry per id (see [`entries`]).
pub(crate) fn metadatas(
    obj: &Bound<'_, PyAny>,
    n: usize,
    one: bool,
) -> PyResult<Vec<Option<Metadata>>> {
    let read = || -> Result<_, Error> {
        let items = entries(obj, "metadatas", n, one, |o| o.is_instance_of::<PyDict>())?;
        items
            .iter()
            .enumerate()
            .map(|(i, m)| metadata(m, i))
            .collect()
    };
    read().or_raise(obj.py())
}

/// The `documents` argument: one entry per id (see [`entries`]).
pub(crate) fn documents(
    obj: &Bound<'_, PyAny>,
    n: usize,
    one: bool,
) -> PyResult<Vec<Option<String>>> {
    let read = || -> Result<_, Error> {
        let items = entries(obj, "documents", n, one, |o| o.is_instance_of::<PyString>())?;
        items
            .iter()
            .enumerate()
            .map(|(i, d)| document(d, i))
            .collect()
    };
    read().or_raise(obj.py())
}

/// A payload per id from the `metadatas` and `documents` arguments (either may be
/// absent); `None` when both are.
pub(crate) fn payloads(
    metadatas_arg: Option<&Bound<'_, PyAny>>,
    documents_arg: Option<&Bound<'_, PyAny>>,
    n: usize,
    one: bool,
) -> PyResult<Option<Vec<Payload>>> {
    if metadatas_arg.is_none() && documents_arg.is_none() {
        return Ok(None);
    }
    let mut metas = metadatas_arg
        .map(|m| metadatas(m, n, one))
        .transpose()?
        .map(Vec::into_iter);
    let mut docs = documents_arg
        .map(|d| documents(d, n, one))
        .transpose()?
        .map(Vec::into_iter);
    Ok(Some(
        (0..n)
            .map(|_| Payload {
                metadata: metas.as_mut().and_then(Iterator::next).flatten(),
                document: docs.as_mut().and_then(Iterator::next).flatten(),
            })
            .collect(),
    ))
}

/// A `where` filter from a Python dict, parsed by the core crate (whose messages say
/// what is wrong where).
pub(crate) fn where_filter(obj: &Bound<'_, PyAny>) -> PyResult<Where> {
    let py = obj.py();
    let json = to_json(obj, 0)
        .map_err(|e| invalid(format!("where: {e}")))
        .or_raise(py)?;
    Where::from_json(&json).or_raise(py)
}

/// A JSON value as the Python value it came from: int, float, bool, str, None, list,
/// dict.
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => metadata_to_py(py, map)?.into_any(),
    })
}

/// A record's metadata as a Python dict, in the order its keys were given.
pub(crate) fn metadata_to_py<'py>(py: Python<'py>, map: &Metadata) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in map {
        d.set_item(k, to_py(py, v)?)?;
    }
    Ok(d)
}
