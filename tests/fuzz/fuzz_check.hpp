#pragma once
// What a fuzz target asserts: FUZZ_CHECK aborts with the condition when a
// property does not hold, so libFuzzer (and the plain replay of the corpus,
// replay_main.cpp) report it as a crash with the input that broke it.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
