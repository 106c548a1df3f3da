//! `aitext._native.chunk_text`: the PyO3 layer over `chunking`, checking its arguments in
//! the order and with the messages of the reference (`aitext.chunking.chunk_text`).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyInt, PyList, PyString, PyTuple};

use crate::chunking::{self, Sizes};

/// Chunk with the GIL released from this many UTF-8 bytes on: chunking 8 KiB takes a few
/// microseconds, releasing and retaking the GIL about 0.1 µs (the key path's measure).
pub const CHUNK_DETACH_MIN_BYTES: usize = 8 * 1024;

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// The str's own UTF-8 buffer, borrowed (CPython caches it on the str; ASCII strs are it).
fn text_utf8<'a>(text: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    let string = text
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("text must be str, not {}", type_name(text))))?;
    string.to_str().map_err(|err| {
        let py = text.py();
        match err
            .value(py)
            .getattr("start")
            .and_then(|start| start.extract::<usize>())
        {
            Ok(start) => PyValueError::new_err(format!(
                "text cannot be encoded as UTF-8: lone surrogate at index {start}"
            )),
            Err(_) => err,
        }
    })
}

/// A size argument as passed (or its default), checked later in the reference's order.
pub enum SizeArg<'py> {
    Given(Bound<'py, PyAny>),
    Default(usize),
}

impl<'a, 'py> FromPyObject<'a, 'py> for SizeArg<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(SizeArg::Given(obj.to_owned()))
    }
}

/// One size, type and range checked, or the reference's error for it.
fn size(arg: &SizeArg<'_>, name: &str) -> PyResult<i64> {
    let value = match arg {
        SizeArg::Given(value) => value,
        SizeArg::Default(size) => return Ok(*size as i64),
    };
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be int, not {}",
            type_name(value)
        )));
    }
    let number = value.extract::<i64>().or_else(|_| {
        // Beyond i64, so out of range: say it with int.__repr__, as the reference does.
        let py = value.py();
        let decimal = py
            .get_type::<PyInt>()
            .getattr("__repr__")?
            .call1((value,))?;
        Err(PyValueError::new_err(chunking::out_of_range(
            name,
            decimal.cast::<PyString>()?.to_str()?,
        )))
    })?;
    chunking::check_size(name, number).map_err(PyValueError::new_err)?;
    Ok(number)
}

/// The chunks of `text` in order, `(start, end, byte_start, byte_end, digest)`; see
/// `aitext.chunking.chunk_text` (the reference).
#[pyfunction]
#[pyo3(signature = (
    text,
    target_bytes = SizeArg::Default(chunking::DEFAULT_TARGET_BYTES),
    min_bytes = SizeArg::Default(chunking::DEFAULT_MIN_BYTES),
    max_bytes = SizeArg::Default(chunking::DEFAULT_MAX_BYTES),
),
text_signature = "(text, target_bytes=8192, min_bytes=2048, max_bytes=32768)")]
pub fn chunk_text<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
    target_bytes: SizeArg<'py>,
    min_bytes: SizeArg<'py>,
    max_bytes: SizeArg<'py>,
) -> PyResult<Bound<'py, PyList>> {
    let text = text_utf8(text)?;
    let sizes = Sizes::new(
        size(&target_bytes, "target_bytes")?,
        size(&min_bytes, "min_bytes")?,
        size(&max_bytes, "max_bytes")?,
    )
    .map_err(PyValueError::new_err)?;
    let chunks = if text.len() >= CHUNK_DETACH_MIN_BYTES {
        py.detach(|| chunking::chunk_text(text, &sizes))
    } else {
        chunking::chunk_text(text, &sizes)
    };
    PyList::new(
        py,
        chunks
            .iter()
            .map(|chunk| {
                PyTuple::new(
                    py,
                    [
                        chunk.start.into_pyobject(py)?.into_any(),
                        chunk.end.into_pyobject(py)?.into_any(),
                        chunk.byte_start.into_pyobject(py)?.into_any(),
                        chunk.byte_end.into_pyobject(py)?.into_any(),
                        PyBytes::new(py, &chunk.digest).into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?,
    )
}

/// Adds chunk_text and its constants to the module (one line in lib.rs).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("CHUNK_DETACH_MIN_BYTES", CHUNK_DETACH_MIN_BYTES)?;
    m.add_function(wrap_pyfunction!(chunk_text, m)?)
}
