#pragma once
// The report scheduler: a background loop that sends each report's run once per due time.
//
// Every round (once a second) it reads the stored reports and, for each, the last due time
// at or before now. A report keeps `after`, the time after which due times are still to be
// sent; a due time later than `after` is sent, and `after` moves to it. So:
//   - a new report's first run is its first due time after its creation (`after` starts at
//     the document's updated_at; a change of schedule starts it over the same way);
//   - runs missed while the daemon was down are sent once at start: only the latest of
//     them, since `after` jumps to it (a report of last hour's traffic, not one per hour);
//   - never twice: the state is written (to runs.state.tmp, fsynced, renamed, directory
//     fsynced) BEFORE a run is queued, so a crash between the two loses that run rather
//     than sending it again after the restart. A round whose state cannot be written
//     queues nothing and tries again the next round.
//
// The state file, data_dir/reports/runs.state, holds one entry a report:
//
//   {"format": 1, "reports": {"<id>": {"schedule": "daily@07:00", "after": ms,
//                                      "last_due": ms | null}}}
//
// "schedule" tells a change of schedule from the same one; "last_due" is what GET shows as
// last_run. Entries of deleted reports are dropped at the next round. A damaged state file
// is moved aside and logged, and every report then starts over from the time of loading:
// a run may be missed, none is sent twice.
//
// A run's body (the dashboard's data over the period) is made on this loop's thread and
// handed to the outbox, which POSTs it from its own thread: a slow or dead destination
// never holds the loop up. run_now() makes one on the caller's thread (an API request)
// without touching the state.
//
// Cost: a round copies the reports (at most kMaxReports, small documents) and does a few
// multiplications per report; the state file is written only when it changes (a run, a new,
// changed or deleted report).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tally/base/background_loop.hpp"
#include "tally/delivery/outbox.hpp"
#include "tally/documents/document_store.hpp"
#include "tally/reports/report.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::reports {

inline constexpr const char* kStateFileName = "runs.state";

struct ReportServiceOptions {
    std::filesystem::path dir;  // data_dir/reports: where runs.state lives
    std::chrono::milliseconds interval{1000};
};

/// What the service works with. `send` queues a POST (delivery::Outbox::send in the
/// daemon); `clock` is the wall clock in epoch ms (tally::now_ms in the daemon).
struct ReportServiceParts {
    documents::DocumentStore& reports;
    const documents::DocumentStore& dashboards;
    DashboardData data;
    std::function<bool(delivery::Delivery)> send;
    std::function<std::int64_t()> clock;
};

class ReportService {
  public:
    ReportService(ReportServiceOptions options, ReportServiceParts parts);
    ~ReportService();
    ReportService(const ReportService&) = delete;
    ReportService& operator=(const ReportService&) = delete;

    /// Reads runs.state (absent: every report starts at its updated_at).
    void load();
    void start();
    void stop();

    /// One round: every run due since its report's last one is queued once. Returns how
    /// many were queued. The loop's step; tests call it with their own clock.
    std::size_t run_due();

    struct Status {
        std::optional<std::int64_t> last_run;  // the last due time sent
        std::int64_t next_run = 0;             // the next due time to be sent
    };
    Status status(const nlohmann::json& report) const;

    /// Queues a run now: the period ending at the last due time at or before now. The
    /// schedule's state is left alone. `error` is set when nothing was queued.
    struct Queued {
        Run run;  // its body moved to the outbox: body is empty, bytes says how big it was
        std::size_t bytes = 0;
        std::string error;
        bool refused = false;  // made, but the outbox would not take it (full, bad url)
    };
    Queued run_now(const nlohmann::json& report);

    std::uint64_t runs_sent() const { return counters_->scheduled.load(); }
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    struct Entry {
        std::string schedule;
        std::int64_t after = 0;
        std::optional<std::int64_t> last_due;
        friend bool operator==(const Entry&, const Entry&) = default;
    };
    using State = std::map<std::string, Entry>;
    struct Counters {
        std::atomic<std::uint64_t> scheduled{0};    // runs queued at their due time
        std::atomic<std::uint64_t> manual{0};       // runs queued through run_now
        std::atomic<std::uint64_t> failed{0};       // runs that could not be made or queued
        std::atomic<std::uint64_t> undelivered{0};  // runs the outbox gave up on
        std::atomic<std::uint64_t> state_write_failures{0};
    };

    Entry effective_locked(const nlohmann::json& report) const;
    std::optional<Run> make(const nlohmann::json& report, std::int64_t due_ms, Trigger trigger,
                            std::string& error) const;
    bool queue(Run run, Trigger trigger);
    bool write_state(const State& state);

    ReportServiceOptions options_;
    ReportServiceParts parts_;
    std::filesystem::path state_path_;
    // Shared with the outbox's done callbacks, which may outlive this service.
    std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
    std::mutex round_mutex_;    // one round at a time
    mutable std::mutex mutex_;  // guards state_ and floor_ms_
    State state_;
    // Reports with no entry start at max(updated_at, floor_ms_): the time of loading when
    // the state file was damaged.
    std::int64_t floor_ms_ = INT64_MIN;
    bool write_failing_ = false;  // the last state write failed (logged once)
    BackgroundLoop loop_;         // last: stopped first
};

}  // namespace tally::reports
