// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * proc_events: a process monitor on the scheduler's tracepoints.
 *
 *   on_exec (SEC "tp/sched/sched_process_exec"): a task called execve successfully;
 *   on_fork (SEC "tp/sched/sched_process_fork"): a task created a new task (process or
 *     thread);
 *   on_exit (SEC "tp/sched/sched_process_exit"): a task (any thread) is exiting.
 * Each sends a `struct proc_event` (common.h, 32 bytes) through RINGBUF `proc_rb` (256 KiB)
 * and adds 1 to `proc_counts` (ARRAY, 3 x u64) at the kind (0 exec, 1 fork, 2 exit).
 *
 * Fields: exec and exit describe the current task: pid (thread id), tgid (process id),
 * ppid = real_parent->tgid, comm (after exec: the new program's name, cut at 15 chars).
 * fork describes the child: pid = child's id (from the tracepoint), tgid = the same (the
 * tracepoint does not say whether the child is a thread; for a new process tgid == pid),
 * ppid = the forking process's tgid, comm = the parent's comm (the child inherits it).
 * So spawning `/bin/true` from pid P gives fork{pid=C, ppid=P}, exec{pid=C, tgid=C,
 * ppid=P, comm="true"}, exit{pid=C, tgid=C, ppid=P, comm="true"}.
 *
 * task_struct is read with BPF_CORE_READ: the field offsets in this object are those of
 * the vmlinux.h it was built with, and the loader must fix them up (CO-RE relocations in
 * .BTF.ext) against the running kernel's BTF. The reads go through bpf_probe_read_kernel,
 * a GPL-only helper.
 * User space: load, attach the three with BPF_LINK_CREATE / perf_event tracepoints, mmap
 * and read `proc_rb`.
 */
#include "common.h"
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} proc_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} proc_counts SEC(".maps");

/* Fill ev from the current task. */
static __always_inline void from_current(struct proc_event *ev)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	ev->pid = BPF_CORE_READ(task, pid);
	ev->tgid = BPF_CORE_READ(task, tgid);
	/* Two pointer hops: task->real_parent->tgid, each read checked by the helper. */
	ev->ppid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&ev->comm, task, comm);
}

static __always_inline int emit(__u32 kind, pid_t child)
{
	struct proc_event *ev;

	count_slot(&proc_counts, kind);
	ev = bpf_ringbuf_reserve(&proc_rb, sizeof(*ev), 0);
	if (!ev)
		return 0; /* ring full: the event is lost, the count above still says it happened */
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	from_current(ev);
	if (kind == PROC_FORK) {
		ev->ppid = ev->tgid; /* the current task is the parent */
		ev->pid = child;
		ev->tgid = child;
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tp/sched/sched_process_exec")
int on_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	return emit(PROC_EXEC, 0);
}

SEC("tp/sched/sched_process_fork")
int on_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	/* A tracepoint context is read directly; vmlinux.h marks it for CO-RE, so this offset
	 * is relocated too. */
	return emit(PROC_FORK, ctx->child_pid);
}

SEC("tp/sched/sched_process_exit")
int on_exit(struct trace_event_raw_sched_process_template *ctx)
{
	return emit(PROC_EXIT, 0);
}

/* Never used by the programs: it puts struct proc_event into the object's BTF, so that
 * `rbpf-load ... --events proc_rb=proc_event` can print each record field by field. */
struct proc_event *proc_event_type __attribute__((unused));

char LICENSE[] SEC("license") = "GPL";
