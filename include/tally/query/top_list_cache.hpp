#pragma once
// TopListCache: the merged top lists of a range's settled days, so a 30-day breakdown merges
// one day's lists at each request instead of thirty.
//
// Why
// ---
// A breakdown by page over a range merges the page list of every (day, shard) of the range:
// 30 days x 2 shards x 2,000 pages is 120,000 entries, about 5 ms, and a list holds up to
// 10,000 members. Every day but the range's last changes rarely (late events only), so the
// merge of those days is kept here, keyed by (site, list, first day, last day, period), and
// the last day is merged in fresh at every request. The answer is the one a full merge gives:
// the merge rule (top_merger.hpp) sums per-member excesses, and sums split.
//
// Staleness
// ---------
// An entry carries the fingerprint of the states it was made from: how many there were and
// the sum of their versions. DayState::version grows with every event applied and every
// merge, so a late event into a settled day, a day created or retired, or a roll-up changed
// gives another fingerprint, and the entry is rebuilt at its next use.
//
// Members' visitors
// -----------------
// A breakdown with visitors unites each shown member's sets over the range's states: 60
// merges a member for 30 days and 2 shards. An entry also keeps, once asked, a member's sets
// over its settled days united (made under the shard locks like the merge, so they match its
// fingerprint), for at most kVisitorSets members, so the next request merges one set and
// the last day's.
//
// Memory
// ------
// An entry is charged its members' bytes plus 96 for the map node, hash slot and ranking
// entry, and 1.1 KiB for each visitor set it may keep; past the budget the least recently
// used entries go. An entry larger than the whole
// budget is not kept; a budget of 0 keeps nothing.

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "tally/sketch/compact_distinct_set.hpp"
#include "tally/store/string_map.hpp"

namespace tally::query {

class TopListCache {
  public:
    struct Fingerprint {
        std::size_t states = 0;
        std::uint64_t versions = 0;
        bool operator==(const Fingerprint&) const = default;
    };

    /// A merge of several lists: each member's count above the lists' floors, and the floors'
    /// sum (a member's merged count is excess + floor_total).
    struct Merged {
        store::StringMap<std::int64_t> excess;
        /// Views into excess's keys, excess descending, ties by member ascending.
        std::vector<std::pair<std::string_view, std::int64_t>> ranked;
        std::int64_t floor_total = 0;
        Fingerprint fingerprint;
        std::size_t bytes = 0;
        /// Members' visitor sets over the same states, made on first use, at most
        /// visitor_slots of them; guarded by visitors_mutex (entries are shared).
        std::size_t visitor_slots = 0;
        mutable std::mutex visitors_mutex;
        mutable store::StringMap<sketch::CompactDistinctSet> visitors;
    };
    static constexpr std::size_t kVisitorSets = 1000;
    static constexpr std::size_t kVisitorSetBytes = 1126;  // a large set and its map node

    /// (site, list, first day, last day, period or 0)
    using Key = std::tuple<std::string, int, std::int64_t, std::int64_t, int>;

    explicit TopListCache(std::size_t budget_bytes) : budget_(budget_bytes) {}
    TopListCache(const TopListCache&) = delete;
    TopListCache& operator=(const TopListCache&) = delete;

    /// The entry for `key` if it was made from states with `fingerprint`, else null.
    std::shared_ptr<const Merged> find(const Key& key, const Fingerprint& fingerprint);
    /// Keeps `merged` for `key`, replacing any older entry, evicting to stay in budget.
    void insert(const Key& key, std::shared_ptr<const Merged> merged);

    struct Stats {
        std::uint64_t hits = 0;
        std::uint64_t misses = 0;
        std::size_t entries = 0;
        std::size_t bytes = 0;
    };
    Stats stats() const;

  private:
    struct Slot {
        std::shared_ptr<const Merged> merged;
        std::list<Key>::iterator recency;
    };
    void erase_locked(std::map<Key, Slot>::iterator it);

    const std::size_t budget_;
    mutable std::mutex mutex_;
    std::map<Key, Slot> entries_;
    std::list<Key> recency_;  // most recently used first
    Stats stats_;
};

}  // namespace tally::query
