// Breakdowns by one top list (pages, referrers or countries) over a range, with each
// member's visitors, and the settled days' merge kept in a TopListCache.

#include <algorithm>
#include <memory>

#include "tally/query/query.hpp"
#include "tally/query/top_list_cache.hpp"
#include "top_merger.hpp"

namespace tally::query {

namespace {

const sketch::SpaceSaving& list_of(const store::DayState& day, TopList list) {
    return list == TopList::pages       ? day.pages
           : list == TopList::referrers ? day.referrers
                                        : day.countries;
}

const store::MemberVisitors& visitors_of(const store::DayState& day, TopList list) {
    return list == TopList::pages       ? day.page_visitors
           : list == TopList::referrers ? day.referrer_visitors
                                        : day.country_visitors;
}

TopListCache::Fingerprint fingerprint_of(std::span<const store::SiteShard* const> parts,
                                         const DayRange& range) {
    TopListCache::Fingerprint fingerprint;
    for_each_state(parts, range, [&](const store::DayState& day) {
        ++fingerprint.states;
        fingerprint.versions += day.version;
    });
    return fingerprint;
}

/// The merge of `range`'s lists as a cache entry, owning its members.
std::shared_ptr<const TopListCache::Merged> merge_settled(
    std::span<const store::SiteShard* const> parts, const DayRange& range, TopList list,
    const TopListCache::Fingerprint& fingerprint) {
    TopMerger merger;
    for_each_state(parts, range,
                   [&](const store::DayState& day) { merger.add(list_of(day, list)); });
    auto merged = std::make_shared<TopListCache::Merged>();
    merged->floor_total = merger.floor_total();
    merged->fingerprint = fingerprint;
    merged->excess.reserve(merger.excess().size());
    merged->ranked.reserve(merger.excess().size());
    for (const auto& [member, excess] : merger.excess()) {
        const auto& [it, inserted] = merged->excess.emplace(std::string(member), excess);
        merged->ranked.emplace_back(it->first, excess);
        merged->bytes += it->first.capacity() + 96;
    }
    std::sort(merged->ranked.begin(), merged->ranked.end(), TopMerger::ranks_before);
    merged->visitor_slots = std::min(merged->excess.size(), TopListCache::kVisitorSets);
    merged->bytes += merged->visitor_slots * TopListCache::kVisitorSetBytes;
    return merged;
}

/// The k best of the settled merge and the fresh one together: every fresh member with both
/// excesses, and the settled-only members in the settled ranking's order until k of them,
/// past which none can rank.
Ranked combine(const TopListCache::Merged& settled, const TopMerger& fresh, std::size_t k) {
    std::vector<std::pair<std::string_view, std::int64_t>> candidates;
    candidates.reserve(fresh.excess().size() + k);
    for (const auto& [member, excess] : fresh.excess()) {
        const auto it = settled.excess.find(member);
        candidates.emplace_back(member, excess + (it == settled.excess.end() ? 0 : it->second));
    }
    std::size_t taken = 0;
    for (const auto& [member, excess] : settled.ranked) {
        if (taken == k)
            break;
        if (!fresh.excess().contains(member)) {
            candidates.emplace_back(member, excess);
            ++taken;
        }
    }
    return TopMerger::best(candidates, k, settled.floor_total + fresh.floor_total());
}

/// A range split into the days a cache entry keeps (all but the last, and a week's or
/// month's roll-up) and the last day, merged fresh.
struct SplitRange {
    DayRange settled;
    DayRange fresh;
    explicit SplitRange(const DayRange& range)
        : settled(range), fresh{range.last, range.last, range.label, std::nullopt} {
        settled.last = range.last - 1;
    }
};

/// The range's top k. With a cache and settled days to keep, `settled` is set to the cache
/// entry used.
Ranked top_locked(std::span<const store::SiteShard* const> parts, std::string_view site,
                  const DayRange& range, TopList list, std::size_t k, TopListCache* cache,
                  std::shared_ptr<const TopListCache::Merged>& settled) {
    if (cache == nullptr || (range.first == range.last && !range.period)) {
        TopMerger merger;
        for_each_state(parts, range,
                       [&](const store::DayState& day) { merger.add(list_of(day, list)); });
        return merger.top(k);
    }
    const SplitRange split(range);
    const TopListCache::Key key{std::string(site), static_cast<int>(list), split.settled.first,
                                split.settled.last,
                                range.period ? static_cast<int>(*range.period) : 0};
    const TopListCache::Fingerprint fingerprint = fingerprint_of(parts, split.settled);
    settled = cache->find(key, fingerprint);
    if (!settled) {
        settled = merge_settled(parts, split.settled, list, fingerprint);
        cache->insert(key, settled);
    }
    TopMerger today;
    for_each_state(parts, split.fresh,
                   [&](const store::DayState& day) { today.add(list_of(day, list)); });
    return combine(*settled, today, k);
}

/// `member`'s sets united over `range`.
sketch::CompactDistinctSet member_visitors(std::span<const store::SiteShard* const> parts,
                                           const DayRange& range, TopList list,
                                           std::string_view member) {
    sketch::CompactDistinctSet set;
    for_each_state(parts, range, [&](const store::DayState& day) {
        const store::MemberVisitors& visitors = visitors_of(day, list);
        if (auto it = visitors.find(member); it != visitors.end())
            set.merge(it->second);
    });
    return set;
}

/// `member`'s sets over the entry's days (`days`): kept in the entry once made, while it has
/// room.
sketch::CompactDistinctSet settled_visitors(std::span<const store::SiteShard* const> parts,
                                            const DayRange& days, TopList list,
                                            const TopListCache::Merged& settled,
                                            const std::string& member) {
    std::lock_guard lock(settled.visitors_mutex);
    if (auto it = settled.visitors.find(member); it != settled.visitors.end())
        return it->second;
    sketch::CompactDistinctSet set = member_visitors(parts, days, list, member);
    if (settled.visitors.size() < settled.visitor_slots)
        settled.visitors.emplace(member, set);
    return set;
}

/// Each of `rows`' members' visitors over the range, through the cache entry when there is
/// one.
void add_visitors(std::span<const store::SiteShard* const> parts, const DayRange& range,
                  TopList list, const TopListCache::Merged* settled,
                  std::vector<TopListRow>& rows) {
    if (settled == nullptr) {
        for (TopListRow& row : rows)
            row.visitors = member_visitors(parts, range, list, row.member).count();
        return;
    }
    const SplitRange split(range);
    for (TopListRow& row : rows) {
        sketch::CompactDistinctSet set =
            settled_visitors(parts, split.settled, list, *settled, row.member);
        set.merge(member_visitors(parts, split.fresh, list, row.member));
        row.visitors = set.count();
    }
}

}  // namespace

Ranked top_list(const store::Store& store, std::string_view site, const DayRange& range,
                TopList list, std::size_t k) {
    Ranked out;
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        std::shared_ptr<const TopListCache::Merged> unused;
        out = top_locked(parts, site, range, list, k, nullptr, unused);
    });
    return out;
}

std::vector<TopListRow> top_list_rows(const store::Store& store, std::string_view site,
                                      const DayRange& range, TopList list, std::size_t k,
                                      WithVisitors visitors, TopListCache* cache) {
    std::vector<TopListRow> rows;
    store.visit_site_all(site, [&](std::span<const store::SiteShard* const> parts) {
        std::shared_ptr<const TopListCache::Merged> settled;
        for (auto& [member, count] : top_locked(parts, site, range, list, k, cache, settled))
            rows.push_back(TopListRow{std::move(member), count, 0});
        if (visitors == WithVisitors::yes)
            add_visitors(parts, range, list, settled.get(), rows);
    });
    return rows;
}

std::uint64_t merged_count(std::span<const sketch::SpaceSaving* const> summaries,
                           std::string_view member) {
    // TopMerger's rule for one member: its count where monitored (never 0 there), the
    // summary's floor where not.
    std::uint64_t total = 0;
    for (const sketch::SpaceSaving* summary : summaries) {
        const std::uint64_t count = summary->count_of(member);
        total += count != 0 ? count : summary->error_bound();
    }
    return total;
}

}  // namespace tally::query
