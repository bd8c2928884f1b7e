//! A deterministic random bit generator: the room engine's only source of randomness.
//!
//! The engine is sans-I/O, so it cannot ask the operating system for entropy. The shell seeds
//! it once with 32 bytes from its platform's CSPRNG (`crypto.getRandomValues`, `getrandom`);
//! from then on every nonce, id and jitter comes from HMAC-SHA256 in counter mode (HKDF-Expand
//! with the counter as info), so nothing can fail half way through a room and no caller is
//! ever tempted to fall back to a constant nonce. The simulation tests seed it from the test
//! seed, which makes a whole room replay bit for bit.

use hkdf::Hkdf;
use sha2::Sha256;

/// Seed length: a full-strength key for HMAC-SHA256.
pub const SEED_LEN: usize = 32;

/// HMAC-SHA256 counter-mode generator.
pub struct Drbg {
    prk: Hkdf<Sha256>,
    counter: u64,
}

impl Drbg {
    pub fn new(seed: [u8; SEED_LEN]) -> Self {
        Self {
            prk: Hkdf::<Sha256>::new(Some(b"hush/drbg/v1"), &seed),
            counter: 0,
        }
    }

    /// Fills `out` with fresh bytes (at most 8 KiB per call, far above any use here).
    pub fn fill(&mut self, out: &mut [u8]) {
        self.counter = self.counter.wrapping_add(1);
        // HKDF-Expand refuses more than 255 blocks (8,160 bytes); callers take ids and nonces.
        for chunk in out.chunks_mut(255 * 32) {
            if self.prk.expand(&self.counter.to_le_bytes(), chunk).is_err() {
                chunk.fill(0);
            }
            self.counter = self.counter.wrapping_add(1);
        }
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }

    /// A uniform-enough value in `0..n` (n > 0) for jitter and scheduling; not for keys.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        u64::from_le_bytes(self.bytes()) % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_no_repeats() {
        let mut a = Drbg::new([7; SEED_LEN]);
        let mut b = Drbg::new([7; SEED_LEN]);
        let xs: Vec<[u8; 12]> = (0..100).map(|_| a.bytes()).collect();
        let ys: Vec<[u8; 12]> = (0..100).map(|_| b.bytes()).collect();
        assert_eq!(xs, ys);
        let mut sorted = xs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), xs.len(), "a nonce repeated");
        let mut c = Drbg::new([8; SEED_LEN]);
        assert_ne!(c.bytes::<12>(), xs[0]);
    }

    #[test]
    fn large_fills_are_not_zero() {
        let mut a = Drbg::new([1; SEED_LEN]);
        let mut big = vec![0u8; 20_000];
        a.fill(&mut big);
        assert!(big[8_160..8_200].iter().any(|b| *b != 0));
        assert!(a.below(10) < 10);
    }
}
