//! Orchestration: BTF_LOAD -> MAP_CREATE (+ initial values, `.rodata` frozen) -> relocate
//! -> PROG_LOAD (verifier log on failure) -> PROG_ARRAY slots from `.values`.
//!
//! A failure at any step drops what was made so far: every kernel object is held by an
//! `OwnedFd`, and nothing is pinned until the caller asks, so nothing stays in the kernel.

use crate::btf::{kind, Btf, Kind};
use crate::explain::{self, Explainer};
use crate::obj::map_type::{PERF_EVENT_ARRAY, PROG_ARRAY, RINGBUF};
use crate::obj::{MapDef, ObjError, Object, Program};
use crate::reloc::{self, Linked, RelocError};
use crate::section::{self, prog_type, AttachKind, SectionDef};
use crate::sys::{self, SysError};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Obj(#[from] ObjError),
    #[error(transparent)]
    Btf(#[from] crate::btf::BtfError),
    #[error("map '{map}': {source}{}", perm_hint(.source))]
    Map {
        map: String,
        #[source]
        source: SysError,
    },
    #[error(transparent)]
    Reloc(#[from] RelocError),
    #[error(transparent)]
    Verifier(Box<VerifierError>),
    #[error("prog '{prog}' (section '{section}'): {source}{hint}")]
    Prog {
        prog: String,
        section: String,
        #[source]
        source: SysError,
        /// What to do about it, when we can tell.
        hint: String,
    },
    #[error("prog '{prog}' (section '{section}'): cannot tell the program type: the section name is not a known one and {why}; name the hook (e.g. --dev with --xdp/--ingress, or --type)")]
    NoType {
        prog: String,
        section: String,
        why: String,
    },
    #[error("prog '{prog}': attach target: {reason}")]
    Target { prog: String, reason: String },
    #[error("map '{map}' slot {slot} = prog '{prog}': {reason}")]
    TailCall {
        map: String,
        slot: u32,
        prog: String,
        reason: String,
    },
    #[error("pin {path}: {reason}")]
    Pin { path: String, reason: String },
    #[error(transparent)]
    MapReuse(#[from] crate::share::ShareError),
}

/// The verifier said no: its reason, where, and the whole log.
#[derive(Debug, thiserror::Error)]
#[error("prog '{prog}' (section '{section}'): the verifier rejected it: {reason}{}", at_line(.insn, .line))]
pub struct VerifierError {
    pub prog: String,
    pub section: String,
    pub reason: String,
    /// The failing instruction, when the log names one.
    pub insn: Option<usize>,
    /// `source text  (file:line)` of the failing instruction, from line_info.
    pub line: Option<String>,
    /// The whole verifier log.
    pub log: String,
    pub errno: i32,
}

fn at_line(insn: &Option<usize>, line: &Option<String>) -> String {
    match (insn, line) {
        (Some(i), Some(l)) => format!("\n  at instruction {i}: {l}"),
        (Some(i), None) => format!("\n  at instruction {i}"),
        (None, Some(l)) => format!("\n  at {l}"),
        _ => String::new(),
    }
}

/// What to do about EPERM when we are not root.
fn perm_hint(e: &SysError) -> &'static str {
    if e.errno() == Some(libc::EPERM) && !nix::unistd::geteuid().is_root() {
        " (needs CAP_BPF (and CAP_PERFMON, CAP_NET_ADMIN to attach), or CAP_SYS_ADMIN: run as root)"
    } else {
        ""
    }
}

/// A hint for a refused PROG_LOAD that the verifier did not explain.
fn hint(e: &SysError, def: &SectionDef) -> String {
    let root = nix::unistd::geteuid().is_root();
    match e.errno() {
        Some(libc::EPERM) if !root => " (needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN, or CAP_SYS_ADMIN: run as root)".into(),
        Some(libc::EPERM) if def.attach == AttachKind::Trampoline => {
            " (refused although we are root: this kernel does not allow BPF trampolines, so fentry/fexit/fmod_ret programs cannot load here)".into()
        }
        Some(libc::EPERM) => " (refused although we are root: a lockdown or sysctl may forbid it)".into(),
        _ => String::new(),
    }
}

pub type Result<T> = std::result::Result<T, LoadError>;

/// Where a fentry/fexit program attaches when its target is another BPF program.
#[derive(Debug)]
pub enum TargetProg {
    /// A program of the same object, by name.
    Named(String),
    /// A program already in the kernel.
    Fd(OwnedFd),
}

/// Where --explain narration goes: called once per step with one line.
pub type Narrator = Box<dyn Fn(&str)>;

/// How to load.
#[derive(Default)]
pub struct LoadOptions {
    /// Load only these programs (and what they need); None = every program.
    pub only: Option<Vec<String>>,
    /// The program type for programs whose section the table does not know
    /// (`xdp_classifier`), e.g. `section::by_prefix("xdp")`.
    pub type_hint: Option<SectionDef>,
    /// fentry/fexit targets by program name.
    pub targets: HashMap<String, TargetProg>,
    /// Verifier log level on failure (1 normally, 2 for everything).
    pub log_level: u32,
    /// Verifier log level for a load that succeeds (`-v` 1, `-vv` 2; 0: no log): kept in
    /// [`LoadedProgram::verifier_log`].
    pub success_log_level: u32,
    /// Narration for --explain: called once per step.
    pub explain: Option<Narrator>,
    /// Who resolves CO-RE relocations.
    pub core: CoreMode,
    /// Where maps pinned by name (`LIBBPF_PIN_BY_NAME`) are shared; None: /sys/fs/bpf.
    pub pin_root: Option<PathBuf>,
    /// Maps taken from a pin instead of created: the object's map name -> the pin.
    pub reuse_maps: HashMap<String, PathBuf>,
    /// Leave shared maps this load creates unpinned (a trial load that only asks whether
    /// the kernel takes a program).
    pub trial: bool,
}

/// Who resolves a program's CO-RE relocations (also the CLI's `--core auto|user|kernel`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum CoreMode {
    /// The kernel when it can, else we do. The kernel is asked when the object has BTF,
    /// nothing else of the load needs the kernel's BTF in this process (fentry/fexit, LSM
    /// and BTF tracepoint targets do: then the one walk serves CO-RE too) and no --explain
    /// narration wants each record's outcome. If the kernel refuses the object's BTF or a
    /// program loaded that way (a kernel before 5.17 answers E2BIG to `core_relos`), that
    /// program and the rest are relocated by us and loaded again, so a refusal is reported
    /// as `User` reports it: the relocation or the verifier's log at fault.
    #[default]
    Auto,
    /// We do, against `/sys/kernel/btf/vmlinux` (read once, walked once, decoded as
    /// needed), and can say for each record what it became (--explain, inspect).
    User,
    /// The kernel does, while it verifies the program: `BPF_PROG_LOAD` takes the records
    /// (`core_relos`, Linux 5.17+) and this process never reads the kernel's BTF for them.
    /// The kernel searches its types for each root type name it has not cached (a cache of
    /// 31 slots by name hash, so `xdp_md` and `ethhdr` evict each other): ~0.5 ms a name
    /// missed here, against a fresh process's ~1.5 ms to read and walk the kernel's BTF.
    /// Needs the object's BTF in the kernel; a kernel that cannot fails the load.
    Kernel,
}

/// A map in the kernel.
#[derive(Debug)]
pub struct LoadedMap {
    pub def: MapDef,
    pub fd: OwnedFd,
    pub id: u32,
    /// Where it is shared through bpffs, if it is ([`crate::share`]).
    pub shared: Option<crate::share::SharedMap>,
}

/// A program in the kernel.
#[derive(Debug)]
pub struct LoadedProgram {
    pub name: String,
    pub section: String,
    pub def: SectionDef,
    pub attach_arg: Option<String>,
    pub fd: OwnedFd,
    pub id: u32,
    pub tag: String,
    pub insn_count: usize,
    pub verified_insns: u32,
    /// How the type was decided (for the user: "section name", "context type xdp_md").
    pub type_source: String,
    /// CO-RE relocations of the program, and whether the kernel resolved them (else we did).
    pub core_relos: usize,
    pub core_by_kernel: bool,
    /// (map fd, map id) of the maps the program uses, from its info after the load.
    pub map_ids: Vec<(i32, u32)>,
    /// The verifier's log of the successful load, when asked for
    /// ([`LoadOptions::success_log_level`]).
    pub verifier_log: Option<String>,
}

/// Everything one object put into the kernel. Dropping it closes every fd: what is not
/// pinned or attached goes away.
#[derive(Debug)]
pub struct Loaded {
    pub name: String,
    pub btf_fd: Option<OwnedFd>,
    pub maps: Vec<LoadedMap>,
    pub programs: Vec<LoadedProgram>,
}

/// The running kernel's BTF, read once per process; types are decoded as relocations ask.
pub fn kernel_btf() -> Result<Arc<Btf>> {
    kernel_btf_for(&[])
}

/// [`kernel_btf`], announcing the names about to be looked up (the first call's names are
/// the ones noted while the file is walked; see [`Btf::kernel_lazy_for`]).
pub fn kernel_btf_for(names: &[String]) -> Result<Arc<Btf>> {
    static K: OnceLock<std::result::Result<Arc<Btf>, String>> = OnceLock::new();
    K.get_or_init(|| {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        Btf::kernel_lazy_for(&names)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    })
    .clone()
    .map_err(|e| LoadError::Btf(crate::btf::BtfError::Malformed(format!("kernel BTF: {e}"))))
}

fn has_core(obj: &Object) -> bool {
    obj.btf_ext
        .as_ref()
        .map(|e| e.core_relos.iter().any(|r| !r.records.is_empty()))
        .unwrap_or(false)
}

/// Programs that name a kernel function or BTF tracepoint need the kernel's BTF to find it.
fn needs_kernel_btf(progs: &[&Program]) -> bool {
    progs.iter().any(|p| {
        matches!(
            p.def.map(|d| d.attach),
            Some(AttachKind::Trampoline | AttachKind::TpBtf)
        )
    })
}

/// The names loading `progs` will look up in the kernel's BTF: the CO-RE root types (by
/// essential name, `task_struct___old` -> `task_struct`) and the fentry/fexit/LSM and BTF
/// tracepoint targets.
fn kernel_names(obj: &Object, progs: &[&Program]) -> Vec<String> {
    let mut names = Vec::new();
    if let (Some(ext), Some(btf)) = (&obj.btf_ext, &obj.btf) {
        for rec in ext.core_relos.iter().flat_map(|r| r.records.iter()) {
            if rec.kind != crate::btf::core::relo::TYPE_ID_LOCAL {
                names.push(crate::btf::spec::essential(btf.name(rec.type_id)).to_string());
            }
        }
    }
    for p in progs {
        let (Some(d), Some(arg)) = (p.def, p.attach_arg.as_deref()) else {
            continue;
        };
        match d.attach {
            AttachKind::Trampoline if d.prog_type == prog_type::LSM => {
                names.push(format!("bpf_lsm_{arg}"))
            }
            AttachKind::Trampoline => names.push(arg.to_string()),
            AttachKind::TpBtf => names.push(format!("btf_trace_{arg}")),
            _ => {}
        }
    }
    names.sort();
    names.dedup();
    names
}

fn say_kernel_btf(ex: &Explainer, k: &Btf) {
    ex.say(|| {
        format!(
            "kernel BTF: {} types read from /sys/kernel/btf/vmlinux",
            k.len()
        )
    });
    ex.why("kernel_btf");
}

/// Decide a program's type: the section table, else the caller's hint, else the BTF type of
/// its context argument.
pub fn program_def(p: &Program, hint: Option<SectionDef>) -> Result<(SectionDef, String)> {
    if let Some(d) = p.def {
        return Ok((d, format!("section name '{}'", p.section)));
    }
    if let Some(d) = hint {
        return Ok((d, "the hook asked for".into()));
    }
    if let Some(d) = p.ctx_struct.as_deref().and_then(section::from_context_type) {
        return Ok((
            d,
            format!(
                "context type 'struct {} *'",
                p.ctx_struct.as_deref().unwrap_or("")
            ),
        ));
    }
    Err(LoadError::NoType {
        prog: p.name.clone(),
        section: p.section.clone(),
        why: match &p.ctx_struct {
            Some(s) => format!("its context type 'struct {s} *' does not decide one"),
            None => "there is no BTF for its context argument".into(),
        },
    })
}

/// Load `obj` into the kernel.
pub fn load(obj: &Object, opts: &LoadOptions) -> Result<Loaded> {
    let progs: Vec<&Program> = match &opts.only {
        None => obj.programs.iter().collect(),
        Some(names) => {
            let mut v = Vec::new();
            for n in names {
                v.push(obj.program(n).ok_or_else(|| {
                    LoadError::Obj(ObjError::Symbol {
                        symbol: n.clone(),
                        reason: format!(
                            "no such program; the object has: {}",
                            obj.programs
                                .iter()
                                .map(|p| p.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })
                })?);
            }
            // Tail-call targets named in `.values` come along.
            for m in &obj.maps {
                for (_, pn) in &m.values {
                    if let Some(p) = obj.program(pn) {
                        if !v.iter().any(|q| q.name == p.name) {
                            v.push(p);
                        }
                    }
                }
            }
            v
        }
    };
    let mut defs = Vec::new();
    for p in &progs {
        defs.push(program_def(p, opts.type_hint)?);
    }
    crate::share::check_reuse_names(&obj.maps, &opts.reuse_maps)?;
    let ex = Explainer::new(opts.explain.as_deref());
    ex.say(|| {
        format!(
            "object '{}': {} programs to load ({}), {} maps, license '{}'",
            obj.name,
            progs.len(),
            progs
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            obj.maps.len(),
            obj.license
        )
    });
    let has_core = has_core(obj);
    let wants_kernel_btf = needs_kernel_btf(&progs);
    // Whether the kernel is asked to resolve CO-RE (it needs the object's BTF loaded). In
    // `Auto` it may say no (an older kernel, a refused BTF): then `core_by_kernel` turns
    // false and we resolve from there on.
    let auto = opts.core == CoreMode::Auto;
    let mut core_by_kernel = has_core
        && match opts.core {
            CoreMode::Kernel => true,
            CoreMode::User => false,
            CoreMode::Auto => obj.btf.is_some() && !wants_kernel_btf && opts.explain.is_none(),
        };
    if core_by_kernel && obj.btf.is_none() {
        return Err(LoadError::Btf(crate::btf::BtfError::Malformed(
            "the kernel resolves CO-RE relocations against the object's BTF, and it has none"
                .into(),
        )));
    }
    let read_kernel_btf = || -> Result<Arc<Btf>> {
        let k = kernel_btf_for(&kernel_names(obj, &progs))?;
        say_kernel_btf(&ex, &k);
        Ok(k)
    };
    let mut kbtf = if wants_kernel_btf || (has_core && !core_by_kernel) {
        Some(read_kernel_btf()?)
    } else {
        None
    };

    // 1. BTF.
    let mut btf_fd = None;
    if let Some((btf, notes)) = obj.btf_for_load()? {
        ex.step("BTF: the object's type information");
        for n in &notes {
            ex.say(|| format!("BTF fix-up: {n}"));
        }
        if !notes.is_empty() {
            ex.why("btf_fixup");
        }
        let bytes = btf.to_bytes()?;
        // Without a log first: with one the kernel logs every type it checks. The log is
        // asked for only to explain a refusal.
        let mut log = Vec::new();
        let res = sys::btf_load(&bytes, None).or_else(|_| {
            log = vec![0u8; 64 * 1024];
            sys::btf_load(&bytes, Some(&mut log))
        });
        match res {
            Ok(fd) => {
                ex.say(|| {
                    format!(
                        "bpf(BPF_BTF_LOAD, btf_size={}, {} types) = fd {}",
                        bytes.len(),
                        btf.types.len() - 1,
                        fd.as_raw_fd()
                    )
                });
                ex.why("btf_load");
                btf_fd = Some(fd);
            }
            // With --core kernel the kernel needs the object's BTF to resolve CO-RE against.
            Err(e) if core_by_kernel && !auto => {
                return Err(LoadError::Btf(crate::btf::BtfError::Malformed(format!(
                    "the kernel refused the object's BTF, so it cannot resolve CO-RE relocations: {e}: {}",
                    log_text(&log)
                ))));
            }
            // Otherwise programs load without BTF too (no func/line info, no BTF map types).
            Err(e) => {
                ex.say(|| {
                    format!(
                        "bpf(BPF_BTF_LOAD) failed, going on without BTF: {e}: {}",
                        log_text(&log)
                    )
                });
                ex.why("btf_fail");
                // `Auto` asked the kernel; without the object's BTF it cannot: we resolve.
                if core_by_kernel {
                    core_by_kernel = false;
                    if kbtf.is_none() {
                        kbtf = Some(read_kernel_btf()?);
                    }
                }
            }
        }
    }

    // 2. Maps.
    let mut maps: Vec<LoadedMap> = Vec::new();
    if !obj.maps.is_empty() {
        ex.step("maps");
    }
    for def in &obj.maps {
        maps.push(shared_or_new_map(def, opts, btf_fd.as_ref(), &ex)?);
    }
    let map_fd = |name: &str| {
        maps.iter()
            .find(|m| m.def.name == name)
            .map(|m| m.fd.as_raw_fd())
    };

    // 3. Programs: targets of fentry/fexit first.
    let mut order: Vec<usize> = (0..progs.len()).collect();
    order.sort_by_key(|&i| matches!(defs[i].0.attach, AttachKind::Trampoline) as u8);
    let mut loaded: Vec<LoadedProgram> = Vec::new();
    for i in order {
        let p = progs[i];
        let (def, src) = &defs[i];
        ex.step(&format!(
            "prog '{}' ({}): relocate, then load",
            p.name,
            prog_type::name(def.prog_type)
        ));
        let linked = if core_by_kernel {
            reloc::link_with(obj, p, &map_fd, reloc::CoreBy::Kernel)?
        } else {
            reloc::link(obj, p, &map_fd, kbtf.as_deref())?
        };
        if linked.layout.len() > 1 {
            ex.say(|| {
                format!(
                    "sub-programs appended after '{}': {}",
                    p.name,
                    linked
                        .layout
                        .iter()
                        .skip(1)
                        .filter_map(|(f, start)| obj
                            .functions
                            .get(*f)
                            .map(|f| format!("'{}' at insn {start}", f.name)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            });
            ex.why("reloc_call");
        }
        for patch in &linked.patches {
            ex.say(|| {
                format!(
                    "insn {}: {}  [{}]  ({:#018x} -> {:#018x})",
                    patch.insn,
                    crate::disasm::disasm_insn(&linked.insns, patch.insn).0,
                    patch.what,
                    patch.before.to_u64(),
                    patch.after.to_u64()
                )
            });
            ex.why("reloc");
        }
        for (_, c) in &linked.core {
            ex.say(|| format!("CO-RE {c}"));
            ex.why("core");
        }
        if !linked.kernel_core.is_empty() {
            ex.say(|| {
                format!(
                    "CO-RE: {} relocations passed to the kernel to resolve (core_relos)",
                    linked.kernel_core.len() / 16
                )
            });
            ex.why("core_kernel");
        }
        let (attach_btf_id, attach_prog_fd) =
            attach_target(obj, p, def, opts, &loaded, kbtf.as_deref())?;
        let load_linked = |linked: &reloc::Linked| {
            load_program(
                obj,
                p,
                def,
                src,
                linked,
                btf_fd.as_ref(),
                attach_btf_id,
                attach_prog_fd.as_ref(),
                opts,
                &ex,
            )
        };
        let lp = match load_linked(&linked) {
            Ok(lp) => lp,
            // `Auto` asked the kernel to resolve CO-RE and the load failed: an older kernel
            // (E2BIG: it knows no `core_relos`), a record it cannot resolve, or the verifier.
            // Resolve here and load again; a second refusal is the one reported.
            Err(e) if auto && !linked.kernel_core.is_empty() => {
                ex.say(|| format!("the kernel's CO-RE load failed ({e}); resolving here"));
                core_by_kernel = false;
                if kbtf.is_none() {
                    kbtf = Some(read_kernel_btf()?);
                }
                load_linked(&reloc::link(obj, p, &map_fd, kbtf.as_deref())?)?
            }
            Err(e) => return Err(e),
        };
        loaded.push(lp);
    }

    fill_map_ids(&mut maps, &loaded)?;
    let out = Loaded {
        name: obj.name.clone(),
        btf_fd,
        maps,
        programs: loaded,
    };
    // 4. Static tail-call tables.
    for def in &obj.maps {
        if !def.values.is_empty() {
            ex.step(&format!("tail-call slots of '{}' (from .values)", def.name));
        }
        for (slot, prog) in &def.values {
            if out.program(prog).is_none() && opts.only.is_some() {
                continue;
            }
            out.set_tail_call(&def.name, *slot, prog)?;
            ex.say(|| {
                let fd = |m: Option<i32>| m.map(|f| f.to_string()).unwrap_or_default();
                format!(
                    "bpf(BPF_MAP_UPDATE_ELEM, map_fd={} '{}', key={slot}, value=fd {} (prog '{prog}'))",
                    fd(out.map(&def.name).map(|m| m.fd.as_raw_fd())),
                    def.name,
                    fd(out.program(prog).map(|p| p.fd.as_raw_fd())),
                )
            });
            ex.why("tail_call");
        }
    }
    // 5. Shared maps this load made: pinned for the next one.
    if !opts.trial {
        pin_shared(&out, &ex)?;
    }
    Ok(out)
}

/// Pin a new shared map at `path`, making its directory in bpffs if needed.
fn pin_new_shared(name: &str, fd: BorrowedFd, path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        check_pin_dir(dir)?;
    }
    pin_one(fd, path).map_err(|e| match e {
        LoadError::Pin { path, reason } => crate::share::ShareError {
            map: name.to_string(),
            path,
            reason: format!("cannot pin the new map there: {reason}"),
        }
        .into(),
        e => e,
    })
}

/// Map `def` from its pin when it is shared and pinned already, else a new one (to be
/// pinned by [`pin_shared`] once every program has loaded).
fn shared_or_new_map(
    def: &MapDef,
    opts: &LoadOptions,
    btf_fd: Option<&OwnedFd>,
    ex: &Explainer,
) -> Result<LoadedMap> {
    use crate::share::{self, SharedMap};
    let path = share::shared_path(def, &opts.reuse_maps, opts.pin_root.as_deref());
    let Some(path) = path else {
        return create_map(def, btf_fd.map(|f| f.as_raw_fd()), ex);
    };
    let must_exist = opts.reuse_maps.contains_key(&def.name);
    if let Some((fd, id)) = share::open_pinned(def, &path, must_exist)? {
        ex.say(|| {
            format!(
                "map '{}': bpf(BPF_OBJ_GET, \"{}\") = fd {}, id {id}: pinned before, and its type, sizes, max_entries and flags match, so it is used as it is",
                def.name,
                path.display(),
                fd.as_raw_fd()
            )
        });
        ex.why("map_reuse");
        return Ok(LoadedMap {
            def: def.clone(),
            fd,
            id,
            shared: Some(SharedMap { path, reused: true }),
        });
    }
    let mut m = create_map(def, btf_fd.map(|f| f.as_raw_fd()), ex)?;
    m.shared = Some(SharedMap {
        path,
        reused: false,
    });
    Ok(m)
}

/// Pin the shared maps this load created where the next load will look for them. On
/// failure the pins made here are removed again.
fn pin_shared(out: &Loaded, ex: &Explainer) -> Result<()> {
    let mut made: Vec<&Path> = Vec::new();
    for m in &out.maps {
        let Some(s) = m.shared.as_ref().filter(|s| !s.reused) else {
            continue;
        };
        if let Err(e) = pin_new_shared(&m.def.name, m.fd.as_fd(), &s.path) {
            for p in made {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        made.push(&s.path);
        ex.say(|| {
            format!(
                "map '{}': bpf(BPF_OBJ_PIN, \"{}\"): shared from now on",
                m.def.name,
                s.path.display()
            )
        });
        ex.why("map_share");
    }
    Ok(())
}

fn log_text(buf: &[u8]) -> String {
    let end = buf.iter().position(|&c| c == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).trim_end().to_string()
}

fn create_map(def: &MapDef, btf_fd: Option<i32>, ex: &Explainer) -> Result<LoadedMap> {
    // One slot per CPU in a perf event array unless the object says otherwise; fixed sizes.
    let (key_size, value_size, max_entries) = crate::share::kernel_shape(def);
    // Map types that take BTF key/value types.
    let btf_ok = btf_fd.is_some()
        && (def.btf_key_type_id != 0 || def.btf_value_type_id != 0)
        && !matches!(def.map_type, PERF_EVENT_ARRAY | RINGBUF | PROG_ARRAY);
    let mut attr = sys::MapCreate {
        map_type: def.map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: def.map_flags,
        name: def.kernel_name.clone(),
        map_extra: def.map_extra,
        ..Default::default()
    };
    if btf_ok {
        attr.btf_fd = btf_fd;
        attr.btf_key_type_id = def.btf_key_type_id;
        attr.btf_value_type_id = def.btf_value_type_id;
    }
    let fd = match sys::map_create(&attr) {
        Ok(fd) => fd,
        Err(_) if btf_ok => {
            // Some map types refuse BTF: try once without it.
            attr.btf_fd = None;
            attr.btf_key_type_id = 0;
            attr.btf_value_type_id = 0;
            sys::map_create(&attr).map_err(|source| LoadError::Map {
                map: def.name.clone(),
                source,
            })?
        }
        Err(source) => {
            return Err(LoadError::Map {
                map: def.name.clone(),
                source,
            })
        }
    };
    let map_err = |source| LoadError::Map {
        map: def.name.clone(),
        source,
    };
    // The id comes later from the programs' info (one call per program, see
    // `fill_map_ids`); --explain names it here, so it asks now.
    let id = if ex.on() {
        sys::map_info(fd.as_fd()).map_err(map_err)?.id
    } else {
        0
    };
    ex.say(|| {
        format!(
            "bpf(BPF_MAP_CREATE, map_type={}, map_name=\"{}\", key_size={key_size}, value_size={value_size}, max_entries={max_entries}, map_flags={}{}) = fd {}, id {id}",
            explain::map_type_uapi(def.map_type),
            def.kernel_name,
            explain::map_flags(def.map_flags),
            match attr.btf_fd {
                Some(b) => format!(
                    ", btf_fd={b}, btf_key_type_id={}, btf_value_type_id={}",
                    attr.btf_key_type_id, attr.btf_value_type_id
                ),
                None => String::new(),
            },
            fd.as_raw_fd(),
        )
    });
    ex.why(explain::map_reason(def));
    if let Some(data) = &def.data {
        sys::map_update(fd.as_fd(), &0u32.to_ne_bytes(), data, sys::BPF_ANY).map_err(map_err)?;
        ex.say(|| {
            format!(
                "bpf(BPF_MAP_UPDATE_ELEM, map_fd={}, key=0, value={} bytes)",
                fd.as_raw_fd(),
                data.len()
            )
        });
        ex.why("map_init");
    }
    if def.is_rodata() {
        sys::map_freeze(fd.as_fd()).map_err(map_err)?;
        ex.say(|| format!("bpf(BPF_MAP_FREEZE, map_fd={})", fd.as_raw_fd()));
        ex.why("map_freeze");
    }
    Ok(LoadedMap {
        def: def.clone(),
        fd,
        id,
        shared: None,
    })
}

/// attach_btf_id (and attach_prog_fd) for programs that need them at load time.
fn attach_target(
    obj: &Object,
    p: &Program,
    def: &SectionDef,
    opts: &LoadOptions,
    loaded: &[LoadedProgram],
    kbtf: Option<&Btf>,
) -> Result<(u32, Option<OwnedFd>)> {
    let terr = |reason: String| LoadError::Target {
        prog: p.name.clone(),
        reason,
    };
    let arg = || {
        p.attach_arg
            .clone()
            .ok_or_else(|| terr(format!("section '{}' names no function", p.section)))
    };
    match def.attach {
        AttachKind::Trampoline => {
            let func = arg()?;
            let target_fd = match opts.targets.get(&p.name) {
                Some(TargetProg::Fd(fd)) => Some(fd.try_clone().map_err(|e| terr(e.to_string()))?),
                Some(TargetProg::Named(n)) => Some(
                    loaded
                        .iter()
                        .find(|l| &l.name == n)
                        .ok_or_else(|| {
                            terr(format!(
                                "target program '{n}' is not loaded from this object"
                            ))
                        })?
                        .fd
                        .try_clone()
                        .map_err(|e| terr(e.to_string()))?,
                ),
                // fentry/NAME where NAME is a program of the same object: trace that one.
                None => match loaded.iter().find(|l| l.name == func) {
                    Some(l) => Some(l.fd.try_clone().map_err(|e| terr(e.to_string()))?),
                    None => None,
                },
            };
            match target_fd {
                Some(fd) => {
                    let id = crate::attach::prog_func_btf_id(fd.as_fd(), &func)
                        .map_err(|e| terr(e.to_string()))?;
                    Ok((id, Some(fd)))
                }
                None => {
                    let k = kbtf.ok_or_else(|| terr("kernel BTF unavailable".into()))?;
                    let name = if def.prog_type == prog_type::LSM {
                        format!("bpf_lsm_{func}")
                    } else {
                        func.clone()
                    };
                    let id = k.find_by_name(&name, kind::FUNC).ok_or_else(|| {
                        terr(format!(
                            "kernel function '{name}' not found in the kernel's BTF"
                        ))
                    })?;
                    Ok((id, None))
                }
            }
        }
        AttachKind::TpBtf => {
            let tp = arg()?;
            let k = kbtf.ok_or_else(|| terr("kernel BTF unavailable".into()))?;
            let name = format!("btf_trace_{tp}");
            let id = k.find_by_name(&name, kind::TYPEDEF).ok_or_else(|| {
                terr(format!(
                    "raw tracepoint '{tp}' not found in the kernel's BTF ({name})"
                ))
            })?;
            Ok((id, None))
        }
        _ => {
            let _ = obj;
            Ok((0, None))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn load_program(
    obj: &Object,
    p: &Program,
    def: &SectionDef,
    type_source: &str,
    linked: &Linked,
    btf_fd: Option<&OwnedFd>,
    attach_btf_id: u32,
    attach_prog_fd: Option<&OwnedFd>,
    opts: &LoadOptions,
    ex: &Explainer,
) -> Result<LoadedProgram> {
    let insns = crate::insn::encode(&linked.insns);
    let with_btf = btf_fd.is_some();
    let attr = sys::ProgLoad {
        prog_type: def.prog_type,
        expected_attach_type: def.expected_attach_type,
        name: p.name.clone(),
        insns: &insns,
        license: &obj.license,
        kern_version: obj.kern_version,
        prog_flags: def.prog_flags,
        prog_btf_fd: btf_fd.map(|f| f.as_raw_fd()),
        func_info_rec_size: 8,
        func_info: if with_btf { &linked.func_info } else { &[] },
        line_info_rec_size: 16,
        line_info: if with_btf { &linked.line_info } else { &[] },
        attach_btf_id,
        attach_prog_fd: attach_prog_fd.map(|f| f.as_raw_fd()),
        core_relos: if with_btf { &linked.kernel_core } else { &[] },
        ..Default::default()
    };
    let call = || {
        format!(
            "bpf(BPF_PROG_LOAD, prog_type={}{}, prog_name=\"{}\", insn_cnt={}, license=\"{}\"{}{}{}{})",
            explain::prog_type_uapi(def.prog_type),
            if def.expected_attach_type != 0 {
                format!(
                    ", expected_attach_type={}",
                    section::attach_type::name(def.expected_attach_type)
                )
            } else {
                String::new()
            },
            p.name,
            insns.len(),
            obj.license,
            match attr.prog_btf_fd {
                Some(b) if with_btf => format!(
                    ", prog_btf_fd={b}, func_info_cnt={}, line_info_cnt={}{}",
                    linked.func_info.len() / 8,
                    linked.line_info.len() / 16,
                    // What the attribute block carries, not what was meant to go.
                    if attr.core_relos.is_empty() {
                        String::new()
                    } else {
                        format!(", core_relo_cnt={}", attr.core_relos.len() / 16)
                    }
                ),
                _ => String::new(),
            },
            if def.prog_flags != 0 {
                format!(", prog_flags={:#x}", def.prog_flags)
            } else {
                String::new()
            },
            if attach_btf_id != 0 {
                format!(", attach_btf_id={attach_btf_id}")
            } else {
                String::new()
            },
            match &attr.attach_prog_fd {
                Some(f) => format!(", attach_prog_fd={f}"),
                None => String::new(),
            },
        )
    };
    let mut success_log = None;
    let first = match opts.success_log_level {
        0 => sys::prog_load(&attr, None),
        level => load_with_log(&attr, level).map(|(fd, log)| {
            success_log = Some(log);
            fd
        }),
    };
    let fd = match first {
        Ok(fd) => fd,
        Err(first) => {
            ex.say(|| format!("{} = error: {first}", call()));
            ex.say(|| {
                "   again with a verifier log buffer, to learn why (log_level 1: the failing path; -vv: level 2, every instruction)".to_string()
            });
            // Again with a log, growing the buffer while the kernel says ENOSPC.
            let mut size = 1 << 20;
            let level = opts.log_level.max(1);
            loop {
                let mut buf = vec![0u8; size];
                match sys::prog_load(&attr, Some((&mut buf, level))) {
                    Ok(fd) => break fd,
                    Err(e) if e.errno() == Some(libc::ENOSPC) && size < (256 << 20) => size *= 4,
                    Err(e) => {
                        let log = log_text(&buf);
                        return Err(if log.is_empty() {
                            LoadError::Prog {
                                prog: p.name.clone(),
                                section: p.section.clone(),
                                hint: hint(&e, def),
                                source: e,
                            }
                        } else {
                            verifier_error(obj, p, linked, e, log)
                        });
                    }
                }
            }
        }
    };
    let info = sys::prog_info(fd.as_fd()).map_err(|source| LoadError::Prog {
        prog: p.name.clone(),
        section: p.section.clone(),
        source,
        hint: String::new(),
    })?;
    ex.say(|| {
        format!(
            "{} = fd {}, id {}, tag {}",
            call(),
            fd.as_raw_fd(),
            info.id,
            info.tag_hex()
        )
    });
    ex.why("prog_load");
    ex.say(|| {
        format!(
            "   the verifier accepted '{}' after processing {} instructions",
            p.name, info.verified_insns
        )
    });
    // Matched by order only when the counts agree; otherwise the maps ask for themselves.
    let fds = used_map_fds(&linked.insns);
    let map_ids = if fds.len() == info.map_ids.len() {
        fds.into_iter().zip(info.map_ids.iter().copied()).collect()
    } else {
        Vec::new()
    };
    Ok(LoadedProgram {
        name: p.name.clone(),
        section: p.section.clone(),
        def: *def,
        attach_arg: p.attach_arg.clone(),
        fd,
        id: info.id,
        tag: info.tag_hex(),
        insn_count: insns.len(),
        verified_insns: info.verified_insns,
        type_source: type_source.to_string(),
        core_relos: linked.core.len() + linked.kernel_core.len() / 16,
        core_by_kernel: !linked.kernel_core.is_empty(),
        map_ids,
        verifier_log: success_log,
    })
}

/// The map fds a program's instructions refer to (ld_imm64 with BPF_PSEUDO_MAP_FD or
/// BPF_PSEUDO_MAP_VALUE), each once, in the order of first use: the order in which the
/// verifier records them in the program's `used_maps`, which `bpf_prog_info.map_ids` lists.
fn used_map_fds(insns: &[crate::insn::Insn]) -> Vec<i32> {
    use crate::insn::{BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE, LD_IMM64};
    let mut fds: Vec<i32> = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        let insn = &insns[i];
        if insn.code == LD_IMM64 {
            if matches!(insn.src, BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE)
                && !fds.contains(&insn.imm)
            {
                fds.push(insn.imm);
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    fds
}

/// Map ids without one BPF_OBJ_GET_INFO_BY_FD per map: each loaded program's info already
/// listed the ids of the maps it uses (`map_ids`, matched to our fds by order of first use);
/// only a map no loaded program uses is asked for on its own.
fn fill_map_ids(maps: &mut [LoadedMap], progs: &[LoadedProgram]) -> Result<()> {
    for m in maps.iter_mut().filter(|m| m.id == 0) {
        let fd = m.fd.as_raw_fd();
        m.id = match progs
            .iter()
            .flat_map(|p| p.map_ids.iter())
            .find(|(f, _)| *f == fd)
        {
            Some((_, id)) => *id,
            None => {
                sys::map_info(m.fd.as_fd())
                    .map_err(|source| LoadError::Map {
                        map: m.def.name.clone(),
                        source,
                    })?
                    .id
            }
        };
    }
    Ok(())
}

/// PROG_LOAD with a verifier log at `level`, the buffer growing while the kernel says
/// ENOSPC: the program and its log.
fn load_with_log(attr: &sys::ProgLoad, level: u32) -> sys::Result<(OwnedFd, String)> {
    let mut size = 1 << 20;
    loop {
        let mut buf = vec![0u8; size];
        match sys::prog_load(attr, Some((&mut buf, level))) {
            Ok(fd) => return Ok((fd, log_text(&buf))),
            Err(e) if e.errno() == Some(libc::ENOSPC) && size < (256 << 20) => size *= 4,
            Err(e) => return Err(e),
        }
    }
}

/// Turn a verifier log into an error: its last message, the failing instruction and the
/// C source line from line_info.
fn verifier_error(
    obj: &Object,
    p: &Program,
    linked: &Linked,
    e: SysError,
    log: String,
) -> LoadError {
    let (reason, insn) = summarize_log(&log);
    let line = insn.and_then(|i| {
        obj.btf
            .as_ref()
            .and_then(|b| linked.source_line(b, i))
            .map(|(f, n, t)| format!("{t}  ({f}:{n})"))
    });
    LoadError::Verifier(Box::new(VerifierError {
        prog: p.name.clone(),
        section: p.section.clone(),
        reason: if reason.is_empty() {
            e.to_string()
        } else {
            reason
        },
        insn,
        line,
        log,
        errno: e.errno().unwrap_or(0),
    }))
}

/// The verifier's reason (the last message before its statistics) and the index of the
/// last instruction it was looking at.
pub fn summarize_log(log: &str) -> (String, Option<usize>) {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect();
    let stats = |l: &str| {
        l.starts_with("processed ")
            || l.starts_with("verification time")
            || l.starts_with("stack depth")
    };
    let end = lines
        .iter()
        .rposition(|l| !stats(l))
        .map(|i| i + 1)
        .unwrap_or(0);
    let body = &lines[..end];
    let insn_line = |l: &str| -> Option<usize> {
        let (n, rest) = l.split_once(':')?;
        if rest.starts_with(" (") || rest.starts_with(' ') && rest.trim_start().starts_with('(') {
            n.trim().parse().ok()
        } else {
            None
        }
    };
    let last_insn = body.iter().rposition(|l| insn_line(l).is_some());
    let insn = last_insn.and_then(|i| insn_line(body[i]));
    // The reason: the lines after the last instruction, or the very last line.
    let reason = match last_insn {
        Some(i) if i + 1 < body.len() => body[i + 1..]
            .iter()
            .filter(|l| !l.starts_with(';') && insn_line(l).is_none())
            .cloned()
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.last().map(|s| s.to_string()).unwrap_or_default(),
    };
    (reason, insn)
}

impl Loaded {
    pub fn program(&self, name: &str) -> Option<&LoadedProgram> {
        self.programs.iter().find(|p| p.name == name)
    }

    pub fn map(&self, name: &str) -> Option<&LoadedMap> {
        self.maps.iter().find(|m| m.def.name == name)
    }

    /// Put program `prog` into slot `slot` of PROG_ARRAY `map`.
    pub fn set_tail_call(&self, map: &str, slot: u32, prog: &str) -> Result<()> {
        let err = |reason: String| LoadError::TailCall {
            map: map.into(),
            slot,
            prog: prog.into(),
            reason,
        };
        let m = self.map(map).ok_or_else(|| err("no such map".into()))?;
        if m.def.map_type != PROG_ARRAY {
            return Err(err("not a PROG_ARRAY".into()));
        }
        if slot >= m.def.max_entries {
            return Err(err(format!(
                "slot is past max_entries {}",
                m.def.max_entries
            )));
        }
        let p = self
            .program(prog)
            .ok_or_else(|| err("no such program loaded".into()))?;
        let fd = p.fd.as_raw_fd() as u32;
        sys::map_update(
            m.fd.as_fd(),
            &slot.to_ne_bytes(),
            &fd.to_ne_bytes(),
            sys::BPF_ANY,
        )
        .map_err(|e| err(e.to_string()))
    }

    /// Pin every program at DIR/NAME and every map at DIR/maps/NAME ([`pin_name`]). On failure the pins made so far are removed.
    pub fn pin_all(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut made: Vec<PathBuf> = Vec::new();
        // The directories this call creates, outermost first, to remove again on failure.
        let mut new_dirs: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|d| !d.exists())
            .map(Path::to_path_buf)
            .collect();
        new_dirs.reverse();
        new_dirs.push(dir.join("maps"));
        let res = (|| {
            check_pin_dir(dir)?;
            let maps_dir = dir.join("maps");
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&maps_dir)
                .map_err(|e| LoadError::Pin {
                    path: maps_dir.display().to_string(),
                    reason: e.to_string(),
                })?;
            for p in &self.programs {
                let path = dir.join(&p.name);
                pin_one(p.fd.as_fd(), &path)?;
                made.push(path);
            }
            for m in &self.maps {
                let path = maps_dir.join(pin_name(&m.def.name));
                pin_one(m.fd.as_fd(), &path)?;
                made.push(path);
            }
            Ok(())
        })();
        match res {
            Ok(()) => Ok(made),
            Err(e) => {
                for p in &made {
                    let _ = std::fs::remove_file(p);
                }
                for d in new_dirs.iter().rev() {
                    let _ = std::fs::remove_dir(d);
                }
                Err(e)
            }
        }
    }
}

pub use crate::share::pin_name;

/// Pin `fd` at `path`, which must be inside a bpffs mount.
pub fn pin_one(fd: BorrowedFd, path: &Path) -> Result<()> {
    sys::obj_pin(fd, path).map_err(|e| LoadError::Pin {
        path: path.display().to_string(),
        reason: e.source.to_string(),
    })
}

/// A pin directory must be inside bpffs, without `..`, and not behind a symlink that
/// leads out of bpffs. Creates it (mode 0700) when missing.
pub fn check_pin_dir(dir: &Path) -> Result<()> {
    let bad = |reason: String| LoadError::Pin {
        path: dir.display().to_string(),
        reason,
    };
    if dir
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(bad("'..' is not allowed in a pin path".into()));
    }
    if !dir.is_absolute() {
        return Err(bad("pin paths must be absolute".into()));
    }
    // Find the deepest existing ancestor and check where it really is.
    let mut existing = dir.to_path_buf();
    while !existing.exists() {
        if !existing.pop() {
            break;
        }
    }
    let real = existing.canonicalize().map_err(|e| bad(e.to_string()))?;
    if !sys::is_bpffs(&real) {
        return Err(bad(format!(
            "{} is not on a bpffs mount (mount one with `mount -t bpf bpf /sys/fs/bpf`)",
            real.display()
        )));
    }
    if real != existing {
        return Err(bad(format!(
            "{} is a symlink (to {}): refused",
            existing.display(),
            real.display()
        )));
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| bad(e.to_string()))
}

/// A program type's kernel name (for printing).
pub fn type_name(def: &SectionDef) -> &'static str {
    prog_type::name(def.prog_type)
}

/// The BTF struct name a map's value type has, if any (for map dump formatting).
pub fn value_struct(btf: &Btf, id: u32) -> Option<String> {
    let id = btf.skip_mods_and_typedefs(id).ok()?;
    match btf.get(id).ok()?.kind {
        Kind::Struct { .. } => Some(btf.name(id).to_string()),
        _ => None,
    }
}
