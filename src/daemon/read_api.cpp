// The read API (SPEC §3): dashboards, time series, funnels, rolling windows, health and
// metrics. Every handler validates its parameters and answers 400 naming the bad one.

#include <charconv>
#include <nlohmann/json.hpp>

#include "app.hpp"
#include "tally/base/time.hpp"
#include "tally/base/names.hpp"
#include "tally/query/query.hpp"

namespace tally::daemon {

namespace {

constexpr std::string_view kDefaultSite = "default";

/// Compares in time independent of where the strings first differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    }
    return diff == 0;
}

/// ?site= (default "default"); writes a 400 into `error` when malformed.
std::optional<std::string> site_param(const http::Request& request, http::Response& error) {
    auto site = http::query_param(request.query, "site");
    if (!site)
        return std::string(kDefaultSite);
    if (!valid_site(*site)) {
        error = http::error_response(400, "site must match [A-Za-z0-9._-]{1,64}", "site");
        return std::nullopt;
    }
    return site;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || p != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

http::Response redis_unavailable(const std::string& why) {
    return http::error_response(503, "redis unavailable: " + why);
}

/// The fleet reader's callback for one read from Redis: `make(result)` gives the 200, marked
/// as the fleet's (X-Tally-Source: the web page then polls this server rather than follow
/// its own /ws, web/js/live.js); a failed read is a 503.
template <typename Result, typename Make>
auto fleet_answer(http::Responder respond, Make make) {
    return [respond, make = std::move(make)](std::optional<Result> result,
                                             const std::string& problem) {
        if (!result)
            return respond(redis_unavailable(problem));
        http::Response response = make(*result);
        response.headers.emplace_back("X-Tally-Source", "redis");
        respond(std::move(response));
    };
}

}  // namespace

ReadApi::ReadApi(const Config& config, const store::Store& store, telemetry::Metrics& metrics,
                 const std::atomic<bool>& ready, const durability::EventLog& log,
                 const mirror::Mirror* mirror, query::FleetReader* redis_reader)
    : config_(config),
      store_(store),
      metrics_(metrics),
      ready_(ready),
      log_(log),
      mirror_(mirror),
      redis_reader_(redis_reader) {}

std::optional<http::Response> ReadApi::check_token(const http::Request& request) const {
    if (config_.token.empty())
        return std::nullopt;
    constexpr std::string_view bearer = "Bearer ";
    if (request.authorization.starts_with(bearer) &&
        constant_time_equal(request.authorization.substr(bearer.size()), config_.token)) {
        return std::nullopt;
    }
    if (auto token = http::query_param(request.query, "token");
        token && constant_time_equal(*token, config_.token)) {
        return std::nullopt;
    }
    http::Response response =
        http::error_response(401, "a valid token is required (Authorization: Bearer)");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tally\"");
    return response;
}

std::optional<std::string> ReadApi::authorize_site(const http::Request& request,
                                                   http::Response& error) const {
    if (auto denied = check_token(request)) {
        error = std::move(*denied);
        return std::nullopt;
    }
    return site_param(request, error);
}

std::optional<ReadApi::DashboardQuery> ReadApi::dashboard_query(const http::Request& request,
                                                                http::Response& error) const {
    auto site = authorize_site(request, error);
    if (!site)
        return std::nullopt;
    const std::string_view what = request.path.substr(std::string_view("/dashboard/").size());
    auto range = query::parse_range(what, now_ms());
    if (!range) {
        error = http::error_response(400, "date must be today, YYYY-MM-DD, YYYY-Www or YYYY-MM",
                                     "date");
        return std::nullopt;
    }
    const auto format = http::query_param(request.query, "format");
    if (format && *format != "json" && *format != "csv") {
        error = http::error_response(400, "format must be json or csv", "format");
        return std::nullopt;
    }
    return DashboardQuery{std::move(*site), std::move(*range), format && *format == "csv"};
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
    return dashboard_response(query::build_dashboard(store_, q->site, q->range, now_ms()), *q);
}

void ReadApi::dashboard_from_redis(const http::Request& request, http::Responder respond) const {
    http::Response error;
    auto q = dashboard_query(request, error);
    if (!q)
        return respond(std::move(error));
    // The HTTP thread only queues: the reader's thread waits on Redis and answers.
    auto answer = fleet_answer<query::Dashboard>(
        respond,
        [q = *q](const query::Dashboard& dashboard) { return dashboard_response(dashboard, q); });
    if (!redis_reader_->read_dashboard(q->site, q->range, std::move(answer)))
        respond(redis_unavailable("too many reads waiting"));
}

std::optional<ReadApi::TimeseriesQuery> ReadApi::timeseries_query(const http::Request& request,
                                                                  http::Response& error) const {
    auto fail = [&](http::Response response) -> std::optional<TimeseriesQuery> {
        error = std::move(response);
        return std::nullopt;
    };
    auto site = authorize_site(request, error);
    if (!site)
        return std::nullopt;
    auto metric_text =
        http::percent_decode(request.path.substr(std::string_view("/timeseries/").size()), false);
    if (!metric_text)
        return fail(http::error_response(400, "malformed metric name", "metric"));
    const std::string_view metric = *metric_text;

    query::TimeseriesRequest q;
    std::optional<std::int64_t> day;  // from the seed's "ts:...:<date>" forms
    if (metric == "pageviews") {
    } else if (metric.starts_with("events:")) {
        q.event_name = std::string(metric.substr(7));
    } else if (metric.starts_with("ts:pageviews:")) {
        day = parse_day(metric.substr(13));
        if (!day)
            return fail(
                http::error_response(400, "ts:pageviews:<date> needs a YYYY-MM-DD date", "metric"));
    } else if (metric.starts_with("ts:events:") && metric.size() > 21) {
        day = parse_day(metric.substr(metric.size() - 10));
        q.event_name = std::string(metric.substr(10, metric.size() - 21));
        if (!day || metric[metric.size() - 11] != ':') {
            return fail(http::error_response(400, "ts:events:<name>:<date> needs a YYYY-MM-DD date",
                                             "metric"));
        }
    } else {
        return fail(
            http::error_response(400,
                                 "metric must be pageviews, events:<name>, ts:pageviews:<date> "
                                 "or ts:events:<name>:<date>",
                                 "metric"));
    }
    if (!q.event_name.empty() && !valid_event_name(q.event_name)) {
        return fail(
            http::error_response(400, "event name must match [A-Za-z0-9_.:-]{1,64}", "metric"));
    }

    auto int_param = [&](std::string_view name, std::int64_t fallback, std::int64_t& out) -> bool {
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
    };
    const std::int64_t now = now_ms();
    const std::int64_t default_to = day ? (*day + 1) * kMsPerDay : now;
    const std::int64_t default_from = day ? *day * kMsPerDay : now - 3'600'000;
    if (!int_param("bucket_size", 60'000, q.bucket_ms)) {
        return fail(http::error_response(400, "bucket_size must be an integer (milliseconds)",
                                         "bucket_size"));
    }
    if (!int_param("from", default_from, q.from_ms)) {
        return fail(
            http::error_response(400, "from must be an integer (epoch milliseconds)", "from"));
    }
    if (!int_param("to", default_to, q.to_ms)) {
        return fail(http::error_response(400, "to must be an integer (epoch milliseconds)", "to"));
    }
    if (auto aggregation = http::query_param(request.query, "aggregation");
        aggregation && !query::parse_aggregation(*aggregation, q.aggregation)) {
        return fail(
            http::error_response(400, "aggregation must be sum, avg, min or max", "aggregation"));
    }
    if (q.bucket_ms <= 0 || q.bucket_ms % 60'000 != 0) {
        return fail(http::error_response(400, "bucket_size must be a positive multiple of 60000",
                                         "bucket_size"));
    }
    // Stay within a sane calendar so the arithmetic below cannot overflow.
    constexpr std::int64_t kLimit = 253'402'300'800'000;  // 10000-01-01
    if (q.from_ms < -kLimit || q.to_ms > kLimit || q.bucket_ms > kLimit) {
        return fail(
            http::error_response(400, "from and to must lie between years -8000 and 9999", "from"));
    }
    if (q.from_ms >= q.to_ms)
        return fail(http::error_response(400, "from must be before to", "from"));
    const std::int64_t first = (q.from_ms >= 0 ? q.from_ms / q.bucket_ms
                                               : -((-q.from_ms + q.bucket_ms - 1) / q.bucket_ms));
    const std::int64_t points = (q.to_ms - first * q.bucket_ms + q.bucket_ms - 1) / q.bucket_ms;
    if (points > static_cast<std::int64_t>(query::kMaxPoints)) {
        return fail(http::error_response(
            400, "at most 10000 points: widen bucket_size or narrow from..to", "bucket_size"));
    }
    return TimeseriesQuery{std::move(*site), q};
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
    auto answer = fleet_answer<std::vector<query::Point>>(
        respond, [](const std::vector<query::Point>& points) {
            return http::json_response(200, query::to_json(points));
        });
    if (!redis_reader_->read_pageview_series(q->site, q->request, std::move(answer)))
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
    for (const auto& [step, count] : query::funnel(store_, *site, day, steps))
        answer.push_back({step, count});
    return http::json_response(200, answer.dump());
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
    for (const auto& [page, views] :
         query::recent_top_pages(store_, *site, now_ms(), static_cast<std::size_t>(k))) {
        nlohmann::ordered_json entry;
        entry["pageUrl"] = page;
        entry["viewCount"] = views;
        pages.push_back(std::move(entry));
    }
    nlohmann::ordered_json answer;
    answer["pageViews"] = std::move(pages);
    return http::json_response(200, answer.dump());
}

http::Response ReadApi::readyz(const http::Request&) const {
    if (!ready_.load())
        return http::error_response(503, "not ready: starting or stopping");
    if (!log_.healthy())
        return http::error_response(
            503, "not ready: the event log cannot be written: " + log_.problem());
    // Dashboards read from Redis (query_source redis): without it they cannot answer.
    if (redis_reader_ != nullptr && !redis_reader_->up())
        return http::error_response(
            503, "not ready: redis (dashboards read from it): " + redis_reader_->problem());
    if (mirror_ == nullptr)
        return http::json_response(200, R"({"status":"ready"})");
    // Redis away does not make the daemon unready: ingest and dashboards go on from memory
    // (SPEC §6) and Redis catches up later. The answer says so, for whoever looks.
    const mirror::MirrorStatus status = mirror_->status();
    nlohmann::json body = {{"status", "ready"},
                           {"redis", status.up ? "up" : "down"},
                           {"redis_pending_keys", status.pending_fields},
                           {"redis_lag_seconds", status.lag_seconds}};
    if (!status.up)
        body["redis_problem"] = status.problem;
    return http::json_response(200, body.dump());
}

http::Response ReadApi::metrics(const http::Request& request) const {
    if (auto denied = check_token(request))
        return *denied;
    http::Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics_.render();
    return response;
}

}  // namespace tally::daemon
