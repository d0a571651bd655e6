//! A stable 64-bit hash (FNV-1a) for shard assignment and file names: the
//! same input gives the same value on every machine and Rust version.

/// FNV-1a over `bytes`.
///
/// ```
/// assert_eq!(trail_etl::hash::fnv1a(b""), 0xcbf29ce484222325);
/// assert_eq!(trail_etl::hash::fnv1a(b"a"), 0xaf63dc4c8601ec8c);
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Incremental FNV-1a.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Feed bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The hash so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Which of `count` shards owns `key`.
pub fn shard_of(key: &str, count: u32) -> u32 {
    (fnv1a(key.as_bytes()) % count.max(1) as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_equals_one_shot() {
        let mut f = Fnv::default();
        f.write(b"ab");
        f.write(b"c");
        assert_eq!(f.finish(), fnv1a(b"abc"));
    }

    #[test]
    fn shards_cover_every_key_once() {
        let keys: Vec<String> = (0..1000)
            .map(|i| format!("AWSLogs/1/CloudTrail/r/2024/01/01/{i}.json.gz"))
            .collect();
        let mut counts = [0; 4];
        for k in &keys {
            counts[shard_of(k, 4) as usize] += 1;
        }
        assert_eq!(counts.iter().sum::<i32>(), 1000);
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    }
}
