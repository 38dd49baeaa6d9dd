#pragma once
// The check every fuzzer uses for its invariants: it aborts loudly, so libFuzzer keeps the
// input that broke one.

#include <cstdio>
#include <cstdlib>

#define TALLY_FUZZ_CHECK(condition)                                                                \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (false)
