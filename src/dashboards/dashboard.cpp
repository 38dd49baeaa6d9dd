#include "tally/dashboards/dashboard.hpp"

#include <algorithm>
#include <charconv>
#include <set>

#include "tally/base/names.hpp"
#include "tally/base/time.hpp"
#include "tally/dashboards/formula.hpp"
#include "tally/metrics/query_json.hpp"

using nlohmann::json;

namespace tally::dashboards {

namespace {

constexpr std::size_t kMaxText = 1000;

std::optional<Invalid> text_field(json& object, const char* key, const std::string& path,
                                  bool required, const char* fallback) {
    if (!object.contains(key) || object[key].is_null()) {
        if (required)
            return Invalid{std::string(key) + " is required", path + key};
        object[key] = fallback;
        return std::nullopt;
    }
    const json& value = object[key];
    if (!value.is_string() || value.get_ref<const std::string&>().size() > kMaxText ||
        !valid_utf8(value.get_ref<const std::string&>())) {
        return Invalid{std::string(key) + " must be text of at most 1000 bytes", path + key};
    }
    if (required && value.get_ref<const std::string&>().empty())
        return Invalid{std::string(key) + " must not be empty", path + key};
    return std::nullopt;
}

std::optional<Invalid> check_time(json& doc) {
    if (!doc.contains("time") || doc["time"].is_null())
        doc["time"] = {{"from", "now-6h"}, {"to", "now"}};
    json& time = doc["time"];
    if (!time.is_object())
        return Invalid{"time must be {\"from\", \"to\"}", "time"};
    for (const char* key : {"from", "to"}) {
        if (!time.contains(key) || !resolve_time(time[key], 0))
            return Invalid{std::string("time.") + key +
                               " must be now, now-<N><s|m|h|d|w>, now/d, now/M or RFC 3339",
                           std::string("time.") + key};
    }
    return std::nullopt;
}

std::optional<Invalid> check_top_level(json& doc) {
    if (auto bad = text_field(doc, "name", "", true, ""))
        return bad;
    if (auto bad = text_field(doc, "description", "", false, ""))
        return bad;
    if (!doc.contains("refresh_interval") || doc["refresh_interval"].is_null())
        doc["refresh_interval"] = "live";
    const json& refresh = doc["refresh_interval"];
    if (!(refresh.is_string() &&
          (refresh == "live" || refresh == "off" || parse_window(refresh.get<std::string>()))) &&
        !(refresh.is_number_integer() && refresh.get<std::int64_t>() >= 0)) {
        return Invalid{"refresh_interval must be live, off, a window (1m) or seconds",
                       "refresh_interval"};
    }
    if (auto bad = check_time(doc))
        return bad;
    if (!doc.contains("compare") || doc["compare"].is_null())
        doc["compare"] = "none";
    const json& compare = doc["compare"];
    if (compare != "none" && compare != "previous_period" && compare != "previous_week")
        return Invalid{"compare must be none, previous_period or previous_week", "compare"};
    return std::nullopt;
}

std::optional<Invalid> check_position(json& widget, const std::string& path) {
    if (!widget.contains("position") || !widget["position"].is_object())
        return Invalid{"position {x, y, width, height} is required", path + "position"};
    json& position = widget["position"];
    for (const char* key : {"x", "y", "width", "height"}) {
        if (!position.contains(key) || !position[key].is_number_integer())
            return Invalid{std::string(key) + " must be an integer", path + "position." + key};
    }
    const auto x = position["x"].get<std::int64_t>(), y = position["y"].get<std::int64_t>();
    const auto width = position["width"].get<std::int64_t>();
    const auto height = position["height"].get<std::int64_t>();
    if (x < 0 || width < 1 || x + width > kGridColumns)
        return Invalid{
            "the widget must fit the 12-column grid: 0 <= x, 1 <= width, x + width "
            "<= 12",
            path + "position"};
    if (y < 0 || y > 10'000 || height < 1 || height > kMaxWidgetRows)
        return Invalid{"y must be at least 0 and height 1 to 24 rows", path + "position"};
    return std::nullopt;
}

std::optional<Invalid> check_visualization(json& widget, const std::string& path) {
    if (!widget.contains("visualization_config") || widget["visualization_config"].is_null())
        widget["visualization_config"] = json::object();
    json& config = widget["visualization_config"];
    const std::string at = path + "visualization_config.";
    if (!config.is_object())
        return Invalid{"visualization_config must be an object", at.substr(0, at.size() - 1)};
    for (const char* key : {"min", "max"}) {
        if (config.contains(key) && !config[key].is_null() && !config[key].is_number())
            return Invalid{std::string(key) + " must be a number", at + key};
    }
    if (config.contains("unit") && (!config["unit"].is_string() || config["unit"].size() > 32))
        return Invalid{"unit must be text of at most 32 bytes", at + "unit"};
    if (config.contains("stacked") && !config["stacked"].is_boolean())
        return Invalid{"stacked must be true or false", at + "stacked"};
    if (!config.contains("thresholds"))
        return std::nullopt;
    const json& thresholds = config["thresholds"];
    if (!thresholds.is_array() || thresholds.size() > 10)
        return Invalid{"thresholds must be a list of at most 10", at + "thresholds"};
    for (std::size_t i = 0; i < thresholds.size(); ++i) {
        const json& t = thresholds[i];
        if (!t.is_object() || !t.contains("value") || !t["value"].is_number() ||
            !t.contains("color") || !t["color"].is_string() || t["color"].size() > 32) {
            return Invalid{"a threshold is {\"value\": number, \"color\": text}",
                           at + "thresholds[" + std::to_string(i) + "]"};
        }
    }
    return std::nullopt;
}

std::optional<Invalid> check_metric_query(const json& query, const std::string& field) {
    if (query.contains("start_time") || query.contains("end_time"))
        return Invalid{
            "a widget's time range is the dashboard's: leave out start_time and "
            "end_time",
            field};
    const auto parsed = metrics::parse_range_query(query);
    if (const auto* error = std::get_if<metrics::QueryError>(&parsed))
        return Invalid{error->message, field + "." + error->field};
    return std::nullopt;
}

/// A query that is not a formula: analytics or metric.
std::optional<Invalid> check_simple_query(const json& query, const std::string& field) {
    if (!query.is_object())
        return Invalid{"a query must be an object", field};
    if (query.contains("source")) {
        const auto parsed = parse_analytics_query(query, field);
        if (const auto* bad = std::get_if<Invalid>(&parsed))
            return *bad;
        return std::nullopt;
    }
    return check_metric_query(query, field);
}

std::optional<Invalid> check_formula_query(const json& query, const std::string& field) {
    const json& text = query["formula"];
    if (!text.is_string())
        return Invalid{"formula must be text", field + ".formula"};
    const auto parsed = Formula::parse(text.get<std::string>());
    if (const auto* error = std::get_if<FormulaError>(&parsed))
        return Invalid{error->message, field + ".formula"};
    const json& named = query.value("queries", json());
    if (!named.is_object() || named.empty() || named.size() > kMaxNamedQueries)
        return Invalid{"queries must name 1 to 10 queries", field + ".queries"};
    for (const std::string& name : std::get<Formula>(parsed).names()) {
        if (!named.contains(name))
            return Invalid{"the formula reads '" + name + "', which queries does not name",
                           field + ".queries"};
    }
    for (const auto& [name, inner] : named.items()) {
        std::string at = field;
        at.append(".queries.").append(name);
        if (inner.is_object() && inner.contains("formula"))
            return Invalid{"a named query cannot itself be a formula", at};
        if (auto bad = check_simple_query(inner, at))
            return bad;
    }
    return std::nullopt;
}

/// `ids`: the widget ids seen so far; `given`: every id the document's widgets bring.
std::optional<Invalid> check_widget(json& widget, const std::string& path,
                                    std::set<std::string>& ids,
                                    const std::set<std::string>& given) {
    if (!widget.is_object())
        return Invalid{"a widget must be an object", path.substr(0, path.size() - 1)};
    if (!widget.contains("id") || widget["id"].is_null()) {
        // A new widget: the first "wN" no other widget of the document has or brings.
        widget.erase("id");
        for (std::size_t n = 1; !widget.contains("id"); ++n) {
            const std::string candidate = "w" + std::to_string(n);
            if (!ids.contains(candidate) && !given.contains(candidate))
                widget["id"] = candidate;
        }
    }
    const json& id = widget["id"];
    if (!id.is_string() || id.get_ref<const std::string&>().empty() || id.size() > 64)
        return Invalid{"id must be text of 1 to 64 bytes", path + "id"};
    if (!ids.insert(id.get<std::string>()).second)
        return Invalid{"two widgets have the id '" + id.get<std::string>() + "'", path + "id"};
    const json type = widget.value("type", json());
    if (!type.is_string() || std::find(kWidgetTypes.begin(), kWidgetTypes.end(),
                                       type.get<std::string>()) == kWidgetTypes.end()) {
        return Invalid{
            "type must be one of line_chart, bar_chart, area_chart, pie_chart, "
            "heatmap, gauge, number, table, scatter, map",
            path + "type"};
    }
    if (auto bad = text_field(widget, "title", path, false, ""))
        return bad;
    if (auto bad = check_position(widget, path))
        return bad;
    if (auto bad = check_visualization(widget, path))
        return bad;
    if (!widget.contains("query") || !widget["query"].is_object())
        return Invalid{"query must be an object", path + "query"};
    const json& query = widget["query"];
    return query.contains("formula") ? check_formula_query(query, path + "query")
                                     : check_simple_query(query, path + "query");
}

/// "now-6h" style: the offset in milliseconds after "now-".
std::optional<std::int64_t> relative_offset(std::string_view text) {
    if (text.size() < 2)
        return std::nullopt;
    std::int64_t count = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, count);
    if (ec != std::errc() || end != text.data() + text.size() - 1 || count < 0 || count > 100'000) {
        return std::nullopt;
    }
    switch (text.back()) {
        case 's':
            return count * 1000;
        case 'm':
            return count * kMsPerMinute;
        case 'h':
            return count * 3'600'000;
        case 'd':
            return count * kMsPerDay;
        case 'w':
            return count * 7 * kMsPerDay;
        default:
            return std::nullopt;
    }
}

}  // namespace

std::optional<std::int64_t> resolve_time(const json& value, std::int64_t now_ms) {
    if (value.is_number_integer())
        return value.get<std::int64_t>();
    if (!value.is_string())
        return std::nullopt;
    const std::string_view text = value.get_ref<const std::string&>();
    if (text == "now")
        return now_ms;
    if (text == "now/d")
        return day_of(now_ms) * kMsPerDay;
    if (text == "now/M") {
        int year = 0;
        unsigned month = 0, day = 0;
        civil_from_days(day_of(now_ms), year, month, day);
        return days_from_civil(year, month, 1) * kMsPerDay;
    }
    if (text.starts_with("now-")) {
        const auto offset = relative_offset(text.substr(4));
        return offset ? std::optional(now_ms - *offset) : std::nullopt;
    }
    return parse_rfc3339_ms(text);
}

std::variant<AnalyticsQuery, Invalid> parse_analytics_query(const json& query,
                                                            const std::string& field) {
    AnalyticsQuery out;
    if (query.value("source", json()) != "analytics")
        return Invalid{"source must be \"analytics\" (or leave it out for a metric query)",
                       field + ".source"};
    const json site = query.value("site", json());
    if (!site.is_string() || !valid_site(site.get<std::string>()))
        return Invalid{"site must be a site name", field + ".site"};
    out.site = site.get<std::string>();
    const std::string metric = query.value("metric", json("pageviews")).is_string()
                                   ? query.value("metric", std::string("pageviews"))
                                   : std::string("?");
    using Metric = AnalyticsQuery::Metric;
    if (metric == "pageviews") {
        out.metric = Metric::pageviews;
    } else if (metric == "visitors") {
        out.metric = Metric::visitors;
    } else if (metric == "sessions") {
        out.metric = Metric::sessions;
    } else if (metric == "realtime") {
        out.metric = Metric::realtime;
    } else if (metric.starts_with("events:") && valid_event_name(metric.substr(7))) {
        out.metric = Metric::events;
        out.event = metric.substr(7);
    } else {
        return Invalid{"metric must be pageviews, visitors, sessions, realtime or events:<name>",
                       field + ".metric"};
    }
    const json breakdown = query.value("breakdown", json());
    if (breakdown.is_null())
        return out;
    using Breakdown = AnalyticsQuery::Breakdown;
    const std::string text = breakdown.is_string() ? breakdown.get<std::string>() : "?";
    static const std::pair<std::string_view, Breakdown> kNames[] = {
        {"pages", Breakdown::pages},
        {"referrers", Breakdown::referrers},
        {"countries", Breakdown::countries},
        {"devices", Breakdown::devices},
        {"events", Breakdown::events}};
    for (const auto& [name, value] : kNames) {
        if (text == name)
            out.breakdown = value;
    }
    if (text.starts_with("props:")) {
        const std::size_t colon = text.find(':', 6);
        if (colon != std::string::npos && valid_event_name(text.substr(6, colon - 6)) &&
            colon + 1 < text.size() && text.size() - colon - 1 <= 300) {
            out.breakdown = Breakdown::props;
            out.event = text.substr(6, colon - 6);
            out.property = text.substr(colon + 1);
        }
    }
    if (out.breakdown == Breakdown::none)
        return Invalid{
            "breakdown must be pages, referrers, countries, devices, events or "
            "props:<event>:<key>",
            field + ".breakdown"};
    return out;
}

std::variant<json, Invalid> validate_dashboard(const json& body) {
    if (!body.is_object())
        return Invalid{"a dashboard must be a JSON object", ""};
    if (body.dump().size() > kMaxDocumentBytes)
        return Invalid{"a dashboard is at most 256 KiB", ""};
    json doc = body;
    for (const char* server_side : {"id", "version", "created_at", "updated_at"})
        doc.erase(server_side);
    if (auto bad = check_top_level(doc))
        return *bad;
    if (!doc.contains("widgets") || doc["widgets"].is_null())
        doc["widgets"] = json::array();
    json& widgets = doc["widgets"];
    if (!widgets.is_array())
        return Invalid{"widgets must be a list", "widgets"};
    if (widgets.size() > kMaxWidgets)
        return Invalid{"a dashboard has at most 50 widgets", "widgets"};
    std::set<std::string> ids, given;
    for (const json& widget : widgets) {
        if (widget.is_object() && widget.contains("id") && widget["id"].is_string())
            given.insert(widget["id"].get<std::string>());
    }
    for (std::size_t i = 0; i < widgets.size(); ++i) {
        if (auto bad = check_widget(widgets[i], "widgets[" + std::to_string(i) + "].", ids, given))
            return *bad;
    }
    return doc;
}

}  // namespace tally::dashboards
