#include "actors/sync_fanout.hpp"

#include <algorithm>

namespace maxsess::actors {

sync_fanout::sync_fanout(int64_t streamer_id, sys_time listed_at, clock::time_point started,
                         clock::time_point deadline, std::size_t window, hooks h)
    : hooks_(std::move(h)), window_(window), listed_at_(listed_at), started_(started), deadline_(deadline) {
  run_.streamer_id = streamer_id;
}

void sync_fanout::stop(listing_end why, const std::string& error) {
  run_.ok = false;
  run_.error = "sync stopped: " + error;
  if (hooks_.stopped) hooks_.stopped(*this, why, error);
}

void sync_fanout::page(std::vector<std::pair<std::string, seen_list>> groups, clock::time_point now) {
  if (stopped_ || finished_) return;
  for (auto& [account, seen] : groups) {
    auto [at, fresh] = listed_.try_emplace(account);
    auto& ids = at->second;
    // A session listed again (an API repeating its pages up to the cap),
    // for this account or another, is told once: it would only be the same
    // refresh again.
    seen.erase(std::remove_if(seen.begin(), seen.end(),
                              [&](const auto& e) {
                                const auto& id = e.second.session_id;
                                auto [i, first] = id_index_.try_emplace(std::hash<std::string>{}(id),
                                                                        id_at{&ids, ids.size()});
                                if (!first && (*i->second.list)[i->second.index] == id) return true;
                                ids.push_back(id);
                                return false;
                              }),
               seen.end());
    if (seen.empty()) {
      if (fresh) listed_.erase(at);  // nothing of its own listed: as if never named
      continue;
    }
    last_part_[account] = parts_sent_ + parts_.size();
    parts_.push_back(part{std::move(account), std::move(seen), false, {}});
  }
  pump(now);
}

void sync_fanout::listed(const listing_outcome& listing, int untracked, const std::vector<std::string>& believers,
                         clock::time_point now) {
  listing_done_ = true;
  listed_until_ = now;
  pages_ = listing.pages;
  run_.listed = static_cast<int>(listing.listed);
  run_.untracked = untracked;
  if (!listing.complete()) {
    // Stopped (shutdown, removal): whatever pages came did answer.
    // Cap, deadline, repeated cursor: the API misbehaves: back off.
    api_ = listing.pages == 0 ? api_calls::none : api_calls::answered;
    if (listing.end == listing_end::stopped) {
      run_.ok = false;
      run_.error = listing.error;
    } else {
      stop(listing.end, listing.error);
      api_ = api_calls::failed;
    }
    stopped_ = true;
  } else if (!stopped_) {
    for (auto& a : believers) listed_.try_emplace(a);
    for (auto& [account, ids] : listed_) {
      auto last = last_part_.find(account);
      if (last != last_part_.end() && last->second >= parts_sent_) {
        auto& p = parts_[last->second - parts_sent_];
        p.end = true;
        p.listed = std::move(ids);
      } else {
        ends_.emplace_back(account, std::move(ids));
      }
    }
    accounts_ = listed_.size();
    listed_.clear();
    last_part_.clear();
    id_index_.clear();
    ending_ = true;
  } else {
    // The deadline passed while the pages were told: nothing is ended.
    stop(listing_end::timed_out,
         "the sync did not finish within playback_session.sync_timeout while the accounts were "
         "told the pages; nothing was ended");
  }
  pump(now);
}

void sync_fanout::listing_failed(std::string why, bool api, clock::time_point now) {
  // Nothing is ended; the run reports it once the parts in flight answered.
  listing_done_ = true;
  listed_until_ = now;
  stopped_ = true;
  run_.ok = false;
  run_.error = std::move(why);
  api_ = api ? api_calls::failed : api_calls::none;
  pump(now);
}

void sync_fanout::answered(const sync_summary& s, clock::time_point now) {
  run_.adopted += s.adopted;
  run_.ended += s.ended;
  run_.killed += s.killed;
  --in_flight_;
  pump(now);
}

void sync_fanout::failed(const std::string& error, clock::time_point now) {
  if (run_.ok) {
    run_.ok = false;
    run_.error = "an account did not answer: " + error;
  }
  --in_flight_;
  pump(now);
}

bool sync_fanout::backstop(clock::time_point now) {
  if (finished_) return false;
  if (!listing_done_) return true;
  abandoned_ = true;
  stopped_ = true;
  // The first error says why (a stopped listing, a deadline): it stays.
  if (run_.ok) {
    run_.ok = false;
    run_.error = "no answer from " + std::to_string(in_flight_) +
                 " of the accounts told, 10 s after playback_session.sync_timeout";
  }
  pump(now);
  return false;
}

void sync_fanout::pump(clock::time_point now) {
  if (finished_) return;
  while (!stopped_ && in_flight_ < window_ && (!parts_.empty() || !ends_.empty())) {
    if (now >= deadline_) {
      stopped_ = true;
      if (ending_)
        stop(listing_end::timed_out, "the sync did not finish within playback_session.sync_timeout: " +
                                         std::to_string(told_) + " of " + std::to_string(accounts_) +
                                         " accounts were told what the streamer lists; the others are told at "
                                         "the next sync");
      // Before the end (the listing still runs or just finished): the
      // listing's own deadline check reports it, or the end does.
      break;
    }
    sync_message m;
    if (!parts_.empty()) {
      auto p = std::move(parts_.front());
      parts_.pop_front();
      ++parts_sent_;
      if (p.end) {
        ++told_;
        m.listed = std::move(p.listed);
        m.listed_at = listed_at_;
      }
      m.account = std::move(p.account);
      m.seen = std::move(p.seen);
    } else {
      m.account = std::move(ends_.back().first);
      m.listed = std::move(ends_.back().second);
      m.listed_at = listed_at_;
      ends_.pop_back();
      ++told_;
    }
    ++in_flight_;
    hooks_.send(*this, std::move(m));
    if (finished_) return;  // send answered at once and the run ended
  }
  if (stopped_) {
    parts_.clear();
    ends_.clear();
    last_part_.clear();
  }
  if (!abandoned_ && (in_flight_ > 0 || !listing_done_ || !parts_.empty() || !ends_.empty())) return;
  finished_ = true;
  listed_.clear();
  id_index_.clear();
  if (hooks_.finished) hooks_.finished(*this);
}

}  // namespace maxsess::actors
