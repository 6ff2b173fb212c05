#pragma once
// Room in a read buffer for the body a parser still expects (server and
// client alike). Beast 1.74 reads no more than the buffer's spare room (at
// least 512 bytes, at most 64 KiB per read), and the parser moves every
// read into the body, which leaves the buffer empty and never grown: a
// 60 KB webhook batch took ≈ 116 recv calls, a 400 KB listing page ≈ 800
// (issue 7, docs/performance.md "Seventh round").
#include <boost/beast/core/flat_buffer.hpp>
#include <algorithm>
#include <cstdint>

namespace maxsess::net {

// The most one of Beast's HTTP reads takes (its read_size bound).
constexpr std::uint64_t max_read_bytes = 64 * 1024;

// Reserves room for what `parser` still expects and `buffer` does not hold
// yet, up to one read; `unknown`: the room when no length is announced.
template <class Parser>
void make_room_for_body(boost::beast::flat_buffer& buffer, const Parser& parser, std::uint64_t unknown) {
  const auto left = parser.content_length_remaining();
  const std::uint64_t unread = !left ? unknown : *left > buffer.size() ? *left - buffer.size() : 0;
  const auto want = std::min(unread, max_read_bytes);
  if (want > buffer.capacity() - buffer.size()) buffer.reserve(buffer.size() + static_cast<std::size_t>(want));
}

}  // namespace maxsess::net
