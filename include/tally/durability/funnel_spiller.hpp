#pragma once
// FunnelSpiller: keeps the funnel logs in memory within their budget by moving the largest
// to runs on disk (store/funnel_run.hpp), off the ingest path.
//
// Every interval (100 ms), for each shard: when its logs hold more than its share of the budget
// (limits.funnel_memory_mb / shards), the largest is taken (a View, under the shard's lock:
// pointer copies), written to a run with no lock held, and handed back: the day drops the
// steps the run holds and keeps the few that arrived meanwhile. That repeats until the
// shard holds half its share, so a busy day moves in large runs, not a run per interval.
// Between passes a shard may go past its share by what one interval brings.
//
// Crash safety. A run is whole once it has its name (funnel_run_files.hpp); a snapshot
// names the runs of each day it saves. After kill -9 the runs written since that snapshot
// are named by nothing: tidy() deletes them, and the replay of the log after the snapshot
// counts their steps again, in memory. So a run never holds a step twice, and a step is
// never lost.
//
// Files: <data-dir>/funnels/f<shard>-<day>-<sequence:08>.run, sequence counting up across
// restarts (tidy() starts after the highest on disk).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

#include "tally/base/background_loop.hpp"

namespace tally::store {
class Store;
}
namespace tally::telemetry {
class Metrics;
}

namespace tally::durability {

struct FunnelSpillOptions {
    std::filesystem::path dir;  // <data-dir>/funnels
    std::size_t memory_budget_bytes = std::size_t{128} << 20;
    std::chrono::milliseconds interval{100};
};

class FunnelSpiller {
  public:
    FunnelSpiller(FunnelSpillOptions options, store::Store& store);
    ~FunnelSpiller() { stop(); }
    FunnelSpiller(const FunnelSpiller&) = delete;
    FunnelSpiller& operator=(const FunnelSpiller&) = delete;

    const std::filesystem::path& dir() const { return options_.dir; }

    /// After recovery: deletes the runs (and half-written .tmp files) no day of the store
    /// holds, and numbers new runs after the highest found. Returns the files deleted.
    std::size_t tidy();
    void start();
    void stop() { loop_.stop(); }

    /// One pass over every shard (the loop's step; tests call it). Returns the runs written.
    std::size_t move_once();

    /// Runs written, steps moved, failures, and per structure bytes in memory and on disk.
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    /// Moves shard `shard`'s largest log when the shard holds more than `budget` bytes.
    bool move_largest(std::size_t shard, std::size_t budget);

    FunnelSpillOptions options_;
    store::Store& store_;
    std::atomic<std::uint64_t> next_sequence_{1};
    std::atomic<std::uint64_t> runs_written_{0};
    std::atomic<std::uint64_t> steps_moved_{0};
    std::atomic<std::uint64_t> failures_{0};
    std::mutex problem_mutex_;
    bool failing_ = false;  // the first failure of an episode is logged, then the recovery
    BackgroundLoop loop_;
};

}  // namespace tally::durability
