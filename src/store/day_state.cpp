#include "tally/store/day_state.hpp"

#include <algorithm>

#include "tally/base/time.hpp"

namespace tally::store {

namespace {
constexpr std::string_view kPageviewPrefix = "pageview:";
constexpr std::string_view kPageviewName = "pageview";
}  // namespace

std::uint32_t FunnelLog::intern_label(std::string_view label, std::size_t hash, bool is_page) {
    if (auto id = find_label(label, hash))
        return *id;
    const auto id = static_cast<std::uint32_t>(label_names_.size());
    label_names_.push_back(std::string(label));
    labels_.insert(hash, id);
    bytes_ += string_cost(label);
    if (is_page)
        ++page_labels_;
    return id;
}

std::uint32_t FunnelLog::intern_identity(std::string_view identity) {
    const std::size_t hash = InternTable::hash(identity);
    if (auto id = identities_.find(identity, hash, [this](std::uint32_t i) -> std::string_view {
            return identity_names_[i];
        })) {
        return *id;
    }
    const auto id = static_cast<std::uint32_t>(identity_names_.size());
    identity_names_.push_back(std::string(identity));
    identities_.insert(hash, id);
    bytes_ += string_cost(identity);
    return id;
}

void FunnelLog::record(const Event& event) {
    std::uint32_t label;
    if (event.kind == EventKind::pageview) {
        // Build "pageview:/path" in a reused buffer: a day records every page view.
        thread_local std::string key;
        key.assign(kPageviewPrefix);
        key.append(event.page);
        const std::size_t hash = InternTable::hash(key);
        if (auto id = find_label(key, hash)) {
            label = *id;
        } else {
            if (page_labels_ >= kMaxPageLabels)
                return;
            label = intern_label(key, hash, true);
        }
    } else {
        label = intern_label(event.event_name, InternTable::hash(event.event_name), false);
    }
    steps_.push_back(FunnelStep{event.timestamp_ms, label, intern_identity(event.funnel_key())});
    bytes_ += sizeof(FunnelStep);
}

std::int64_t FunnelLog::label_id(std::string_view step) const {
    const auto id = find_label(step, InternTable::hash(step));
    return id ? static_cast<std::int64_t>(*id) : -1;
}

std::optional<FunnelLog> FunnelLog::restore(std::vector<std::string> labels,
                                            std::size_t page_labels,
                                            std::vector<std::string> identities,
                                            const std::vector<FunnelStep>& steps) {
    if (page_labels > labels.size())
        return std::nullopt;
    FunnelLog log;
    log.labels_.reserve(labels.size());
    for (std::string& label : labels) {
        const std::size_t hash = InternTable::hash(label);
        if (log.find_label(label, hash))
            return std::nullopt;
        const auto id = static_cast<std::uint32_t>(log.label_names_.size());
        log.bytes_ += string_cost(label);
        log.label_names_.push_back(std::move(label));
        log.labels_.insert(hash, id);
    }
    log.identities_.reserve(identities.size());
    const auto identity_of = [&log](std::uint32_t i) -> std::string_view {
        return log.identity_names_[i];
    };
    for (std::string& identity : identities) {
        const std::size_t hash = InternTable::hash(identity);
        if (log.identities_.find(identity, hash, identity_of))
            return std::nullopt;
        const auto id = static_cast<std::uint32_t>(log.identity_names_.size());
        log.bytes_ += string_cost(identity);
        log.identity_names_.push_back(std::move(identity));
        log.identities_.insert(hash, id);
    }
    for (const FunnelStep& step : steps) {
        if (step.label >= log.label_names_.size() || step.identity >= log.identity_names_.size())
            return std::nullopt;
        log.steps_.push_back(step);
    }
    log.bytes_ += steps.size() * sizeof(FunnelStep);
    log.page_labels_ = page_labels;
    return log;
}

void FunnelLog::merge(const FunnelLog& other) {
    std::vector<std::uint32_t> label(other.label_names_.size());
    for (std::size_t id = 0; id < label.size(); ++id) {
        const std::string& name = other.label_names_[id];
        label[id] = intern_label(name, InternTable::hash(name), name.starts_with(kPageviewPrefix));
    }
    std::vector<std::uint32_t> identity(other.identity_names_.size());
    for (std::size_t id = 0; id < identity.size(); ++id)
        identity[id] = intern_identity(other.identity_names_[id]);
    other.steps_.for_each([&](const FunnelStep& step) {
        steps_.push_back(FunnelStep{step.timestamp_ms, label[step.label], identity[step.identity]});
    });
    bytes_ += other.steps_.size() * sizeof(FunnelStep);
}

FunnelLog FunnelLog::without_first(std::size_t steps) const {
    FunnelLog rest;
    label_names_.for_each([&rest](const std::string& name) {
        rest.intern_label(name, InternTable::hash(name), false);
    });
    rest.page_labels_ = page_labels_;
    std::vector<std::uint32_t> identity(identity_names_.size(), UINT32_MAX);
    for (std::size_t i = steps; i < steps_.size(); ++i) {
        const FunnelStep& step = steps_[i];
        std::uint32_t& id = identity[step.identity];
        if (id == UINT32_MAX)
            id = rest.intern_identity(identity_names_[step.identity]);
        rest.steps_.push_back(FunnelStep{step.timestamp_ms, step.label, id});
        rest.bytes_ += sizeof(FunnelStep);
    }
    return rest;
}

namespace {

/// Counts `member` in `list` and the visitor in its set, keeping the sets to the members the
/// list monitors: an eviction takes the evicted member's set with it.
void count_member(sketch::SpaceSaving& list, MemberVisitors& visitors, std::string_view member,
                  std::uint64_t visitor_hash) {
    std::string evicted;
    if (list.add_reporting_eviction(member, evicted))
        visitors.erase(evicted);
    auto it = visitors.find(member);
    if (it == visitors.end())
        it = visitors.emplace(std::string(member), sketch::CompactDistinctSet{}).first;
    it->second.add_hash(visitor_hash);
}

/// After `list` merged another list, folds that list's sets (`other`) into `visitors` and
/// drops the sets of members the merged list no longer monitors.
void merge_member_visitors(const sketch::SpaceSaving& list, MemberVisitors& visitors,
                           const MemberVisitors& other) {
    for (const auto& [member, set] : other) {
        if (list.count_of(member) != 0)
            visitors[member].merge(set);
    }
    std::erase_if(visitors, [&](const auto& entry) { return list.count_of(entry.first) == 0; });
}

bool monitors_all(const sketch::SpaceSaving& list, const MemberVisitors& visitors) {
    return visitors.size() <= list.size() &&
           std::all_of(visitors.begin(), visitors.end(),
                       [&](const auto& entry) { return list.count_of(entry.first) != 0; });
}

}  // namespace

DayState::DayState(std::size_t top_capacity)
    : pages(top_capacity), referrers(top_capacity), countries(top_capacity) {}

void DayState::apply(const Event& event) {
    const int minute = minute_of_day(event.timestamp_ms);
    ++version;
    const std::uint64_t visitor_hash = sketch::HyperLogLog::hash(event.visitor_id);
    visitors.add_hash(visitor_hash);
    sessions.add(event.session_id);
    if (event.kind == EventKind::pageview) {
        ++page_views;
        ++pageviews_per_minute[static_cast<std::size_t>(minute)];
        ++devices[static_cast<std::size_t>(event.device)];
        device_visitors[static_cast<std::size_t>(event.device)].add_hash(visitor_hash);
        count_member(pages, page_visitors, event.page, visitor_hash);
        count_member(referrers, referrer_visitors, event.referrer, visitor_hash);
        if (!event.country.empty())
            count_member(countries, country_visitors, event.country, visitor_hash);
    } else {
        auto it = events.find(event.event_name);
        if (it == events.end())
            it = events.emplace(event.event_name, EventSeries{}).first;
        ++it->second.total;
        ++it->second.per_minute[static_cast<std::size_t>(minute)];
        it->second.visitors.add_hash(visitor_hash);
    }
    funnel.record(event);
    if (!event.properties.empty()) {
        const std::string_view name =
            event.kind == EventKind::pageview ? std::string_view(kPageviewName) : event.event_name;
        auto it = properties.find(name);
        if (it == properties.end())
            it = properties.emplace(std::string(name), PropertyBreakdown{}).first;
        it->second.record(event.properties, visitor_hash, property_keys);
    }
}

}  // namespace tally::store

namespace tally::store {

void DayState::merge(const DayState& other, bool with_funnel) {
    version += other.version + 1;  // the state changed, whatever other held
    page_views += other.page_views;
    for (std::size_t m = 0; m < pageviews_per_minute.size(); ++m)
        pageviews_per_minute[m] += other.pageviews_per_minute[m];
    for (std::size_t d = 0; d < devices.size(); ++d) {
        devices[d] += other.devices[d];
        device_visitors[d].merge(other.device_visitors[d]);
    }
    for (const auto& [name, series] : other.events) {
        EventSeries& mine = events[name];
        mine.total += series.total;
        mine.visitors.merge(series.visitors);
        for (std::size_t m = 0; m < mine.per_minute.size(); ++m)
            mine.per_minute[m] += series.per_minute[m];
    }
    visitors.merge(other.visitors);
    sessions.merge(other.sessions);
    pages.merge(other.pages);
    referrers.merge(other.referrers);
    countries.merge(other.countries);
    merge_member_visitors(pages, page_visitors, other.page_visitors);
    merge_member_visitors(referrers, referrer_visitors, other.referrer_visitors);
    merge_member_visitors(countries, country_visitors, other.country_visitors);
    for (const auto& [name, breakdown] : other.properties) {
        auto it = properties.find(name);
        if (it == properties.end())
            it = properties.emplace(name, PropertyBreakdown{}).first;
        it->second.merge(breakdown, property_keys);
    }
    if (with_funnel) {
        funnel.merge(other.funnel);
        funnel_runs.insert(funnel_runs.end(), other.funnel_runs.begin(), other.funnel_runs.end());
        funnel_incomplete = funnel_incomplete || other.funnel_incomplete;
    }
}

bool DayState::consistent() const {
    std::uint64_t minutes = 0;
    for (std::uint32_t n : pageviews_per_minute)
        minutes += n;
    std::uint64_t by_device = 0;
    for (std::uint64_t n : devices)
        by_device += n;
    if (minutes != page_views || by_device != page_views || pages.total() != page_views ||
        referrers.total() != page_views || countries.total() > page_views ||
        !monitors_all(pages, page_visitors) || !monitors_all(referrers, referrer_visitors) ||
        !monitors_all(countries, country_visitors)) {
        return false;
    }
    std::size_t keys = 0;
    for (const auto& [name, breakdown] : properties) {
        if (!breakdown.consistent())
            return false;
        keys += breakdown.keys().size();
    }
    if (keys != property_keys || keys > PropertyBreakdown::kMaxKeysPerSite)
        return false;
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
