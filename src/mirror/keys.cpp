#include "tally/mirror/keys.hpp"

#include <cstdio>

namespace tally::mirror {

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

std::string DayKeys::hour(int hour) const {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, ":%02d", hour % 24);
    return pageviews + suffix;
}

std::string DayKeys::minute(int minute_of_day) const {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, ":%02d:%02d", (minute_of_day / 60) % 24,
                  minute_of_day % 60);
    return pageviews + suffix;
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

std::string active_pattern(std::string_view site) {
    // SCAN's MATCH is a glob: escape what the site could make special. Sites are
    // [A-Za-z0-9._-], none of which is special, so only the braces need care.
    return "tally:\\{" + std::string(site) + "\\}:active:*";
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

}  // namespace tally::mirror
