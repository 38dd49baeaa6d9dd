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
//
// Memory: at most the span's bucket count, plus the vector's spare room. The vector grows
// by doubling up to `span_buckets` and no further, so a full 48-hour minute tier (2,881
// buckets) sits in room for 2,881, not in the 4,096 plain doubling would reach.

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace tally::metrics {

template <typename Bucket>
class Tier {
  public:
    using Entry = std::pair<std::int64_t, Bucket>;

    /// The bucket numbered `number`, created empty when absent. `span_buckets` is how many
    /// buckets the tier's span holds: room grows to it and stops.
    Bucket& at(std::int64_t number, std::size_t span_buckets) {
        if (buckets_.empty() || buckets_.back().first < number) {
            if (buckets_.size() == buckets_.capacity())
                buckets_.reserve(grown_capacity(span_buckets));
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
    std::size_t grown_capacity(std::size_t span_buckets) const {
        const std::size_t doubled = std::max<std::size_t>(4, 2 * buckets_.capacity());
        if (buckets_.size() < span_buckets)
            return std::min(doubled, span_buckets);
        return doubled;  // late points beyond the span, until the next prune
    }

    std::vector<Entry> buckets_;
};

}  // namespace tally::metrics
