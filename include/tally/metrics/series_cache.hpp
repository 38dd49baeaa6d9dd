#pragma once
// SeriesCache: a shard's map from the series its writer has seen, (workspace, name, tags),
// to what the registry answered for them, so that only a series' first point in a shard
// takes the registry's lock.
//
// Every ingested point looks its series up here, which makes this the hottest table of
// metric ingest, and with tens of thousands of series a lookup is two cache misses: the
// slot, then the stored key. So the table is built for batches: a lookup builds nothing
// (the point's fields are hashed in place, and a stored key is compared with them only
// when the 64-bit hashes agree), and prefetch() / prefetch_key() let a caller walking a
// batch fetch a later point's slot and key while it resolves this one, so the misses of
// a batch overlap instead of queueing. (boost::unordered_flat_map, tried first, has no
// way to prefetch; a node-based map of heap strings cost three misses or more.)
//
// Layout: open addressing with linear probing over a power-of-two array of slots (the
// 64-bit hash, where the key lies in `keys_`, and the answer: 48 bytes); keys are series
// keys (SeriesRegistry::series_key: workspace, name, then each tag's key and value,
// NUL-separated) appended to one buffer. Invariants: capacity is a power of two and at
// least twice the size (probe runs stay short); a slot is empty exactly when its key size
// is 0 (a series key holds at least a NUL and a name); a stored hash is hash_of() the
// point the key was made from, and growing rehashes from stored hashes, never strings.
// Entries are never removed (the registry never forgets a series), so the size is bounded
// by metrics.max_series: per series 96 to 192 bytes of slots plus its key.
//
// The hash is seeded per cache from std::random_device, so clients cannot choose tags that
// collide and lengthen every probe. Two points whose fields differ but whose keys are
// equal (a NUL inside a tag value moves a boundary) hash differently and take two entries
// holding the same answer: the registry decides series by the key alone.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/metrics/series_registry.hpp"

namespace tally::metrics {

class SeriesCache {
  public:
    SeriesCache();

    /// The hash the other calls take for `point`'s series.
    std::uint64_t hash_of(const MetricPoint& point) const;
    /// Starts fetching the slot a lookup of `hash` begins at.
    void prefetch(std::uint64_t hash) const;
    /// Starts fetching the stored key a lookup of `hash` would compare (best after
    /// prefetch() has had time to bring the slot).
    void prefetch_key(std::uint64_t hash) const;
    /// The registry's answer for `point`'s series (its hash is `hash`), or null.
    const SeriesRegistry::Found* find(const MetricPoint& point, std::uint64_t hash) const;
    /// Remembers the answer for the series whose key is `key` (of a point hashing to
    /// `hash`), which find() just missed.
    void insert(std::uint64_t hash, std::string_view key, const SeriesRegistry::Found& found);
    std::size_t size() const { return size_; }

  private:
    struct Slot {
        std::uint64_t hash = 0;
        std::uint32_t key_at = 0;
        std::uint32_t key_size = 0;  // 0: empty
        SeriesRegistry::Found found;
    };

    void grow();

    std::uint64_t seed_;
    std::vector<Slot> slots_;
    std::string keys_;
    std::size_t size_ = 0;
};

}  // namespace tally::metrics
