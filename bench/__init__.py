"""`make bench`: Tessera's hot paths measured against baselines in the same run.

Not part of the test suite. See docs/benchmarks.md for what is measured and why.
"""
