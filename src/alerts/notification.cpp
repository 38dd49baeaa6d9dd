// An alert's transition in Alertmanager's own wire shapes. Pure functions: no clock, no I/O.
//
// The webhook body is what Alertmanager 0.25's webhook notifier posts: its notify/webhook
// `Message` (template `Data` embedded, then version "4", groupKey, truncatedAlerts), with
// the fields in the order Go's encoder writes them (nlohmann's ordered_json keeps it) and
// label maps sorted by name, as Go sorts map keys. Tally sends one alert per body, grouped
// by alertname alone as a root route with `group_by: [alertname]` would, so:
//   - groupLabels is {alertname}, groupKey is `{}:{alertname="X"}` (the root route's key,
//     then the group labels as Go's LabelSet.String() writes them, values quoted as %q);
//   - commonLabels and commonAnnotations are the alert's own labels and annotations;
//   - a firing alert's endsAt is Go's zero time "0001-01-01T00:00:00Z" (Alertmanager hides
//     an end that has not come yet); a resolved one's is when it resolved.
// The fingerprint is Alertmanager's: FNV-1a 64 over the labels sorted by name, each name and
// value followed by the byte 0xff (prometheus/common model.LabelsToSignature), printed as 16
// hex digits. The same labels give the fingerprint Alertmanager itself shows for the alert,
// which lets a receiver match tallyd's notices to Alertmanager's.
//
// The /api/v2/alerts body is a JSON array of one "postable alert". A firing alert carries
// the end the caller chose (Alertmanager resolves it by itself then, unless it is sent
// again); without one, Alertmanager applies its resolve_timeout. A resolved alert carries
// its end in the past, which is how Prometheus resolves alerts too.

#include "tally/alerts/notification.hpp"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "tally/base/time.hpp"

namespace tally::alerts {

namespace {

using ordered = nlohmann::ordered_json;

constexpr std::uint64_t kFnvOffset = 14695981039346656037ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;
constexpr unsigned char kSeparator = 0xff;
constexpr const char* kZeroTime = "0001-01-01T00:00:00Z";

std::uint64_t fnv_add(std::uint64_t hash, std::string_view bytes) {
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= kFnvPrime;
    }
    return hash;
}

std::uint64_t fnv_add_byte(std::uint64_t hash, unsigned char c) {
    hash ^= c;
    return hash * kFnvPrime;
}

// Go's %q of a string (strconv.Quote) for the characters labels hold: quotes, backslashes
// and control characters escaped, printable text (UTF-8 included) kept.
std::string go_quote(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\a':
                out += "\\a";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\v':
                out += "\\v";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char hex[5];
                    std::snprintf(hex, sizeof hex, "\\x%02x", c);
                    out += hex;
                } else {
                    out.push_back(static_cast<char>(c));
                }
        }
    }
    return out + "\"";
}

ordered object_of(const std::map<std::string, std::string>& map) {
    ordered out = ordered::object();
    for (const auto& [key, value] : map)
        out[key] = value;
    return out;
}

bool is_resolved(const AlertNotice& notice) {
    return notice.status == "resolved";
}

}  // namespace

std::string fingerprint(const std::map<std::string, std::string>& labels) {
    std::uint64_t hash = kFnvOffset;
    for (const auto& [name, value] : labels) {  // std::map: sorted by name, as Go sorts
        hash = fnv_add_byte(fnv_add(hash, name), kSeparator);
        hash = fnv_add_byte(fnv_add(hash, value), kSeparator);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    return hex;
}

std::string rfc3339(std::int64_t ms) {
    const std::int64_t day = floor_div(ms, 86'400'000);
    const std::int64_t ms_of_day = ms - day * 86'400'000;
    const auto seconds = static_cast<unsigned>(ms_of_day / 1000);
    char clock[20];
    std::snprintf(clock, sizeof clock, "T%02u:%02u:%02u.%03uZ", seconds / 3600, seconds / 60 % 60,
                  seconds % 60, static_cast<unsigned>(ms_of_day % 1000));
    return format_day(day) + clock;
}

std::string webhook_body(const AlertNotice& notice, const std::string& receiver,
                         const std::string& external_url) {
    const bool resolved = is_resolved(notice);
    const std::string status = resolved ? "resolved" : "firing";
    std::map<std::string, std::string> group_labels;
    std::string group_key = "{}:{";
    if (auto it = notice.labels.find("alertname"); it != notice.labels.end()) {
        group_labels.emplace(it->first, it->second);
        group_key += "alertname=" + go_quote(it->second);
    }
    group_key += "}";

    ordered alert;
    alert["status"] = status;
    alert["labels"] = object_of(notice.labels);
    alert["annotations"] = object_of(notice.annotations);
    alert["startsAt"] = rfc3339(notice.starts_at_ms);
    alert["endsAt"] = resolved ? rfc3339(notice.ends_at_ms) : std::string(kZeroTime);
    alert["generatorURL"] = notice.generator_url;
    alert["fingerprint"] = fingerprint(notice.labels);

    ordered body;
    body["receiver"] = receiver;
    body["status"] = status;
    body["alerts"] = ordered::array({alert});
    body["groupLabels"] = object_of(group_labels);
    body["commonLabels"] = object_of(notice.labels);
    body["commonAnnotations"] = object_of(notice.annotations);
    body["externalURL"] = external_url;
    body["version"] = "4";
    body["groupKey"] = group_key;
    body["truncatedAlerts"] = 0;
    return body.dump(-1, ' ', false, ordered::error_handler_t::replace);
}

std::string alertmanager_body(const AlertNotice& notice) {
    ordered alert;
    alert["labels"] = object_of(notice.labels);
    alert["annotations"] = object_of(notice.annotations);
    if (notice.starts_at_ms != 0)
        alert["startsAt"] = rfc3339(notice.starts_at_ms);
    if (notice.ends_at_ms != 0)
        alert["endsAt"] = rfc3339(notice.ends_at_ms);
    if (!notice.generator_url.empty())
        alert["generatorURL"] = notice.generator_url;
    return ordered::array({alert}).dump(-1, ' ', false, ordered::error_handler_t::replace);
}

std::string alertmanager_alerts_url(std::string_view base_url) {
    constexpr std::string_view kPath = "/api/v2/alerts";
    while (base_url.ends_with('/'))
        base_url.remove_suffix(1);
    if (base_url.ends_with(kPath))
        return std::string(base_url);
    return std::string(base_url) + std::string(kPath);
}

}  // namespace tally::alerts
