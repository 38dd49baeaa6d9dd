// The Plausible Stats API v1 subset; see tally/api/stats_api.hpp.

#include "tally/api/stats_api.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <tuple>
#include <variant>

#include "tally/api/params.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"
#include "tally/query/query.hpp"

namespace tally::api {

namespace {

using json = nlohmann::ordered_json;

constexpr std::int64_t kMaxDays = 400;
constexpr std::size_t kMaxLimit = 1000;

struct StatsQuery {
    std::string site;
    query::DayRange range;
    std::vector<std::string> metrics;
    bool compare = false;
    bool monthly = false;
    std::string property;
    std::size_t limit = 100;
    std::size_t page = 1;
};

http::Response bad(const std::string& field, const std::string& message) {
    return http::error_response(400, message, field);
}

/// Every parameter name of the query string; the first one not in `allowed`.
std::optional<std::string> unknown_parameter(std::string_view query,
                                             std::initializer_list<std::string_view> allowed) {
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const std::string name =
            http::percent_decode(pair.substr(0, pair.find('=')), true).value_or("?");
        if (!name.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end())
            return name;
        if (amp == std::string_view::npos)
            break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

/// The first day of the month `months_back` months before `day`'s.
std::int64_t month_start(std::int64_t day, int months_back) {
    int year = 0;
    unsigned month = 0, dom = 0;
    civil_from_days(day, year, month, dom);
    const int index = year * 12 + static_cast<int>(month) - 1 - months_back;
    return days_from_civil(index / 12, static_cast<unsigned>(index % 12 + 1), 1);
}

std::int64_t month_end(std::int64_t day) {
    return store::period_end(store::Period::month, month_start(day, 0));
}

/// period (and date) into a range of days; a Response when they are not understood.
std::variant<query::DayRange, http::Response> period_range(const http::Request& request,
                                                           std::int64_t today) {
    const std::string period = http::query_param(request.query, "period").value_or("30d");
    const auto date = http::query_param(request.query, "date");
    query::DayRange range;
    if (period == "custom") {
        const std::size_t comma = date ? date->find(',') : std::string::npos;
        const auto from =
            comma == std::string::npos ? std::nullopt : parse_day(date->substr(0, comma));
        const auto to =
            comma == std::string::npos ? std::nullopt : parse_day(date->substr(comma + 1));
        if (!from || !to || *to < *from || *to - *from >= kMaxDays)
            return bad("date", "period=custom needs date=YYYY-MM-DD,YYYY-MM-DD (at most 400 days)");
        range.first = *from;
        range.last = *to;
    } else {
        const auto reference = date ? parse_day(*date) : std::optional<std::int64_t>(today);
        if (!reference)
            return bad("date", "date must be YYYY-MM-DD");
        const std::int64_t d = *reference;
        if (period == "day") {
            range.first = range.last = d;
        } else if (period == "7d" || period == "30d") {
            range.first = d - (period == "7d" ? 6 : 29);
            range.last = d;
        } else if (period == "month" || period == "6mo" || period == "12mo") {
            range.first = month_start(d, period == "month" ? 0 : period == "6mo" ? 5 : 11);
            range.last = month_end(d);
        } else {
            return bad("period", "period must be day, 7d, 30d, month, 6mo, 12mo or custom");
        }
    }
    range.label = format_day(range.first) + ".." + format_day(range.last);
    return range;
}

std::variant<StatsQuery, http::Response> parse_query(
    const http::Request& request, std::initializer_list<std::string_view> allowed,
    const char* default_metric) {
    if (auto unknown = unknown_parameter(request.query, allowed))
        return bad(*unknown, "parameter " + *unknown + " is not supported by this endpoint");
    StatsQuery q;
    const auto site = http::query_param(request.query, "site_id");
    if (!site || !valid_site(*site))
        return bad("site_id", "site_id must name a site ([A-Za-z0-9._-]{1,64})");
    q.site = *site;
    auto range = period_range(request, day_of(now_ms()));
    if (auto* error = std::get_if<http::Response>(&range))
        return std::move(*error);
    q.range = std::get<query::DayRange>(range);
    const std::string metrics =
        http::query_param(request.query, "metrics").value_or(default_metric);
    for (std::size_t at = 0; at <= metrics.size();) {
        const std::size_t comma = std::min(metrics.find(',', at), metrics.size());
        const std::string name(metrics.substr(at, comma - at));
        if (name != "visitors" && name != "visits" && name != "pageviews" && name != "events")
            return bad("metrics", "metric " + name +
                                      " is not supported (visitors, visits, pageviews, events)");
        q.metrics.push_back(name);
        at = comma + 1;
    }
    const auto compare = http::query_param(request.query, "compare");
    if (compare && *compare != "previous_period")
        return bad("compare", "compare must be previous_period");
    q.compare = compare.has_value();
    const std::string interval = http::query_param(request.query, "interval").value_or("date");
    if (interval != "date" && interval != "month")
        return bad("interval", "interval must be date or month");
    q.monthly = interval == "month";
    q.property = http::query_param(request.query, "property").value_or("");
    for (const auto& [name, slot, max] : {std::tuple{"limit", &q.limit, kMaxLimit},
                                          std::tuple{"page", &q.page, std::size_t{100000}}}) {
        if (const auto text = http::query_param(request.query, name)) {
            const auto n = parse_int(*text);
            if (!n || *n <= 0 || static_cast<std::size_t>(*n) > max)
                return bad(name, std::string(name) + " must be a whole number from 1 to " +
                                     std::to_string(max));
            *slot = static_cast<std::size_t>(*n);
        }
    }
    return q;
}

/// A metric's value over a range, from the dashboard's figures.
std::uint64_t figure(const query::Dashboard& d, const std::string& metric) {
    if (metric == "visitors")
        return d.unique_visitors;
    if (metric == "visits")
        return d.unique_sessions;
    if (metric == "pageviews")
        return d.page_views;
    std::uint64_t events = 0;
    for (const auto& [name, n] : d.events)
        events += n;
    return events;
}

/// Plausible's change: whole per cent against the previous period (100 from nothing).
std::int64_t change(std::uint64_t now, std::uint64_t before) {
    if (before == 0)
        return now == 0 ? 0 : 100;
    return static_cast<std::int64_t>(
        std::llround((static_cast<double>(now) - static_cast<double>(before)) * 100.0 /
                     static_cast<double>(before)));
}

query::DayRange days(std::int64_t first, std::int64_t last) {
    query::DayRange range;
    range.first = first;
    range.last = last;
    range.label = format_day(first);
    return range;
}

/// A breakdown's row: its name, pageviews or events, and visitors.
struct BreakdownRow {
    std::string name;
    std::uint64_t count;
    std::uint64_t visitors;
};

/// The rows of q.property's breakdown, in order, and the results' key for their names; a
/// Response when the property is not one Tally breaks down.
std::optional<http::Response> breakdown_rows(const store::Store& store,
                                             query::TopListCache& top_lists, const StatsQuery& q,
                                             bool props, std::vector<BreakdownRow>& rows,
                                             std::string& column) {
    const std::size_t wanted = q.limit * q.page;
    const std::string& p = q.property;
    const auto member_visitors =
        std::find(q.metrics.begin(), q.metrics.end(), "visitors") != q.metrics.end()
            ? query::WithVisitors::yes
            : query::WithVisitors::no;
    auto ranked = [&](query::TopList list, const char* name) {
        column = name;
        for (query::TopListRow& row : query::top_list_rows(store, q.site, q.range, list, wanted,
                                                           member_visitors, &top_lists))
            rows.push_back({row.member == "direct" && list == query::TopList::referrers
                                ? std::string("Direct / None")
                                : std::move(row.member),
                            row.count, row.visitors});
    };
    if (p == "event:page") {
        ranked(query::TopList::pages, "page");
    } else if (p == "visit:source") {
        ranked(query::TopList::referrers, "source");
    } else if (p == "visit:country") {
        ranked(query::TopList::countries, "country");
    } else if (p == "visit:device" || p == "event:name") {
        const query::Dashboard d =
            query::build_dashboard(store, q.site, q.range, now_ms(), query::Lists::none);
        const query::VisitorsBy visitors = query::visitors_by(store, q.site, q.range);
        column = p == "visit:device" ? "device" : "name";
        if (p == "visit:device") {
            for (const auto& [name, i] : {std::pair{"Desktop", 0}, {"Mobile", 1}, {"Tablet", 2}}) {
                const auto at = static_cast<std::size_t>(i);
                rows.push_back({name, d.devices[at], visitors.devices[at]});
            }
        } else {
            rows.push_back({"pageview", d.page_views, visitors.pageviews});
            for (const auto& [name, n] : d.events) {
                const auto it = visitors.events.find(name);
                rows.push_back({name, n, it == visitors.events.end() ? 0 : it->second});
            }
        }
        std::stable_sort(
            rows.begin(), rows.end(),
            [](const BreakdownRow& a, const BreakdownRow& b) { return a.count > b.count; });
        std::erase_if(rows, [](const BreakdownRow& r) { return r.count == 0; });
    } else if (props) {
        column = p.substr(12);
        const query::PropertyKeyRows key =
            query::property_key(store, q.site, q.range, column, wanted);
        for (const query::PropertyRow& row : key.values)
            rows.push_back({row.value, row.count, row.visitors});
        // The values past the key's cap, ranked among the others by their count.
        if (key.other.count > 0) {
            BreakdownRow other{"(other)", key.other.count, key.other.visitors};
            rows.insert(std::upper_bound(rows.begin(), rows.end(), other,
                                         [](const BreakdownRow& a, const BreakdownRow& b) {
                                             return a.count > b.count;
                                         }),
                        std::move(other));
        }
    } else {
        return bad("property",
                   "property must be event:page, visit:source, visit:country, visit:device, "
                   "event:name or event:props:<key>");
    }
    return std::nullopt;
}

template <typename Parse>
http::Response guarded(const Authorization& authorization, const http::Request& request,
                       Parse&& answer) {
    auto allowed = authorization.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    // Another workspace's site reads as one that does not exist.
    const auto site = http::query_param(request.query, "site_id");
    if (site && !authorization.sees_site(std::get<Access>(allowed), *site))
        return not_found("site");
    return answer();
}

}  // namespace

void StatsApi::add_routes(http::Router& router) {
    const std::vector<http::Method> get{http::Method::get};
    router.add("stats_realtime", get, "/api/v1/stats/realtime/visitors",
               [this](const auto& r) { return realtime(r); });
    router.add("stats_aggregate", get, "/api/v1/stats/aggregate",
               [this](const auto& r) { return aggregate(r); });
    router.add("stats_timeseries", get, "/api/v1/stats/timeseries",
               [this](const auto& r) { return timeseries(r); });
    router.add("stats_breakdown", get, "/api/v1/stats/breakdown",
               [this](const auto& r) { return breakdown(r); });
}

http::Response StatsApi::realtime(const http::Request& request) const {
    return guarded(authorization_, request, [&] {
        if (auto unknown = unknown_parameter(request.query, {"site_id"}))
            return bad(*unknown, "parameter " + *unknown + " is not supported by this endpoint");
        const auto site = http::query_param(request.query, "site_id");
        if (!site || !valid_site(*site))
            return bad("site_id", "site_id must name a site ([A-Za-z0-9._-]{1,64})");
        // Distinct sessions of the last 5 minutes, as the dashboard's "on the site now".
        return http::json_response(200,
                                   std::to_string(query::real_time_users(store_, *site, now_ms())));
    });
}

http::Response StatsApi::aggregate(const http::Request& request) const {
    return guarded(authorization_, request, [&]() -> http::Response {
        auto parsed =
            parse_query(request, {"site_id", "period", "date", "metrics", "compare"}, "visitors");
        if (auto* error = std::get_if<http::Response>(&parsed))
            return std::move(*error);
        const StatsQuery& q = std::get<StatsQuery>(parsed);
        const query::Dashboard now =
            query::build_dashboard(store_, q.site, q.range, now_ms(), query::Lists::none);
        const std::int64_t length = q.range.last - q.range.first + 1;
        const query::Dashboard before =
            query::build_dashboard(store_, q.site, days(q.range.first - length, q.range.first - 1),
                                   now_ms(), query::Lists::none);
        json results = json::object();
        for (const std::string& metric : q.metrics) {
            json entry = {{"value", figure(now, metric)}};
            if (q.compare)
                entry["change"] = change(figure(now, metric), figure(before, metric));
            results[metric] = std::move(entry);
        }
        return http::json_response(200, json{{"results", std::move(results)}}.dump());
    });
}

http::Response StatsApi::timeseries(const http::Request& request) const {
    return guarded(authorization_, request, [&]() -> http::Response {
        auto parsed =
            parse_query(request, {"site_id", "period", "date", "metrics", "interval"}, "visitors");
        if (auto* error = std::get_if<http::Response>(&parsed))
            return std::move(*error);
        const StatsQuery& q = std::get<StatsQuery>(parsed);
        json results = json::array();
        for (std::int64_t first = q.range.first; first <= q.range.last;) {
            const std::int64_t last = q.monthly ? std::min(month_end(first), q.range.last) : first;
            const query::Dashboard d = query::build_dashboard(store_, q.site, days(first, last),
                                                              now_ms(), query::Lists::none);
            json row = {{"date", format_day(q.monthly ? month_start(first, 0) : first)}};
            for (const std::string& metric : q.metrics)
                row[metric] = figure(d, metric);
            results.push_back(std::move(row));
            first = last + 1;
        }
        return http::json_response(200, json{{"results", std::move(results)}}.dump());
    });
}

http::Response StatsApi::breakdown(const http::Request& request) const {
    return guarded(authorization_, request, [&]() -> http::Response {
        auto parsed = parse_query(
            request, {"site_id", "period", "date", "metrics", "property", "limit", "page"},
            "visitors");
        if (auto* error = std::get_if<http::Response>(&parsed))
            return std::move(*error);
        StatsQuery q = std::get<StatsQuery>(parsed);
        const std::size_t wanted = q.limit * q.page;
        const std::string& p = q.property;
        const bool props = p.starts_with("event:props:") && p.size() > 12;
        if (std::find(q.metrics.begin(), q.metrics.end(), "visits") != q.metrics.end()) {
            return bad("metrics",
                       "visits is not broken down (Tally keeps each member's distinct visitors, "
                       "not its sessions); ask for visitors, pageviews or events");
        }
        std::vector<BreakdownRow> rows;
        std::string column;
        if (auto error = breakdown_rows(store_, top_lists_, q, props, rows, column))
            return std::move(*error);
        json results = json::array();
        for (std::size_t i = (q.page - 1) * q.limit; i < rows.size() && i < wanted; ++i) {
            json row = {{column, rows[i].name}};
            for (const std::string& metric : q.metrics)
                row[metric] = metric == "visitors" ? rows[i].visitors : rows[i].count;
            results.push_back(std::move(row));
        }
        return http::json_response(200, json{{"results", std::move(results)}}.dump());
    });
}

}  // namespace tally::api
