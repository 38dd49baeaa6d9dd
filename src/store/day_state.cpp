#include "tally/store/day_state.hpp"

#include "tally/ingest/time.hpp"

namespace tally::store {

namespace {
constexpr std::string_view kPageviewPrefix = "pageview:";
}

std::uint32_t FunnelLog::intern(std::string_view label, bool is_page) {
    if (auto it = labels_.find(label); it != labels_.end())
        return it->second;
    const auto id = static_cast<std::uint32_t>(labels_.size());
    labels_.emplace(std::string(label), id);
    if (is_page)
        ++page_labels_;
    return id;
}

void FunnelLog::record(const ingest::Event& event) {
    std::uint32_t label;
    if (event.kind == ingest::EventKind::pageview) {
        // Build "pageview:/path" in a reused buffer: a day records every page view.
        thread_local std::string key;
        key.assign(kPageviewPrefix);
        key.append(event.page);
        if (auto it = labels_.find(key); it != labels_.end()) {
            label = it->second;
        } else {
            if (page_labels_ >= kMaxPageLabels)
                return;
            label = intern(key, true);
        }
    } else {
        label = intern(event.event_name, false);
    }
    const std::string& identity = event.funnel_key();
    auto it = by_identity_.find(identity);
    if (it == by_identity_.end())
        it = by_identity_.emplace(identity, std::vector<FunnelStep>{}).first;
    it->second.push_back(FunnelStep{event.timestamp_ms, label});
}

std::int64_t FunnelLog::label_id(std::string_view step) const {
    auto it = labels_.find(step);
    return it == labels_.end() ? -1 : static_cast<std::int64_t>(it->second);
}

DayState::DayState(std::size_t top_capacity)
    : pages(top_capacity), referrers(top_capacity), countries(top_capacity) {}

void DayState::apply(const ingest::Event& event) {
    const int minute = ingest::minute_of_day(event.timestamp_ms);
    visitors.add(event.visitor_id);
    sessions.add(event.session_id);
    if (event.kind == ingest::EventKind::pageview) {
        ++page_views;
        ++pageviews_per_minute[static_cast<std::size_t>(minute)];
        ++devices[static_cast<std::size_t>(event.device)];
        pages.add(event.page);
        referrers.add(event.referrer);
        if (!event.country.empty())
            countries.add(event.country);
    } else {
        auto it = events.find(event.event_name);
        if (it == events.end())
            it = events.emplace(event.event_name, EventSeries{}).first;
        ++it->second.total;
        ++it->second.per_minute[static_cast<std::size_t>(minute)];
    }
    funnel.record(event);
}

}  // namespace tally::store
