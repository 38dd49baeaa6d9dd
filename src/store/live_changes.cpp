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
    recent.push_back(RecentEvent{
        event.kind, event.device, event.timestamp_ms,
        event.kind == EventKind::pageview ? event.page : event.event_name, event.country});
}

}  // namespace tally::store
