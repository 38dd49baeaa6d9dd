// The read API; see tally/api/read_api.hpp.

#include "tally/api/read_api.hpp"

#include <nlohmann/json.hpp>

#include "tally/api/params.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

namespace {

http::Response redis_unavailable(const std::string& why) {
    return http::error_response(503, "redis unavailable: " + why);
}

/// The fleet reader's callback for one read from Redis: `make(result)` gives the 200, marked
/// as the fleet's (X-Tally-Source: the web page then polls this server rather than follow
/// its own /ws, web/js/live.js), and with X-Tally-Stale-Seconds when it is the last good
/// answer because Redis cannot be read; a failed read without one is a 503.
template <typename Result, typename Make>
auto fleet_answer(http::Responder respond, Make make) {
    return [respond, make = std::move(make)](std::optional<Result> result,
                                             const std::string& problem) {
        if (!result)
            return respond(redis_unavailable(problem));
        http::Response response = make(*result);
        response.headers.emplace_back("X-Tally-Source", "redis");
        if (result->stale_seconds) {
            response.headers.emplace_back("X-Tally-Stale-Seconds",
                                          std::to_string(*result->stale_seconds));
        }
        respond(std::move(response));
    };
}

}  // namespace

ReadApi::ReadApi(const Authorization& authorization, const store::Store& store,
                 query::FleetReader* fleet)
    : authorization_(authorization), store_(store), fleet_(fleet) {}

void ReadApi::add_routes(http::Router& router) {
    const std::vector<http::Method> get{http::Method::get};
    if (fleet_ != nullptr) {
        // The fleet's figures, from Redis (docker/README.md: "Reading the fleet from Redis").
        router.add_prefix_async(
            "dashboard", get, "/dashboard/",
            [this](const auto& r, auto respond) { dashboard_from_redis(r, respond); });
        router.add_prefix_async(
            "timeseries", get, "/timeseries/",
            [this](const auto& r, auto respond) { timeseries_from_redis(r, respond); });
    } else {
        router.add_prefix("dashboard", get, "/dashboard/",
                          [this](const auto& r) { return dashboard(r); });
        router.add_prefix("timeseries", get, "/timeseries/",
                          [this](const auto& r) { return timeseries(r); });
    }
    router.add("funnel", get, "/funnel", [this](const auto& r) { return funnel(r); });
    router.add("active_users", get, "/api/v1/dashboard/active-users",
               [this](const auto& r) { return active_users(r); });
    router.add("page_views", get, "/api/v1/dashboard/page-views",
               [this](const auto& r) { return page_views(r); });
    router.add("sites", get, "/api/v1/sites", [this](const auto& r) { return sites(r); });
}

std::optional<std::string> ReadApi::authorize_site(const http::Request& request,
                                                   http::Response& error) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed)) {
        error = std::move(*denied);
        return std::nullopt;
    }
    auto site = site_param(request, error);
    if (site && !authorization_.sees_site(std::get<Access>(allowed), *site)) {
        error = not_found("site");
        return std::nullopt;
    }
    return site;
}

std::optional<ReadApi::DashboardQuery> ReadApi::dashboard_query(const http::Request& request,
                                                                http::Response& error) const {
    auto site = authorize_site(request, error);
    if (!site)
        return std::nullopt;
    const std::string_view what = request.path.substr(std::string_view("/dashboard/").size());
    auto range = range_param(what, now_ms(), error);
    if (!range)
        return std::nullopt;
    const auto format = http::query_param(request.query, "format");
    if (format && *format != "json" && *format != "csv") {
        error = http::error_response(400, "format must be json or csv", "format");
        return std::nullopt;
    }
    DashboardQuery query{std::move(*site), std::move(*range), format && *format == "csv", {}};
    if (const auto props = http::query_param(request.query, "props")) {
        if (*props != "pageview" && !valid_event_name(*props)) {
            error = http::error_response(
                400, "props must be an event name ([A-Za-z0-9_.:-]{1,64}) or pageview", "props");
            return std::nullopt;
        }
        query.props = std::string(*props);
    }
    return query;
}

http::Response ReadApi::dashboard_response(const query::Dashboard& dashboard,
                                           const DashboardQuery& query) {
    if (!query.csv)
        return http::json_response(200, query::to_json(dashboard));
    http::Response response;
    response.content_type = "text/csv; charset=utf-8";
    response.body = query::to_csv(dashboard);
    response.headers.emplace_back(
        "Content-Disposition",
        "attachment; filename=\"tally-" + query.site + "-" + query.range.label + ".csv\"");
    return response;
}

http::Response ReadApi::dashboard(const http::Request& request) const {
    http::Response error;
    const auto q = dashboard_query(request, error);
    if (!q)
        return error;
    query::Dashboard dashboard = query::build_dashboard(store_, q->site, q->range, now_ms());
    if (q->props)
        dashboard.properties = query::properties(store_, q->site, q->range, *q->props);
    return dashboard_response(dashboard, *q);
}

void ReadApi::dashboard_from_redis(const http::Request& request, http::Responder respond) const {
    http::Response error;
    auto q = dashboard_query(request, error);
    if (!q)
        return respond(std::move(error));
    if (q->props) {
        return respond(http::error_response(
            400, "props is answered by each instance, not from Redis's fleet figures", "props"));
    }
    // The HTTP thread only queues: the reader's thread waits on Redis and answers.
    auto answer = fleet_answer<query::Dashboard>(
        respond,
        [q = *q](const query::Dashboard& dashboard) { return dashboard_response(dashboard, q); });
    if (!fleet_->read_dashboard(q->site, q->range, std::move(answer)))
        respond(redis_unavailable("too many reads waiting"));
}

namespace {

std::optional<query::TimeseriesRequest> fail(http::Response& error, http::Response response) {
    error = std::move(response);
    return std::nullopt;
}

/// The metric of /timeseries/<metric>: page views or a custom event's count, optionally in
/// the "ts:...:<date>" forms that name a whole UTC day (then `day` is set, and from/to
/// default to that day).
std::optional<query::TimeseriesRequest> timeseries_metric(std::string_view metric,
                                                          std::optional<std::int64_t>& day,
                                                          http::Response& error) {
    query::TimeseriesRequest q;
    if (metric == "pageviews") {
    } else if (metric.starts_with("events:")) {
        q.event_name = std::string(metric.substr(7));
    } else if (metric.starts_with("ts:pageviews:")) {
        day = parse_day(metric.substr(13));
        if (!day)
            return fail(error, http::error_response(
                                   400, "ts:pageviews:<date> needs a YYYY-MM-DD date", "metric"));
    } else if (metric.starts_with("ts:events:") && metric.size() > 21) {
        day = parse_day(metric.substr(metric.size() - 10));
        q.event_name = std::string(metric.substr(10, metric.size() - 21));
        if (!day || metric[metric.size() - 11] != ':') {
            return fail(error,
                        http::error_response(400, "ts:events:<name>:<date> needs a YYYY-MM-DD date",
                                             "metric"));
        }
    } else {
        return fail(error, http::error_response(400,
                                                "metric must be pageviews, events:<name>, "
                                                "ts:pageviews:<date> or ts:events:<name>:<date>",
                                                "metric"));
    }
    if (!q.event_name.empty() && !valid_event_name(q.event_name)) {
        return fail(error, http::error_response(400, "event name must match [A-Za-z0-9_.:-]{1,64}",
                                                "metric"));
    }
    return q;
}

/// ?name= as an integer, or `fallback` when absent; false when present but not an integer.
bool int_param(const http::Request& request, std::string_view name, std::int64_t fallback,
               std::int64_t& out) {
    auto text = http::query_param(request.query, name);
    if (!text) {
        out = fallback;
        return true;
    }
    auto value = parse_int(*text);
    if (!value)
        return false;
    out = *value;
    return true;
}

/// ?bucket_size=, ?from=, ?to= and ?aggregation= into `q`; the 400 when one is malformed.
std::optional<http::Response> timeseries_params(const http::Request& request,
                                                std::optional<std::int64_t> day,
                                                query::TimeseriesRequest& q) {
    const std::int64_t now = now_ms();
    const std::int64_t default_to = day ? (*day + 1) * kMsPerDay : now;
    const std::int64_t default_from = day ? *day * kMsPerDay : now - 3'600'000;
    if (!int_param(request, "bucket_size", 60'000, q.bucket_ms))
        return http::error_response(400, "bucket_size must be an integer (milliseconds)",
                                    "bucket_size");
    if (!int_param(request, "from", default_from, q.from_ms))
        return http::error_response(400, "from must be an integer (epoch milliseconds)", "from");
    if (!int_param(request, "to", default_to, q.to_ms))
        return http::error_response(400, "to must be an integer (epoch milliseconds)", "to");
    if (auto aggregation = http::query_param(request.query, "aggregation");
        aggregation && !query::parse_aggregation(*aggregation, q.aggregation)) {
        return http::error_response(400, "aggregation must be sum, avg, min or max", "aggregation");
    }
    return std::nullopt;
}

/// The series' shape: whole minutes, a sane calendar, from before to, at most kMaxPoints.
std::optional<http::Response> timeseries_bounds(const query::TimeseriesRequest& q) {
    if (q.bucket_ms <= 0 || q.bucket_ms % 60'000 != 0) {
        return http::error_response(400, "bucket_size must be a positive multiple of 60000",
                                    "bucket_size");
    }
    // Stay within a sane calendar so the arithmetic below cannot overflow.
    constexpr std::int64_t kLimit = 253'402'300'800'000;  // 10000-01-01
    if (q.from_ms < -kLimit || q.to_ms > kLimit || q.bucket_ms > kLimit)
        return http::error_response(400, "from and to must lie between years -8000 and 9999",
                                    "from");
    if (q.from_ms >= q.to_ms)
        return http::error_response(400, "from must be before to", "from");
    const std::int64_t first = (q.from_ms >= 0 ? q.from_ms / q.bucket_ms
                                               : -((-q.from_ms + q.bucket_ms - 1) / q.bucket_ms));
    const std::int64_t points = (q.to_ms - first * q.bucket_ms + q.bucket_ms - 1) / q.bucket_ms;
    if (points > static_cast<std::int64_t>(query::kMaxPoints)) {
        return http::error_response(
            400, "at most 10000 points: widen bucket_size or narrow from..to", "bucket_size");
    }
    return std::nullopt;
}

}  // namespace

std::optional<ReadApi::TimeseriesQuery> ReadApi::timeseries_query(const http::Request& request,
                                                                  http::Response& error) const {
    auto site = authorize_site(request, error);
    if (!site)
        return std::nullopt;
    auto metric =
        http::percent_decode(request.path.substr(std::string_view("/timeseries/").size()), false);
    if (!metric) {
        error = http::error_response(400, "malformed metric name", "metric");
        return std::nullopt;
    }
    std::optional<std::int64_t> day;  // from the "ts:...:<date>" forms
    auto q = timeseries_metric(*metric, day, error);
    if (!q)
        return std::nullopt;
    auto bad = timeseries_params(request, day, *q);
    if (!bad)
        bad = timeseries_bounds(*q);
    if (bad) {
        error = std::move(*bad);
        return std::nullopt;
    }
    return TimeseriesQuery{std::move(*site), std::move(*q)};
}

http::Response ReadApi::timeseries(const http::Request& request) const {
    http::Response error;
    const auto q = timeseries_query(request, error);
    if (!q)
        return error;
    return local_timeseries(*q);
}

http::Response ReadApi::local_timeseries(const TimeseriesQuery& q) const {
    return http::json_response(200, query::to_json(query::timeseries(store_, q.site, q.request)));
}

void ReadApi::timeseries_from_redis(const http::Request& request, http::Responder respond) const {
    http::Response error;
    auto q = timeseries_query(request, error);
    if (!q)
        return respond(std::move(error));
    // Redis has page views per minute but custom events only per day: their series stay
    // this instance's own.
    if (!q->request.event_name.empty())
        return respond(local_timeseries(*q));
    auto answer = fleet_answer<query::FleetReader::Series>(
        respond, [](const query::FleetReader::Series& series) {
            return http::json_response(200, query::to_json(series.points));
        });
    if (!fleet_->read_pageview_series(q->site, q->request, std::move(answer)))
        respond(redis_unavailable("too many reads waiting"));
}

http::Response ReadApi::funnel(const http::Request& request) const {
    http::Response error;
    const auto site = authorize_site(request, error);
    if (!site)
        return error;
    auto steps_text = http::query_param(request.query, "steps");
    if (!steps_text || steps_text->empty()) {
        return http::error_response(400, "steps is required: 2 to 8 comma-separated steps",
                                    "steps");
    }
    std::vector<std::string> steps;
    std::string_view rest = *steps_text;
    while (true) {
        const auto comma = rest.find(',');
        std::string step(rest.substr(0, comma));
        if (!valid_utf8(step))
            return http::error_response(400, "steps must be UTF-8 text", "steps");
        const bool page_step = step.starts_with("pageview:") && step.size() > 9 && step[9] == '/';
        if (!page_step && !valid_event_name(step)) {
            return http::error_response(
                400, "step '" + step + "' is neither an event name nor pageview:/path", "steps");
        }
        steps.push_back(std::move(step));
        if (comma == std::string_view::npos)
            break;
        rest.remove_prefix(comma + 1);
    }
    if (steps.size() < 2 || steps.size() > 8) {
        return http::error_response(400, "a funnel has 2 to 8 steps", "steps");
    }
    const std::int64_t now = now_ms();
    std::int64_t day = day_of(now);
    if (auto date = http::query_param(request.query, "date"); date && *date != "today") {
        auto parsed = parse_day(*date);
        if (!parsed)
            return http::error_response(400, "date must be today or YYYY-MM-DD", "date");
        day = *parsed;
    }
    nlohmann::json answer = nlohmann::json::array();
    bool incomplete = false;
    for (const auto& [step, count] : query::funnel(store_, *site, day, steps, &incomplete))
        answer.push_back({step, count});
    http::Response response = http::json_response(200, answer.dump());
    // The answer keeps its shape (an array); a day that lost steps says so in a header.
    if (incomplete)
        response.headers.emplace_back("X-Tally-Incomplete", "funnel steps of this day were lost");
    return response;
}

http::Response ReadApi::active_users(const http::Request& request) const {
    http::Response error;
    const auto site = authorize_site(request, error);
    if (!site)
        return error;
    nlohmann::ordered_json users = nlohmann::ordered_json::array();
    for (const auto& user : query::active_users(store_, *site, now_ms())) {
        nlohmann::ordered_json entry;
        entry["userId"] = user.user_id;
        entry["sessionCount"] = user.session_count;
        users.push_back(std::move(entry));
    }
    nlohmann::ordered_json answer;
    answer["userDetails"] = std::move(users);
    return http::json_response(200, answer.dump());
}

http::Response ReadApi::page_views(const http::Request& request) const {
    http::Response error;
    const auto site = authorize_site(request, error);
    if (!site)
        return error;
    std::int64_t k = 5;  // the seed's default
    if (auto offset = http::query_param(request.query, "offset")) {
        auto value = parse_int(*offset);
        if (!value || *value < 1 || *value > 1000) {
            return http::error_response(400, "offset must be an integer from 1 to 1000", "offset");
        }
        k = *value;
    }
    nlohmann::ordered_json pages = nlohmann::ordered_json::array();
    std::uint64_t refused = 0;
    for (const auto& [page, views] :
         query::recent_top_pages(store_, *site, now_ms(), static_cast<std::size_t>(k), &refused)) {
        nlohmann::ordered_json entry;
        entry["pageUrl"] = page;
        entry["viewCount"] = views;
        pages.push_back(std::move(entry));
    }
    nlohmann::ordered_json answer;
    answer["pageViews"] = std::move(pages);
    // Only when a flood of distinct pages filled a minute: the counts then miss those views.
    if (refused > 0)
        answer["pageViewsCapped"] = refused;
    return http::json_response(200, answer.dump());
}

http::Response ReadApi::sites(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    const std::int64_t now = now_ms();
    const std::int64_t today = day_of(now);
    query::TimeseriesRequest minutes;
    minutes.from_ms = today * kMsPerDay;
    minutes.to_ms = std::min(minutes.from_ms + kMsPerDay, (now / kMsPerMinute + 1) * kMsPerMinute);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const std::string& site : store_.sites()) {
        if (!authorization_.sees_site(access, site))
            continue;
        // Today's page views and the last minute that had one, from the minute counters.
        std::uint64_t views = 0;
        std::optional<std::int64_t> last;
        for (const query::Point& point : query::timeseries(store_, site, minutes)) {
            views += static_cast<std::uint64_t>(point.value);
            if (point.value > 0)
                last = point.timestamp_ms;
        }
        nlohmann::ordered_json entry;
        entry["site"] = site;
        entry["page_views_today"] = views;
        entry["last_seen"] = last ? nlohmann::ordered_json(format_rfc3339_ms(*last)) : nullptr;
        list.push_back(std::move(entry));
    }
    nlohmann::ordered_json answer;
    answer["sites"] = std::move(list);
    return http::json_response(200, answer.dump());
}

}  // namespace tally::api
