// Custom-property breakdowns over a range: every (shard, day) breakdown of the event merged
// into one, then each key's values ranked.

#include <algorithm>

#include "tally/query/query.hpp"

namespace tally::query {

namespace {

PropertyRow row_of(std::string value, const store::PropertyValue& stats) {
    return PropertyRow{std::move(value), stats.count, stats.visitors.count()};
}

PropertyKeyRows rows_of(const std::string& key, const store::PropertyKey& slot,
                        std::size_t values_shown) {
    PropertyKeyRows rows;
    rows.key = key;
    rows.count = slot.count();
    rows.distinct_values = slot.values.size();
    rows.other = row_of("(other)", slot.other);
    sketch::DistinctSet visitors = slot.other.visitors;
    rows.values.reserve(slot.values.size());
    for (const auto& [value, stats] : slot.values) {
        rows.values.push_back(row_of(value, stats));
        visitors.merge(stats.visitors);
    }
    rows.visitors = visitors.count();
    const auto order = [](const PropertyRow& a, const PropertyRow& b) {
        return a.count != b.count ? a.count > b.count : a.value < b.value;
    };
    const std::size_t n = std::min(values_shown, rows.values.size());
    std::partial_sort(rows.values.begin(), rows.values.begin() + static_cast<std::ptrdiff_t>(n),
                      rows.values.end(), order);
    rows.values.resize(n);
    return rows;
}

}  // namespace

PropertiesBreakdown properties_locked(std::span<const store::SiteShard* const> parts,
                                      const DayRange& range, std::string_view event,
                                      std::size_t values_shown) {
    store::PropertyBreakdown merged;
    std::size_t keys = 0;
    for_each_state(parts, range, [&](const store::DayState& day) {
        if (auto it = day.properties.find(event); it != day.properties.end())
            merged.merge(it->second, keys);
    });
    PropertiesBreakdown answer;
    answer.event = std::string(event);
    answer.keys_not_broken_down = merged.keys_refused();
    for (const auto& [key, slot] : merged.keys())
        answer.keys.push_back(rows_of(key, slot, values_shown));
    std::sort(answer.keys.begin(), answer.keys.end(),
              [](const PropertyKeyRows& a, const PropertyKeyRows& b) {
                  return a.count != b.count ? a.count > b.count : a.key < b.key;
              });
    return answer;
}

PropertyKeyRows property_key(const store::Store& store, std::string_view site,
                             const DayRange& range, std::string_view key,
                             std::size_t values_shown) {
    store::PropertyKey merged;
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        for_each_state(parts, range, [&](const store::DayState& day) {
            for (const auto& [event, breakdown] : day.properties) {
                if (auto it = breakdown.keys().find(key); it != breakdown.keys().end())
                    merged.merge(it->second);
            }
        });
    });
    return rows_of(std::string(key), merged, values_shown);
}

VisitorsBy visitors_by(const store::Store& store, std::string_view site, const DayRange& range) {
    std::array<sketch::DistinctSet, kDeviceCount> devices;
    std::map<std::string, sketch::DistinctSet, std::less<>> events;
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        for_each_state(parts, range, [&](const store::DayState& day) {
            for (std::size_t d = 0; d < devices.size(); ++d)
                devices[d].merge(day.device_visitors[d]);
            for (const auto& [name, series] : day.events)
                events[name].merge(series.visitors);
        });
    });
    VisitorsBy answer;
    sketch::DistinctSet all;
    for (std::size_t d = 0; d < devices.size(); ++d) {
        answer.devices[d] = devices[d].count();
        all.merge(devices[d]);
    }
    answer.pageviews = all.count();
    for (const auto& [name, set] : events)
        answer.events.emplace(name, set.count());
    return answer;
}

PropertiesBreakdown properties(const store::Store& store, std::string_view site,
                               const DayRange& range, std::string_view event,
                               std::size_t values_shown) {
    PropertiesBreakdown answer;
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        answer = properties_locked(parts, range, event, values_shown);
    });
    answer.event = std::string(event);
    return answer;
}

}  // namespace tally::query
