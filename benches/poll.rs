//! Poller benches: the cost of one wait-and-drain round with 10 active sockets among N
//! registered ones, for every backend of this OS, so the O(registered) scan of `poll` and
//! `select` shows against epoll's O(ready).
//!
//! One iteration, identical for every backend: write 1 byte into each of the 10 active pairs,
//! `wait` with a zero timeout, and read the byte back from every reported fd (the reads also
//! make edge-triggered epoll see a fresh edge next time). `baseline/io_only` is the same 10
//! writes and 10 reads with no wait, the floor every backend is judged against.
//!
//! Registered sockets are both ends of idle `UnixStream` pairs (so N registered sockets cost
//! about N fds) plus the 10 active readers. `select` runs only while every registered fd is
//! below FD_SETSIZE (1024): N = 1,000 fits, 10,000 does not and is skipped.
//! Run: `cargo bench -p sipwire-benches --bench poll`.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench setup")]
#![allow(missing_docs, reason = "criterion_group! generates an undocumented fn")]

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sipwire_poll::{Events, Interest, PollMethod, Poller, Token};

/// Sockets with a byte pending in every iteration.
const ACTIVE: usize = 10;
/// Registered socket counts.
const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force.
fn raise_fd_limit() -> u64 {
    sipwire_sys::raise_fd_limit().unwrap_or(1024)
}

/// A poller with `n` registered sockets, the first `ACTIVE` of which (tokens 0..10) get data.
struct Bed {
    poller: Poller,
    events: Events,
    /// (registered reader, writer) of the active sockets; token i = active[i].
    active: Vec<(UnixStream, UnixStream)>,
    /// Idle pairs, both ends registered; kept open for the bench's lifetime.
    _idle: Vec<(UnixStream, UnixStream)>,
}

impl Bed {
    /// Builds the bed, or says why it cannot (fd limit, FD_SETSIZE).
    fn new(method: PollMethod, n: usize, fd_limit: u64) -> Result<Bed, String> {
        let needed = (n + ACTIVE + 64) as u64;
        if needed > fd_limit {
            return Err(format!("needs ~{needed} fds, RLIMIT_NOFILE is {fd_limit}"));
        }
        let mut poller = Poller::new(method).map_err(|e| e.to_string())?;
        let mut active = Vec::with_capacity(ACTIVE);
        for i in 0..ACTIVE {
            let (r, w) = UnixStream::pair().unwrap();
            r.set_nonblocking(true).unwrap();
            poller
                .register(r.as_raw_fd(), Token(i), Interest::READABLE)
                .map_err(|e| e.to_string())?;
            active.push((r, w));
        }
        let mut idle = Vec::with_capacity((n - ACTIVE) / 2);
        let mut token = ACTIVE;
        while token < n {
            let (a, b) = UnixStream::pair().unwrap();
            for fd in [a.as_raw_fd(), b.as_raw_fd()] {
                if token < n {
                    poller
                        .register(fd, Token(token), Interest::READABLE)
                        .map_err(|e| e.to_string())?;
                    token += 1;
                }
            }
            idle.push((a, b));
        }
        Ok(Bed {
            poller,
            events: Events::with_capacity(64),
            active,
            _idle: idle,
        })
    }

    /// One round: 10 writes, one zero-timeout wait, a read per reported fd.
    fn round(&mut self) -> usize {
        for (_, w) in &mut self.active {
            w.write_all(&[1]).unwrap();
        }
        let n = self
            .poller
            .wait(&mut self.events, Some(Duration::ZERO))
            .unwrap();
        let mut byte = [0u8; 1];
        for ev in self.events.iter() {
            let (r, _) = &mut self.active[ev.token().0];
            r.read_exact(&mut byte).unwrap();
        }
        assert_eq!(
            n, ACTIVE,
            "every active socket must be reported once per round"
        );
        n
    }
}

/// Every backend of this OS at every size, plus the I/O-only baseline.
fn bench_poll(c: &mut Criterion) {
    let fd_limit = raise_fd_limit();
    let mut group = c.benchmark_group("poll_wait_10_active");
    group
        .throughput(Throughput::Elements(ACTIVE as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    // The floor: the same writes and reads without any wait.
    let mut pairs: Vec<(UnixStream, UnixStream)> = (0..ACTIVE)
        .map(|_| {
            let (r, w) = UnixStream::pair().unwrap();
            r.set_nonblocking(true).unwrap();
            (r, w)
        })
        .collect();
    group.bench_function("baseline/io_only", |b| {
        b.iter(|| {
            let mut byte = [0u8; 1];
            for (r, w) in &mut pairs {
                w.write_all(&[1]).unwrap();
                r.read_exact(&mut byte).unwrap();
            }
            black_box(byte)
        })
    });
    drop(pairs);

    for &method in PollMethod::supported() {
        if method == PollMethod::None {
            continue;
        }
        for n in SIZES {
            let mut bed = match Bed::new(method, n, fd_limit) {
                Ok(bed) => bed,
                Err(why) => {
                    eprintln!("skipping {method}/{n}: {why}");
                    continue;
                }
            };
            group.bench_with_input(BenchmarkId::new(method.name(), n), &n, |b, _| {
                b.iter(|| black_box(bed.round()))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_poll);
criterion_main!(benches);
