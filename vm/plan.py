#!/usr/bin/env python3
"""Turn `cargo test --no-run --message-format=json` output (stdin) and vm/tests.list into the
guest's plan: one tab-separated line per run, `LABEL DIR EXECUTABLE LINE ARGS`, LINE being the
number of the line of tests.list that chose the run (the guest checks that each line ran a test;
ARGS last, because `read` folds the empty field of no ARGS into the tabs around it).
usage: plan.py TESTS_LIST < cargo.json > plan.tsv"""
import fnmatch, json, os, sys


def package_name(msg):
    # package_id: "path+file:///work/x/loader#rbpf-loader@0.1.0", or "...#0.1.0" when the
    # directory is named like the package.
    url, _, frag = msg["package_id"].partition("#")
    name = frag.rsplit("@", 1)[0] if "@" in frag else ""
    return name or url.rstrip("/").rsplit("/", 1)[-1]


binaries = {}
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    msg = json.loads(line)
    exe = msg.get("executable")
    if msg.get("reason") != "compiler-artifact" or not exe or not msg["profile"]["test"]:
        continue
    binaries[exe] = (package_name(msg), msg["target"]["name"], os.path.dirname(msg["manifest_path"]))
if not binaries:
    sys.exit("plan.py: cargo reported no test binaries")

bad = False
with open(sys.argv[1]) as f:
    for number, raw in enumerate(f, 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        pkg_glob, sep, target_glob = words[0].partition(":")
        if not sep:
            print(f"{sys.argv[1]}:{number}: '{words[0]}' is not PACKAGE:TARGET", file=sys.stderr)
            bad = True
            continue
        hits = sorted(
            (pkg, target, d, exe)
            for exe, (pkg, target, d) in binaries.items()
            if fnmatch.fnmatchcase(pkg, pkg_glob) and fnmatch.fnmatchcase(target, target_glob)
        )
        if not hits:
            known = ", ".join(sorted(f"{p}:{t}" for p, t, _ in binaries.values()))
            print(f"{sys.argv[1]}:{number}: '{words[0]}' matches no test binary (there are: {known})", file=sys.stderr)
            bad = True
        for pkg, target, d, exe in hits:
            print("\t".join([f"{pkg}:{target}", d, exe, str(number), " ".join(words[1:])]))
sys.exit(1 if bad else 0)
