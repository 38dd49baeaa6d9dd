#pragma once
// Persistence: the daemon's snapshots, its recovery from them, and retention.
//
// Recovery (start): load the newest valid snapshot in <data-dir>/snapshots (a corrupt one
// is renamed *.snap.damaged and the previous one used), then replay each log writer from
// the position the snapshot saved for it, skipping the records its site marks say it
// already holds (snapshot.hpp); writer w's records go to shard w % shards, as they did
// when written. Then every shard's recorded position is set to its writer's log end, and
// writers past the shard count (a previous run had more threads) keep their end in
// `extra_positions_`, so the next snapshot says their logs are wholly inside it.
//
// Snapshots (own thread, checked every second): every durability.snapshot_interval_s or
// durability.snapshot_events events, whichever first, and once more on clean shutdown.
// A position a snapshot saves for shard i (the shard's, and each site mark) is the one
// the shard recorded after the last batch it counted (TrackApi: log append, then
// Store::apply with the append's end), read under the same lock hold in which the
// snapshot copies that state. So the writer's records before it are in the saved state
// and none after it: replaying from it, with the filter, counts every record exactly once.
//
// Retention (same thread, at start and every minute): day states older than
// retention_days are folded into week and month roll-ups and leave memory (Store::retire);
// roll-ups older than rollup_retention_days go; log segments go when every kept snapshot
// starts after them and all their events are older than retention_days. Snapshots beyond
// durability.snapshots_kept are deleted as each new one is written.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tally/daemon/config.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/store/store.hpp"

namespace tally::daemon {

class Persistence {
  public:
    Persistence(const Config& config, store::Store& store, durability::EventLog& log);
    ~Persistence();  // stops the thread
    Persistence(const Persistence&) = delete;
    Persistence& operator=(const Persistence&) = delete;

    struct Recovery {
        std::filesystem::path snapshot;                                      // empty: none loaded
        std::vector<std::pair<std::filesystem::path, std::string>> skipped;  // corrupt ones
        durability::ReplayStats replay;  // records read after the snapshot's positions
        std::uint64_t in_snapshot = 0;   // of which the snapshot's site marks already held
        double ms = 0;
    };
    /// Loads the newest valid snapshot, replays the log after it, opens the log and runs
    /// retention once. Call once, before serving.
    Recovery recover(std::int64_t now_ms);

    /// Starts the snapshot and retention thread.
    void start();
    /// Stops it (a snapshot in progress completes first).
    void stop();

    /// Writes a snapshot now. False (logged) on an I/O error.
    bool snapshot(const char* why);
    /// Retention at `now_ms`.
    void retain(std::int64_t now_ms);

  private:
    void run();
    durability::SnapshotMeta meta(std::int64_t now_ms) const;

    const Config& config_;
    store::Store& store_;
    durability::EventLog& log_;
    std::filesystem::path dir_;
    std::vector<durability::LogPosition> extra_positions_;  // writers >= shard count

    std::uint64_t events_at_last_ = 0;
    std::chrono::steady_clock::time_point last_snapshot_;
    std::chrono::steady_clock::time_point last_retention_;

    std::mutex mutex_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tally::daemon
