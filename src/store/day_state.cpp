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

std::vector<std::string_view> FunnelLog::labels() const {
    std::vector<std::string_view> out(labels_.size());
    for (const auto& [label, id] : labels_)
        out[id] = label;
    return out;
}

std::optional<FunnelLog> FunnelLog::restore(std::vector<std::string> labels,
                                            std::size_t page_labels,
                                            StringMap<std::vector<FunnelStep>> by_identity) {
    if (page_labels > labels.size())
        return std::nullopt;
    FunnelLog log;
    log.labels_.reserve(labels.size());
    for (std::size_t id = 0; id < labels.size(); ++id) {
        if (!log.labels_.emplace(std::move(labels[id]), static_cast<std::uint32_t>(id)).second)
            return std::nullopt;
    }
    for (const auto& [identity, steps] : by_identity) {
        for (const FunnelStep& step : steps) {
            if (step.label >= labels.size())
                return std::nullopt;
        }
    }
    log.page_labels_ = page_labels;
    log.by_identity_ = std::move(by_identity);
    return log;
}

void FunnelLog::merge(const FunnelLog& other) {
    std::vector<std::uint32_t> translate(other.labels_.size());
    for (const auto& [label, id] : other.labels_)
        translate[id] = intern(label, label.starts_with(kPageviewPrefix));
    for (const auto& [identity, steps] : other.by_identity_) {
        auto& mine = by_identity_[identity];
        mine.reserve(mine.size() + steps.size());
        for (const FunnelStep& step : steps)
            mine.push_back(FunnelStep{step.timestamp_ms, translate[step.label]});
    }
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

namespace tally::store {

void DayState::merge(const DayState& other) {
    page_views += other.page_views;
    for (std::size_t m = 0; m < pageviews_per_minute.size(); ++m)
        pageviews_per_minute[m] += other.pageviews_per_minute[m];
    for (std::size_t d = 0; d < devices.size(); ++d)
        devices[d] += other.devices[d];
    for (const auto& [name, series] : other.events) {
        EventSeries& mine = events[name];
        mine.total += series.total;
        for (std::size_t m = 0; m < mine.per_minute.size(); ++m)
            mine.per_minute[m] += series.per_minute[m];
    }
    visitors.merge(other.visitors);
    sessions.merge(other.sessions);
    pages.merge(other.pages);
    referrers.merge(other.referrers);
    countries.merge(other.countries);
    funnel.merge(other.funnel);
}

bool DayState::consistent() const {
    std::uint64_t minutes = 0;
    for (std::uint32_t n : pageviews_per_minute)
        minutes += n;
    std::uint64_t by_device = 0;
    for (std::uint64_t n : devices)
        by_device += n;
    if (minutes != page_views || by_device != page_views || pages.total() != page_views ||
        referrers.total() != page_views || countries.total() > page_views) {
        return false;
    }
    for (const auto& [name, series] : events) {
        std::uint64_t sum = 0;
        for (std::uint32_t n : series.per_minute)
            sum += n;
        if (sum != series.total)
            return false;
    }
    return true;
}

}  // namespace tally::store
