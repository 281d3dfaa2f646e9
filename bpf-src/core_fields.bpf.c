// SPDX-License-Identifier: GPL-2.0
/* Every CO-RE relocation kind against real kernel types. Each result lands in the .bss
 * global `results`, so a BPF_PROG_TEST_RUN followed by a read of the .bss map shows what
 * the loader computed. The `___rbpf` flavours carry things no kernel has, for the
 * "absent" answers (exists == 0, and a guarded read that the verifier must see as dead).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* __builtin_preserve_field_info on TYPE::FIELD without an object at hand. */
#define FIELD_INFO(type, field, kind) \
	__builtin_preserve_field_info(((type *)0)->field, kind)

/* task_struct as this program sees it: `pid` exists in the kernel, the other does not. */
struct task_struct___rbpf {
	int pid;
	long rbpf_made_up_member;
} __attribute__((preserve_access_index));

/* Not a kernel type at all. */
struct rbpf_no_such_type {
	int x;
};

/* list_head with the wrong member types: exists in the kernel but does not match. */
struct list_head___rbpf {
	int next;
	int prev;
};

/* bpf_map_type with one real enumerator and one made up. */
enum bpf_map_type___rbpf {
	BPF_MAP_TYPE_RINGBUF___rbpf = 1,
	RBPF_MADE_UP_MAP_TYPE___rbpf = 2,
};

struct core_results {
	/* FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED */
	__u64 pid_off;
	__u64 pid_size;
	__u64 pid_exists;
	__u64 pid_signed;
	__u64 real_parent_off;
	/* a 1-bit bitfield of task_struct: offset/size of the containing load, shifts */
	__u64 in_execve_off;
	__u64 in_execve_size;
	__u64 in_execve_lshift;
	__u64 in_execve_rshift;
	__u64 in_execve_signed;
	__u64 in_execve_value;
	/* a 3-bit bitfield of sk_buff inside an anonymous struct of a union */
	__u64 pkt_type_off;
	__u64 pkt_type_size;
	__u64 pkt_type_lshift;
	__u64 pkt_type_rshift;
	/* the member no kernel has */
	__u64 made_up_exists;
	__u64 made_up_value;
	/* TYPE_ID_LOCAL, TYPE_ID_TARGET */
	__u64 task_id_local;
	__u64 task_id_kernel;
	/* TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES */
	__u64 task_exists;
	__u64 task_size;
	__u64 no_such_type_exists;
	__u64 list_head_matches;
	__u64 list_head_flavour_matches;
	/* ENUMVAL_EXISTS, ENUMVAL_VALUE */
	__u64 ringbuf_exists;
	__u64 ringbuf_value;
	__u64 made_up_enum_exists;
	__u64 made_up_enum_value;
	/* read through the relocated offsets: the caller's pid and tgid */
	__u64 pid;
	__u64 tgid;
	__u64 runs;
};

struct core_results results;

SEC("raw_tp/sys_enter")
int core_fields(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___rbpf *mine = (struct task_struct___rbpf *)task;

	results.pid_off = bpf_core_field_offset(struct task_struct, pid);
	results.pid_size = bpf_core_field_size(struct task_struct, pid);
	results.pid_exists = bpf_core_field_exists(struct task_struct, pid);
	results.pid_signed = FIELD_INFO(struct task_struct, pid, BPF_FIELD_SIGNED);
	results.real_parent_off = bpf_core_field_offset(struct task_struct, real_parent);

	results.in_execve_off = bpf_core_field_offset(struct task_struct, in_execve);
	results.in_execve_size = bpf_core_field_size(struct task_struct, in_execve);
	results.in_execve_lshift = FIELD_INFO(struct task_struct, in_execve, BPF_FIELD_LSHIFT_U64);
	results.in_execve_rshift = FIELD_INFO(struct task_struct, in_execve, BPF_FIELD_RSHIFT_U64);
	results.in_execve_signed = FIELD_INFO(struct task_struct, in_execve, BPF_FIELD_SIGNED);
	results.in_execve_value = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);

	results.pkt_type_off = bpf_core_field_offset(struct sk_buff, pkt_type);
	results.pkt_type_size = bpf_core_field_size(struct sk_buff, pkt_type);
	results.pkt_type_lshift = FIELD_INFO(struct sk_buff, pkt_type, BPF_FIELD_LSHIFT_U64);
	results.pkt_type_rshift = FIELD_INFO(struct sk_buff, pkt_type, BPF_FIELD_RSHIFT_U64);

	results.made_up_exists = bpf_core_field_exists(mine->rbpf_made_up_member);
	if (bpf_core_field_exists(mine->rbpf_made_up_member))
		results.made_up_value = BPF_CORE_READ(mine, rbpf_made_up_member);

	results.task_id_local = bpf_core_type_id_local(struct task_struct);
	results.task_id_kernel = bpf_core_type_id_kernel(struct task_struct);

	results.task_exists = bpf_core_type_exists(struct task_struct);
	results.task_size = bpf_core_type_size(struct task_struct);
	results.no_such_type_exists = bpf_core_type_exists(struct rbpf_no_such_type);
	results.list_head_matches = bpf_core_type_matches(struct list_head);
	results.list_head_flavour_matches = bpf_core_type_matches(struct list_head___rbpf);

	results.ringbuf_exists =
		bpf_core_enum_value_exists(enum bpf_map_type___rbpf, BPF_MAP_TYPE_RINGBUF___rbpf);
	results.ringbuf_value =
		bpf_core_enum_value(enum bpf_map_type___rbpf, BPF_MAP_TYPE_RINGBUF___rbpf);
	results.made_up_enum_exists =
		bpf_core_enum_value_exists(enum bpf_map_type___rbpf, RBPF_MADE_UP_MAP_TYPE___rbpf);
	if (bpf_core_enum_value_exists(enum bpf_map_type___rbpf, RBPF_MADE_UP_MAP_TYPE___rbpf))
		results.made_up_enum_value =
			bpf_core_enum_value(enum bpf_map_type___rbpf, RBPF_MADE_UP_MAP_TYPE___rbpf);

	results.pid = BPF_CORE_READ(mine, pid);
	results.tgid = BPF_CORE_READ(task, tgid);
	results.runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
