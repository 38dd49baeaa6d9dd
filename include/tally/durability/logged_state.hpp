#pragma once
// A state kept beside the Store that is rebuilt from the same event log: the metrics
// engine (its points are log records; its automatic series come from the logged events).
//
// Persistence drives it: at start it loads the state's newest snapshot, which says up to
// which position of each log writer it holds; the log is replayed once from the earliest
// position either the Store or this state needs, and each record goes to whichever of the
// two does not hold it yet. The state is snapshotted whenever the Store is.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"
#include "tally/store/log_position.hpp"

namespace tally::durability {

class LoggedState {
  public:
    virtual ~LoggedState() = default;

    /// Loads the newest valid snapshot from `dir` (damaged ones are set aside). Returns the
    /// log position per writer it holds; empty when none was loaded (replay everything).
    virtual std::vector<store::LogPosition> load(const std::filesystem::path& dir) = 0;
    /// A record after the loaded position. May be called from several threads at once
    /// (one per writer).
    virtual void replay(std::size_t writer, const Event& event, std::int64_t now_ms) = 0;
    virtual void replay(std::size_t writer, MetricPoint& point, std::int64_t now_ms) = 0;
    /// Replay is over: each writer's log ends at `ends[w]`.
    virtual void recovered(const std::vector<store::LogPosition>& ends) = 0;
    /// Writes a snapshot into `dir`, keeping the newest `kept`. False (logged) on error.
    virtual bool save(const std::filesystem::path& dir, std::size_t kept, std::int64_t now_ms) = 0;
    /// The positions every kept snapshot of this state still needs the log from (the
    /// element-wise minimum over them); empty when unsure (keep every segment).
    virtual std::vector<store::LogPosition> needed_from(const std::filesystem::path& dir) = 0;
    /// Inputs counted so far (a snapshot is due after snapshot_events of them).
    virtual std::uint64_t applied() const = 0;
    /// Drops what left retention.
    virtual void retain(std::int64_t now_ms) = 0;
};

}  // namespace tally::durability
