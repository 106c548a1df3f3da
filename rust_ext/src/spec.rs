//! The cache-key spec (docs/cache-keys.md) in plain Rust, with no Python in sight.
//!
//! ```text
//! key      = "{namespace}:v1:{operation}:{hex(digest)}"
//! digest   = BLAKE3-256(frame("aitext/cache-key/v1") ‖ frame(operation) ‖ frame(text)
//!                       ‖ frame(options) ‖ frame(question) ‖ frame(model) ‖ frame(prompt_version))
//! frame(b) = u64 little-endian length of b ‖ b
//! options  = concatenation, over the options sorted by name, of frame(name) ‖ frame(value)
//! ```

use arrayvec::ArrayVec;
use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

pub const DOMAIN: &[u8] = b"aitext/cache-key/v1";
pub const KEY_VERSION: &str = "v1";
pub const DEFAULT_NAMESPACE: &str = "ai_cache";

/// Messages (and, inside them, subtrees) of at least this many bytes are hashed on all cores
/// (rayon) rather than one. Measured on the 2-core development machine with `cargo run
/// --release --example thresholds`, the second core mostly free: rayon loses below 128 KiB
/// (0.5x at 32 KiB), breaks even at 128-256 KiB (0.95-1.15x) and wins from 512 KiB (1.35x;
/// 1.5x at 1 MiB, 1.65x at 4 MiB). Under a load average of 5 (both cores busy) it lost up
/// to 25% at 128 KiB and was within ±20% at 256 KiB. See docs/benchmarks.md.
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

/// Messages up to this size (one BLAKE3 chunk: most keys, short texts) are framed into one
/// stack buffer and hashed with a single `blake3::hash` call.
const SMALL_BYTES: usize = blake3::CHUNK_LEN;

/// A subtree that straddles fields and is at most this long is copied into one stack block
/// and hashed in one go; a longer one is split. 16 KiB is the 16 chunks that AVX-512 hashes
/// at once.
const GATHER_BYTES: usize = 16 * 1024;

/// The message as the 14 slices it is made of (7 length prefixes, 7 fields), never copied
/// whole. It is hashed as the BLAKE3 tree it is: every subtree that lies inside one field
/// (nearly all of a large text) is hashed straight from that field's buffer, with full SIMD
/// width and, when large, on all cores; only the few subtrees that straddle two fields are
/// copied. Hashing the fields one after the other through `Hasher::update` instead would
/// start the text a few dozen bytes into a chunk, which leaves BLAKE3 only small, badly
/// aligned subtrees for its first chunks (+25% at 100 KB) and splits the rest into a run of
/// sequential subtrees that parallelize poorly (+20% at 1 MB).
struct Message<'a> {
    pieces: [&'a [u8]; 14],
    starts: [u64; 15],
}

impl<'a> Message<'a> {
    fn new(pieces: [&'a [u8]; 14]) -> Self {
        let mut starts = [0u64; 15];
        for (i, piece) in pieces.iter().enumerate() {
            starts[i + 1] = starts[i] + piece.len() as u64;
        }
        Message { pieces, starts }
    }

    fn len(&self) -> u64 {
        self.starts[14]
    }

    /// The bytes [start, end) when one piece holds them all.
    fn within(&self, start: u64, end: u64) -> Option<&'a [u8]> {
        let i = self.starts.partition_point(|&s| s <= start) - 1;
        (i < 14 && end <= self.starts[i + 1]).then(|| {
            &self.pieces[i][(start - self.starts[i]) as usize..(end - self.starts[i]) as usize]
        })
    }

    /// Appends the bytes [start, end) to `out`.
    fn gather<const N: usize>(&self, start: u64, end: u64, out: &mut ArrayVec<u8, N>) {
        for (i, piece) in self.pieces.iter().enumerate() {
            let (from, to) = (start.max(self.starts[i]), end.min(self.starts[i + 1]));
            if from < to {
                let bytes =
                    &piece[(from - self.starts[i]) as usize..(to - self.starts[i]) as usize];
                out.try_extend_from_slice(bytes)
                    .expect("gathered range fits");
            }
        }
    }
}

fn both<A: Send, B: Send>(
    parallel: bool,
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if parallel {
        rayon::join(a, b)
    } else {
        (a(), b())
    }
}

/// The chaining value of the subtree [offset, offset + len) of `message`.
fn subtree(message: &Message<'_>, offset: u64, len: u64, parallel_from: u64) -> ChainingValue {
    let parallel = len >= parallel_from;
    let mut hasher = blake3::Hasher::new();
    hasher.set_input_offset(offset);
    if let Some(bytes) = message.within(offset, offset + len) {
        if parallel {
            hasher.update_rayon(bytes);
        } else {
            hasher.update(bytes);
        }
        return hasher.finalize_non_root();
    }
    if len <= GATHER_BYTES as u64 {
        let mut block = ArrayVec::<u8, GATHER_BYTES>::new();
        message.gather(offset, offset + len, &mut block);
        return hasher.update(&block).finalize_non_root();
    }
    let left = left_subtree_len(len);
    let (l, r) = both(
        parallel,
        || subtree(message, offset, left, parallel_from),
        || subtree(message, offset + left, len - left, parallel_from),
    );
    merge_subtrees_non_root(&l, &r, Mode::Hash)
}

/// The BLAKE3-256 digest of the framed fields.
pub fn digest(fields: &Fields<'_>) -> [u8; 32] {
    digest_parallel_from(fields, MULTITHREAD_MIN_BYTES as u64)
}

/// `digest`, hashing subtrees of at least `parallel_from` bytes on all cores (the thresholds
/// example measures where that starts to pay).
pub fn digest_parallel_from(fields: &Fields<'_>, parallel_from: u64) -> [u8; 32] {
    let parts = [
        DOMAIN,
        fields.operation,
        fields.text,
        fields.options,
        fields.question,
        fields.model,
        fields.prompt_version,
    ];
    let prefixes = parts.map(|part| (part.len() as u64).to_le_bytes());
    let mut pieces: [&[u8]; 14] = [&[]; 14];
    for i in 0..7 {
        pieces[2 * i] = &prefixes[i];
        pieces[2 * i + 1] = parts[i];
    }
    hash_message(&Message::new(pieces), parallel_from)
}

/// BLAKE3-256 of `bytes` alone, the same way `digest` hashes a message: the benchmark's
/// yardstick for what hashing the text costs without any of the key's framing.
pub fn raw_digest(bytes: &[u8]) -> [u8; 32] {
    let mut pieces: [&[u8]; 14] = [&[]; 14];
    pieces[0] = bytes;
    hash_message(&Message::new(pieces), MULTITHREAD_MIN_BYTES as u64)
}

fn hash_message(message: &Message<'_>, parallel_from: u64) -> [u8; 32] {
    let total = message.len();
    if total <= SMALL_BYTES as u64 {
        let mut block = ArrayVec::<u8, SMALL_BYTES>::new();
        message.gather(0, total, &mut block);
        return *blake3::hash(&block).as_bytes();
    }
    let left = left_subtree_len(total);
    let (l, r) = both(
        total >= parallel_from,
        || subtree(message, 0, left, parallel_from),
        || subtree(message, left, total - left, parallel_from),
    );
    *merge_subtrees_root(&l, &r, Mode::Hash).as_bytes()
}

/// `"{namespace}:v1:{operation}:{hex(digest)}"`.
pub fn format_key(namespace: &str, operation: &str, digest: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key =
        String::with_capacity(namespace.len() + operation.len() + KEY_VERSION.len() + 3 + 64);
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
