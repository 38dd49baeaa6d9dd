#pragma once
// The audit trail: who changed what. Every change of a dashboard, alert, report, workspace
// or token, and every refused token, is one entry appended to a checksummed log in the
// data dir (time, workspace, token id -- never the secret --, action, object id, versions
// before and after).
//
// Files: <dir>/YYYY-MM-DD.audit, one UTC day each, named by the day of the entries it
// holds. Each entry is one frame, the event log's framing:
//
//   +----------------+----------------+------------------------------+
//   | length (u32le) | crc32c (u32le) | payload (length bytes)       |
//   +----------------+----------------+------------------------------+
//
// crc32c covers the payload; a length of 0 or above kMaxPayload is corruption. The payload
// is one compact JSON object, {"v":1,"time_ms":..,"workspace":..,"token_id":..,"action":..,
// "object_id":..,"version_before":..,"version_after":..,"detail":..}, every field present
// and of its type. JSON rather than a binary record: entries are rare (people editing),
// small and read by people as much as by the API, so self-description and room to add a
// field (an older reader ignores it) are worth more than the bytes; `tail -c +9` of a
// one-entry file is plain JSON. Strings are cut to kMaxField bytes (invalid UTF-8 is
// replaced), so a frame stays far below kMaxPayload.
//
// Invariants:
// - Times never go backwards along the log: an entry older than the last one appended
//   (two threads racing, the clock stepped back) is stamped with the last one's time, and
//   one with time_ms 0 (or past the year 9999) with the clock. So files are in day order,
//   entries in time order within and across them, and a read stops at its limit.
// - Every frame in a file before the end of the last fdatasync is whole: append() writes
//   one frame with one write(2), fdatasyncs it and only then returns; a short or failed
//   write is cut off again (ftruncate to the size before, retried before the next write
//   when it fails), so a later entry never lands behind a torn frame.
// - open() reads the newest file frame by frame; at the first frame that is cut short or
//   fails its checksum or decoding, the file is truncated to
//   the last good frame, fsynced, logged and counted, and appends continue after it. When
//   the frame was damaged rather than cut short, the bytes from it on are first copied
//   aside to <file>.torn-<epoch ms>: an audit trail keeps its evidence. An older file is
//   never written again: a read stops at its first bad frame.
//
// Bounds and cost: an append is one write(2) and one fdatasync under one mutex (refused
// tokens are rate-limited by their caller). A read takes the mutex only to learn how far
// the newest file is durable, then streams the files from the day of `since` onwards
// through a 64 KiB buffer, decoding one frame at a time, and stops once it holds `limit`
// entries: its memory is `limit` entries, its I/O the bytes from since's day to the
// limit-th match. Retention deletes whole day files older than retention_days (today
// counts as one), and their .torn- copies with them.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tally::telemetry {
class Metrics;
}

namespace tally::audit {

struct Entry {
    std::int64_t time_ms = 0;
    std::string workspace;            // "default" without workspaces
    std::string token_id;             // "" when no token was required
    std::string action;               // "dashboard.create", "alert.update", "token.refused", ...
    std::string object_id;            // the dashboard's, alert's, ... id; "" when none
    std::int64_t version_before = 0;  // 0: none (a creation)
    std::int64_t version_after = 0;   // 0: none (a deletion, a refusal)
    std::string detail;               // a short free text (a refused token: the route)

    bool operator==(const Entry&) const = default;
};

struct AuditOptions {
    std::filesystem::path dir;  // data_dir/audit
    int retention_days = 400;
};

inline constexpr std::size_t kFrameHeaderSize = 8;
inline constexpr std::uint32_t kMaxPayload = 64u << 10;
inline constexpr std::size_t kMaxField = 1024;

/// The frame of one entry (header and payload), as append() writes it. Fields longer than
/// kMaxField are cut.
std::string encode_frame(const Entry& entry);

/// What the frame at some offset of a file is.
enum class FrameStatus {
    ok,       // an entry decoded
    end,      // no bytes left: the source ends on a frame boundary
    torn,     // the source ends inside a frame
    corrupt,  // bad length, checksum or payload
};

/// Decodes the frame at the start of `bytes` into `entry`; `size` is its length when ok.
FrameStatus decode_frame(std::string_view bytes, Entry& entry, std::size_t& size);

/// A day file's name ("2026-12-03.audit") and its day number back (nullopt for any other
/// name).
std::string file_name(std::int64_t day);
std::optional<std::int64_t> file_day(std::string_view name);

class AuditLog {
  public:
    explicit AuditLog(AuditOptions options);
    ~AuditLog();
    AuditLog(const AuditLog&) = delete;
    AuditLog& operator=(const AuditLog&) = delete;

    /// Opens the log: reads what is there, cuts a torn tail (logged), and appends after it.
    /// Throws std::system_error when the directory cannot be made or opened.
    void open(std::int64_t now_ms);

    /// Appends one entry, fsynced before it returns (changes are rare: people editing).
    /// false when it could not be written (counted, logged).
    bool append(const Entry& entry);

    /// Entries of `workspace` ("" = every workspace) with time_ms >= since_ms, oldest first,
    /// at most `limit`.
    std::vector<Entry> read(std::string_view workspace, std::int64_t since_ms,
                            std::size_t limit) const;

    /// Deletes what is older than the retention.
    void remove_expired(std::int64_t now_ms);

    void register_metrics(telemetry::Metrics& metrics) const;

    /// The figures register_metrics exports.
    std::uint64_t entries_written() const { return entries_.load(); }
    std::uint64_t write_failures() const { return write_failures_.load(); }
    std::uint64_t torn_tails() const { return torn_tails_.load(); }

  private:
    struct Day {
        std::int64_t day;
        std::filesystem::path path;
    };
    std::vector<Day> day_files() const;
    void recover(const Day& newest);
    bool open_day_locked(std::int64_t day);
    void close_locked();

    AuditOptions options_;
    mutable std::mutex mutex_;
    int fd_ = -1;
    std::int64_t day_ = 0;        // of the open file
    std::uint64_t durable_ = 0;   // bytes of the open file known whole and fsynced
    bool dirty_ = false;          // a failed write may have left bytes after durable_
    std::int64_t last_time_ = 0;  // of the newest entry appended or found
    std::atomic<std::uint64_t> entries_{0};
    std::atomic<std::uint64_t> write_failures_{0};
    std::atomic<std::uint64_t> torn_tails_{0};
};

}  // namespace tally::audit
