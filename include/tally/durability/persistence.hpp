#pragma once
// Persistence: a Store's snapshots, its recovery from them and the event log, and retention.
//
// Recovery (start): load the newest valid snapshot in the snapshot directory (a corrupt one
// is renamed *.snap.damaged and the previous one used), then replay each log writer from
// the position the snapshot saved for it, skipping the records its site marks say it
// already holds (snapshot.hpp); writer w's records go to shard w % shards, as they did
// when written. Then every shard's recorded position is set to its writer's log end, and
// writers past the shard count (a previous run had more threads) keep their end in
// `extra_positions_`, so the next snapshot says their logs are wholly inside it.
//
// Snapshots (own thread, checked every second): every snapshot_interval or snapshot_events
// events, whichever first, and whenever snapshot() is called (the daemon does on clean
// shutdown). A position a snapshot saves for shard i (the shard's, and each site mark) is
// the one the shard recorded after the last batch it counted (ingest appends a batch to
// the log, then Store::apply()s it with the append's end), read under the same lock hold
// in which the snapshot copies that state. So the writer's records before it are in the
// saved state and none after it: replaying from it, with the filter, counts every record
// exactly once.
//
// Funnel runs. A snapshot names the runs holding each day's funnel steps beyond memory;
// a run that is missing or damaged is reported, and that day's funnel is rebuilt from the
// log: its writers replay from their start, and the records the snapshot held of that site
// and day are recorded into its funnel alone. Retention keeps every segment with an event
// of a kept day, so the rebuild is whole; the day is marked incomplete until it is.
//
// Retention (same thread, at start and every minute): day states older than
// retention_days are folded into week and month roll-ups and leave memory (Store::retire);
// roll-ups older than rollup_retention_days go; log segments go when every kept snapshot
// starts after them and all their events are older than retention_days. Snapshots beyond
// snapshots_kept are deleted as each new one is written.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/logged_state.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/store/store.hpp"

namespace tally::durability {

struct PersistenceOptions {
    std::filesystem::path snapshot_dir;           // where snapshots are written and loaded
    std::chrono::seconds snapshot_interval{300};  // 0 = only when snapshot() is called
    std::uint64_t snapshot_events = 1'000'000;    // or after this many events; 0 = off
    std::size_t snapshots_kept = 2;
    int retention_days = 30;          // day states and log segments
    int rollup_retention_days = 400;  // week and month roll-ups
    /// Where the funnel runs are (funnel_spiller.hpp); empty: days hold no runs.
    std::filesystem::path funnel_dir;
};

class Persistence {
  public:
    /// `side`: a state rebuilt from the same log beside the Store (the metrics engine), or
    /// null.
    Persistence(PersistenceOptions options, store::Store& store, EventLog& log,
                LoggedState* side = nullptr);
    ~Persistence();  // stops the thread
    Persistence(const Persistence&) = delete;
    Persistence& operator=(const Persistence&) = delete;

    struct Recovery {
        std::filesystem::path snapshot;                                      // empty: none loaded
        std::vector<std::pair<std::filesystem::path, std::string>> skipped;  // corrupt ones
        ReplayStats replay;             // records read after the snapshot's positions
        std::uint64_t in_snapshot = 0;  // of which the snapshot's site marks already held
        /// Days whose funnel runs did not open, rebuilt from the log (the held records of
        /// their site and day): with why.
        std::vector<FunnelToRebuild> funnels_rebuilt;
        double ms = 0;
    };
    /// Loads the newest valid snapshot, replays the log after it, opens the log and runs
    /// retention once. Call once, before serving.
    Recovery recover(std::int64_t now_ms);

    /// Starts the snapshot and retention thread. Call once, after recover().
    void start();
    /// Stops it (a snapshot in progress completes first).
    void stop();

    /// Writes a snapshot now. False (logged) on an I/O error.
    bool snapshot(const char* why);
    /// Retention at `now_ms`.
    void retain(std::int64_t now_ms);

  private:
    /// The thread's step: a snapshot when one is due, retention once a minute.
    void tick();
    SnapshotMeta meta(std::int64_t now_ms) const;
    /// Replays the log into the Store (after `meta`'s positions) and the side state (after
    /// `side_from`), from the earliest of the two.
    ReplayStats replay(const SnapshotMeta& meta, const std::vector<LogPosition>& side_from,
                       std::int64_t now_ms, std::uint64_t& in_snapshot);
    /// Logs the days of `meta.funnels_to_rebuild` and readies the store to rebuild them.
    void begin_funnel_rebuilds(const SnapshotMeta& meta);

    PersistenceOptions options_;
    store::Store& store_;
    EventLog& log_;
    LoggedState* side_;
    std::uint64_t side_at_last_ = 0;
    std::vector<LogPosition> extra_positions_;  // writers >= shard count

    std::uint64_t events_at_last_ = 0;
    std::chrono::steady_clock::time_point last_snapshot_;
    std::chrono::steady_clock::time_point last_retention_;

    BackgroundLoop loop_;  // last: stopped before the members its step uses go
};

}  // namespace tally::durability
