#include "tally/api/metrics_api.hpp"

#include <zlib.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "tally/base/time.hpp"
#include "tally/ingest/influx_line.hpp"
#include "tally/ingest/metric_json.hpp"
#include "tally/ingest/statsd.hpp"
#include "tally/metrics/query.hpp"
#include "tally/metrics/query_json.hpp"

namespace tally::api {

using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr std::string_view kMetricsPrefix = "/api/v1/metrics/";
constexpr std::string_view kCurrentSuffix = "/current";

/// Inflates a gzip body into `out`; false when it is not gzip or inflates past the limit.
bool gunzip(std::string_view body, std::string& out, std::string& error) {
    z_stream stream{};
    if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
        error = "cannot start gzip decoding";
        return false;
    }
    out.resize(kMaxBodyBytes + 1);
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    stream.avail_in = static_cast<uInt>(body.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    const int rc = inflate(&stream, Z_FINISH);
    const std::size_t produced = out.size() - stream.avail_out;
    inflateEnd(&stream);
    if (rc != Z_STREAM_END) {
        error = produced > kMaxBodyBytes ? "body too large: at most 1 MiB once decompressed"
                                         : "body is not valid gzip";
        return false;
    }
    out.resize(produced);
    return true;
}

std::string rejected_json(const std::vector<BatchItemRejection>& rejected) {
    json items = json::array();
    for (const BatchItemRejection& item : rejected) {
        json entry = {{"index", item.index}, {"error", item.rejection.message}};
        if (!item.rejection.field.empty())
            entry["field"] = item.rejection.field;
        items.push_back(std::move(entry));
    }
    return items.dump();
}

bool is_cap(const Rejection& rejection) {
    return rejection.reason.starts_with("too_many");
}

/// The status of an ingest answer: 200 when anything was accepted or nothing was refused;
/// else 429 when a cap refused a point, 400 otherwise.
unsigned ingest_status(std::size_t accepted, const std::vector<BatchItemRejection>& rejected) {
    if (accepted > 0 || rejected.empty())
        return 200;
    for (const BatchItemRejection& item : rejected) {
        if (is_cap(item.rejection))
            return 429;
    }
    return 400;
}

/// tags.K=V parameters of a query string: one filter per key, repeated keys are a list.
std::optional<std::vector<metrics::TagFilter>> tag_filters(std::string_view query) {
    std::vector<metrics::TagFilter> filters;
    while (!query.empty()) {
        const std::size_t amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (!pair.starts_with("tags."))
            continue;
        const std::size_t eq = pair.find('=');
        const auto key = http::percent_decode(pair.substr(5, eq - 5), true);
        const auto value = http::percent_decode(
            eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
        if (!key || !value)
            return std::nullopt;
        auto it = std::find_if(filters.begin(), filters.end(),
                               [&](const metrics::TagFilter& f) { return f.key == *key; });
        if (it == filters.end())
            filters.push_back({*key, {*value}});
        else
            it->values.push_back(*value);
    }
    return filters;
}

}  // namespace

MetricsApi::MetricsApi(std::size_t workers, const Authorization& authorization,
                       write::WritePath& write_path, const metrics::Engine& engine)
    : authorization_(authorization), write_path_(write_path), engine_(engine) {
    for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i)
        scratch_.push_back(std::make_unique<Scratch>());
}

void MetricsApi::add_routes(http::Router& router) {
    using http::Method;
    // One path, two verbs: POST sends points, GET lists the names.
    router.add_async("metrics_api", {Method::post, Method::get, Method::head}, "/api/v1/metrics",
                     [this](const http::Request& r, http::Responder a) {
                         if (r.method == Method::post)
                             post_metrics(r, a);
                         else
                             a(list(r));
                     });
    router.add_async("statsd_http", {Method::post}, "/api/v1/statsd",
                     [this](const http::Request& r, http::Responder a) { post_statsd(r, a); });
    for (const char* path : {"/write", "/api/v2/write"}) {
        router.add_async(path[1] == 'w' ? "influx_write" : "influx_v2_write", {Method::post}, path,
                         [this](const http::Request& r, http::Responder a) { post_influx(r, a); });
    }
    router.add_prefix("metrics_current", {Method::get, Method::head}, std::string(kMetricsPrefix),
                      [this](const http::Request& r) { return current(r); });
    router.add("metrics_query", {Method::post}, "/api/v1/query",
               [this](const http::Request& r) { return query(r); });
    router.add("prometheus_export", {Method::get, Method::head}, "/api/v1/export/prometheus",
               [this](const http::Request& r) { return export_prometheus(r); });
}

void MetricsApi::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_metric_inputs_refused_total{format=\"statsd\",reason=\"bad_line\"}",
                         "Metric inputs refused or ignored before the engine, by format.",
                         "counter",
                         [this] { return static_cast<double>(statsd_bad_lines_.load()); });
    metrics.add_callback(
        "tally_metric_inputs_refused_total{format=\"statsd\",reason=\"event_or_service_check\"}",
        "Metric inputs refused or ignored before the engine, by format.", "counter",
        [this] { return static_cast<double>(statsd_ignored_.load()); });
    metrics.add_callback("tally_metric_inputs_refused_total{format=\"influx\",reason=\"bad_line\"}",
                         "Metric inputs refused or ignored before the engine, by format.",
                         "counter",
                         [this] { return static_cast<double>(influx_bad_bodies_.load()); });
    metrics.add_callback("tally_metric_inputs_refused_total{format=\"json\",reason=\"bad_point\"}",
                         "Metric inputs refused or ignored before the engine, by format.",
                         "counter",
                         [this] { return static_cast<double>(json_bad_points_.load()); });
}

bool MetricsApi::write(const http::Request& request, Scratch& scratch, std::int64_t now,
                       const std::string& workspace, http::Responder& respond) {
    scratch.refused.clear();
    if (scratch.points.empty())
        return true;
    // The points go to the token's workspace (the parsers leave it empty: the default one).
    if (!workspace.empty()) {
        for (MetricPoint& point : scratch.points)
            point.workspace = workspace;
    }
    const auto written =
        write_path_.write_points(request.worker, scratch.points, scratch.refused, now);
    if (!written) {
        respond(http::error_response(503, write::WritePath::log_unavailable().message));
        return false;
    }
    return true;
}

void MetricsApi::answer_when_logged(const http::Request& request, http::Responder respond,
                                    http::Response&& response) {
    if (!write_path_.waits_for_fsync()) {
        respond(std::move(response));  // write(2) has returned: logged per the mode
        return;
    }
    auto answer = [respond, response = std::move(response)](bool durable) mutable {
        if (durable)
            respond(std::move(response));
        else
            respond(http::error_response(503, write::WritePath::log_not_synced().message));
    };
    write_path_.when_durable(request.worker, std::move(answer));
}

void MetricsApi::post_metrics(const http::Request& request, http::Responder respond) {
    auto allowed = authorization_.allow(request, Need::ingest);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return respond(std::move(*denied));
    const std::string workspace = std::get<Access>(allowed).metrics_workspace();
    Scratch& scratch = *scratch_[request.worker % scratch_.size()];
    const std::int64_t now = now_ms();
    if (auto bad = ingest::parse_metrics_json(request.body, now, scratch.points, scratch.rejected,
                                              scratch.buffers)) {
        return respond(
            http::error_response(bad->reason == "too_large" ? 413 : 400, bad->message, bad->field));
    }
    json_bad_points_.fetch_add(scratch.rejected.size(), std::memory_order_relaxed);
    // The parsed points' indices in the body are those the parser did not reject, in order.
    scratch.index.clear();
    for (std::size_t i = 0, next = 0; scratch.index.size() < scratch.points.size(); ++i) {
        if (next < scratch.rejected.size() && scratch.rejected[next].index == i)
            ++next;
        else
            scratch.index.push_back(i);
    }
    if (!write(request, scratch, now, workspace, respond))
        return;
    for (BatchItemRejection& item : scratch.refused) {
        item.index = scratch.index[item.index];
        scratch.rejected.push_back(std::move(item));
    }
    std::sort(scratch.rejected.begin(), scratch.rejected.end(),
              [](const auto& a, const auto& b) { return a.index < b.index; });
    const std::size_t accepted = scratch.points.size() - scratch.refused.size();
    http::Response response;
    response.status = ingest_status(accepted, scratch.rejected);
    response.body = "{\"accepted\":" + std::to_string(accepted) +
                    ",\"rejected\":" + rejected_json(scratch.rejected) + "}";
    if (accepted == 0)
        return respond(std::move(response));
    answer_when_logged(request, respond, std::move(response));
}

void MetricsApi::post_statsd(const http::Request& request, http::Responder respond) {
    auto allowed = authorization_.allow(request, Need::ingest);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return respond(std::move(*denied));
    const std::string workspace = std::get<Access>(allowed).metrics_workspace();
    if (request.body.size() > kMaxBodyBytes)
        return respond(http::error_response(413, "body too large: at most 1 MiB"));
    Scratch& scratch = *scratch_[request.worker % scratch_.size()];
    const std::int64_t now = now_ms();
    const ingest::StatsdResult parsed = ingest::parse_statsd(request.body, now, scratch.points);
    statsd_bad_lines_.fetch_add(parsed.bad, std::memory_order_relaxed);
    statsd_ignored_.fetch_add(parsed.events + parsed.service_checks, std::memory_order_relaxed);
    if (!write(request, scratch, now, workspace, respond))
        return;
    const std::size_t accepted = scratch.points.size() - scratch.refused.size();
    json body = {{"accepted", accepted},
                 {"bad", parsed.bad},
                 {"refused", scratch.refused.size()},
                 {"events", parsed.events},
                 {"service_checks", parsed.service_checks}};
    if (!parsed.first_error.empty())
        body["error"] = parsed.first_error;
    else if (!scratch.refused.empty())
        body["error"] = scratch.refused.front().rejection.message;
    http::Response response = http::json_response(200, body.dump());
    if (accepted == 0 && (parsed.bad > 0 || !scratch.refused.empty())) {
        response.status =
            scratch.refused.empty() || !is_cap(scratch.refused.front().rejection) ? 400 : 429;
        return respond(std::move(response));
    }
    answer_when_logged(request, respond, std::move(response));
}

namespace {

http::Response influx_error(unsigned status, const std::string& message) {
    return http::json_response(status, json{{"code", "invalid"}, {"message", message}}.dump());
}

}  // namespace

void MetricsApi::post_influx(const http::Request& request, http::Responder respond) {
    auto allowed = authorization_.allow(request, Need::ingest);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return respond(std::move(*denied));
    const std::string workspace = std::get<Access>(allowed).metrics_workspace();
    Scratch& scratch = *scratch_[request.worker % scratch_.size()];
    std::string_view body = request.body;
    if (request.content_encoding == "gzip") {
        std::string error;
        if (!gunzip(body, scratch.inflated, error))
            return respond(influx_error(error.starts_with("body too large") ? 413 : 400, error));
        body = scratch.inflated;
    } else if (!request.content_encoding.empty() && request.content_encoding != "identity") {
        return respond(influx_error(415, "Content-Encoding must be gzip or identity"));
    } else if (body.size() > kMaxBodyBytes) {
        return respond(influx_error(413, "body too large: at most 1 MiB"));
    }
    const auto precision_text = http::query_param(request.query, "precision");
    const auto precision = ingest::parse_precision(precision_text.value_or("ns"));
    if (!precision)
        return respond(influx_error(400, "precision must be ns, us, ms or s"));
    const std::int64_t now = now_ms();
    const ingest::InfluxResult parsed =
        ingest::parse_influx_lines(body, *precision, now, scratch.points);
    if (parsed.error)
        influx_bad_bodies_.fetch_add(1, std::memory_order_relaxed);
    if (!write(request, scratch, now, workspace, respond))
        return;
    http::Response response;
    response.status = 204;
    if (parsed.error) {
        response = influx_error(400, *parsed.error);
    } else if (!scratch.refused.empty()) {
        const Rejection& first = scratch.refused.front().rejection;
        response = influx_error(is_cap(first) ? 429 : 400, first.message);
    }
    if (scratch.points.size() == scratch.refused.size())
        return respond(std::move(response));
    answer_when_logged(request, respond, std::move(response));
}

http::Response MetricsApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    json names = json::array();
    const std::string workspace = std::get<Access>(allowed).metrics_workspace();
    for (const metrics::NameSummary& name : metrics::list_names(engine_, workspace)) {
        names.push_back(
            {{"name", name.name}, {"type", metric_type_name(name.type)}, {"series", name.series}});
    }
    return http::json_response(200, json{{"metrics", std::move(names)}}.dump());
}

http::Response MetricsApi::current(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const std::string workspace = std::get<Access>(allowed).metrics_workspace();
    std::string_view rest = request.path.substr(kMetricsPrefix.size());
    if (!rest.ends_with(kCurrentSuffix))
        return http::error_response(404, "not found: use /api/v1/metrics/<name>/current");
    const auto name =
        http::percent_decode(rest.substr(0, rest.size() - kCurrentSuffix.size()), false);
    if (!name || !valid_metric_name(*name))
        return http::error_response(400, "invalid metric name", "name");
    std::optional<MetricWindow> window;
    if (auto text = http::query_param(request.query, "window")) {
        window = parse_window(*text);
        if (!window)
            return http::error_response(400, "window must be 10s, 1m, 5m, 15m, 1h or 1d", "window");
    }
    const auto filters = tag_filters(request.query);
    if (!filters)
        return http::error_response(400, "malformed tags.<key> parameter", "tags");
    const auto answer = metrics::current(engine_, workspace, *name, window, *filters, now_ms());
    if (!answer)
        return http::error_response(404, "unknown metric '" + *name + "'", "name");
    return http::json_response(200, metrics::current_json(*answer).dump());
}

http::Response MetricsApi::query(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const json body = json::parse(request.body, nullptr, false);
    auto parsed = metrics::parse_range_query(body);
    if (const auto* error = std::get_if<metrics::QueryError>(&parsed))
        return http::error_response(error->status, error->message, error->field);
    auto& range_query = std::get<metrics::RangeQuery>(parsed);
    range_query.workspace = std::get<Access>(allowed).metrics_workspace();
    const auto answer = metrics::run_query(engine_, range_query, now_ms());
    if (const auto* error = std::get_if<metrics::QueryError>(&answer))
        return http::error_response(error->status, error->message, error->field);
    const auto& results = std::get<std::vector<metrics::QueryResult>>(answer);
    return http::json_response(200, json{{"results", metrics::results_json(results)}}.dump());
}

http::Response MetricsApi::export_prometheus(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    // The server's admin scrapes every workspace (each series labelled with its own);
    // anyone else their workspace's alone.
    const std::string workspace = access.metrics_workspace();
    http::Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body =
        metrics::export_prometheus(engine_, now_ms(), access.server_admin ? nullptr : &workspace);
    return response;
}

}  // namespace tally::api
