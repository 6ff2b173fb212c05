#include "actors/account_store.hpp"

#include <algorithm>

namespace maxsess::actors {

void pg_account_store::load(const std::string& account_id, load_fn done) {
  {
    std::lock_guard lock(mutex_);
    queued_.emplace_back(account_id, std::move(done));
    if (reading_) return;  // the running batch job picks it up
    reading_ = true;
  }
  drain();
}

void pg_account_store::drain() {
  auto take = [this] {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, load_fn>> batch;
    auto n = std::min(queued_.size(), max_batch);
    batch.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(queued_.begin() + static_cast<std::ptrdiff_t>(n)));
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
    if (batch.empty()) reading_ = false;
    return batch;
  };
  auto batch = std::make_shared<std::vector<std::pair<std::string, load_fn>>>(take());
  if (batch->empty()) return;
  reader_.post(
      [this, batch](storage::session_store& db) {
        std::vector<std::string> ids;
        for (auto& [id, done] : *batch) ids.push_back(id);
        auto snaps = db.load_accounts(ids);
        for (auto& [id, done] : *batch) done(snaps[id], {});
        drain();
      },
      [this, batch](const std::string& error) {
        for (auto& [id, done] : *batch) done(std::nullopt, error);
        drain();
      });
}

void pg_account_store::load_live(int shard, live_fn done) {
  reader_.post([shard, done](storage::session_store& db) { done(db.load_live_accounts(shard), {}); },
               [done](const std::string& error) { done({}, error); });
}

void pg_account_store::write(std::vector<storage::write_op> ops, write_fn done) {
  writer_.submit(std::move(ops), std::move(done));
}

void pg_account_store::after_writes(const std::string& account_id, write_fn done) {
  writer_.after(account_id, std::move(done));
}

void memory_account_store::load(const std::string& account_id, load_fn done) {
  std::optional<storage::account_snapshot> snap;
  {
    std::lock_guard lock(mutex_);
    ++loads_;
    if (!fail_loads_) snap = accounts_[account_id];
  }
  if (snap)
    done(std::move(snap), {});
  else
    done(std::nullopt, "memory store: loads fail (test)");
}

void memory_account_store::load_live(int shard, live_fn done) {
  std::map<std::string, storage::account_snapshot> out;
  {
    std::lock_guard lock(mutex_);
    if (fail_loads_) {
      done({}, "memory store: loads fail (test)");
      return;
    }
    for (auto& [account, snap] : accounts_) {
      auto i = shard_of_.find(account);
      if (i == shard_of_.end() || i->second != shard) continue;
      bool live = std::any_of(snap.sessions.begin(), snap.sessions.end(), [](auto& s) {
        return s.status == session_status::pending || s.status == session_status::active;
      });
      if (live) out[account] = snap;
    }
  }
  done(std::move(out), {});
}

void memory_account_store::write(std::vector<storage::write_op> ops, write_fn done) {
  {
    std::lock_guard lock(mutex_);
    if (hold_) {
      held_.emplace_back(std::move(ops), std::move(done));
      return;
    }
  }
  apply(std::move(ops), std::move(done));
}

void memory_account_store::after_writes(const std::string&, write_fn done) {
  {
    std::lock_guard lock(mutex_);
    if (hold_) {
      held_.emplace_back(std::vector<storage::write_op>{}, std::move(done));
      return;
    }
  }
  done(storage::write_status::ok);
}

void memory_account_store::hold_writes(bool on) {
  std::lock_guard lock(mutex_);
  hold_ = on;
}

std::size_t memory_account_store::journaled() const {
  std::lock_guard lock(mutex_);
  return journaled_;
}

std::size_t memory_account_store::held() const {
  std::lock_guard lock(mutex_);
  return held_.size();
}

void memory_account_store::release_one(bool ok) {
  std::pair<std::vector<storage::write_op>, write_fn> w;
  {
    std::lock_guard lock(mutex_);
    if (held_.empty()) return;
    w = std::move(held_.front());
    held_.erase(held_.begin());
  }
  // No ops: a barrier of after_writes (nothing to apply or count; no caller
  // writes an empty list), answered ok whatever `ok` says.
  if (w.first.empty())
    w.second(storage::write_status::ok);
  else if (ok)
    apply(std::move(w.first), std::move(w.second));
  else
    w.second(storage::write_status::failed);
}

void memory_account_store::apply(std::vector<storage::write_op> ops, write_fn done) {
  {
    std::lock_guard lock(mutex_);
    if (fail_writes_) {
      done(storage::write_status::failed);
      return;
    }
    ++writes_;
    for (auto& op : ops) {
      switch (op.what) {
        case storage::write_op::kind::upsert_session: {
          const auto& u = op.upsert();
          shard_of_[u.session.account_id] = u.shard;
          auto& rows = accounts_[u.session.account_id].sessions;
          auto i = std::find_if(rows.begin(), rows.end(),
                                [&](auto& r) { return r.device_id == u.session.device_id; });
          if (i == rows.end()) {
            rows.push_back(u.session);
          } else {
            // As the SQL upsert: the same session's counters and "last
            // seen" only grow.
            const bool same = i->started_at == u.session.started_at;
            const auto bytes = i->bytes, duration = i->duration_s;
            const auto seen = i->updated_at;
            *i = u.session;
            if (same) {
              i->bytes = std::max(i->bytes, bytes);
              i->duration_s = std::max(i->duration_s, duration);
              i->updated_at = std::max(i->updated_at, seen);
            }
          }
          break;
        }
        case storage::write_op::kind::journal_progress: {
          // The journal folded at once (maxsess_fold_progress): what a new
          // owner's load would see.
          ++journaled_;
          const auto& e = op.progress();
          for (auto& r : accounts_[e.account_id].sessions)
            if (r.device_id == e.device_id && (!r.ended_at || e.at <= *r.ended_at) &&
                std::any_of(r.flussonic.begin(), r.flussonic.end(),
                            [&](auto& f) { return f.id == e.session_id; })) {
              r.bytes = std::max(r.bytes, e.bytes);
              r.duration_s = std::max(r.duration_s, e.duration_s);
              r.updated_at = std::max(r.updated_at, e.at);
            }
          break;
        }
        case storage::write_op::kind::delete_session: {
          auto& rows = accounts_[op.del().account_id].sessions;
          rows.erase(std::remove_if(rows.begin(), rows.end(),
                                    [&](auto& r) { return r.device_id == op.del().device_id; }),
                     rows.end());
          break;
        }
        case storage::write_op::kind::upsert_account:
          accounts_[op.account().settings.account_id].settings = op.account().settings;
          break;
        case storage::write_op::kind::insert_event:
          events_.push_back(op.event().event);
          events_.back().id = static_cast<int64_t>(events_.size());
          break;
        case storage::write_op::kind::delete_account:
          accounts_[op.account().settings.account_id].settings.reset();
          break;
      }
    }
  }
  done(storage::write_status::ok);
}

void memory_account_store::fail_writes(bool on) {
  std::lock_guard lock(mutex_);
  fail_writes_ = on;
}

void memory_account_store::fail_loads(bool on) {
  std::lock_guard lock(mutex_);
  fail_loads_ = on;
}

std::optional<playback_session> memory_account_store::session(const std::string& account,
                                                              const std::string& device) const {
  std::lock_guard lock(mutex_);
  auto a = accounts_.find(account);
  if (a == accounts_.end()) return std::nullopt;
  for (auto& s : a->second.sessions)
    if (s.device_id == device) return s;
  return std::nullopt;
}

std::optional<account_settings> memory_account_store::settings(const std::string& account) const {
  std::lock_guard lock(mutex_);
  auto a = accounts_.find(account);
  if (a == accounts_.end()) return std::nullopt;
  return a->second.settings;
}

std::vector<audit_event> memory_account_store::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t memory_account_store::writes() const {
  std::lock_guard lock(mutex_);
  return writes_;
}

std::size_t memory_account_store::loads() const {
  std::lock_guard lock(mutex_);
  return loads_;
}

}  // namespace maxsess::actors
