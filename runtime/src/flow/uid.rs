//! Connection uids in Zeek's format: "C" followed by base62 digits of 96 random bits.

/// splitmix64: small, fast, good enough for identifiers (not for secrets).
#[derive(Debug, Clone)]
pub struct UidGen {
    state: u64,
}

impl UidGen {
    /// `seed` makes the sequence deterministic (for tests), as Zeek's seed file does.
    pub fn new(seed: Option<u64>) -> Self {
        let state = seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            t ^ ((std::process::id() as u64) << 32)
        });
        UidGen { state }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_uid(&mut self) -> Uid {
        Uid(self.next_u64(), self.next_u64() >> 32)
    }
}

/// 96 random bits; rendered on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Uid(pub u64, pub u64);

const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl Uid {
    /// Writes "C" + base62 into `buf` and returns the text.
    pub fn render<'a>(&self, prefix: u8, buf: &'a mut [u8; 24]) -> &'a str {
        buf[0] = prefix;
        let mut n = 1;
        for mut v in [self.0, self.1] {
            let mut tmp = [0u8; 11];
            let mut k = 0;
            loop {
                tmp[k] = DIGITS[(v % 62) as usize];
                k += 1;
                v /= 62;
                if v == 0 {
                    break;
                }
            }
            for i in (0..k).rev() {
                buf[n] = tmp[i];
                n += 1;
            }
        }
        std::str::from_utf8(&buf[..n]).unwrap_or("C")
    }

    pub fn to_string_with(&self, prefix: u8) -> String {
        let mut b = [0u8; 24];
        self.render(prefix, &mut b).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_is_deterministic_and_zeek_shaped() {
        let mut a = UidGen::new(Some(42));
        let mut b = UidGen::new(Some(42));
        let ua = a.next_uid().to_string_with(b'C');
        assert_eq!(ua, b.next_uid().to_string_with(b'C'));
        assert!(ua.starts_with('C'));
        assert!(ua.len() >= 12 && ua.len() <= 18, "{ua}");
        assert!(ua[1..].bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(ua, a.next_uid().to_string_with(b'C'));
    }
}
