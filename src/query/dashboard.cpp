#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "tally/ingest/time.hpp"
#include "tally/query/query.hpp"

namespace tally::query {

namespace {

Ranked top_of(const sketch::SpaceSaving& sketch) {
    Ranked result;
    for (auto& entry : sketch.top(kTopListSize)) result.emplace_back(std::move(entry.member), entry.count);
    return result;
}

/// RFC 4180 quoting for a CSV field when it needs it.
std::string csv_field(std::string_view value) {
    if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
    return out;
}

}  // namespace

Dashboard build_dashboard(const store::Store& store, std::string_view site, const DayRange& range,
                          std::int64_t now_ms) {
    Dashboard d;
    d.date = range.label;
    d.site = std::string(site);

    const std::size_t capacity = store.options().top_capacity;
    sketch::HyperLogLog visitors;
    sketch::HyperLogLog sessions;
    sketch::SpaceSaving pages(capacity), referrers(capacity), countries(capacity);
    std::map<std::string, std::uint64_t, std::less<>> events;

    store.visit_site(site, [&](const store::SiteShard& shard) {
        for (auto it = shard.days.lower_bound(range.first);
             it != shard.days.end() && it->first <= range.last; ++it) {
            const store::DayState& day = it->second;
            d.page_views += day.page_views;
            for (std::size_t i = 0; i < d.devices.size(); ++i) d.devices[i] += day.devices[i];
            for (const auto& [name, series] : day.events) events[name] += series.total;
            visitors.merge(day.visitors);
            sessions.merge(day.sessions);
            pages.merge(day.pages);
            referrers.merge(day.referrers);
            countries.merge(day.countries);
        }
    });

    d.unique_visitors = visitors.count();
    d.unique_sessions = sessions.count();
    d.top_pages = top_of(pages);
    d.top_referrers = top_of(referrers);
    d.countries = top_of(countries);
    d.top_error_bound = std::max({pages.error_bound(), referrers.error_bound(), countries.error_bound()});
    d.events.assign(events.begin(), events.end());

    const std::int64_t today = ingest::day_of(now_ms);
    if (range.first <= today && today <= range.last) d.real_time_users = real_time_users(store, site, now_ms);
    return d;
}

std::string to_json(const Dashboard& d) {
    auto ranked = [](const Ranked& list) {
        nlohmann::ordered_json array = nlohmann::ordered_json::array();
        for (const auto& [name, count] : list) array.push_back({name, count});
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
    nlohmann::ordered_json events = nlohmann::ordered_json::object();
    for (const auto& [name, count] : d.events) events[name] = count;
    j["events"] = std::move(events);
    j["top_error_bound"] = d.top_error_bound;
    return j.dump();
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
    for (const auto& [name, count] : d.top_pages) row("top_pages", name, std::to_string(count));
    for (const auto& [name, count] : d.top_referrers) row("top_referrers", name, std::to_string(count));
    for (const auto& [name, count] : d.countries) row("countries", name, std::to_string(count));
    for (int i = 0; i < ingest::kDeviceCount; ++i) {
        row("devices", ingest::device_name(static_cast<ingest::Device>(i)),
            std::to_string(d.devices[static_cast<std::size_t>(i)]));
    }
    for (const auto& [name, count] : d.events) row("events", name, std::to_string(count));
    return out;
}

}  // namespace tally::query
