#pragma once
// The rules every metric point obeys, whichever wire format it came in: the JSON metrics
// API, DogStatsD text and InfluxDB line protocol all build a MetricPoint and then ask
// validate_metric_point, so a point that reaches the write path is valid by one definition.
// Pure: the caller passes the receive time.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "tally/base/metric_point.hpp"
#include "tally/base/rejection.hpp"

namespace tally::ingest {

/// A set member is 1..kMaxMetricMember bytes of well-formed UTF-8.
inline constexpr std::size_t kMaxMetricMember = 1024;
/// A point's timestamp lies within [now - kMaxMetricPastMs, now + kMaxMetricFutureMs].
inline constexpr std::int64_t kMaxMetricPastMs = 48LL * 3'600'000;
inline constexpr std::int64_t kMaxMetricFutureMs = 5LL * 60'000;

/// Nothing when `point` is valid; otherwise why not. Checks, in this order: the name, the
/// type, the tags (at most kMaxMetricTags, valid keys and values, sorted by key, each key
/// once), the value (finite; for `unique` the member instead), the weight (finite, > 0),
/// gauge_delta (gauges only), the window and the timestamp. Reasons: "invalid_field",
/// "too_many_tags", "out_of_window"; `field` is "name", "type", "tags", "value", "weight",
/// "window" or "timestamp".
std::optional<Rejection> validate_metric_point(const MetricPoint& point, std::int64_t now_ms);

}  // namespace tally::ingest
