"""Tests of the test command's summary (test_summary.py) on the output of a scratch run.

Run: cd scripts && ../.venv/bin/python -m unittest -v test_test_summary
"""

import unittest

from test_summary import summary

# Three binaries: one passes, one has a failure and an ignored test, one overflows its stack
# before reporting anything.
LOG = """
     Running unittests src/lib.rs (target/debug/deps/apigw_guard-0)

running 2 tests
test a ... ok
test b ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

     Running tests/cli.rs (target/debug/deps/cli-1)

running 3 tests
test c ... ok
test d ... FAILED
test e ... ignored, envtest

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.2s

     Running tests/shared.rs (target/debug/deps/shared-2)

running 4 tests

thread 'f' has overflowed its stack
fatal runtime error: stack overflow, aborting
error: test failed, to rerun pass `--test shared`
"""

LISTED = "\n".join(f"{name}: test" for name in "abcdefgh") + "\n8 tests, 0 benchmarks\n"


class SummaryTest(unittest.TestCase):
    def test_a_binary_that_stops_leaves_its_tests_counted_as_not_run(self):
        passed, failed, skipped, not_run, stopped = summary(LOG, LISTED)
        self.assertEqual((passed, failed, skipped), (3, 1, 1))
        self.assertEqual(not_run, 3)
        self.assertEqual(stopped, ["tests/shared.rs"])

    def test_a_clean_run_has_nothing_left_out(self):
        clean = LOG.split("     Running tests/cli.rs")[0]
        self.assertEqual(summary(clean, "a: test\nb: test\n"), (2, 0, 0, 0, []))
