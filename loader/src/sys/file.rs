//! The kernel's BTF files (`/sys/kernel/btf/*`) in one go: sysfs hands them out 4 KiB per
//! read(2) (1,300+ calls for vmlinux), but since Linux 6.16 vmlinux can be mapped
//! read-only (`MAP_PRIVATE`, `PROT_READ`) in one call. Where mapping is refused (older
//! kernels, other files) the file is read.

use std::io;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Where sysfs keeps BTF: files there never change while they exist.
const SYSFS_BTF: &str = "/sys/kernel/btf/";

/// A file's bytes, mapped or read.
#[derive(Debug)]
pub enum FileBytes {
    Mapped(ReadOnlyMap),
    Read(Vec<u8>),
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            FileBytes::Mapped(m) => m.bytes(),
            FileBytes::Read(v) => v,
        }
    }
}

/// A private read-only mapping of a whole file, unmapped on drop.
#[derive(Debug)]
pub struct ReadOnlyMap {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and private: no one writes to it, so sharing `&[u8]`
// views of it between threads is as safe as sharing a `Vec<u8>`.
unsafe impl Send for ReadOnlyMap {}
// SAFETY: as above: immutable memory.
unsafe impl Sync for ReadOnlyMap {}

impl ReadOnlyMap {
    fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len describe a live PROT_READ mapping owned by self (unmapped only in
        // Drop), of a sysfs BTF file whose contents never change, so the bytes stay valid
        // and unchanged for as long as the borrow of self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for ReadOnlyMap {
    fn drop(&mut self) {
        // SAFETY: exactly the pointer and length mmap returned; no borrow of the bytes can
        // outlive self.
        unsafe { libc::munmap(self.ptr as *mut libc::c_void, self.len) };
    }
}

/// Read a BTF file from `/sys/kernel/btf/` with one mmap when the kernel allows it, else
/// with read(2). Any other path is simply read.
pub fn read_btf_file(path: &Path) -> io::Result<FileBytes> {
    if !path.starts_with(SYSFS_BTF) {
        return std::fs::read(path).map(FileBytes::Read);
    }
    let f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    if len == 0 {
        return std::fs::read(path).map(FileBytes::Read);
    }
    // SAFETY: a fresh private read-only mapping chosen by the kernel (addr NULL); the result
    // is checked against MAP_FAILED and owned by the ReadOnlyMap until munmap in its Drop.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            f.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        // Kernels before 6.16 do not map BTF: read it.
        return std::fs::read(path).map(FileBytes::Read);
    }
    Ok(FileBytes::Mapped(ReadOnlyMap {
        ptr: ptr as *const u8,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_or_read_bytes_are_the_file() {
        let p = Path::new("/sys/kernel/btf/vmlinux");
        if !p.exists() {
            eprintln!("skipped: no /sys/kernel/btf/vmlinux on this kernel");
            return;
        }
        let a = read_btf_file(p).unwrap();
        let b = std::fs::read(p).unwrap();
        assert_eq!(&a[..], &b[..]);
    }

    #[test]
    fn other_paths_are_read() {
        let p = std::env::temp_dir().join(format!("rbpf-file-{}", std::process::id()));
        std::fs::write(&p, b"abc").unwrap();
        let a = read_btf_file(&p).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(matches!(a, FileBytes::Read(_)));
        assert_eq!(&a[..], b"abc");
    }
}
