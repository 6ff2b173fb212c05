#include "net/status.hpp"

#include <openssl/evp.h>

#include <stdexcept>

#include "domain/token.hpp"

namespace maxsess::net {

int64_t minute_ring::minute_of(sys_time t) {
  auto s = to_unix_seconds(t);
  return s >= 0 ? s / 60 : (s - 59) / 60;  // floor, also before 1970 (tests' clocks)
}

void minute_ring::sample(sys_time now, double total) {
  std::lock_guard<std::mutex> lock(mutex_);
  double grew = total - last_total_;
  last_total_ = total;
  auto m = minute_of(now);
  if (m < newest_minute_) m = newest_minute_;
  newest_minute_ = m;
  auto slot = static_cast<std::size_t>(((m % minutes) + minutes) % minutes);
  if (stamp_[slot] != m) {
    stamp_[slot] = m;
    count_[slot] = 0;
  }
  if (grew > 0) count_[slot] += static_cast<int64_t>(grew + 0.5);
}

minute_ring::series minute_ring::last_hour(sys_time now) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto m = minute_of(now);
  if (m < newest_minute_) m = newest_minute_;
  series out;
  out.first_minute = sys_time{} + std::chrono::minutes(m - (minutes - 1));
  out.counts.reserve(minutes);
  for (int64_t k = m - (minutes - 1); k <= m; ++k) {
    auto slot = static_cast<std::size_t>(((k % minutes) + minutes) % minutes);
    int64_t v = stamp_[slot] == k ? count_[slot] : 0;
    out.counts.push_back(v);
    out.total += v;
  }
  return out;
}

namespace {

std::string sha256_base64(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

// The hashes of every <tag>...</tag> block (written without attributes, as
// net/status_page.html does), as CSP sources.
std::string inline_hashes(const std::string& html, const std::string& tag) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  std::string out;
  for (std::size_t at = html.find(open); at != std::string::npos; at = html.find(open, at)) {
    auto begin = at + open.size();
    auto end = html.find(close, begin);
    if (end == std::string::npos) break;
    out += " 'sha256-" + sha256_base64(html.substr(begin, end - begin)) + "'";
    at = end + close.size();
  }
  return out.empty() ? " 'none'" : out;
}

}  // namespace

std::string status_page_csp(const std::string& html) {
  return "default-src 'none'; script-src" + inline_hashes(html, "script") + "; style-src" +
         inline_hashes(html, "style") +
         "; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

}  // namespace maxsess::net
