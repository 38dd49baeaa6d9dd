#pragma once
// The body of POST /api/v1/metrics -> metric points. Pure: the caller passes the receive
// time.
//
//   {"metrics":[{"name":"api.latency","type":"percentile","value":12.5,
//                "tags":{"endpoint":"/users"},"window":"1m","timestamp":"2024-01-15T10:30:00Z"}]}
//
//  - `name` and `type` are required; `type` is any name parse_metric_type knows (count sum
//    rate average min max gauge percentile unique, and the aliases histogram distribution
//    timing), spelled exactly.
//  - `value` is required: a finite number; for `unique` a string or a number, the member
//    being the number's canonical text (an integral value, also 1.0 or 1e3, in plain
//    decimal; others their shortest round-trip form), so 5, 5.0 and "5" are one member.
//  - `tags`: an object whose values are all strings (a number or boolean value refuses
//    the point: "5" and 5 would otherwise be one series or two depending on the client).
//  - `window` (10s 1m 5m 15m 1h 1d, default 1m); `timestamp`: RFC 3339 or integer epoch
//    milliseconds, default now_ms. null counts as absent for every optional field; unknown
//    fields are ignored.
//  - Every point is then checked by validate_metric_point.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/base/rejection.hpp"
#include "tally/ingest/parse.hpp"

namespace tally::ingest {

inline constexpr std::size_t kMaxMetricPoints = 10'000;
inline constexpr std::size_t kMaxMetricsBodyBytes = 1024 * 1024;

/// Parses a metrics body. A Rejection (the request's 400) when the body is not that shape:
/// larger than kMaxMetricsBodyBytes or holding more than kMaxMetricPoints points
/// ("too_large"), not valid JSON or not an object ("bad_json"), no "metrics" array
/// ("missing_field" / "invalid_field", field "metrics"); then `accepted` and `rejected` are
/// empty. Otherwise the good points are in `accepted` (in order) and each bad one in
/// `rejected` with its index in the array. Both vectors are overwritten; the points already
/// in `accepted` are reused (their buffers kept), so a worker passing the same vectors
/// every time allocates next to nothing.
std::optional<Rejection> parse_metrics_json(std::string_view body, std::int64_t now_ms,
                                            std::vector<MetricPoint>& accepted,
                                            std::vector<BatchItemRejection>& rejected);
/// The same, with the JSON parser's buffers kept from one call to the next (parse.hpp).
std::optional<Rejection> parse_metrics_json(std::string_view body, std::int64_t now_ms,
                                            std::vector<MetricPoint>& accepted,
                                            std::vector<BatchItemRejection>& rejected,
                                            ParseBuffers& buffers);

}  // namespace tally::ingest
