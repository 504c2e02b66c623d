//! The `fletchdb.Error` exception tree, mirroring the core crate's [`fletchdb::Error`].
//!
//! Every core variant has a subclass of `fletchdb.Error` carrying the Rust message and the
//! variant's fields as attributes. Where a builtin exception says the same thing, the class
//! also derives from it, so that `except ValueError` and `except KeyError` work as Python
//! users expect: bad input is a `ValueError`, a missing collection or id a `KeyError`, an
//! operating system failure an `OSError`.
//!
//! pyo3's `create_exception!` takes a single base class, so the classes are made at
//! import time by calling `type(name, bases, namespace)`, with `__module__ = "fletchdb"`
//! so that they print and pickle as `fletchdb.DimensionMismatchError`.

use std::convert::Infallible;

use fletchdb::Error;
use pyo3::exceptions::{PyBaseException, PyException, PyKeyError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::BoundObject;

/// One exception class of the tree; the discriminant indexes [`CLASSES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `fletchdb.Error`, the root.
    Base,
    /// [`Error::DimensionMismatch`].
    DimensionMismatch,
    /// [`Error::InvalidVector`].
    InvalidVector,
    /// [`Error::DuplicateId`].
    DuplicateId,
    /// [`Error::IdNotFound`], and an id that `get` or `get_metadata` was asked for and
    /// the collection does not hold.
    IdNotFound,
    /// [`Error::CollectionNotFound`].
    CollectionNotFound,
    /// [`Error::CollectionExists`].
    CollectionExists,
    /// [`Error::InvalidArgument`].
    InvalidArgument,
    /// [`Error::Locked`].
    Locked,
    /// [`Error::Corruption`].
    Corruption,
    /// [`Error::Io`].
    Io,
    /// [`Error::WalPoisoned`].
    WalPoisoned,
    /// [`Error::UnsupportedVersion`].
    UnsupportedVersion,
    /// [`Error::Closed`].
    Closed,
    /// [`Error::Storage`].
    Storage,
    /// [`Error::Index`].
    Graph,
}

/// A builtin exception class a `fletchdb` class derives from besides `fletchdb.Error`.
#[derive(Debug, Clone, Copy)]
enum Builtin {
    Value,
    Key,
    Os,
}

/// How each class is made: kind, name, extra builtin base, docstring.
const SPECS: &[(Kind, &str, Option<Builtin>, &str)] = &[
    (
        Kind::Base,
        "Error",
        None,
        "Base class of every FletchDB error. `str(e)` is the Rust error's message.",
    ),
    (
        Kind::DimensionMismatch,
        "DimensionMismatchError",
        Some(Builtin::Value),
        "A vector's length differs from the collection's dimension. \
         Attributes: `expected`, `got`.",
    ),
    (
        Kind::InvalidVector,
        "InvalidVectorError",
        Some(Builtin::Value),
        "A vector holds NaN or infinite values, or is zero under cosine. Attribute: `reason`.",
    ),
    (
        Kind::DuplicateId,
        "DuplicateIdError",
        Some(Builtin::Value),
        "`add` of an id the collection holds already (use `upsert`), or an id given twice \
         in one call. Attribute: `id`.",
    ),
    (
        Kind::IdNotFound,
        "IdNotFoundError",
        Some(Builtin::Key),
        "`get`, `get_metadata`, `get_documents` or `update` of an id the collection does \
         not hold. Attribute: `id`.",
    ),
    (
        Kind::CollectionNotFound,
        "CollectionNotFoundError",
        Some(Builtin::Key),
        "No collection has this name (or it was dropped). Attribute: `name`.",
    ),
    (
        Kind::CollectionExists,
        "CollectionExistsError",
        Some(Builtin::Value),
        "A collection of this name exists already. Attribute: `name`.",
    ),
    (
        Kind::InvalidArgument,
        "InvalidArgumentError",
        Some(Builtin::Value),
        "An argument is out of range or of the wrong shape.",
    ),
    (
        Kind::Locked,
        "LockedError",
        None,
        "The database is open elsewhere, in this process or another. Attribute: `path`.",
    ),
    (
        Kind::Corruption,
        "CorruptionError",
        None,
        "A file holds bytes FletchDB cannot have written; the database refuses to open \
         rather than return wrong data. Attributes: `file`, `offset`, `detail`.",
    ),
    (
        Kind::Io,
        "IoError",
        Some(Builtin::Os),
        "The operating system refused an operation. Attributes: `filename`, `errno`.",
    ),
    (
        Kind::WalPoisoned,
        "WalPoisonedError",
        None,
        "An earlier write or sync of the log failed, so nothing more can be acknowledged; \
         reopen the database. Attribute: `cause`.",
    ),
    (
        Kind::UnsupportedVersion,
        "UnsupportedVersionError",
        None,
        "A file was written by a newer FletchDB. Attributes: `file`, `found`, `supported`.",
    ),
    (
        Kind::Closed,
        "ClosedError",
        None,
        "The database (or the database of this collection) has been closed.",
    ),
    (
        Kind::Storage,
        "StorageError",
        None,
        "Another failure of the storage engine.",
    ),
    (
        Kind::Graph,
        "GraphError",
        None,
        "Another failure of the HNSW index.",
    ),
];

/// The classes, in the order of [`SPECS`].
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    CLASSES.get_or_try_init(py, || {
        let make_type = py.get_type::<PyType>();
        let mut out: Vec<Py<PyType>> = Vec::with_capacity(SPECS.len());
        for (i, &(kind, name, builtin, doc)) in SPECS.iter().enumerate() {
            debug_assert_eq!(kind as usize, i);
            let mut bases = vec![match out.first() {
                Some(root) => root.bind(py).clone(),
                None => py.get_type::<PyException>(),
            }];
            if let Some(b) = builtin {
                bases.push(match b {
                    Builtin::Value => py.get_type::<PyValueError>(),
                    Builtin::Key => py.get_type::<PyKeyError>(),
                    Builtin::Os => py.get_type::<PyOSError>(),
                });
            }
            let ns = PyDict::new(py);
            ns.set_item("__module__", "fletchdb")?;
            ns.set_item("__doc__", doc)?;
            if builtin.is_some_and(|b| matches!(b, Builtin::Key | Builtin::Os)) {
                // KeyError prints repr(message) and OSError "[Errno n] ...": show the
                // Rust message as it is instead.
                let plain = py.get_type::<PyBaseException>().getattr("__str__")?;
                ns.set_item("__str__", plain)?;
            }
            let class = make_type
                .call1((name, PyTuple::new(py, bases)?, ns))?
                .cast_into::<PyType>()?;
            out.push(class.unbind());
        }
        Ok(out)
    })
}

/// The class of `kind`.
pub(crate) fn class(py: Python<'_>, kind: Kind) -> PyResult<Bound<'_, PyType>> {
    Ok(classes(py)?[kind as usize].bind(py).clone())
}

/// An exception of class `kind` with message `msg` and the attributes `attrs`.
pub(crate) fn new_err<'py>(
    py: Python<'py>,
    kind: Kind,
    msg: String,
    attrs: &[(&str, Bound<'py, PyAny>)],
) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let value = class(py, kind)?.call1((msg,))?;
        for (name, v) in attrs {
            value.setattr(*name, v)?;
        }
        Ok(PyErr::from_value(value))
    };
    build().unwrap_or_else(|e| e)
}

/// The Python exception for a core error.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    let (kind, attrs) = match e {
        Error::DimensionMismatch { expected, got } => (
            Kind::DimensionMismatch,
            vec![("expected", any(py, expected)), ("got", any(py, got))],
        ),
        Error::InvalidVector { reason } => (Kind::InvalidVector, vec![("reason", any(py, reason))]),
        Error::DuplicateId { id } => (Kind::DuplicateId, vec![("id", any(py, id))]),
        Error::IdNotFound { id } => (Kind::IdNotFound, vec![("id", any(py, id))]),
        Error::CollectionNotFound { name } => {
            (Kind::CollectionNotFound, vec![("name", any(py, name))])
        }
        Error::CollectionExists { name } => (Kind::CollectionExists, vec![("name", any(py, name))]),
        Error::InvalidArgument(_) => (Kind::InvalidArgument, vec![]),
        Error::Locked { path } => (Kind::Locked, vec![("path", path_str(py, &path))]),
        Error::Corruption {
            file,
            offset,
            detail,
        } => (
            Kind::Corruption,
            vec![
                ("file", path_str(py, &file)),
                ("offset", any(py, offset)),
                ("detail", any(py, detail)),
            ],
        ),
        Error::Io { path, source } => {
            let mut attrs = vec![
                ("filename", path_str(py, &path)),
                ("strerror", any(py, source.to_string())),
            ];
            if let Some(code) = source.raw_os_error() {
                attrs.push(("errno", any(py, code)));
            }
            (Kind::Io, attrs)
        }
        Error::WalPoisoned { cause } => (Kind::WalPoisoned, vec![("cause", any(py, cause))]),
        Error::UnsupportedVersion {
            file,
            found,
            supported,
        } => (
            Kind::UnsupportedVersion,
            vec![
                ("file", path_str(py, &file)),
                ("found", any(py, found)),
                ("supported", any(py, supported)),
            ],
        ),
        Error::DestinationNotEmpty { path } => {
            (Kind::InvalidArgument, vec![("path", path_str(py, &path))])
        }
        Error::Closed => (Kind::Closed, vec![]),
        Error::Storage(_) => (Kind::Storage, vec![]),
        Error::Index(_) => (Kind::Graph, vec![]),
        // A variant added to the core crate after this binding: the root class.
        _ => (Kind::Base, vec![]),
    };
    new_err(py, kind, msg, &attrs)
}

/// A Python object for a value whose conversion cannot fail.
fn any<'py, T>(py: Python<'py>, value: T) -> Bound<'py, PyAny>
where
    T: IntoPyObject<'py, Error = Infallible>,
{
    let Ok(v) = value.into_pyobject(py);
    v.into_bound().into_any()
}

/// A path as a Python `str` (lossy for paths that are not UTF-8).
fn path_str<'py>(py: Python<'py>, p: &std::path::Path) -> Bound<'py, PyAny> {
    any(py, p.to_string_lossy().into_owned())
}

/// `?`-friendly conversion of core results into Python exceptions.
pub(crate) trait OrRaise<T> {
    /// The value, or the Python exception for the core error.
    fn or_raise(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> OrRaise<T> for Result<T, Error> {
    fn or_raise(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| to_py(py, e))
    }
}

/// Shorthand: an `InvalidArgumentError` (a `ValueError`) with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidArgument(msg.into())
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (i, &(_, name, _, _)) in SPECS.iter().enumerate() {
        m.add(name, classes(py)?[i].bind(py))?;
    }
    Ok(())
}
