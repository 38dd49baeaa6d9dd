#pragma once
// What the parts of src/ingest's parsing share (private to the module). Request bodies
// become Events in two layers:
//
//  1. The JSON layer (json_fields.cpp, simdjson On-Demand) reads one JSON object into a
//     RawItem: for each field Tally knows, whether it was absent (or null), a string (its
//     unescaped bytes), an object, or any other JSON type. Unknown fields are validated
//     and ignored.
//  2. The rules (rules.cpp) turn a RawItem into an Event or a Rejection, normalising the
//     page, referrer and device on the way (normalise.cpp). They never see JSON, so each
//     rule is written once, and the JSON parser can be swapped without touching them.
//
// parse.cpp drives both for single bodies and batches and holds the public entry points.
// The JSON layer's own declarations are in json_fields.hpp, so that only the files that
// read JSON include simdjson.
// Checks run in a fixed order (the order of the fields in build_*), so a body with several
// problems always reports the same first one, whatever the order of its keys.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tally/base/event.hpp"
#include "tally/base/rejection.hpp"
#include "tally/base/time.hpp"
#include "tally/ingest/parse.hpp"

namespace tally::ingest::detail {

// ---------------------------------------------------------------------------------------
// Limits of the tracking API

inline constexpr std::size_t kMaxPageUrl = 2048;
inline constexpr std::size_t kMaxSessionId = 128;
inline constexpr std::size_t kMaxUserId = 128;
inline constexpr std::size_t kMaxPropertyKeys = 64;
inline constexpr std::size_t kMaxPropertiesBytes = 8192;
inline constexpr std::int64_t kMaxPastMs = kMsPerMinute * 60 * 48;  // 48 h
inline constexpr std::int64_t kMaxFutureMs = 5 * kMsPerMinute;

// ---------------------------------------------------------------------------------------
// What the JSON layer hands to the rules

enum class Key : std::uint8_t {
    type,
    page_url,
    session_id,
    user_id,
    referrer,
    user_agent,
    device_type,
    country,
    timestamp,
    site,
    event_name,
    properties,
    count,  // number of known keys; also "unknown"
};
inline constexpr std::size_t kKeyCount = static_cast<std::size_t>(Key::count);

// JSON null counts as absent: every optional field may be sent as null.
enum class Kind : std::uint8_t { absent, string, object, other };

struct RawField {
    Kind kind = Kind::absent;
    std::string_view text;  // the unescaped string when kind == string
};

struct RawItem {
    std::array<RawField, kKeyCount> fields{};
    std::size_t property_count = 0;  // keys of "properties" when it is an object
    std::string properties;          // its compact serialisation

    const RawField& operator[](Key key) const { return fields[static_cast<std::size_t>(key)]; }
    RawField& operator[](Key key) { return fields[static_cast<std::size_t>(key)]; }
};

/// A rule's answer: the Rejection when it fails, nothing when it holds.
using Check = std::optional<Rejection>;

// ---------------------------------------------------------------------------------------
// Character classes (ASCII only; called per byte on the hot path, hence inline)

inline bool is_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
inline bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline char to_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
inline char to_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}
inline bool is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// ---------------------------------------------------------------------------------------
// Normalisation (normalise.cpp). Both return views into their argument (or a literal), so
// the hot path copies each value once, into the Event.

/// The page key of a page_url (parse.hpp: page_key).
std::string_view page_key_view(std::string_view url);
/// The host of a referrer URL, not yet lower-cased; empty when it has none.
std::string_view referrer_host_view(std::string_view referrer);

// ---------------------------------------------------------------------------------------
// The rules (rules.cpp)

/// The Rejection of a body or item that is not the JSON asked for.
Rejection bad_json(std::string message);

Check build_pageview(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                     Event& out);
Check build_custom_event(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                         Event& out);
/// A batch item picks its rules by "type".
Check build_batch_item(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                       Event& out);

}  // namespace tally::ingest::detail
