//! The cache-key spec (design.md, "Cache keys") in plain Rust, with no Python in sight.
//!
//! ```text
//! key      = "{namespace}:v1:{operation}:{hex(digest)}"
//! digest   = BLAKE3-256(frame("aitext/cache-key/v1") ‖ frame(operation) ‖ frame(text)
//!                       ‖ frame(options) ‖ frame(question) ‖ frame(model) ‖ frame(prompt_version))
//! frame(b) = u64 little-endian length of b ‖ b
//! options  = concatenation, over the options sorted by name, of frame(name) ‖ frame(value)
//! ```

use arrayvec::ArrayVec;

pub const DOMAIN: &[u8] = b"aitext/cache-key/v1";
pub const KEY_VERSION: &str = "v1";
pub const DEFAULT_NAMESPACE: &str = "ai_cache";

/// Texts at least this long are hashed with `Hasher::update_rayon` (all cores) instead of
/// `Hasher::update` (one core, SIMD). Measured on the 2-core development machine with
/// `cargo run --release --example thresholds`: with the second core idle, rayon starts to
/// win between 128 and 256 KiB (1.1-1.25x at 128 KiB, 1.2-1.5x at 256 KiB, ~1.7x from 1 MiB);
/// with the second core busy (other workers, other requests) it loses up to 25% at 128 KiB
/// and about breaks even at 256 KiB. See docs/benchmarks.md.
pub const MULTITHREAD_MIN_BYTES: usize = 256 * 1024;

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

/// Messages up to this size (most keys: short texts) are framed into one stack buffer and
/// hashed with a single `blake3::hash` call.
const SMALL_BYTES: usize = 1024;

/// BLAKE3 hashes 16 chunks (16 KiB) at once with AVX-512, but only in subtrees aligned to
/// their size. Fed field by field, the text would start a few dozen bytes into the message
/// and its first 15 chunks would go through in groups of 1, 2, 4 and 8: about 4 µs lost,
/// 25% at 100 KB. So the message's first 16 KiB are gathered into one aligned block, and the
/// rest of a large text is handed to BLAKE3 straight from its own buffer.
const HEAD_BYTES: usize = 16 * 1024;

fn parts<'a>(fields: &Fields<'a>) -> [&'a [u8]; 7] {
    [
        DOMAIN,
        fields.operation,
        fields.text,
        fields.options,
        fields.question,
        fields.model,
        fields.prompt_version,
    ]
}

/// The BLAKE3-256 digest of the framed fields.
pub fn digest(fields: &Fields<'_>) -> [u8; 32] {
    let parts = parts(fields);
    let total: usize = parts.iter().map(|part| 8 + part.len()).sum();
    if total <= SMALL_BYTES {
        let mut message = [0u8; SMALL_BYTES];
        let mut at = 0;
        for part in parts {
            message[at..at + 8].copy_from_slice(&(part.len() as u64).to_le_bytes());
            message[at + 8..at + 8 + part.len()].copy_from_slice(part);
            at += 8 + part.len();
        }
        return *blake3::hash(&message[..total]).as_bytes();
    }
    let mut head = ArrayVec::<u8, HEAD_BYTES>::new();
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        write(&mut head, &mut hasher, &(part.len() as u64).to_le_bytes());
        write(&mut head, &mut hasher, part);
    }
    hasher.update(&head);
    *hasher.finalize().as_bytes()
}

/// Appends `bytes` to the message: into `head` while it has room, and once it is full,
/// through `head` (exactly HEAD_BYTES at a time) or straight to the hasher when large.
fn write(head: &mut ArrayVec<u8, HEAD_BYTES>, hasher: &mut blake3::Hasher, bytes: &[u8]) {
    let room = head.remaining_capacity();
    if bytes.len() <= room {
        head.try_extend_from_slice(bytes).expect("fits");
        return;
    }
    let (first, rest) = bytes.split_at(room);
    head.try_extend_from_slice(first).expect("fits");
    hasher.update(head);
    head.clear();
    if bytes.len() >= MULTITHREAD_MIN_BYTES {
        hasher.update_rayon(rest);
    } else if rest.len() >= HEAD_BYTES {
        hasher.update(rest);
    } else {
        head.try_extend_from_slice(rest).expect("fits");
    }
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
