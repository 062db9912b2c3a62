#!/usr/bin/env python3
"""Derives the expected `fractional` assignments hardcoded in cli/src/lower/flags/tests.rs.

Independent of strata: it re-implements flagd's bucketing from its source
(open-feature/flagd core/pkg/evaluator/fractional.go, current main):

    bucketBy = flagKey + targetingKey            # when no bucketing expression is given
    hash     = murmur3.StringSum32(bucketBy)     # MurmurHash3 x86_32, seed 0 (twmb/murmur3)
    bucket   = (uint64(hash) * totalWeight) >> 32
    variant  = first variant whose cumulative weight > bucket

with the murmur3 hash taken from the `mmh3` package (a binding of the reference C++ code).
One-off helper, not run in CI:

    python3 -m venv /tmp/mmh && /tmp/mmh/bin/pip install mmh3
    /tmp/mmh/bin/python tests/validate/fractional_expected.py
"""
import mmh3


def fractional(bucket_by, weights):
    h = mmh3.hash(bucket_by, 0, signed=False)
    total = sum(w for _, w in weights)
    bucket = (h * total) >> 32
    end = 0
    for variant, w in weights:
        end += w
        if bucket < end:
            return variant
    return ""


TABLES = [
    # (name, flag key, weights, bucketing prefix, keys)
    ("new-checkout 10%", "new-checkout", [("on", 10), ("off", 90)], "new-checkout",
     [f"user-{i}" for i in range(24)]),
    ("model-tier 90/10 by userId", "model-tier", [("small", 90), ("large", 10)], "model-tier",
     ["u-1", "u-2", "u-3", "u-19", "u-26", "u-42", "u-50", "alice", "bob", "mallory", "ünï"]),
    ("three-way 50/25/25", "color", [("red", 50), ("blue", 25), ("green", 25)], "color",
     ["a", "b", "c", "d", "e", "f", "g", "s", "t", "x", "y"]),
    ("half-percent 0.5/99.5", "canary", [("on", 5), ("off", 995)], "canary",
     ["k0", "k1", "k2", "k3", "k116", "k180", "k390", "k4577"]),
]

if __name__ == "__main__":
    for name, flag, weights, prefix, keys in TABLES:
        print(f"// {name}: weights {weights}")
        for k in keys:
            print(f'("{k}", "{fractional(prefix + k, weights)}"),  // murmur3={mmh3.hash(prefix + k, 0, signed=False)}')
