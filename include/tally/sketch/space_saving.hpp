#pragma once
// Space-Saving top-K (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and
// Top-k Elements in Data Streams", ICDT 2005): a bounded, deterministic, mergeable
// heavy-hitters summary.
//
// What it is
// ----------
// At most m = capacity() members are monitored, each with a count and an error. Adding a
// monitored member adds the weight to its count. Adding an unmonitored member while there
// is room inserts it exactly. When the summary is full, the member with the smallest
// count (the "minimum", min) is evicted and the newcomer takes its counter: it starts at
// min + weight with error = min, because it may have been seen up to min times before
// (any unmonitored member has). So counts never under-estimate, and the summary is exact
// until the first eviction.
//
// Invariants (f(x) is the true frequency of x, N = total() the sum of all weights)
//   I1  count(x) - error(x) <= f(x) <= count(x) for every monitored x.
//   I2  f(x) <= floor for every unmonitored x, where floor is the largest count ever
//       evicted (0 while nothing was). floor <= min, the smallest monitored count, because
//       counts only grow and each eviction removes the current minimum.
//   I3  error(x) <= floor for every monitored x.
//   I4  sum of counts == N for a summary built by add() alone (each weight lands on one
//       counter; an eviction hands the evicted count to the newcomer), and <= N after
//       merges (see below).
//   I5  Not full implies exact (floor == 0), for summaries of equal capacity.
//
// Error bound
//   From I4, m * min <= N once full, so floor <= min <= N/m. With I1-I3: every estimate is
//   within N/m of the truth (error_bound() gives the tighter floor), and every member with
//   f(x) > N/m is monitored: anything unmonitored has f <= floor <= N/m. top(k) therefore
//   holds every member whose frequency exceeds N/m, ranked by upper bounds.
//
// Ties and determinism
//   Among counters with the minimum count, the one that reached that count first is
//   evicted (each count's counters form a FIFO), so the summary is a deterministic
//   function of the sequence of calls. A merge orders each count's counters so that the
//   member ranking last in top()'s order (count descending, member ascending) is evicted
//   first. top() itself breaks ties by member, never by history.
//
// Merge (mergeable summaries: Agarwal et al., "Mergeable Summaries", PODS 2012; the same
// rule as Cafaro et al.'s parallel Space-Saving)
//   For each member of either summary, count = count_a + count_b and error = error_a +
//   error_b, where a summary that does not monitor the member contributes its floor to
//   both (I2: its f is at most floor there, and at least 0). Then keep the m largest in
//   top()'s order; the new floor is the larger of floor_a + floor_b and the largest
//   dropped count. This is Misra-Gries merging seen through the Space-Saving/Misra-Gries
//   isomorphism, and I1-I4 survive it: in particular, any m members' counts from side a
//   sum to at most N_a (its monitored counts are its m largest values and sum to <= N_a;
//   everything else contributes floor_a <= min_a), likewise for b, so the m kept counts
//   sum to <= N_a + N_b = N and the merged floor <= min <= N/m. The bound after any tree
//   of merges of equal-capacity summaries is thus still error <= N/m for the whole
//   stream. While the union of members fits in m and both sides are exact, the merge is
//   exact. (Different capacities are allowed and stay correct, I1-I3, but the bound
//   becomes N_a/m_a + N_b/m_b.)
//
// Cost
//   The counters form a stream-summary: one bucket per distinct count, buckets in a list
//   in ascending order, each holding the list of its counters; the minimum is the front.
//   add(): one hash-map probe by string_view (no allocation for a monitored member), then
//   the counter moves up to the bucket for its new count, passing at most weight - 1
//   buckets: O(1) for the usual weight 1, O(min(weight, distinct counts)) in general. An
//   eviction reuses the evicted member's map node and string buffer, so a full summary
//   adds without allocating unless the new member outgrows the evicted one's buffer.
//   top(k): walks buckets down from the largest count, then partially sorts what it
//   took: O(k log k) plus the size of the boundary bucket, O(m log k) at worst.
//   merge(): O(m log m). entries(): O(m).
//   Memory: about 140 bytes per monitored member, measured (the map node holding the
//   string and its hash slot, a 40-byte counter, room for a 32-byte bucket per counter so
//   that moves never allocate), plus the member's bytes beyond the short-string buffer
//   (15): about 1.4 MiB for 10,000 short members. Storage grows with the members, never
//   past the capacity.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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

    /// `capacity` must be at least 1 (std::invalid_argument otherwise).
    explicit SpaceSaving(std::size_t capacity = kDefaultCapacity);
    SpaceSaving(const SpaceSaving&);
    SpaceSaving& operator=(const SpaceSaving&);
    /// A moved-from summary may only be assigned to or destroyed.
    SpaceSaving(SpaceSaving&&) noexcept;
    SpaceSaving& operator=(SpaceSaving&&) noexcept;
    ~SpaceSaving();

    /// Counts `member` `weight` more times. Returns the member's new count.
    /// A weight of 0 changes nothing and returns count_of(member).
    std::uint64_t add(std::string_view member, std::uint64_t weight = 1);
    /// add() for callers that keep something per monitored member: true when `member` was
    /// new and took the place of an evicted member, whose name is then in `evicted`.
    bool add_reporting_eviction(std::string_view member, std::string& evicted,
                                std::uint64_t weight = 1);

    /// Up to k entries, count descending, ties by member ascending.
    std::vector<Entry> top(std::size_t k) const;
    /// Every monitored entry, in no particular order.
    std::vector<Entry> entries() const;
    /// Calls fn(member, count, error) for every monitored entry, in no particular order,
    /// without copying (the views are valid until the next change to this summary).
    void for_each(const std::function<void(std::string_view member, std::uint64_t count,
                                           std::uint64_t error)>& fn) const;
    /// Calls fn(member, count, error) for every monitored entry in eviction order: count
    /// ascending, and within a count the next to be evicted first. restore() given the
    /// entries in this order rebuilds a summary that behaves exactly like this one.
    void for_each_in_eviction_order(
        const std::function<void(std::string_view member, std::uint64_t count,
                                 std::uint64_t error)>& fn) const;

    /// Rebuilds a summary from what for_each_in_eviction_order(), total(), error_bound()
    /// and capacity() gave (a snapshot). nullopt, never an exception, when the parts break
    /// an invariant: capacity outside [1, 2^32 - 1), more entries than the capacity, a
    /// duplicate member, counts not ascending, a count of 0, error > count or > floor,
    /// floor above the smallest count, or counts summing past total (I1-I4).
    static std::optional<SpaceSaving> restore(std::size_t capacity, std::uint64_t total,
                                              std::uint64_t floor, std::vector<Entry> entries);

    /// The monitored count of `member`, 0 when not monitored.
    std::uint64_t count_of(std::string_view member) const;

    /// Folds `other` in. While the union of members fits the capacity the result is exact.
    void merge(const SpaceSaving& other);

    std::uint64_t total() const;  // N: the sum of all weights added
    std::size_t size() const;     // monitored members
    std::size_t capacity() const;
    bool exact() const;                 // true while no member was ever evicted
    std::uint64_t error_bound() const;  // max overestimate of any count (0 while exact)

  private:
    std::uint64_t add(std::string_view member, std::uint64_t weight, std::string* evicted,
                      bool* did_evict);

    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::sketch
