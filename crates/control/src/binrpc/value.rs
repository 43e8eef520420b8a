//! The [`Value`] tree and decoding a body's records into it, with bounded depth and size.

use super::error::BinrpcError;

/// Record type 0: a 32-bit integer on 0..=4 bytes.
pub(crate) const T_INT: u8 = 0;
/// Record type 1: a NUL-terminated string (the NUL counted in the length).
pub(crate) const T_STR: u8 = 1;
/// Record type 2: a fixed-point number (value × 1000) on 0..=8 bytes.
pub(crate) const T_DOUBLE: u8 = 2;
/// Record type 3: struct start (`0x03`) and end (`0x83`).
pub(crate) const T_STRUCT: u8 = 3;
/// Record type 4: array start (`0x04`) and end (`0x84`).
pub(crate) const T_ARRAY: u8 = 4;
/// Record type 5: a struct member's name, followed by the member's value.
pub(crate) const T_AVP: u8 = 5;
/// Record type 6: raw bytes, no terminator.
pub(crate) const T_BYTES: u8 = 6;

/// Default nesting limit for structs and arrays ([`Limits::max_depth`]).
pub const MAX_DEPTH: usize = 16;
/// Default limit on the values in one body ([`Limits::max_elements`]).
pub const MAX_ELEMENTS: usize = 65_536;

/// Bounds on what decoding a body may build, so hostile input costs bounded time, memory and
/// stack: nesting beyond `max_depth` or more than `max_elements` values is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most structs/arrays open at once (a top-level struct is depth 1).
    pub max_depth: usize,
    /// Most values in the body, counting every scalar, struct and array at every level.
    pub max_elements: usize,
}

impl Limits {
    /// [`MAX_DEPTH`] and [`MAX_ELEMENTS`].
    pub const DEFAULT: Limits = Limits {
        max_depth: MAX_DEPTH,
        max_elements: MAX_ELEMENTS,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// One BINRPC value: what a record (or a struct/array with its contents) decodes to.
///
/// Strings are Rust strings: bytes that are not UTF-8 are replaced by U+FFFD when decoding
/// (Kamailio's strings are bytes; a reply holding a stray Latin-1 User-Agent stays readable
/// instead of failing whole). Use [`Value::Bytes`] for binary data.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// INT: a 32-bit signed integer.
    Int(i32),
    /// STR: text (the wire's NUL terminator is not part of it).
    Str(String),
    /// DOUBLE: sent as a fixed-point integer, the value × 1000, so three decimals survive.
    /// Kamailio also sends its 64-bit integers this way.
    Double(f64),
    /// BYTES: raw bytes.
    Bytes(Vec<u8>),
    /// STRUCT: members in wire order. Named members are AVPs; unnamed ones are how Kamailio
    /// sends arrays (`rpc->add("[")` writes a struct tag) and what kamcmd accepts.
    Struct(Vec<Member>),
    /// ARRAY: the array tags Kamailio defines but its RPC layer never writes.
    Array(Vec<Value>),
}

/// A struct member: an AVP (named) or a bare value (unnamed).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The AVP name, or `None` for an unnamed value.
    pub name: Option<String>,
    /// The member's value.
    pub value: Value,
}

impl Member {
    /// A named member (an AVP).
    pub fn named(name: impl Into<String>, value: Value) -> Member {
        Member {
            name: Some(name.into()),
            value,
        }
    }

    /// An unnamed member (an element of a Kamailio-style array).
    pub fn unnamed(value: Value) -> Member {
        Member { name: None, value }
    }
}

/// Container kinds, for start and end tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Struct,
    Array,
}

/// One record as read off the wire, before it is put in the tree.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Int(i32),
    Str(&'a [u8]),
    Double(i64),
    Bytes(&'a [u8]),
    Avp(&'a [u8]),
    Start(Kind),
    End(Kind),
}

/// The fixed-point wire number as a float. A multiple of 1000 divides exactly first, so an
/// integral value (Kamailio's 64-bit counters) comes back exact, whatever its size.
pub(crate) fn unfix(ll: i64) -> f64 {
    if ll % 1000 == 0 {
        (ll / 1000) as f64
    } else {
        ll as f64 / 1000.0
    }
}

/// A float as the wire's fixed-point number (× 1000). Integral values multiply exactly;
/// others round to the nearest thousandth (Kamailio truncates; rounding makes a decoded value
/// re-encode to the same bytes). Out of range saturates; NaN is 0.
pub(crate) fn fix(f: f64) -> i64 {
    const EXACT: f64 = (i64::MAX / 1000) as f64;
    if f.fract() == 0.0 && f.abs() < EXACT {
        // Integral and within range, so the cast is exact and the product fits.
        (f as i64).saturating_mul(1000)
    } else {
        // `as` saturates at the i64 range and maps NaN to 0.
        (f * 1000.0).round() as i64
    }
}

fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Reader<'a> {
    body: &'a [u8],
    pos: usize,
    limits: Limits,
    elements: usize,
}

impl<'a> Reader<'a> {
    fn take(&self, offset: usize, at: usize, len: usize) -> Result<&'a [u8], BinrpcError> {
        at.checked_add(len)
            .and_then(|end| self.body.get(at..end))
            .ok_or(BinrpcError::Truncated { offset })
    }

    /// The next record and where it starts, or `None` at the end of the body.
    fn next(&mut self) -> Result<Option<(usize, Raw<'a>)>, BinrpcError> {
        let offset = self.pos;
        let Some(&tag) = self.body.get(offset) else {
            return Ok(None);
        };
        let (ty, hi) = (tag & 0x0f, tag >> 4);
        let mut at = offset + 1;
        let bad_len = BinrpcError::BadLength { offset };
        let raw = match ty {
            T_STRUCT | T_ARRAY => {
                let kind = if ty == T_STRUCT {
                    Kind::Struct
                } else {
                    Kind::Array
                };
                match hi {
                    0 => Raw::Start(kind),
                    8 => Raw::End(kind),
                    _ => return Err(bad_len),
                }
            }
            T_DOUBLE => {
                // The whole nibble is the length; a double has no S-form.
                let len = usize::from(hi);
                if len > 8 {
                    return Err(bad_len);
                }
                let b = self.take(offset, at, len)?;
                at += len;
                Raw::Double(be(b) as i64)
            }
            T_INT | T_STR | T_AVP | T_BYTES => {
                let len = if hi & 8 != 0 {
                    let len_len = usize::from(hi & 7);
                    if len_len > 4 {
                        return Err(bad_len);
                    }
                    let b = self.take(offset, at, len_len)?;
                    at += len_len;
                    usize::try_from(be(b)).map_err(|_| BinrpcError::Truncated { offset })?
                } else {
                    usize::from(hi)
                };
                if ty == T_INT && len > 4 {
                    return Err(bad_len);
                }
                let b = self.take(offset, at, len)?;
                at += len;
                match ty {
                    T_INT => Raw::Int(be(b) as u32 as i32),
                    T_BYTES => Raw::Bytes(b),
                    _ => {
                        let Some((&0, s)) = b.split_last() else {
                            return Err(BinrpcError::StrWithoutNul { offset });
                        };
                        if ty == T_STR {
                            Raw::Str(s)
                        } else {
                            Raw::Avp(s)
                        }
                    }
                }
            }
            _ => return Err(BinrpcError::UnknownType { offset, tag }),
        };
        self.pos = at;
        Ok(Some((offset, raw)))
    }

    /// The value of record `raw` (at `offset`), reading a container's contents too; `depth`
    /// is the number of containers already open around it.
    fn value(&mut self, offset: usize, raw: Raw<'a>, depth: usize) -> Result<Value, BinrpcError> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(BinrpcError::TooManyElements {
                limit: self.limits.max_elements,
            });
        }
        Ok(match raw {
            Raw::Int(i) => Value::Int(i),
            Raw::Str(s) => Value::Str(text(s)),
            Raw::Double(ll) => Value::Double(unfix(ll)),
            Raw::Bytes(b) => Value::Bytes(b.to_vec()),
            Raw::Start(kind) => {
                if depth >= self.limits.max_depth {
                    return Err(BinrpcError::TooDeep {
                        offset,
                        limit: self.limits.max_depth,
                    });
                }
                match kind {
                    Kind::Struct => self.struct_body(depth + 1)?,
                    Kind::Array => self.array_body(depth + 1)?,
                }
            }
            Raw::Avp(_) => return Err(BinrpcError::AvpOutsideStruct { offset }),
            Raw::End(_) => return Err(BinrpcError::UnmatchedEnd { offset }),
        })
    }

    fn struct_body(&mut self, depth: usize) -> Result<Value, BinrpcError> {
        let mut members = Vec::new();
        loop {
            let Some((offset, raw)) = self.next()? else {
                return Err(BinrpcError::Unterminated);
            };
            match raw {
                Raw::End(Kind::Struct) => return Ok(Value::Struct(members)),
                Raw::End(Kind::Array) => return Err(BinrpcError::UnmatchedEnd { offset }),
                Raw::Avp(name) => {
                    let name = text(name);
                    let value = match self.next()? {
                        None | Some((_, Raw::End(_) | Raw::Avp(_))) => {
                            return Err(BinrpcError::AvpWithoutValue { offset })
                        }
                        Some((_, Raw::Start(Kind::Array))) => {
                            return Err(BinrpcError::AvpArray { offset })
                        }
                        Some((at, raw)) => self.value(at, raw, depth)?,
                    };
                    members.push(Member::named(name, value));
                }
                raw => members.push(Member::unnamed(self.value(offset, raw, depth)?)),
            }
        }
    }

    fn array_body(&mut self, depth: usize) -> Result<Value, BinrpcError> {
        let mut items = Vec::new();
        loop {
            let Some((offset, raw)) = self.next()? else {
                return Err(BinrpcError::Unterminated);
            };
            match raw {
                Raw::End(Kind::Array) => return Ok(Value::Array(items)),
                Raw::End(Kind::Struct) => return Err(BinrpcError::UnmatchedEnd { offset }),
                raw => items.push(self.value(offset, raw, depth)?),
            }
        }
    }
}

/// Decodes a whole body (a reply's, a fault's or a request's payload) into its top-level
/// records, with the default [`Limits`].
pub fn decode_records(body: &[u8]) -> Result<Vec<Value>, BinrpcError> {
    decode_records_with(body, &Limits::DEFAULT)
}

/// Decodes a whole body into its top-level records within `limits`.
///
/// Accepts what Kamailio accepts in kamcmd's lenient mode (unnamed values inside structs,
/// non-minimal integer and length encodings) and refuses the rest: see [`BinrpcError`].
/// Every struct and array must be closed, in order, before the body ends.
pub fn decode_records_with(body: &[u8], limits: &Limits) -> Result<Vec<Value>, BinrpcError> {
    let mut r = Reader {
        body,
        pos: 0,
        limits: *limits,
        elements: 0,
    };
    let mut out = Vec::new();
    while let Some((offset, raw)) = r.next()? {
        out.push(r.value(offset, raw, 0)?);
    }
    Ok(out)
}
