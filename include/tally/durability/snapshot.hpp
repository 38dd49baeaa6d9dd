#pragma once
// Snapshots: the whole in-memory Store on disk, so a restart replays only the log written
// after the snapshot instead of every segment.
//
// What is saved
// -------------
// Every shard's every site's every DayState, exactly: the counters, both HyperLogLogs (as
// Redis dense strings), the three Space-Saving summaries with each entry's count and error
// in eviction order plus total, floor and capacity (so the restored summary evicts exactly
// as the saved one would have), and the funnel log; the week and month roll-ups of days
// that left retention (the same without funnel). Also each shard's rolling-window
// buckets and the ActiveSessions, so real_time_users and the 15-minute pages survive a
// restart, and SnapshotMeta: when, and the log position of each log writer that the state
// includes (recovery replays the log from those positions on).
//
// File layout (all integers little-endian)
// ----------------------------------------
//   +-----------+-------------+-------------+
//   | "TALLYSNP"| version u32 | flags u32   |   header, 16 bytes; version 2, flags 0
//   +-----------+-------------+-------------+
//   | section | section | ... | section     |   meta first, then per shard and site: its
//   +-----------+-------------+-------------+   days, windows, site mark, funnels, roll-ups;
//   | "TALLYEND"| sections u64| crc32c u32  |   sessions last. Trailer, 20 bytes: the number
//   +-----------+-------------+-------------+   of sections and the CRC32C of every byte before it
//
// A section:
//   +----------+------------+------------+---------------------------+
//   | kind u32 | length u64 | crc32c u32 | payload (length bytes)    |
//   +----------+------------+------------+---------------------------+
//     0..3       4..11        12..15       16 ..
//   crc32c covers kind, length and payload (the 12 framing bytes first), so a flipped bit
//   anywhere is detected; the trailer's count and whole-file CRC catch a dropped, repeated
//   or reordered section and a truncated file. A length past the end of the file is
//   corruption; nothing is allocated from an unchecked length.
//
// Payloads. str = u32 length + bytes; minutes = 1440 x u32 (one UTC day).
//   1 meta      i64 created_ms | u32 shards | u32 n | n x (u64 segment, u64 offset)
//   2 day       u32 shard | str site | i64 day | body
//   5 rollup    u32 shard | str site | u8 period (1 ISO week, 2 month) | i64 first day | body
//     body:     u64 page_views | minutes | 3 x u64 devices |
//               u32 n | n x (str name, u64 total, minutes) |
//               visitors HLL (12304 bytes) | sessions HLL (12304 bytes) |
//               pages, referrers, countries: each u64 capacity | u64 total | u64 floor |
//                 u32 n | n x (str member, u64 count, u64 error), count ascending
//   6 funnel    u32 shard | str site | i64 day | u64 page_labels |
//               u32 n | n x str label (index = id) | u32 n | n x str identity (index = id) |
//               u64 n | n x (i64 ts, u32 label id, u32 identity id)     (after its day)
//   3 windows   u32 shard | str site | u32 n | n x (i64 minute | u32 m | m x (str page, u64))
//   4 sessions  u64 n | n x (str site | str session | str visitor | i64 minute)
//   7 site mark u32 shard | str site | u64 segment | u64 offset   (once per shard and site)
// Exactly one meta section, first; at most one sessions section; each (shard, site, day)
// and roll-up once, each funnel once and after its day. A loaded day must keep DayState's
// invariants (page views = per-minute sum = device sum = top-list totals...) and every
// sketch its own (SpaceSaving::restore); anything else is a corrupt file.
//
// Writing: a snapshot never holds a shard's lock for long. Per shard, a first hold takes
// its list of sites and its writer's position (meta.log_positions: recovery replays from
// there). Then one hold per site serialises the site's days that ingest can still change
// (the last three: events may be 48 hours old; bounded per day by the caps and the
// top-list capacity, ~2.5 ms for a day at capacity, HyperLogLogs only copied) and its
// windows, takes a View of each day's funnel log, and writes a site mark: the writer's
// position at that moment. Between holds ingest goes on, so a site's part includes some
// records past the shard's position; recovery skips those (ReplayFilter), which is why
// the snapshot stays exact. After each hold, with no lock: the HyperLogLogs are packed,
// the funnel logs (which grow with the day's events; chunked_log.hpp says why reading
// them is safe) and the older days and roll-ups (which only retention changes: so
// Store::retire must not run while a snapshot is encoded; the daemon runs both on one
// thread) are serialised. No I/O under a lock.
//
// Then the file is written as snapshot-<created_ms>.tmp, fsynced, renamed to
// snapshot-<YYYYMMDDThhmmssmmm>-<seq>.snap (seq one more than the largest in the
// directory, zero-padded so names sort) and the directory fsynced. The newest `keep`
// snapshots stay; older ones are deleted. One writer per directory at a time.
//
// Loading decodes and checks a whole file before touching the Store, so a corrupt file
// leaves the Store as it was and the next older file is tried. The Store may have another
// shard count than the one saved: saved shard i goes to shard i % shard_count(), and days
// that meet there are merged as reads merge shards (exact for counters, HyperLogLogs,
// funnels and windows; top lists that had overflowed their capacity then merge in another
// order than before, which stays within their error bound but may rank ties differently).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/store/store.hpp"

namespace tally::durability {

inline constexpr std::uint32_t kSnapshotVersion = 2;

/// Where a log writer was when the snapshot was taken (opaque to snapshots).
using LogPosition = store::LogPosition;

/// Where shard `shard`'s writer was when `site`'s part of that shard was saved: that
/// part includes the writer's records for the site before it and none after.
struct SitePosition {
    std::uint32_t shard = 0;
    std::string site;
    LogPosition position;
    bool operator==(const SitePosition&) const = default;
};

struct FunnelToRebuild {
    std::uint32_t shard = 0;  // as saved
    std::string site;
    std::int64_t day = 0;
    std::string why;  // the run and what is wrong with it
    bool operator==(const FunnelToRebuild&) const = default;
};

struct SnapshotMeta {
    std::int64_t created_ms = 0;
    /// One per log writer: recovery replays each writer from here (every record before it
    /// is in the snapshot; for the sites with a site position, some after it too).
    std::vector<LogPosition> log_positions;
    std::uint32_t shards = 0;                       // the store's shard count when saved (info)
    std::vector<SitePosition> site_positions = {};  // from the site-mark sections
    /// Not saved: the days whose funnel runs a load could not open (missing or damaged),
    /// loaded without their funnel and marked incomplete, for recovery to rebuild from the log.
    std::vector<FunnelToRebuild> funnels_to_rebuild = {};
    bool operator==(const SnapshotMeta&) const = default;
};

/// Recovery's test for a replayed record: is it already in the snapshot? True when the
/// snapshot saved the record's site in the writer's shard at a later position. A record
/// of a site without a mark is never in it (that site's part was saved before the record,
/// or not at all).
class ReplayFilter {
  public:
    explicit ReplayFilter(const SnapshotMeta& meta);
    /// `at`: where the record begins in `writer`'s log.
    bool in_snapshot(std::size_t writer, std::string_view site, const LogPosition& at) const;

  private:
    std::vector<store::StringMap<LogPosition>> marks_;  // by writer (= saved shard)
};

struct SnapshotStats {
    std::uint64_t bytes = 0;
    std::chrono::nanoseconds max_lock_hold{0};    // the longest one shard's lock was held
    std::chrono::nanoseconds total_lock_hold{0};  // summed over the shards
    // The longest hold in this thread's CPU time: the work done under the lock, without
    // the time the thread was preempted while holding it (which a busy machine adds).
    std::chrono::nanoseconds max_lock_hold_cpu{0};
};

/// Called with a shard's index while that shard's lock is held (once for the shard, then
/// once per site saved): returns the position of the shard's log writer that the shard's
/// state includes at that moment. The daemon (one log writer per shard) records, under the
/// shard lock, the log end after each batch it applies, and answers that here, so a
/// position can never run ahead of or lag behind the saved state.
using PositionUnderLock = std::function<LogPosition(std::size_t shard)>;

/// The snapshot file's bytes for `store` (meta.shards is filled in from the store). With
/// `position`, meta.log_positions gets one position per shard taken from it (positions
/// past the shard count are kept) and a site mark is saved per shard and site.
std::string encode_snapshot(const store::Store& store, SnapshotMeta meta,
                            SnapshotStats* stats = nullptr,
                            const PositionUnderLock& position = nullptr);

/// Checks and decodes a whole snapshot, then, only if it is valid, loads it into `into`
/// (normally an empty Store). nullopt with the reason in *error otherwise; `into` is then
/// untouched. Never crashes on any input. The funnel runs a day names are opened from
/// `funnel_dir` (see SnapshotMeta::funnels_to_rebuild for those that do not open).
std::optional<SnapshotMeta> decode_snapshot(std::string_view bytes, store::Store& into,
                                            std::string* error = nullptr,
                                            const std::filesystem::path& funnel_dir = {});

struct WrittenSnapshot {
    std::filesystem::path path;
    SnapshotStats stats;
    std::vector<std::filesystem::path> removed;  // older snapshots deleted by retention
};

/// Writes a snapshot of `store` into `dir` (created if missing) and keeps the newest `keep`
/// (at least 1). Throws std::system_error naming the file on an I/O error; a failed write
/// leaves no .snap behind.
WrittenSnapshot write_snapshot(const store::Store& store, const SnapshotMeta& meta,
                               const std::filesystem::path& dir, std::size_t keep = 3,
                               const PositionUnderLock& position = nullptr);

struct LoadReport {
    std::filesystem::path loaded;  // empty when no snapshot loaded
    std::vector<std::pair<std::filesystem::path, std::string>> skipped;  // corrupt, why
};

/// Loads the newest valid snapshot in `dir` into `into`, falling back to older ones when
/// one is corrupt (each listed in report->skipped). nullopt when none loads (also when the
/// directory is missing or empty).
std::optional<SnapshotMeta> load_newest_snapshot(const std::filesystem::path& dir,
                                                 store::Store& into, LoadReport* report = nullptr,
                                                 const std::filesystem::path& funnel_dir = {});

/// The meta section of the snapshot at `path` (its checksum checked, the rest not read).
std::optional<SnapshotMeta> read_snapshot_meta(const std::filesystem::path& path,
                                               std::string* error = nullptr);

/// The snapshot files in `dir`, newest (highest seq) first.
std::vector<std::filesystem::path> list_snapshots(const std::filesystem::path& dir);

}  // namespace tally::durability
