//! Shared helpers for sipwire's criterion benches; the benches themselves are the
//! `[[bench]]` targets next to this file (`make bench`).
