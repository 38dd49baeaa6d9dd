#include "tally/metrics/query_json.hpp"

#include <cmath>

#include "tally/base/time.hpp"

namespace tally::metrics {

using nlohmann::json;

namespace {

json count_json(double count) {
    if (count == std::floor(count) && std::fabs(count) < 9e15)
        return static_cast<std::int64_t>(count);
    return count;
}

/// A time in a query body: RFC 3339 text or epoch milliseconds.
std::optional<std::int64_t> query_time(const json& value) {
    if (value.is_number_integer())
        return value.get<std::int64_t>();
    if (value.is_string())
        return parse_rfc3339_ms(value.get<std::string>());
    return std::nullopt;
}

/// "metrics": a name or a list of names.
std::optional<std::vector<std::string>> metric_names(const json& value) {
    std::vector<std::string> names;
    if (value.is_string()) {
        names.push_back(value.get<std::string>());
    } else if (value.is_array()) {
        for (const json& item : value) {
            if (!item.is_string())
                return std::nullopt;
            names.push_back(item.get<std::string>());
        }
    } else {
        return std::nullopt;
    }
    for (const std::string& name : names) {
        if (!valid_metric_name(name))
            return std::nullopt;
    }
    if (names.empty())
        return std::nullopt;
    return names;
}

/// "filters": {"tags.K": "V" | ["V1", "V2"]} (the "tags." prefix may be left out).
std::optional<std::vector<TagFilter>> body_filters(const json& value) {
    std::vector<TagFilter> filters;
    if (!value.is_object())
        return std::nullopt;
    for (const auto& [key, wanted] : value.items()) {
        TagFilter filter;
        filter.key = key.starts_with("tags.") ? key.substr(5) : key;
        if (wanted.is_string()) {
            filter.values.push_back(wanted.get<std::string>());
        } else if (wanted.is_array()) {
            for (const json& item : wanted) {
                if (!item.is_string())
                    return std::nullopt;
                filter.values.push_back(item.get<std::string>());
            }
        } else {
            return std::nullopt;
        }
        filters.push_back(std::move(filter));
    }
    return filters;
}

}  // namespace

json number_or_null(const std::optional<double>& value) {
    if (!value || !std::isfinite(*value))
        return nullptr;
    return *value;
}

std::variant<RangeQuery, QueryError> parse_range_query(const json& doc) {
    if (!doc.is_object())
        return QueryError{400, "body must be a JSON object", ""};
    RangeQuery query;
    const auto names = doc.contains("metrics") ? metric_names(doc["metrics"]) : std::nullopt;
    if (!names)
        return QueryError{400, "metrics must be a non-empty list of metric names", "metrics"};
    query.metrics = *names;
    if (doc.contains("aggregation") && !doc["aggregation"].is_null()) {
        const json& text = doc["aggregation"];
        query.aggregation =
            text.is_string() ? Aggregation::parse(text.get<std::string>()) : std::nullopt;
        if (!query.aggregation) {
            return QueryError{
                400, "aggregation must be sum, count, rate, avg, min, max, last, unique or pNN",
                "aggregation"};
        }
    }
    const json window = doc.value("window", json("1m"));
    const auto parsed_window =
        window.is_string() ? parse_window(window.get<std::string>()) : std::nullopt;
    if (!parsed_window)
        return QueryError{400, "window must be 10s, 1m, 5m, 15m, 1h or 1d", "window"};
    query.window = *parsed_window;
    const bool has_start = doc.contains("start_time") && !doc["start_time"].is_null();
    const bool has_end = doc.contains("end_time") && !doc["end_time"].is_null();
    if (has_start || has_end) {
        query.start_ms = has_start ? query_time(doc["start_time"]) : std::nullopt;
        query.end_ms = has_end ? query_time(doc["end_time"]) : std::nullopt;
        if (!query.start_ms)
            return QueryError{400, "start_time must be RFC 3339", "start_time"};
        if (!query.end_ms)
            return QueryError{400, "end_time must be RFC 3339", "end_time"};
    }
    if (doc.contains("group_by")) {
        const auto groups = metric_names(doc["group_by"]);  // tag keys are names too
        if (!doc["group_by"].is_array() || (!doc["group_by"].empty() && !groups))
            return QueryError{400, "group_by must be a list of tag keys", "group_by"};
        if (groups)
            query.group_by = *groups;
    }
    if (doc.contains("filters")) {
        const auto filters = body_filters(doc["filters"]);
        if (!filters) {
            return QueryError{400, "filters must map tags.<key> to a value or a list of values",
                              "filters"};
        }
        query.filters = *filters;
    }
    return query;
}

json results_json(const std::vector<QueryResult>& results) {
    json out = json::array();
    for (const QueryResult& result : results) {
        json group = json::object();
        for (const auto& [key, value] : result.group)
            group[key] = value ? json(*value) : json(nullptr);
        json points = json::array();
        for (const QueryPoint& point : result.points) {
            points.push_back({{"timestamp", format_rfc3339_ms(point.timestamp_ms)},
                              {"value", number_or_null(point.value)}});
        }
        out.push_back({{"metric", result.metric},
                       {"aggregation", result.aggregation},
                       {"group", std::move(group)},
                       {"points", std::move(points)}});
    }
    return out;
}

json current_json(const Current& current) {
    json out = {{"name", current.name},
                {"type", metric_type_name(current.type)},
                {"window", window_name(current.window)},
                {"value", number_or_null(current.value)},
                {"count", count_json(current.count)}};
    if (kind_of(current.type) == MetricKind::distribution) {
        out["percentiles"] = {{"p50", number_or_null(current.p50)},
                              {"p90", number_or_null(current.p90)},
                              {"p95", number_or_null(current.p95)},
                              {"p99", number_or_null(current.p99)}};
        out["min"] = number_or_null(current.min);
        out["max"] = number_or_null(current.max);
        out["avg"] = number_or_null(current.avg);
    }
    return out;
}

}  // namespace tally::metrics
