#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Differential test of the SIP framer: random header blocks built from the
//! pieces the candidate search keys on (any-case names, compact `l`, `-l` and
//! `r-e` in other places, folding, bare LF, lines starting with CR, bad and
//! duplicate values), fed in random reads, and chunked messages (for
//! `accept_no_cl`: Transfer-Encoding forms, hex sizes in any case, extensions
//! up to and past the line limit, trailers, wrong sizes, bad line endings).
//! The packed-search framer, the every-line framer and the original
//! line-by-line framer must agree after every read
//! (`sipwire_frame::fuzzing::framer_differential`).

mod common;

use common::Rng;
use sipwire_frame::fuzzing::framer_differential;

fn random_case(rng: &mut Rng, s: &str) -> String {
    s.chars()
        .map(|c| {
            if rng.chance(50) {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fn eol(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0 => "\n",
        1 => "\r\r\n",
        _ => "\r\n",
    }
}

fn ws(rng: &mut Rng) -> &'static str {
    [" ", "", "", "\t", "  ", " \t"][rng.below(6)]
}

fn value(rng: &mut Rng) -> String {
    match rng.below(14) {
        0 => String::new(),
        1 => "-1".into(),
        2 => "1x".into(),
        3 => "18446744073709551616".into(),
        4 => "000000000000000000000000007".into(),
        5 => "1 2".into(),
        6 => format!("{}\r\n {}", rng.below(3), ""),
        7 => format!("\r\n\t{}", rng.below(3)),
        8 => "123456789012345678".into(),
        9 => "1234567890123456789".into(),
        _ => rng.below(4).to_string(),
    }
}

fn header(rng: &mut Rng) -> String {
    let e = eol(rng);
    match rng.below(16) {
        0 | 1 => {
            let name = random_case(rng, "Content-Length");
            format!("{name}{}:{}{}{}{e}", ws(rng), ws(rng), value(rng), ws(rng))
        }
        2 => format!(
            "{}{}:{}{}{e}",
            if rng.chance(50) { "l" } else { "L" },
            ws(rng),
            ws(rng),
            value(rng)
        ),
        3 => format!(
            "{}{}: chunked{e}",
            random_case(rng, "Transfer-Encoding"),
            ws(rng)
        ),
        4 => format!("{}: x{e}", random_case(rng, "Transfer-Encodings")),
        5 => format!("{}: 3{e}", random_case(rng, "Content-Lengthy")),
        6 => format!("{}: 3{e}", random_case(rng, "Content-Language")),
        7 => format!("X-Content-Length: 9{e}"),
        8 => format!(" l: 9{e}"),
        9 => format!("\tContent-Length: 9{e}"),
        10 => format!("\rl: 9{e}"),
        11 => format!("Subject: a-l r-e R-E -L{e}"),
        12 => format!("Lorem: 5{e}"),
        13 => format!("t: x{e}"),
        14 => format!("Contentxlength: 5{e}"),
        _ => format!("Via: SIP/2.0/TCP h;branch=z9{}{e}", rng.below(100)),
    }
}

/// A chunk-size line (without its line ending) for `size` bytes of data.
fn size_line(rng: &mut Rng, size: usize) -> String {
    let hex = if rng.chance(50) {
        format!("{size:x}")
    } else {
        format!("{size:X}")
    };
    let zeros = if rng.chance(10) { "000" } else { "" };
    let ext = match rng.below(12) {
        0 => ";a=b".to_string(),
        1 => " ; x".to_string(),
        2 => format!(";{}", "e".repeat(250 + rng.below(10))),
        3 => ";\x01".to_string(),
        _ => String::new(),
    };
    match rng.below(40) {
        0 => "x".into(),
        1 => format!(" {hex}"),
        2 => "10000000000000000".into(),
        3 => "fffffffffffffff".into(),
        _ => format!("{zeros}{hex}{ext}"),
    }
}

/// A message with a chunked body (or a broken one).
fn chunked_message(rng: &mut Rng) -> Vec<u8> {
    let mut m = String::from("PUT /xcap-root/x HTTP/1.1");
    m.push_str(eol(rng));
    for _ in 0..rng.below(3) {
        m.push_str(&header(rng));
    }
    let te = random_case(rng, "Transfer-Encoding");
    let value = match rng.below(12) {
        0 => "gzip, chunked",
        1 => "chunked, chunked",
        2 => " , chunked",
        3 => "\r\n chunked",
        4 => "",
        _ => "chunked",
    };
    let coding = random_case(rng, value);
    m.push_str(&format!("{te}{}:{}{coding}{}", ws(rng), ws(rng), eol(rng)));
    if rng.chance(10) {
        m.push_str(&format!("Content-Length: 0{}", eol(rng)));
    }
    m.push_str(eol(rng));
    for _ in 0..rng.below(4) {
        let size = rng.below(20);
        let sent = if rng.chance(5) { size + 1 } else { size };
        m.push_str(&size_line(rng, sent));
        m.push_str(eol(rng));
        if sent == 0 {
            break;
        }
        for i in 0..size {
            m.push(['d', '\r', '\n', '0'][(i + size) % 4]);
        }
        m.push_str(if rng.chance(5) { "X" } else { eol(rng) });
    }
    m.push('0');
    m.push_str(eol(rng));
    for _ in 0..rng.below(3) {
        m.push_str(&format!("X-T: {}{}", rng.below(9), eol(rng)));
    }
    m.push_str(eol(rng));
    m.into_bytes()
}

fn message(rng: &mut Rng) -> Vec<u8> {
    if rng.chance(30) {
        return chunked_message(rng);
    }
    let mut m = String::new();
    m.push_str(match rng.below(5) {
        0 => "SIP/2.0 200 OK",
        1 => "Content-Length: 5",
        2 => "",
        _ => "INVITE sip:a SIP/2.0",
    });
    m.push_str(eol(rng));
    for _ in 0..rng.below(7) {
        m.push_str(&header(rng));
    }
    m.push_str(eol(rng));
    let mut v = m.into_bytes();
    for _ in 0..rng.below(6) {
        v.push(b"ab\r\n-lL"[rng.below(7)]);
    }
    v
}

#[test]
fn framers_agree_on_random_streams() {
    let mut rng = Rng::new(0x5eed);
    for case in 0..20_000 {
        let mut stream = Vec::new();
        for _ in 0..1 + rng.below(4) {
            stream.extend_from_slice(&message(&mut rng));
        }
        if rng.chance(20) {
            let cut = rng.below(stream.len() + 1);
            stream.truncate(cut);
        }
        let capacity = [64, 200, 512, 4096][rng.below(4)];
        let sizes: Vec<usize> = (0..1 + rng.below(6)).map(|_| 1 + rng.below(40)).collect();
        let no_cl = rng.chance(50);
        let r = std::panic::catch_unwind(|| {
            framer_differential(&stream, capacity, no_cl, &sizes);
            framer_differential(&stream, capacity, no_cl, &[1]);
            framer_differential(&stream, capacity, no_cl, &[usize::MAX]);
        });
        assert!(
            r.is_ok(),
            "case {case}: stream {:?} capacity {capacity} sizes {sizes:?} no_cl {no_cl}",
            String::from_utf8_lossy(&stream)
        );
    }
}
