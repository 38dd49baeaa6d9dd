#include "app.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "tally/base/time.hpp"
#include "tally/dashboards/dashboard.hpp"

namespace tally::daemon {

namespace fs = std::filesystem;

App::App(Config config) : config_(std::move(config)), derivations_(config_.derive) {
    workers_ =
        config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
    shards_ = workers_ + 2;
    if (config_.instance_id.empty())
        config_.instance_id = default_instance_id();
    build_state();
    build_redis();
    hub_ = std::make_unique<live::Hub>(
        *store_, live::HubOptions{config_.live_batch, config_.live_max_clients});
    metrics_hub_ = std::make_unique<live::MetricsHub>(
        *engine_, live::MetricsHubOptions{config_.live_batch, config_.live_max_clients});
    add_routes();
    register_metrics();
}

App::~App() {
    // Requests still waiting for a group fsync are answered through the router and the
    // track API, which are destroyed before the log: answer them first (a no-op when run()
    // has closed the log already).
    if (log_)
        log_->close();
}

// The crawler list: the configured file (which must load), else the npm package's file
// under the web root (bots are not filtered when it is absent: a warning says so).
void App::load_crawler_list() {
    const bool configured = !config_.crawler_list.empty();
    const fs::path path = configured ? fs::path(config_.crawler_list)
                                     : fs::path(config_.web_root) / "node_modules" /
                                           "crawler-user-agents" / "crawler-user-agents.json";
    std::string error;
    auto list = bots::CrawlerList::load(path, error);
    if (!list && configured)
        throw std::runtime_error("bots.crawler_list: " + error);
    if (!list) {
        spdlog::warn("no crawler list ({}): bots are counted like people", error);
        return;
    }
    spdlog::info("crawler list: {} ({} patterns)", list->version(), list->pattern_count());
    crawlers_ = std::make_unique<bots::CrawlerList>(std::move(*list));
}

void App::build_state() {
    const fs::path data = config_.data_dir;
    std::error_code ec;
    fs::create_directories(data, ec);
    if (ec)
        throw std::system_error(ec, "cannot create data dir " + data.string());
    hasher_ = std::make_unique<ingest::VisitorHasher>(data / "salts");
    compat_sessions_ = std::make_unique<ingest::InactivitySessions>(config_.compat_sessions);
    top_list_cache_ = std::make_unique<query::TopListCache>(config_.query_cache_mb << 20);
    load_crawler_list();
    store_ = std::make_unique<store::Store>(
        store::StoreOptions{shards_, config_.max_sites, config_.max_event_names_per_day,
                            config_.top_capacity, config_.max_active_sessions});
    log_ = std::make_unique<durability::EventLog>(durability::EventLogOptions{
        data / "log", shards_, config_.fsync, config_.fsync_interval, config_.segment_bytes});
    durability::RejectsLogOptions rejects_options;
    rejects_options.dir = data / "rejects";
    rejects_options.retention_days = config_.retention_days;
    rejects_ = std::make_unique<durability::RejectsLog>(rejects_options);
    durability::PersistenceOptions persistence_options;
    persistence_options.snapshot_dir = data / "snapshots";
    persistence_options.snapshot_interval = config_.snapshot_interval;
    persistence_options.snapshot_events = config_.snapshot_events;
    persistence_options.snapshots_kept = config_.snapshots_kept;
    persistence_options.retention_days = config_.retention_days;
    persistence_options.rollup_retention_days = config_.rollup_retention_days;
    persistence_options.funnel_dir = data / "funnels";
    funnel_spiller_ = std::make_unique<durability::FunnelSpiller>(
        durability::FunnelSpillOptions{persistence_options.funnel_dir,
                                       config_.funnel_memory_mb << 20},
        *store_);
    metrics::EngineOptions engine_options;
    engine_options.shards = shards_;
    engine_options.limits = {config_.metrics_max_series, config_.metrics_max_series_per_name};
    engine_options.retention_days = config_.metrics_retention_days;
    engine_ = std::make_unique<metrics::Engine>(engine_options);
    engine_state_ = std::make_unique<metrics::EngineState>(*engine_, derivations_);
    persistence_ = std::make_unique<durability::Persistence>(persistence_options, *store_, *log_,
                                                             engine_state_.get());
    metrics_ = std::make_unique<telemetry::Metrics>(shards_);
    write_path_ =
        std::make_unique<write::WritePath>(*store_, *log_, *metrics_, *engine_, derivations_);
    dashboards_ = std::make_unique<documents::DocumentStore>(data / "dashboards", "dashboard",
                                                             dashboards::kMaxDashboards);
    workspaces::WorkspacesOptions workspaces_options;
    workspaces_options.file = data / "workspaces.json";
    workspaces_options.server_token = config_.token;
    workspaces_options.configured = config_.workspaces;
    workspaces_options.configured_present = config_.workspaces_configured;
    workspaces_ = std::make_unique<workspaces::Workspaces>(std::move(workspaces_options));
    workspaces_->load();
    audit_ = std::make_unique<audit::AuditLog>(
        audit::AuditOptions{data / "audit", config_.audit_retention_days});
    audit_->open(now_ms());
    authorization_ = std::make_unique<api::Authorization>(*workspaces_, audit_.get());
    reports_ = std::make_unique<documents::DocumentStore>(data / "reports", "report",
                                                          reports::kMaxReports);
    outbox_ = std::make_unique<delivery::Outbox>(delivery::OutboxOptions{});
    report_service_ = std::make_unique<reports::ReportService>(
        reports::ReportServiceOptions{data / "reports"},
        reports::ReportServiceParts{
            *reports_, *dashboards_,
            reports::workspace_dashboard_data(*engine_, *store_, *workspaces_),
            [this](delivery::Delivery d) { return outbox_->send(std::move(d)); },
            [] { return now_ms(); }});
    build_alerts();
    if (config_.statsd_port != 0) {
        statsd_ = std::make_unique<statsd::Listener>(
            statsd::ListenerOptions{config_.statsd_host, config_.statsd_port, statsd_writer(),
                                    config_.statsd_workspace == workspaces::kDefault
                                        ? std::string()
                                        : config_.statsd_workspace},
            *write_path_);
    }
}

void App::build_alerts() {
    const fs::path dir = fs::path(config_.data_dir) / "alerts";
    alert_rules_ =
        std::make_unique<documents::DocumentStore>(dir, "alert rule", alerts::kMaxAlerts);
    alerts::AlertServiceOptions options;
    options.dir = dir;
    options.eval_interval = config_.alerts_eval_interval;
    options.channels = config_.alert_channels;
    options.external_url = config_.alerts_external_url;
    if (options.external_url.empty()) {
        const std::string& host = config_.listen_host;
        const bool v6 = host.find(':') != std::string::npos;
        options.external_url =
            "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(config_.listen_port);
    }
    // (Without workspaces every site is "default"'s, like every rule.)
    options.site_workspace = [this](std::string_view site) {
        return workspaces_->site_workspace(site);
    };
    alerts_ = std::make_unique<alerts::AlertService>(std::move(options), *engine_, *store_,
                                                     *alert_rules_, *outbox_);
}

void App::build_redis() {
    if (config_.redis_url.empty())
        return;
    const redis::RedisAddress address = *redis::parse_redis_url(config_.redis_url);  // checked
    mirror::MirrorOptions options;
    options.address = address;
    options.instance_id = config_.instance_id;
    options.flush_interval = config_.redis_flush;
    options.retention_days = config_.retention_days;
    mirror_ = std::make_unique<mirror::Mirror>(std::move(options), *store_);
    if (config_.query_source == QuerySource::redis) {
        // The fleet's dashboard, from Redis (docker/README.md: "Reading the fleet from Redis").
        query::FleetReaderOptions reader_options;
        reader_options.address = address;
        reader_options.retention_days = config_.retention_days;
        reader_options.stale_max = config_.redis_stale_max;
        fleet_reader_ = std::make_unique<query::FleetReader>(reader_options);
    }
}

void App::add_routes() {
    api::TrackApiOptions track_options{
        config_.trusted_proxies, config_.cors_origins, workers_,
        config_.umami_websites,  crawlers_.get(),      config_.filter_track_api};
    track_api_ = std::make_unique<api::TrackApi>(
        std::move(track_options), *hasher_, *compat_sessions_, *write_path_, *rejects_, *metrics_);
    read_api_ = std::make_unique<api::ReadApi>(*authorization_, *store_, fleet_reader_.get());
    stats_api_ = std::make_unique<api::StatsApi>(*authorization_, *store_, *top_list_cache_);
    ops_api_ = std::make_unique<api::OpsApi>(*authorization_, ready_, *log_, *metrics_,
                                             mirror_.get(), fleet_reader_.get(),
                                             crawlers_ ? crawlers_->version() : std::string());
    static_files_ = std::make_unique<api::StaticFiles>(config_.web_root);
    // The pages take their chart and grid libraries from the web root's npm packages:
    // without them a browser shows an empty page, so the operator is told here.
    if (std::error_code ec; !fs::is_directory(fs::path(config_.web_root) / "node_modules", ec))
        spdlog::warn(
            "{}/node_modules is missing: the pages cannot draw until `npm ci` runs "
            "there (scripts/install-deps.sh runs it)",
            config_.web_root);
    live_api_ = std::make_unique<api::LiveApi>(
        *authorization_, *hub_, *metrics_hub_,
        api::LiveOptions{config_.trusted_proxies, config_.live_max_clients_per_ip});
    metrics_api_ =
        std::make_unique<api::MetricsApi>(workers_, *authorization_, *write_path_, *engine_);
    dashboards_api_ = std::make_unique<api::DashboardsApi>(
        *authorization_, *dashboards_, dashboards::Sources{*engine_, *store_, {}, {}});

    workspaces_api_ =
        std::make_unique<api::WorkspacesApi>(*authorization_, *workspaces_, audit_.get());
    audit_api_ = std::make_unique<api::AuditApi>(*authorization_, *audit_);
    reports_api_ = std::make_unique<api::ReportsApi>(*authorization_, audit_.get(), *reports_,
                                                     *dashboards_, *report_service_);
    alerts_api_ = std::make_unique<api::AlertsApi>(*authorization_, *alert_rules_, *alerts_,
                                                   *engine_, audit_.get());

    track_api_->add_routes(router_);
    workspaces_api_->add_routes(router_);
    audit_api_->add_routes(router_);
    read_api_->add_routes(router_);
    stats_api_->add_routes(router_);
    ops_api_->add_routes(router_);
    metrics_api_->add_routes(router_);
    dashboards_api_->add_routes(router_);
    alerts_api_->add_routes(router_);
    reports_api_->add_routes(router_);
    static_files_->add_routes(router_);
}

void App::register_metrics() {
    route_names_ = router_.route_names();
    metrics_->set_routes(route_names_);
    router_.set_observer([this](const http::Request& r, std::size_t route, unsigned status,
                                std::chrono::nanoseconds latency) {
        metrics_->count_request(r.worker, route, status, latency);
        record_request(r, route, status, latency);
    });
    server_stats_.register_metrics(*metrics_);
    log_->register_metrics(*metrics_);
    hub_->register_metrics(*metrics_);
    metrics_hub_->register_metrics(*metrics_);
    store_->register_metrics(*metrics_);
    funnel_spiller_->register_metrics(*metrics_);
    metrics_->add_callback("tally_compat_sessions",
                           "Visitors of Plausible and Umami trackers whose session is kept.",
                           "gauge", [this] { return double(compat_sessions_->size()); });
    metrics_->add_callback(
        "tally_compat_sessions_evicted_total",
        "Visitors dropped from the session table to make room (their next event starts a "
        "new session).",
        "counter", [this] { return double(compat_sessions_->evicted()); });
    metrics_->add_callback(
        "tally_query_cache_bytes",
        "Bytes held by the merged top lists of settled days (limits.query_cache_mb).", "gauge",
        [this] { return double(top_list_cache_->stats().bytes); });
    metrics_->add_callback("tally_query_cache_hits_total",
                           "Breakdowns that reused a merge of their settled days.", "counter",
                           [this] { return double(top_list_cache_->stats().hits); });
    metrics_->add_callback("tally_query_cache_misses_total",
                           "Breakdowns that merged their settled days afresh.", "counter",
                           [this] { return double(top_list_cache_->stats().misses); });
    register_memory_metrics();
    engine_->register_metrics(*metrics_);
    metrics_api_->register_metrics(*metrics_);
    audit_->register_metrics(*metrics_);
    outbox_->register_metrics(*metrics_);
    alerts_->register_metrics(*metrics_);
    report_service_->register_metrics(*metrics_);
    if (statsd_)
        statsd_->register_metrics(*metrics_);
    if (mirror_)
        mirror_->register_metrics(*metrics_);
    if (fleet_reader_)
        fleet_reader_->register_metrics(*metrics_);
}

void App::register_memory_metrics() {
    // What the structures that grow with traffic hold, each beside its budget: estimates
    // from their counts (entries of a known size) or their own byte counts.
    constexpr double kActiveSessionBytes = 150;  // active_sessions.hpp
    constexpr double kCompatSessionBytes = 80;   // compat_sessions.hpp
    const auto funnel_bytes = [this] {
        std::size_t sum = 0;
        for (std::size_t shard = 0; shard < store_->shard_count(); ++shard)
            sum += store_->funnel_footprint(shard).memory_bytes;
        return static_cast<double>(sum);
    };
    const std::string help =
        "Bytes a structure that grows with traffic holds in memory (estimated from its entries).";
    metrics_->add_callback("tally_memory_bytes{structure=\"funnel_steps\"}", help, "gauge",
                           funnel_bytes);
    metrics_->add_callback(
        "tally_memory_bytes{structure=\"active_sessions\"}", help, "gauge", [this] {
            return kActiveSessionBytes * static_cast<double>(store_->active_sessions().held());
        });
    metrics_->add_callback(
        "tally_memory_bytes{structure=\"compat_sessions\"}", help, "gauge",
        [this] { return kCompatSessionBytes * static_cast<double>(compat_sessions_->size()); });
    metrics_->add_callback("tally_memory_bytes{structure=\"query_cache\"}", help, "gauge",
                           [this] { return double(top_list_cache_->stats().bytes); });
    const std::string budget_help = "The configured budget of a structure's memory (limits.*).";
    const std::pair<const char*, double> budgets[] = {
        {"funnel_steps", double(config_.funnel_memory_mb << 20)},
        {"active_sessions", kActiveSessionBytes * double(config_.max_active_sessions)},
        {"compat_sessions", kCompatSessionBytes * double(config_.compat_sessions)},
        {"query_cache", double(config_.query_cache_mb << 20)},
    };
    for (const auto& [structure, bytes] : budgets) {
        metrics_->add_callback(
            std::string("tally_memory_budget_bytes{structure=\"") + structure + "\"}", budget_help,
            "gauge", [value = bytes] { return value; });
    }
    metrics_->add_callback("tally_disk_bytes{structure=\"funnel_runs\"}",
                           "Bytes a structure keeps on disk beyond its memory budget.", "gauge",
                           [this] {
                               std::size_t sum = 0;
                               for (std::size_t shard = 0; shard < store_->shard_count(); ++shard)
                                   sum += store_->funnel_footprint(shard).disk_bytes;
                               return static_cast<double>(sum);
                           });
}

http::ServerOptions App::server_options() {
    http::ServerOptions options;
    options.host = config_.listen_host;
    options.port = config_.listen_port;
    options.threads = workers_;
    options.read_timeout = config_.read_timeout;
    options.idle_timeout = config_.idle_timeout;
    options.max_connections = config_.max_connections;
    options.allows_large_body = [](std::string_view path) {
        return path == "/track/batch" || path == "/api/v1/metrics" || path == "/api/v1/statsd" ||
               path == "/write" || path == "/api/v2/write";
    };
    options.websocket_path = "/ws";
    options.websocket_idle_timeout = config_.live_idle_timeout;
    options.websocket_accept = [this](const http::Request& request) {
        return live_api_->upgrade(request);
    };
    return options;
}

void App::start_background() {
    persistence_->start();
    funnel_spiller_->start();
    if (mirror_)
        mirror_->start();
    // Visitor salts of days more than two days past are deleted, so old cookieless ids
    // cannot be recomputed (an event may be up to 48 h old: its day may be today - 2).
    housekeeping_.start(std::chrono::minutes(1), [this] {
        hasher_->forget_before(day_of(now_ms()) - 2);
        rejects_->remove_expired(now_ms());
        audit_->remove_expired(now_ms());
    });
    // After the replay: a run missed while down is made from the recovered figures.
    outbox_->start();
    report_service_->start();
    alerts_->start();  // rules read the recovered figures: a firing alert stays firing
    if (config_.demo)
        demo_ = std::make_unique<DemoTraffic>(*write_path_, shards_ - 1, *store_, 5.0);
}

void App::record_request(const http::Request& request, std::size_t route, unsigned status,
                         std::chrono::nanoseconds latency) {
    const std::vector<std::string>& names = route_names_;
    const std::string& name = route < names.size() ? names[route] : names.back();
    const std::int64_t now = now_ms();
    MetricPoint count;
    count.name = "tally.http.requests.count";
    count.type = MetricType::count;
    count.value = 1;
    count.timestamp_ms = now;
    count.tags = {{"route", name}, {"status", std::to_string(status)}};
    write_path_->record_own(request.worker, count, now);
    MetricPoint time;
    time.name = "tally.http.response.time";
    time.type = MetricType::percentile;
    time.value = static_cast<double>(latency.count()) / 1e6;  // milliseconds
    time.timestamp_ms = now;
    time.tags = {{"route", name}};
    write_path_->record_own(request.worker, time, now);
}

int App::run() {
    // 1. Rebuild the state from the newest snapshot and the log after it, before anything
    // is served.
    const durability::Persistence::Recovery recovery = persistence_->recover(now_ms());
    funnel_spiller_->tidy();  // runs written after the snapshot: their steps were replayed
    const std::size_t dashboards = dashboards_->load();
    spdlog::info("dashboards: {} loaded", dashboards);
    spdlog::info("reports: {} loaded", reports_->load());
    report_service_->load();
    spdlog::info("alert rules: {} loaded", alert_rules_->load());
    alerts_->load();

    // 2. Serve. The hub starts after the replay: the replayed events are in the state, not
    // in a change log.
    hub_->start();
    metrics_hub_->start();
    // The StatsD socket is bound before the HTTP port opens: whoever sees tallyd listening
    // (a test, a health check, a deploy script) can send datagrams that will be read.
    if (statsd_)
        statsd_->start();
    {
        std::lock_guard lock(server_mutex_);
        server_ = std::make_unique<http::Server>(
            server_options(),
            [this](const http::Request& request, http::Reply reply) {
                router_.handle(request, reply);
            },
            server_stats_);
    }
    server_->start();
    start_background();
    ready_.store(true);
    spdlog::info(
        "tallyd {} listening on {}:{}, data in {}, {} thread(s), fsync {}, redis {}, token {}, "
        "demo {}, replayed {} event(s) in {:.0f} ms",
        TALLY_VERSION, config_.listen_host, server_->port(), config_.data_dir, workers_,
        durability::fsync_mode_name(config_.fsync),
        config_.redis_url.empty() ? "off" : config_.redis_url, config_.token.empty() ? "off" : "on",
        config_.demo ? "on" : "off", recovery.replay.records - recovery.in_snapshot, recovery.ms);

    // A stop() that came before the server existed (say, during the replay) is honoured
    // here: Server::stop() before run() makes run() return at once.
    if (stop_requested_.load())
        server_->stop();
    server_->run();
    shut_down();
    return 0;
}

void App::shut_down() {
    demo_.reset();
    if (statsd_)
        statsd_->stop();
    hub_->stop();
    metrics_hub_->stop();
    housekeeping_.stop();
    report_service_->stop();
    alerts_->stop();
    outbox_->stop();  // what is still queued is not sent (the outbox is not durable)
    // Stopped: everything answered has been written; make it durable (close() also answers
    // any request still waiting for a group fsync while the router it answers through still
    // exists), and snapshot it so the next start replays nothing.
    ready_.store(false);
    funnel_spiller_->stop();  // before the last snapshot, which names every run written
    persistence_->stop();
    log_->close();
    if (mirror_)
        mirror_->stop();  // a last flush: Redis gets everything answered
    persistence_->snapshot("shutdown");
    spdlog::info("tallyd stopped");
}

void App::stop() {
    ready_.store(false);
    stop_requested_.store(true);
    std::lock_guard lock(server_mutex_);
    if (server_)
        server_->stop();
}

}  // namespace tally::daemon
