"""Tests of lucid.ops, one file per op family (a package so their basenames cannot clash with
test files elsewhere in tests/)."""
