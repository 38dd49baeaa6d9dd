#pragma once
// PropertyBreakdown: the custom properties of one event name on one site and day (in one
// shard), broken down by key and value: how many events carried each value, and how many
// distinct visitors sent it.
//
// What it is
// ----------
// An event's properties arrive as the compact JSON object ingest wrote ({"plan":"pro",
// "seats":3}). Each member is one (key, value) observation. A key holds a map from value to
// its count and its visitors, a sketch::DistinctSet (exact up to 512 visitors, then a
// Redis-compatible HyperLogLog, 0.81 % standard error). A string value is its unescaped
// text; any other value is its JSON text as sent (3, true, null, [1,2]).
//
// Caps, and what happens past them
//   - kMaxValuesPerKey (1,000) distinct values a key. A value first seen once a key holds
//     that many is counted in the key's `other` bucket (count and visitors), so the key's
//     total stays exact and the overflow is visible, never silently dropped.
//   - kMaxKeysPerEvent (30) keys an event name, and kMaxKeysPerSite (300) keys a site's day,
//     counted by the caller (DayState). A key past either cap is not broken down; its
//     observations are counted in `keys_refused`.
//   - Keys longer than kMaxKeyBytes and values longer than kMaxValueBytes are not broken
//     down either (counted in keys_refused): long free text is not a dimension.
//
// Invariants
//   For every key: values.size() <= kMaxValuesPerKey; count() == the number of events that
//   carried the key since the key was admitted == sum of its values' counts + other.count.
//   A value's visitors.count() <= its count (exactly while it is small).
//
// Exactness
//   Under the caps every count is exact and every visitors figure is exact up to 512 per
//   value. Shards decide overflow on their own (a shard is written by one thread and
//   replayed from its own log, so the decision is the same after a restart); merging
//   shards or days sums counts and unions visitors, and folds values past the cap into
//   `other`. A merged key with more than kMaxValuesPerKey distinct values may so show a
//   value's count short by what another shard counted in `other`; the key's total, the
//   sum of the rows and `other`, is still exact.
//
// Cost
//   record(): one pass over the properties text, then per member a hash lookup and a
//   DistinctSet insertion (a binary search over at most 512 hashes). Memory: per value
//   about 100 bytes plus 8 bytes a visitor up to 512 visitors, 16 KiB past that; bounded
//   by the caps: 300 keys x 1,001 buckets a site's day and shard.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "tally/sketch/distinct_set.hpp"
#include "tally/store/string_map.hpp"

namespace tally::store {

struct PropertyValue {
    std::uint64_t count = 0;
    sketch::DistinctSet visitors;

    void add(std::uint64_t visitor_hash) {
        ++count;
        visitors.add_hash(visitor_hash);
    }
    void merge(const PropertyValue& other) {
        count += other.count;
        visitors.merge(other.visitors);
    }
};

struct PropertyKey {
    StringMap<PropertyValue> values;  // at most kMaxValuesPerKey
    PropertyValue other;              // values first seen past the cap

    std::uint64_t count() const;
    /// Counts `value` (or `other` when the key is full).
    void add(std::string_view value, std::uint64_t visitor_hash);
    /// Adds `from`'s values; those that do not fit go to `other`.
    void merge(const PropertyKey& from);
};

class PropertyBreakdown {
  public:
    static constexpr std::size_t kMaxValuesPerKey = 1'000;
    static constexpr std::size_t kMaxKeysPerEvent = 30;
    static constexpr std::size_t kMaxKeysPerSite = 300;
    static constexpr std::size_t kMaxKeyBytes = 300;
    static constexpr std::size_t kMaxValueBytes = 2'000;

    /// Counts the members of `properties` (a compact JSON object from ingest) for the
    /// visitor whose HyperLogLog hash is `visitor_hash`. `site_keys` is the number of keys
    /// the site's day holds over all its events; it grows with every key admitted here.
    /// False when the text is not a JSON object (a damaged record): nothing is counted.
    bool record(std::string_view properties, std::uint64_t visitor_hash, std::size_t& site_keys);

    /// Folds `other` in (shards, days, roll-ups), within the same caps.
    void merge(const PropertyBreakdown& other, std::size_t& site_keys);

    const StringMap<PropertyKey>& keys() const { return keys_; }
    /// Observations of keys that were not broken down (key caps, over-long key or value).
    std::uint64_t keys_refused() const { return keys_refused_; }

    /// Restoring a snapshot: the key's state as saved (the caller checks the caps).
    PropertyKey& restore_key(std::string key) { return keys_[std::move(key)]; }
    void restore_refused(std::uint64_t n) { keys_refused_ = n; }

    std::size_t memory_bytes() const;
    bool consistent() const;

  private:
    PropertyKey* admit_key(std::string_view key, std::size_t& site_keys);

    StringMap<PropertyKey> keys_;
    std::uint64_t keys_refused_ = 0;
};

/// Calls fn(key, value) for each member of `object`, a JSON object as ingest writes it,
/// with the key unescaped and the value as a string's unescaped text or another value's
/// JSON text. False when `object` is not such an object.
bool for_each_property(std::string_view object,
                       const std::function<void(std::string_view, std::string_view)>& fn);

}  // namespace tally::store
