#pragma once
// FleetReader: the fleet's /dashboard and page-view series, read from the keys the mirrors
// write (redis/keys.hpp).
//
// What. Several tallyds mirror into one Redis; each holds only its own events in memory,
// Redis holds the sum and merge of all of them. With `query_source: redis` an instance
// answers /dashboard from Redis instead: page views are the sum of the days' counters,
// uniques one PFCOUNT over all the range's HyperLogLogs (their union, never a sum), the top
// lists the range's sorted sets summed, devices and events the days' hashes summed, and
// real_time_users the sum of every instance's `active:I` key. The result is a
// query::Dashboard, printed by the same to_json/to_csv as the local one, so for one
// instance whose mirror has caught up the two answers are byte for byte equal. The
// page-view series (read_pageview_series) likewise gathers the minute counters and hands
// them to query::timeseries, the local series' own aggregation.
//
// Threads. One background thread (a BackgroundLoop) owns one blocking hiredis connection
// and serves a bounded queue of reads in order. An HTTP I/O thread only queues
// (read_dashboard never waits on Redis: ingest shares those threads); the answer comes back
// through `done`, on the reader's thread. A full queue is refused at once (the caller
// answers 503), so a slow or absent Redis costs the daemon at most `queue_capacity` waiting
// requests.
//
// Redis down. Every answer read is kept (the last good one per site, range and series
// request, at most `kept_answers`). A read that fails is answered from the kept one, marked
// with its age (Dashboard::stale_seconds, or the series' `stale_seconds`) while it is at most
// `stale_max` old, and only then fails (the caller's 503). After `failures_to_open` (3) reads
// in a row that fail on the connection, the circuit opens: reads no longer try Redis at all
// (each would wait out its timeouts) and are answered from the kept figures at once, while
// the thread probes Redis (connect and PING) with a back-off doubling from `min_backoff` to
// `max_backoff`; the first probe that gets a PONG closes the circuit.
//
// Connection. Connect and command timeouts are `timeout` (1 s), so one read is bounded
// by a few timeouts. A broken connection is dropped and reopened by the next read; when
// that fails, reads fail at once until a back-off (doubling from `min_backoff` up to
// `max_backoff`) has passed. While idle the thread PINGs (or reconnects) every
// `health_interval`, so up() - which /readyz reports - recovers when Redis comes back
// even if no read arrives (a load balancer that trusts /readyz sends none).
//
// real_time_users. Each instance's figure is its own key, active:I, expiring a few seconds
// after the instance's last flush; the mirror lists the instances of a site in the set
// tally:{S}:instances (redis/keys.hpp), so finding the keys is one SMEMBERS, not a SCAN of the
// keyspace. The names found are kept per site for `instances_refresh` (10 s: a new
// instance is counted within that, within 1 s when none was known; one that left has an
// expired key, read as 0), so a read usually costs one MGET of known keys.
//
// Cost of one read (a day, a week or a month of N days), usually one or two round trips:
//   0. when the range holds today and the site's instance keys are stale: SMEMBERS;
//   1. one MULTI/EXEC, so every figure comes from the same moment of the mirrors' flushes
//      (each flush is itself a MULTI/EXEC per site): N GET, 2N HGETALL, two PFCOUNT of N
//      keys each, the MGET of the instance keys, and for each top list ZREVRANGE 0 9 (one
//      day) or the first `union_chunk` members of each day (several days);
//   2. one day, when a list has 10 members: ZRANGEBYSCORE on the 10th score, for the
//      members tied with it that ZREVRANGE left out (it breaks ties by member descending,
//      the dashboard ascending);
//      several days: the top of the sum by the threshold algorithm (UnionTop in the .cpp):
//      ZMSCORE of the members seen, and more of each day only while a member not seen yet
//      could still enter the 10 best; usually one round trip, never the whole union.
// Steps after 1 see the sorted sets a moment later than step 1 when a flush lands between.
// Every key of a site is in one Cluster slot ({S}), so all of it runs on one node.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/query/query.hpp"
#include "tally/redis/address.hpp"
#include "tally/redis/link.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::query {

struct FleetReaderOptions {
    redis::RedisAddress address;
    std::size_t queue_capacity = 64;
    std::chrono::milliseconds timeout{1000};  // connect, and each command's reply
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{2000};
    std::chrono::milliseconds health_interval{1000};
    std::chrono::milliseconds instances_refresh{10'000};  // how long SMEMBERS's findings hold
    std::size_t union_chunk = 64;  // the threshold algorithm's first read per day (doubles)
    int retention_days = 30;       // the mirror's: older days have left Redis (their keys' TTL)
    std::chrono::seconds stale_max{300};  // how old a kept answer may be (redis.stale_max_s)
    std::size_t failures_to_open = 3;     // connection failures in a row that open the circuit
    std::size_t kept_answers = 256;       // last good answers kept (each a few KiB)
};

class FleetReader {
  public:
    /// The answer of one read: the dashboard, or nullopt and why it failed.
    using Done = std::function<void(std::optional<query::Dashboard>, std::string error)>;

    /// Starts the thread, which connects at once (up() turns true when it has).
    explicit FleetReader(FleetReaderOptions options);
    /// stop().
    ~FleetReader();
    FleetReader(const FleetReader&) = delete;
    FleetReader& operator=(const FleetReader&) = delete;

    /// Queues the read of `site`'s dashboard over `range`; `done` runs later, once, on the
    /// reader's thread (or in stop(), with an error, for a read still queued then). False,
    /// and `done` never runs, when the queue is full or the reader stopped.
    bool read_dashboard(std::string site, query::DayRange range, Done done);

    /// The answer of a time-series read: the points (and their age when they are the kept
    /// ones), or nullopt and why it failed.
    struct Series {
        std::vector<query::Point> points;
        std::optional<std::int64_t> stale_seconds;
    };
    using SeriesDone = std::function<void(std::optional<Series>, std::string)>;
    /// Queues the read of `site`'s page views per bucket (`request.event_name` must be empty:
    /// Redis holds page views per minute, custom events only per day), aggregated exactly as
    /// query::timeseries does: the days' counters first (one pipeline), then one MGET of the
    /// minute counters of each day that has page views. Redis keeps a day for the retention,
    /// so at most that many days are read by minute. Same contract as read_dashboard().
    bool read_pageview_series(std::string site, query::TimeseriesRequest request, SeriesDone done);

    /// True while the connection works: the last command (a read or the idle PING) got
    /// its reply. A Redis error reply (say WRONGTYPE) fails that read but not up().
    bool up() const { return up_.load(std::memory_order_relaxed); }
    /// Why the connection is down ("" while up).
    std::string problem() const;
    std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }
    std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
    /// Reads answered from kept figures, and whether the circuit is open.
    std::uint64_t stale_answers() const { return stale_answers_.load(std::memory_order_relaxed); }
    bool circuit_open() const { return circuit_open_.load(std::memory_order_relaxed); }
    /// Adds the reader's figures to /metrics: reads(), errors(), stale_answers(), up() and
    /// circuit_open().
    void register_metrics(telemetry::Metrics& metrics) const;

    /// Answers every queued read with an error, and joins the thread. Idempotent.
    void stop();

    /// How long "no instance keys" is kept (at most; see instance_keys).
    static constexpr std::chrono::seconds kEmptyKept{1};
    /// Sites whose instance keys are kept; beyond, the cache starts again.
    static constexpr std::size_t kMaxCachedSites = 1024;

  private:
    struct Job {
        std::string site;
        query::DayRange range;
        Done done;                                       // a dashboard read, or
        std::optional<query::TimeseriesRequest> series;  // a page-view series read
        SeriesDone series_done;
    };
    using Clock = std::chrono::steady_clock;

    /// One turn of the thread: answers the queued reads; idle for `health_interval`, checks
    /// the connection instead.
    void step();
    /// The next queued read; nullopt when there is none or the reader is stopping.
    std::optional<Job> next_job();
    void serve(Job& job);
    /// The read against Redis: fills `dashboard` or `points`, or returns why it failed and
    /// whether the connection was at fault.
    std::string read_from_redis(Job& job, std::optional<query::Dashboard>& dashboard,
                                std::optional<std::vector<query::Point>>& points,
                                bool& connection_failed);
    /// Keeps a good answer under `key` (job_key in the .cpp), the oldest going when full.
    void keep(const std::string& key, const std::optional<query::Dashboard>& dashboard,
              const std::optional<std::vector<query::Point>>& points);
    /// For a failed read: the kept answer under `key`, filled in, and its age in seconds;
    /// nullopt when there is none or it is older than stale_max.
    std::optional<std::int64_t> recall(const std::string& key,
                                       std::optional<query::Dashboard>& dashboard,
                                       std::optional<std::vector<query::Point>>& points) const;
    void count_failure(bool connection_failed);
    /// The circuit is open: one probe when its back-off allows.
    void probe();
    void check_health();
    /// Opens the connection if there is none and the back-off allows; false with
    /// problem() set otherwise.
    bool connect();
    void disconnect(std::string why);
    query::Dashboard read(const Job& job);
    std::vector<query::Point> read_series(const Job& job);
    bool enqueue(Job job);
    /// The names of `site`'s active:I keys, from its instances set at most
    /// `instances_refresh` ago.
    const std::vector<std::string>& instance_keys(const std::string& site);

    const FleetReaderOptions options_;
    redis::Context context_;  // the reader thread's only
    Clock::time_point next_attempt_{};
    std::chrono::milliseconds backoff_;
    bool warned_ = false;  // this outage has been logged
    struct InstanceKeys {
        std::vector<std::string> keys;
        Clock::time_point found;
    };
    std::unordered_map<std::string, InstanceKeys> instance_keys_;  // by site
    Clock::time_point last_served_{};  // when the last read was answered
    std::size_t failures_in_a_row_ = 0;
    Clock::time_point next_probe_{};
    std::chrono::milliseconds probe_backoff_;
    struct Kept {
        std::optional<query::Dashboard> dashboard;
        std::optional<std::vector<query::Point>> points;
        Clock::time_point at;
    };
    std::unordered_map<std::string, Kept> kept_;  // by job_key()

    std::atomic<bool> up_{false};
    std::atomic<std::uint64_t> reads_{0};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> stale_answers_{0};
    std::atomic<bool> circuit_open_{false};

    mutable std::mutex mutex_;  // guards what follows
    std::deque<Job> queue_;
    std::string problem_ = "not connected yet";
    bool stopping_ = false;  // reads are refused; the loop takes no more of the queue

    BackgroundLoop loop_;  // last: started once everything above exists, stopped first
};

}  // namespace tally::query
