//! The randomized tests' numbers: xorshift64, so every run sees the same
//! cases and a failure can be replayed.

/// A generator of numbers below `n`, from `seed` (not zero).
pub fn below(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    }
}
