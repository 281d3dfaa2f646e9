//! perf_event_open(2), its ioctls and the mmap of its ring (tracepoints, kprobes, perf
//! event arrays). Filled in with the tracing work.
