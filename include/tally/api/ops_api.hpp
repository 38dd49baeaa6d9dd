#pragma once
// What operators and their tools ask: GET /healthz (the process answers), /readyz (it
// can take traffic: started, the event log writable, and with query_source redis its
// Redis reachable; a mirror's Redis being down does not make it unready - ingest and
// dashboards go on from memory - but the answer says so) and /metrics (self-telemetry in
// the Prometheus text format, behind the token).

#include <atomic>
#include <string>

#include "tally/api/authorization.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/http/router.hpp"
#include "tally/mirror/mirror.hpp"
#include "tally/query/fleet_reader.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::api {

class OpsApi {
  public:
    /// `mirror`: null without --redis. `fleet`: null unless query_source is redis.
    /// `crawler_list`: the bot list's name and version, "" when bots are not filtered.
    OpsApi(const Authorization& authorization, const std::atomic<bool>& ready,
           const durability::EventLog& log, const telemetry::Metrics& metrics,
           const mirror::Mirror* mirror, const query::FleetReader* fleet,
           std::string crawler_list = {});

    void add_routes(http::Router& router);

    http::Response readyz() const;
    http::Response metrics(const http::Request& request) const;

  private:
    const Authorization& authorization_;
    const std::atomic<bool>& ready_;
    const durability::EventLog& log_;
    const telemetry::Metrics& metrics_;
    const mirror::Mirror* mirror_;
    const query::FleetReader* fleet_;
    std::string crawler_list_;
};

}  // namespace tally::api
