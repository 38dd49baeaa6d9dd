#pragma once
// ChangeSet: what ingest changed in one site's day, in one shard, since the live
// broadcaster (src/live) last looked.
//
// Why it exists. /ws sends a snapshot and then deltas, and a client that applies the deltas
// must hold exactly what /dashboard says. Diffing two dashboards cannot name the new
// events of the feed, and recomputing every subscribed dashboard per batch would scan the
// top lists under every shard lock. So the ingest threads, which already hold their shard's
// lock in Store::apply, note here what each event changed: additive increments, the names
// of the top-list members it touched (not their totals: a member's total is a merge over
// the shards, known only to whoever holds all the locks) and the event itself for the feed.
// They never touch a socket.
//
// The broadcaster takes every shard's lock at once (Store::visit_live), swaps the change
// logs out, and in the same critical section reads the touched members' new totals and the
// absolute figures, and builds the snapshots of new subscribers. Every event is therefore
// either in a snapshot or in the first delta after it, never both, never neither.
//
// Cost: recording is off until the broadcaster starts (the replay records nothing). While
// on, a change set holds what one batch interval brought: a few counters, one string per
// distinct touched member, and at most kMaxRecent events.

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "tally/base/event.hpp"
#include "tally/store/day_state.hpp"

namespace tally::store {

/// One event of the live feed.
struct RecentEvent {
    EventKind kind = EventKind::pageview;
    Device device = Device::desktop;
    std::int64_t timestamp_ms = 0;
    std::string what;  // the page of a page view, the name of a custom event
    std::string country;
};

struct ChangeSet {
    static constexpr std::size_t kMaxRecent = 50;

    std::uint64_t page_views = 0;
    std::array<std::uint64_t, kDeviceCount> devices{};
    std::map<std::string, std::uint64_t, std::less<>> events;        // increments by name
    std::set<std::string, std::less<>> pages, referrers, countries;  // touched members
    std::deque<RecentEvent> recent;  // the newest kMaxRecent, oldest first

    /// Notes what DayState::apply(event) changes (keep the two in step).
    void record(const Event& event);
    /// Adds `other`'s changes to these: increments add, touched members join, and the feed
    /// events are appended (not cut to kMaxRecent: whoever sends them orders and cuts).
    void merge(const ChangeSet& other);
};

/// A shard's changes: site -> day number -> ChangeSet.
using ChangeLog = StringMap<std::map<std::int64_t, ChangeSet>>;

/// `site`'s changes on the days first_day..last_day (inclusive) over `logs` (one per
/// shard), added up into one ChangeSet, log by log and day by day; nullopt when the logs
/// hold none. The logs are only read: a day's changes may feed several ranges (its day,
/// its week and its month).
std::optional<ChangeSet> changes_in(std::span<const ChangeLog> logs, std::string_view site,
                                    std::int64_t first_day, std::int64_t last_day);

}  // namespace tally::store
