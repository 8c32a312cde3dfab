use super::*;

fn every_kind() -> Vec<ValueRef<'static>> {
    vec![
        ValueRef::Unset,
        ValueRef::Boolean(true),
        ValueRef::Boolean(false),
        ValueRef::Count(u64::MAX),
        ValueRef::Integer(-7),
        ValueRef::Double(0.1),
        ValueRef::Time(1_300_475_167.096535),
        ValueRef::Interval(-0.000001),
        ValueRef::Str("ünïcode\t,"),
        ValueRef::Str(""),
        ValueRef::Addr("10.0.0.1".parse().unwrap()),
        ValueRef::Addr("2001:db8::1".parse().unwrap()),
        ValueRef::Port(53, Transport::Udp),
        ValueRef::Port(0, Transport::Unknown),
        ValueRef::Subnet("192.168.0.0".parse().unwrap(), 16),
        ValueRef::Subnet("fe80::".parse().unwrap(), 10),
        ValueRef::Enumeration("Notice::ACTION_LOG"),
        ValueRef::SetOf(2),
        ValueRef::Str("a"),
        ValueRef::Str("b"),
        ValueRef::VectorOf(0),
    ]
}

fn encode(rows: &[Vec<ValueRef<'_>>]) -> Encoder {
    let mut e = Encoder::new();
    for row in rows {
        e.begin_row();
        for v in row {
            e.push(*v);
        }
        e.end_row();
    }
    e
}

fn decode(count: u32, bytes: &[u8]) -> Result<Vec<Vec<ValueRef<'_>>>, Error> {
    let mut rows = Rows::new(count, bytes);
    let mut out = Vec::new();
    let mut row = Vec::new();
    while let Some(r) = rows.next_into(&mut row) {
        r?;
        out.push(row.clone());
    }
    Ok(out)
}

#[test]
fn every_value_kind_round_trips() {
    let rows = vec![every_kind(), vec![], vec![ValueRef::Count(1)]];
    let e = encode(&rows);
    assert_eq!(e.rows(), 3);
    assert_eq!(decode(e.rows(), e.bytes()).unwrap(), rows);
}

#[test]
fn the_format_is_the_documented_one() {
    let e = encode(&[vec![
        ValueRef::Str("ab"),
        ValueRef::Port(80, Transport::Tcp),
        ValueRef::Addr("1.2.3.4".parse().unwrap()),
        ValueRef::Boolean(true),
    ]]);
    let expected: &[u8] = &[
        4, 0, 0, 0, // four values
        7, 2, 0, 0, 0, b'a', b'b', // str "ab"
        9, 80, 0, 0, // port 80/tcp
        8, 4, 1, 2, 3, 4, // addr 1.2.3.4
        1, 1, // true
    ];
    assert_eq!(e.bytes(), expected);
}

#[test]
fn an_open_row_is_not_part_of_the_bytes_and_clear_keeps_nothing() {
    let mut e = encode(&[vec![ValueRef::Count(5)]]);
    let done = e.bytes().len();
    e.begin_row();
    e.push(ValueRef::Str("half"));
    assert_eq!(e.bytes().len(), done);
    assert_eq!(e.rows(), 1);
    e.end_row();
    assert_eq!(e.rows(), 2);
    e.clear();
    assert!(e.is_empty());
    assert!(e.bytes().is_empty());
    assert_eq!(decode(0, e.bytes()).unwrap(), Vec::<Vec<ValueRef>>::new());
}

#[test]
fn every_cut_of_a_batch_is_an_error_never_a_panic() {
    let e = encode(&[every_kind(), every_kind()]);
    let bytes = e.bytes();
    for len in 0..bytes.len() {
        let err = decode(2, &bytes[..len]).unwrap_err();
        assert!(err.offset <= len, "{err} for {len} bytes");
        assert!(err.cut, "{err} for {len} bytes");
    }
}

#[test]
fn malformed_bytes_say_what_is_wrong() {
    let bad = |bytes: &[u8]| decode(1, bytes).unwrap_err();
    assert_eq!(bad(&[1, 0, 0, 0, 99]).what, "an unknown value tag");
    assert_eq!(bad(&[1, 0, 0, 0, 1, 2]).what, "a boolean other than 0 or 1");
    assert_eq!(
        bad(&[1, 0, 0, 0, 8, 5, 0]).what,
        "an address family other than 4 or 6"
    );
    assert_eq!(bad(&[1, 0, 0, 0, 9, 1, 0, 7]).what, "an unknown transport");
    assert_eq!(
        bad(&[1, 0, 0, 0, 7, 1, 0, 0, 0, 0xff]).what,
        "a string that is not UTF-8"
    );
    // A value count no batch could hold is refused before anything is reserved for it.
    let e = bad(&[0xff, 0xff, 0xff, 0xff, 0]);
    assert!(e.cut && e.what == "a row's values", "{e}");
    // A string length beyond the end.
    let e = bad(&[1, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff, b'a']);
    assert!(e.cut && e.what == "a string", "{e}");
    // Bytes after the promised rows, and fewer rows than promised.
    let one = encode(&[vec![ValueRef::Unset]]);
    assert_eq!(
        decode(0, one.bytes()).unwrap_err().what,
        "bytes after the last row"
    );
    assert!(decode(2, one.bytes()).unwrap_err().cut);
}

#[test]
fn after_an_error_the_reader_stops() {
    let mut rows = Rows::new(3, &[1, 0, 0, 0, 99, 1, 0, 0, 0, 0]);
    let mut row = vec![ValueRef::Unset];
    assert!(matches!(rows.next_into(&mut row), Some(Err(_))));
    assert!(row.is_empty());
    assert!(rows.next_into(&mut row).is_none());
    assert_eq!(rows.remaining(), 0);
}

#[test]
fn a_reused_encoder_allocates_nothing_more() {
    let mut e = Encoder::new();
    let row = every_kind();
    let refill = |e: &mut Encoder| {
        e.clear();
        for _ in 0..100 {
            e.begin_row();
            for v in &row {
                e.push(*v);
            }
            e.end_row();
        }
    };
    refill(&mut e);
    refill(&mut e);
    let cap = e.bytes.capacity();
    refill(&mut e);
    assert_eq!(e.bytes.capacity(), cap);
    assert_eq!(decode(e.rows(), e.bytes()).unwrap().len(), 100);
}

#[test]
fn take_and_restore_move_the_rows_without_copying() {
    let mut e = encode(&[vec![ValueRef::Count(1)], vec![ValueRef::Str("x")]]);
    let before = e.bytes().to_vec();
    let (rows, bytes) = e.take();
    assert_eq!((rows, bytes.as_slice()), (2, before.as_slice()));
    assert!(e.is_empty() && e.bytes().is_empty());
    let ptr = bytes.as_ptr();
    e.restore(rows, bytes);
    assert_eq!(e.rows(), 2);
    assert_eq!(e.bytes(), before.as_slice());
    assert_eq!(e.bytes().as_ptr(), ptr);
}
