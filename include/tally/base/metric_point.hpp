#pragma once
// The normalised metric point: what every metric ingest (the JSON API, DogStatsD over UDP
// or HTTP, InfluxDB line protocol, the automatic and derived metrics) produces, what the
// event log stores and what the metrics engine counts.
//
// A series is (workspace, name, tags). The first point of a name fixes its type, and the
// type fixes the kind: what a time bucket of the series keeps and which aggregations it
// can answer. Every field is already validated, so replaying a logged point never runs the
// ingest rules again.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally {

/// What a bucket keeps.
enum class MetricKind : std::uint8_t { counter = 0, gauge = 1, distribution = 2, set = 3 };

/// What the client sent. count/sum/rate are counters, average/min/max/gauge gauges,
/// percentile a distribution, unique a set; the type also picks what /current answers.
enum class MetricType : std::uint8_t {
    count = 0,
    sum = 1,
    rate = 2,
    average = 3,
    min = 4,
    max = 5,
    gauge = 6,
    percentile = 7,
    unique = 8,
};
inline constexpr int kMetricTypeCount = 9;

MetricKind kind_of(MetricType type);
const char* metric_type_name(MetricType type);
const char* metric_kind_name(MetricKind kind);
/// "count", "gauge", ...; "histogram", "distribution" and "timing" are percentile.
std::optional<MetricType> parse_metric_type(std::string_view text);

/// The windows a query or /current may ask for.
enum class MetricWindow : std::uint8_t { s10 = 0, m1 = 1, m5 = 2, m15 = 3, h1 = 4, d1 = 5 };
std::int64_t window_ms(MetricWindow window);
const char* window_name(MetricWindow window);
/// "10s" "1m" "5m" "15m" "1h" "1d".
std::optional<MetricWindow> parse_window(std::string_view text);

struct MetricTag {
    std::string key;
    std::string value;
    friend bool operator==(const MetricTag&, const MetricTag&) = default;
};

inline constexpr std::size_t kMaxMetricTags = 16;

struct MetricPoint {
    std::string workspace;  // "" is the default workspace
    std::string name;       // [A-Za-z0-9_.:-]{1,128}
    MetricType type = MetricType::gauge;
    std::vector<MetricTag> tags;  // at most 16, sorted by key, keys unique
    double value = 0;             // counter, gauge, distribution: finite
    std::string member;           // set: the member, as text
    // How many occurrences the point stands for: 1, or 1/rate for a StatsD sample. A
    // counter adds value * weight and counts `weight` points; a distribution adds the value
    // with that weight.
    double weight = 1;
    bool gauge_delta = false;  // StatsD "+N"/"-N": change the gauge's last value by `value`
    MetricWindow window = MetricWindow::m1;  // the name's default window for /current
    std::int64_t timestamp_ms = 0;           // epoch milliseconds (UTC)
};

/// [A-Za-z0-9_.:-]{1,128}
bool valid_metric_name(std::string_view name);
/// [A-Za-z_][A-Za-z0-9_.-]{0,63}
bool valid_tag_key(std::string_view key);
/// 1..128 bytes of well-formed UTF-8.
bool valid_tag_value(std::string_view value);

/// Sorts tags by key; false (tags unspecified) when a key repeats.
bool sort_tags(std::vector<MetricTag>& tags);

}  // namespace tally
