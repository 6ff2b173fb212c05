#pragma once
// What `maxsessd --version` and the maxsess_build_info metric show: the
// project version (CMakeLists.txt) and the git commit built, generated at
// build time by cmake/build_version.cmake.
namespace maxsess {
const char* build_version();
const char* build_commit();
}  // namespace maxsess
