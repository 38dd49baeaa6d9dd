#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <unordered_map>

#include "tally/base/time.hpp"
#include "tally/query/query.hpp"
#include "top_merger.hpp"

namespace tally::query {

namespace {

/// RFC 4180 quoting for a CSV field when it needs it.
std::string csv_field(std::string_view value) {
    if (value.find_first_of(",\"\r\n") == std::string_view::npos)
        return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
    return out;
}

nlohmann::ordered_json properties_json(const PropertiesBreakdown& breakdown) {
    auto row = [](const PropertyRow& r) {
        return nlohmann::ordered_json{
            {"value", r.value}, {"count", r.count}, {"visitors", r.visitors}};
    };
    nlohmann::ordered_json keys = nlohmann::ordered_json::array();
    for (const PropertyKeyRows& key : breakdown.keys) {
        nlohmann::ordered_json values = nlohmann::ordered_json::array();
        for (const PropertyRow& r : key.values)
            values.push_back(row(r));
        keys.push_back({{"key", key.key},
                        {"count", key.count},
                        {"visitors", key.visitors},
                        {"distinct_values", key.distinct_values},
                        {"values", std::move(values)},
                        {"other", {{"count", key.other.count}, {"visitors", key.other.visitors}}}});
    }
    return {{"event", breakdown.event},
            {"keys", std::move(keys)},
            {"keys_not_broken_down", breakdown.keys_not_broken_down}};
}

}  // namespace

Dashboard build_dashboard_locked(std::span<const store::SiteShard* const> parts,
                                 std::string_view site, const DayRange& range, Lists lists) {
    Dashboard d;
    d.date = range.label;
    d.site = std::string(site);

    sketch::HyperLogLog visitors;
    sketch::HyperLogLog sessions;
    std::map<std::string, std::uint64_t, std::less<>> events;

    // Counters add, HyperLogLogs take register maxima, and the top lists are merged from
    // views, copying only the 10 winners.
    TopMerger pages, referrers, countries;
    auto add = [&](const store::DayState& day) {
        d.page_views += day.page_views;
        for (std::size_t i = 0; i < d.devices.size(); ++i)
            d.devices[i] += day.devices[i];
        for (const auto& [name, series] : day.events)
            events[name] += series.total;
        visitors.merge(day.visitors);
        sessions.merge(day.sessions);
        if (lists == Lists::none)
            return;
        pages.add(day.pages);
        referrers.add(day.referrers);
        countries.add(day.countries);
    };
    for_each_state(parts, range, add);
    d.top_pages = pages.top(kTopListSize);
    d.top_referrers = referrers.top(kTopListSize);
    d.countries = countries.top(kTopListSize);
    d.top_error_bound =
        std::max({pages.error_bound(), referrers.error_bound(), countries.error_bound()});

    d.unique_visitors = visitors.count();
    d.unique_sessions = sessions.count();
    d.events.assign(events.begin(), events.end());
    return d;
}

Dashboard build_dashboard(const store::Store& store, std::string_view site, const DayRange& range,
                          std::int64_t now_ms, Lists lists) {
    Dashboard d;
    // One pass under all the shards' locks.
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        d = build_dashboard_locked(parts, site, range, lists);
    });
    const std::int64_t today = day_of(now_ms);
    if (range.first <= today && today <= range.last) {
        const auto real_time = store.active_sessions().real_time(site, now_ms);
        d.real_time_users = real_time.sessions;
        d.real_time_users_capped = real_time.capped;
    }
    return d;
}

std::string to_json(const Dashboard& d) {
    auto ranked = [](const Ranked& list) {
        nlohmann::ordered_json array = nlohmann::ordered_json::array();
        for (const auto& [name, count] : list)
            array.push_back({name, count});
        return array;
    };
    nlohmann::ordered_json j;
    j["date"] = d.date;
    j["site"] = d.site;
    j["page_views"] = d.page_views;
    j["unique_visitors"] = d.unique_visitors;
    j["unique_sessions"] = d.unique_sessions;
    j["top_pages"] = ranked(d.top_pages);
    j["top_referrers"] = ranked(d.top_referrers);
    j["devices"] = {{"desktop", d.devices[0]}, {"mobile", d.devices[1]}, {"tablet", d.devices[2]}};
    j["countries"] = ranked(d.countries);
    j["real_time_users"] = d.real_time_users;
    if (d.real_time_users_capped)
        j["real_time_users_capped"] = true;
    nlohmann::ordered_json events = nlohmann::ordered_json::object();
    for (const auto& [name, count] : d.events)
        events[name] = count;
    j["events"] = std::move(events);
    j["top_error_bound"] = d.top_error_bound;
    if (d.properties)
        j["properties"] = properties_json(*d.properties);
    if (d.stale_seconds)
        j["stale_seconds"] = *d.stale_seconds;
    return j.dump();
}

std::string to_json(const PropertiesBreakdown& breakdown) {
    return properties_json(breakdown).dump();
}

std::string to_csv(const Dashboard& d) {
    std::string out = "section,name,value\r\n";
    auto row = [&out](std::string_view section, std::string_view name, const std::string& value) {
        out += section;
        out += ',';
        out += csv_field(name);
        out += ',';
        out += csv_field(value);
        out += "\r\n";
    };
    row("summary", "date", d.date);
    row("summary", "site", d.site);
    row("summary", "page_views", std::to_string(d.page_views));
    row("summary", "unique_visitors", std::to_string(d.unique_visitors));
    row("summary", "unique_sessions", std::to_string(d.unique_sessions));
    row("summary", "real_time_users", std::to_string(d.real_time_users));
    for (const auto& [name, count] : d.top_pages)
        row("top_pages", name, std::to_string(count));
    for (const auto& [name, count] : d.top_referrers)
        row("top_referrers", name, std::to_string(count));
    for (const auto& [name, count] : d.countries)
        row("countries", name, std::to_string(count));
    for (int i = 0; i < kDeviceCount; ++i) {
        row("devices", device_name(static_cast<Device>(i)),
            std::to_string(d.devices[static_cast<std::size_t>(i)]));
    }
    for (const auto& [name, count] : d.events)
        row("events", name, std::to_string(count));
    if (d.properties) {
        // One section per key ("properties:plan"); the value's visitors are in the JSON.
        for (const PropertyKeyRows& key : d.properties->keys) {
            const std::string section = "properties:" + key.key;
            for (const PropertyRow& r : key.values)
                row(section, r.value, std::to_string(r.count));
            if (key.other.count > 0)
                row(section, key.other.value, std::to_string(key.other.count));
        }
    }
    return out;
}

}  // namespace tally::query
