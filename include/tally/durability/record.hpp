#pragma once
// The event log's record format.
//
// Every accepted event is one record. A record is framed so that a reader can tell a
// complete record from a torn write (the daemon was killed mid-append) or flipped bits:
//
//   +----------------+----------------+------------------------------+
//   | length (u32le) | crc32c (u32le) | payload (length bytes)       |
//   +----------------+----------------+------------------------------+
//     bytes 0..3       bytes 4..7       bytes 8 .. 8+length-1
//
// crc32c covers the payload only; a length above kMaxPayload is itself corruption (it
// cannot have been written), so a reader never trusts what a damaged length says.
//
// The payload is the normalised Event (include/tally/ingest/event.hpp), never the raw
// request, so replay does not re-run validation (an event logged 3 days ago must still count):
//
//   u8 version (=1) | u8 kind | u8 device | i64le timestamp_ms |
//   9 strings, each varint length + bytes, in this order:
//     site, page, referrer, country, event_name, session_id, user_id, visitor_id, properties
//
// A metric point (include/tally/base/metric_point.hpp) is a record of its own, told apart by
// its first byte, so events and points share one log, one group commit and one replay:
//
//   u8 version (=2) | u8 type | u8 window | u8 flags (bit 0: gauge delta) |
//   i64le timestamp_ms | f64le value | f64le weight |
//   3 strings (workspace, name, member) | varint tag count (<= 16) | that many (key, value)
//
// Records appended together (one request's events or points) share one frame, a batch, so
// that a write cut short by kill -9 leaves all of them or none: a request answered with an
// error, or never answered, is then never half counted after a restart.
//
//   u8 version (=3) | two or more records, each framed as above (never a batch)
//
// A batch whose payload would pass kBatchSplitBytes is closed and another begins, so no
// frame passes kMaxPayload; only a request far larger than any body the daemon accepts
// could span two frames.
//
// Varints are LEB128 (7 bits a byte, low bits first), at most 5 bytes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"

namespace tally::durability {

inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::uint32_t kMaxPayload = 64u << 20;
inline constexpr std::size_t kBatchSplitBytes = kMaxPayload / 2;
inline constexpr std::uint8_t kRecordVersion = 1;
inline constexpr std::uint8_t kMetricRecordVersion = 2;
inline constexpr std::uint8_t kBatchVersion = 3;

/// Appends one framed record holding `event` to `out`.
void append_record(const Event& event, std::string& out);
/// Appends one framed record holding `point` to `out`.
void append_record(const MetricPoint& point, std::string& out);

/// Appends `count` records to `out`: one plain record when count is 1, else a batch.
void append_records(const Event* events, std::size_t count, std::string& out);
void append_records(const MetricPoint* points, std::size_t count, std::string& out);

/// What a record holds: an event or a metric point (only the one `is_point` says is set).
struct LoggedRecord {
    bool is_point = false;
    Event event;
    MetricPoint point;
    std::int64_t timestamp_ms() const { return is_point ? point.timestamp_ms : event.timestamp_ms; }
};

enum class DecodeStatus {
    ok,         // a record decoded
    need_more,  // the bytes end inside a frame (a torn tail when at the end of a file)
    corrupt,    // bad length, checksum or payload
};

/// Reads a log's bytes record by record. A batch is checked whole (its checksum, and that
/// every record in it decodes) before its first record is handed out, so a torn or damaged
/// batch yields none of its records.
class RecordCursor {
  public:
    explicit RecordCursor(std::string_view bytes) : bytes_(bytes) {}

    /// The next record into `record`. At anything but ok the cursor stays where it was:
    /// end() is then where the torn or damaged frame begins.
    DecodeStatus next(LoggedRecord& record);
    /// True once every record of the bytes has been handed out.
    bool done() const { return pending_ == batch_size_ && end_ == bytes_.size(); }
    /// Where the frame of the record last handed out begins (a batch's records share it).
    std::size_t frame_offset() const { return frame_; }
    /// The end of the frames read so far (all of a batch once its first record is out).
    std::size_t end() const { return end_; }

  private:
    DecodeStatus read_batch(std::string_view payload);

    std::string_view bytes_;
    std::size_t frame_ = 0;
    std::size_t end_ = 0;
    std::vector<LoggedRecord> batch_;  // the current batch's records, reused
    std::size_t batch_size_ = 0;       // how many of batch_ the current batch holds
    std::size_t pending_ = 0;          // the next of them to hand out
};

/// Decodes a payload (no frame). False when malformed.
bool decode_payload(std::string_view payload, Event& event);
bool decode_payload(std::string_view payload, MetricPoint& point);

}  // namespace tally::durability
