#pragma once
// The write path: the one way an accepted input becomes state. Every caller - the tracking
// API, --demo, and every later ingest (metric points, StatsD, compatibility endpoints) -
// hands it already parsed, validated and normalised Events; it knows nothing of HTTP.
//
//   admit   the store's caps (sites, custom-event names per day), checked before anything
//           is written, so a refused event leaves no trace;
//   log     the events are appended to `writer`'s event log (write(2) only; with
//           durability.fsync=always the caller waits for the group fsync with
//           when_durable);
//   apply   they are counted in shard `writer`, with the log position reached, which is
//           what a snapshot saves so that recovery replays each record exactly once;
//   count   the ingest counters of self-telemetry.
//
// Threads: a writer (log writer and store shard, same index) belongs to one thread at a
// time - an I/O worker, or the demo's own - so nothing here waits on another thread.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"
#include "tally/base/rejection.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/metrics/derive.hpp"
#include "tally/metrics/engine.hpp"
#include "tally/store/store.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::write {

class WritePath {
  public:
    WritePath(store::Store& store, durability::EventLog& log, telemetry::Metrics& metrics,
              metrics::Engine& engine, const metrics::Derivations& derivations);

    /// nullopt when the store's caps let `event` in; else why not (a 429 for the caller).
    std::optional<Rejection> admit(std::size_t writer, const Event& event);

    /// Logs then applies then counts `count` admitted events. False, with nothing counted,
    /// when the log cannot be written (see log_unavailable()).
    bool write(std::size_t writer, const Event* events, std::size_t count, std::int64_t now_ms);

    /// admit() then write() for one event; nullopt when it was counted.
    std::optional<Rejection> admit_and_write(std::size_t writer, const Event& event,
                                             std::int64_t now_ms);

    /// Metric points: admits each (type conflicts, the series caps; a refused point goes to
    /// `refused` with its index in `points` and leaves no trace), logs the admitted ones in
    /// one append, then counts them. `points` is reordered: the admitted ones come first.
    /// Returns how many were admitted; nullopt, with nothing counted, when the log cannot
    /// be written.
    std::optional<std::size_t> write_points(std::size_t writer, std::span<MetricPoint> points,
                                            std::vector<BatchItemRejection>& refused,
                                            std::int64_t now_ms);

    /// A point Tally keeps of itself (request counts, latencies): counted, not logged.
    void record_own(std::size_t writer, MetricPoint& point, std::int64_t now_ms);

    /// True when answers must wait for a group fsync (durability.fsync=always).
    bool waits_for_fsync() const;
    /// Calls `done(durable)` once everything `writer` appended so far is on disk per the
    /// fsync mode (at once unless fsync=always; from the log's commit thread otherwise).
    void when_durable(std::size_t writer, durability::EventLog::Durable done);

    /// Why write() failed, and why an fsync that failed leaves an event unconfirmed.
    static const Rejection& log_unavailable();
    static const Rejection& log_not_synced();

  private:
    /// The automatic and derived metric points of events just counted.
    /// (applied with `logged`, the log position the events reached, for snapshots).
    void derive(std::size_t writer, const Event* events, std::size_t count, std::int64_t now_ms,
                const durability::LogPosition& logged);

    store::Store& store_;
    durability::EventLog& log_;
    telemetry::Metrics& metrics_;
    metrics::Engine& engine_;
    const metrics::Derivations& derivations_;
    // Per writer (each used by its writer's thread only): derived points, series ids.
    /// tally.ingest.throughput: `count` inputs of `kind` ("events", "points") accepted.
    void count_throughput(std::size_t writer, const char* kind, std::size_t count,
                          std::int64_t now_ms);

    struct Scratch {
        MetricPoint throughput;
        std::vector<MetricPoint> derived;
        std::vector<metrics::SeriesId> ids;
        std::vector<BatchItemRejection> refused;  // of derived points: dropped, counted
    };
    std::vector<std::unique_ptr<Scratch>> scratch_;
};

}  // namespace tally::write
