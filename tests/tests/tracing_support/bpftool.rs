//! Loading a clang-built object with bpftool (`prog loadall ... pinmaps ...`) until our own
//! loader can, and opening what it pinned. Every pin goes when the guard is dropped.

use loader::sys;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The programs and maps of one object, pinned under unique bpffs directories.
pub struct Loaded {
    pub progs: PathBuf,
    pub maps: PathBuf,
}

impl Loaded {
    /// `bpftool prog loadall OBJ PROGS pinmaps MAPS`; panics with bpftool's output on failure.
    pub fn new(obj: &Path) -> Loaded {
        sys::ensure_bpffs(Path::new("/sys/fs/bpf")).expect("bpffs");
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("/sys/fs/bpf/rbpf_trace_{}_{n}", std::process::id());
        let l = Loaded {
            progs: PathBuf::from(&base),
            maps: PathBuf::from(format!("{base}_maps")),
        };
        let out = std::process::Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(obj)
            .arg(&l.progs)
            .arg("pinmaps")
            .arg(&l.maps)
            .output()
            .expect("run bpftool");
        assert!(
            out.status.success(),
            "bpftool prog loadall {}: {}{}",
            obj.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        l
    }

    pub fn prog_path(&self, name: &str) -> PathBuf {
        self.progs.join(name)
    }

    pub fn prog(&self, name: &str) -> OwnedFd {
        let p = self.prog_path(name);
        sys::obj_get(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub fn map(&self, name: &str) -> OwnedFd {
        let p = self.maps.join(name);
        sys::obj_get(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The pinned map whose name ends with `suffix` (`bss`: libbpf names it `OBJNAME.bss`,
    /// and bpftool pins it as `OBJNAME_bss`).
    pub fn map_ending(&self, suffix: &str) -> OwnedFd {
        let name = std::fs::read_dir(&self.maps)
            .expect("maps dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(suffix))
            .unwrap_or_else(|| panic!("no map *{suffix} in {}", self.maps.display()));
        self.map(&name)
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        for dir in [&self.progs, &self.maps] {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
