#pragma once
// The normalised event: what ingest produces from a request body, what the event log
// stores and what the store counts. Every field is already validated and normalised, so
// replaying a logged Event never runs the tracking API's rules again (a replay days later must
// not reject an event for being older than 48 h).

#include <cstdint>
#include <string>

namespace tally {

enum class EventKind : std::uint8_t { pageview = 0, custom = 1 };
enum class Device : std::uint8_t { desktop = 0, mobile = 1, tablet = 2 };
inline constexpr int kDeviceCount = 3;

const char* device_name(Device device);

struct Event {
    EventKind kind = EventKind::pageview;
    Device device = Device::desktop;
    std::int64_t timestamp_ms = 0;  // event time, Unix epoch milliseconds (UTC)
    std::string site;               // [A-Za-z0-9._-]{1,64}
    std::string page;               // pageview: the page key (path, no query/fragment)
    std::string referrer;           // pageview: lower-case host, or "direct"
    std::string country;            // "" when absent, else two upper-case letters
    std::string event_name;         // custom: [A-Za-z0-9_.:-]{1,64}
    std::string session_id;         // 1..128 bytes
    std::string user_id;            // "" when absent
    std::string visitor_id;         // user_id when present, else the cookieless hash (hex)
    std::string properties;         // custom: compact JSON object text, "" when absent

    /// The identity funnels follow: user_id, else session_id.
    const std::string& funnel_key() const { return user_id.empty() ? session_id : user_id; }
};

}  // namespace tally
