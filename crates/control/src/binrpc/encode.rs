//! Writing [`Value`]s as records, byte for byte as Kamailio's `binrpc.h` writes them.

use super::error::BinrpcError;
use super::header::{min_len_u32, MAX_BODY_LEN};
use super::value::{
    fix, Member, Value, MAX_DEPTH, T_ARRAY, T_AVP, T_BYTES, T_DOUBLE, T_INT, T_STR, T_STRUCT,
};

/// INT: the fewest big-endian bytes of the value's 32 bits (none for 0; a negative takes 4).
fn write_int(out: &mut Vec<u8>, i: i32) {
    let u = i as u32;
    let len = min_len_u32(u);
    out.push(((len as u8) << 4) | T_INT);
    out.extend_from_slice(u.to_be_bytes().get(4 - len..).unwrap_or(&[]));
}

/// DOUBLE: the fixed-point value on the fewest big-endian bytes of its 64 bits; the whole
/// high nibble is that count (0..=8), never an S-form.
fn write_double(out: &mut Vec<u8>, f: f64) {
    let u = fix(f) as u64;
    let len = 8 - (u.leading_zeros() / 8) as usize;
    out.push(((len as u8) << 4) | T_DOUBLE);
    out.extend_from_slice(u.to_be_bytes().get(8 - len..).unwrap_or(&[]));
}

/// STR, AVP (with `nul`) or BYTES: lengths under 8 in the tag, longer ones S-form with the
/// length on the fewest bytes after it.
fn write_str(out: &mut Vec<u8>, ty: u8, bytes: &[u8], nul: bool) -> Result<(), BinrpcError> {
    let len = bytes.len() + usize::from(nul);
    if len > MAX_BODY_LEN {
        return Err(BinrpcError::TooLarge);
    }
    if len < 8 {
        out.push(((len as u8) << 4) | ty);
    } else {
        let n = u32::try_from(len).map_err(|_| BinrpcError::TooLarge)?;
        let len_len = min_len_u32(n);
        out.push(((0x08 | len_len as u8) << 4) | ty);
        out.extend_from_slice(n.to_be_bytes().get(4 - len_len..).unwrap_or(&[]));
    }
    out.extend_from_slice(bytes);
    if nul {
        out.push(0);
    }
    Ok(())
}

fn write_members(out: &mut Vec<u8>, members: &[Member], depth: usize) -> Result<(), BinrpcError> {
    out.push(T_STRUCT);
    for m in members {
        match &m.name {
            Some(name) => {
                write_str(out, T_AVP, name.as_bytes(), true)?;
                match &m.value {
                    // A struct cannot hold a named array on the wire; Kamailio sends
                    // `struct_add("[")` as a struct of unnamed values, and so does this.
                    Value::Array(items) => write_unnamed(out, items, depth + 1)?,
                    v => write_value(out, v, depth)?,
                }
            }
            None => write_value(out, &m.value, depth)?,
        }
    }
    out.push(0x80 | T_STRUCT);
    Ok(())
}

fn write_unnamed(out: &mut Vec<u8>, items: &[Value], depth: usize) -> Result<(), BinrpcError> {
    if depth > MAX_DEPTH {
        return Err(BinrpcError::TooLarge);
    }
    out.push(T_STRUCT);
    for v in items {
        write_value(out, v, depth)?;
    }
    out.push(0x80 | T_STRUCT);
    Ok(())
}

/// `depth` counts the containers open around `v`.
fn write_value(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), BinrpcError> {
    match v {
        Value::Int(i) => write_int(out, *i),
        Value::Str(s) => write_str(out, T_STR, s.as_bytes(), true)?,
        Value::Double(f) => write_double(out, *f),
        Value::Bytes(b) => write_str(out, T_BYTES, b, false)?,
        Value::Struct(members) => {
            if depth >= MAX_DEPTH {
                return Err(BinrpcError::TooLarge);
            }
            write_members(out, members, depth + 1)?;
        }
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(BinrpcError::TooLarge);
            }
            out.push(T_ARRAY);
            for item in items {
                write_value(out, item, depth + 1)?;
            }
            out.push(0x80 | T_ARRAY);
        }
    }
    Ok(())
}

/// Appends `v` as records to `out` (a struct or array with its contents and end tag).
///
/// Fails with [`BinrpcError::TooLarge`] for a string of 2^31 bytes or more, or nesting deeper
/// than [`MAX_DEPTH`] (which [`super::decode_records`] would refuse). A named member whose
/// value is an [`Value::Array`] is written as a struct of unnamed values, as Kamailio does.
pub fn encode_value(out: &mut Vec<u8>, v: &Value) -> Result<(), BinrpcError> {
    write_value(out, v, 0)
}

/// A body holding `records` in order (top-level records, as a reply or a request carries).
pub fn encode_records(records: &[Value]) -> Result<Vec<u8>, BinrpcError> {
    let mut out = Vec::new();
    for v in records {
        write_value(&mut out, v, 0)?;
    }
    if out.len() > MAX_BODY_LEN {
        return Err(BinrpcError::TooLarge);
    }
    Ok(out)
}
