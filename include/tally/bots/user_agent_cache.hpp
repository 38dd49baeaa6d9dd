#pragma once
// UserAgentCache: a worker's memory of which User-Agents the crawler list matched, so the
// tracking hot path asks RE2 once per distinct User-Agent instead of once per request.
//
// What it is
//   A two-way set-associative table of `capacity()` slots (a power of two, at least 2): a
//   User-Agent's hash picks a pair of slots, and it may sit in either. A slot keeps the
//   hash, the User-Agent's bytes and the answer; a hit compares the hash and the bytes,
//   so an answer is never taken for another User-Agent. A miss asks the list and stores
//   the answer in the pair's empty slot, else in the one used less recently (one bit per
//   slot: exact LRU within a pair). That is the whole eviction policy: no clearing storm
//   when the table fills (every popular User-Agent missing at once), no clock hand to
//   sweep, a fixed worst case per call, and a popular User-Agent survives sharing its
//   pair with a stream of one-off ones. (Direct-mapped, one slot per hash, had a 93.4 %
//   hit rate on the benchmark's traffic, 2,400 distinct User-Agents; two ways have 97.7 %.)
//   User-Agents longer than `max_cached_length()` are matched every time and never
//   stored, so no client can make a slot hold more than that.
//
// Invariants
//   I1  is_bot(list, ua) == list.matches(ua) for every ua: the cache changes the cost,
//       never the answer. It holds while one cache is used with one list (or copies of
//       it); call clear() when the list changes, e.g. after a reload.
//   I2  size() <= capacity(), and capacity() never changes after construction.
//   I3  No locks and no sharing: one cache per I/O worker, owned by the caller. It is
//       not thread-safe, and needs not be.
//
// Cost
//   A hit: one hash of the User-Agent and at most two comparisons with slots' copies, about
//   35 ns for a 130-byte User-Agent. A miss: that, plus CrawlerList::matches (about
//   0.2 us), plus a copy into the slot, which allocates only while that slot's buffer is
//   still smaller than the User-Agent. Memory: 48 bytes a slot, plus each stored
//   User-Agent's bytes beyond the short-string buffer: about 0.7 MiB for 4,096 slots of
//   typical 130-byte User-Agents; never more than 4,096 x (48 + 1,025) bytes = 4.2 MiB
//   with the defaults (a slot's buffer can grow to twice max_cached_length()).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/bots/crawler_list.hpp"

namespace tally::bots {

class UserAgentCache {
  public:
    static constexpr std::size_t kDefaultCapacity = 4096;
    static constexpr std::size_t kDefaultMaxCachedLength = 512;

    /// `capacity` is rounded up to a power of two (at least 2).
    explicit UserAgentCache(std::size_t capacity = kDefaultCapacity,
                            std::size_t max_cached_length = kDefaultMaxCachedLength);

    /// Whether `user_agent` is a crawler by `list`: the remembered answer if there is one,
    /// else list.matches(user_agent), remembered when the User-Agent is short enough.
    bool is_bot(const CrawlerList& list, std::string_view user_agent);

    /// Forgets every answer (keeps the slots' buffers).
    void clear();

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return slots_.size(); }
    std::size_t max_cached_length() const { return max_cached_length_; }

    /// Calls answered from a slot, calls that asked the list and stored the answer, and
    /// calls too long to store: for this worker's telemetry.
    std::uint64_t hits() const { return hits_; }
    std::uint64_t misses() const { return misses_; }
    std::uint64_t uncached() const { return uncached_; }

  private:
    struct Slot {
        std::uint64_t hash = 0;
        std::string user_agent;
        bool used = false;
        bool bot = false;
        bool recent = false;  // the pair's more recently used slot
    };

    std::vector<Slot> slots_;
    std::size_t mask_;  // picks a pair: the first slot's index
    std::size_t max_cached_length_;
    std::size_t size_ = 0;
    std::uint64_t hits_ = 0;
    std::uint64_t misses_ = 0;
    std::uint64_t uncached_ = 0;
};

}  // namespace tally::bots
