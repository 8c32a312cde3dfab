//! Zeek's ASCII formatting of `double` (`ODesc::Add(d, true)`, modp_dtoa3 with precision 6).

use std::fmt;

/// A fixed stack buffer for `fmt` output, so formatting a large double never allocates.
struct StackBuf {
    buf: [u8; 400],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends `d` exactly as Zeek's ASCII writer does: fixed notation rounded to at most six
/// decimals with trailing zeros (and a bare point) removed, never an exponent; then ".0" when
/// the value is within 1e-9 of an integer. NaN is "nan", infinities are "inf" and "-inf".
pub fn write_double(out: &mut Vec<u8>, d: f64) {
    if d.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    let neg = d < 0.0;
    let value = d.abs();
    if value >= i32::MAX as f64 {
        // modp_dtoa3 switches to printf("%.6f") above INT_MAX; Rust's fixed-precision
        // formatting is exact with ties to even, like glibc's. 1.8e308 takes 316 bytes.
        let mut b = StackBuf {
            buf: [0; 400],
            len: 0,
        };
        let _ = fmt::Write::write_fmt(&mut b, format_args!("{d:.6}"));
        let mut text = &b.buf[..b.len];
        while let [rest @ .., b'0'] = text {
            text = rest;
        }
        if let [rest @ .., b'.'] = text {
            text = rest;
        }
        out.extend_from_slice(text);
    } else {
        // The same floating-point steps as modp_dtoa3, so rounding matches bit for bit.
        let mut whole = value as i32 as i64;
        let tmp = (value - whole as f64) * 1e6;
        let mut frac = tmp as u32;
        let diff = tmp - frac as f64;
        if diff > 0.5 {
            frac += 1;
            if frac >= 1_000_000 {
                frac = 0;
                whole += 1;
            }
        } else if diff == 0.5 && (frac == 0 || frac & 1 == 1) {
            frac += 1;
        }
        let mut ib = itoa::Buffer::new();
        if neg {
            out.push(b'-');
        }
        out.extend_from_slice(ib.format(whole).as_bytes());
        if frac != 0 {
            let mut count = 6usize;
            while frac.is_multiple_of(10) {
                count -= 1;
                frac /= 10;
            }
            let digits = ib.format(frac);
            out.push(b'.');
            for _ in digits.len()..count {
                out.push(b'0');
            }
            out.extend_from_slice(digits.as_bytes());
        }
    }
    // ODesc::Add: "disambiguate from integer" (nearbyint rounds ties to even).
    if d.is_finite() && (d - d.round_ties_even()).abs() < 1e-9 {
        out.extend_from_slice(b".0");
    }
}
