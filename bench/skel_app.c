/* bench/skel_app.c: the libbpf-skeleton loader the `--all` rows of `make bench` compare
 * with. Built per object by bench/run.sh against `bpftool gen skeleton OBJ name APP`:
 *   gcc -O2 -DAPP=app3 -include app3.skel.h bench/skel_app.c -lbpf -lelf -lz
 * What a skeleton application does from start to end: open and load the object (every
 * map and program), attach every program whose section names its hook (libbpf 1.1
 * auto-attaches tp/ sections), then detach and free all of it.
 */
#include <stdio.h>
#include <bpf/libbpf.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SKEL(op) CAT(APP, __##op)

int main(void)
{
	struct APP *skel = SKEL(open_and_load)();
	if (!skel) {
		fprintf(stderr, "skel_app: open_and_load failed\n");
		return 1;
	}
	int err = SKEL(attach)(skel);
	if (err)
		fprintf(stderr, "skel_app: attach failed: %d\n", err);
	SKEL(destroy)(skel);
	return err ? 1 : 0;
}
