#pragma once
// The daemon: owns every part and wires them in the direction data flows
// (http -> ingest -> store -> durability; queries read the store).

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "demo.hpp"
#include "periodic.hpp"
#include "persistence.hpp"
#include "tally/daemon/config.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/rejects_log.hpp"
#include "tally/http/router.hpp"
#include "tally/http/server.hpp"
#include "tally/base/event.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/base/time.hpp"
#include "tally/ingest/visitor_hash.hpp"
#include "tally/live/hub.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/mirror/mirror.hpp"
#include "tally/query/fleet_reader.hpp"
#include "tally/store/store.hpp"

namespace tally::daemon {


/// POST /track/*: parse, admit, log, count, answer.
class TrackApi {
  public:
    TrackApi(const Config& config, const ingest::VisitorHasher& hasher, store::Store& store,
             durability::EventLog& log, durability::RejectsLog& rejects, telemetry::Metrics& metrics,
             std::size_t workers);

    // Asynchronous: with durability.fsync=always the answer comes after the group fsync.
    void pageview(const http::Request& request, http::Responder respond);
    void event(const http::Request& request, http::Responder respond);
    void batch(const http::Request& request, http::Responder respond);

    /// The one path of every admitted event (tracking routes and --demo): append to
    /// `writer`'s log, then count in shard `writer` with the log position reached (what a
    /// snapshot saves), then the ingest metrics. False, with nothing counted, when the log
    /// cannot be written.
    bool log_and_count(std::size_t writer, const Event* events, std::size_t count,
                       std::int64_t now);

    /// The client's address: the socket peer, or the last X-Forwarded-For hop that is not a
    /// trusted proxy when the peer is one.
    std::string client_ip(const http::Request& request) const;

  private:
    using Parser = std::optional<Rejection> (*)(std::string_view,
                                                        const ingest::RequestContext&,
                                                        const ingest::VisitorHasher&,
                                                        Event&, ingest::ParseBuffers&);
    void single(const http::Request& request, http::Responder respond, std::string_view route,
                Parser parse);
    /// Gives `response` (a 200) once the request's events are in the log per the mode.
    void answer_when_logged(const http::Request& request, http::Responder respond,
                            http::Response&& response);
    /// The commit thread's answer: `response` when the fsync succeeded, else a 503.
    void answer_synced(http::Responder respond, http::Response&& response, bool durable);
    http::Response reject(const http::Request& request, std::string_view route, unsigned status,
                          const Rejection& rejection);
    http::Response preflight(const http::Request& request) const;
    void add_cors(const http::Request& request, http::Response& response) const;
    static Rejection admission_rejection(store::Admission admission,
                                                 const Event& event);

    const Config& config_;
    const ingest::VisitorHasher& hasher_;
    store::Store& store_;
    durability::EventLog& log_;
    durability::RejectsLog& rejects_;
    telemetry::Metrics& metrics_;
    // Per I/O worker: what parsing reuses from one request to the next (the parser's
    // buffers, the Events' string capacity, the batch vectors), so the hot path allocates
    // little. Only that worker's thread touches its Scratch.
    struct Scratch {
        ingest::ParseBuffers buffers;
        Event event;
        ingest::BatchResult batch;
        std::vector<std::size_t> item_index;
    };
    std::vector<Scratch> scratch_;
};

/// The read API (SPEC §3), behind the token when one is set.
class ReadApi {
  public:
    /// `mirror`: null without --redis. `redis_reader`: with query_source redis, what
    /// /dashboard reads (else null).
    ReadApi(const Config& config, const store::Store& store, telemetry::Metrics& metrics,
            const std::atomic<bool>& ready, const durability::EventLog& log,
            const mirror::Mirror* mirror, query::FleetReader* redis_reader = nullptr);

    /// nullopt when the request may read; else the 401 to send.
    std::optional<http::Response> check_token(const http::Request& request) const;
    /// The token check and ?site= of every read: the site, or nullopt with the 401 or 400
    /// to send in `error`.
    std::optional<std::string> authorize_site(const http::Request& request,
                                              http::Response& error) const;

    http::Response dashboard(const http::Request& request) const;
    /// The same from Redis, answered on the reader's thread; 503 when Redis fails or too
    /// many reads wait.
    void dashboard_from_redis(const http::Request& request, http::Responder respond) const;
    http::Response timeseries(const http::Request& request) const;
    /// /timeseries/pageviews from Redis's minute counters (query_source redis): the fleet's.
    void timeseries_from_redis(const http::Request& request, http::Responder respond) const;
    http::Response funnel(const http::Request& request) const;
    http::Response active_users(const http::Request& request) const;
    http::Response page_views(const http::Request& request) const;
    http::Response readyz(const http::Request& request) const;
    http::Response metrics(const http::Request& request) const;

  private:
    /// What a /dashboard request asks for, checked (token, ?site=, range, ?format=).
    /// A checked /timeseries request: the site and what to compute; nullopt with the
    /// 400 or 401 in `error` otherwise.
    struct TimeseriesQuery {
        std::string site;
        query::TimeseriesRequest request;
    };
    std::optional<TimeseriesQuery> timeseries_query(const http::Request& request,
                                                    http::Response& error) const;
    http::Response local_timeseries(const TimeseriesQuery& query) const;
    struct DashboardQuery {
        std::string site;
        query::DayRange range;
        bool csv = false;
    };
    /// The query, or nullopt with the 401 or 400 to send in `error`.
    std::optional<DashboardQuery> dashboard_query(const http::Request& request,
                                                  http::Response& error) const;
    static http::Response dashboard_response(const query::Dashboard& dashboard,
                                             const DashboardQuery& query);

    const Config& config_;
    const store::Store& store_;
    telemetry::Metrics& metrics_;
    const std::atomic<bool>& ready_;
    const durability::EventLog& log_;
    const mirror::Mirror* mirror_;      // null without --redis
    query::FleetReader* redis_reader_;  // null unless query_source is redis
};

/// GET / and the files under web_root; nothing outside it is ever served.
class StaticFiles {
  public:
    explicit StaticFiles(const std::string& web_root);
    http::Response serve(const http::Request& request) const;

  private:
    std::string web_root_;  // canonical
};

class App {
  public:
    explicit App(Config config);
    ~App();
    /// Replays the log, serves until stop(), then flushes. Returns the exit code.
    int run();
    /// Thread-safe: begins a graceful shutdown.
    void stop();

  private:
    void build_routes();

    Config config_;
    std::size_t workers_;  // I/O threads
    std::size_t shards_;   // workers_ + 1: the last shard and log writer belong to --demo
    std::atomic<bool> ready_{false};
    std::atomic<bool> stop_requested_{false};  // a signal may come before the server exists
    std::mutex server_mutex_;                  // guards server_ between run() and stop()
    std::unique_ptr<ingest::VisitorHasher> hasher_;
    std::unique_ptr<store::Store> store_;
    std::unique_ptr<durability::EventLog> log_;
    std::unique_ptr<durability::RejectsLog> rejects_;
    std::unique_ptr<Persistence> persistence_;  // snapshots, recovery, retention
    std::unique_ptr<mirror::Mirror> mirror_;    // null without --redis; started after recovery
    std::unique_ptr<telemetry::Metrics> metrics_;
    std::unique_ptr<TrackApi> track_;
    std::unique_ptr<ReadApi> read_;
    std::unique_ptr<StaticFiles> static_files_;
    http::Router router_;
    http::ServerStats server_stats_;
    std::unique_ptr<http::Server> server_;
    // After server_: destroyed (stopped) before it, while the connections it sends to exist.
    std::unique_ptr<live::Hub> hub_;
    std::unique_ptr<DemoTraffic> demo_;
    std::unique_ptr<Periodic> housekeeping_;
    // With query_source redis. Last, so destroyed first: stopping it answers the reads
    // still queued, through the router and metrics above.
    std::unique_ptr<query::FleetReader> redis_reader_;
};

}  // namespace tally::daemon
