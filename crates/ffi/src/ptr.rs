//! The boundary itself: reading pointers C handed in, writing outputs, owning handles, and
//! keeping panics on the Rust side. Every `unsafe` of the crate that touches a C pointer is
//! here, each relying on the contract the header states for that argument ("valid for the
//! call", "from `sipwire_*_new`", "NULL or ...").

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::result::sipwire_result;

/// Runs `f`, turning a panic into [`sipwire_result::SIPWIRE_RESULT_PANIC`]: nothing unwinds
/// into C.
pub(crate) fn guard(f: impl FnOnce() -> sipwire_result) -> sipwire_result {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error!("sipwire C API: a call panicked; returning SIPWIRE_RESULT_PANIC");
        sipwire_result::SIPWIRE_RESULT_PANIC
    })
}

/// [`guard`] for entry points that return a plain value: `on_panic` when `f` panics.
pub(crate) fn guard_or<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error!("sipwire C API: a call panicked");
        on_panic
    })
}

/// Borrows `*p`, or `None` for NULL.
pub(crate) fn borrow<'a, T>(p: *const T) -> Option<&'a T> {
    // SAFETY: the header requires every non-NULL pointer argument to point to a live,
    // properly aligned value of its type for the duration of the call (handles: from their
    // `_new` and not yet freed).
    unsafe { p.as_ref() }
}

/// Borrows `*p` mutably, or `None` for NULL.
pub(crate) fn borrow_mut<'a, T>(p: *mut T) -> Option<&'a mut T> {
    // SAFETY: as in `borrow`; the header also says the caller does not use the pointee from
    // another thread during the call for the arguments passed as non-const.
    unsafe { p.as_mut() }
}

/// Borrows `len` bytes at `data`. NULL with `len == 0` is the empty slice; NULL otherwise is
/// `None`.
pub(crate) fn bytes<'a>(data: *const u8, len: usize) -> Option<&'a [u8]> {
    if data.is_null() {
        return (len == 0).then_some(&[]);
    }
    if len > isize::MAX as usize {
        return None;
    }
    // SAFETY: the header requires `data` to point to `len` readable bytes that stay
    // unchanged for the call; non-NULL and the length bound were checked above.
    Some(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Borrows a NUL-terminated UTF-8 string; `None` for NULL or bytes that are not UTF-8.
pub(crate) fn text<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: the header requires string arguments to be NUL-terminated and readable up to
    // the NUL for the duration of the call; NULL was checked above.
    let c = unsafe { CStr::from_ptr(s) };
    c.to_str().ok()
}

/// Writes `v` to `*out` when `out` is not NULL (optional outputs).
pub(crate) fn put<T>(out: *mut T, v: T) {
    if let Some(slot) = borrow_mut(out) {
        *slot = v;
    }
}

/// Moves `v` to the heap and hands C the pointer; [`free_box`] takes it back.
pub(crate) fn into_raw<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Takes back a pointer made by [`into_raw`] and drops it; NULL does nothing.
pub(crate) fn free_box<T>(p: *mut T) {
    if p.is_null() {
        return;
    }
    // SAFETY: the header says the pointer must come from the matching `_new` (which made it
    // with `into_raw`) and be freed exactly once.
    drop(unsafe { Box::from_raw(p) });
}

/// Takes back ownership of a pointer made by [`into_raw`] without dropping it.
pub(crate) fn take_box<T>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: as in `free_box`.
    Some(unsafe { Box::from_raw(p) })
}

/// Copies `s` into the caller's buffer `buf` of `len` bytes, NUL-terminated, and writes the
/// length (without the NUL) to `out_n`. Returns `SIPWIRE_RESULT_INSUFFICIENT_SIZE` (writing
/// as much as fits, still terminated, when `len > 0`) when it does not fit.
pub(crate) fn copy_text(
    s: &str,
    buf: *mut c_char,
    len: usize,
    out_n: *mut usize,
) -> sipwire_result {
    if buf.is_null() {
        return sipwire_result::SIPWIRE_RESULT_NULL_PARAMETER;
    }
    if len == 0 {
        return sipwire_result::SIPWIRE_RESULT_INSUFFICIENT_SIZE;
    }
    let n = s.len().min(len - 1);
    // SAFETY: the header requires `buf` to point to `len` writable bytes; we write `n + 1 <=
    // len` of them, from a `&str` that cannot overlap a buffer C owns mutably.
    unsafe {
        std::ptr::copy_nonoverlapping(s.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
    put(out_n, n);
    if n < s.len() {
        sipwire_result::SIPWIRE_RESULT_INSUFFICIENT_SIZE
    } else {
        sipwire_result::SIPWIRE_RESULT_OK
    }
}

/// Copies `items` into the caller's array `buf` of `cap` elements; writes how many there are
/// in all to `out_n`. `SIPWIRE_RESULT_INSUFFICIENT_SIZE` when not all fit (the first `cap`
/// are written).
pub(crate) fn copy_array<T: Copy>(
    items: &[T],
    buf: *mut T,
    cap: usize,
    out_n: *mut usize,
) -> sipwire_result {
    put(out_n, items.len());
    let n = items.len().min(cap);
    if n > 0 {
        if buf.is_null() {
            return sipwire_result::SIPWIRE_RESULT_NULL_PARAMETER;
        }
        // SAFETY: the header requires `buf` to point to `cap` writable elements; we write
        // `n <= cap` of them from a Rust slice that cannot overlap it.
        unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), buf, n) };
    }
    if n < items.len() {
        sipwire_result::SIPWIRE_RESULT_INSUFFICIENT_SIZE
    } else {
        sipwire_result::SIPWIRE_RESULT_OK
    }
}

/// Reads a `struct sockaddr` of `len` bytes (IPv4 or IPv6) into a `SocketAddr`.
pub(crate) fn sockaddr(
    sa: *const libc::sockaddr,
    len: libc::socklen_t,
) -> Option<std::net::SocketAddr> {
    if sa.is_null() || (len as usize) > std::mem::size_of::<libc::sockaddr_storage>() {
        return None;
    }
    // SAFETY: an all-zero sockaddr_storage is a valid value of that plain C struct.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    // SAFETY: the header requires `sa` to point to `len` readable bytes; `len` was checked
    // to fit in `ss`, which is a separate local.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.cast::<u8>(),
            (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(),
            len as usize,
        )
    };
    let addr = sipwire_sys::from_sockaddr(&ss)?;
    let need = match addr {
        std::net::SocketAddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>(),
        std::net::SocketAddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>(),
    };
    ((len as usize) >= need).then_some(addr)
}
