//! MurmurHash3, x86 32-bit variant (Austin Appleby's `MurmurHash3_x86_32`), the hash flagd's
//! `fractional` operator uses (through github.com/twmb/murmur3 `StringSum32`, seed 0).

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

/// MurmurHash3_x86_32 of `data` with `seed`.
pub fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for c in chunks {
        let k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        h ^= mix_k(k);
        h = h.rotate_left(13);
        h = h.wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k |= (*b as u32) << (8 * i);
        }
        h ^= mix_k(k);
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::murmur3_32;

    /// Reference values from Python's `mmh3` package (a binding of the reference C++
    /// implementation), computed once with `mmh3.hash(s, seed, signed=False)` and pasted here.
    #[test]
    fn matches_reference_implementation() {
        let cases: &[(&str, u32, u32)] = &[
            ("", 0, 0),
            ("", 1, 1_364_076_727),
            ("a", 0, 1_009_084_850),
            ("abc", 0, 3_017_643_002),
            ("abcd", 0, 1_139_631_978),
            ("abcde", 42, 2_933_533_680),
            ("hello", 0, 613_153_351),
            ("test", 0, 3_127_628_307),
            ("The quick brown fox jumps over the lazy dog", 0, 776_992_547),
            ("ünïcødé", 0, 2_210_329_462),
        ];
        for &(input, seed, want) in cases {
            assert_eq!(murmur3_32(input.as_bytes(), seed), want, "{input:?} seed {seed}");
        }
    }
}
