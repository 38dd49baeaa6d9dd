#pragma once
// What one time bucket of a series keeps, by kind, and the accumulator that merges buckets
// (over time, series and shards) and answers aggregations.
//
//   counter       sum of value x weight, and the number of points (sum of weights)
//   gauge         count, sum, min, max, and the last value with its timestamp
//   distribution  a DDSketch (relative accuracy 1 %) that also keeps count, sum, min, max
//   set           a DistinctSet of the members (exact while small, then a HyperLogLog)
//
// Every merge is exact: sums add, min/max take the extreme, "last" keeps the later
// timestamp (on a tie, the value merged last), DDSketch bins add, sets take the union. So
// a 1-minute bucket equals the merge of its six 10-second buckets, and an answer over
// several series or instances keeps each kind's bound.

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "tally/base/metric_point.hpp"
#include "tally/sketch/ddsketch.hpp"
#include "tally/sketch/distinct_set.hpp"

namespace tally::metrics {

struct CounterBucket {
    double sum = 0;
    double count = 0;
    void add(const MetricPoint& point) {
        sum += point.value * point.weight;
        count += point.weight;
    }
    void merge(const CounterBucket& other) {
        sum += other.sum;
        count += other.count;
    }
};

struct GaugeBucket {
    double count = 0;
    double sum = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double last = 0;
    std::int64_t last_ms = std::numeric_limits<std::int64_t>::min();
    void add(const MetricPoint& point) {
        count += 1;
        sum += point.value;
        min = std::min(min, point.value);
        max = std::max(max, point.value);
        if (point.timestamp_ms >= last_ms) {
            last = point.value;
            last_ms = point.timestamp_ms;
        }
    }
    void merge(const GaugeBucket& other) {
        count += other.count;
        sum += other.sum;
        min = std::min(min, other.min);
        max = std::max(max, other.max);
        if (other.last_ms >= last_ms) {
            last = other.last;
            last_ms = other.last_ms;
        }
    }
};

struct DistributionBucket {
    sketch::DDSketch sketch;
    void add(const MetricPoint& point) { sketch.add(point.value, point.weight); }
    void merge(const DistributionBucket& other) { sketch.merge(other.sketch); }
};

struct SetBucket {
    sketch::DistinctSet set;
    double points = 0;
    void add(const MetricPoint& point) {
        set.add(point.member);
        points += point.weight;
    }
    void merge(const SetBucket& other) {
        set.merge(other.set);
        points += other.points;
    }
};

/// What a query asks of a window: sum, count, rate (sum per second), avg, min, max, last,
/// unique, or a percentile (`quantile` in (0, 1)).
struct Aggregation {
    enum class Op : std::uint8_t { sum, count, rate, avg, min, max, last, unique, percentile };
    Op op = Op::sum;
    double quantile = 0.5;

    /// "sum", "p99", "p99.9", ...; nullopt when unknown.
    static std::optional<Aggregation> parse(std::string_view text);
    /// The aggregation /current answers for a name of `type`.
    static Aggregation natural(MetricType type);
    /// Whether a series of `kind` can answer it.
    bool answers(MetricKind kind) const;
    /// "sum", "p99", ...
    std::string name() const;
};

/// Merges buckets of one kind; value() answers an aggregation over what it merged.
class Accumulator {
  public:
    explicit Accumulator(MetricKind kind) : kind_(kind) {}

    void add(const CounterBucket& bucket);
    void add(const GaugeBucket& bucket);
    void add(const DistributionBucket& bucket);
    void add(const SetBucket& bucket);
    void merge(const Accumulator& other);

    bool empty() const { return count_ == 0 && !has_set_; }
    MetricKind kind() const { return kind_; }
    /// nullopt when nothing was merged (a `null` window). `seconds` is the window's length
    /// (for rate).
    std::optional<double> value(const Aggregation& aggregation, double seconds) const;
    double count() const { return count_; }
    const sketch::DDSketch& sketch() const { return sketch_; }

  private:
    MetricKind kind_;
    double count_ = 0;
    double sum_ = 0;
    double min_ = std::numeric_limits<double>::infinity();
    double max_ = -std::numeric_limits<double>::infinity();
    double last_ = 0;
    std::int64_t last_ms_ = std::numeric_limits<std::int64_t>::min();
    sketch::DDSketch sketch_;
    sketch::DistinctSet set_;
    bool has_set_ = false;
};

}  // namespace tally::metrics
