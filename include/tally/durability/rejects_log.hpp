#pragma once
// The rejects log: the audit trail of refused input. Every input /track/* refuses (400, 429,
// 503) is written with its time, route, reason and the raw payload, so a site owner can
// see what was dropped and why. (Bodies over the size limit, 413, are refused by the HTTP
// layer before they are read and are only counted in the metrics.)
//
// Files: <data-dir>/rejects/r-<YYYY-MM-DD>-<seq:04>.log, one UTC day per file; a new file
// starts when the day changes or the current one passes segment_bytes (seq counts up
// within the day). Retention deletes whole files whose day is older than the window, so a
// day is kept whole or not at all. Nothing else ever reads these files: they are for
// people and tools (jq), not for recovery.
//
// Each line is one JSON object (JSON Lines), written with one write(2):
//   {"time":"2026-11-22T10:00:00.123Z","route":"/track/pageview","reason":"invalid_country",
//    "field":"country","error":"country must be two letters (ISO 3166-1)",
//    "payload":"{...the body as sent, at most 4 KiB...}"[,"payload_bytes":N]}
// payload_bytes is the body's full size, present only when the payload was cut. A batch
// with refused items is one line for the whole body, reason "batch_items", plus
//   "items":[{"index":3,"reason":"...","field":"...","error":"..."}, ...]
// (the body is logged once, however many of its items were refused). Bytes that are not
// UTF-8 are replaced (U+FFFD), so every line parses.
//
// Cost and bounds: rejections are the cold path; one mutex keeps lines whole. A line is
// at most ~4 KiB of payload plus its reasons (a batch's up to 1,000). A failed write of
// the audit trail never fails the answer (the tally_events_rejected_total metric counts
// every rejection regardless).

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <vector>

#include "tally/base/rejection.hpp"

namespace tally::durability {

struct RejectsLogOptions {
    std::filesystem::path dir;  // <data-dir>/rejects
    std::uint64_t segment_bytes = 16ull << 20;
    int retention_days = 30;  // days kept, today included
};

class RejectsLog {
  public:
    static constexpr std::size_t kMaxPayload = 4096;

    /// Creates the directory. Throws std::system_error naming it on failure.
    explicit RejectsLog(RejectsLogOptions options);
    ~RejectsLog();
    RejectsLog(const RejectsLog&) = delete;
    RejectsLog& operator=(const RejectsLog&) = delete;

    /// One refused request.
    void append(std::int64_t now_ms, std::string_view route, std::string_view reason,
                std::string_view field, std::string_view error, std::string_view payload);
    /// A batch body with refused items (each item's reason; the body once).
    void append_batch(std::int64_t now_ms, std::string_view route,
                      const std::vector<BatchItemRejection>& items, std::string_view payload);

    /// Deletes the files of days before the retention window (today - retention_days + 1)
    /// and returns them. Safe to call from any thread at any time (housekeeping).
    std::vector<std::filesystem::path> remove_expired(std::int64_t now_ms);

    /// The files in `dir`, oldest first.
    static std::vector<std::filesystem::path> files(const std::filesystem::path& dir);

  private:
    void write_line(std::int64_t now_ms, std::string& line);
    void open_segment(std::int64_t day);

    RejectsLogOptions options_;
    std::mutex mutex_;
    int fd_ = -1;
    std::int64_t day_ = 0;  // of the open file
    std::uint32_t seq_ = 0;
    std::uint64_t size_ = 0;
};

}  // namespace tally::durability
