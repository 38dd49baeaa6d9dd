#pragma once
// The daemon: owns every part, wires them in the direction data flows, and runs them.
//
//   transport (http) -> APIs (api) -> ingest -> write path (log, then store)
//                                                  -> {snapshots, mirror, live}
//   queries read the store (or, with query_source redis, Redis)
//
// App builds the parts in that order, lists the APIs (each registers its own routes) and
// the modules (each registers its own metrics), then run() recovers the state, serves until
// stop(), and shuts down in the reverse order: nothing is answered that is not logged, and
// a clean stop leaves a snapshot so the next start replays nothing.

#include <atomic>
#include <memory>
#include <mutex>

#include "demo.hpp"
#include "tally/alerts/alert_service.hpp"
#include "tally/api/alerts_api.hpp"
#include "tally/api/audit_api.hpp"
#include "tally/api/authorization.hpp"
#include "tally/api/dashboards_api.hpp"
#include "tally/api/live_api.hpp"
#include "tally/api/metrics_api.hpp"
#include "tally/api/ops_api.hpp"
#include "tally/api/read_api.hpp"
#include "tally/api/reports_api.hpp"
#include "tally/api/static_files.hpp"
#include "tally/api/stats_api.hpp"
#include "tally/api/track_api.hpp"
#include "tally/api/workspaces_api.hpp"
#include "tally/audit/audit_log.hpp"
#include "tally/base/background_loop.hpp"
#include "tally/bots/crawler_list.hpp"
#include "tally/daemon/config.hpp"
#include "tally/delivery/outbox.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/funnel_spiller.hpp"
#include "tally/durability/persistence.hpp"
#include "tally/durability/rejects_log.hpp"
#include "tally/http/router.hpp"
#include "tally/http/server.hpp"
#include "tally/ingest/compat_sessions.hpp"
#include "tally/ingest/visitor_hash.hpp"
#include "tally/live/hub.hpp"
#include "tally/metrics/derive.hpp"
#include "tally/metrics/engine.hpp"
#include "tally/metrics/engine_snapshot.hpp"
#include "tally/mirror/mirror.hpp"
#include "tally/query/fleet_reader.hpp"
#include "tally/query/top_list_cache.hpp"
#include "tally/statsd/listener.hpp"
#include "tally/store/store.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/write/write_path.hpp"

namespace tally::daemon {

class App {
  public:
    explicit App(Config config);
    ~App();
    /// Replays the log, serves until stop(), then flushes. Returns the exit code.
    int run();
    /// Thread-safe: begins a graceful shutdown.
    void stop();

  private:
    void build_state();
    void load_crawler_list();
    void build_redis();
    /// The alert rules' store and service (after the outbox).
    void build_alerts();
    void add_routes();
    /// tally_memory_bytes and tally_memory_budget_bytes per structure, tally_disk_bytes.
    void register_memory_metrics();
    void register_metrics();
    /// tally.http.requests.count and tally.http.response.time of one answered request.
    void record_request(const http::Request& request, std::size_t route, unsigned status,
                        std::chrono::nanoseconds latency);
    http::ServerOptions server_options();
    void start_background();
    void shut_down();

    Config config_;
    std::size_t workers_;  // I/O threads
    // workers_ + 2: then the StatsD listener's shard and log writer, then --demo's (last).
    std::size_t shards_;
    std::size_t statsd_writer() const { return workers_; }
    std::atomic<bool> ready_{false};
    std::atomic<bool> stop_requested_{false};  // a signal may come before the server exists
    std::mutex server_mutex_;                  // guards server_ between run() and stop()

    // The state and its durability.
    std::unique_ptr<ingest::VisitorHasher> hasher_;
    std::unique_ptr<ingest::InactivitySessions> compat_sessions_;
    std::unique_ptr<query::TopListCache> top_list_cache_;
    std::unique_ptr<bots::CrawlerList> crawlers_;  // null: bots are not filtered
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<metrics::Engine> engine_;  // the metrics service's series
    metrics::Derivations derivations_;
    std::unique_ptr<metrics::EngineState> engine_state_;  // its snapshots and recovery
    std::unique_ptr<durability::EventLog> log_;
    std::unique_ptr<durability::RejectsLog> rejects_;
    std::unique_ptr<durability::FunnelSpiller> funnel_spiller_;  // funnel steps beyond memory
    std::unique_ptr<durability::Persistence> persistence_;       // snapshots, recovery, retention
    std::unique_ptr<mirror::Mirror> mirror_;  // null without --redis; started after recovery
    std::unique_ptr<telemetry::Metrics> metrics_;
    std::unique_ptr<write::WritePath> write_path_;
    // Before what reads them (reports, alerts), so destroyed after.
    std::unique_ptr<workspaces::Workspaces> workspaces_;    // tokens, roles, who owns a site
    std::unique_ptr<audit::AuditLog> audit_;                // who changed what
    std::unique_ptr<documents::DocumentStore> dashboards_;  // the users' dashboards
    std::unique_ptr<documents::DocumentStore> reports_;     // scheduled reports
    // POSTs to webhooks, Alertmanager and report destinations, from its own threads.
    std::unique_ptr<delivery::Outbox> outbox_;
    // Sends each report's run once per due time (after outbox_: stopped before it).
    std::unique_ptr<reports::ReportService> report_service_;
    // Alert rules, evaluated on the service's own thread (after outbox_: stopped before it).
    std::unique_ptr<documents::DocumentStore> alert_rules_;
    std::unique_ptr<alerts::AlertService> alerts_;

    // The APIs, in the order their routes are registered.
    std::unique_ptr<api::Authorization> authorization_;
    std::unique_ptr<api::WorkspacesApi> workspaces_api_;
    std::unique_ptr<api::AuditApi> audit_api_;
    std::unique_ptr<api::TrackApi> track_api_;
    std::unique_ptr<api::StatsApi> stats_api_;
    std::unique_ptr<api::ReadApi> read_api_;
    std::unique_ptr<api::OpsApi> ops_api_;
    std::unique_ptr<api::StaticFiles> static_files_;
    std::unique_ptr<api::LiveApi> live_api_;
    std::unique_ptr<api::MetricsApi> metrics_api_;
    std::unique_ptr<api::DashboardsApi> dashboards_api_;
    std::unique_ptr<api::AlertsApi> alerts_api_;
    std::unique_ptr<api::ReportsApi> reports_api_;
    http::Router router_;
    std::vector<std::string> route_names_;  // by route index (the `route` tag)
    http::ServerStats server_stats_;
    std::unique_ptr<http::Server> server_;
    // After server_: destroyed (stopped) before it, while the connections it sends to exist.
    std::unique_ptr<live::Hub> hub_;
    std::unique_ptr<live::MetricsHub> metrics_hub_;
    std::unique_ptr<DemoTraffic> demo_;
    std::unique_ptr<statsd::Listener> statsd_;  // with --statsd
    BackgroundLoop housekeeping_;
    // With query_source redis. Last, so destroyed first: stopping it answers the reads
    // still queued, through the router and metrics above.
    std::unique_ptr<query::FleetReader> fleet_reader_;
};

}  // namespace tally::daemon
