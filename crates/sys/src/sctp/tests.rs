//! Host-side tests of what needs no kernel SCTP: the address codec, the notification parser
//! (crafted notifications, every truncation, random bytes), the send flags. The kernel side is
//! `tests/sctp.rs`, run in a VM.

use std::net::SocketAddr;

use super::addr::{decode, decode_list, encode_into, encode_list};
use super::ffi::{
    SCTP_ASSOC_CHANGE, SCTP_PEER_ADDR_CHANGE, SCTP_SEND_FAILED, SCTP_SEND_FAILED_EVENT,
    SCTP_SHUTDOWN_EVENT,
};
use super::*;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn addresses_round_trip_in_kernel_layout() {
    for s in ["127.0.0.2:5060", "[::1]:5070", "[fe80::1%3]:1"] {
        let a = sa(s);
        let mut b = [0xAAu8; 40];
        let n = encode_into(&a, &mut b);
        assert_eq!(n, if a.is_ipv4() { 16 } else { 28 });
        assert_eq!(&b[2..4], &a.port().to_be_bytes());
        assert_eq!(decode(&b[..n]), Some((a, n)));
        for short in 0..n {
            assert_eq!(decode(&b[..short]), None, "{s} cut at {short}");
        }
    }
    assert_eq!(encode_into(&sa("[::1]:1"), &mut [0u8; 27]), 0);
    // AF_UNSPEC (an all-zero sockaddr_storage) is no address.
    assert_eq!(decode(&[0u8; 128]), None);
}

#[test]
fn address_lists_stop_at_truncation_or_unknown_family() {
    let addrs = [sa("127.0.0.1:9"), sa("[::1]:9"), sa("127.0.0.2:9")];
    let b = encode_list(&addrs);
    assert_eq!(b.len(), 16 + 28 + 16);
    assert_eq!(decode_list(&b, 3), addrs);
    assert_eq!(decode_list(&b, 2), addrs[..2]);
    assert_eq!(decode_list(&b, 99), addrs);
    assert_eq!(decode_list(&b[..b.len() - 1], 3), addrs[..2]);
    let mut bad = b.clone();
    bad[16] = 0x77;
    assert_eq!(decode_list(&bad, 3), addrs[..1]);
}

fn header(kind: u16, len: u32) -> Vec<u8> {
    let mut v = kind.to_ne_bytes().to_vec();
    v.extend_from_slice(&0u16.to_ne_bytes());
    v.extend_from_slice(&len.to_ne_bytes());
    v
}

fn assoc_change(state: u16, assoc: i32) -> Vec<u8> {
    let mut v = header(SCTP_ASSOC_CHANGE, 20);
    for x in [state, 7, 4, 2] {
        v.extend_from_slice(&x.to_ne_bytes());
    }
    v.extend_from_slice(&assoc.to_ne_bytes());
    v
}

fn paddr_change(addr: SocketAddr, state: i32, assoc: i32) -> Vec<u8> {
    let mut v = header(SCTP_PEER_ADDR_CHANGE, 148);
    let mut st = [0u8; 128];
    encode_into(&addr, &mut st);
    v.extend_from_slice(&st);
    for x in [state, 110, assoc] {
        v.extend_from_slice(&x.to_ne_bytes());
    }
    v
}

fn send_failed_event(assoc: i32, data: &[u8]) -> Vec<u8> {
    let mut v = header(SCTP_SEND_FAILED_EVENT, 32 + data.len() as u32);
    v.extend_from_slice(&5u32.to_ne_bytes());
    v.extend_from_slice(&[0u8; 16]);
    v.extend_from_slice(&assoc.to_ne_bytes());
    v.extend_from_slice(data);
    v
}

fn send_failed_old(assoc: i32, data: &[u8]) -> Vec<u8> {
    let mut v = header(SCTP_SEND_FAILED, 48 + data.len() as u32);
    v.extend_from_slice(&6u32.to_ne_bytes());
    v.extend_from_slice(&[0u8; 32]);
    v.extend_from_slice(&assoc.to_ne_bytes());
    v.extend_from_slice(data);
    v
}

fn shutdown(assoc: i32) -> Vec<u8> {
    let mut v = header(SCTP_SHUTDOWN_EVENT, 12);
    v.extend_from_slice(&assoc.to_ne_bytes());
    v
}

#[test]
fn notifications_parse() {
    assert_eq!(
        parse_notification(&assoc_change(0, 42)),
        Notification::AssocChange {
            assoc: 42,
            state: AssocState::CommUp,
            error: 7,
            outbound_streams: 4,
            inbound_streams: 2
        }
    );
    let states = [
        (1, AssocState::CommLost),
        (2, AssocState::Restart),
        (3, AssocState::ShutdownComplete),
        (4, AssocState::CantStartAssoc),
        (9, AssocState::Other(9)),
    ];
    for (raw, want) in states {
        match parse_notification(&assoc_change(raw, 1)) {
            Notification::AssocChange { state, .. } => assert_eq!(state, want),
            n => panic!("{n:?}"),
        }
    }
    // A longer assoc change (with sac_info) parses the same.
    let mut long = assoc_change(3, 5);
    long.extend_from_slice(&[1, 2, 3, 4]);
    long[4..8].copy_from_slice(&24u32.to_ne_bytes());
    assert!(matches!(
        parse_notification(&long),
        Notification::AssocChange {
            assoc: 5,
            state: AssocState::ShutdownComplete,
            ..
        }
    ));
    for (raw, want) in [
        (0, PeerAddrState::Available),
        (1, PeerAddrState::Unreachable),
        (2, PeerAddrState::Removed),
        (3, PeerAddrState::Added),
        (4, PeerAddrState::MadePrimary),
        (5, PeerAddrState::Confirmed),
        (6, PeerAddrState::Other(6)),
    ] {
        let a = sa("[2001:db8::5]:5060");
        assert_eq!(
            parse_notification(&paddr_change(a, raw, 9)),
            Notification::PeerAddrChange {
                assoc: 9,
                addr: Some(a),
                state: want,
                error: 110
            }
        );
    }
    assert_eq!(
        parse_notification(&send_failed_event(3, b"INVITE")),
        Notification::SendFailed {
            assoc: 3,
            error: 5,
            data: b"INVITE".to_vec()
        }
    );
    assert_eq!(
        parse_notification(&send_failed_old(4, b"BYE")),
        Notification::SendFailed {
            assoc: 4,
            error: 6,
            data: b"BYE".to_vec()
        }
    );
    assert_eq!(
        parse_notification(&shutdown(8)),
        Notification::Shutdown { assoc: 8 }
    );
    assert_eq!(
        parse_notification(&header(0x8009, 12)),
        Notification::Other { kind: 0x8009 }
    );
}

#[test]
fn sn_length_only_shortens() {
    // Longer than the buffer: the buffer is what counts.
    let mut v = send_failed_event(3, b"OPTIONS sip:x SIP/2.0");
    v[4..8].copy_from_slice(&u32::MAX.to_ne_bytes());
    assert!(matches!(
        parse_notification(&v),
        Notification::SendFailed { data, .. } if data == b"OPTIONS sip:x SIP/2.0"
    ));
    // Shorter: bytes past it are not the notification's.
    let mut v = send_failed_event(3, b"abc");
    v.extend_from_slice(b"garbage");
    assert!(matches!(
        parse_notification(&v),
        Notification::SendFailed { data, .. } if data == b"abc"
    ));
    // Shorter than the fixed part: not decodable.
    let mut v = shutdown(8);
    v[4..8].copy_from_slice(&11u32.to_ne_bytes());
    assert_eq!(
        parse_notification(&v),
        Notification::Other {
            kind: SCTP_SHUTDOWN_EVENT
        }
    );
    // An unknown family in a peer address change is no address, not an error.
    let mut v = paddr_change(sa("127.0.0.1:1"), 0, 2);
    v[8..10].copy_from_slice(&0x1234u16.to_ne_bytes());
    assert!(matches!(
        parse_notification(&v),
        Notification::PeerAddrChange { addr: None, .. }
    ));
}

#[test]
fn every_truncation_is_other() {
    let all = [
        (assoc_change(0, 1), 20),
        (paddr_change(sa("10.0.0.1:5"), 0, 1), 148),
        (send_failed_event(1, b""), 32),
        (send_failed_old(1, b""), 48),
        (shutdown(1), 12),
    ];
    for (full, fixed) in all {
        let kind = u16::from_ne_bytes([full[0], full[1]]);
        for cut in 0..fixed {
            let want = Notification::Other {
                kind: if cut < 2 { 0 } else { kind },
            };
            assert_eq!(
                parse_notification(&full[..cut]),
                want,
                "{kind:#x} cut {cut}"
            );
        }
        assert_ne!(
            parse_notification(&full),
            Notification::Other { kind },
            "{kind:#x} whole"
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let kinds = [
        SCTP_ASSOC_CHANGE,
        SCTP_PEER_ADDR_CHANGE,
        SCTP_SEND_FAILED,
        SCTP_SEND_FAILED_EVENT,
        SCTP_SHUTDOWN_EVENT,
    ];
    let mut buf = [0u8; 320];
    for _ in 0..20_000 {
        let len = (next() % 320) as usize;
        for b in buf.iter_mut().take(len) {
            *b = next() as u8;
        }
        if len >= 2 {
            let k = kinds[(next() % kinds.len() as u64) as usize];
            buf[..2].copy_from_slice(&k.to_ne_bytes());
        }
        if len >= 8 && next() % 2 == 0 {
            let l = (next() % 400) as u32;
            buf[4..8].copy_from_slice(&l.to_ne_bytes());
        }
        let _ = parse_notification(&buf[..len]);
        let _ = decode_list(&buf[..len], (next() % 20) as usize);
    }
}

#[test]
fn send_flags_combine() {
    let f = SendFlags::EOF | SendFlags::UNORDERED;
    assert!(f.contains(SendFlags::EOF) && f.contains(SendFlags::UNORDERED));
    assert!(!f.contains(SendFlags::ABORT));
    assert_eq!(f.bits(), 0x201);
    let mut g = SendFlags::default();
    assert_eq!(g, SendFlags::EMPTY);
    g |= SendFlags::ADDR_OVER;
    assert_eq!(g.bits(), 2);
    assert_eq!(SendFlags::ABORT.bits(), 4);
}

#[test]
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn everything_is_unsupported_off_linux() {
    use std::io::ErrorKind::Unsupported;
    assert!(!available());
    assert_eq!(socket(false).unwrap_err().kind(), Unsupported);
    assert_eq!(get_initmsg(0).unwrap_err().kind(), Unsupported);
    assert_eq!(recv(0, &mut [0u8; 8]).unwrap_err().kind(), Unsupported);
    let e = send(0, b"x", None, &SendInfo::default()).unwrap_err();
    assert_eq!(e.kind(), Unsupported);
}
