#pragma once
// Mirror: ships the store's figures to Redis as increments and merges, off the ingest path, so
// that several tallyds can share one Redis (the key layout: redis/keys.hpp).
//
// One thread (a BackgroundLoop), one blocking hiredis connection. Every flush interval
// (redis.flush_ms, 250 ms) it walks the sites, finds the days that changed since it last
// shipped them (the sum over shards of DayState::version), reads those days from the store
// under each shard's lock in turn - the same short reads a dashboard makes, so ingest never
// waits on Redis - and sends, per site, one pipelined transaction:
//
//   MULTI
//     INCRBY   count:pageviews:D, :D:HH, :D:HH:MM      the changes of the counters
//     HINCRBY  devices:D, events:D                      ...
//     ZINCRBY  pages:D, referrers:D, countries:D        ... of the top lists
//     SET scratch <dense HLL>; PFMERGE hll:visitors:D scratch   (and sessions; DEL scratch)
//     HSET     mirror:I:D field value ...               the checkpoint (day_image.hpp)
//     EXPIREAT every key written                        the day's end plus the retention
//     SET      active:I n PX ...                         this instance's real-time users
//     PUBLISH  realtime {...}                           the batch, for subscribers
//   EXEC
//
// Exactly once (day_image.hpp): the increments and the checkpoint move together, and on
// every (re)connection the checkpoints are read back before anything is shipped, so a
// transaction whose answer was lost (a killed tallyd, a dropped connection, a Redis
// restart) is neither repeated nor missed.
//
// Redis away: the thread reconnects with exponential back-off (100 ms doubling to 10 s);
// meanwhile it still diffs, so status() shows the pending fields (bounded by the keys, not
// by the events) and the lag; ingest and local dashboards carry on from memory. A slow Redis
// only slows this thread: commands time out after redis_command_timeout and count as a lost
// connection.

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/mirror/day_image.hpp"
#include "tally/redis/address.hpp"
#include "tally/redis/link.hpp"
#include "tally/redis/pipeline.hpp"
#include "tally/store/store.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::mirror {

struct MirrorOptions {
    redis::RedisAddress address;
    std::string instance_id;
    std::chrono::milliseconds flush_interval{250};
    int retention_days = 30;  // a day's keys expire this many days after its end
    std::chrono::milliseconds connect_timeout{1000};
    std::chrono::milliseconds command_timeout{5000};
    std::chrono::milliseconds min_backoff{100};
    std::chrono::milliseconds max_backoff{10'000};
};

/// What /readyz and /metrics show.
struct MirrorStatus {
    bool up = false;
    std::string problem;               // the last connection or command error, "" when up
    std::uint64_t pending_fields = 0;  // Redis fields behind the store at the last flush
    double lag_seconds = 0;            // since the mirror last had nothing pending
    std::uint64_t flushes = 0;         // transactions that succeeded
    std::uint64_t failures = 0;        // flush attempts lost to Redis errors
    std::uint64_t commands = 0;        // Redis commands sent
    std::uint64_t connects = 0;        // connections made (the first included)
};

class Mirror {
  public:
    Mirror(MirrorOptions options, const store::Store& store);
    ~Mirror();
    Mirror(const Mirror&) = delete;
    Mirror& operator=(const Mirror&) = delete;

    /// Starts the flushing thread: a flush every flush_interval, the first one interval
    /// after the start.
    void start();
    /// The thread ends, then a last flush (one connection attempt if down). Idempotent; a
    /// mirror never started does nothing.
    void stop();

    MirrorStatus status() const;
    /// Adds the mirror's figures to /metrics (tally_redis_*), read from status().
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    static constexpr std::uint64_t kNotCounted = ~std::uint64_t{0};
    struct DayMirror {
        std::uint64_t version = 0;  // store versions summed over shards, as last shipped
        bool loaded = false;        // shipped holds the checkpoint read since the connection
        Shipped shipped;
        // While Redis is away: the fields pending at store version counted_version, so an
        // unchanged day is not read again every flush just to count them.
        std::uint64_t counted_version = kNotCounted;
        std::uint64_t pending_fields = 0;
    };
    struct SiteMirror {
        std::map<std::int64_t, DayMirror> days;
        std::uint64_t active_sent = 0;  // real-time users last written
        std::int64_t active_sent_at_ms = 0;
    };
    /// One turn of the thread: connect when the back-off allows, then flush.
    void step();
    /// flush_all(), with an exception (memory running out) counted as a lost connection.
    bool guarded_flush();
    /// One pass over every site. Returns false when the connection was lost.
    bool flush_all();
    /// One site's transaction (or, without a connection, its pending count). Adds the
    /// fields still pending to `pending`. Returns false when the connection was lost.
    bool flush_site(const std::string& site, SiteMirror& mirror, std::uint64_t& pending);

    // The steps of flush_site(), in order, each filling in the SiteFlush.
    struct SiteFlush;
    /// The store versions of each of `site`'s days, summed over shards.
    std::map<std::int64_t, std::uint64_t> versions_of(const std::string& site) const;
    /// Without a connection: the fields pending, a day re-read only when it changed.
    std::uint64_t count_pending(SiteFlush& flush, SiteMirror& mirror) const;
    /// The days to ship and whether the real-time users are due; false when neither.
    bool plan(SiteFlush& flush, SiteMirror& mirror) const;
    /// Reads the checkpoints of the days to ship not read since connecting. False when
    /// the connection was lost.
    bool load_checkpoints(const SiteFlush& flush, SiteMirror& mirror);
    /// The days to ship as the store holds them now, and what Redis lacks of them.
    void diff_days(SiteFlush& flush, SiteMirror& mirror) const;
    /// Queues the site's transaction: MULTI, then every day's commands and the site's own.
    void queue_transaction(redis::Pipeline& pipeline, const SiteFlush& flush,
                           const SiteMirror& mirror) const;
    /// Sends the transaction and reads what became of it; when it ran, records the days as
    /// shipped. False when the connection was lost.
    bool take_replies(redis::Pipeline& pipeline, const SiteFlush& flush, SiteMirror& mirror,
                      std::uint64_t& pending);

    /// The days `days` of `site` as the store holds them now.
    std::map<std::int64_t, DayImage> images_of(const std::string& site,
                                               const std::vector<std::int64_t>& days) const;
    bool connect();
    void disconnect(std::string problem);

    MirrorOptions options_;
    const store::Store& store_;
    std::map<std::string, SiteMirror, std::less<>> sites_;  // the thread's own
    redis::Context context_;                                // null while Redis is away
    std::chrono::milliseconds backoff_;
    std::chrono::steady_clock::time_point next_connect_;
    mutable std::mutex status_mutex_;  // guards what follows: status() reads it
    MirrorStatus status_;
    std::int64_t caught_up_ms_ = 0;  // when a flush last left nothing pending
    bool started_ = false;           // start() ran, stop() not yet

    BackgroundLoop loop_;  // last: its thread stops before the members above go
};

}  // namespace tally::mirror
