#pragma once
// Space-Saving top-K (Metwally et al. 2005): a bounded, deterministic, mergeable
// heavy-hitters summary. (The helper implementing src/sketch/space_saving.cpp writes the
// full essay here: invariants, error bound, merge bound, cost.)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tally::sketch {

class SpaceSaving {
public:
    static constexpr std::size_t kDefaultCapacity = 10000;

    struct Entry {
        std::string member;
        std::uint64_t count = 0;  // an upper bound of the true frequency
        std::uint64_t error = 0;  // count - error is a lower bound
    };

    explicit SpaceSaving(std::size_t capacity = kDefaultCapacity);
    SpaceSaving(const SpaceSaving&);
    SpaceSaving& operator=(const SpaceSaving&);
    SpaceSaving(SpaceSaving&&) noexcept;
    SpaceSaving& operator=(SpaceSaving&&) noexcept;
    ~SpaceSaving();

    /// Counts `member` `weight` more times. Returns the member's new count.
    std::uint64_t add(std::string_view member, std::uint64_t weight = 1);

    /// Up to k entries, count descending, ties by member ascending.
    std::vector<Entry> top(std::size_t k) const;
    /// Every monitored entry, in no particular order.
    std::vector<Entry> entries() const;
    /// The monitored count of `member`, 0 when not monitored.
    std::uint64_t count_of(std::string_view member) const;

    /// Folds `other` in. While the union of members fits the capacity the result is exact.
    void merge(const SpaceSaving& other);

    std::uint64_t total() const;       // N: the sum of all weights added
    std::size_t size() const;          // monitored members
    std::size_t capacity() const;
    bool exact() const;                // true while no member was ever evicted
    std::uint64_t error_bound() const; // max overestimate of any count (0 while exact)

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::sketch
