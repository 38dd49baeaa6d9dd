#pragma once
// InactivitySessions: session ids for trackers that send none (Plausible's, Umami's). A
// visitor's events less than 30 minutes apart are one session; the id is the visitor's id
// and the time its session began, so it is written into the logged Event once and a replay
// never needs this table.
//
// Invariants
//   Each shard holds at most capacity/kShards visitors, keyed by a 64-bit hash of the
//   visitor id (unique per site and day: the cookieless hash covers both). An entry whose
//   last event is kTimeoutMs old is dead: the next event of that visitor starts a session.
//
// Bound, and what is degraded past it
//   A full shard first drops its dead entries; if that frees less than an eighth of it, it
//   also drops live ones, oldest-inserted first by the map's order (arbitrary, so no
//   visitor can aim at another's entry), until an eighth is free. A dropped visitor's next
//   event starts a new session: under a flood of distinct visitors sessions are
//   over-counted, never lost, and evicted() (in /metrics) says how often. A restart
//   forgets the table the same way.
//
// Cost: one hash, one lock of one of kShards mutexes, one map probe per event; about 64
// bytes an entry (40 MiB at the default 500,000 visitors).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace tally::ingest {

class InactivitySessions {
  public:
    static constexpr std::int64_t kTimeoutMs = std::int64_t{30} * 60'000;
    static constexpr std::size_t kShards = 16;

    explicit InactivitySessions(std::size_t capacity = 500'000);

    /// Writes into `out` the session of `visitor_id` at `now_ms`: the one it had when its
    /// last event was less than kTimeoutMs ago, else a new one that begins now.
    void session_for(std::string_view visitor_id, std::int64_t now_ms, std::string& out);

    /// Live visitors dropped to make room.
    std::uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
    /// Visitors held.
    std::size_t size() const;

  private:
    struct Entry {
        std::int64_t started_ms;
        std::int64_t last_ms;
    };
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::uint64_t, Entry> visitors;
    };
    void make_room(Shard& shard, std::int64_t now_ms);

    std::array<Shard, kShards> shards_;
    std::size_t shard_capacity_;
    std::atomic<std::uint64_t> evicted_{0};
};

}  // namespace tally::ingest
