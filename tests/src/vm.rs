//! Where a test runs: on the host, or inside one of `make test-vm`'s guest kernels
//! (docs/vm.md). One rule for every test: `RBPF_VM_KERNEL` set and not empty means a guest.

/// The release of the guest kernel `make test-vm` booted (`RBPF_VM_KERNEL`), or None on the
/// host. An empty value is the host, as if unset.
pub fn kernel() -> Option<String> {
    std::env::var("RBPF_VM_KERNEL")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// True inside a guest: `make test-vm` booted this kernel.
pub fn in_vm() -> bool {
    kernel().is_some()
}

/// Must fentry/fexit (BPF trampolines) work here? Inside a guest whose kernel is 5.5 or
/// newer (x86-64 trampolines came with 5.5; the guests run Debian's 6.1 and 6.12): there a
/// refusal is a failure. On the host, whose kernel refuses them with EPERM, a test may
/// accept that refusal (and must still check its message).
pub fn trampolines_required() -> bool {
    kernel().is_some_and(|k| trampoline_release(&k))
}

/// Does kernel release `k` (`6.1.0-56-amd64`) have BPF trampolines? A release we cannot
/// read counts as yes: a guest never excuses a refusal by an unreadable name.
fn trampoline_release(k: &str) -> bool {
    let mut parts = k.split(|c: char| !c.is_ascii_digit());
    match (
        parts.next().and_then(|m| m.parse::<u32>().ok()),
        parts.next().and_then(|m| m.parse::<u32>().ok()),
    ) {
        (Some(major), Some(minor)) => (major, minor) >= (5, 5),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn releases() {
        assert!(super::trampoline_release("6.1.0-56-amd64"));
        assert!(super::trampoline_release("6.12.117+deb12-amd64"));
        assert!(super::trampoline_release("5.5.0"));
        assert!(!super::trampoline_release("5.4.0-100-generic"));
        assert!(!super::trampoline_release("4.19.0"));
        assert!(super::trampoline_release("weird"));
    }
}
