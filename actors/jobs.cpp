#include "actors/jobs.hpp"

// Apart from streamers.cpp (a CAF TU), so the HTTP API links without CAF:
// the fuzz targets build net/http_api.cpp alone (tests/fuzz/CMakeLists.txt).
namespace maxsess::actors {

const char* to_string(job_request::kind k) {
  switch (k) {
    case job_request::kind::sync: return "sync";
    case job_request::kind::kill: return "kill";
    case job_request::kind::clear: return "clear";
  }
  return "?";
}

}  // namespace maxsess::actors
