// The operators' API; see tally/api/ops_api.hpp.

#include "tally/api/ops_api.hpp"

#include <nlohmann/json.hpp>

namespace tally::api {

OpsApi::OpsApi(const Authorization& authorization, const std::atomic<bool>& ready,
               const durability::EventLog& log, const telemetry::Metrics& metrics,
               const mirror::Mirror* mirror, const query::FleetReader* fleet,
               std::string crawler_list)
    : authorization_(authorization),
      ready_(ready),
      log_(log),
      metrics_(metrics),
      mirror_(mirror),
      fleet_(fleet),
      crawler_list_(std::move(crawler_list)) {}

void OpsApi::add_routes(http::Router& router) {
    const std::vector<http::Method> get{http::Method::get};
    router.add("healthz", get, "/healthz",
               [](const auto&) { return http::json_response(200, R"({"status":"ok"})"); });
    router.add("readyz", get, "/readyz", [this](const auto&) { return readyz(); });
    router.add("metrics", get, "/metrics", [this](const auto& r) { return metrics(r); });
}

http::Response OpsApi::readyz() const {
    if (!ready_.load())
        return http::error_response(503, "not ready: starting or stopping");
    if (!log_.healthy())
        return http::error_response(
            503, "not ready: the event log cannot be written: " + log_.problem());
    // Dashboards read from Redis (query_source redis): without it they cannot answer.
    if (fleet_ != nullptr && !fleet_->up())
        return http::error_response(
            503, "not ready: redis (dashboards read from it): " + fleet_->problem());
    nlohmann::ordered_json body = {{"status", "ready"}};
    body["crawler_list"] = crawler_list_.empty() ? nlohmann::ordered_json(nullptr)
                                                 : nlohmann::ordered_json(crawler_list_);
    if (mirror_ == nullptr)
        return http::json_response(200, body.dump());
    // Redis away does not make the daemon unready: ingest and dashboards go on from memory
    // and Redis catches up later. The answer says so, for whoever looks.
    const mirror::MirrorStatus status = mirror_->status();
    body["redis"] = status.up ? "up" : "down";
    body["redis_pending_keys"] = status.pending_fields;
    body["redis_lag_seconds"] = status.lag_seconds;
    if (!status.up)
        body["redis_problem"] = status.problem;
    return http::json_response(200, body.dump());
}

http::Response OpsApi::metrics(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::server_admin);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    http::Response response;
    response.content_type = "text/plain; version=0.0.4; charset=utf-8";
    response.body = metrics_.render();
    return response;
}

}  // namespace tally::api
