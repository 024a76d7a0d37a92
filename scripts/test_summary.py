"""The test command's summary, read from `cargo test --no-fail-fast`'s output.

Counts what passed, failed and was ignored (skipped), and what did not run at all: the tests
a test binary lists (`cargo test -- --list`) but never reported, because the binary stopped
before it could (a stack overflow, an abort, a build of it that failed). A count that leaves
tests out would read as a green run that was not.

Usage: test_summary.py LOG LISTED   (LISTED: the output of `cargo test ... -- --list`)
Prints the summary; exits 1 when any test failed or did not run.
"""

import re
import sys

RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored;")
RUNNING = re.compile(r"^\s+Running (.+?)(?: \(|$)")


def summary(log, listed):
    """(passed, failed, skipped, not run, the binaries that stopped without a result)."""
    passed = failed = skipped = 0
    stopped, current = [], None
    for line in log.splitlines():
        running = RUNNING.match(line)
        if running:
            if current:
                stopped.append(current)
            current = running.group(1)
            continue
        result = RESULT.match(line)
        if result:
            passed += int(result.group(1))
            failed += int(result.group(2))
            skipped += int(result.group(3))
            current = None
    if current:
        stopped.append(current)
    total = sum(1 for line in listed.splitlines() if line.endswith(": test"))
    not_run = max(total - passed - failed - skipped, 0)
    return passed, failed, skipped, not_run, stopped


def main():
    log_path, listed_path = sys.argv[1:3]
    with open(log_path, encoding="utf-8", errors="replace") as log:
        log = log.read()
    with open(listed_path, encoding="utf-8", errors="replace") as listed:
        listed = listed.read()
    passed, failed, skipped, not_run, stopped = summary(log, listed)
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped, {not_run} did not run")
    if not_run or stopped:
        print(f"  did not run: {not_run} test(s) of the binaries that stopped before reporting: "
              f"{', '.join(stopped) or 'none named'} (see their output above)")
    return 1 if failed or not_run or stopped else 0


if __name__ == "__main__":
    sys.exit(main())
