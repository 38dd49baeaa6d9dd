#include "tally/dashboards/widget_data.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "tally/base/time.hpp"
#include "tally/dashboards/dashboard.hpp"
#include "tally/dashboards/formula.hpp"
#include "tally/metrics/query_json.hpp"
#include "tally/query/query.hpp"

using nlohmann::json;

namespace tally::dashboards {

using metrics::number_or_null;

namespace {

constexpr std::int64_t kRealtimeMs = 5 * kMsPerMinute;
constexpr MetricWindow kWindows[] = {MetricWindow::s10, MetricWindow::m1, MetricWindow::m5,
                                     MetricWindow::m15, MetricWindow::h1, MetricWindow::d1};

/// The smallest window giving at most kTargetPoints over `range`; `finest` bounds it below.
MetricWindow auto_window(const TimeRange& range, MetricWindow finest) {
    for (MetricWindow window : kWindows) {
        if (window < finest)
            continue;
        if ((range.to_ms - range.from_ms) / window_ms(window) <= kTargetPoints)
            return window;
    }
    return MetricWindow::d1;
}

json error_answer(const std::string& message, const std::string& field = "") {
    json out = {{"error", message}};
    if (!field.empty())
        out["field"] = field;
    return out;
}

/// The figure a series reduces to, by its aggregation (see the header).
std::optional<double> reduce(const std::vector<metrics::QueryPoint>& points,
                             const std::string& aggregation) {
    const bool adds = aggregation == "sum" || aggregation == "count";
    const bool extreme = aggregation == "min" || aggregation == "max";
    std::optional<double> out;
    for (const metrics::QueryPoint& point : points) {
        if (!point.value)
            continue;
        if (out && adds)
            *out += *point.value;
        else if (out && extreme)
            out =
                aggregation == "min" ? std::min(*out, *point.value) : std::max(*out, *point.value);
        else
            out = *point.value;  // the first, or the last non-empty window
    }
    return out;
}

/// The widget's figure over several groups: their total for sums, counts and rates, the
/// extreme for min and max; none for the rest (a percentile of percentiles means nothing).
std::optional<double> across_groups(std::optional<double> so_far, std::optional<double> group,
                                    const std::string& aggregation, bool first) {
    if (first)
        return group;
    const bool adds = aggregation == "sum" || aggregation == "count" || aggregation == "rate";
    if (!adds && aggregation != "min" && aggregation != "max")
        return std::nullopt;
    if (!so_far || !group)
        return so_far ? so_far : group;
    if (adds)
        return *so_far + *group;
    return aggregation == "min" ? std::min(*so_far, *group) : std::max(*so_far, *group);
}

json metric_answer(const json& query, const Sources& sources, const TimeRange& range,
                   std::int64_t now_ms) {
    auto parsed = metrics::parse_range_query(query);
    if (const auto* error = std::get_if<metrics::QueryError>(&parsed))
        return error_answer(error->message, error->field);
    metrics::RangeQuery& request = std::get<metrics::RangeQuery>(parsed);
    // A window the query names is the finest drawn: a wider range takes a coarser one.
    request.window =
        auto_window(range, query.contains("window") ? request.window : MetricWindow::s10);
    request.start_ms = range.from_ms;
    request.end_ms = std::min(range.to_ms, now_ms + 1);
    request.workspace = sources.workspace;
    const auto answer = metrics::run_query(sources.engine, request, now_ms);
    if (const auto* error = std::get_if<metrics::QueryError>(&answer)) {
        if (error->status == 404)  // not reported yet: nothing to draw
            return {{"series", json::array()},
                    {"value", nullptr},
                    {"window", window_name(request.window)}};
        return error_answer(error->message, error->field);
    }
    json series = json::array();
    std::optional<double> value;
    for (const metrics::QueryResult& result : std::get<std::vector<metrics::QueryResult>>(answer)) {
        json group = json::object();
        std::string name = result.metric;
        for (const auto& [key, tag] : result.group) {
            group[key] = tag ? json(*tag) : json(nullptr);
            name += " " + key + "=" + tag.value_or("none");
        }
        json points = json::array();
        for (const metrics::QueryPoint& point : result.points)
            points.push_back({point.timestamp_ms, number_or_null(point.value)});
        const auto reduced = reduce(result.points, result.aggregation);
        value = across_groups(value, reduced, result.aggregation, series.empty());
        series.push_back({{"name", std::move(name)},
                          {"group", std::move(group)},
                          {"aggregation", result.aggregation},
                          {"points", std::move(points)},
                          {"value", number_or_null(reduced)}});
    }
    return {{"series", std::move(series)},
            {"value", number_or_null(value)},
            {"window", window_name(request.window)}};
}

query::DayRange days_of(const TimeRange& range) {
    query::DayRange days;
    days.first = day_of(range.from_ms);
    days.last = day_of(std::max(range.from_ms, range.to_ms - 1));
    days.label = format_rfc3339_ms(days.first * kMsPerDay).substr(0, 10);
    if (days.last != days.first)
        days.label += ".." + format_rfc3339_ms(days.last * kMsPerDay).substr(0, 10);
    return days;
}

json rows_of(const query::Ranked& ranked) {
    json rows = json::array();
    for (const auto& [name, count] : ranked)
        rows.push_back({{"name", name}, {"value", count}});
    return rows;
}

/// A property key's values: events, or distinct visitors with metric "visitors"; the
/// values past the key's cap as one "(other)" row.
json property_answer(const AnalyticsQuery& q, const Sources& sources, const TimeRange& range) {
    const query::DayRange days = days_of(range);
    const query::PropertiesBreakdown breakdown =
        query::properties(sources.store, q.site, days, q.event);
    const bool visitors = q.metric == AnalyticsQuery::Metric::visitors;
    json rows = json::array();
    for (const query::PropertyKeyRows& key : breakdown.keys) {
        if (key.key != q.property)
            continue;
        for (const query::PropertyRow& row : key.values)
            rows.push_back({{"name", row.value}, {"value", visitors ? row.visitors : row.count}});
        if (key.other.count > 0) {
            rows.push_back({{"name", key.other.value},
                            {"value", visitors ? key.other.visitors : key.other.count}});
        }
    }
    return {{"rows", std::move(rows)}, {"days", days.label}};
}

json breakdown_answer(const AnalyticsQuery& q, const Sources& sources, const TimeRange& range,
                      std::int64_t now_ms) {
    using Breakdown = AnalyticsQuery::Breakdown;
    if (q.breakdown == Breakdown::props)
        return property_answer(q, sources, range);
    const query::DayRange days = days_of(range);
    const auto top = [&](query::TopList list) {
        return rows_of(query::top_list(sources.store, q.site, days, list, query::kTopListSize));
    };
    json rows;
    switch (q.breakdown) {
        case Breakdown::pages:
            rows = top(query::TopList::pages);
            break;
        case Breakdown::referrers:
            rows = top(query::TopList::referrers);
            break;
        case Breakdown::countries:
            rows = top(query::TopList::countries);
            break;
        case Breakdown::events:
            rows = rows_of(
                query::build_dashboard(sources.store, q.site, days, now_ms, query::Lists::none)
                    .events);
            break;
        default: {
            const query::Dashboard d =
                query::build_dashboard(sources.store, q.site, days, now_ms, query::Lists::none);
            query::Ranked devices;
            for (int i = 0; i < kDeviceCount; ++i)
                devices.emplace_back(device_name(static_cast<Device>(i)), d.devices[i]);
            rows = rows_of(devices);
        }
    }
    return {{"rows", std::move(rows)}, {"days", days_of(range).label}};
}

/// Visitors or sessions: the days' unique count, and a point a day.
json uniques_answer(const AnalyticsQuery& q, const Sources& sources, const TimeRange& range,
                    std::int64_t now_ms) {
    const query::DayRange days = days_of(range);
    const bool visitors = q.metric == AnalyticsQuery::Metric::visitors;
    const query::Dashboard whole =
        query::build_dashboard(sources.store, q.site, days, now_ms, query::Lists::none);
    json points = json::array();
    for (std::int64_t day = days.first; day <= days.last && day <= day_of(now_ms); ++day) {
        const query::Dashboard one = query::build_dashboard(
            sources.store, q.site, days_of({day * kMsPerDay, day * kMsPerDay + 1}), now_ms,
            query::Lists::none);
        points.push_back({day * kMsPerDay, visitors ? one.unique_visitors : one.unique_sessions});
    }
    json series = json::array({{{"name", visitors ? "visitors" : "sessions"},
                                {"group", json::object()},
                                {"points", std::move(points)}}});
    return {{"series", std::move(series)},
            {"value", visitors ? whole.unique_visitors : whole.unique_sessions},
            {"window", "1d"},
            {"days", days.label}};
}

/// Page views or an event's count, per step, from the store's minutes.
json counts_answer(const AnalyticsQuery& q, const Sources& sources, const TimeRange& range,
                   std::int64_t now_ms) {
    query::TimeseriesRequest request;
    request.event_name = q.metric == AnalyticsQuery::Metric::events ? q.event : "";
    const MetricWindow window = auto_window(range, MetricWindow::m1);
    request.bucket_ms = window_ms(window);
    request.from_ms = floor_div(range.from_ms, request.bucket_ms) * request.bucket_ms;
    // Stop at now: the bucket holding now is the last one drawn.
    request.to_ms =
        std::min(range.to_ms, (floor_div(now_ms, request.bucket_ms) + 1) * request.bucket_ms);
    json points = json::array();
    double total = 0;
    if (request.to_ms > request.from_ms) {
        for (const query::Point& point : query::timeseries(sources.store, q.site, request)) {
            points.push_back({point.timestamp_ms, point.value});
            total += point.value;
        }
    }
    json series =
        json::array({{{"name", request.event_name.empty() ? "pageviews" : request.event_name},
                      {"group", json::object()},
                      {"points", std::move(points)}}});
    return {{"series", std::move(series)}, {"value", total}, {"window", window_name(window)}};
}

json analytics_answer(const json& query, const Sources& sources, const TimeRange& range,
                      std::int64_t now_ms) {
    const auto parsed = parse_analytics_query(query, "query");
    if (const auto* bad = std::get_if<Invalid>(&parsed))
        return error_answer(bad->message, bad->field);
    const AnalyticsQuery& q = std::get<AnalyticsQuery>(parsed);
    // Another workspace's site reads as one that does not exist.
    if (sources.sees_site && !sources.sees_site(q.site))
        return error_answer("no such site", "query.site");
    using Metric = AnalyticsQuery::Metric;
    if (q.breakdown != AnalyticsQuery::Breakdown::none)
        return breakdown_answer(q, sources, range, now_ms);
    if (q.metric == Metric::realtime) {
        // The last five minutes: a range that ended before them has no such figure.
        if (range.to_ms < now_ms - kRealtimeMs)
            return {{"value", nullptr}, {"series", json::array()}};
        const auto users = query::real_time_users(sources.store, q.site, now_ms);
        return {{"value", users}, {"series", json::array()}};
    }
    if (q.metric == Metric::visitors || q.metric == Metric::sessions)
        return uniques_answer(q, sources, range, now_ms);
    return counts_answer(q, sources, range, now_ms);
}

json simple_answer(const json& query, const Sources& sources, const TimeRange& range,
                   std::int64_t now_ms) {
    if (query.contains("source"))
        return analytics_answer(query, sources, range, now_ms);
    return metric_answer(query, sources, range, now_ms);
}

/// One named query's values by timestamp, and its figure.
struct Operand {
    std::map<std::int64_t, std::optional<double>> points;
    std::optional<double> value;
};

std::optional<Operand> operand_of(const json& answer) {
    Operand out;
    if (answer.contains("error") || answer.value("series", json::array()).size() > 1)
        return std::nullopt;
    if (answer.contains("value") && answer["value"].is_number())
        out.value = answer["value"].get<double>();
    for (const json& series : answer.value("series", json::array())) {
        for (const json& point : series["points"])
            out.points[point[0].get<std::int64_t>()] =
                point[1].is_number() ? std::optional(point[1].get<double>()) : std::nullopt;
    }
    return out;
}

json formula_answer(const json& query, const Sources& sources, const TimeRange& range,
                    std::int64_t now_ms) {
    const auto parsed = Formula::parse(query["formula"].get<std::string>());
    if (const auto* error = std::get_if<FormulaError>(&parsed))
        return error_answer(error->message, "query.formula");
    const Formula& formula = std::get<Formula>(parsed);
    std::vector<Operand> operands;
    std::map<std::int64_t, bool> timestamps;
    for (const std::string& name : formula.names()) {
        const json answer = simple_answer(query["queries"][name], sources, range, now_ms);
        if (answer.contains("error"))
            return error_answer(name + ": " + answer["error"].get<std::string>(),
                                "query.queries." + name);
        auto operand = operand_of(answer);
        if (!operand)
            return error_answer("a formula's query must answer one series; " + name +
                                    " has a group_by or breakdown",
                                "query.queries." + name);
        for (const auto& [ts, value] : operand->points)
            timestamps[ts] = true;
        operands.push_back(std::move(*operand));
    }
    std::vector<std::optional<double>> values(operands.size());
    json points = json::array();
    for (const auto& [ts, unused] : timestamps) {
        for (std::size_t i = 0; i < operands.size(); ++i) {
            const auto it = operands[i].points.find(ts);
            values[i] = it == operands[i].points.end() ? std::nullopt : it->second;
        }
        points.push_back({ts, number_or_null(formula.evaluate(values))});
    }
    for (std::size_t i = 0; i < operands.size(); ++i)
        values[i] = operands[i].value;
    json series = json::array(
        {{{"name", query["formula"]}, {"group", json::object()}, {"points", std::move(points)}}});
    return {{"series", std::move(series)}, {"value", number_or_null(formula.evaluate(values))}};
}

}  // namespace

json widget_data(const json& widget, const Sources& sources, const TimeRange& range,
                 std::int64_t now_ms) {
    const json& query = widget["query"];
    if (query.contains("formula"))
        return formula_answer(query, sources, range, now_ms);
    return simple_answer(query, sources, range, now_ms);
}

json dashboard_data(const json& document, const Sources& sources, const TimeRange& range,
                    const std::string& compare, const std::string* only_widget,
                    std::int64_t now_ms) {
    constexpr std::int64_t kWeekMs = 7 * kMsPerDay;
    std::int64_t offset = 0;
    if (compare == "previous_period")
        offset = range.to_ms - range.from_ms;
    else if (compare == "previous_week")
        offset = kWeekMs;
    const TimeRange earlier{range.from_ms - offset, range.to_ms - offset};
    json widgets = json::array();
    for (const json& widget : document["widgets"]) {
        if (only_widget != nullptr && widget["id"] != *only_widget)
            continue;
        json item = {{"id", widget["id"]},
                     {"type", widget["type"]},
                     {"title", widget.value("title", "")},
                     {"data", widget_data(widget, sources, range, now_ms)}};
        if (offset != 0)
            item["compare_data"] = widget_data(widget, sources, earlier, now_ms);
        widgets.push_back(std::move(item));
    }
    json answer = {{"id", document["id"]},
                   {"name", document["name"]},
                   {"version", document["version"]},
                   {"range", {{"from", range.from_ms}, {"to", range.to_ms}}},
                   {"compare", compare},
                   {"widgets", std::move(widgets)}};
    if (offset != 0) {
        answer["compare_range"] = {{"from", earlier.from_ms}, {"to", earlier.to_ms}};
        answer["offset_ms"] = offset;
    }
    return answer;
}

}  // namespace tally::dashboards
