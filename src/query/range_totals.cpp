#include <vector>

#include "tally/query/query.hpp"

namespace tally::query {

namespace {

Ranked totals(const Members& touched, std::span<const sketch::SpaceSaving* const> summaries) {
    Ranked out;
    out.reserve(touched.size());
    for (const std::string& member : touched)
        out.emplace_back(member, merged_count(summaries, member));
    return out;
}

}  // namespace

RangeTotals range_totals_locked(std::span<const store::SiteShard* const> parts,
                                const DayRange& range, const Members& touched_pages,
                                const Members& touched_referrers,
                                const Members& touched_countries) {
    std::vector<const sketch::SpaceSaving*> pages, referrers, countries;
    sketch::HyperLogLog visitors, sessions;
    for (const store::SiteShard* part : parts) {
        for (auto it = part->days.lower_bound(range.first);
             it != part->days.end() && it->first <= range.last; ++it) {
            const store::DayState& day = it->second;
            pages.push_back(&day.pages);
            referrers.push_back(&day.referrers);
            countries.push_back(&day.countries);
            visitors.merge(day.visitors);
            sessions.merge(day.sessions);
        }
    }
    RangeTotals out;
    out.pages = totals(touched_pages, pages);
    out.referrers = totals(touched_referrers, referrers);
    out.countries = totals(touched_countries, countries);
    out.unique_visitors = visitors.count();
    out.unique_sessions = sessions.count();
    return out;
}

}  // namespace tally::query
