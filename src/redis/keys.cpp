// The key layout (keys.hpp).

#include "tally/redis/keys.hpp"

namespace tally::redis {

std::string site_prefix(std::string_view site) {
    std::string prefix = "tally:{";
    prefix.append(site);
    prefix.append("}:");
    return prefix;
}

DayKeys::DayKeys(std::string_view site, std::string_view date) {
    const std::string prefix = site_prefix(site);
    auto key = [&](std::string_view middle) {
        std::string k = prefix;
        k.append(middle);
        k.append(date);
        return k;
    };
    pageviews = key("count:pageviews:");
    visitors = key("hll:visitors:");
    sessions = key("hll:sessions:");
    pages = key("pages:");
    referrers = key("referrers:");
    countries = key("countries:");
    devices = key("devices:");
    events = key("events:");
}

namespace {

/// Appends ":NN" with `value` in [0, 100).
void append_two_digits(std::string& out, int value) {
    out.push_back(':');
    out.push_back(static_cast<char>('0' + value / 10));
    out.push_back(static_cast<char>('0' + value % 10));
}

}  // namespace

std::string DayKeys::hour(int hour) const {
    std::string key = pageviews;
    append_two_digits(key, hour % 24);
    return key;
}

std::string DayKeys::minute(int minute_of_day) const {
    std::string key = pageviews;
    append_two_digits(key, (minute_of_day / 60) % 24);
    append_two_digits(key, minute_of_day % 60);
    return key;
}

std::string realtime_channel(std::string_view site) {
    return site_prefix(site) + "realtime";
}

std::string checkpoint_key(std::string_view site, std::string_view instance,
                           std::string_view date) {
    std::string key = site_prefix(site);
    key.append("mirror:");
    key.append(instance);
    key.push_back(':');
    key.append(date);
    return key;
}

std::string scratch_key(std::string_view site, std::string_view instance) {
    std::string key = site_prefix(site);
    key.append("mirror:");
    key.append(instance);
    key.append(":scratch");
    return key;
}

std::string active_key(std::string_view site, std::string_view instance) {
    std::string key = site_prefix(site);
    key.append("active:");
    key.append(instance);
    return key;
}

std::string instances_key(std::string_view site) {
    return site_prefix(site) + "instances";
}

bool valid_instance_id(std::string_view id) {
    if (id.empty() || id.size() > 64)
        return false;
    for (char c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

}  // namespace tally::redis
