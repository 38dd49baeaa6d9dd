#pragma once
// SeriesCache: a shard's map from the series its writer has seen, (workspace, name, tags),
// to what the registry answered for them, so that only a series' first point in a shard
// takes the registry's lock.
//
// Every ingested point looks its series up here, which makes this the hottest table of
// metric ingest. It is a flat open-addressing table (boost::unordered_flat_map: a probe
// reads a group of metadata bytes, then one slot), and a lookup builds nothing: the
// point's fields are hashed in place, and a stored key is compared with them only when
// the 64-bit hashes agree. A hit allocates nothing; it costs hashing the point's bytes,
// the slot, and reading the stored key (one more cache miss when the key is longer than
// the small-string buffer). A node-based map of heap strings cost three or more misses.
//
// Keys are series keys (SeriesRegistry::series_key: workspace, name, then each tag's key
// and value, NUL-separated) stored beside the hash of the point they were made from.
// Invariants: a stored hash is hash_of() that point; the table rehashes from the stored
// hashes, never from the strings. Entries are never removed (the registry never forgets a
// series), so the size is bounded by metrics.max_series; an entry is a slot of 56 bytes
// plus the key's buffer when the key is longer than 15 bytes.
//
// The hash is seeded per cache from std::random_device, so clients cannot choose tags that
// collide and lengthen every probe. Two points whose fields differ but whose keys are
// equal (a NUL inside a tag value moves a boundary) hash differently and take two entries
// holding the same answer: the registry decides series by the key alone.

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/unordered/unordered_flat_map.hpp>

#include "tally/base/metric_point.hpp"
#include "tally/metrics/series_registry.hpp"

namespace tally::metrics {

class SeriesCache {
  public:
    SeriesCache();

    /// The hash find() and insert() take for `point`'s series.
    std::uint64_t hash_of(const MetricPoint& point) const;
    /// The registry's answer for `point`'s series (its hash is `hash`), or null.
    const SeriesRegistry::Found* find(const MetricPoint& point, std::uint64_t hash) const;
    /// Remembers the answer for the series whose key is `key` (of a point hashing to `hash`).
    void insert(std::uint64_t hash, std::string key, const SeriesRegistry::Found& found);
    std::size_t size() const { return map_.size(); }

  private:
    struct Key {
        std::uint64_t hash = 0;
        std::string key;
    };
    struct Probe {
        const MetricPoint* point;
        std::uint64_t hash;
    };
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(const Key& key) const { return key.hash; }
        std::size_t operator()(const Probe& probe) const { return probe.hash; }
    };
    struct Equal {
        using is_transparent = void;
        bool operator()(const Key& a, const Key& b) const {
            return a.hash == b.hash && a.key == b.key;
        }
        bool operator()(const Probe& probe, const Key& key) const;
        bool operator()(const Key& key, const Probe& probe) const { return (*this)(probe, key); }
    };

    std::uint64_t seed_;
    boost::unordered_flat_map<Key, SeriesRegistry::Found, Hash, Equal> map_;
};

}  // namespace tally::metrics
