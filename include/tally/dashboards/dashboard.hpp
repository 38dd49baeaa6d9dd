#pragma once
// What a dashboard document may hold, checked before it is stored.
//
//   {"name", "description", "refresh_interval", "time": {"from": "now-6h", "to": "now"},
//    "compare": "none" | "previous_period" | "previous_week",
//    "widgets": [{"id", "type", "title", "query",
//                 "position": {"x", "y", "width", "height"}, "visualization_config"}]}
//
// Widgets sit on a 12-column grid: 0 <= x, 1 <= width, x + width <= 12, 0 <= y, and
// 1 <= height <= 24 rows. Overlapping widgets are allowed (a builder moves them apart).
// A widget's query is one of:
//   - a metric query, the body of POST /api/v1/query without a time range (the dashboard's
//     range is the widget's): {"metrics", "aggregation", "window", "group_by", "filters"};
//   - a web-analytics query: {"source": "analytics", "site", "metric":
//     "pageviews|visitors|sessions|events:<name>|realtime", "breakdown":
//     "pages|referrers|countries|devices|events|props:<event>:<key>"};
//   - a formula over named queries of the two kinds above:
//     {"formula": "errors / requests * 100", "queries": {"errors": {...}, ...}}.
// validate_dashboard() returns the document with its defaults filled in (the form it is
// stored and answered in), or the first thing wrong with it, naming the field.

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace tally::dashboards {

inline constexpr std::size_t kMaxWidgets = 50;
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{256} * 1024;
inline constexpr std::size_t kMaxDashboards = 10'000;
inline constexpr int kGridColumns = 12;
inline constexpr int kMaxWidgetRows = 24;
inline constexpr std::size_t kMaxNamedQueries = 10;

inline constexpr std::array<std::string_view, 10> kWidgetTypes = {
    "line_chart", "bar_chart", "area_chart", "pie_chart", "heatmap",
    "gauge",      "number",    "table",      "scatter",   "map"};

struct Invalid {
    std::string message;
    std::string field;  // a JSON path: "widgets[2].position.x"
};

std::variant<nlohmann::json, Invalid> validate_dashboard(const nlohmann::json& body);

/// A web-analytics widget query, parsed.
struct AnalyticsQuery {
    enum class Metric { pageviews, visitors, sessions, events, realtime };
    enum class Breakdown { none, pages, referrers, countries, devices, events, props };
    std::string site;
    Metric metric = Metric::pageviews;
    std::string event;  // Metric::events: its name; Breakdown::props: the event
    Breakdown breakdown = Breakdown::none;
    std::string property;  // Breakdown::props: the key
};

/// The analytics query of a widget, or why it is not one. `field` prefixes the error's path.
std::variant<AnalyticsQuery, Invalid> parse_analytics_query(const nlohmann::json& query,
                                                            const std::string& field);

/// "now", "now-15m", "now-6h", "now-7d", "now/M" (this month's start) or an absolute RFC
/// 3339 time or epoch milliseconds, resolved at `now_ms`; nullopt when malformed.
std::optional<std::int64_t> resolve_time(const nlohmann::json& value, std::int64_t now_ms);

}  // namespace tally::dashboards
