//! `aitext._native`: the PyO3 layer over the pure-Rust key spec in `spec`.
//!
//! Arguments are checked and converted here with the GIL held, in the same order and with
//! the same error messages as the Python reference (`aitext.cache.keys`); hashing runs in
//! `spec`, with the GIL released once the text is large enough to be worth it.
pub mod chunking;
mod chunking_py;
pub mod spec;

use arrayvec::ArrayVec;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyMapping, PyString, PyTuple};
use rayon::prelude::*;

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

const REQUEST_SHAPE: &str =
    "each request must be a tuple (text, operation, options, question, model, prompt_version[, namespace])";

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "object".to_owned())
}

/// The str's own UTF-8 buffer, borrowed: CPython keeps a compact ASCII str's characters as
/// UTF-8 already and returns them as is; any other str gets its UTF-8 form built once and
/// cached on the object (PyUnicode_AsUTF8AndSize), so it is not copied again on later calls.
fn utf8<'a>(obj: &'a Bound<'_, PyAny>, field: &str) -> PyResult<&'a str> {
    let string = obj.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!("{field} must be str, not {}", type_name(obj)))
    })?;
    string.to_str().map_err(|err| {
        // A lone surrogate: CPython raised UnicodeEncodeError; say it as the reference does.
        let py = obj.py();
        match err
            .value(py)
            .getattr("start")
            .and_then(|start| start.extract::<usize>())
        {
            Ok(start) => PyValueError::new_err(format!(
                "{field} cannot be encoded as UTF-8: lone surrogate at index {start}"
            )),
            Err(_) => err,
        }
    })
}

/// Options are usually few: up to this many are gathered on the stack.
const FEW_OPTIONS: usize = 8;

/// frame(name) ‖ frame(value) over the options sorted by name, as the reference checks them:
/// names in the mapping's order, then values in name order.
fn encode_options(options: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> PyResult<()> {
    if let Ok(dict) = options.cast_exact::<PyDict>() {
        return match dict.len() {
            0 => Ok(()),
            n if n <= FEW_OPTIONS => {
                encode_pairs(&dict.iter().collect::<ArrayVec<_, FEW_OPTIONS>>(), out)
            }
            _ => encode_pairs(&dict.iter().collect::<Vec<_>>(), out),
        };
    }
    let Ok(mapping) = options.cast::<PyMapping>() else {
        return Err(PyTypeError::new_err(format!(
            "options must be a mapping, not {}",
            type_name(options)
        )));
    };
    let mut pairs = Vec::new();
    for item in mapping.items()?.iter() {
        let pair = item.cast_into::<PyTuple>()?;
        pairs.push((pair.get_item(0)?, pair.get_item(1)?));
    }
    encode_pairs(&pairs, out)
}

type Pair<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn encode_pairs(pairs: &[Pair<'_>], out: &mut Vec<u8>) -> PyResult<()> {
    out.reserve(pairs.len() * 48);
    if pairs.len() <= FEW_OPTIONS {
        let mut named = ArrayVec::<_, FEW_OPTIONS>::new();
        for (name, value) in pairs {
            named.push((utf8(name, "option name")?, value));
        }
        encode_named(&mut named, out)
    } else {
        let mut named = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            named.push((utf8(name, "option name")?, value));
        }
        encode_named(&mut named, out)
    }
}

fn encode_named(named: &mut [(&str, &Bound<'_, PyAny>)], out: &mut Vec<u8>) -> PyResult<()> {
    named.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for &(name, value) in named.iter() {
        if let Ok(flag) = value.cast::<PyBool>() {
            spec::push_option(out, name.as_bytes(), OptionValue::Bool(flag.is_true()));
        } else if value.is_instance_of::<PyInt>() {
            match value.extract::<i64>() {
                Ok(number) => spec::push_option(out, name.as_bytes(), OptionValue::Int(number)),
                Err(_) => {
                    // Too big for an i64: int.__repr__, as the reference does.
                    let py = value.py();
                    let decimal = py
                        .get_type::<PyInt>()
                        .getattr("__repr__")?
                        .call1((value,))?;
                    let decimal = decimal.cast_into::<PyString>()?;
                    spec::push_option(
                        out,
                        name.as_bytes(),
                        OptionValue::Text(decimal.to_str()?.as_bytes()),
                    );
                }
            }
        } else if value.is_instance_of::<PyString>() {
            let text = utf8(value, "option value")?;
            spec::push_option(out, name.as_bytes(), OptionValue::Text(text.as_bytes()));
        } else {
            return Err(PyTypeError::new_err(format!(
                "option '{name}' must be int, bool or str, not {}",
                type_name(value)
            )));
        }
    }
    Ok(())
}

/// One request's fields, owned (kept alive while the GIL is released).
struct Request<'py> {
    text: Bound<'py, PyAny>,
    operation: Bound<'py, PyAny>,
    question: Bound<'py, PyAny>,
    model: Bound<'py, PyAny>,
    prompt_version: Bound<'py, PyAny>,
    namespace: Option<Bound<'py, PyAny>>,
    options: Vec<u8>,
}

/// One request's fields, borrowed as UTF-8.
struct Encoded<'a> {
    operation: &'a str,
    text: &'a str,
    question: &'a str,
    model: &'a str,
    prompt_version: &'a str,
    namespace: &'a str,
}

/// Checks and converts every field in the reference's order, encoding the options.
fn check<'a>(
    text: &'a Bound<'_, PyAny>,
    operation: &'a Bound<'_, PyAny>,
    options: &Bound<'_, PyAny>,
    question: &'a Bound<'_, PyAny>,
    model: &'a Bound<'_, PyAny>,
    prompt_version: &'a Bound<'_, PyAny>,
    namespace: Option<&'a Bound<'_, PyAny>>,
) -> PyResult<(Encoded<'a>, Vec<u8>)> {
    let text = utf8(text, "text")?;
    let operation = utf8(operation, "operation")?;
    let mut encoded_options = Vec::new();
    encode_options(options, &mut encoded_options)?;
    let question = if question.is_none() {
        ""
    } else {
        utf8(question, "question")?
    };
    let model = utf8(model, "model")?;
    let prompt_version = utf8(prompt_version, "prompt_version")?;
    let namespace = match namespace.filter(|ns| !ns.is_none()) {
        Some(ns) => utf8(ns, "namespace")?,
        None => spec::DEFAULT_NAMESPACE,
    };
    let encoded = Encoded {
        operation,
        text,
        question,
        model,
        prompt_version,
        namespace,
    };
    Ok((encoded, encoded_options))
}

impl<'py> Request<'py> {
    fn new(mut items: Vec<Bound<'py, PyAny>>) -> PyResult<Self> {
        if items.len() != 6 && items.len() != 7 {
            return Err(PyTypeError::new_err(REQUEST_SHAPE));
        }
        let namespace = if items.len() == 7 { items.pop() } else { None };
        let [text, operation, options, question, model, prompt_version]: [Bound<'py, PyAny>; 6] =
            items.try_into().expect("six items");
        let (_, encoded_options) = check(
            &text,
            &operation,
            &options,
            &question,
            &model,
            &prompt_version,
            namespace.as_ref(),
        )?;
        Ok(Request {
            text,
            operation,
            question,
            model,
            prompt_version,
            namespace,
            options: encoded_options,
        })
    }

    /// The fields as UTF-8 again (cheap: the str keeps its UTF-8 form); `new` checked them.
    fn encoded(&self) -> PyResult<Encoded<'_>> {
        Ok(Encoded {
            operation: utf8(&self.operation, "operation")?,
            text: utf8(&self.text, "text")?,
            question: if self.question.is_none() {
                ""
            } else {
                utf8(&self.question, "question")?
            },
            model: utf8(&self.model, "model")?,
            prompt_version: utf8(&self.prompt_version, "prompt_version")?,
            namespace: match &self.namespace {
                Some(ns) if !ns.is_none() => utf8(ns, "namespace")?,
                _ => spec::DEFAULT_NAMESPACE,
            },
        })
    }
}

impl Encoded<'_> {
    fn fields<'a>(&'a self, options: &'a [u8]) -> Fields<'a> {
        Fields {
            operation: self.operation.as_bytes(),
            text: self.text.as_bytes(),
            options,
            question: self.question.as_bytes(),
            model: self.model.as_bytes(),
            prompt_version: self.prompt_version.as_bytes(),
        }
    }
}

/// The cache key of one request; see `aitext.cache.keys.make_key` (the reference).
#[pyfunction]
#[allow(clippy::too_many_arguments)] // the Python signature
#[pyo3(
    signature = (text, operation, options, question, model, prompt_version, namespace=None),
    text_signature = "(text, operation, options, question, model, prompt_version, namespace='ai_cache')"
)]
fn make_key<'py>(
    py: Python<'py>,
    text: &Bound<'py, PyAny>,
    operation: &Bound<'py, PyAny>,
    options: &Bound<'py, PyAny>,
    question: &Bound<'py, PyAny>,
    model: &Bound<'py, PyAny>,
    prompt_version: &Bound<'py, PyAny>,
    namespace: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyString>> {
    let (encoded, options) = check(
        text,
        operation,
        options,
        question,
        model,
        prompt_version,
        namespace,
    )?;
    let fields = encoded.fields(&options);
    let digest = if encoded.text.len() >= DETACH_MIN_BYTES {
        py.detach(|| spec::digest(&fields))
    } else {
        spec::digest(&fields)
    };
    Ok(PyString::new(
        py,
        &spec::format_key(encoded.namespace, encoded.operation, &digest),
    ))
}

fn unpack_request<'py>(request: &Bound<'py, PyAny>) -> PyResult<Request<'py>> {
    let items: Vec<Bound<'py, PyAny>> = if let Ok(tuple) = request.cast::<PyTuple>() {
        tuple.iter().collect()
    } else if let Ok(list) = request.cast::<PyList>() {
        list.iter().collect()
    } else {
        return Err(PyTypeError::new_err(REQUEST_SHAPE));
    };
    Request::new(items)
}

/// The keys of many requests, in order; see `aitext.cache.keys.make_keys` (the reference).
/// Large batches are hashed on all cores with the GIL released.
#[pyfunction]
fn make_keys<'py>(py: Python<'py>, requests: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let mut checked = Vec::new();
    for request in requests.try_iter()? {
        checked.push(unpack_request(&request?)?);
    }
    let encoded = checked
        .iter()
        .map(Request::encoded)
        .collect::<PyResult<Vec<_>>>()?;
    let fields: Vec<Fields<'_>> = encoded
        .iter()
        .zip(&checked)
        .map(|(enc, request)| enc.fields(&request.options))
        .collect();
    let text_bytes: usize = encoded.iter().map(|enc| enc.text.len()).sum();
    let digests: Vec<[u8; 32]> = if fields.len() > 1 && text_bytes >= PARALLEL_BATCH_MIN_BYTES {
        py.detach(|| fields.par_iter().map(spec::digest).collect())
    } else if text_bytes >= DETACH_MIN_BYTES {
        py.detach(|| fields.iter().map(spec::digest).collect())
    } else {
        fields.iter().map(spec::digest).collect()
    };
    PyList::new(
        py,
        encoded
            .iter()
            .zip(&digests)
            .map(|(enc, digest)| spec::format_key(enc.namespace, enc.operation, digest)),
    )
}

/// BLAKE3-256 of `data` with the same threading and GIL rules as make_key: the benchmark's
/// measure of what hashing the text alone costs.
#[pyfunction]
fn _raw_blake3<'py>(py: Python<'py>, data: &Bound<'py, PyBytes>) -> Bound<'py, PyBytes> {
    let bytes = data.as_bytes();
    let digest = if bytes.len() >= DETACH_MIN_BYTES {
        py.detach(|| spec::raw_digest(bytes))
    } else {
        spec::raw_digest(bytes)
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
