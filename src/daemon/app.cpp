#include "app.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "tally/base/time.hpp"

namespace tally::daemon {

namespace fs = std::filesystem;

App::App(Config config) : config_(std::move(config)) {
    workers_ =
        config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
    shards_ = workers_ + 1;
    if (config_.instance_id.empty())
        config_.instance_id = default_instance_id();
    const fs::path data = config_.data_dir;
    std::error_code ec;
    fs::create_directories(data, ec);
    if (ec)
        throw std::system_error(ec, "cannot create data dir " + data.string());

    hasher_ = std::make_unique<ingest::VisitorHasher>(data / "salts");
    store_ = std::make_unique<store::Store>(store::StoreOptions{
        shards_, config_.max_sites, config_.max_event_names_per_day, config_.top_capacity});
    log_ = std::make_unique<durability::EventLog>(durability::EventLogOptions{
        data / "log", shards_, config_.fsync, config_.fsync_interval, config_.segment_bytes});
    durability::RejectsLogOptions rejects_options;
    rejects_options.dir = data / "rejects";
    rejects_options.retention_days = config_.retention_days;
    rejects_ = std::make_unique<durability::RejectsLog>(rejects_options);
    persistence_ = std::make_unique<Persistence>(config_, *store_, *log_);
    if (!config_.redis_url.empty()) {
        mirror::MirrorOptions options;
        options.address = *redis::parse_redis_url(config_.redis_url);  // checked by the config
        options.instance_id = config_.instance_id;
        options.flush_interval = config_.redis_flush;
        options.retention_days = config_.retention_days;
        mirror_ = std::make_unique<mirror::Mirror>(std::move(options), *store_);
    }
    hub_ = std::make_unique<live::Hub>(
        *store_, live::HubOptions{config_.live_batch, config_.live_max_clients});
    build_routes();
}

App::~App() {
    // Requests still waiting for a group fsync are answered through the router and the
    // track API, which are destroyed before the log: answer them first (a no-op when run()
    // has closed the log already).
    if (log_)
        log_->close();
}

void App::build_routes() {
    using http::Method;
    const std::vector<Method> post{Method::post, Method::options};
    const std::vector<Method> get{Method::get};
    router_.add_async("track_pageview", post, "/track/pageview",
                      [this](const auto& r, auto respond) { track_->pageview(r, respond); });
    router_.add_async("track_event", post, "/track/event",
                      [this](const auto& r, auto respond) { track_->event(r, respond); });
    router_.add_async("track_batch", post, "/track/batch",
                      [this](const auto& r, auto respond) { track_->batch(r, respond); });
    if (config_.query_source == QuerySource::redis) {
        // The fleet's dashboard, from Redis (README: "Reading the fleet from Redis").
        query::FleetReaderOptions reader_options;
        reader_options.address = redis::parse_redis_url(config_.redis_url).value();
        reader_options.retention_days = config_.retention_days;
        redis_reader_ = std::make_unique<query::FleetReader>(reader_options);
        router_.add_prefix_async(
            "dashboard", get, "/dashboard/",
            [this](const auto& r, auto respond) { read_->dashboard_from_redis(r, respond); });
    } else {
        router_.add_prefix("dashboard", get, "/dashboard/",
                           [this](const auto& r) { return read_->dashboard(r); });
    }
    if (redis_reader_) {
        router_.add_prefix_async(
            "timeseries", get, "/timeseries/",
            [this](const auto& r, auto respond) { read_->timeseries_from_redis(r, respond); });
    } else {
        router_.add_prefix("timeseries", get, "/timeseries/",
                           [this](const auto& r) { return read_->timeseries(r); });
    }
    router_.add("funnel", get, "/funnel", [this](const auto& r) { return read_->funnel(r); });
    router_.add("active_users", get, "/api/v1/dashboard/active-users",
                [this](const auto& r) { return read_->active_users(r); });
    router_.add("page_views", get, "/api/v1/dashboard/page-views",
                [this](const auto& r) { return read_->page_views(r); });
    router_.add("healthz", get, "/healthz",
                [](const auto&) { return http::json_response(200, R"({"status":"ok"})"); });
    router_.add("readyz", get, "/readyz", [this](const auto& r) { return read_->readyz(r); });
    router_.add("metrics", get, "/metrics", [this](const auto& r) { return read_->metrics(r); });
    router_.set_fallback("static", get, [this](const auto& r) { return static_files_->serve(r); });

    metrics_ = std::make_unique<telemetry::Metrics>(router_.route_names(), shards_);
    router_.set_observer([this](const http::Request& r, std::size_t route, unsigned status,
                                std::chrono::nanoseconds latency) {
        metrics_->count_request(r.worker, route, status, latency);
    });
    metrics_->add_callback(
        "tally_http_open_connections", "Open HTTP connections.", "gauge",
        [this] { return static_cast<double>(server_stats_.open_connections.load()); });
    metrics_->add_callback(
        "tally_http_refused_connections_total",
        "Connections closed at once because the connection cap was reached.", "counter",
        [this] { return static_cast<double>(server_stats_.refused_connections.load()); });
    metrics_->add_callback("tally_http_timeouts_total",
                           "Connections closed by a read or idle timeout.", "counter",
                           [this] { return static_cast<double>(server_stats_.timeouts.load()); });
    metrics_->add_callback("tally_log_bytes_total",
                           "Bytes appended to the event log by this process.", "counter",
                           [this] { return static_cast<double>(log_->bytes_written()); });
    metrics_->add_callback("tally_log_healthy", "1 while the event log accepts writes.", "gauge",
                           [this] { return log_->healthy() ? 1.0 : 0.0; });
    metrics_->add_callback("tally_log_group_fsyncs_total",
                           "Group-commit fsyncs of the event log (fsync always).", "counter",
                           [this] { return static_cast<double>(log_->commit_stats().fsyncs); });
    metrics_->add_callback(
        "tally_log_group_waiters_total",
        "Requests answered by those fsyncs (divided by the fsyncs: the mean group size).",
        "counter", [this] { return static_cast<double>(log_->commit_stats().waiters); });
    metrics_->add_callback("tally_ws_clients", "Live dashboards connected to /ws.", "gauge",
                           [this] { return static_cast<double>(hub_->clients()); });
    metrics_->add_callback("tally_sites", "Sites known to the store.", "gauge",
                           [this] { return static_cast<double>(store_->sites().size()); });
    metrics_->add_callback("tally_day_states", "Per-shard day states in memory (retention).",
                           "gauge", [this] { return static_cast<double>(store_->day_count()); });
    metrics_->add_callback("tally_rollups", "Per-shard week and month roll-ups in memory.", "gauge",
                           [this] { return static_cast<double>(store_->rollup_count()); });

    if (mirror_)
        mirror_->register_metrics(*metrics_);
    if (redis_reader_)
        redis_reader_->register_metrics(*metrics_);

    track_ = std::make_unique<TrackApi>(config_, *hasher_, *store_, *log_, *rejects_, *metrics_,
                                        workers_);
    read_ = std::make_unique<ReadApi>(config_, *store_, *metrics_, ready_, *log_, mirror_.get(),
                                      redis_reader_.get());
    static_files_ = std::make_unique<StaticFiles>(config_.web_root);
}

int App::run() {
    // 1. Rebuild the state from the newest snapshot and the log after it, before anything
    // is served.
    const Persistence::Recovery recovery = persistence_->recover(now_ms());

    // 2. Serve.
    http::ServerOptions options;
    options.host = config_.listen_host;
    options.port = config_.listen_port;
    options.threads = workers_;
    options.read_timeout = config_.read_timeout;
    options.idle_timeout = config_.idle_timeout;
    options.max_connections = config_.max_connections;
    options.allows_large_body = [](std::string_view path) {
        return path == "/track/batch" || path == "/api/v1/metrics";
    };
    options.websocket_path = "/ws";
    options.websocket_idle_timeout = config_.live_idle_timeout;
    options.websocket_accept = [this](const http::Request& request)
        -> std::variant<http::Response, std::shared_ptr<http::WsPeer>> {
        if (auto denied = read_->check_token(request))
            return std::move(*denied);
        return hub_->accept(request);
    };
    // Started after the replay: the replayed events are in the state, not in a change log.
    hub_->start();
    {
        std::lock_guard lock(server_mutex_);
        server_ = std::make_unique<http::Server>(
            options,
            [this](const http::Request& request, http::Reply reply) {
                router_.handle(request, reply);
            },
            server_stats_);
    }
    server_->start();
    persistence_->start();
    if (mirror_)
        mirror_->start();
    ready_.store(true);
    // Visitor salts of days more than two days past are deleted, so old cookieless ids
    // cannot be recomputed (an event may be up to 48 h old: its day may be today - 2).
    housekeeping_ = std::make_unique<Periodic>(std::chrono::minutes(1), [this] {
        hasher_->forget_before(day_of(now_ms()) - 2);
        rejects_->remove_expired(now_ms());
    });
    if (config_.demo) {
        const std::size_t demo_shard = shards_ - 1;
        demo_ = std::make_unique<DemoTraffic>(
            [this, demo_shard](Event& event) {
                return store_->admit(demo_shard, event) == store::Admission::ok &&
                       track_->log_and_count(demo_shard, &event, 1, now_ms());
            },
            *store_, 5.0);
    }

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
    demo_.reset();
    hub_->stop();
    housekeeping_.reset();

    // 3. Stopped: everything answered has been written; make it durable (close() also
    // answers any request still waiting for a group fsync while the router it answers
    // through still exists), and snapshot it so the next start replays nothing.
    ready_.store(false);
    persistence_->stop();
    log_->close();
    if (mirror_)
        mirror_->stop();  // a last flush: Redis gets everything answered
    persistence_->snapshot("shutdown");
    spdlog::info("tallyd stopped");
    return 0;
}

void App::stop() {
    ready_.store(false);
    stop_requested_.store(true);
    std::lock_guard lock(server_mutex_);
    if (server_)
        server_->stop();
}

}  // namespace tally::daemon
