//! libpcap, loaded at run time and used for one thing: compiling a
//! pcap-filter expression to classic BPF on a "dead" handle (no capture
//! goes through libpcap).
//!
//! Loading it with `dlopen` rather than linking it means zoneguard builds
//! and runs on a machine without libpcap; only a configured `bpf_filter`
//! needs it (Debian `libpcap0.8`), and its absence is a clear error naming
//! the package. libpcap's compiler is not reentrant before 1.8, so calls are
//! serialised.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};

/// `struct bpf_program` of pcap/bpf.h.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut libc::sock_filter,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type Close = unsafe extern "C" fn(*mut c_void);

/// The loaded library and the five functions used.
struct Lib {
    // kept loaded for as long as the function pointers are used
    _lib: libloading::Library,
    open_dead: OpenDead,
    compile: Compile,
    geterr: GetErr,
    freecode: FreeCode,
    close: Close,
}

/// Names tried, Debian's first.
const NAMES: &[&str] = &["libpcap.so.0.8", "libpcap.so.1", "libpcap.so"];

/// PCAP_NETMASK_UNKNOWN: broadcast tests are not used in capture filters.
const NETMASK_UNKNOWN: u32 = 0xffff_ffff;

static LIB: OnceLock<Result<Mutex<Lib>, String>> = OnceLock::new();

fn symbol<T: Copy>(lib: &libloading::Library, name: &[u8]) -> Result<T, String> {
    // SAFETY: every caller names a libpcap function whose C signature
    // (pcap/pcap.h) is exactly the function-pointer type `T` it asks for;
    // the pointer is only used while `lib` stays loaded (it is kept in
    // `Lib` beside the pointers).
    unsafe { lib.get::<T>(name) }
        .map(|s| *s)
        .map_err(|e| format!("libpcap lacks {}: {e}", String::from_utf8_lossy(name)))
}

fn load() -> Result<Lib, String> {
    let mut last = String::new();
    for name in NAMES {
        // SAFETY: loading libpcap runs its ELF initialisers, which have no
        // preconditions and touch no state of ours.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => {
                return Ok(Lib {
                    open_dead: symbol(&lib, b"pcap_open_dead\0")?,
                    compile: symbol(&lib, b"pcap_compile\0")?,
                    geterr: symbol(&lib, b"pcap_geterr\0")?,
                    freecode: symbol(&lib, b"pcap_freecode\0")?,
                    close: symbol(&lib, b"pcap_close\0")?,
                    _lib: lib,
                })
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!(
        "bpf_filter needs libpcap, which is not installed ({last}); install it (apt-get install libpcap0.8) / BPF 过滤需要 libpcap，请安装 libpcap0.8"
    ))
}

/// Whether libpcap can be loaded here.
#[cfg(test)]
pub fn available() -> bool {
    LIB.get_or_init(|| load().map(Mutex::new)).is_ok()
}

/// Compiles `expr` (optimised) for data-link type `dlt` with snapshot
/// length `snaplen`; libpcap's own message on failure.
pub fn compile(dlt: i32, snaplen: i32, expr: &str) -> Result<Vec<libc::sock_filter>, String> {
    let lib = LIB
        .get_or_init(|| load().map(Mutex::new))
        .as_ref()
        .map_err(Clone::clone)?;
    let lib = match lib.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    let cexpr = CString::new(expr).map_err(|_| "the expression contains a NUL byte".to_string())?;
    // SAFETY: the functions are libpcap's with their documented
    // signatures. `p` is checked for NULL and closed on every path after
    // it was opened; `prog` is only read after pcap_compile returned 0,
    // when it holds `bf_len` instructions at `bf_insns` (copied out before
    // pcap_freecode releases them); the message of pcap_geterr is a NUL
    // terminated string owned by `p`, copied before pcap_close. Calls are
    // serialised by the mutex (libpcap's compiler is not reentrant before
    // 1.8).
    unsafe {
        let p = (lib.open_dead)(dlt, snaplen);
        if p.is_null() {
            return Err("pcap_open_dead failed".into());
        }
        let mut prog = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        let rc = (lib.compile)(p, &mut prog, cexpr.as_ptr(), 1, NETMASK_UNKNOWN);
        if rc != 0 {
            let msg = (lib.geterr)(p);
            let text = if msg.is_null() {
                "pcap_compile failed".to_string()
            } else {
                CStr::from_ptr(msg).to_string_lossy().into_owned()
            };
            (lib.close)(p);
            return Err(text);
        }
        let insns = if prog.bf_insns.is_null() || prog.bf_len == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(prog.bf_insns, prog.bf_len as usize).to_vec()
        };
        (lib.freecode)(&mut prog);
        (lib.close)(p);
        Ok(insns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_or_says_what_is_missing() {
        match compile(1, 65535, "tcp port 22") {
            Ok(insns) => {
                assert!(insns.len() > 4);
                // ldh [12]: the EtherType
                assert_eq!((insns[0].code, insns[0].k), (0x28, 12));
                assert!(available());
            }
            Err(e) => {
                assert!(!available());
                assert!(e.contains("libpcap0.8"), "{e}");
            }
        }
        if available() {
            let e = compile(1, 65535, "tcp port").unwrap_err();
            assert!(!e.is_empty());
            assert!(compile(1, 65535, "a\0b").is_err());
        }
    }
}
