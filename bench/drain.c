/* bench/drain.c: the libbpf side of the event-drain benchmark (bench/run.sh). The same job
 * as `rbpf-bench drain`: load one program of OBJ with libbpf, then round after round make
 * BATCH events with BPF_PROG_TEST_RUN (repeat = BATCH) and time how long perf_buffer /
 * ring_buffer take to consume them all. Prints `drain:KIND EVENTS_PER_SECOND events/s`.
 *
 * usage: drain perf|rb OBJ PROG MAP BATCH ROUNDS
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned long long events, lost, bytes, bad;

/* The same check as rbpf-bench: UDP (17), source port 1234, destination port 9999. */
static void check(const unsigned char *d, size_t size)
{
	__u16 sport, dport;
	bytes += size;
	if (size < 16) {
		bad++;
		return;
	}
	memcpy(&sport, d + 12, 2);
	memcpy(&dport, d + 14, 2);
	bad += !(d[0] == 17 && sport == 1234 && dport == 9999);
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	(void)ctx, (void)cpu;
	events++;
	check(data, size);
}

static void on_lost(void *ctx, int cpu, __u64 n)
{
	(void)ctx, (void)cpu;
	lost += n;
}

static int on_record(void *ctx, void *data, size_t size)
{
	(void)ctx;
	events++;
	check(data, size);
	return 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: drain perf|rb OBJ PROG MAP BATCH ROUNDS\n");
		return 2;
	}
	int perf = !strcmp(argv[1], "perf");
	unsigned batch = atoi(argv[5]), rounds = atoi(argv[6]);
	struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
	if (!obj) {
		fprintf(stderr, "%s: cannot open\n", argv[2]);
		return 1;
	}
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), argv[3]));
	if (bpf_object__load(obj)) {
		fprintf(stderr, "%s: load failed\n", argv[2]);
		return 1;
	}
	int prog_fd = bpf_program__fd(bpf_object__find_program_by_name(obj, argv[3]));
	int map_fd = bpf_object__find_map_fd_by_name(obj, argv[4]);
	struct perf_buffer *pb = NULL;
	struct ring_buffer *rb = NULL;
	if (perf)
		pb = perf_buffer__new(map_fd, 128, on_sample, on_lost, NULL, NULL);
	else
		rb = ring_buffer__new(map_fd, on_record, NULL, NULL);
	if ((perf && !pb) || (!perf && !rb)) {
		fprintf(stderr, "cannot open the %s buffer\n", argv[1]);
		return 1;
	}
	/* Ethernet + IPv4 + UDP, as in rbpf-bench. */
	unsigned char frame[58] = { 0 };
	frame[12] = 0x08;
	frame[14] = 0x45;
	frame[17] = 44;
	frame[22] = 64;
	frame[23] = 17;
	memcpy(frame + 26, "\x0a\x00\x00\x02\x0a\x00\x00\x01", 8);
	memcpy(frame + 34, "\x04\xd2\x27\x0f\x00\x18", 6);
	LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = frame, .data_size_in = sizeof(frame),
		    .repeat = batch);
	double *rate = calloc(rounds + 2, sizeof(double));
	for (unsigned r = 0; r < rounds + 2; r++) {
		events = lost = 0;
		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			fprintf(stderr, "BPF_PROG_TEST_RUN failed\n");
			return 1;
		}
		double t0 = now();
		int err = perf ? perf_buffer__consume(pb) : ring_buffer__consume(rb);
		double dt = now() - t0;
		if (err < 0 || events != batch || lost) {
			fprintf(stderr, "drained %llu events, %llu lost, of %u\n", events, lost, batch);
			return 1;
		}
		rate[r] = batch / dt;
	}
	/* The first two rounds warm the caches and fault in the ring's pages. */
	qsort(rate + 2, rounds, sizeof(double), cmp);
	printf("drain:%s %.0f events/s\n", argv[1], rate[2 + rounds / 2]);
	if (bytes == 0 || bad) {
		fprintf(stderr, "%llu events were not the frame that was sent\n", bad);
		return 1;
	}
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
