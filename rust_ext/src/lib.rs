//! `aitext._native`: the PyO3 layer over the pure-Rust key spec in `spec`.
//!
//! PyO3 converts the arguments: a field of the wrong type is a TypeError, a str with a lone
//! surrogate a UnicodeEncodeError, each noting the argument, as in the Python reference
//! (`aitext.cache.keys`). Strings are read in place: `&str` and `PyBackedStr` borrow the str's
//! own UTF-8 buffer (a compact ASCII str's characters; any other str's UTF-8 form, built once
//! and cached on the object). `spec` hashes, with the GIL released once the text is large
//! enough to be worth it.
pub mod chunking;
mod chunking_py;
pub mod spec;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyMapping, PyString, PyTuple};
use rayon::prelude::*;
use std::ops::Deref;

use spec::{Fields, OptionValue};

/// Hash with the GIL released from this many text bytes on. Releasing and retaking it costs
/// about 0.1 µs (make_key on 8191 vs 8192 bytes), 3% of hashing 8 KiB; from there on other
/// Python threads run while we hash. See docs/benchmarks.md.
const DETACH_MIN_BYTES: usize = 8 * 1024;

/// make_keys hashes a batch on all cores once its texts add up to this many bytes: the same
/// break-even as one message (spec::MULTITHREAD_MIN_BYTES). Measured against a Python loop
/// over make_key: 12-24 x 8 KiB (96-192 KiB) lost up to 35% to waking the pool; from 256 KiB
/// it is 0.8-1.3x, from 512 KiB 1.2-1.4x.
const PARALLEL_BATCH_MIN_BYTES: usize = spec::MULTITHREAD_MIN_BYTES;

/// An option value as the spec allows it: int (bool included, told apart when framed) or
/// str, subclasses too (isinstance, as the reference checks; extracting `bool` or `i64` would
/// also take numpy scalars). Int comes first: every variant tried that does not match costs
/// about 0.8 µs, as the derive builds and chains a TypeError for it (a 100 B key takes 0.5),
/// and the service's options are all ints.
#[derive(FromPyObject)]
enum OptionArg<'py> {
    Int(Bound<'py, PyInt>),
    Str(Bound<'py, PyString>),
}

/// The options framed in name order (`spec::push_option`), built while PyO3 converts the
/// argument: names are checked in the mapping's order, values in name order, as the reference
/// does.
struct Options(Vec<u8>);

impl FromPyObject<'_, '_> for Options {
    type Error = PyErr;

    fn extract(options: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let mut named: Vec<(PyBackedStr, Bound<'_, PyAny>)> =
            if let Ok(dict) = options.cast_exact::<PyDict>() {
                let pairs = dict
                    .iter()
                    .map(|(name, value)| Ok((name.extract()?, value)));
                pairs.collect::<PyResult<_>>()?
            } else if let Ok(mapping) = options.cast::<PyMapping>() {
                let pairs = mapping.items()?.iter().map(|pair| pair.extract());
                pairs.collect::<PyResult<_>>()?
            } else {
                let kind = options.get_type().name()?;
                let message = format!("options must be a mapping, not {kind}");
                return Err(PyTypeError::new_err(message));
            };
        named.sort_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
        let mut out = Vec::with_capacity(named.len() * 48);
        for (name, value) in &named {
            let Ok(value) = value.extract::<OptionArg>() else {
                let kind = value.get_type().name()?;
                let message = format!("option '{name}' must be int, bool or str, not {kind}");
                return Err(PyTypeError::new_err(message));
            };
            let decimal: PyBackedStr; // a big int's text, kept alive while it is framed
            let value = match &value {
                OptionArg::Int(flag) if flag.is_instance_of::<PyBool>() => {
                    OptionValue::Bool(flag.is_truthy()?)
                }
                OptionArg::Int(int) => match int.extract::<i64>() {
                    Ok(number) => OptionValue::Int(number),
                    Err(_) => {
                        // Too big for an i64: int.__repr__, as the reference does.
                        let int_type = int.py().get_type::<PyInt>();
                        decimal = int_type.call_method1("__repr__", (int,))?.extract()?;
                        OptionValue::Text(decimal.as_bytes())
                    }
                },
                OptionArg::Str(text) => OptionValue::Text(text.to_str()?.as_bytes()),
            };
            spec::push_option(&mut out, name.as_bytes(), value);
        }
        Ok(Options(out))
    }
}

/// `spec::digest`, with the GIL released for a large text.
fn digest(py: Python<'_>, fields: &Fields<'_>) -> [u8; 32] {
    if fields.text.len() >= DETACH_MIN_BYTES {
        py.detach(|| spec::digest(fields))
    } else {
        spec::digest(fields)
    }
}

/// make_key's arguments. make_key borrows the strs (`&str`); make_keys holds them as
/// `PyBackedStr`, which keeps its str alive and can be read with the GIL released.
struct Request<S> {
    text: S,
    operation: S,
    options: Options,
    question: Option<S>,
    model: S,
    prompt_version: S,
    namespace: Option<S>,
}

impl<S: Deref<Target = str>> Request<S> {
    fn fields(&self) -> Fields<'_> {
        Fields {
            operation: self.operation.as_bytes(),
            text: self.text.as_bytes(),
            options: &self.options.0,
            question: self.question.as_deref().unwrap_or_default().as_bytes(),
            model: self.model.as_bytes(),
            prompt_version: self.prompt_version.as_bytes(),
        }
    }

    fn key(&self, digest: &[u8; 32]) -> String {
        let namespace = self.namespace.as_deref().unwrap_or(spec::DEFAULT_NAMESPACE);
        spec::format_key(namespace, &self.operation, digest)
    }
}

/// The cache key of one request; see `aitext.cache.keys.make_key` (the reference).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // make_key's Python signature, plus the GIL token
#[pyo3(
    signature = (text, operation, options, question, model, prompt_version, namespace=None),
    text_signature = "(text, operation, options, question, model, prompt_version, namespace='ai_cache')"
)]
fn make_key(
    py: Python<'_>,
    text: &str,
    operation: &str,
    options: Options,
    question: Option<&str>,
    model: &str,
    prompt_version: &str,
    namespace: Option<&str>,
) -> String {
    let request = Request {
        text,
        operation,
        options,
        question,
        model,
        prompt_version,
        namespace,
    };
    request.key(&digest(py, &request.fields()))
}

/// A request of make_keys: a tuple or list of make_key's arguments, namespace optional.
impl FromPyObject<'_, '_> for Request<PyBackedStr> {
    type Error = PyErr;

    fn extract(request: Borrowed<'_, '_, PyAny>) -> PyResult<Self> {
        let is_sequence = request.is_instance_of::<PyTuple>() || request.is_instance_of::<PyList>();
        let items: Vec<Bound<'_, PyAny>> = if is_sequence {
            request.extract()?
        } else {
            Vec::new()
        };
        if !matches!(items.len(), 6 | 7) {
            return Err(PyTypeError::new_err(
                "each request must be a tuple (text, operation, options, question, model, prompt_version[, namespace])",
            ));
        }
        Ok(Request {
            text: items[0].extract()?,
            operation: items[1].extract()?,
            options: items[2].extract()?,
            question: items[3].extract()?,
            model: items[4].extract()?,
            prompt_version: items[5].extract()?,
            namespace: items.get(6).map(|ns| ns.extract()).transpose()?.flatten(),
        })
    }
}

/// The keys of many requests, in order; see `aitext.cache.keys.make_keys` (the reference).
/// Large batches are hashed on all cores with the GIL released.
#[pyfunction]
fn make_keys(py: Python<'_>, requests: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let requests = requests
        .try_iter()?
        .map(|request| request?.extract::<Request<PyBackedStr>>())
        .collect::<PyResult<Vec<_>>>()?;
    let fields: Vec<Fields<'_>> = requests.iter().map(Request::fields).collect();
    let text_bytes: usize = fields.iter().map(|fields| fields.text.len()).sum();
    let digests: Vec<[u8; 32]> = if fields.len() > 1 && text_bytes >= PARALLEL_BATCH_MIN_BYTES {
        py.detach(|| fields.par_iter().map(spec::digest).collect())
    } else if text_bytes >= DETACH_MIN_BYTES {
        py.detach(|| fields.iter().map(spec::digest).collect())
    } else {
        fields.iter().map(spec::digest).collect()
    };
    Ok(requests
        .iter()
        .zip(&digests)
        .map(|(r, d)| r.key(d))
        .collect())
}

/// BLAKE3-256 of `data` with the same threading and GIL rules as make_key: the benchmark's
/// measure of what hashing the text alone costs.
#[pyfunction]
fn _raw_blake3<'py>(py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
    let digest = if data.len() >= DETACH_MIN_BYTES {
        py.detach(|| spec::raw_digest(data))
    } else {
        spec::raw_digest(data)
    };
    PyBytes::new(py, &digest)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KEY_VERSION", spec::KEY_VERSION)?;
    m.add("DEFAULT_NAMESPACE", spec::DEFAULT_NAMESPACE)?;
    m.add("MULTITHREAD_MIN_BYTES", spec::MULTITHREAD_MIN_BYTES)?;
    m.add("DETACH_MIN_BYTES", DETACH_MIN_BYTES)?;
    m.add("PARALLEL_BATCH_MIN_BYTES", PARALLEL_BATCH_MIN_BYTES)?;
    m.add_function(wrap_pyfunction!(make_key, m)?)?;
    m.add_function(wrap_pyfunction!(make_keys, m)?)?;
    m.add_function(wrap_pyfunction!(_raw_blake3, m)?)?;
    chunking_py::register(m)?;
    Ok(())
}
