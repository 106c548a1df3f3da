//! Content-defined chunking (docs/chunking.md) in plain Rust, with no Python in sight.
//!
//! ```text
//! H(p)     = gear hash of bytes[p-64 .. p]: h = (h << 1) + GEAR[byte] mod 2^64
//! propose  p in [start+min, min(start+max, n)) with H(p) < hard (p < start+target) or easy
//! cut      the last paragraph end in [max(start+min, p - target/4), p], else the last
//!          sentence end there, else the last whitespace end; no such end: pass p over
//! forced   at start+max the same search, else the last code-point boundary <= start+max
//! digest   = BLAKE3-256(frame("aitext/chunk/v1") ‖ frame(chunk)), frame(b) = u64 LE len ‖ b
//! ```
//!
//! `aitext.chunking` holds the Python reference; tests/vectors/chunks.json both.

use std::sync::LazyLock;

pub const DOMAIN: &[u8] = b"aitext/chunk/v1";
/// The gear table is the first 2048 bytes of BLAKE3's extendable output of this string,
/// read as 256 little-endian u64.
pub const GEAR_SEED: &[u8] = b"aitext/chunk/v1 gear table";
/// The gear hash sees the 64 bytes before a position; min_bytes >= 64 keeps them in the chunk.
pub const MIN_BYTES_FLOOR: i64 = 64;
pub const MAX_BYTES_LIMIT: i64 = 1 << 32;
/// A hard cut steps back at most 3 bytes to a code-point boundary and must not go below min.
pub const MIN_TO_MAX_GAP: usize = 3;
pub const DEFAULT_TARGET_BYTES: usize = 8 * 1024;
pub const DEFAULT_MIN_BYTES: usize = 2 * 1024;
pub const DEFAULT_MAX_BYTES: usize = 32 * 1024;

const WINDOW: usize = 64;

/// Sentence terminators that need no space after them (CJK, Arabic, Indic, ...), as UTF-8.
const UNICODE_TERMINATORS: [&[u8]; 12] = [
    "\u{3002}".as_bytes(), // 。 ideographic full stop
    "\u{ff01}".as_bytes(), // ！ fullwidth exclamation mark
    "\u{ff1f}".as_bytes(), // ？ fullwidth question mark
    "\u{ff0e}".as_bytes(), // ． fullwidth full stop
    "\u{ff61}".as_bytes(), // ｡ halfwidth ideographic full stop
    "\u{061f}".as_bytes(), // ؟ Arabic question mark
    "\u{06d4}".as_bytes(), // ۔ Arabic full stop
    "\u{0964}".as_bytes(), // । Devanagari danda
    "\u{0965}".as_bytes(), // ॥ Devanagari double danda
    "\u{0589}".as_bytes(), // ։ Armenian full stop
    "\u{1362}".as_bytes(), // ። Ethiopic full stop
    "\u{104b}".as_bytes(), // ။ Myanmar section mark
];

static GEAR: LazyLock<[u64; 256]> = LazyLock::new(|| {
    let mut bytes = [0u8; 256 * 8];
    blake3::Hasher::new()
        .update(GEAR_SEED)
        .finalize_xof()
        .fill(&mut bytes);
    let mut table = [0u64; 256];
    for (value, word) in table.iter_mut().zip(bytes.chunks_exact(8)) {
        *value = u64::from_le_bytes(word.try_into().expect("8 bytes"));
    }
    table
});

/// The gear table (derived once, on first use).
pub fn gear() -> &'static [u64; 256] {
    &GEAR
}

/// Checked chunk sizes in UTF-8 bytes: 64 <= min <= target <= max <= 2^32, max >= min + 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    pub target: usize,
    pub min: usize,
    pub max: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes {
            target: DEFAULT_TARGET_BYTES,
            min: DEFAULT_MIN_BYTES,
            max: DEFAULT_MAX_BYTES,
        }
    }
}

/// The error for one size outside [64, 2^32]; `value` as Python prints it.
pub fn out_of_range(name: &str, value: &str) -> String {
    format!("{name} must be between {MIN_BYTES_FLOOR} and {MAX_BYTES_LIMIT}, not {value}")
}

/// One size checked against [64, 2^32].
pub fn check_size(name: &str, value: i64) -> Result<usize, String> {
    if (MIN_BYTES_FLOOR..=MAX_BYTES_LIMIT).contains(&value) {
        Ok(value as usize)
    } else {
        Err(out_of_range(name, &value.to_string()))
    }
}

impl Sizes {
    /// Checks the sizes in the reference's order, with its messages (ValueError in Python).
    pub fn new(target: i64, min: i64, max: i64) -> Result<Sizes, String> {
        let target = check_size("target_bytes", target)?;
        let min = check_size("min_bytes", min)?;
        let max = check_size("max_bytes", max)?;
        if !(min <= target && target <= max) {
            return Err(format!(
                "sizes must satisfy min_bytes <= target_bytes <= max_bytes, not {min}, {target}, {max}"
            ));
        }
        if max - min < MIN_TO_MAX_GAP {
            return Err(format!(
                "max_bytes must be at least min_bytes + {MIN_TO_MAX_GAP}, not {max} (min_bytes {min})"
            ));
        }
        Ok(Sizes { target, min, max })
    }

    /// (hard, easy): with b = floor(log2(target)), a position is proposed with probability
    /// 2^-(b+2) before the target and 2^-(b-2) after it (FastCDC's normalized chunking,
    /// level 2), tested on the hash's top bits as H < threshold.
    pub fn thresholds(&self) -> (u64, u64) {
        let bits = usize::BITS - 1 - self.target.leading_zeros();
        (1 << (62 - bits), 1 << (66 - bits))
    }
}

/// One chunk: str indices (code points), UTF-8 byte offsets and the digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    pub byte_start: usize,
    pub byte_end: usize,
    pub digest: [u8; 32],
}

/// BLAKE3-256(frame(DOMAIN) ‖ frame(chunk)).
pub fn digest(chunk: &[u8]) -> [u8; 32] {
    digest_into(&mut Vec::new(), chunk)
}

/// `digest`, framing the message in `scratch` first: one contiguous message lets BLAKE3
/// hash its 1 KiB chunks side by side (SIMD), where `Hasher::update` with the 31 framing
/// bytes in front hashes them in misaligned runs: 2.4 against 1.35 GB/s on ~9 KiB chunks.
fn digest_into(scratch: &mut Vec<u8>, chunk: &[u8]) -> [u8; 32] {
    scratch.clear();
    scratch.extend_from_slice(&(DOMAIN.len() as u64).to_le_bytes());
    scratch.extend_from_slice(DOMAIN);
    scratch.extend_from_slice(&(chunk.len() as u64).to_le_bytes());
    scratch.extend_from_slice(chunk);
    *blake3::hash(scratch).as_bytes()
}

/// The chunks of `text`, in order; none for an empty text.
pub fn chunk_text(text: &str, sizes: &Sizes) -> Vec<Chunk> {
    let data = text.as_bytes();
    let mut chunks = Vec::with_capacity(data.len() / sizes.target + 1);
    let (mut start, mut char_start) = (0, 0);
    let mut scratch = Vec::with_capacity(sizes.max.min(data.len()) + 64);
    for end in Cuts::new(data, *sizes) {
        let bytes = &data[start..end];
        let char_end = char_start + count_chars(bytes);
        chunks.push(Chunk {
            start: char_start,
            end: char_end,
            byte_start: start,
            byte_end: end,
            digest: digest_into(&mut scratch, bytes),
        });
        (start, char_start) = (end, char_end);
    }
    chunks
}

/// The end of every chunk of `data` (UTF-8), in order.
pub struct Cuts<'a> {
    data: &'a [u8],
    sizes: Sizes,
    hard: u64,
    easy: u64,
    start: usize,
}

impl<'a> Cuts<'a> {
    pub fn new(data: &'a [u8], sizes: Sizes) -> Self {
        let (hard, easy) = sizes.thresholds();
        Cuts {
            data,
            sizes,
            hard,
            easy,
            start: 0,
        }
    }
}

impl Iterator for Cuts<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.start >= self.data.len() {
            return None;
        }
        let end = self.cut(self.start);
        self.start = end;
        Some(end)
    }
}

impl Cuts<'_> {
    /// Where the chunk that begins at `start` ends.
    fn cut(&self, start: usize) -> usize {
        let (data, sizes) = (self.data, &self.sizes);
        let size = data.len();
        if size - start <= sizes.min {
            return size;
        }
        let end = (start + sizes.max).min(size);
        let window = sizes.target / 4;
        let floor = start + sizes.min;
        let gear = gear();
        let mut h = 0u64;
        for &byte in &data[floor - WINDOW..floor - 1] {
            h = (h << 1).wrapping_add(gear[byte as usize]);
        }
        let mut p = floor;
        for (until, threshold) in [
            ((start + sizes.target).min(end), self.hard),
            (end, self.easy),
        ] {
            while p < until {
                match propose(data, &mut h, p, until, threshold, gear) {
                    Some(proposed) => {
                        let low = floor.max(proposed.saturating_sub(window));
                        if let Some(q) = preferred_cut(data, low, proposed) {
                            return q;
                        }
                        p = proposed + 1;
                    }
                    None => p = until,
                }
            }
        }
        if end == size {
            return size;
        }
        let low = floor.max(end.saturating_sub(window));
        preferred_cut(data, low, end).unwrap_or_else(|| code_point_start(data, end))
    }
}

/// The first p in [from, to) with H(p) < threshold. `h` is H(from - 1) on entry and H of the
/// last position tested on return: each step takes in data[p - 1] and tests p.
///
/// Two bytes a step: H(p + 2) = (H(p) << 2) + (GEAR[a] << 1) + GEAR[b] depends on H(p)
/// through one shift and one add, where the byte-by-byte chain has two of each; H(p + 1)
/// is computed beside it for its test. The chain was the whole cost (1.7 GB/s of text).
#[inline(always)]
fn propose(
    data: &[u8],
    h: &mut u64,
    from: usize,
    to: usize,
    threshold: u64,
    gear: &[u64; 256],
) -> Option<usize> {
    let bytes = &data[from - 1..to - 1];
    let mut x = *h;
    let mut pairs = bytes.chunks_exact(2);
    let mut p = from;
    for pair in &mut pairs {
        let (a, b) = (gear[pair[0] as usize], gear[pair[1] as usize]);
        let first = (x << 1).wrapping_add(a);
        if first < threshold {
            *h = first;
            return Some(p);
        }
        x = (x << 2).wrapping_add((a << 1).wrapping_add(b));
        if x < threshold {
            *h = x;
            return Some(p + 1);
        }
        p += 2;
    }
    for &byte in pairs.remainder() {
        x = (x << 1).wrapping_add(gear[byte as usize]);
        if x < threshold {
            *h = x;
            return Some(p);
        }
        p += 1;
    }
    *h = x;
    None
}

fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_paragraph_end(data: &[u8], q: usize) -> bool {
    data[..q].ends_with(b"\n\n") || data[..q].ends_with(b"\r\n\r\n")
}

/// A terminator, then at most one whitespace byte or one CRLF, then q. ASCII . ! ? count
/// only with that whitespace ("e.g", "3.14"); the Unicode terminators with or without it.
fn is_sentence_end(data: &[u8], q: usize) -> bool {
    let space = if data[..q].ends_with(b"\r\n") {
        2
    } else {
        usize::from(is_whitespace(data[q - 1]))
    };
    let r = q - space;
    if space > 0 && matches!(data[r - 1], b'.' | b'!' | b'?') {
        return true;
    }
    UNICODE_TERMINATORS
        .iter()
        .any(|terminator| data[..r].ends_with(terminator))
}

/// The last paragraph end in [low, high], else the last sentence end, else the last
/// whitespace end (never between CR and LF); None when there is none. 64 <= low, high < len.
fn preferred_cut(data: &[u8], low: usize, high: usize) -> Option<usize> {
    // Every paragraph end follows a '\n': look only there. data[k] is the byte before q = k + 1.
    let mut region = &data[low - 1..high];
    while let Some(k) = region.iter().rposition(|&byte| byte == b'\n') {
        let q = low + k;
        if is_paragraph_end(data, q) {
            return Some(q);
        }
        region = &region[..k];
    }
    let mut whitespace = None;
    for q in (low..=high).rev() {
        let last = data[q - 1];
        if is_whitespace(last) {
            if last == b'\r' && data[q] == b'\n' {
                continue;
            }
            whitespace.get_or_insert(q);
            if is_sentence_end(data, q) {
                return Some(q);
            }
        } else if last >= 0x80 && is_sentence_end(data, q) {
            return Some(q);
        }
    }
    whitespace
}

/// The last position <= q that is not inside a UTF-8 sequence.
fn code_point_start(data: &[u8], mut q: usize) -> usize {
    while data[q] & 0xc0 == 0x80 {
        q -= 1;
    }
    q
}

/// Code points in UTF-8 `bytes`: the bytes that do not continue a sequence.
pub fn count_chars(bytes: &[u8]) -> usize {
    // Summed in u32 lanes (vectorized), in blocks small enough not to overflow.
    bytes
        .chunks(1 << 20)
        .map(|block| {
            block
                .iter()
                .map(|&byte| u32::from((byte as i8) >= -0x40))
                .sum::<u32>() as usize
        })
        .sum()
}

#[cfg(test)]
mod tests;
