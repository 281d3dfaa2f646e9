//! Our own rtnetlink layer: clsact qdiscs, tc bpf filters and XDP. Takes program fds and
//! names; does not depend on the loader.
