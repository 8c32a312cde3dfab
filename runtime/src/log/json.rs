//! JSON lines with Zeek's field names (`id.orig_h`, ...); unset fields are omitted.

use std::io::{self, Write};

use super::{write_addr, write_micros, write_subnet, LogWriter, Schema, Value};

pub struct JsonWriter<W: Write> {
    out: W,
    rows: JsonRows,
}

impl<W: Write + Send> JsonWriter<W> {
    pub fn new(out: W, schema: &Schema) -> Self {
        JsonWriter {
            out,
            rows: JsonRows::new(schema),
        }
    }
}

/// Formats rows of one schema: `"name":` for each column is escaped once, up front.
pub struct JsonRows {
    keys: Vec<Box<[u8]>>,
}

impl JsonRows {
    pub fn new(schema: &Schema) -> Self {
        let keys = schema
            .fields
            .iter()
            .map(|f| {
                let mut k = Vec::with_capacity(f.name.len() + 3);
                // Writing into a Vec cannot fail.
                let _ = write_json_str(&mut k, &f.name);
                k.push(b':');
                k.into_boxed_slice()
            })
            .collect();
        JsonRows { keys }
    }

    /// Writes one row as a JSON object and a newline; unset columns are left out.
    pub fn write_row(&self, out: &mut impl Write, row: &[Value<'_>]) -> io::Result<()> {
        let mut first = true;
        out.write_all(b"{")?;
        for (key, v) in self.keys.iter().zip(row) {
            if matches!(v, Value::Unset) {
                continue;
            }
            if !first {
                out.write_all(b",")?;
            }
            first = false;
            out.write_all(key)?;
            write_json_value(out, v)?;
        }
        out.write_all(b"}\n")
    }
}

fn write_json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            _ => None,
        };
        if esc.is_some() || b < 0x20 {
            out.write_all(&bytes[start..i])?;
            match esc {
                Some(e) => out.write_all(e)?,
                None => write!(out, "\\u{:04x}", b)?,
            }
            start = i + 1;
        }
    }
    out.write_all(&bytes[start..])?;
    out.write_all(b"\"")
}

/// Writes one value. `Unset` only reaches here inside a container, where Zeek writes null.
fn write_json_value(out: &mut impl Write, v: &Value<'_>) -> io::Result<()> {
    let mut ib = itoa::Buffer::new();
    match *v {
        Value::Unset => out.write_all(b"null"),
        Value::Time(us) | Value::Interval(us) => write_micros(out, us),
        Value::Str(s) | Value::Enum(s) => write_json_str(out, s),
        Value::Addr(a) => {
            out.write_all(b"\"")?;
            write_addr(out, a)?;
            out.write_all(b"\"")
        }
        Value::Subnet(a, len) => {
            out.write_all(b"\"")?;
            write_subnet(out, a, len)?;
            out.write_all(b"\"")
        }
        Value::Port(p) => out.write_all(ib.format(p).as_bytes()),
        Value::Count(c) => out.write_all(ib.format(c).as_bytes()),
        Value::Int(i) => out.write_all(ib.format(i).as_bytes()),
        Value::Double(d) => write_json_double(out, d),
        Value::Bool(b) => out.write_all(if b { b"true" } else { b"false" }),
        Value::Set(items) => {
            out.write_all(b"[")?;
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_json_str(out, s)?;
            }
            out.write_all(b"]")
        }
        Value::List(items) => {
            out.write_all(b"[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                write_json_value(out, item)?;
            }
            out.write_all(b"]")
        }
    }
}

impl<W: Write + Send> LogWriter for JsonWriter<W> {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()> {
        self.rows.write_row(&mut self.out, row)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Writes a `double` exactly as Zeek's JSON formatter does: rapidjson's `Writer::Double`
/// (Grisu2 digits, then rapidjson's layout: "1.0", "0.001234", "1e30", "1.5e-7"), with
/// NaN and infinities as `null` (Zeek's `NullDoubleWriter`).
pub fn write_json_double(out: &mut impl Write, d: f64) -> io::Result<()> {
    if !d.is_finite() {
        return out.write_all(b"null");
    }
    if d == 0.0 {
        return out.write_all(if d.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
    }
    if d < 0.0 {
        out.write_all(b"-")?;
    }
    let mut digits = [0u8; 32];
    let (len, k) = grisu2::digits(d.abs(), &mut digits);
    prettify(out, &digits[..len], k)
}

/// rapidjson's `Prettify` (with the default, unlimited decimal places): the value is
/// `digits × 10^k`.
fn prettify(out: &mut impl Write, digits: &[u8], k: i32) -> io::Result<()> {
    let length = digits.len() as i32;
    let kk = length + k; // 10^(kk-1) <= v < 10^kk
    let zeros = |out: &mut dyn Write, n: i32| -> io::Result<()> {
        for _ in 0..n {
            out.write_all(b"0")?;
        }
        Ok(())
    };
    if 0 <= k && kk <= 21 {
        // 1234e7 -> 12340000000.0
        out.write_all(digits)?;
        zeros(out, k)?;
        out.write_all(b".0")
    } else if 0 < kk && kk <= 21 {
        // 1234e-2 -> 12.34
        let (int, frac) = digits.split_at(kk as usize);
        out.write_all(int)?;
        out.write_all(b".")?;
        out.write_all(frac)
    } else if -6 < kk && kk <= 0 {
        // 1234e-6 -> 0.001234
        out.write_all(b"0.")?;
        zeros(out, -kk)?;
        out.write_all(digits)
    } else {
        // 1e30, 1234e30 -> 1.234e33
        out.write_all(&digits[..1])?;
        if length > 1 {
            out.write_all(b".")?;
            out.write_all(&digits[1..])?;
        }
        let mut ib = itoa::Buffer::new();
        out.write_all(b"e")?;
        out.write_all(ib.format(kk - 1).as_bytes())
    }
}

/// Grisu2 as implemented in rapidjson (internal/diyfp.h and internal/dtoa.h), the digit
/// generator Zeek's JSON logs use. It is not always the shortest representation (unlike Ryu),
/// so it is reproduced step by step rather than approximated with another algorithm.
mod grisu2 {
    const DP_SIGNIFICAND_SIZE: i32 = 52;
    const DP_EXPONENT_BIAS: i32 = 0x3FF + DP_SIGNIFICAND_SIZE;
    const DP_MIN_EXPONENT: i32 = -DP_EXPONENT_BIAS;
    const DP_HIDDEN_BIT: u64 = 1 << DP_SIGNIFICAND_SIZE;
    const DP_SIGNIFICAND_MASK: u64 = DP_HIDDEN_BIT - 1;
    const DIY_SIGNIFICAND_SIZE: i32 = 64;

    #[derive(Clone, Copy, Debug)]
    struct DiyFp {
        f: u64,
        e: i32,
    }

    impl DiyFp {
        fn from_f64(d: f64) -> DiyFp {
            let u = d.to_bits();
            let biased_e = ((u >> DP_SIGNIFICAND_SIZE) & 0x7FF) as i32;
            let significand = u & DP_SIGNIFICAND_MASK;
            if biased_e != 0 {
                DiyFp {
                    f: significand + DP_HIDDEN_BIT,
                    e: biased_e - DP_EXPONENT_BIAS,
                }
            } else {
                DiyFp {
                    f: significand,
                    e: DP_MIN_EXPONENT + 1,
                }
            }
        }

        fn sub(self, rhs: DiyFp) -> DiyFp {
            DiyFp {
                f: self.f.wrapping_sub(rhs.f),
                e: self.e,
            }
        }

        /// 64×64-bit product, upper half rounded half up.
        fn mul(self, rhs: DiyFp) -> DiyFp {
            let p = u128::from(self.f) * u128::from(rhs.f);
            let mut h = (p >> 64) as u64;
            if p as u64 & (1 << 63) != 0 {
                h += 1;
            }
            DiyFp {
                f: h,
                e: self.e + rhs.e + 64,
            }
        }

        fn normalize(self) -> DiyFp {
            let s = self.f.leading_zeros();
            DiyFp {
                f: self.f << s,
                e: self.e - s as i32,
            }
        }

        fn normalize_boundary(self) -> DiyFp {
            let mut res = self;
            while res.f & (DP_HIDDEN_BIT << 1) == 0 {
                res.f <<= 1;
                res.e -= 1;
            }
            let shift = DIY_SIGNIFICAND_SIZE - DP_SIGNIFICAND_SIZE - 2;
            res.f <<= shift;
            res.e -= shift;
            res
        }

        /// (minus, plus) boundaries, both with the exponent of the normalized plus.
        fn normalized_boundaries(self) -> (DiyFp, DiyFp) {
            let pl = DiyFp {
                f: (self.f << 1) + 1,
                e: self.e - 1,
            }
            .normalize_boundary();
            let mut mi = if self.f == DP_HIDDEN_BIT {
                DiyFp {
                    f: (self.f << 2) - 1,
                    e: self.e - 2,
                }
            } else {
                DiyFp {
                    f: (self.f << 1) - 1,
                    e: self.e - 1,
                }
            };
            mi.f <<= mi.e - pl.e;
            mi.e = pl.e;
            (mi, pl)
        }
    }

    /// 10^-348, 10^-340, ..., 10^340 as normalized 64-bit significands (rounded to nearest)
    /// and binary exponents. Computed with exact rational arithmetic; the standard Grisu table.
    #[rustfmt::skip]
    const CACHED_POWERS: [(u64, i16); 87] = [
        (0xfa8fd5a0081c0288, -1220), (0xbaaee17fa23ebf76, -1193), (0x8b16fb203055ac76, -1166),
        (0xcf42894a5dce35ea, -1140), (0x9a6bb0aa55653b2d, -1113), (0xe61acf033d1a45df, -1087),
        (0xab70fe17c79ac6ca, -1060), (0xff77b1fcbebcdc4f, -1034), (0xbe5691ef416bd60c, -1007),
        (0x8dd01fad907ffc3c, -980), (0xd3515c2831559a83, -954), (0x9d71ac8fada6c9b5, -927),
        (0xea9c227723ee8bcb, -901), (0xaecc49914078536d, -874), (0x823c12795db6ce57, -847),
        (0xc21094364dfb5637, -821), (0x9096ea6f3848984f, -794), (0xd77485cb25823ac7, -768),
        (0xa086cfcd97bf97f4, -741), (0xef340a98172aace5, -715), (0xb23867fb2a35b28e, -688),
        (0x84c8d4dfd2c63f3b, -661), (0xc5dd44271ad3cdba, -635), (0x936b9fcebb25c996, -608),
        (0xdbac6c247d62a584, -582), (0xa3ab66580d5fdaf6, -555), (0xf3e2f893dec3f126, -529),
        (0xb5b5ada8aaff80b8, -502), (0x87625f056c7c4a8b, -475), (0xc9bcff6034c13053, -449),
        (0x964e858c91ba2655, -422), (0xdff9772470297ebd, -396), (0xa6dfbd9fb8e5b88f, -369),
        (0xf8a95fcf88747d94, -343), (0xb94470938fa89bcf, -316), (0x8a08f0f8bf0f156b, -289),
        (0xcdb02555653131b6, -263), (0x993fe2c6d07b7fac, -236), (0xe45c10c42a2b3b06, -210),
        (0xaa242499697392d3, -183), (0xfd87b5f28300ca0e, -157), (0xbce5086492111aeb, -130),
        (0x8cbccc096f5088cc, -103), (0xd1b71758e219652c, -77), (0x9c40000000000000, -50),
        (0xe8d4a51000000000, -24), (0xad78ebc5ac620000, 3), (0x813f3978f8940984, 30),
        (0xc097ce7bc90715b3, 56), (0x8f7e32ce7bea5c70, 83), (0xd5d238a4abe98068, 109),
        (0x9f4f2726179a2245, 136), (0xed63a231d4c4fb27, 162), (0xb0de65388cc8ada8, 189),
        (0x83c7088e1aab65db, 216), (0xc45d1df942711d9a, 242), (0x924d692ca61be758, 269),
        (0xda01ee641a708dea, 295), (0xa26da3999aef774a, 322), (0xf209787bb47d6b85, 348),
        (0xb454e4a179dd1877, 375), (0x865b86925b9bc5c2, 402), (0xc83553c5c8965d3d, 428),
        (0x952ab45cfa97a0b3, 455), (0xde469fbd99a05fe3, 481), (0xa59bc234db398c25, 508),
        (0xf6c69a72a3989f5c, 534), (0xb7dcbf5354e9bece, 561), (0x88fcf317f22241e2, 588),
        (0xcc20ce9bd35c78a5, 614), (0x98165af37b2153df, 641), (0xe2a0b5dc971f303a, 667),
        (0xa8d9d1535ce3b396, 694), (0xfb9b7cd9a4a7443c, 720), (0xbb764c4ca7a44410, 747),
        (0x8bab8eefb6409c1a, 774), (0xd01fef10a657842c, 800), (0x9b10a4e5e9913129, 827),
        (0xe7109bfba19c0c9d, 853), (0xac2820d9623bf429, 880), (0x80444b5e7aa7cf85, 907),
        (0xbf21e44003acdd2d, 933), (0x8e679c2f5e44ff8f, 960), (0xd433179d9c8cb841, 986),
        (0x9e19db92b4e31ba9, 1013), (0xeb96bf6ebadf77d9, 1039), (0xaf87023b9bf0ee6b, 1066),
    ];

    /// The cached power c with K such that c ≈ 10^-K, chosen for binary exponent `e`.
    fn cached_power(e: i32) -> (DiyFp, i32) {
        // 78913 ≈ log10(2) × 2^18; arithmetic shift = floor, as in rapidjson.
        let k = (347 + 8 - (((61 + e) * 78913) >> 18)) as u32;
        let index = (k / 8) as usize;
        let big_k = 348 - (k & !7) as i32;
        let (f, e) = CACHED_POWERS[index];
        (DiyFp { f, e: i32::from(e) }, big_k)
    }

    const POW10: [u32; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];

    fn count_decimal_digit32(n: u32) -> i32 {
        // rapidjson never sees 10 digits here and caps the count at 9.
        POW10[1..9].iter().take_while(|&&p| n >= p).count() as i32 + 1
    }

    fn grisu_round(
        buf: &mut [u8],
        len: usize,
        delta: u64,
        mut rest: u64,
        ten_kappa: u64,
        wp_w: u64,
    ) {
        while rest < wp_w
            && delta.wrapping_sub(rest) >= ten_kappa
            && (rest.wrapping_add(ten_kappa) < wp_w
                || wp_w.wrapping_sub(rest) > rest.wrapping_add(ten_kappa).wrapping_sub(wp_w))
        {
            buf[len - 1] -= 1;
            rest = rest.wrapping_add(ten_kappa);
        }
    }

    /// Generates the digits of `w` within `delta` of the upper bound `mp`; returns the digit
    /// count and adds the decimal exponent adjustment to `k`.
    fn digit_gen(w: DiyFp, mp: DiyFp, mut delta: u64, buf: &mut [u8], k: &mut i32) -> usize {
        let shift = (-mp.e) as u32;
        let one = DiyFp {
            f: 1u64 << shift,
            e: mp.e,
        };
        let wp_w = mp.sub(w);
        let mut p1 = (mp.f >> shift) as u32;
        let mut p2 = mp.f & (one.f - 1);
        let mut kappa = count_decimal_digit32(p1);
        let mut len = 0usize;

        while kappa > 0 {
            let div = POW10[(kappa - 1) as usize];
            let d = p1 / div;
            p1 %= div;
            if d != 0 || len != 0 {
                buf[len] = b'0' + d as u8;
                len += 1;
            }
            kappa -= 1;
            let tmp = (u64::from(p1) << shift) + p2;
            if tmp <= delta {
                *k += kappa;
                grisu_round(
                    buf,
                    len,
                    delta,
                    tmp,
                    u64::from(POW10[kappa as usize]) << shift,
                    wp_w.f,
                );
                return len;
            }
        }

        loop {
            p2 = p2.wrapping_mul(10);
            delta = delta.wrapping_mul(10);
            let d = (p2 >> shift) as u8;
            if d != 0 || len != 0 {
                buf[len] = b'0' + d;
                len += 1;
            }
            p2 &= one.f - 1;
            kappa -= 1;
            if p2 < delta {
                *k += kappa;
                let index = -kappa;
                let scale = if index < 9 {
                    u64::from(POW10[index as usize])
                } else {
                    0
                };
                grisu_round(buf, len, delta, p2, one.f, wp_w.f.wrapping_mul(scale));
                return len;
            }
        }
    }

    /// The Grisu2 digits of a finite `value > 0`: writes them to `buf` and returns
    /// `(count, k)` with `value ≈ digits × 10^k`.
    pub(super) fn digits(value: f64, buf: &mut [u8; 32]) -> (usize, i32) {
        let v = DiyFp::from_f64(value);
        let (w_m, w_p) = v.normalized_boundaries();
        let (c_mk, mut k) = cached_power(w_p.e);
        let w = v.normalize().mul(c_mk);
        let mut wp = w_p.mul(c_mk);
        let mut wm = w_m.mul(c_mk);
        wm.f = wm.f.wrapping_add(1);
        wp.f = wp.f.wrapping_sub(1);
        let len = digit_gen(w, wp, wp.f.wrapping_sub(wm.f), buf, &mut k);
        (len, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Field, FieldType, ScalarType};

    fn row_json(schema: &Schema, row: &[Value<'_>]) -> String {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf, schema);
        w.write_row(row).unwrap();
        w.finish().unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn dbl(d: f64) -> String {
        let mut buf = Vec::new();
        write_json_double(&mut buf, d).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn zeek_json_shape() {
        const F: &[Field] = &[
            Field::new_static("ts", FieldType::Time),
            Field::new_static("id.orig_h", FieldType::Addr),
            Field::new_static("id.orig_p", FieldType::Port),
            Field::new_static("service", FieldType::String),
            Field::new_static("local_orig", FieldType::Bool),
            Field::new_static("tunnel_parents", FieldType::SetString),
        ];
        let line = row_json(
            &Schema::new_static("conn", F),
            &[
                Value::Time(1_500_000),
                Value::Addr("10.0.0.1".parse().unwrap()),
                Value::Port(80),
                Value::Unset,
                Value::Bool(true),
                Value::Set(&["C1\"x"]),
            ],
        );
        assert_eq!(
            line,
            "{\"ts\":1.500000,\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":80,\"local_orig\":true,\"tunnel_parents\":[\"C1\\\"x\"]}\n"
        );
    }

    #[test]
    fn dynamic_schema_new_types() {
        let schema = Schema::new(
            String::from("guest"),
            vec![
                Field::new(String::from("n"), FieldType::Int),
                Field::new(String::from("d"), FieldType::Double),
                Field::new(String::from("net"), FieldType::Subnet),
                Field::new(String::from("ports"), FieldType::Set(ScalarType::Port)),
                Field::new(String::from("names"), FieldType::Vector(ScalarType::String)),
                Field::new(String::from("empty"), FieldType::Vector(ScalarType::Count)),
                Field::new(String::from("gone"), FieldType::Double),
                Field::new(String::from("nan"), FieldType::Double),
            ],
        );
        let line = row_json(
            &schema,
            &[
                Value::Int(-42),
                Value::Double(1.5),
                Value::Subnet("2001:db8:1::7".parse().unwrap(), 32),
                Value::List(&[Value::Port(53), Value::Port(5353)]),
                Value::List(&[Value::Str("a\"b"), Value::Str(""), Value::Unset]),
                Value::List(&[]),
                Value::Unset,
                Value::Double(f64::NAN),
            ],
        );
        assert_eq!(
            line,
            "{\"n\":-42,\"d\":1.5,\"net\":\"2001:db8::/32\",\"ports\":[53,5353],\
             \"names\":[\"a\\\"b\",\"\",null],\"empty\":[],\"nan\":null}\n"
        );
    }

    #[test]
    fn lists_of_every_scalar_type() {
        let schema = Schema::new(
            "lists",
            vec![Field::new("l", FieldType::Vector(ScalarType::Int))],
        );
        let v4 = "192.168.1.1".parse().unwrap();
        let v6 = "fe80::1".parse().unwrap();
        let cases: &[(Value<'_>, &str)] = &[
            (Value::List(&[Value::Time(1_500_000)]), "[1.500000]"),
            (Value::List(&[Value::Interval(-2)]), "[-0.000002]"),
            (
                Value::List(&[Value::Addr(v4), Value::Addr(v6)]),
                "[\"192.168.1.1\",\"fe80::1\"]",
            ),
            (
                Value::List(&[Value::Enum("Notice::ACTION_LOG")]),
                "[\"Notice::ACTION_LOG\"]",
            ),
            (
                Value::List(&[Value::Count(u64::MAX)]),
                "[18446744073709551615]",
            ),
            (
                Value::List(&[Value::Int(i64::MIN), Value::Int(0)]),
                "[-9223372036854775808,0]",
            ),
            (
                Value::List(&[Value::Double(2.0), Value::Double(0.1)]),
                "[2.0,0.1]",
            ),
            (
                Value::List(&[Value::Bool(true), Value::Bool(false)]),
                "[true,false]",
            ),
            (
                Value::List(&[Value::Subnet(v4, 24), Value::Subnet(v6, 10)]),
                "[\"192.168.1.0/24\",\"fe80::/10\"]",
            ),
            (Value::List(&[Value::Str("a,b")]), "[\"a,b\"]"),
            (Value::List(&[]), "[]"),
        ];
        for (v, want) in cases {
            assert_eq!(
                row_json(&schema, &[*v]),
                format!("{{\"l\":{want}}}\n"),
                "{v:?}"
            );
        }
    }

    /// Zeek's own baseline for doubles in JSON logs
    /// (testing/btest/Baseline/scripts.base.frameworks.logging.ascii-double/json.log).
    #[test]
    #[allow(clippy::excessive_precision)] // Zeek's test script literal, kept verbatim.
    fn double_matches_zeek_baseline() {
        let cases: &[(f64, &str)] = &[
            (2153226000.0, "2153226000.0"),
            (2153226000.1, "2153226000.1"),
            (2153226000.123456789, "2153226000.123457"),
            (1.0, "1.0"),
            (1.1, "1.1"),
            (1.123456789, "1.123456789"),
            (-1.123456789, "-1.123456789"),
            (1.1234, "1.1234"),
            (0.1234, "0.1234"),
            (5e4, "50000.0"),
            (-5e4, "-50000.0"),
            (3.14e15, "3140000000000000.0"),
            (-3.14e15, "-3140000000000000.0"),
            (1.79e308, "1.79e308"),
            (-1.79e308, "-1.79e308"),
            (1.23456789e-5, "0.0000123456789"),
            (2.23e-308, "2.23e-308"),
            (-2.23e-308, "-2.23e-308"),
            (f64::INFINITY, "null"),
            (f64::NEG_INFINITY, "null"),
            (-0.0, "-0.0"),
            (f64::NAN, "null"),
        ];
        for (d, want) in cases {
            assert_eq!(dbl(*d), *want, "{d:e}");
        }
    }

    /// rapidjson's own dtoa expectations (test/unittest/dtoatest.cpp).
    #[test]
    fn double_matches_rapidjson_tests() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (1.2345, "1.2345"),
            (1.2345678, "1.2345678"),
            (0.123456789012, "0.123456789012"),
            (1234567.8, "1234567.8"),
            (-79.39773355813419, "-79.39773355813419"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1e30, "1e30"),
            (1.234567890123456e30, "1.234567890123456e30"),
            (5e-324, "5e-324"),
            (2.225073858507201e-308, "2.225073858507201e-308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (1e21, "1e21"),
            (1e20, "100000000000000000000.0"),
            (123e18, "123000000000000000000.0"),
            (1.5e-7, "1.5e-7"),
        ];
        for (d, want) in cases {
            assert_eq!(dbl(*d), *want, "{d:e}");
        }
    }

    /// Grisu2 output always reads back as the same double, and is usually Ryu's shortest.
    #[test]
    fn double_round_trips() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut differs = 0;
        let n = 200_000;
        for i in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Alternate raw bit patterns with "human" decimals like 12.345.
            let d = if i % 2 == 0 {
                f64::from_bits(x)
            } else {
                (x % 10_000_000) as f64 / 1000.0
            };
            if !d.is_finite() || d == 0.0 {
                continue;
            }
            let s = dbl(d);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), d.to_bits(), "{s}");
            let mut rb = ryu::Buffer::new();
            let r: f64 = rb.format_finite(d).parse().unwrap();
            if s.trim_end_matches(".0") != rb.format_finite(d).trim_end_matches(".0") {
                differs += 1;
            }
            assert_eq!(r.to_bits(), d.to_bits());
        }
        // Layout differs from Ryu's for large/small exponents, so this is only a sanity bound.
        assert!(differs < n, "{differs}");
    }
}
