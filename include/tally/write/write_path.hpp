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
#include <optional>

#include "tally/base/event.hpp"
#include "tally/base/rejection.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/store/store.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::write {

class WritePath {
  public:
    WritePath(store::Store& store, durability::EventLog& log, telemetry::Metrics& metrics);

    /// nullopt when the store's caps let `event` in; else why not (a 429 for the caller).
    std::optional<Rejection> admit(std::size_t writer, const Event& event);

    /// Logs then applies then counts `count` admitted events. False, with nothing counted,
    /// when the log cannot be written (see log_unavailable()).
    bool write(std::size_t writer, const Event* events, std::size_t count, std::int64_t now_ms);

    /// admit() then write() for one event; nullopt when it was counted.
    std::optional<Rejection> admit_and_write(std::size_t writer, const Event& event,
                                             std::int64_t now_ms);

    /// True when answers must wait for a group fsync (durability.fsync=always).
    bool waits_for_fsync() const;
    /// Calls `done(durable)` once everything `writer` appended so far is on disk per the
    /// fsync mode (at once unless fsync=always; from the log's commit thread otherwise).
    void when_durable(std::size_t writer, durability::EventLog::Durable done);

    /// Why write() failed, and why an fsync that failed leaves an event unconfirmed.
    static const Rejection& log_unavailable();
    static const Rejection& log_not_synced();

  private:
    store::Store& store_;
    durability::EventLog& log_;
    telemetry::Metrics& metrics_;
};

}  // namespace tally::write
