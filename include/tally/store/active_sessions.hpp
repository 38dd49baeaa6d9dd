#pragma once
// ActiveSessions: the exact number of distinct sessions active in the last 5 minutes
// (real_time_users: sessions with an event in the last 5 minutes) and who they belong to, answered
// in O(1) per site.
//
// Each session is kept once, with the minute of its latest event, in one of kPartitions
// partitions chosen by the session's hash: a session always lands in the same partition
// whichever I/O thread sees it, so partitions hold disjoint sessions and their counts add
// up exactly. Ingest threads lock only the one partition they touch (64 of them, so two
// threads rarely meet), never a global lock.
//
// Invariant, per site in a partition: per_minute[slot] = the number of sessions whose
// latest minute is slot_minute[slot], for the slots of the last kWindow minutes and the
// kFuture minutes ahead (clock skew). count() sums those slots: no walk over sessions.
// Entries whose latest minute has left the window are swept once a minute.
//
// Budget. A flood of distinct session ids (a cardinality attack, or a bot minting one per
// request) would make the sessions of the last few minutes as many as the requests. So at
// most `max_sessions` are held (limits.active_sessions, at least 64; an equal share per
// partition, rounded down; about 150 bytes each). A new session that finds its partition full, even
// after sweeping it, is not held and not counted: count() then under-counts, and says so
// (RealTime::capped) for as long as such a refusal lies in the window; refused() counts them.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "tally/store/day_state.hpp"

namespace tally::store {

class ActiveSessions {
  public:
    static constexpr std::size_t kPartitions = 64;
    static constexpr std::int64_t kWindowMinutes = 5;
    static constexpr std::int64_t kFutureMinutes = 5;

    static constexpr std::size_t kDefaultMaxSessions = 500'000;

    explicit ActiveSessions(std::size_t max_sessions = kDefaultMaxSessions);
    ~ActiveSessions();

    /// Notes that `session` (of `visitor`) was active at `timestamp_ms`.
    void record(std::string_view site, std::string_view session, std::string_view visitor,
                std::int64_t timestamp_ms, std::int64_t now_ms);

    /// Distinct sessions whose latest event lies in (now - 5 min, now + 5 min], and whether
    /// some were not held (the budget was full) in that window, so the figure is short.
    struct RealTime {
        std::uint64_t sessions = 0;
        bool capped = false;
    };
    RealTime real_time(std::string_view site, std::int64_t now_ms) const;
    std::uint64_t count(std::string_view site, std::int64_t now_ms) const {
        return real_time(site, now_ms).sessions;
    }
    /// Sessions held now (every site), and new sessions refused for the budget so far.
    std::size_t held() const;
    std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

    /// Adds, per visitor, the number of those sessions.
    void sessions_per_visitor(std::string_view site, std::int64_t now_ms,
                              StringMap<std::uint64_t>& out) const;

    /// One remembered session, for snapshots.
    struct Saved {
        std::string site;
        std::string session;
        std::string visitor;
        std::int64_t minute = 0;  // of its latest event
    };
    /// Every session held (also those not yet swept out of the window), one partition's
    /// lock at a time.
    std::vector<Saved> save() const;
    /// Adds saved sessions back. A session already held keeps the later minute; the
    /// per-minute counts are rebuilt from the sessions, oldest first, so they equal what
    /// record() left (a slot counts the sessions of its newest minute only).
    void restore(std::vector<Saved> sessions);

  private:
    static constexpr std::size_t kSlots = kWindowMinutes + kFutureMinutes + 1;
    struct Entry {
        std::int64_t minute;
        std::string visitor;
    };
    struct Site {
        StringMap<Entry> sessions;
        std::array<std::uint64_t, kSlots> per_minute{};
        std::array<std::int64_t, kSlots> slot_minute{};
        std::int64_t last_sweep = 0;
        std::int64_t refused_minute = INT64_MIN;  // the latest minute of a session refused
        Site() { slot_minute.fill(INT64_MIN); }
        void count_in(std::int64_t minute);
        void uncount(std::int64_t minute);
        /// Drops the sessions out of the window; returns how many went.
        std::size_t sweep(std::int64_t now_minute);
    };
    struct Partition {
        mutable std::mutex mutex;
        StringMap<Site> sites;
        std::size_t held = 0;  // sessions over its sites
        std::int64_t last_full_sweep = INT64_MIN;
    };
    /// Room for one more session in `partition` (its lock held), sweeping every site of it
    /// at most once a minute when it is full.
    bool has_room(Partition& partition, std::int64_t now_minute) const;
    /// Holds a new session in `s` when the budget allows; counts a refusal otherwise.
    void hold(Partition& partition, Site& s, std::string_view session, std::string_view visitor,
              std::int64_t minute, std::int64_t now_minute);
    static bool in_window(std::int64_t minute, std::int64_t now_minute) {
        return minute > now_minute - kWindowMinutes && minute <= now_minute + kFutureMinutes;
    }

    std::size_t partition_cap_;
    std::unique_ptr<std::array<Partition, kPartitions>> partitions_;
    std::atomic<std::uint64_t> refused_{0};
};

}  // namespace tally::store
