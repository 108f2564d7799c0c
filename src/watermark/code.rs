//! Payload coding: a keyed integrity tag, a convolutional code (K = 7, rate 1/2, the
//! 171/133 generator pair) with a soft-decision Viterbi decoder, and keyed streams.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Key;

/// Payload bits carried by a mark.
pub const PAYLOAD_BITS: usize = 64;
/// Integrity bits: a truncated HMAC of the payload under the key.
pub const TAG_BITS: usize = 36;
pub const INFO_BITS: usize = PAYLOAD_BITS + TAG_BITS;
const CONSTRAINT: usize = 7;
const TAIL_BITS: usize = CONSTRAINT - 1;
/// Coded bits per mark: two per information or tail bit.
pub const CODED_BITS: usize = 2 * (INFO_BITS + TAIL_BITS);
const GENERATORS: [u32; 2] = [0o171, 0o133];
const STATES: usize = 1 << (CONSTRAINT - 1);

/// A deterministic byte stream derived from the key and a label (HMAC-SHA256 in counter
/// mode): every secret pattern of the mark comes from one of these.
pub fn keyed_stream(key: &Key, label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut mac = keyed_mac(key);
        mac.update(label.as_bytes());
        mac.update(&counter.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn keyed_mac(key: &Key) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; 32 bytes never fails.
    match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The integrity tag of a payload: the first `TAG_BITS` bits of HMAC(key, payload).
fn tag(key: &Key, payload: u64) -> u64 {
    let mut mac = keyed_mac(key);
    mac.update(b"viewmark/tag");
    mac.update(&payload.to_be_bytes());
    let bytes = mac.finalize().into_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(first) >> (64 - TAG_BITS)
}

fn info_bits(key: &Key, payload: u64) -> Vec<u8> {
    let tag = tag(key, payload);
    let mut bits = Vec::with_capacity(INFO_BITS);
    bits.extend((0..PAYLOAD_BITS).rev().map(|i| ((payload >> i) & 1) as u8));
    bits.extend((0..TAG_BITS).rev().map(|i| ((tag >> i) & 1) as u8));
    bits
}

fn parity(x: u32) -> u8 {
    (x.count_ones() & 1) as u8
}

/// The codeword for a payload: `CODED_BITS` bits (0/1).
pub fn encode(key: &Key, payload: u64) -> Vec<u8> {
    let mut bits = info_bits(key, payload);
    bits.extend([0u8; TAIL_BITS]);
    let mut reg: u32 = 0;
    let mut out = Vec::with_capacity(CODED_BITS);
    for bit in bits {
        reg = ((reg << 1) | u32::from(bit)) & ((1 << CONSTRAINT) - 1);
        for g in GENERATORS {
            out.push(parity(reg & g));
        }
    }
    out
}

/// Soft-decision Viterbi decoding. `soft[i] > 0` is evidence for coded bit i being 1,
/// its magnitude the confidence. Returns the payload when the integrity tag checks out.
pub fn decode(key: &Key, soft: &[f32]) -> Option<u64> {
    debug_assert_eq!(soft.len(), CODED_BITS);
    let steps = INFO_BITS + TAIL_BITS;
    let mut metric = [f32::NEG_INFINITY; STATES];
    metric[0] = 0.0;
    // For each step and state: the previous state that won (its low bit is the input bit).
    let mut history = vec![[0u8; STATES]; steps];
    for (step, hist) in history.iter_mut().enumerate() {
        let mut next = [f32::NEG_INFINITY; STATES];
        let pair = &soft[2 * step..2 * step + 2];
        let inputs: &[u32] = if step >= INFO_BITS { &[0] } else { &[0, 1] };
        for (state, &m) in metric.iter().enumerate() {
            if m == f32::NEG_INFINITY {
                continue;
            }
            for &input in inputs {
                let reg = ((state as u32) << 1) | input;
                let mut branch = 0.0;
                for (g, s) in GENERATORS.iter().zip(pair) {
                    branch += if parity(reg & g) == 1 { *s } else { -*s };
                }
                let to = (reg as usize) & (STATES - 1);
                if m + branch > next[to] {
                    next[to] = m + branch;
                    hist[to] = state as u8;
                }
            }
        }
        metric = next;
    }
    // Trace back from the all-zero state the tail forces.
    let mut state = 0usize;
    let mut bits = vec![0u8; steps];
    for step in (0..steps).rev() {
        bits[step] = (state & 1) as u8;
        state = history[step][state] as usize;
    }
    let payload = bits[..PAYLOAD_BITS].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
    let got_tag = bits[PAYLOAD_BITS..INFO_BITS].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
    (got_tag == tag(key, payload)).then_some(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    fn to_soft(bits: &[u8]) -> Vec<f32> {
        bits.iter().map(|&b| if b == 1 { 1.0 } else { -1.0 }).collect()
    }

    #[test]
    fn clean_codewords_decode() {
        for payload in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let code = encode(&key(1), payload);
            assert_eq!(code.len(), CODED_BITS);
            assert_eq!(decode(&key(1), &to_soft(&code)), Some(payload));
        }
    }

    #[test]
    fn errors_are_corrected_and_wrong_keys_refused() {
        let code = encode(&key(1), 0xfeed_beef_0000_1111);
        let mut soft = to_soft(&code);
        // Flip every 9th bit: well within the code's reach.
        for s in soft.iter_mut().step_by(9) {
            *s = -*s * 0.5;
        }
        assert_eq!(decode(&key(1), &soft), Some(0xfeed_beef_0000_1111));
        assert_eq!(decode(&key(2), &soft), None);
    }

    #[test]
    fn noise_does_not_decode() {
        let stream = keyed_stream(&key(3), "noise", CODED_BITS);
        for shift in 0..64 {
            let soft: Vec<f32> =
                stream.iter().map(|&b| f32::from(b.rotate_left(shift % 8)) - 127.5).collect();
            assert_eq!(decode(&key(3), &soft), None);
        }
    }
}
