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
// Varints are LEB128 (7 bits a byte, low bits first), at most 5 bytes.

#include <cstdint>
#include <string>
#include <string_view>

#include "tally/base/event.hpp"

namespace tally::durability {

inline constexpr std::size_t kRecordHeaderSize = 8;
inline constexpr std::uint32_t kMaxPayload = 1u << 20;
inline constexpr std::uint8_t kRecordVersion = 1;

/// Appends one framed record holding `event` to `out`.
void append_record(const Event& event, std::string& out);

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

/// Decodes a payload (no frame). False when malformed.
bool decode_payload(std::string_view payload, Event& event);

}  // namespace tally::durability
