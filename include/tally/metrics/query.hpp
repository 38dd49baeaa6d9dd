#pragma once
// Reading the metrics engine: the names, a metric's current value, windowed series with
// group-by and tag filters, and the Prometheus export.
//
// Every answer merges the matching series' buckets from every shard (each shard's lock
// taken once, and held only while its buckets are read) in the coarsest tier whose bucket
// width divides the window and that still reaches back to the range's start: 10-second
// buckets last an hour, minutes 48 hours, hours the retention.
// Windows are aligned to multiples of their length since the epoch.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/metrics/buckets.hpp"
#include "tally/metrics/engine.hpp"

namespace tally::metrics {

inline constexpr std::size_t kMaxAnswerPoints = 10'000;
inline constexpr std::size_t kMaxAnswerGroups = 1'000;

/// A series matches when its tag `key` has one of `values`.
struct TagFilter {
    std::string key;
    std::vector<std::string> values;
};

struct NameSummary {
    std::string name;
    MetricType type = MetricType::gauge;
    std::size_t series = 0;
};
std::vector<NameSummary> list_names(const Engine& engine, const std::string& workspace);

/// A metric over its last window, every matching series merged.
struct Current {
    std::string name;
    MetricType type = MetricType::gauge;
    MetricWindow window = MetricWindow::m1;
    std::optional<double> value;  // by the type (Aggregation::natural); nullopt: no points
    double count = 0;             // points (weighted: a StatsD line sampled @0.5 counts 2)
    // Distributions only:
    std::optional<double> p50, p90, p95, p99, min, max, avg;
};

/// nullopt when the name is unknown. `window`: nullopt = the name's default window.
std::optional<Current> current(const Engine& engine, const std::string& workspace,
                               const std::string& name, std::optional<MetricWindow> window,
                               const std::vector<TagFilter>& filters, std::int64_t now_ms);

struct RangeQuery {
    std::string workspace;
    std::vector<std::string> metrics;
    std::optional<Aggregation> aggregation;  // nullopt: each metric's natural one
    MetricWindow window = MetricWindow::m5;
    std::optional<std::int64_t> start_ms;  // both or neither
    std::optional<std::int64_t> end_ms;
    std::vector<std::string> group_by;
    std::vector<TagFilter> filters;
};

struct QueryPoint {
    std::int64_t timestamp_ms = 0;
    std::optional<double> value;  // nullopt: an empty window
};

struct QueryResult {
    std::string metric;
    std::string aggregation;
    std::vector<std::pair<std::string, std::optional<std::string>>> group;  // by group_by
    std::vector<QueryPoint> points;
};

struct QueryError {
    unsigned status = 400;
    std::string message;
    std::string field;
};

std::variant<std::vector<QueryResult>, QueryError> run_query(const Engine& engine,
                                                             const RangeQuery& query,
                                                             std::int64_t now_ms);

/// Every series in the Prometheus text format (0.0.4): counters as `_total` since they
/// began, gauges by their last value, distributions as summaries over the last minute
/// (with cumulative `_sum` and `_count`), sets as gauges of their distinct count over the
/// last minute. Dots and other characters Prometheus does not allow become `_`.
/// `workspace`: that workspace's series alone (the engine's name: "" for the default one);
/// nullptr: every workspace's, each labelled with its workspace.
std::string export_prometheus(const Engine& engine, std::int64_t now_ms,
                              const std::string* workspace = nullptr);

}  // namespace tally::metrics
