//! Rows in the WIT `packed-rows` encoding (sandpiper_packed) as the host's log values.
//!
//! Guest analyzers and handlers write their rows packed (`log.write-packed`), and the host
//! checks each batch against its stream's schema when the guest writes it. After that the
//! batch stays packed on its way to the formats: the built-in ones take it whole into the
//! batch they send to the log-writer thread ([`super::row_batch::RowBatch::push_packed`]),
//! where it is decoded and formatted, so the packet thread neither decodes it a second time
//! nor re-encodes each value.

use std::io;

use sandpiper_packed::{Rows, ValueRef};

use super::Value;

/// A value of a guest row: owned (`log.write` lifts each value) or read in place from packed
/// rows (`log.write-packed`: the strings stay in the batch's bytes, so a row costs no
/// allocation per string). The schema check and the log writers look at either through its
/// [`ValueRef`], so there is one version of each rule.
pub trait GuestValue: std::fmt::Debug {
    fn view(&self) -> ValueRef<'_>;
}

impl GuestValue for ValueRef<'_> {
    fn view(&self) -> ValueRef<'_> {
        *self
    }
}

fn micros(secs: f64) -> i64 {
    (secs * 1e6).round() as i64
}

/// A guest value for the host's log writers (a container header becomes `Unset`).
pub fn scalar(v: ValueRef<'_>) -> Value<'_> {
    match v {
        ValueRef::Unset | ValueRef::SetOf(_) | ValueRef::VectorOf(_) => Value::Unset,
        ValueRef::Boolean(b) => Value::Bool(b),
        ValueRef::Count(c) => Value::Count(c),
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Double(d) => Value::Double(d),
        ValueRef::Time(t) => Value::Time(micros(t)),
        ValueRef::Interval(t) => Value::Interval(micros(t)),
        ValueRef::Str(s) => Value::Str(s),
        ValueRef::Enumeration(s) => Value::Enum(s),
        ValueRef::Addr(a) => Value::Addr(a),
        // Zeek logs a port column as its number; the transport is in the `proto` column.
        ValueRef::Port(number, _) => Value::Port(number),
        ValueRef::Subnet(a, len) => Value::Subnet(a, len),
    }
}

/// Calls `f` with a guest row as host log values: containers become borrowed lists.
pub fn host_row<V: GuestValue, R>(row: &[V], f: impl FnOnce(&[Value<'_>]) -> R) -> R {
    // Containers become borrowed slices: gather their elements first, then build the row.
    let mut elems: Vec<Value<'_>> = Vec::new();
    let mut i = 0;
    while i < row.len() {
        if let ValueRef::SetOf(n) | ValueRef::VectorOf(n) = row[i].view() {
            let end = (i + 1 + n as usize).min(row.len());
            elems.extend(row[i + 1..end].iter().map(|v| scalar(v.view())));
            i = end;
        } else {
            i += 1;
        }
    }
    let mut cells: Vec<Value<'_>> = Vec::with_capacity(row.len());
    let mut at = 0;
    let mut i = 0;
    while i < row.len() {
        if let ValueRef::SetOf(n) | ValueRef::VectorOf(n) = row[i].view() {
            let end = (i + 1 + n as usize).min(row.len());
            let k = end - i - 1;
            cells.push(Value::List(&elems[at..at + k]));
            at += k;
            i = end;
        } else {
            cells.push(scalar(row[i].view()));
            i += 1;
        }
    }
    f(&cells)
}

/// Calls `f` with each row of a packed batch as host log values, in order. The batch was
/// checked when the guest wrote it; one that does not decode (a host bug) is an error
/// before or between rows, never a wrong row.
pub fn for_each_row(
    count: u32,
    bytes: &[u8],
    mut f: impl FnMut(&[Value<'_>]) -> io::Result<()>,
) -> io::Result<()> {
    let mut rows = Rows::new(count, bytes);
    let mut refs = Vec::new();
    while let Some(decoded) = rows.next_into(&mut refs) {
        decoded.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        host_row(&refs, &mut f)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandpiper_packed::Transport;

    #[test]
    fn containers_become_lists_and_times_microseconds() {
        let row = [
            ValueRef::Time(1.5),
            ValueRef::SetOf(2),
            ValueRef::Str("a"),
            ValueRef::Str("b"),
            ValueRef::Port(53, Transport::Udp),
            ValueRef::VectorOf(0),
            ValueRef::Count(7),
        ];
        host_row(&row, |cells| {
            assert_eq!(
                cells,
                [
                    Value::Time(1_500_000),
                    Value::List(&[Value::Str("a"), Value::Str("b")]),
                    Value::Port(53),
                    Value::List(&[]),
                    Value::Count(7),
                ]
            );
        });
    }

    #[test]
    fn a_container_cut_short_takes_what_is_there() {
        let row = [ValueRef::SetOf(3), ValueRef::Str("a")];
        host_row(&row, |cells| {
            assert_eq!(cells, [Value::List(&[Value::Str("a")])]);
        });
    }
}
