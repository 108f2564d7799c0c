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
/// The longest list the decoder keeps per trellis state.
pub const MAX_LIST: usize = 8;

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
    convolve(info_bits(key, payload))
}

/// The convolutional code's output for information bits (the tail is added here).
fn convolve(mut bits: Vec<u8>) -> Vec<u8> {
    bits.truncate(INFO_BITS);
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

/// Soft-decision list Viterbi decoding. `soft[i] > 0` is evidence for coded bit i being 1,
/// its magnitude the confidence. The `list` most likely codewords are found at once (each
/// trellis state keeps its `list` best paths) and tried best first: the first whose
/// integrity tag checks out gives the payload. Each candidate is one tag test, which the
/// false-positive arithmetic counts.
pub fn decode(key: &Key, soft: &[f32], list: usize) -> Option<u64> {
    best_paths(soft, list).into_iter().find_map(|bits| {
        let payload = bits[..PAYLOAD_BITS].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
        let got_tag = bits[PAYLOAD_BITS..INFO_BITS].iter().fold(0u64, |acc, &b| (acc << 1) | u64::from(b));
        (got_tag == tag(key, payload)).then_some(payload)
    })
}

/// The codeword of the most likely path, whatever its tag: the detector's best guess at the
/// whole mark, to register against. Tests no tag.
pub fn likeliest_codeword(soft: &[f32]) -> Vec<u8> {
    best_paths(soft, 1).into_iter().next().map_or_else(|| vec![0; CODED_BITS], convolve)
}

/// The information bits of the `list` most likely paths, best first.
fn best_paths(soft: &[f32], list: usize) -> Vec<Vec<u8>> {
    debug_assert_eq!(soft.len(), CODED_BITS);
    let list = list.clamp(1, MAX_LIST);
    let steps = INFO_BITS + TAIL_BITS;
    // Per state, the metrics of its best paths, best first (NEG_INFINITY: no path).
    let mut metric = vec![[f32::NEG_INFINITY; MAX_LIST]; STATES];
    metric[0][0] = 0.0;
    // Per step, state and rank: the previous state and its rank (the input bit is the
    // state's low bit).
    let mut history = vec![[[(0u8, 0u8); MAX_LIST]; STATES]; steps];
    for (step, hist) in history.iter_mut().enumerate() {
        let pair = [soft[2 * step], soft[2 * step + 1]];
        let mut next = vec![[f32::NEG_INFINITY; MAX_LIST]; STATES];
        for to in 0..STATES {
            let input = (to & 1) as u32;
            if step >= INFO_BITS && input == 1 {
                continue;
            }
            // The two states that lead here, with the branch metric of each.
            let mut candidates = [(f32::NEG_INFINITY, 0u8, 0u8); 2 * MAX_LIST];
            let mut n = 0;
            for high in 0..2 {
                let from = (to >> 1) | (high << (CONSTRAINT - 2));
                let reg = ((from as u32) << 1) | input;
                let branch: f32 = GENERATORS
                    .iter()
                    .zip(&pair)
                    .map(|(g, s)| if parity(reg & g) == 1 { *s } else { -*s })
                    .sum();
                for (rank, &m) in metric[from].iter().take(list).enumerate() {
                    if m > f32::NEG_INFINITY {
                        candidates[n] = (m + branch, from as u8, rank as u8);
                        n += 1;
                    }
                }
            }
            let candidates = &mut candidates[..n];
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (rank, &(m, from, from_rank)) in candidates.iter().take(list).enumerate() {
                next[to][rank] = m;
                hist[to][rank] = (from, from_rank);
            }
        }
        metric = next;
    }
    // Trace back each of the best paths into the all-zero state the tail forces.
    (0..list)
        .filter(|&rank| metric[0][rank] > f32::NEG_INFINITY)
        .map(|rank| {
            let (mut state, mut rank) = (0usize, rank);
            let mut bits = vec![0u8; steps];
            for step in (0..steps).rev() {
                bits[step] = (state & 1) as u8;
                let (from, from_rank) = history[step][state][rank];
                (state, rank) = (usize::from(from), usize::from(from_rank));
            }
            bits
        })
        .collect()
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
    fn the_likeliest_codeword_corrects_what_the_code_can() {
        let code = encode(&key(4), 0xfeed_beef);
        // Eight scattered coded bits flipped: well within the code's reach.
        let mut soft = to_soft(&code);
        for i in (5..CODED_BITS).step_by(26) {
            soft[i] = -soft[i];
        }
        assert_eq!(likeliest_codeword(&soft), code);
        // It is a codeword even when the reads are noise, and tests no tag.
        let noise: Vec<f32> = (0..CODED_BITS).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        let guess = likeliest_codeword(&noise);
        assert_eq!(guess.len(), CODED_BITS);
        let info: Vec<u8> = best_paths(&noise, 1).remove(0);
        assert_eq!(convolve(info), guess);
    }

    #[test]
    fn clean_codewords_decode() {
        for payload in [0u64, 1, u64::MAX, 0x0123_4567_89ab_cdef] {
            let code = encode(&key(1), payload);
            assert_eq!(code.len(), CODED_BITS);
            assert_eq!(decode(&key(1), &to_soft(&code), 1), Some(payload));
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
        assert_eq!(decode(&key(1), &soft, 1), Some(0xfeed_beef_0000_1111));
        assert_eq!(decode(&key(2), &soft, MAX_LIST), None);
    }

    /// Gaussian noise (Box-Muller) from a seeded generator.
    fn noisy(bits: &[u8], sigma: f32, rng: &mut rand::rngs::StdRng) -> Vec<f32> {
        use rand::Rng;
        bits.iter()
            .map(|&b| {
                let (u, v): (f32, f32) = (rng.gen_range(1e-7..1.0), rng.gen());
                let n = (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos();
                (if b == 1 { 1.0 } else { -1.0 }) + sigma * n
            })
            .collect()
    }

    #[test]
    fn a_longer_list_recovers_words_the_best_path_misses() {
        use rand::{Rng, SeedableRng};
        let k = key(4);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (mut best_path, mut listed) = (0, 0);
        for _ in 0..400 {
            let payload: u64 = rng.gen();
            let soft = noisy(&encode(&k, payload), 1.05, &mut rng);
            let one = decode(&k, &soft, 1);
            let many = decode(&k, &soft, MAX_LIST);
            // The best path is the list's first entry: what it finds, the list finds.
            if one.is_some() {
                assert_eq!(many, one);
            }
            assert!(one.is_none() || (one == Some(payload) && many == Some(payload)));
            best_path += usize::from(one.is_some());
            listed += usize::from(many.is_some());
        }
        assert!(listed >= best_path + 10, "list {listed}, best path {best_path} of 400");
    }

    #[test]
    fn noise_does_not_decode() {
        let stream = keyed_stream(&key(3), "noise", CODED_BITS);
        for shift in 0..64 {
            let soft: Vec<f32> =
                stream.iter().map(|&b| f32::from(b.rotate_left(shift % 8)) - 127.5).collect();
            assert_eq!(decode(&key(3), &soft, MAX_LIST), None);
        }
    }
}
