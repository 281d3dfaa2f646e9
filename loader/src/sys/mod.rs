//! The only door to the kernel: raw `bpf(2)` (and, in [`perf`], `perf_event_open(2)`).
//!
//! One typed function per command. Every attribute block is a `#[repr(C)]` struct laid out
//! like the matching member of `union bpf_attr` in `include/uapi/linux/bpf.h`; we pass its
//! own size, and the kernel zero-extends shorter structs. Every failure is a [`SysError`]
//! that names the command, the object it was about and the errno.
//!
//! This module (with its children) is the only place in the loader with `unsafe`.

pub mod file;
pub mod links;
pub mod lock;
pub mod perf;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::sync::Mutex;

/// A failed system call: which one, on what, and the kernel's errno.
#[derive(Debug, thiserror::Error)]
#[error("{call} on {what}: {source}")]
pub struct SysError {
    /// The command, in the kernel's words (`BPF_PROG_LOAD`).
    pub call: &'static str,
    /// The object it was about (`prog 'xdp_main'`, `map 'counters'`, a path).
    pub what: String,
    #[source]
    pub source: io::Error,
}

impl SysError {
    pub fn new(call: &'static str, what: impl Into<String>, source: io::Error) -> Self {
        SysError {
            call,
            what: what.into(),
            source,
        }
    }
    /// The errno the kernel returned, if any.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

pub type Result<T> = std::result::Result<T, SysError>;

/// `enum bpf_cmd` values we use.
#[allow(non_camel_case_types, clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Cmd {
    BPF_MAP_CREATE = 0,
    BPF_MAP_LOOKUP_ELEM = 1,
    BPF_MAP_UPDATE_ELEM = 2,
    BPF_MAP_DELETE_ELEM = 3,
    BPF_MAP_GET_NEXT_KEY = 4,
    BPF_PROG_LOAD = 5,
    BPF_OBJ_PIN = 6,
    BPF_OBJ_GET = 7,
    BPF_PROG_TEST_RUN = 10,
    BPF_PROG_GET_NEXT_ID = 11,
    BPF_MAP_GET_NEXT_ID = 12,
    BPF_PROG_GET_FD_BY_ID = 13,
    BPF_MAP_GET_FD_BY_ID = 14,
    BPF_OBJ_GET_INFO_BY_FD = 15,
    BPF_PROG_QUERY = 16,
    BPF_RAW_TRACEPOINT_OPEN = 17,
    BPF_BTF_LOAD = 18,
    BPF_BTF_GET_FD_BY_ID = 19,
    BPF_MAP_FREEZE = 22,
    BPF_BTF_GET_NEXT_ID = 23,
    BPF_LINK_CREATE = 28,
    BPF_LINK_UPDATE = 29,
    BPF_LINK_GET_FD_BY_ID = 30,
    BPF_LINK_GET_NEXT_ID = 31,
    BPF_ENABLE_STATS = 32,
    BPF_LINK_DETACH = 34,
}

impl Cmd {
    pub fn name(self) -> &'static str {
        match self {
            Cmd::BPF_MAP_CREATE => "BPF_MAP_CREATE",
            Cmd::BPF_MAP_LOOKUP_ELEM => "BPF_MAP_LOOKUP_ELEM",
            Cmd::BPF_MAP_UPDATE_ELEM => "BPF_MAP_UPDATE_ELEM",
            Cmd::BPF_MAP_DELETE_ELEM => "BPF_MAP_DELETE_ELEM",
            Cmd::BPF_MAP_GET_NEXT_KEY => "BPF_MAP_GET_NEXT_KEY",
            Cmd::BPF_PROG_LOAD => "BPF_PROG_LOAD",
            Cmd::BPF_OBJ_PIN => "BPF_OBJ_PIN",
            Cmd::BPF_OBJ_GET => "BPF_OBJ_GET",
            Cmd::BPF_PROG_TEST_RUN => "BPF_PROG_TEST_RUN",
            Cmd::BPF_PROG_GET_NEXT_ID => "BPF_PROG_GET_NEXT_ID",
            Cmd::BPF_MAP_GET_NEXT_ID => "BPF_MAP_GET_NEXT_ID",
            Cmd::BPF_PROG_GET_FD_BY_ID => "BPF_PROG_GET_FD_BY_ID",
            Cmd::BPF_MAP_GET_FD_BY_ID => "BPF_MAP_GET_FD_BY_ID",
            Cmd::BPF_OBJ_GET_INFO_BY_FD => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::BPF_PROG_QUERY => "BPF_PROG_QUERY",
            Cmd::BPF_RAW_TRACEPOINT_OPEN => "BPF_RAW_TRACEPOINT_OPEN",
            Cmd::BPF_BTF_LOAD => "BPF_BTF_LOAD",
            Cmd::BPF_BTF_GET_FD_BY_ID => "BPF_BTF_GET_FD_BY_ID",
            Cmd::BPF_MAP_FREEZE => "BPF_MAP_FREEZE",
            Cmd::BPF_BTF_GET_NEXT_ID => "BPF_BTF_GET_NEXT_ID",
            Cmd::BPF_LINK_CREATE => "BPF_LINK_CREATE",
            Cmd::BPF_LINK_UPDATE => "BPF_LINK_UPDATE",
            Cmd::BPF_LINK_GET_FD_BY_ID => "BPF_LINK_GET_FD_BY_ID",
            Cmd::BPF_LINK_GET_NEXT_ID => "BPF_LINK_GET_NEXT_ID",
            Cmd::BPF_ENABLE_STATS => "BPF_ENABLE_STATS",
            Cmd::BPF_LINK_DETACH => "BPF_LINK_DETACH",
        }
    }
}

/// Test hook for injected failures: the next time `cmd` is issued, it fails with `errno`
/// instead of reaching the kernel. Process-wide; used by the reliability tests.
static INJECT: Mutex<Vec<(Cmd, u32, i32)>> = Mutex::new(Vec::new());

/// Make the `nth` (0-based) next call of `cmd` fail with `errno`. Test use only.
pub fn inject_failure(cmd: Cmd, nth: u32, errno: i32) {
    if let Ok(mut v) = INJECT.lock() {
        v.push((cmd, nth, errno));
    }
}

/// Forget every injected failure that has not fired.
pub fn clear_injected() {
    if let Ok(mut v) = INJECT.lock() {
        v.clear();
    }
}

fn injected(cmd: Cmd) -> Option<i32> {
    let mut v = INJECT.lock().ok()?;
    let mut hit = None;
    v.retain_mut(|(c, nth, errno)| {
        if *c != cmd || hit.is_some() {
            return true;
        }
        if *nth == 0 {
            hit = Some(*errno);
            false
        } else {
            *nth -= 1;
            true
        }
    });
    hit
}

/// What one `BPF_PROG_LOAD` carried to the kernel, read from its attribute block just
/// before the call (see [`watch_prog_loads`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentProgLoad {
    /// `prog_name`, as the kernel gets it (at most 15 characters).
    pub name: String,
    /// The instructions (`insns`, `insn_cnt` of them).
    pub insns: Vec<u64>,
    /// `prog_btf_fd` (0: none).
    pub prog_btf_fd: u32,
    /// `core_relo_cnt`: CO-RE records handed to the kernel to resolve.
    pub core_relo_cnt: u32,
    /// `core_relo_rec_size` (16, or 0 without records).
    pub core_relo_rec_size: u32,
    /// The `struct bpf_core_relo` records themselves (`core_relos`).
    pub core_relos: Vec<u8>,
}

thread_local! {
    static WATCHED: std::cell::RefCell<Option<Vec<SentProgLoad>>> =
        const { std::cell::RefCell::new(None) };
}

/// Run `f` and return, with its result, every `BPF_PROG_LOAD` this thread issued meanwhile,
/// as the attribute block gave it to the kernel (a load that failed, or whose failure was
/// injected, included). A test seam next to [`inject_failure`]: it shows what was *sent*
/// (are CO-RE records left to the kernel, or resolved here?), not what the loader says.
pub fn watch_prog_loads<R>(f: impl FnOnce() -> R) -> (R, Vec<SentProgLoad>) {
    /// Puts back the watch of an enclosing call, also when `f` panics.
    struct Restore(Option<Vec<SentProgLoad>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = self.0.take();
            WATCHED.with(|w| *w.borrow_mut() = outer);
        }
    }
    let outer = WATCHED.with(|w| w.borrow_mut().replace(Vec::new()));
    let restore = Restore(outer);
    let r = f();
    let seen = WATCHED.with(|w| w.borrow_mut().take()).unwrap_or_default();
    drop(restore);
    (r, seen)
}

/// Note what `attr` (built from `p`) hands the kernel, when a watch is on.
fn note_prog_load(p: &ProgLoad, attr: &ProgLoadAttr) {
    WATCHED.with(|w| {
        if let Some(v) = w.borrow_mut().as_mut() {
            let relo_bytes = (attr.core_relo_cnt as usize) * (attr.core_relo_rec_size as usize);
            v.push(SentProgLoad {
                name: String::from_utf8_lossy(&attr.prog_name)
                    .trim_end_matches('\0')
                    .to_string(),
                insns: p.insns[..(attr.insn_cnt as usize).min(p.insns.len())].to_vec(),
                prog_btf_fd: attr.prog_btf_fd,
                core_relo_cnt: attr.core_relo_cnt,
                core_relo_rec_size: attr.core_relo_rec_size,
                core_relos: if attr.core_relos == 0 {
                    Vec::new()
                } else {
                    p.core_relos[..relo_bytes.min(p.core_relos.len())].to_vec()
                },
            });
        }
    });
}

/// Count of bpf(2) calls made by this process, by command (for --explain and benchmarks).
pub static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Issue one bpf(2) command with `attr` as its attribute block. Returns the kernel's
/// non-negative result (an fd for commands that create objects).
fn bpf<T>(cmd: Cmd, attr: &mut T, what: &dyn Fn() -> String) -> Result<i64> {
    CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(errno) = injected(cmd) {
        return Err(SysError::new(
            cmd.name(),
            format!("{} (injected)", what()),
            io::Error::from_raw_os_error(errno),
        ));
    }
    loop {
        // SAFETY: `attr` is a live, properly sized #[repr(C)] attribute block for `cmd`;
        // every pointer stored in it refers to memory that outlives this call.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as u32 as libc::c_long,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>() as libc::c_long,
            )
        };
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR)
            || err.raw_os_error() == Some(libc::EAGAIN) && cmd == Cmd::BPF_PROG_LOAD
        {
            continue;
        }
        return Err(SysError::new(cmd.name(), what(), err));
    }
}

fn to_fd(ret: i64) -> OwnedFd {
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(ret as RawFd) }
}

/// Copy `name` into a fixed kernel name buffer (BPF_OBJ_NAME_LEN = 16), truncated and
/// restricted to the characters the kernel accepts (alphanumerics, `_`, `.`).
pub fn obj_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().take(15).zip(
        name.bytes()
            .filter(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.'),
    ) {
        *o = c;
    }
    out
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| {
        SysError::new(
            "path",
            path.display().to_string(),
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        )
    })
}

// ---------------------------------------------------------------------------------------
// BTF

#[repr(C)]
#[derive(Default)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
    btf_log_true_size: u32,
}

/// BPF_BTF_LOAD. With `log` the kernel's BTF verifier log is written there on failure.
pub fn btf_load(data: &[u8], log: Option<&mut Vec<u8>>) -> Result<OwnedFd> {
    let mut attr = BtfLoadAttr {
        btf: data.as_ptr() as u64,
        btf_size: data.len() as u32,
        ..Default::default()
    };
    if let Some(log) = log {
        if log.len() < 64 {
            log.resize(64 * 1024, 0);
        }
        attr.btf_log_buf = log.as_mut_ptr() as u64;
        attr.btf_log_size = log.len() as u32;
        attr.btf_log_level = 1;
        return bpf(Cmd::BPF_BTF_LOAD, &mut attr, &|| "object BTF".into()).map(to_fd);
    }
    bpf(Cmd::BPF_BTF_LOAD, &mut attr, &|| "object BTF".into()).map(to_fd)
}

// ---------------------------------------------------------------------------------------
// Maps

/// The attributes of BPF_MAP_CREATE that we set.
#[derive(Debug, Clone, Default)]
pub struct MapCreate {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: Option<RawFd>,
    pub name: String,
    pub btf_fd: Option<RawFd>,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub map_extra: u64,
}

#[repr(C)]
#[derive(Default)]
struct MapCreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
}

/// BPF_MAP_CREATE.
pub fn map_create(m: &MapCreate) -> Result<OwnedFd> {
    let mut attr = MapCreateAttr {
        map_type: m.map_type,
        key_size: m.key_size,
        value_size: m.value_size,
        max_entries: m.max_entries,
        map_flags: m.map_flags,
        inner_map_fd: m.inner_map_fd.unwrap_or(0) as u32,
        map_name: obj_name(&m.name),
        btf_fd: m.btf_fd.unwrap_or(0) as u32,
        btf_key_type_id: m.btf_key_type_id,
        btf_value_type_id: m.btf_value_type_id,
        map_extra: m.map_extra,
        ..Default::default()
    };
    bpf(Cmd::BPF_MAP_CREATE, &mut attr, &|| {
        format!("map '{}'", m.name)
    })
    .map(to_fd)
}

#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST` for updates.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

/// BPF_MAP_UPDATE_ELEM. `key` and `value` must have the map's key and value sizes.
pub fn map_update(map: BorrowedFd, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    bpf(Cmd::BPF_MAP_UPDATE_ELEM, &mut attr, &|| {
        format!("map fd {}", map.as_raw_fd())
    })
    .map(|_| ())
}

/// BPF_MAP_LOOKUP_ELEM into `value`. Returns false when the key is absent (ENOENT).
/// For per-CPU maps `value` must hold one rounded-up value per possible CPU.
pub fn map_lookup(map: BorrowedFd, key: &[u8], value: &mut [u8]) -> Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(Cmd::BPF_MAP_LOOKUP_ELEM, &mut attr, &|| {
        format!("map fd {}", map.as_raw_fd())
    }) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_MAP_DELETE_ELEM. Returns false when the key was absent.
pub fn map_delete(map: BorrowedFd, key: &[u8]) -> Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    match bpf(Cmd::BPF_MAP_DELETE_ELEM, &mut attr, &|| {
        format!("map fd {}", map.as_raw_fd())
    }) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_MAP_GET_NEXT_KEY: the key after `key` (the first key when `key` is None), written
/// to `next`. Returns false at the end.
pub fn map_next_key(map: BorrowedFd, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        key: key.map(|k| k.as_ptr() as u64).unwrap_or(0),
        value: next.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(Cmd::BPF_MAP_GET_NEXT_KEY, &mut attr, &|| {
        format!("map fd {}", map.as_raw_fd())
    }) {
        Ok(_) => Ok(true),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

#[repr(C)]
#[derive(Default)]
struct FdAttr {
    fd: u32,
}

/// BPF_MAP_FREEZE: no more writes from user space (for `.rodata`).
pub fn map_freeze(map: BorrowedFd) -> Result<()> {
    let mut attr = FdAttr {
        fd: map.as_raw_fd() as u32,
    };
    bpf(Cmd::BPF_MAP_FREEZE, &mut attr, &|| {
        format!("map fd {}", map.as_raw_fd())
    })
    .map(|_| ())
}

// ---------------------------------------------------------------------------------------
// Programs

/// The attributes of BPF_PROG_LOAD that we set. Record buffers (`func_info`, `line_info`)
/// are raw kernel-format records of `*_rec_size` bytes each.
#[derive(Debug, Default)]
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    pub name: String,
    pub insns: &'a [u64],
    pub license: &'a str,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_btf_fd: Option<RawFd>,
    pub func_info_rec_size: u32,
    pub func_info: &'a [u8],
    pub line_info_rec_size: u32,
    pub line_info: &'a [u8],
    pub attach_btf_id: u32,
    pub attach_prog_fd: Option<RawFd>,
    pub attach_btf_obj_fd: Option<RawFd>,
    pub ifindex: u32,
    /// `struct bpf_core_relo` records for the kernel to resolve (16 bytes each; needs
    /// `prog_btf_fd`).
    pub core_relos: &'a [u8],
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    prog_btf_fd: u32,
    func_info_rec_size: u32,
    func_info: u64,
    func_info_cnt: u32,
    line_info_rec_size: u32,
    line_info: u64,
    line_info_cnt: u32,
    attach_btf_id: u32,
    attach_prog_fd: u32,
    core_relo_cnt: u32,
    fd_array: u64,
    core_relos: u64,
    core_relo_rec_size: u32,
    log_true_size: u32,
}

/// BPF_PROG_LOAD. With `log` (level 1 or 2) the verifier's log goes there; the caller grows
/// the buffer and retries on ENOSPC.
pub fn prog_load(p: &ProgLoad, log: Option<(&mut Vec<u8>, u32)>) -> Result<OwnedFd> {
    let license = CString::new(p.license).unwrap_or_default();
    let count = |buf: &[u8], rec: u32| (buf.len() as u32).checked_div(rec).unwrap_or(0);
    let mut attr = ProgLoadAttr {
        prog_type: p.prog_type,
        insn_cnt: p.insns.len() as u32,
        insns: p.insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        kern_version: p.kern_version,
        prog_flags: p.prog_flags,
        prog_name: obj_name(&p.name),
        prog_ifindex: p.ifindex,
        expected_attach_type: p.expected_attach_type,
        prog_btf_fd: p.prog_btf_fd.unwrap_or(0) as u32,
        attach_btf_id: p.attach_btf_id,
        attach_prog_fd: p.attach_prog_fd.or(p.attach_btf_obj_fd).unwrap_or(0) as u32,
        ..Default::default()
    };
    if p.prog_btf_fd.is_some() && !p.func_info.is_empty() {
        attr.func_info_rec_size = p.func_info_rec_size;
        attr.func_info = p.func_info.as_ptr() as u64;
        attr.func_info_cnt = count(p.func_info, p.func_info_rec_size);
    }
    if p.prog_btf_fd.is_some() && !p.line_info.is_empty() {
        attr.line_info_rec_size = p.line_info_rec_size;
        attr.line_info = p.line_info.as_ptr() as u64;
        attr.line_info_cnt = count(p.line_info, p.line_info_rec_size);
    }
    if p.prog_btf_fd.is_some() && !p.core_relos.is_empty() {
        attr.core_relo_rec_size = 16;
        attr.core_relos = p.core_relos.as_ptr() as u64;
        attr.core_relo_cnt = count(p.core_relos, 16);
    }
    if let Some((buf, level)) = log {
        if buf.is_empty() {
            buf.resize(256 * 1024, 0);
        }
        attr.log_level = level;
        attr.log_size = buf.len() as u32;
        attr.log_buf = buf.as_mut_ptr() as u64;
    }
    note_prog_load(p, &attr);
    bpf(Cmd::BPF_PROG_LOAD, &mut attr, &|| {
        format!("prog '{}'", p.name)
    })
    .map(to_fd)
}

/// The result of one BPF_PROG_TEST_RUN.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    pub retval: u32,
    pub duration_ns: u32,
    pub data_out: Vec<u8>,
    pub ctx_out: Vec<u8>,
}

#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// BPF_PROG_TEST_RUN with packet `data` (may be empty) and context `ctx` (may be empty).
/// `repeat` must be 0 for programs run on a context only (raw tracepoints).
pub fn prog_test_run(prog: BorrowedFd, data: &[u8], ctx: &[u8], repeat: u32) -> Result<TestRun> {
    let mut data_out = vec![0u8; if data.is_empty() { 0 } else { data.len() + 256 }];
    // Context-only runs (raw_tp, syscall programs) take no output buffers at all.
    let mut ctx_out = vec![0u8; if data.is_empty() { 0 } else { ctx.len() }];
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: data.len() as u32,
        data_in: if data.is_empty() {
            0
        } else {
            data.as_ptr() as u64
        },
        data_size_out: data_out.len() as u32,
        data_out: if data_out.is_empty() {
            0
        } else {
            data_out.as_mut_ptr() as u64
        },
        ctx_size_in: ctx.len() as u32,
        ctx_in: if ctx.is_empty() {
            0
        } else {
            ctx.as_ptr() as u64
        },
        ctx_size_out: ctx_out.len() as u32,
        ctx_out: if ctx_out.is_empty() {
            0
        } else {
            ctx_out.as_mut_ptr() as u64
        },
        repeat,
        ..Default::default()
    };
    bpf(Cmd::BPF_PROG_TEST_RUN, &mut attr, &|| {
        format!("prog fd {}", prog.as_raw_fd())
    })?;
    data_out.truncate(attr.data_size_out as usize);
    ctx_out.truncate(attr.ctx_size_out as usize);
    Ok(TestRun {
        retval: attr.retval,
        duration_ns: attr.duration,
        data_out,
        ctx_out,
    })
}

// ---------------------------------------------------------------------------------------
// Pins and ids

#[repr(C)]
#[derive(Default)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// BPF_OBJ_PIN: pin a program, map or link at `path` (inside a bpffs mount).
pub fn obj_pin(fd: BorrowedFd, path: &Path) -> Result<()> {
    let c = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        bpf_fd: fd.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf(Cmd::BPF_OBJ_PIN, &mut attr, &|| path.display().to_string()).map(|_| ())
}

/// BPF_OBJ_GET: open a pinned object.
pub fn obj_get(path: &Path) -> Result<OwnedFd> {
    let c = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: c.as_ptr() as u64,
        ..Default::default()
    };
    bpf(Cmd::BPF_OBJ_GET, &mut attr, &|| path.display().to_string()).map(to_fd)
}

/// What kind of BPF object an fd holds (a pin can be any), from the name of its anonymous
/// inode in /proc/self/fd (`anon_inode:bpf-map`); None for anything else.
pub fn fd_kind(fd: BorrowedFd) -> Option<ObjKind> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    match link.to_str()? {
        "anon_inode:bpf-map" => Some(ObjKind::Map),
        "anon_inode:bpf-prog" => Some(ObjKind::Prog),
        "anon_inode:bpf_link" | "anon_inode:bpf-link" => Some(ObjKind::Link),
        _ => None,
    }
}

#[repr(C)]
#[derive(Default)]
struct IdAttr {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// Which kind of kernel object an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjKind {
    Prog,
    Map,
    Link,
    Btf,
}

/// BPF_{PROG,MAP,LINK,BTF}_GET_FD_BY_ID.
pub fn fd_by_id(kind: ObjKind, id: u32) -> Result<OwnedFd> {
    let cmd = match kind {
        ObjKind::Prog => Cmd::BPF_PROG_GET_FD_BY_ID,
        ObjKind::Map => Cmd::BPF_MAP_GET_FD_BY_ID,
        ObjKind::Link => Cmd::BPF_LINK_GET_FD_BY_ID,
        ObjKind::Btf => Cmd::BPF_BTF_GET_FD_BY_ID,
    };
    let mut attr = IdAttr {
        id,
        ..Default::default()
    };
    bpf(cmd, &mut attr, &|| format!("id {id}")).map(to_fd)
}

/// BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID: the id after `start`, None at the end.
pub fn next_id(kind: ObjKind, start: u32) -> Result<Option<u32>> {
    let cmd = match kind {
        ObjKind::Prog => Cmd::BPF_PROG_GET_NEXT_ID,
        ObjKind::Map => Cmd::BPF_MAP_GET_NEXT_ID,
        ObjKind::Link => Cmd::BPF_LINK_GET_NEXT_ID,
        ObjKind::Btf => Cmd::BPF_BTF_GET_NEXT_ID,
    };
    let mut attr = IdAttr {
        id: start,
        ..Default::default()
    };
    match bpf(cmd, &mut attr, &|| format!("after id {start}")) {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every id of one kind of object in the kernel, in order.
pub fn all_ids(kind: ObjKind) -> Result<Vec<u32>> {
    let mut ids = Vec::new();
    let mut cur = 0;
    while let Some(id) = next_id(kind, cur)? {
        ids.push(id);
        cur = id;
    }
    Ok(ids)
}

#[repr(C)]
#[derive(Default)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// BPF_OBJ_GET_INFO_BY_FD into a raw buffer; returns the bytes the kernel filled.
/// Pointers inside `buf` (for arrays the kernel should fill) must already be set.
pub fn obj_info_raw(fd: BorrowedFd, buf: &mut [u8]) -> Result<usize> {
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: buf.len() as u32,
        info: buf.as_mut_ptr() as u64,
    };
    bpf(Cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr, &|| {
        format!("fd {}", fd.as_raw_fd())
    })?;
    Ok(attr.info_len as usize)
}

fn rd_u32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
        .unwrap_or(0)
}
fn rd_u64(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .map(|s| {
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            u64::from_ne_bytes(a)
        })
        .unwrap_or(0)
}
fn rd_name(b: &[u8], off: usize) -> String {
    let s = b.get(off..off + 16).unwrap_or(&[]);
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// What `struct bpf_prog_info` says about a loaded program (the fields we use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub name: String,
    pub xlated_prog_len: u32,
    pub jited_prog_len: u32,
    pub map_ids: Vec<u32>,
    pub btf_id: u32,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub verified_insns: u32,
}

impl ProgInfo {
    /// The tag as the kernel and bpftool print it: 16 hex digits.
    pub fn tag_hex(&self) -> String {
        self.tag.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// BPF_OBJ_GET_INFO_BY_FD on a program.
pub fn prog_info(fd: BorrowedFd) -> Result<ProgInfo> {
    // Room for the map ids in the first call: the kernel fills up to `nr_map_ids` of them and
    // answers how many there are, so a second call is needed only past 64 maps.
    let mut map_ids = vec![0u32; 64];
    let buf = prog_info_with(fd, &mut map_ids)?;
    let nr_map_ids = rd_u32(&buf, 52).min(4096) as usize;
    if nr_map_ids > map_ids.len() {
        map_ids = vec![0u32; nr_map_ids];
        prog_info_with(fd, &mut map_ids)?;
    }
    map_ids.truncate(nr_map_ids);
    let mut tag = [0u8; 8];
    tag.copy_from_slice(&buf[8..16]);
    Ok(ProgInfo {
        prog_type: rd_u32(&buf, 0),
        id: rd_u32(&buf, 4),
        tag,
        jited_prog_len: rd_u32(&buf, 16),
        xlated_prog_len: rd_u32(&buf, 20),
        name: rd_name(&buf, 64),
        map_ids,
        btf_id: rd_u32(&buf, 128),
        run_time_ns: rd_u64(&buf, 192),
        run_cnt: rd_u64(&buf, 200),
        verified_insns: rd_u32(&buf, 216),
    })
}

/// `struct bpf_prog_info` with `map_ids` pointing at `map_ids` (filled up to its length).
fn prog_info_with(fd: BorrowedFd, map_ids: &mut [u32]) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 232];
    buf[52..56].copy_from_slice(&(map_ids.len() as u32).to_ne_bytes());
    buf[56..64].copy_from_slice(&(map_ids.as_mut_ptr() as u64).to_ne_bytes());
    obj_info_raw(fd, &mut buf)?;
    Ok(buf)
}

/// The program as the kernel runs it before JIT (`xlated_prog_insns`), one `u64` per
/// instruction; map references read back as map ids.
pub fn prog_xlated(fd: BorrowedFd) -> Result<Vec<u64>> {
    let info = prog_info(fd)?;
    let mut insns = vec![0u64; info.xlated_prog_len as usize / 8];
    let mut buf = vec![0u8; 232];
    buf[20..24].copy_from_slice(&(insns.len() as u32 * 8).to_ne_bytes());
    buf[32..40].copy_from_slice(&(insns.as_mut_ptr() as u64).to_ne_bytes());
    obj_info_raw(fd, &mut buf)?;
    insns.truncate(rd_u32(&buf, 20) as usize / 8);
    Ok(insns)
}

/// What `struct bpf_map_info` says about a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: String,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
}

/// BPF_OBJ_GET_INFO_BY_FD on a map.
pub fn map_info(fd: BorrowedFd) -> Result<MapInfo> {
    let mut buf = vec![0u8; 88];
    obj_info_raw(fd, &mut buf)?;
    Ok(MapInfo {
        map_type: rd_u32(&buf, 0),
        id: rd_u32(&buf, 4),
        key_size: rd_u32(&buf, 8),
        value_size: rd_u32(&buf, 12),
        max_entries: rd_u32(&buf, 16),
        map_flags: rd_u32(&buf, 20),
        name: rd_name(&buf, 24),
        btf_id: rd_u32(&buf, 64),
        btf_key_type_id: rd_u32(&buf, 68),
        btf_value_type_id: rd_u32(&buf, 72),
    })
}

/// What `struct bpf_link_info` says about a link (the common part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
}

/// BPF_OBJ_GET_INFO_BY_FD on a link.
pub fn link_info(fd: BorrowedFd) -> Result<LinkInfo> {
    let mut buf = vec![0u8; 64];
    obj_info_raw(fd, &mut buf)?;
    Ok(LinkInfo {
        link_type: rd_u32(&buf, 0),
        id: rd_u32(&buf, 4),
        prog_id: rd_u32(&buf, 8),
    })
}

/// BPF_OBJ_GET_INFO_BY_FD on a BTF object: its raw bytes (for a program's own BTF).
pub fn btf_data(fd: BorrowedFd) -> Result<Vec<u8>> {
    // struct bpf_btf_info { u64 btf; u32 btf_size; u32 id; u64 name; u32 name_len; u32 kernel_btf; }
    let mut info = vec![0u8; 32];
    obj_info_raw(fd, &mut info)?;
    let size = rd_u32(&info, 8).min(64 << 20);
    let mut data = vec![0u8; size as usize];
    let mut again = vec![0u8; 32];
    again[0..8].copy_from_slice(&(data.as_mut_ptr() as u64).to_ne_bytes());
    again[8..12].copy_from_slice(&size.to_ne_bytes());
    obj_info_raw(fd, &mut again)?;
    Ok(data)
}

// ---------------------------------------------------------------------------------------
// Attachments through bpf(2)

#[repr(C)]
#[derive(Default)]
struct RawTpAttr {
    name: u64,
    prog_fd: u32,
    _pad: u32,
    cookie: u64,
}

/// BPF_RAW_TRACEPOINT_OPEN: attach a raw tracepoint program (or, with no name, a
/// TRACING / tp_btf program that carries its target in attach_btf_id). Returns the link fd.
pub fn raw_tracepoint_open(prog: BorrowedFd, name: Option<&str>) -> Result<OwnedFd> {
    let c = name.map(|n| CString::new(n).unwrap_or_default());
    let mut attr = RawTpAttr {
        name: c.as_ref().map(|c| c.as_ptr() as u64).unwrap_or(0),
        prog_fd: prog.as_raw_fd() as u32,
        ..Default::default()
    };
    bpf(Cmd::BPF_RAW_TRACEPOINT_OPEN, &mut attr, &|| {
        format!("raw tracepoint '{}'", name.unwrap_or("<from BTF id>"))
    })
    .map(to_fd)
}

#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    extra: u64,
    extra2: u64,
}

/// BPF_LINK_CREATE. `target` is the target fd or ifindex; `extra` the first word of the
/// type-specific union (target_btf_id for tracing, bpf_cookie for perf events).
pub fn link_create(
    prog: BorrowedFd,
    target: u32,
    attach_type: u32,
    flags: u32,
    extra: u64,
) -> Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_fd: target,
        attach_type,
        flags,
        extra,
        extra2: 0,
    };
    bpf(Cmd::BPF_LINK_CREATE, &mut attr, &|| {
        format!("attach type {attach_type}, target {target}")
    })
    .map(to_fd)
}

/// BPF_LINK_DETACH: detach a link without closing its fd.
pub fn link_detach(link: BorrowedFd) -> Result<()> {
    let mut attr = FdAttr {
        fd: link.as_raw_fd() as u32,
    };
    bpf(Cmd::BPF_LINK_DETACH, &mut attr, &|| {
        format!("link fd {}", link.as_raw_fd())
    })
    .map(|_| ())
}

/// BPF_ENABLE_STATS(BPF_STATS_RUN_TIME): run_cnt/run_time_ns count while the fd lives.
pub fn enable_stats() -> Result<OwnedFd> {
    let mut attr = FdAttr { fd: 0 };
    bpf(Cmd::BPF_ENABLE_STATS, &mut attr, &|| {
        "BPF_STATS_RUN_TIME".into()
    })
    .map(to_fd)
}

/// The number of possible CPUs (for per-CPU map values and perf buffers).
pub fn possible_cpus() -> std::io::Result<Vec<u32>> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    parse_cpu_list(s.trim())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("bad cpu list '{s}'")))
}

/// Parse a kernel CPU list such as `0-3,5`.
pub fn parse_cpu_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 65536 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Is this path on a bpffs mount? (statfs magic BPF_FS_MAGIC)
pub fn is_bpffs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type().0 == 0xcafe4a11)
        .unwrap_or(false)
}

/// Mount bpffs at `path` (normally /sys/fs/bpf) when it is not mounted there.
pub fn ensure_bpffs(path: &Path) -> Result<()> {
    if is_bpffs(path) {
        return Ok(());
    }
    std::fs::create_dir_all(path)
        .map_err(|e| SysError::new("mkdir", path.display().to_string(), e))?;
    nix::mount::mount(
        Some("bpf"),
        path,
        Some("bpf"),
        nix::mount::MsFlags::empty(),
        Some("mode=0700"),
    )
    .map_err(|e| SysError::new("mount(bpf)", path.display().to_string(), io::Error::from(e)))
}

/// Let SIGPIPE end the process quietly, as it does for C tools: `rbpf-load ... | head` must
/// not panic on a closed stdout (Rust ignores SIGPIPE by default).
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler code; this runs at startup before other threads.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_uapi() {
        use std::mem::size_of;
        assert_eq!(size_of::<ProgLoadAttr>(), 144);
        assert_eq!(size_of::<MapCreateAttr>(), 72);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(size_of::<TestRunAttr>(), 80);
        assert_eq!(size_of::<LinkCreateAttr>(), 32);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,5"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn names_are_sanitised() {
        assert_eq!(&obj_name("a-b.c_d")[..5], b"ab.c_");
        assert_eq!(obj_name("0123456789abcdefXYZ")[15], 0);
    }
}
