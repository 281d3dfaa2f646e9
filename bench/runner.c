/* bench/runner.c: run several jobs interleaved, round after round, and report for each
 * the median wall time of its timed commands and its peak RSS (ru_maxrss from wait4).
 *
 * A job file:
 *   job NAME            start a job
 *   run ARGV...         a timed command (argv split on spaces; no shell, no quoting)
 *   untimed ARGV...     run but not timed (clean-up between rounds)
 *   ratio A B           also report the median over rounds of time(A) / time(B)
 * Every round runs every job once; the order rotates by one each round, so no job always
 * runs first or after the same neighbour. Commands run with posix_spawn (no shell), stdout
 * to /dev/null, stderr to the log file; a failing command stops the run and names itself.
 *
 * With -k DIR (a probe pinned by `rbpf-bench ktime bench/ktime.bpf.o DIR`), the runner
 * writes its pid into DIR/cfg, and the probe sums the time its children spend inside
 * bpf(2) and netlink system calls into DIR/total, read before and after every command:
 * kernel time and wall time come from the same runs, so a job's user-space share
 * (wall - kernel) is known round by round.
 *
 * usage: runner [-r ROUNDS] [-w WARMUP] [-l LOG] [-k DIR] JOBFILE  -> TSV on stdout:
 *   job  name  median_us  q1_us  q3_us  min_us  maxrss_kb  rounds
 *   ratio  A  B  median_of_round_ratios  ratio_of_medians
 * and with -k:
 *   kjob  name  kernel_median_us  user_median_us  user_q1_us  user_q3_us  calls_median
 *   uratio  A  B  median_of_round_user_share_ratios
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

extern char **environ;

#define MAX_JOBS 64
#define MAX_CMDS 4096
#define MAX_ROUNDS 1000

struct cmd {
	char **argv;
	int timed;
};

struct job {
	char name[64];
	struct cmd *cmds;
	int ncmds, cap;
	double *t; /* microseconds per round */
	double *k; /* of which in the kernel's bpf(2) and netlink calls (-k) */
	double *calls;
	long maxrss;
};

static struct job jobs[MAX_JOBS];
static int njobs;
static char ratios[MAX_JOBS][2][64];
static int nratios;
static const char *logpath = "/dev/null";
static int total_fd = -1; /* -k: the probe's totals map */

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int pinned(const char *dir, const char *name)
{
	char path[4096];
	union bpf_attr a;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	memset(&a, 0, sizeof(a));
	a.pathname = (uint64_t)(uintptr_t)path;
	int fd = sys_bpf(BPF_OBJ_GET, &a);
	if (fd < 0) {
		fprintf(stderr, "runner -k: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static void map_rw(int fd, int cmd, uint32_t key, void *value)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uint64_t)(uintptr_t)&key;
	a.value = (uint64_t)(uintptr_t)value;
	if (sys_bpf(cmd, &a) < 0) {
		fprintf(stderr, "runner -k: map access: %s\n", strerror(errno));
		exit(2);
	}
}

/* Kernel time (us) and calls so far of the runner's children, from the probe. */
static void probe(double *us, double *calls)
{
	uint64_t ns = 0, n = 0;
	if (total_fd >= 0) {
		map_rw(total_fd, BPF_MAP_LOOKUP_ELEM, 0, &ns);
		map_rw(total_fd, BPF_MAP_LOOKUP_ELEM, 1, &n);
	}
	*us = ns / 1e3;
	*calls = n;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char **split(char *s)
{
	int n = 0, cap = 8;
	char **v = malloc(cap * sizeof(*v));
	for (char *tok = strtok(s, " \t\n"); tok; tok = strtok(NULL, " \t\n")) {
		if (n + 2 > cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = strdup(tok);
	}
	v[n] = NULL;
	return v;
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(2);
	}
	char *line = NULL;
	size_t cap = 0;
	struct job *j = NULL;
	while (getline(&line, &cap, f) > 0) {
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p || *p == '\n' || *p == '#')
			continue;
		if (!strncmp(p, "job ", 4)) {
			if (njobs == MAX_JOBS) {
				fprintf(stderr, "too many jobs\n");
				exit(2);
			}
			j = &jobs[njobs++];
			sscanf(p + 4, "%63s", j->name);
		} else if (!strncmp(p, "ratio ", 6)) {
			sscanf(p + 6, "%63s %63s", ratios[nratios][0], ratios[nratios][1]);
			nratios++;
		} else if (j && (!strncmp(p, "run ", 4) || !strncmp(p, "untimed ", 8))) {
			int timed = p[0] == 'r';
			if (j->ncmds == j->cap) {
				j->cap = j->cap ? j->cap * 2 : 8;
				j->cmds = realloc(j->cmds, j->cap * sizeof(*j->cmds));
			}
			j->cmds[j->ncmds].timed = timed;
			j->cmds[j->ncmds].argv = split(p + (timed ? 4 : 8));
			j->ncmds++;
		} else {
			fprintf(stderr, "%s: cannot read line: %s", path, line);
			exit(2);
		}
	}
	free(line);
	fclose(f);
}

/* Run one command; returns its wall time in microseconds and adds its peak RSS; *k and
 * *calls get its time in and number of bpf(2)/netlink calls (-k). */
static double run(struct job *j, struct cmd *c, double *k, double *calls)
{
	double k0, c0, k1, c1;
	probe(&k0, &c0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, logpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
	pid_t pid;
	double t0 = now_us();
	int err = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, environ);
	if (err) {
		fprintf(stderr, "job %s: cannot start %s: %s\n", j->name, c->argv[0], strerror(err));
		exit(1);
	}
	int status;
	struct rusage ru;
	while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR)
		;
	double t1 = now_us();
	probe(&k1, &c1);
	*k = k1 - k0;
	*calls = c1 - c0;
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "job %s: command failed (status %#x):", j->name, status);
		for (char **a = c->argv; *a; a++)
			fprintf(stderr, " %s", *a);
		fprintf(stderr, "\n(see %s)\n", logpath);
		exit(1);
	}
	if (c->timed && ru.ru_maxrss > j->maxrss)
		j->maxrss = ru.ru_maxrss;
	return t1 - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double quantile(const double *v, int n, double q)
{
	double *s = malloc(n * sizeof(*s));
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp);
	double pos = q * (n - 1);
	int i = (int)pos;
	double r = i + 1 < n ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[i];
	free(s);
	return r;
}

static struct job *find(const char *name)
{
	for (int i = 0; i < njobs; i++)
		if (!strcmp(jobs[i].name, name))
			return &jobs[i];
	fprintf(stderr, "ratio: no job %s\n", name);
	exit(2);
}

int main(int argc, char **argv)
{
	int rounds = 20, warmup = 2, opt;
	const char *kdir = NULL;
	while ((opt = getopt(argc, argv, "r:w:l:k:")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'w')
			warmup = atoi(optarg);
		else if (opt == 'l')
			logpath = optarg;
		else if (opt == 'k')
			kdir = optarg;
		else
			return 2;
	}
	if (optind >= argc || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: runner [-r ROUNDS] [-w WARMUP] [-l LOG] [-k DIR] JOBFILE\n");
		return 2;
	}
	if (kdir) {
		int cfg = pinned(kdir, "cfg");
		uint32_t me = getpid();
		map_rw(cfg, BPF_MAP_UPDATE_ELEM, 0, &me);
		close(cfg);
		total_fd = pinned(kdir, "total");
	}
	load(argv[optind]);
	for (int i = 0; i < njobs; i++) {
		jobs[i].t = calloc(rounds, sizeof(double));
		jobs[i].k = calloc(rounds, sizeof(double));
		jobs[i].calls = calloc(rounds, sizeof(double));
	}
	for (int r = -warmup; r < rounds; r++) {
		for (int k = 0; k < njobs; k++) {
			struct job *j = &jobs[((r + warmup) + k) % njobs];
			double t = 0, kt = 0, calls = 0;
			for (int c = 0; c < j->ncmds; c++) {
				double dk, dc;
				double d = run(j, &j->cmds[c], &dk, &dc);
				if (j->cmds[c].timed) {
					t += d;
					kt += dk;
					calls += dc;
				}
			}
			if (r >= 0) {
				j->t[r] = t;
				j->k[r] = kt;
				j->calls[r] = calls;
			}
		}
	}
	for (int i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		printf("job\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%ld\t%d\n", j->name, quantile(j->t, rounds, 0.5),
		       quantile(j->t, rounds, 0.25), quantile(j->t, rounds, 0.75),
		       quantile(j->t, rounds, 0), j->maxrss, rounds);
	}
	for (int i = 0; i < nratios; i++) {
		struct job *a = find(ratios[i][0]), *b = find(ratios[i][1]);
		double *q = malloc(rounds * sizeof(*q));
		for (int r = 0; r < rounds; r++)
			q[r] = a->t[r] / b->t[r];
		printf("ratio\t%s\t%s\t%.3f\t%.3f\n", a->name, b->name, quantile(q, rounds, 0.5),
		       quantile(a->t, rounds, 0.5) / quantile(b->t, rounds, 0.5));
		free(q);
	}
	if (total_fd < 0)
		return 0;
	double *u = malloc(rounds * sizeof(*u)), *v = malloc(rounds * sizeof(*v));
	for (int i = 0; i < njobs; i++) {
		struct job *j = &jobs[i];
		for (int r = 0; r < rounds; r++)
			u[r] = j->t[r] - j->k[r];
		printf("kjob\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\n", j->name, quantile(j->k, rounds, 0.5),
		       quantile(u, rounds, 0.5), quantile(u, rounds, 0.25), quantile(u, rounds, 0.75),
		       quantile(j->calls, rounds, 0.5));
	}
	for (int i = 0; i < nratios; i++) {
		struct job *a = find(ratios[i][0]), *b = find(ratios[i][1]);
		for (int r = 0; r < rounds; r++) {
			u[r] = a->t[r] - a->k[r];
			v[r] = u[r] / (b->t[r] - b->k[r]);
		}
		printf("uratio\t%s\t%s\t%.3f\n", a->name, b->name, quantile(v, rounds, 0.5));
	}
	free(u);
	free(v);
	return 0;
}
