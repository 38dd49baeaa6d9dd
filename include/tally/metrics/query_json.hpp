#pragma once
// The metrics queries in JSON: a query body read into a RangeQuery (what POST /api/v1/query
// and a dashboard widget's metric query share), and the answers written out. Empty windows
// and figures that are not finite are written as null.

#include <nlohmann/json.hpp>
#include <optional>
#include <variant>
#include <vector>

#include "tally/metrics/query.hpp"

namespace tally::metrics {

/// A figure as JSON: null when absent or not finite (NaN and infinities have no JSON form).
nlohmann::json number_or_null(const std::optional<double>& value);

/// The query of a JSON body ({"metrics", "aggregation", "window", "start_time", "end_time",
/// "group_by", "filters"}), or the 400 that says what is wrong with it.
std::variant<RangeQuery, QueryError> parse_range_query(const nlohmann::json& doc);

/// [{"metric", "aggregation", "group": {tag: value|null}, "points": [{"timestamp", "value"}]}]
nlohmann::json results_json(const std::vector<QueryResult>& results);

/// The JSON of /current (and of each item of a live metric_data frame): name, type, window,
/// value, count, and for distributions percentiles p50-p99, min, max, avg. A count is an
/// integer unless StatsD sample rates made it fractional; empty figures are null.
nlohmann::json current_json(const Current& current);

}  // namespace tally::metrics
