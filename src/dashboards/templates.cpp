#include "tally/dashboards/templates.hpp"

using nlohmann::json;

namespace tally::dashboards {

namespace {

struct Choices {
    std::string site;
    std::string requests;
    std::string latency;
    std::string started;
    std::string completed;
};

Choices read_choices(const json& in) {
    auto text = [&](const char* key, const char* fallback) {
        return in.contains(key) && in[key].is_string() ? in[key].get<std::string>()
                                                       : std::string(fallback);
    };
    return {text("site", "default"), text("requests_metric", "demo.http.requests"),
            text("latency_metric", "demo.http.latency_ms"),
            text("signup_started", "signup_started"), text("signup_completed", "signup_completed")};
}

json widget(const char* type, const char* title, json query, int x, int y, int width, int height,
            json config = json::object()) {
    return {{"type", type},
            {"title", title},
            {"query", std::move(query)},
            {"position", {{"x", x}, {"y", y}, {"width", width}, {"height", height}}},
            {"visualization_config", std::move(config)}};
}

json analytics(const Choices& c, const char* metric, const char* breakdown = nullptr) {
    json q = {{"source", "analytics"}, {"site", c.site}, {"metric", metric}};
    if (breakdown != nullptr)
        q["breakdown"] = breakdown;
    return q;
}

json web_analytics(const Choices& c) {
    json widgets = json::array({
        widget("number", "Page views", analytics(c, "pageviews"), 0, 0, 3, 2),
        widget("number", "Unique visitors", analytics(c, "visitors"), 3, 0, 3, 2),
        widget("number", "Sessions", analytics(c, "sessions"), 6, 0, 3, 2),
        widget("number", "Visitors now", analytics(c, "realtime"), 9, 0, 3, 2),
        widget("area_chart", "Page views", analytics(c, "pageviews"), 0, 2, 12, 4),
        widget("table", "Top pages", analytics(c, "pageviews", "pages"), 0, 6, 6, 4),
        widget("table", "Top referrers", analytics(c, "pageviews", "referrers"), 6, 6, 6, 4),
        widget("map", "Countries", analytics(c, "pageviews", "countries"), 0, 10, 8, 5),
        widget("pie_chart", "Devices", analytics(c, "pageviews", "devices"), 8, 10, 4, 5),
        widget("bar_chart", "Events", analytics(c, "pageviews", "events"), 0, 15, 12, 4),
    });
    return {{"name", "Web analytics overview"},
            {"description", "The page views, visitors, sources and events of " + c.site},
            {"time", {{"from", "now/d"}, {"to", "now"}}},
            {"widgets", std::move(widgets)}};
}

json api_performance(const Choices& c) {
    const json by_endpoint = json::array({"endpoint"});
    auto latency = [&](const char* p) {
        return json{
            {"metrics", json::array({c.latency})}, {"aggregation", p}, {"group_by", by_endpoint}};
    };
    const json requests = {{"metrics", json::array({c.requests})}, {"aggregation", "sum"}};
    json errors = requests;
    errors["filters"] = {{"status", json::array({"500", "502", "503", "504"})}};
    const json thresholds = json::array({{{"value", 0}, {"color", "#2e9d5b"}},
                                         {{"value", 250}, {"color", "#e0a526"}},
                                         {{"value", 500}, {"color", "#d64545"}}});
    json widgets = json::array({
        widget("line_chart", "Requests per second by endpoint",
               {{"metrics", json::array({c.requests})},
                {"aggregation", "rate"},
                {"group_by", by_endpoint}},
               0, 0, 8, 4, {{"unit", "req/s"}}),
        widget("number", "Requests", requests, 8, 0, 4, 2),
        widget("number", "Error rate",
               {{"formula", "errors / requests * 100"},
                {"queries", {{"errors", errors}, {"requests", requests}}}},
               8, 2, 4, 2, {{"unit", "%"}}),
        widget("line_chart", "Error rate",
               {{"formula", "errors / requests * 100"},
                {"queries", {{"errors", errors}, {"requests", requests}}}},
               0, 4, 6, 4, {{"unit", "%"}, {"min", 0}}),
        widget("gauge", "Latency p99",
               {{"metrics", json::array({c.latency})}, {"aggregation", "p99"}}, 6, 4, 3, 4,
               {{"unit", "ms"}, {"min", 0}, {"max", 1000}, {"thresholds", thresholds}}),
        widget("table", "p99 by endpoint", latency("p99"), 9, 4, 3, 4, {{"unit", "ms"}}),
        widget("line_chart", "Latency p50 by endpoint", latency("p50"), 0, 8, 4, 4,
               {{"unit", "ms"}}),
        widget("line_chart", "Latency p95 by endpoint", latency("p95"), 4, 8, 4, 4,
               {{"unit", "ms"}}),
        widget("line_chart", "Latency p99 by endpoint", latency("p99"), 8, 8, 4, 4,
               {{"unit", "ms"}}),
        widget("heatmap", "Latency p99 over time", latency("p99"), 0, 12, 12, 4, {{"unit", "ms"}}),
    });
    return {
        {"name", "API performance"},
        {"description", "Request rate, errors and latency of " + c.requests + " and " + c.latency},
        {"time", {{"from", "now-1h"}, {"to", "now"}}},
        {"widgets", std::move(widgets)}};
}

json business_kpis(const Choices& c) {
    const std::string started = "events:" + c.started;
    const std::string completed = "events:" + c.completed;
    json conversion = {{"formula", "completed / started * 100"},
                       {"queries",
                        {{"started", analytics(c, started.c_str())},
                         {"completed", analytics(c, completed.c_str())}}}};
    json widgets = json::array({
        widget("number", "Visitors", analytics(c, "visitors"), 0, 0, 3, 2),
        widget("number", "Signups started", analytics(c, started.c_str()), 3, 0, 3, 2),
        widget("number", "Signups completed", analytics(c, completed.c_str()), 6, 0, 3, 2),
        widget("number", "Signup conversion", conversion, 9, 0, 3, 2, {{"unit", "%"}}),
        widget("bar_chart", "Signups completed", analytics(c, completed.c_str()), 0, 2, 6, 4),
        widget("bar_chart", "Events", analytics(c, "pageviews", "events"), 6, 2, 6, 4),
        widget("map", "Visitors by country", analytics(c, "pageviews", "countries"), 0, 6, 8, 5),
        widget("pie_chart", "Devices", analytics(c, "pageviews", "devices"), 8, 6, 4, 5),
    });
    return {{"name", "Business KPIs"},
            {"description", "Signups, conversion and where visitors come from, for " + c.site},
            {"time", {{"from", "now-7d"}, {"to", "now"}}},
            {"compare", "previous_period"},
            {"widgets", std::move(widgets)}};
}

struct Template {
    const char* id;
    const char* name;
    const char* description;
    json (*make)(const Choices&);
};

constexpr Template kTemplates[] = {
    {"web-analytics", "Web analytics overview",
     "The page at / as a dashboard: page views, visitors, sessions, pages, sources, countries, "
     "devices and events",
     web_analytics},
    {"api-performance", "API performance",
     "Request rate, error rate and latency p50/p95/p99 per endpoint, a p99 gauge with "
     "thresholds",
     api_performance},
    {"business-kpis", "Business KPIs",
     "Visitors, signups and their conversion, events, a country map", business_kpis},
};

}  // namespace

json template_list() {
    json out = json::array();
    for (const Template& t : kTemplates)
        out.push_back({{"id", t.id}, {"name", t.name}, {"description", t.description}});
    return out;
}

std::optional<json> make_from_template(const std::string& id, const json& choices) {
    for (const Template& t : kTemplates) {
        if (id != t.id)
            continue;
        json document = t.make(read_choices(choices));
        for (const char* key : {"name", "description"}) {
            if (choices.contains(key))
                document[key] = choices[key];
        }
        return document;
    }
    return std::nullopt;
}

}  // namespace tally::dashboards
