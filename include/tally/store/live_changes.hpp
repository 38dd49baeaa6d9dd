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
#include <set>
#include <string>

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
};

/// A shard's changes: site -> day number -> ChangeSet.
using ChangeLog = StringMap<std::map<std::int64_t, ChangeSet>>;

}  // namespace tally::store
