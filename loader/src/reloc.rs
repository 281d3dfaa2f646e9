//! Relocation: map references, BPF-to-BPF calls, CO-RE. No kernel.
