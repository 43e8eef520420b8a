//! The printer and the argument typing, against what kamcmd 5.6.3 did with the same bytes
//! (captured by serving these bodies to `/usr/sbin/kamcmd` from a stub socket).

use super::*;

fn printed(body: &[u8]) -> String {
    print_kamcmd(&decode_records(body).unwrap())
}

fn fault_printed(body: &[u8]) -> String {
    print_kamcmd_fault(&decode_records(body).unwrap())
}

#[test]
fn binrpc_print_nested_and_unnamed() {
    let body = cat(&[
        &[0x03, 0x25, b'a', 0, 0x10, 0x01],
        &[0x25, b's', 0, 0x03, 0x25, b'x', 0, 0x21, b'y', 0, 0x83],
        &[0x10, 0x07],
        &[0x03, 0x25, b'k', 0, 0x10, 0x02, 0x83],
        &[0x83],
    ]);
    assert_eq!(
        printed(&body),
        "{\n\ta: 1\n\ts: {\n\t\tx: y\n\t}\n\t7\n\t{\n\t\tk: 2\n\t}\n}\n"
    );
    assert_eq!(printed(&[0x03, 0x83]), "{\n}\n");
}

#[test]
fn binrpc_print_arrays() {
    // kamcmd indents an array start by the open containers, without a struct's correction.
    assert_eq!(
        printed(&[0x04, 0x10, 0x01, 0x10, 0x02, 0x84]),
        "\t[\n\t1\n\t2\n]\n"
    );
    assert_eq!(
        printed(&[0x03, 0x04, 0x10, 0x01, 0x84, 0x83]),
        "{\n\t\t[\n\t\t1\n\t]\n}\n"
    );
    let body = [
        0x04, 0x04, 0x10, 0x01, 0x84, 0x03, 0x25, b'a', 0, 0x10, 0x02, 0x83, 0x84,
    ];
    assert_eq!(
        printed(&body),
        "\t[\n\t\t[\n\t\t1\n\t]\n\t{\n\t\ta: 2\n\t}\n]\n"
    );
    let body = [0x04, 0x03, 0x25, b'a', 0, 0x10, 0x01, 0x83, 0x84];
    assert_eq!(printed(&body), "\t[\n\t{\n\t\ta: 1\n\t}\n]\n");
    // A named array prints as the struct it is sent as.
    let named = Value::Struct(vec![Member::named("l", Value::Array(vec![Value::Int(2)]))]);
    let sent = decode_records(&encode_records(std::slice::from_ref(&named)).unwrap()).unwrap();
    assert_eq!(print_kamcmd(&[named]), print_kamcmd(&sent));
    assert_eq!(print_kamcmd(&sent), "{\n\tl: {\n\t\t2\n\t}\n}\n");
}

#[test]
fn binrpc_print_scalars() {
    let doubles = [
        &[0x22, 0x09, 0xc4][..],
        &[0x22, 0x0b, 0xb8],
        &[0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[0x02],
        &[0x10, 0x01],
    ]
    .concat();
    assert_eq!(printed(&doubles), "2.500000\n3\n-0.001000\n0\n1\n");
    let scalars = cat(&[
        &[0x10, 0x05, 0x41],
        b"abc\0",
        &[0x00, 0x40, 0xff, 0xff, 0xff, 0xff],
    ]);
    assert_eq!(printed(&scalars), "5\nabc\n0\n-1\n");
    // `%.*s` stops at a NUL, in STR and BYTES alike.
    assert_eq!(printed(&cat(&[&[0x41], b"a\0b\0"])), "a\n");
    assert_eq!(
        printed(&cat(&[&[0x36], b"xyz", &[0x96, 0x0a], b"abcdefghij"])),
        "xyz\nabcdefghij\n"
    );
    // Integral doubles of any size print without decimals.
    let big = [Value::Double(4_503_599_627_370_496.0), Value::Double(-0.0)];
    assert_eq!(print_kamcmd(&big), "4503599627370496\n0\n");
    assert_eq!(print_kamcmd(&[Value::Double(f64::INFINITY)]), "inf\n");
}

#[test]
fn binrpc_print_faults() {
    let msg = cat(&[&[0x91, 0x1b], b"Failed to set the variable\0"]);
    assert_eq!(
        fault_printed(&cat(&[&[0x20, 0x01, 0x90], &msg])),
        "error: 400 - Failed to set the variable\n"
    );
    assert_eq!(fault_printed(&[0x20, 0x01, 0x90]), "error: 400 - \n");
    assert_eq!(fault_printed(&[]), "error:  - \n");
    let three = cat(&[&[0x20, 0x01, 0x90, 0x41], b"msg\0", &[0x10, 0x07]]);
    assert_eq!(fault_printed(&three), "error: 400 - msg\n7 - \n");
    let four = cat(&[&three, &[0x21, b'x', 0]]);
    assert_eq!(fault_printed(&four), "error: 400 - msg\n7 - x\n");
    let with_struct = [0x03, 0x25, b'a', 0, 0x10, 0x01, 0x83, 0x21, b'm', 0];
    assert_eq!(fault_printed(&with_struct), "error: { - a: 1\n} - m\n");
}

#[test]
fn binrpc_kamcmd_arg_typing() {
    let int = |s: &str, i: i32| assert_eq!(kamcmd_arg(s), Value::Int(i), "{s:?}");
    let dbl = |s: &str, f: f64| assert_eq!(kamcmd_arg(s), Value::Double(f), "{s:?}");
    let st = |s: &str, t: &str| assert_eq!(kamcmd_arg(s), Value::Str(t.into()), "{s:?}");
    // strtol reads the whole word: an INT, truncated to 32 bits as kamcmd does.
    int("1", 1);
    int("-7", -7);
    int("+5", 5);
    int(" 5", 5);
    int("00012", 12);
    int("", 0);
    int("70000", 70000);
    int("4294967296", 0);
    int("2147483648", i32::MIN);
    int("-2147483649", i32::MAX);
    int("99999999999999999999", -1);
    // strtod reads the whole word: a DOUBLE.
    dbl("2.5", 2.5);
    dbl("-2.5", -2.5);
    dbl(" 2.5", 2.5);
    dbl("1e3", 1000.0);
    dbl("1e-3", 0.001);
    dbl("1.", 1.0);
    dbl(".5", 0.5);
    dbl("1.e5", 100_000.0);
    dbl("0x10", 16.0);
    dbl("0x1p4", 16.0);
    dbl("0x.8", 0.5);
    dbl("0X1.8P1", 3.0);
    dbl("inf", f64::INFINITY);
    dbl("INF", f64::INFINITY);
    dbl("-infinity", f64::NEG_INFINITY);
    assert!(matches!(kamcmd_arg("nan"), Value::Double(f) if f.is_nan()));
    assert!(matches!(kamcmd_arg("nan(12)"), Value::Double(f) if f.is_nan()));
    // Else a STR, `s:` dropped.
    st("s:1", "1");
    st("s:", "");
    st("s:s:x", "s:x");
    st("abc", "abc");
    st("5 ", "5 ");
    st("1e", "1e");
    st("0x", "0x");
    st("infx", "infx");
    st("nan(", "nan(");
    st("-", "-");
    st(" ", " ");
    st("1.2.3", "1.2.3");
    st("tcp:127.0.0.1:5060", "tcp:127.0.0.1:5060");
}

#[test]
fn binrpc_kamcmd_arg_request_bytes() {
    // The request kamcmd 5.6.3 sent for `kamcmd m -- "" " 5" "5 " 4294967296 2.5 1e3 0x10
    // s:1 1e 2147483648` (method "m").
    let words = [
        "",
        " 5",
        "5 ",
        "4294967296",
        "2.5",
        "1e3",
        "0x10",
        "s:1",
        "1e",
        "2147483648",
    ];
    let params: Vec<Value> = words.map(kamcmd_arg).into();
    let sent = cat(&[
        &[0x21, b'm', 0],
        &[0x00, 0x10, 0x05, 0x31, b'5', b' ', 0, 0x00],
        &[0x22, 0x09, 0xc4, 0x32, 0x0f, 0x42, 0x40, 0x22, 0x3e, 0x80],
        &[0x21, b'1', 0, 0x31, b'1', b'e', 0],
        &[0x40, 0x80, 0x00, 0x00, 0x00],
    ]);
    assert_eq!(encode_request("m", &params).unwrap(), sent);
}
