#pragma once
// The event log: append-only files in <data-dir>/log, one writer per ingest shard so that
// appends never contend. An event is answered 200 only after its record is in the log.
//
// Files are named w<shard>-<segment:08>.log; a writer starts a new segment when the
// current one passes segment_bytes. Records are framed and checksummed (record.hpp).
//
// fsync modes (SPEC §6, durability.fsync):
//   always   - the record is fsynced before the answer;
//   interval - a background thread fsyncs every writer every interval (default 100 ms);
//   never    - the kernel decides.
// In every mode the write() has returned before the answer, so a killed daemon loses
// nothing the kernel holds; only a machine crash can lose the unsynced tail.
//
// Recovery (replay) reads every segment in order, hands each complete record to a
// callback, and at the first damaged or torn record of a file cuts the file there (the
// damage is reported with the file and offset, and nothing after it is read), so a later
// append never lands after garbage.
//
// Positions (log_position.hpp): append() reports where a writer's log ends after the
// batch, the shard records it when it counts the batch, and a snapshot saves it; recovery
// then replays each writer from its saved position (replay_from) instead of from the
// start, and retention removes whole segments that no kept snapshot needs and whose
// events have all left the retention window (remove_segments).

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tally/ingest/event.hpp"
#include "tally/store/log_position.hpp"

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

struct ReplayStats {
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    std::uint64_t damaged_files = 0;  // files cut at a damaged or torn record
    std::uint64_t cut_bytes = 0;      // bytes removed by those cuts
    std::uint64_t skipped_bytes = 0;  // before the positions replay_from started at
    /// Per writer index found on disk (or asked from), the end of its log after the replay.
    std::vector<LogPosition> ends;
};

class EventLog {
  public:
    explicit EventLog(EventLogOptions options);
    ~EventLog();  // syncs and closes
    EventLog(const EventLog&) = delete;
    EventLog& operator=(const EventLog&) = delete;

    /// Reads every record already on disk, oldest segment first, calling fn for each. Cuts
    /// damaged tails. Call once, before open().
    ReplayStats replay(const std::function<void(const ingest::Event&)>& fn);

    /// replay() from positions: writer w's records before from[w] are skipped (segments
    /// wholly before it are not even read), writers past from.size() replay from their
    /// start; fn also gets the writer's index and where the record begins. A position past the end
    /// of its segment (the log lost a tail a snapshot already holds, after a machine crash) makes
    /// that writer start a new segment, so what it appends next is after the position. Call once,
    /// before open().
    ReplayStats replay_from(const std::vector<LogPosition>& from,
                            const std::function<void(std::size_t writer, const LogPosition& at,
                                                     const ingest::Event&)>& fn);

    /// Opens (or creates) each writer's newest segment for appending. Throws
    /// std::system_error naming the file on failure.
    void open();

    /// Appends `events` as one write for `writer`, then syncs per the mode. False when the
    /// write failed (disk full, I/O error): nothing may be answered 200.
    /// With `end`, the writer's position after the batch is stored there (under the
    /// writer's lock, so positions of one writer come in log order).
    bool append(std::size_t writer, const ingest::Event* events, std::size_t count,
                LogPosition* end = nullptr);

    /// Where `writer`'s next record will go (after open()).
    LogPosition end_position(std::size_t writer) const;

    /// Retention: deletes writer w's segments numbered below keep_from[w].segment (writers
    /// past keep_from.size() keep everything; a writer's open segment is never deleted)
    /// whose newest event is older than `older_than_ms`. A segment's newest timestamp is
    /// read from the file once and remembered. Returns the deleted files.
    std::vector<std::filesystem::path> remove_segments(const std::vector<LogPosition>& keep_from,
                                                       std::int64_t older_than_ms);

    /// fsyncs every writer now (used on shutdown and by the interval thread).
    void sync_all();

    std::uint64_t bytes_written() const;

  private:
    struct Writer;
    bool write_all(Writer& writer, const std::string& bytes);
    void rotate(Writer& writer);
    void interval_loop();

    EventLogOptions options_;
    std::vector<std::unique_ptr<Writer>> writers_;
    std::mutex newest_mutex_;  // remove_segments' memory of segments' newest timestamps
    std::map<std::filesystem::path, std::int64_t> newest_;
    std::thread interval_thread_;
    std::mutex interval_mutex_;
    std::condition_variable interval_cv_;
    bool stopping_ = false;
};

}  // namespace tally::durability
