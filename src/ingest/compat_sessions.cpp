#include "tally/ingest/compat_sessions.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace tally::ingest {

InactivitySessions::InactivitySessions(std::size_t capacity)
    : shard_capacity_(std::max<std::size_t>(8, capacity / kShards)) {}

void InactivitySessions::make_room(Shard& shard, std::int64_t now_ms) {
    const std::size_t target = shard_capacity_ - shard_capacity_ / 8;
    std::erase_if(shard.visitors, [now_ms](const auto& entry) {
        return now_ms - entry.second.last_ms >= kTimeoutMs;
    });
    while (shard.visitors.size() > target) {
        shard.visitors.erase(shard.visitors.begin());
        evicted_.fetch_add(1, std::memory_order_relaxed);
    }
}

void InactivitySessions::session_for(std::string_view visitor_id, std::int64_t now_ms,
                                     std::string& out) {
    const std::uint64_t key = std::hash<std::string_view>{}(visitor_id);
    Shard& shard = shards_[key % kShards];
    std::int64_t started = now_ms;
    {
        std::lock_guard lock(shard.mutex);
        auto it = shard.visitors.find(key);
        if (it != shard.visitors.end() && now_ms - it->second.last_ms < kTimeoutMs) {
            started = it->second.started_ms;
            it->second.last_ms = std::max(it->second.last_ms, now_ms);
        } else if (it != shard.visitors.end()) {
            it->second = Entry{now_ms, now_ms};
        } else {
            if (shard.visitors.size() >= shard_capacity_)
                make_room(shard, now_ms);
            shard.visitors.emplace(key, Entry{now_ms, now_ms});
        }
    }
    char suffix[24];
    const int n =
        std::snprintf(suffix, sizeof suffix, "-%llx", static_cast<unsigned long long>(started));
    out.assign(visitor_id);
    out.append(suffix, static_cast<std::size_t>(n));
}

std::size_t InactivitySessions::size() const {
    std::size_t total = 0;
    for (const Shard& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.visitors.size();
    }
    return total;
}

}  // namespace tally::ingest
