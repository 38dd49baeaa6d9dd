#pragma once
// The event log: append-only files in <data-dir>/log, one writer per ingest shard so that
// appends never contend. An event is answered 200 only after its record is in the log.
//
// Files are named w<shard>-<segment:08>.log; a writer starts a new segment when the
// current one passes segment_bytes. Records are framed and checksummed (record.hpp); the
// records of one append share a frame, so replay counts an append wholly or not at all.
//
// fsync modes (durability.fsync):
//   always   - group commit. append() only write(2)s; the caller then hands its answer to
//              when_durable(), which wakes the writer's commit thread; that answers it after
//              an fsync that began after the append. One fsync answers every request queued
//              while the previous one ran, so N concurrent requests cost about one fsync,
//              not N, and no I/O thread ever waits for the disk.
//   interval - a background thread fsyncs every writer every interval (default 100 ms);
//              when_durable() answers at once.
//   never    - the kernel decides; when_durable() answers at once.
// In every mode the write() has returned before the answer, so a killed daemon loses
// nothing the kernel holds; only a machine crash can lose the unsynced tail (none of it
// answered 200 with `always`).
//
// Disk trouble. A failed write (ENOSPC, EFBIG, EIO...) returns false and leaves the file
// as it was: a short write that left part of a record is cut back to the last good offset
// (and, should that cut fail too, it is retried before the next write, which never lands
// after garbage). The writer is then "failing" until a write (and, with `always`, an
// fsync) succeeds again. The log is healthy while no writer is failing; the first failure
// of an episode is logged once, loudly, with the file and the reason, and so is the
// recovery; problem() says why for /readyz. A failed fsync answers every request waiting
// for it false (503: such an event may or may not survive a machine crash).
//
// Recovery (replay) reads every segment in order, hands each complete record to a
// callback, and at the first damaged or torn record of a file cuts the file there (the
// damage is reported with the file, the offset and the bytes cut, and nothing after it
// is read), so a later append never lands after garbage.
//
// Positions (log_position.hpp): append() reports where a writer's log ends after the
// batch, the shard records it when it counts the batch, and a snapshot saves it; recovery
// then replays each writer from its saved position (replay_from) instead of from the
// start, and retention removes whole segments that no kept snapshot needs and whose
// events have all left the retention window (remove_segments).
//
// Threads. append() for a given writer comes from one thread at a time (its I/O thread);
// when_durable(), sync_all(), health and statistics are safe from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"
#include "tally/store/log_position.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::durability {

using LogPosition = store::LogPosition;

enum class FsyncMode { always, interval, never };

/// "always"/"interval"/"never" -> mode; false when unknown.
bool parse_fsync_mode(std::string_view text, FsyncMode& mode);
const char* fsync_mode_name(FsyncMode mode);

struct EventLogOptions {
    std::filesystem::path dir;
    std::size_t writers = 1;
    FsyncMode fsync = FsyncMode::interval;
    std::chrono::milliseconds fsync_interval{100};
    std::uint64_t segment_bytes = 64ull << 20;
};

/// A file whose tail replay cut: complete records before `offset` were kept.
struct LogDamage {
    std::filesystem::path file;
    std::uint64_t offset = 0;     // where the first damaged or torn record began
    std::uint64_t cut_bytes = 0;  // bytes removed from there to the end of the file
    bool torn = false;            // the file ended inside a record (else: bad length/checksum)
};

struct ReplayStats {
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::uint64_t damaged_files = 0;  // files cut at a damaged or torn record
    std::uint64_t cut_bytes = 0;      // bytes removed by those cuts
    std::uint64_t skipped_bytes = 0;  // before the positions replay_from started at
    std::vector<LogDamage> damage;    // one entry per damaged file
    /// Per writer index found on disk (or asked from), the end of its log after the replay.
    std::vector<LogPosition> ends;
};

struct CommitStats {
    std::uint64_t fsyncs_begun = 0;  // group-commit fsyncs started (mode always)
    std::uint64_t fsyncs = 0;        // and finished
    std::uint64_t waiters = 0;       // when_durable() callbacks answered by them
    std::uint64_t failed = 0;        // fsyncs that failed
};

class EventLog {
  public:
    /// Called once the appends before it are durable per the mode; `durable` is false when
    /// the fsync failed. Runs on the writer's commit thread (mode always; for the requests
    /// still waiting when the log closes, inside close()) or inside when_durable(); must not
    /// block.
    using Durable = std::function<void(bool durable)>;

    explicit EventLog(EventLogOptions options);
    ~EventLog();  // close()
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    /// Reads every record already on disk, oldest segment first, calling fn for each. Cuts
    /// damaged tails. Call once, before open().
    ReplayStats replay(const std::function<void(const Event&)>& fn);

    /// replay() from positions: writer w's records before from[w] are skipped (segments
    /// wholly before it are not even read), writers past from.size() replay from their
    /// start; fn also gets the writer's index and where the record begins. A position past
    /// the end of its segment (the log lost a tail a snapshot already holds, after a machine
    /// crash) makes that writer start a new segment, so what it appends next is after the
    /// position. With threads > 1, up to that many writers replay at once, each in its own
    /// order: fn must then be safe to call from several threads. Call once, before open().
    /// `on_point` gets the metric point records the same way (they are skipped without it).
    using ReplayEvent =
        std::function<void(std::size_t writer, const LogPosition& at, const Event&)>;
    using ReplayPoint =
        std::function<void(std::size_t writer, const LogPosition& at, const MetricPoint&)>;
    ReplayStats replay_from(const std::vector<LogPosition>& from, const ReplayEvent& fn,
                            std::size_t threads = 1, const ReplayPoint& on_point = {});

    /// Opens (or creates) each writer's newest segment for appending and starts the commit
    /// (always) or interval thread. Throws std::system_error naming the file on failure.
    void open();

    /// Appends `events` as one write(2) of one batch for `writer`; never fsyncs (see
    /// when_durable).
    /// False when the write failed (disk full, I/O error): the file is left as before the
    /// call and nothing may be answered 200. With `end`, the writer's position after the
    /// batch is stored there (under the writer's lock, so positions of one writer come in
    /// log order).
    bool append(std::size_t writer, const Event* events, std::size_t count,
                LogPosition* end = nullptr);
    /// The same for metric points: one write(2) of one batch of `count` point records.
    bool append(std::size_t writer, const MetricPoint* points, std::size_t count,
                LogPosition* end = nullptr);

    /// Where `writer`'s next record will go (after open()).
    LogPosition end_position(std::size_t writer) const;

    /// Retention: deletes writer w's segments numbered below keep_from[w].segment (writers
    /// past keep_from.size() keep everything; a writer's open segment is never deleted)
    /// whose newest event is older than `older_than_ms`. A segment's newest timestamp is
    /// read from the file once and remembered. Returns the deleted files.
    std::vector<std::filesystem::path> remove_segments(const std::vector<LogPosition>& keep_from,
                                                       std::int64_t older_than_ms);

    /// Calls `done` once everything `writer` has appended so far is durable per the mode:
    /// at once for interval and never; for always, from the writer's commit thread after
    /// an fsync that began after this call. After close(), at once with the final state.
    void when_durable(std::size_t writer, Durable done);

    /// fsyncs every writer now (used on shutdown and by the interval thread). False when an
    /// fsync failed.
    bool sync_all();

    /// Answers every request still waiting for an fsync, stops the commit and interval
    /// threads and fsyncs and closes the files. Idempotent; appends after it fail.
    void close();

    FsyncMode mode() const { return options_.fsync; }
    std::uint64_t bytes_written() const;
    /// True while no writer is failing.
    bool healthy() const { return failing_writers_.load(std::memory_order_relaxed) == 0; }
    /// Why the log cannot be written ("" while healthy), for /readyz.
    std::string problem() const;
    CommitStats commit_stats() const;
    /// Bytes appended, health and the group commit's fsyncs and waiters.
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    struct Writer;
    /// One writer's part of replay_from: its segments (number, path), oldest first.
    void replay_segments(
        std::size_t writer_index,
        const std::vector<std::pair<std::uint64_t, std::filesystem::path>>& segments,
        const LogPosition& start, const ReplayEvent& fn, const ReplayPoint& on_point,
        ReplayStats& stats, LogPosition& end);
    /// append()'s common part: `encode` fills the writer's buffer with the records.
    template <typename Encode>
    bool append_encoded(std::size_t writer, Encode&& encode, LogPosition* end);
    bool write_all(Writer& writer, const std::string& bytes);
    void rotate(Writer& writer);
    /// Mode always, on the writer's commit thread: one fsync for every request queued, then
    /// their answers.
    void commit_step(Writer& writer);
    bool fsync_writer(Writer& writer);
    void mark_failing(Writer& writer, bool Writer::*flag, const char* what, int error);
    void mark_working(Writer& writer, bool Writer::*flag);

    EventLogOptions options_;
    std::vector<std::unique_ptr<Writer>> writers_;
    std::mutex newest_mutex_;  // remove_segments' memory of segments' newest timestamps
    std::map<std::filesystem::path, std::int64_t> newest_;
    std::atomic<bool> closed_{false};

    // Disk trouble: how many writers are failing now, and the latest reason.
    std::atomic<std::size_t> failing_writers_{0};
    mutable std::mutex problem_mutex_;
    std::string problem_;

    std::atomic<std::uint64_t> fsyncs_begun_{0};
    std::atomic<std::uint64_t> fsyncs_{0};
    std::atomic<std::uint64_t> waiters_answered_{0};
    std::atomic<std::uint64_t> fsyncs_failed_{0};

    BackgroundLoop interval_loop_;  // mode interval: sync_all() every fsync_interval
};

}  // namespace tally::durability
