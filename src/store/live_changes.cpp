#include "tally/store/live_changes.hpp"

namespace tally::store {

void ChangeSet::record(const Event& event) {
    if (event.kind == EventKind::pageview) {
        ++page_views;
        ++devices[static_cast<std::size_t>(event.device)];
        // A member is copied only the first time a batch touches it.
        if (pages.find(event.page) == pages.end())
            pages.emplace(event.page);
        if (referrers.find(event.referrer) == referrers.end())
            referrers.emplace(event.referrer);
        if (!event.country.empty() && countries.find(event.country) == countries.end())
            countries.emplace(event.country);
    } else {
        auto it = events.find(event.event_name);
        if (it == events.end())
            it = events.emplace(event.event_name, 0).first;
        ++it->second;
    }
    if (recent.size() == kMaxRecent)
        recent.pop_front();
    recent.push_back(RecentEvent{event.kind, event.device, event.timestamp_ms,
                                 event.kind == EventKind::pageview ? event.page : event.event_name,
                                 event.country});
}

void ChangeSet::merge(const ChangeSet& other) {
    page_views += other.page_views;
    for (std::size_t i = 0; i < devices.size(); ++i)
        devices[i] += other.devices[i];
    for (const auto& [name, n] : other.events)
        events[name] += n;
    pages.insert(other.pages.begin(), other.pages.end());
    referrers.insert(other.referrers.begin(), other.referrers.end());
    countries.insert(other.countries.begin(), other.countries.end());
    recent.insert(recent.end(), other.recent.begin(), other.recent.end());
}

std::optional<ChangeSet> changes_in(std::span<const ChangeLog> logs, std::string_view site,
                                    std::int64_t first_day, std::int64_t last_day) {
    std::optional<ChangeSet> out;
    for (const ChangeLog& log : logs) {
        auto days = log.find(site);
        if (days == log.end())
            continue;
        for (auto day = days->second.lower_bound(first_day);
             day != days->second.end() && day->first <= last_day; ++day) {
            if (!out)
                out.emplace();
            out->merge(day->second);
        }
    }
    return out;
}

}  // namespace tally::store
