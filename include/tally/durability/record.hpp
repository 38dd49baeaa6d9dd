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
// cannot have been written), so a reader never allocates what a damaged length says.
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
// Varints are LEB128 (7 bits a byte, low bits first), at most 5 bytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/base/event.hpp"
#include "tally/base/metric_point.hpp"

namespace tally::durability {

inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::uint32_t kMaxPayload = 1u << 20;
inline constexpr std::uint8_t kRecordVersion = 1;
inline constexpr std::uint8_t kMetricRecordVersion = 2;

/// Appends one framed record holding `event` to `out`.
void append_record(const Event& event, std::string& out);
/// Appends one framed record holding `point` to `out`.
void append_record(const MetricPoint& point, std::string& out);

/// What a record holds: an event or a metric point (only the one `is_point` says is set).
struct LoggedRecord {
    bool is_point = false;
    Event event;
    MetricPoint point;
    std::int64_t timestamp_ms() const { return is_point ? point.timestamp_ms : event.timestamp_ms; }
};

enum class DecodeStatus {
    ok,         // one record decoded; `consumed` bytes used
    need_more,  // the bytes end inside a record (a torn tail when at the end of a file)
    corrupt,    // bad length, checksum or payload
};

struct DecodeResult {
    DecodeStatus status = DecodeStatus::need_more;
    std::size_t consumed = 0;
};

/// Decodes the record at the start of `bytes` into `event`.
DecodeResult decode_record(std::string_view bytes, Event& event);

/// Decodes the record at the start of `bytes`, an event's or a metric point's.
DecodeResult decode_record(std::string_view bytes, LoggedRecord& record);

/// Decodes a payload (no frame). False when malformed.
bool decode_payload(std::string_view payload, Event& event);
bool decode_payload(std::string_view payload, MetricPoint& point);

}  // namespace tally::durability
