#pragma once
// DDSketch: quantiles with a relative-error guarantee, in bounded memory, mergeable exactly
// (Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
// Relative-Error Guarantees", VLDB 2019; DataDog's sketches-go/-py/-java).
//
// What it is
// ----------
// A histogram whose bucket widths grow geometrically, so every bucket is narrow *relative
// to the values in it*. With relative accuracy a (default 0.01) and gamma = (1+a)/(1-a):
//
//   key(v)            = ceil(log_gamma(v))              for v >= kMinIndexable
//   bin k holds       every v in (gamma^(k-1), gamma^k]
//   representative(k) = 2 * gamma^k / (1 + gamma)
//
// Positive values count in the positive store by key(v); negative values in a separate
// negative store by key(-v) (kept internally under the negated key, so that both stores
// ascend in value order); values with |v| < kMinIndexable (1e-9), and zero, count in one
// zero bucket answered as 0. Each bin holds a weight, a double: a StatsD value sampled at
// rate 0.3 stands for 1/0.3 occurrences, so add(v, 1/0.3). Beside the bins the sketch keeps
// the exact count (sum of weights), sum (sum of value * weight), min and max.
//
// Non-finite values (NaN, +-inf) cannot be placed in a bin; callers must reject them.
// add() ignores them, and ignores weights that are not finite and > 0, so a bad input can
// never poison a sketch.
//
// The guarantee, and why it holds
//   For every v in bin k, gamma^(k-1) < v <= gamma^k. The representative r = 2 gamma^k /
//   (1 + gamma) is the point whose relative distance to both ends is the same:
//     (r - gamma^(k-1)) / gamma^(k-1) = (gamma - 1) / (gamma + 1) = a
//     (gamma^k - r)     / gamma^k     = (gamma - 1) / (gamma + 1) = a
//   so |r - v| <= a * v for every v the bin holds. quantile(q) walks the bins in value order
//   (negative store from the most negative, the zero bucket, the positive store upwards)
//   summing weights, and stops at the first bin whose running total reaches the rank: the
//   nearest-rank value is one of the values counted in that bin, so the representative is
//   within a of it:  |quantile(q) - x_q| <= a * |x_q|.  The answer is then clamped into
//   [min, max], which can only move it closer to x_q, and q = 0 and q = 1 answer min and
//   max exactly. (Rounding in log() can put a value lying within an ulp of gamma^k into the
//   next bin; its error is then a plus a few ulps.)
//
// Rank convention (nearest rank)
//   x_q is the smallest value whose cumulative weight reaches q * count(). With unit
//   weights that is the value of rank ceil(q * n), at least 1, in the sorted sample: p50
//   of {1, 2, 3, 4} is 2, p0 is the minimum, p100 the maximum. An empty sketch answers NaN
//   for every q, as does a q outside [0, 1] (or NaN).
//
// Bounded memory: the collapse rule (DataDog's CollapsingLowestDenseStore)
//   Each store is one contiguous std::vector<double> of counts plus the key of its first
//   element, grown at either end as keys arrive, never longer than max_bins (default
//   2048). When the keys of a store would span more than max_bins, the LOWEST keys are
//   collapsed: with K the highest key, every weight below floor = K - max_bins + 1 is
//   added to bin floor. The state is thus a function of the multiset of keys alone, not of
//   their order, which is what keeps merge exact. Because the negative store uses negated
//   keys, in both stores the collapsed values are the smallest ones in value order (the
//   values nearest zero on the positive side, the most negative values on the negative).
//   What it costs: a rank that falls among collapsed values is answered by the floor
//   bin's representative (too high); every other rank keeps the guarantee. For data of
//   one sign (latencies, sizes) with C collapsed weight that means ranks 1..C lose it and
//   every quantile with q * count() > C keeps it: p99 stays within a as long as less than
//   99 % of the weight collapsed. With a = 0.01, 2048 bins cover a ratio of gamma^2048 =
//   e^41, about 6e17, between the largest and smallest value kept exactly: in practice,
//   with 1 ns to 10^8 s, nothing collapses.
//
// Merge
//   Bin-wise sum of sketches with the same relative accuracy (merge() throws
//   std::invalid_argument otherwise: bins of different gammas do not line up), followed by
//   the collapse rule. With equal max_bins the result equals, bin for bin, the sketch built
//   from both streams (with integral weights the sums are exact; fractional weights may
//   differ in the last ulp by summation order). With different max_bins the result keeps
//   the receiver's; it is exact when the other sketch has not collapsed below its floor.
//   merge is commutative and associative under the same proviso.
//
// Cost
//   add(): one log(), a ceil and an add into a vector when the key is inside the current
//   range (about 8 ns measured here); a reallocation, amortised by doubling up to max_bins, only
//   when the range grows. quantile(): one pass over the bins, O(max_bins). merge(): one pass
//   over the other sketch's key range, O(its span), adding every bin, empty ones included,
//   two at a time and without a branch per bin (about 50 ns for a span of 145 keys in cache,
//   about 100 ns from memory, measured here); when the other's range reaches outside the
//   receiver's allocation, the receiver is reallocated (O(its span)) with room to spare on
//   the side(s) it grew: at least double, and twice the union range centred when it was
//   empty or grew both ways, so a query's accumulator reallocates once or twice. Memory: at most
//   max_bins doubles per store, 2 * 2048 * 8 = 32 KiB at the default plus the 160-byte object; a
//   sketch of values within a factor of 10 uses about 116 bins per sign (ln 10 / ln gamma), about 1
//   KiB each. memory_bytes() reports it.
//
// Encoding (encode appends; decode takes exactly one encoding, nothing after it)
//   u8 version (1) | f64 relative accuracy | varint max_bins | f64 count, sum, min, max,
//   zero count | negative store | positive store. Each f64 is the IEEE-754 bits, 8 bytes
//   little-endian. A store is varint n, the number of bins from its lowest to its highest
//   non-empty key (0: empty, nothing follows), then the zigzag varint of the lowest key (as
//   stored: negated on the negative side) and n counts. A count is varint 2c when it is an
//   integer c < 2^53 (one byte for an empty bin) and otherwise varint 1 followed by the
//   f64. decode() refuses anything malformed: a wrong version, accuracy or max_bins out of
//   range, truncation, trailing bytes, overlong varints, keys outside what a finite value
//   maps to, more bins than max_bins, empty end bins, negative or non-finite counts, a
//   count that does not match the bins, min > max. Every bin costs at least one input
//   byte, so decoding never allocates more than 8 bytes per input byte.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <cmath>

namespace tally::sketch {

class DDSketch {
  public:
    static constexpr double kDefaultRelativeAccuracy = 0.01;
    static constexpr std::size_t kDefaultMaxBins = 2048;
    // The accepted ranges: keys must fit an int for every finite double, and a store must
    // stay a modest allocation whatever a (decoded) sketch asks for.
    static constexpr double kMinRelativeAccuracy = 1e-4;
    static constexpr double kMaxRelativeAccuracy = 0.5;
    static constexpr std::size_t kMaxBinsLimit = 65536;
    // Magnitudes below this count in the zero bucket.
    static constexpr double kMinIndexable = 1e-9;
    static constexpr std::uint8_t kEncodingVersion = 1;

    // One non-empty bin: key(|v|) of the values it holds and their total weight.
    struct Bin {
        int key;
        double count;
        bool operator==(const Bin&) const = default;
    };

    /// Throws std::invalid_argument when relative_accuracy is outside [1e-4, 0.5] or
    /// max_bins outside [1, 65536].
    explicit DDSketch(double relative_accuracy = kDefaultRelativeAccuracy,
                      std::size_t max_bins = kDefaultMaxBins);

    /// Counts `value` with `weight` occurrences. Ignores a non-finite value and a weight
    /// that is not finite and positive (see the essay).
    void add(double value, double weight = 1.0);

    /// Adds every bin and figure of `other`. Throws std::invalid_argument when the relative
    /// accuracies differ.
    void merge(const DDSketch& other);

    /// The estimate of the nearest-rank q-quantile, within relative_accuracy() of it (see
    /// the essay for collapsed sketches). NaN when empty or q is not in [0, 1].
    double quantile(double q) const;

    double count() const { return count_; }
    double sum() const { return sum_; }
    /// The exact extremes; NaN when empty.
    double min() const { return empty() ? std::numeric_limits<double>::quiet_NaN() : min_; }
    double max() const { return empty() ? std::numeric_limits<double>::quiet_NaN() : max_; }
    bool empty() const { return count_ == 0; }
    void clear();

    double relative_accuracy() const { return alpha_; }
    std::size_t max_bins() const { return max_bins_; }
    double zero_count() const { return zero_count_; }

    /// The non-empty bins, by ascending key. The negative store's keys are key(-v).
    std::vector<Bin> positive_bins() const;
    std::vector<Bin> negative_bins() const;

    /// The bin of a magnitude m >= kMinIndexable, and the value a bin answers with.
    int key(double magnitude) const {
        return static_cast<int>(std::ceil(std::log(magnitude) * inverse_log_gamma_));
    }
    double representative(int key) const;

    /// Bytes owned: the object and the bins' allocations.
    std::size_t memory_bytes() const;

    /// Appends the encoding described in the essay to `out`.
    void encode(std::string& out) const;
    /// The sketch `bytes` encodes, or nullopt when they are not exactly one valid encoding.
    static std::optional<DDSketch> decode(std::string_view bytes);

    /// Same configuration, bins and figures (a NaN sum equals a NaN sum).
    bool operator==(const DDSketch& other) const;

  private:
    // The bins of one sign: counts_[i] is the weight of key offset_ + i. Non-empty keys lie
    // in [min_key_, max_key_], whose span never exceeds max_bins; both end bins are
    // non-empty; min_key_ > max_key_ means empty. counts_.size() <= max_bins.
    class BinStore {
      public:
        void add(int key, double weight, std::size_t max_bins) {
            if (key >= min_key_ && key <= max_key_) {
                counts_[static_cast<std::size_t>(key - offset_)] += weight;
            } else {
                add_outside(key, weight, max_bins);
            }
        }
        void merge(const BinStore& other, std::size_t max_bins);
        bool empty() const { return min_key_ > max_key_; }
        int min_key() const { return min_key_; }
        int max_key() const { return max_key_; }
        double at(int key) const { return counts_[static_cast<std::size_t>(key - offset_)]; }
        double total() const;
        void clear();
        std::size_t heap_bytes() const { return counts_.capacity() * sizeof(double); }
        // Takes decoded bins as they are (the caller has validated them).
        void assign(int min_key, std::vector<double> counts);
        bool operator==(const BinStore& other) const;

      private:
        // Where a reallocation leaves its spare bins: where the range is expected to grow.
        enum class Room : std::uint8_t { up, down, both };
        void add_outside(int key, double weight, std::size_t max_bins);
        // Makes [lo, hi] the key range: weights below lo are added to bin lo (the collapse),
        // and counts_ is reallocated if it does not cover the range, with spare bins as
        // `room` says. hi - lo < max_bins.
        void reshape(int lo, int hi, Room room, std::size_t max_bins);

        std::vector<double> counts_;
        int offset_ = 0;
        int min_key_ = std::numeric_limits<int>::max();
        int max_key_ = std::numeric_limits<int>::min();
    };

    double clamp_to_range(double estimate) const;

    double alpha_;
    std::size_t max_bins_;
    double inverse_log_gamma_;
    double log_gamma_;
    double representative_factor_;  // 2 / (1 + gamma)
    BinStore positive_;
    BinStore negative_;  // keys negated: -key(-v)
    double zero_count_ = 0;
    double count_ = 0;
    double sum_ = 0;
    double min_ = std::numeric_limits<double>::infinity();
    double max_ = -std::numeric_limits<double>::infinity();
};

inline void DDSketch::add(double value, double weight) {
    if (!std::isfinite(value) || !(weight > 0) || !std::isfinite(weight)) {
        return;
    }
    count_ += weight;
    sum_ += value * weight;
    if (value < min_) {
        min_ = value;
    }
    if (value > max_) {
        max_ = value;
    }
    if (value >= kMinIndexable) {
        positive_.add(key(value), weight, max_bins_);
    } else if (value <= -kMinIndexable) {
        negative_.add(-key(-value), weight, max_bins_);
    } else {
        zero_count_ += weight;
    }
}

}  // namespace tally::sketch
