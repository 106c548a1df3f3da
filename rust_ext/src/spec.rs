//! The cache-key spec (design.md, "Cache keys") in plain Rust, with no Python in sight.
//!
//! ```text
//! key      = "{namespace}:v1:{operation}:{hex(digest)}"
//! digest   = BLAKE3-256(frame("aitext/cache-key/v1") ‖ frame(operation) ‖ frame(text)
//!                       ‖ frame(options) ‖ frame(question) ‖ frame(model) ‖ frame(prompt_version))
//! frame(b) = u64 little-endian length of b ‖ b
//! options  = concatenation, over the options sorted by name, of frame(name) ‖ frame(value)
//! ```

pub const DOMAIN: &[u8] = b"aitext/cache-key/v1";
pub const KEY_VERSION: &str = "v1";
pub const DEFAULT_NAMESPACE: &str = "ai_cache";

/// Texts at least this long are hashed with `Hasher::update_rayon` (all cores) instead of
/// `Hasher::update` (one core, SIMD). Measured on the 2-core development machine with
/// `cargo run --release --example thresholds`: below 128 KiB, splitting the work across
/// rayon's threads costs more than it saves; from 128 KiB on it wins, reaching about 1.8x at
/// 1 MiB. See docs/benchmarks.md.
pub const MULTITHREAD_MIN_BYTES: usize = 128 * 1024;

/// The fields of one request, already encoded; `options` is the output of `encode_options`.
#[derive(Clone, Copy, Debug)]
pub struct Fields<'a> {
    pub operation: &'a [u8],
    pub text: &'a [u8],
    pub options: &'a [u8],
    pub question: &'a [u8],
    pub model: &'a [u8],
    pub prompt_version: &'a [u8],
}

/// An option's value, before it becomes text.
#[derive(Clone, Copy, Debug)]
pub enum OptionValue<'a> {
    Bool(bool),
    Int(i64),
    /// An integer's decimal text when it does not fit an i64, or a str value.
    Text(&'a [u8]),
}

fn push_frame(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// frame(name) ‖ frame(value) over `options` sorted by name, appended to `out`.
/// Names must be distinct (they come from a mapping).
pub fn encode_options(options: &mut [(&[u8], OptionValue<'_>)], out: &mut Vec<u8>) {
    options.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for (name, value) in options.iter() {
        push_option(out, name, *value);
    }
}

/// frame(name) ‖ frame(value as text), appended to `out`; callers append in name order.
pub fn push_option(out: &mut Vec<u8>, name: &[u8], value: OptionValue<'_>) {
    push_frame(out, name);
    let mut digits = [0u8; 20];
    let text: &[u8] = match value {
        OptionValue::Bool(true) => b"true",
        OptionValue::Bool(false) => b"false",
        OptionValue::Int(n) => format_i64(n, &mut digits),
        OptionValue::Text(t) => t,
    };
    push_frame(out, text);
}

fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut magnitude = n.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if n < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

fn update_frame(hasher: &mut blake3::Hasher, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    if bytes.len() >= MULTITHREAD_MIN_BYTES {
        hasher.update_rayon(bytes);
    } else {
        hasher.update(bytes);
    }
}

/// The BLAKE3-256 digest of the framed fields.
pub fn digest(fields: &Fields<'_>) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for part in [
        DOMAIN,
        fields.operation,
        fields.text,
        fields.options,
        fields.question,
        fields.model,
        fields.prompt_version,
    ] {
        update_frame(&mut hasher, part);
    }
    *hasher.finalize().as_bytes()
}

/// BLAKE3-256 of `bytes` alone, with the same threading rule as `digest`: the benchmark's
/// yardstick for what hashing the text costs without any of the key's framing.
pub fn raw_digest(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    if bytes.len() >= MULTITHREAD_MIN_BYTES {
        hasher.update_rayon(bytes);
    } else {
        hasher.update(bytes);
    }
    *hasher.finalize().as_bytes()
}

/// `"{namespace}:v1:{operation}:{hex(digest)}"`.
pub fn format_key(namespace: &str, operation: &str, digest: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(namespace.len() + operation.len() + KEY_VERSION.len() + 3 + 64);
    key.push_str(namespace);
    key.push(':');
    key.push_str(KEY_VERSION);
    key.push(':');
    key.push_str(operation);
    key.push(':');
    let mut hex = [0u8; 64];
    for (i, byte) in digest.iter().enumerate() {
        hex[2 * i] = HEX[(byte >> 4) as usize];
        hex[2 * i + 1] = HEX[(byte & 0xf) as usize];
    }
    key.push_str(std::str::from_utf8(&hex).expect("hex digits are ASCII"));
    key
}

/// The whole key of one request.
pub fn make_key(
    namespace: &str,
    operation: &str,
    text: &str,
    options: &mut [(&[u8], OptionValue<'_>)],
    question: Option<&str>,
    model: &str,
    prompt_version: &str,
) -> String {
    let mut encoded = Vec::new();
    encode_options(options, &mut encoded);
    let fields = Fields {
        operation: operation.as_bytes(),
        text: text.as_bytes(),
        options: &encoded,
        question: question.unwrap_or("").as_bytes(),
        model: model.as_bytes(),
        prompt_version: prompt_version.as_bytes(),
    };
    format_key(namespace, operation, &digest(&fields))
}

#[cfg(test)]
mod tests;
