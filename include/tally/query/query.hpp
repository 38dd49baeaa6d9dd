#pragma once
// The read side: dashboards over a day, ISO week or month, time series, exact funnels, the
// rolling-window APIs, and the figures of the live dashboard's deltas. Every function reads
// the Store, merging its shards (through Store::visit_site or visit_site_all, or, for the
// *_locked ones, under locks its caller holds), and never writes.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/store/store.hpp"

namespace tally::query {

class TopListCache;

/// An inclusive range of UTC days and how the caller named it.
struct DayRange {
    std::int64_t first = 0;
    std::int64_t last = 0;
    std::string label;  // "2024-01-15", "2024-W03" or "2024-01"
    /// A week or month range also reads that period's roll-up: the days of it that left
    /// retention (store.hpp).
    std::optional<store::Period> period = std::nullopt;
};

/// "today", "YYYY-MM-DD", ISO week "YYYY-Www" or month "YYYY-MM"; nullopt when malformed.
std::optional<DayRange> parse_range(std::string_view text, std::int64_t now_ms);

using Ranked = std::vector<std::pair<std::string, std::uint64_t>>;

/// Calls fn(const store::DayState&) for every day of `range` held in `parts` (the site's
/// part in every shard, whose locks the caller holds), and for a week or month range its
/// period's roll-up: the days of it that left retention, disjoint from those still held.
template <typename Fn>
void for_each_state(std::span<const store::SiteShard* const> parts, const DayRange& range,
                    Fn&& fn) {
    for (const store::SiteShard* shard : parts) {
        for (auto it = shard->days.lower_bound(range.first);
             it != shard->days.end() && it->first <= range.last; ++it) {
            fn(it->second);
        }
        if (range.period) {
            const auto& rollups = shard->rollups(*range.period);
            if (auto it = rollups.find(range.first); it != rollups.end())
                fn(it->second);
        }
    }
}

/// One value of a custom property: the events that carried it and their distinct
/// visitors (exact up to 512, then within a HyperLogLog's 0.81 %).
struct PropertyRow {
    std::string value;
    std::uint64_t count = 0;
    std::uint64_t visitors = 0;
};

/// One property key of an event over a range: its most frequent values, and `other`, the
/// events whose value came after the key's cap of distinct values (store's
/// property_breakdown.hpp), so count == the rows' counts + the values not shown + other.
struct PropertyKeyRows {
    std::string key;
    std::uint64_t count = 0;
    std::uint64_t visitors = 0;
    std::size_t distinct_values = 0;  // values with rows (at most the cap)
    std::vector<PropertyRow> values;  // count descending, ties by value ascending
    PropertyRow other;
};

/// An event's custom properties over a range ("pageview" for page views' properties).
struct PropertiesBreakdown {
    std::string event;
    std::vector<PropertyKeyRows> keys;  // count descending, ties by key ascending
    /// Observations of keys past the caps (30 keys an event, 300 a site's day), not shown.
    std::uint64_t keys_not_broken_down = 0;
};

inline constexpr std::size_t kPropertyValuesShown = 100;

struct Dashboard {
    std::string date;  // the range's label
    std::string site;
    std::uint64_t page_views = 0;
    std::uint64_t unique_visitors = 0;
    std::uint64_t unique_sessions = 0;
    Ranked top_pages, top_referrers, countries;
    std::array<std::uint64_t, kDeviceCount> devices{};
    std::uint64_t real_time_users = 0;
    /// True when real_time_users is short: sessions were refused for the store's budget of
    /// active sessions in the last minutes (active_sessions.hpp).
    bool real_time_users_capped = false;
    std::vector<std::pair<std::string, std::uint64_t>> events;  // by name
    /// The largest overestimate any top-list count may carry (0 while the lists are exact,
    /// i.e. every day had at most their capacity of distinct members).
    std::uint64_t top_error_bound = 0;
    /// With ?props=<event>: that event's property breakdown.
    std::optional<PropertiesBreakdown> properties;
    /// Set when the figures are the fleet's last good ones from Redis, this many seconds
    /// old, because Redis cannot be read now (fleet_reader.hpp).
    std::optional<std::int64_t> stale_seconds;
};

inline constexpr std::size_t kTopListSize = 10;

/// Whether a dashboard's top lists are merged (most of a long range's cost), or left empty
/// for callers that want only its counters and unique counts.
enum class Lists { top, none };

Dashboard build_dashboard(const store::Store& store, std::string_view site, const DayRange& range,
                          std::int64_t now_ms, Lists lists = Lists::top);
/// build_dashboard's work on `parts`, the site's part in every shard, whose locks the
/// caller holds (Store::visit_site_all, Store::visit_live). real_time_users is left 0.
Dashboard build_dashboard_locked(std::span<const store::SiteShard* const> parts,
                                 std::string_view site, const DayRange& range,
                                 Lists lists = Lists::top);
enum class TopList { pages, referrers, countries };
/// The `k` first members of one of a range's top lists, by the dashboard's rule (count
/// descending, ties by name), for breakdowns longer than the dashboard's 10.
Ranked top_list(const store::Store& store, std::string_view site, const DayRange& range,
                TopList list, std::size_t k);
/// One row of a top-list breakdown: a member, its merged count, its distinct visitors.
struct TopListRow {
    std::string member;
    std::uint64_t count = 0;
    std::uint64_t visitors = 0;  // 0 unless asked for
};
enum class WithVisitors { no, yes };
/// top_list() as rows, with each member's distinct visitors when asked: the union of its
/// sets over every (day, shard) of the range, within the bound day_state.hpp gives (exact to
/// 128, then 3.25 %, less any visitors from before its list monitored it). With a cache, the
/// merge of the range's days but its last is made once and reused (top_list_cache.hpp).
std::vector<TopListRow> top_list_rows(const store::Store& store, std::string_view site,
                                      const DayRange& range, TopList list, std::size_t k,
                                      WithVisitors visitors, TopListCache* cache = nullptr);
/// A top-list member's merged count over several summaries, by the rule the dashboard's
/// top lists use (exact while the summaries are). The caller holds their locks.
std::uint64_t merged_count(std::span<const sketch::SpaceSaving* const> summaries,
                           std::string_view member);

/// The figures a live delta of a range sends besides its increments: the new totals of the
/// top-list members it touched, and the range's unique counts.
struct RangeTotals {
    Ranked pages, referrers, countries;  // one entry per touched member, by name
    std::uint64_t unique_visitors = 0;
    std::uint64_t unique_sessions = 0;
};
using Members = std::set<std::string, std::less<>>;
/// RangeTotals of `range` over `parts`, the site's part in every shard, whose locks the
/// caller holds (Store::visit_live). A touched member's total is merged_count over the
/// summaries of every (day, shard) of the range; the uniques are the range's days'
/// HyperLogLogs merged. Only the days the shards still hold are read (not the period's
/// roll-up).
RangeTotals range_totals_locked(std::span<const store::SiteShard* const> parts,
                                const DayRange& range, const Members& touched_pages,
                                const Members& touched_referrers, const Members& touched_countries);

/// `event`'s property breakdown over `range`, each key's `values_shown` most frequent
/// values.
PropertiesBreakdown properties(const store::Store& store, std::string_view site,
                               const DayRange& range, std::string_view event,
                               std::size_t values_shown = kPropertyValuesShown);
/// properties() over `parts`, the site's part in every shard, whose locks the caller holds.
PropertiesBreakdown properties_locked(std::span<const store::SiteShard* const> parts,
                                      const DayRange& range, std::string_view event,
                                      std::size_t values_shown = kPropertyValuesShown);

/// Distinct visitors by device (of page views) and by custom event name over a range:
/// each (day, shard)'s sets merged, exact up to 512 a member, then a HyperLogLog's 0.81 %.
struct VisitorsBy {
    std::uint64_t pageviews = 0;  // visitors who viewed a page (the devices' union)
    std::array<std::uint64_t, kDeviceCount> devices{};
    std::map<std::string, std::uint64_t, std::less<>> events;
};
VisitorsBy visitors_by(const store::Store& store, std::string_view site, const DayRange& range);

/// One property key over every event of a range (the Plausible Stats API's
/// event:props:<key>), each event's values merged; `values_shown` most frequent values.
PropertyKeyRows property_key(const store::Store& store, std::string_view site,
                             const DayRange& range, std::string_view key, std::size_t values_shown);

std::string to_json(const Dashboard& dashboard);
/// {"event","keys":[{"key","count","visitors","distinct_values","values":[{"value","count",
/// "visitors"}],"other":{"count","visitors"}}],"keys_not_broken_down"}, as /dashboard's
/// "properties".
std::string to_json(const PropertiesBreakdown& breakdown);
/// CSV with the header "section,name,value": one row per figure and per list entry.
std::string to_csv(const Dashboard& dashboard);

enum class Aggregation { sum, avg, min, max };
bool parse_aggregation(std::string_view text, Aggregation& out);

struct TimeseriesRequest {
    std::string event_name;  // "" for page views
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    std::int64_t bucket_ms = 60'000;
    Aggregation aggregation = Aggregation::sum;
};

inline constexpr std::size_t kMaxPoints = 10'000;

struct Point {
    std::int64_t timestamp_ms;
    double value;
};

/// One point per bucket aligned to multiples of bucket_ms since the epoch, covering
/// [from, to). The caller has validated the request (bucket multiple of a minute, point
/// count within kMaxPoints).
std::vector<Point> timeseries(const store::Store& store, std::string_view site,
                              const TimeseriesRequest& request);

/// Counts per minute of each day (page views, or one custom event's), summed over shards or
/// instances; a day that is absent had none.
using DayMinutes = std::map<std::int64_t, store::MinuteCounts>;
/// The first and last day a request's buckets touch.
std::pair<std::int64_t, std::int64_t> timeseries_days(const TimeseriesRequest& request);
/// timeseries() over minutes already gathered: from the store, or from Redis's minute
/// counters (query/fleet_reader.hpp), so that both aggregate the same way.
std::vector<Point> timeseries(const DayMinutes& minutes, const TimeseriesRequest& request);
std::string to_json(const std::vector<Point>& points);

/// For each step k, with its name, n_k: the identities (the user id, else the session id)
/// that did steps 1..k on `day` in that order, each at or after the previous one's time. A
/// step is an event name or "pageview:/path". Reads the steps in memory and those moved to
/// runs on disk alike. `incomplete` (when given) says whether steps of the day were lost (a
/// damaged run the log could not rebuild): the counts are then lower bounds.
Ranked funnel(const store::Store& store, std::string_view site, std::int64_t day,
              const std::vector<std::string>& steps, bool* incomplete = nullptr);

struct ActiveUser {
    std::string user_id;
    std::uint64_t session_count = 0;
};

/// Visitors active in the last 5 minutes with their distinct sessions, most sessions first.
std::vector<ActiveUser> active_users(const store::Store& store, std::string_view site,
                                     std::int64_t now_ms);
/// Distinct sessions in the last 5 minutes.
std::uint64_t real_time_users(const store::Store& store, std::string_view site,
                              std::int64_t now_ms);
/// The `k` most viewed pages of the last 15 minutes. `refused` (when given) gets the views
/// of those minutes not windowed because their minute held its cap of distinct pages.
Ranked recent_top_pages(const store::Store& store, std::string_view site, std::int64_t now_ms,
                        std::size_t k, std::uint64_t* refused = nullptr);

}  // namespace tally::query
