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
// Entries whose latest minute has left the window are swept once a minute, so memory is
// bounded by the sessions of the last few minutes.

#include <array>
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

    ActiveSessions();
    ~ActiveSessions();

    /// Notes that `session` (of `visitor`) was active at `timestamp_ms`.
    void record(std::string_view site, std::string_view session, std::string_view visitor,
                std::int64_t timestamp_ms, std::int64_t now_ms);

    /// Distinct sessions whose latest event lies in (now - 5 min, now + 5 min].
    std::uint64_t count(std::string_view site, std::int64_t now_ms) const;

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
        Site() { slot_minute.fill(INT64_MIN); }
        void count_in(std::int64_t minute);
        void uncount(std::int64_t minute);
        void sweep(std::int64_t now_minute);
    };
    struct Partition {
        mutable std::mutex mutex;
        StringMap<Site> sites;
    };
    static bool in_window(std::int64_t minute, std::int64_t now_minute) {
        return minute > now_minute - kWindowMinutes && minute <= now_minute + kFutureMinutes;
    }

    std::unique_ptr<std::array<Partition, kPartitions>> partitions_;
};

}  // namespace tally::store
