#pragma once
// A resolution tier: one series' buckets of one width (10 s, 1 min or 1 h), for the span
// the tier covers (an hour, 48 hours, the retention).
//
// Buckets are kept sparse, as (bucket number, bucket) pairs sorted by number, where the
// bucket number is floor(timestamp / width): a series that reports once a minute holds
// six buckets of the 10-second tier, not 360 mostly empty ones, so memory follows the
// data a series really has, bounded by the tier's span.
//
// Invariants: numbers strictly increase along `buckets_`; after prune(oldest) none is
// below `oldest`. Points mostly arrive in time order, so the bucket a point needs is the
// last one (or a new one after it) and at() costs O(1); a late point binary-searches and
// may insert in the middle (O(n) moves, rare).

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace tally::metrics {

template <typename Bucket>
class Tier {
  public:
    using Entry = std::pair<std::int64_t, Bucket>;

    /// The bucket numbered `number`, created empty when absent.
    Bucket& at(std::int64_t number) {
        if (buckets_.empty() || buckets_.back().first < number) {
            buckets_.emplace_back(number, Bucket());
            return buckets_.back().second;
        }
        if (buckets_.back().first == number)
            return buckets_.back().second;
        auto it = std::lower_bound(
            buckets_.begin(), buckets_.end(), number,
            [](const Entry& entry, std::int64_t wanted) { return entry.first < wanted; });
        if (it == buckets_.end() || it->first != number)
            it = buckets_.emplace(it, number, Bucket());
        return it->second;
    }

    /// Drops the buckets numbered below `oldest`.
    void prune(std::int64_t oldest) {
        auto it = std::lower_bound(
            buckets_.begin(), buckets_.end(), oldest,
            [](const Entry& entry, std::int64_t wanted) { return entry.first < wanted; });
        if (it != buckets_.begin())
            buckets_.erase(buckets_.begin(), it);
        if (buckets_.capacity() > 2 * buckets_.size() + 8)
            buckets_.shrink_to_fit();
    }

    /// Calls fn(number, bucket) for every bucket numbered in [first, last), in order.
    template <typename Fn>
    void visit(std::int64_t first, std::int64_t last, Fn&& fn) const {
        auto it = std::lower_bound(
            buckets_.begin(), buckets_.end(), first,
            [](const Entry& entry, std::int64_t wanted) { return entry.first < wanted; });
        for (; it != buckets_.end() && it->first < last; ++it)
            fn(it->first, it->second);
    }

    const std::vector<Entry>& entries() const { return buckets_; }
    std::vector<Entry>& entries() { return buckets_; }
    bool empty() const { return buckets_.empty(); }

  private:
    std::vector<Entry> buckets_;
};

}  // namespace tally::metrics
