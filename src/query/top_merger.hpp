#pragma once
// TopMerger: the rule every read of a range's top lists uses, private to the query module.

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tally/query/query.hpp"
#include "tally/sketch/space_saving.hpp"

namespace tally::query {

/// Merges the top lists of several Space-Saving summaries (days x shards) by the rule of
/// SpaceSaving::merge without its capacity cut: a member's count is the sum of its counts
/// where it is monitored plus the floor (largest evicted count) of each summary where it is
/// not. Exact while every summary is exact (all floors 0). Works on views into the
/// summaries, so the caller holds their locks until it is done with the merger.
class TopMerger {
  public:
    using Excess = std::unordered_map<std::string_view, std::int64_t>;

    void add(const sketch::SpaceSaving& summary) {
        const auto floor = static_cast<std::int64_t>(summary.error_bound());
        floor_total_ += floor;
        excess_.reserve(excess_.size() + summary.size());
        summary.for_each([&](std::string_view member, std::uint64_t count, std::uint64_t) {
            excess_[member] += static_cast<std::int64_t>(count) - floor;
        });
    }

    /// The k largest merged counts, count descending, ties by member ascending.
    Ranked top(std::size_t k) const {
        std::vector<std::pair<std::string_view, std::int64_t>> merged(excess_.begin(),
                                                                      excess_.end());
        return best(merged, k, floor_total_);
    }

    /// The largest overestimate any merged count may carry.
    std::uint64_t error_bound() const { return static_cast<std::uint64_t>(floor_total_); }

    /// Each member's counts above its summaries' floors, summed (views into the summaries);
    /// a member's merged count is its excess plus floor_total().
    const Excess& excess() const { return excess_; }
    std::int64_t floor_total() const { return floor_total_; }

    /// The k best of `candidates` (member, excess), as counts with `floor_total` added.
    static Ranked best(std::vector<std::pair<std::string_view, std::int64_t>>& candidates,
                       std::size_t k, std::int64_t floor_total) {
        const std::size_t n = std::min(k, candidates.size());
        std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(n),
                          candidates.end(), ranks_before);
        Ranked result;
        result.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            result.emplace_back(std::string(candidates[i].first),
                                static_cast<std::uint64_t>(candidates[i].second + floor_total));
        }
        return result;
    }

    /// Count descending, ties by member ascending: the dashboard's order.
    static bool ranks_before(const std::pair<std::string_view, std::int64_t>& a,
                             const std::pair<std::string_view, std::int64_t>& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    }

  private:
    Excess excess_;
    std::int64_t floor_total_ = 0;
};

}  // namespace tally::query
