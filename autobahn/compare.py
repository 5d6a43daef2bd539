#!/usr/bin/env python3
"""Compares an Autobahn fuzzingclient run (index.json) with autobahn/expected.json.

A case regresses when its behaviour or its close behaviour is worse than expected, when the
server's close code differs from the expected one (Autobahn accepts a dropped TCP connection
where RFC 6455 asks for 1002 or 1007, so the verdicts alone would not notice the server going
back to dropping), or when an expected case did not run. Regressions are listed and the exit status is 1. With --update the
run becomes the new expectation and the summary (counts, every case that is not plainly OK) is
rewritten.

    compare.py index.json expected.json summary.md [--update]
"""

import json
import sys
from collections import Counter

# Worse is larger. INFORMATIONAL is a verdict some cases always get (nothing to pass or fail);
# UNIMPLEMENTED is a feature the server does not offer (permessage-deflate).
RANK = {
    "OK": 0,
    "INFORMATIONAL": 0,
    "NON-STRICT": 1,
    "UNIMPLEMENTED": 2,
    "WRONG CODE": 3,
    "UNCLEAN": 3,
    "FAILED": 4,
}
FIELDS = ("behavior", "behaviorClose")


def case_key(case):
    return tuple(int(part) for part in case.split("."))


def load_run(path):
    with open(path) as f:
        agents = json.load(f)
    if len(agents) != 1:
        sys.exit(f"expected one agent in {path}, found {sorted(agents)}")
    (results,) = agents.values()
    return {
        case: {field: r[field] for field in FIELDS + ("remoteCloseCode",)}
        for case, r in results.items()
    }


def rank(verdict):
    return RANK.get(verdict, max(RANK.values()))


def compare(run, expected):
    problems, better = [], []
    for case in sorted(expected, key=case_key):
        want = expected[case]
        got = run.get(case)
        if got is None:
            problems.append(f"{case}: did not run (expected {want['behavior']})")
            continue
        for field in FIELDS:
            if rank(got[field]) > rank(want[field]):
                problems.append(f"{case}: {field} {got[field]} (expected {want[field]})")
            elif rank(got[field]) < rank(want[field]):
                better.append(f"{case}: {field} {got[field]} (expected {want[field]})")
        code = want.get("remoteCloseCode")
        if code is not None and got["remoteCloseCode"] != code:
            problems.append(f"{case}: server closed with {got['remoteCloseCode']} (expected {code})")
    for case in sorted(set(run) - set(expected), key=case_key):
        problems.append(f"{case}: not in expected.json (got {run[case]['behavior']}); run with --update")
    return problems, better


def summary(run):
    counts = Counter(r["behavior"] for r in run.values())
    close_counts = Counter(r["behaviorClose"] for r in run.values())
    lines = [
        "# Autobahn fuzzingclient results (written by scripts/autobahn.sh --update)",
        "",
        f"{len(run)} cases. Behaviour: "
        + ", ".join(f"{v} {counts[v]}" for v in sorted(counts, key=rank))
        + ". Close behaviour: "
        + ", ".join(f"{v} {close_counts[v]}" for v in sorted(close_counts, key=rank))
        + ".",
        "",
        "Every case that is not OK on both counts (reasons: docs/autobahn.md):",
        "",
        "| Case | Behaviour | Close behaviour | Close code from the server |",
        "|---|---|---|---|",
    ]
    unimplemented = Counter()
    for case in sorted(run, key=case_key):
        r = run[case]
        if r["behavior"] == "UNIMPLEMENTED":
            unimplemented[case.split(".")[0]] += 1
        elif r["behavior"] != "OK" or r["behaviorClose"] != "OK":
            lines.append(
                f"| {case} | {r['behavior']} | {r['behaviorClose']} | {r['remoteCloseCode']} |"
            )
    for section, n in sorted(unimplemented.items(), key=lambda kv: int(kv[0])):
        lines.append(f"| {section}.* ({n} cases) | UNIMPLEMENTED | | |")
    return "\n".join(lines) + "\n"


def main():
    args = [a for a in sys.argv[1:] if a != "--update"]
    update = "--update" in sys.argv[1:]
    if len(args) != 3:
        sys.exit(__doc__)
    index, expected_path, summary_path = args
    run = load_run(index)
    if update:
        expected = {case: run[case] for case in sorted(run, key=case_key)}
        with open(expected_path, "w") as f:
            # One line per case, so a diff of expected.json reads as a list of changed cases.
            rows = [f"  {json.dumps(case)}: {json.dumps(r)}" for case, r in expected.items()]
            f.write("{\n" + ",\n".join(rows) + "\n}\n")
        with open(summary_path, "w") as f:
            f.write(summary(run))
        print(f"autobahn: wrote {expected_path} and {summary_path} ({len(run)} cases)")
        return 0
    with open(expected_path) as f:
        expected = json.load(f)
    problems, better = compare(run, expected)
    print(summary(run).split("\n")[2])
    for line in better:
        print(f"autobahn: better than expected: {line}")
    if better:
        print("autobahn: run scripts/autobahn.sh --update to record the improvements")
    if problems:
        for line in problems:
            print(f"autobahn: REGRESSION {line}")
        print(f"autobahn: {len(problems)} case(s) worse than autobahn/expected.json")
        return 1
    print(f"autobahn: all {len(expected)} expected cases as expected or better")
    return 0


if __name__ == "__main__":
    sys.exit(main())
