#pragma once
// The status page (net/status_page.html, docs/status-page.md), embedded into
// the binary at build time by net/embed_status_page.cmake. A library of its
// own (maxsess_status_page): the daemon hands it to http_api through
// api_deps::status_page, so net/'s other sources never depend on a
// generated file.
#include <string>

namespace maxsess::net {
const std::string& status_page_html();
}  // namespace maxsess::net
