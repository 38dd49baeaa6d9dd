#pragma once
// A dashboard's widgets answered for a time range: the figures each widget draws.
//
// Each widget's answer is one JSON object:
//
//   {"series": [{"name", "group": {tag: value}, "points": [[ms, value|null], ...]}],
//    "rows":   [{"name", "value"}],      breakdowns (top pages, countries, ...)
//    "value":  number|null,              the widget's single figure (number, gauge)
//    "window": "5m"}                     the step of the series
//
// or {"error": "...", "field": "..."} when its query cannot be answered (a metric that
// does not exist yet answers empty series, not an error).
//
// Where the figures come from, and how exact they are:
//   - metric queries run on the metrics engine (metrics/query.hpp), windows aligned to the
//     epoch. The window is the smallest of 10s, 1m, 5m, 15m, 1h, 1d that gives at most
//     kTargetPoints points, and no finer than the one the query names. "value" reduces the series
//     exactly for sum, count, min and max; for the other aggregations it is the last non-empty
//     window.
//   - page views and an event's count come from the store's per-minute counters: series
//     and "value" (their sum) are exact to the minute, the figures /dashboard answers.
//   - visitors, sessions and breakdowns are kept per UTC day in the store (HyperLogLogs,
//     top lists): they are answered for the whole days the range touches, exactly what
//     /dashboard answers for those days; the series of visitors has a point a day.
//   - realtime is the last 5 minutes' distinct sessions, whatever the range.
//   - a formula is evaluated at each timestamp of its queries' series (each must answer
//     one series), and on their "value"s for the widget's value.
// Series stop at now: no point is drawn for a window that has not begun.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tally/metrics/engine.hpp"
#include "tally/store/store.hpp"

namespace tally::dashboards {

inline constexpr std::int64_t kTargetPoints = 400;

struct Sources {
    const metrics::Engine& engine;
    const store::Store& store;
    /// The metrics engine's name of the dashboard's workspace ("" for the default one).
    std::string workspace;
    /// Whether the dashboard's workspace may read a site; empty: every site.
    std::function<bool(std::string_view site)> sees_site;
};

struct TimeRange {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
};

/// The data of one (validated) widget over `range`.
nlohmann::json widget_data(const nlohmann::json& widget, const Sources& sources,
                           const TimeRange& range, std::int64_t now_ms);

/// Every widget of a (stored) dashboard over `range`, and over the comparison range when
/// `compare` is previous_period or previous_week (then "compare_data" per widget,
/// "compare_range" and "offset_ms"). `only_widget`: that widget alone.
///
///   {"id", "name", "version", "range": {"from", "to"}, "compare",
///    "widgets": [{"id", "type", "title", "data"[, "compare_data"]}]}
nlohmann::json dashboard_data(const nlohmann::json& document, const Sources& sources,
                              const TimeRange& range, const std::string& compare,
                              const std::string* only_widget, std::int64_t now_ms);

}  // namespace tally::dashboards
