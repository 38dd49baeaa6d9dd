// The Store: shards merge to the same figures as one shard; caps; rolling windows.

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "events.hpp"
#include "tally/query/query.hpp"
#include "tally/store/store.hpp"

namespace tally::test {
namespace {

query::DayRange day_range(std::int64_t ts) {
    const auto day = day_of(ts);
    return {day, day, format_day(day)};
}

TEST(Store, ShardsMergeToTheSameFiguresAsOne) {
    store::Store one({1, 100, 100, 10000});
    store::Store four({4, 100, 100, 10000});
    for (int i = 0; i < 5000; ++i) {
        auto e = i % 5 == 0 ? custom("evt" + std::to_string(i % 3), "u" + std::to_string(i % 701),
                                     "s" + std::to_string(i % 1009), kNoon + i)
                            : page("/p" + std::to_string(i % 97), "u" + std::to_string(i % 701),
                                   "s" + std::to_string(i % 1009), kNoon + i);
        e.country = i % 2 ? "US" : "DE";
        e.device = static_cast<Device>(i % 3);
        ASSERT_EQ(one.admit(0, e), store::Admission::ok);
        one.apply(0, e, kNoon);
        ASSERT_EQ(four.admit(static_cast<std::size_t>(i % 4), e), store::Admission::ok);
        four.apply(static_cast<std::size_t>(i % 4), e, kNoon);
    }
    const auto a = query::to_json(query::build_dashboard(one, "default", day_range(kNoon), kNoon));
    const auto b = query::to_json(query::build_dashboard(four, "default", day_range(kNoon), kNoon));
    EXPECT_EQ(a, b);
    auto d = query::build_dashboard(four, "default", day_range(kNoon), kNoon);
    EXPECT_EQ(d.page_views, 4000u);
    EXPECT_EQ(d.devices[0] + d.devices[1] + d.devices[2], 4000u);
    EXPECT_EQ(d.events.size(), 3u);
}

// Each page's visitors over a day split across shards equal those of one shard: a member's
// sets unite across shards. Exact at this size (every page has under 128 visitors).
TEST(Store, MemberVisitorsUniteAcrossShards) {
    store::Store one({1, 100, 100, 10000});
    store::Store four({4, 100, 100, 10000});
    std::map<std::string, std::set<std::string>> oracle;
    for (int i = 0; i < 3000; ++i) {
        const std::string path = "/p" + std::to_string(i % 7);
        const std::string user = "u" + std::to_string(i % 53);
        auto e = page(path, user, "s" + std::to_string(i), kNoon + i);
        oracle[path].insert(user);
        one.admit(0, e);
        one.apply(0, e, kNoon);
        four.admit(static_cast<std::size_t>(i % 4), e);
        four.apply(static_cast<std::size_t>(i % 4), e, kNoon);
    }
    for (const store::Store* s : {&one, &four}) {
        const auto rows = query::top_list_rows(*s, "default", day_range(kNoon),
                                               query::TopList::pages, 10, query::WithVisitors::yes);
        ASSERT_EQ(rows.size(), oracle.size());
        for (const query::TopListRow& row : rows)
            EXPECT_EQ(row.visitors, oracle[row.member].size()) << row.member;
    }
}

// A member evicted from its day's top list takes its visitor set with it; a newcomer starts
// empty, so a member's visitors are those since it was monitored.
TEST(DayState, MemberVisitorsFollowTheTopList) {
    store::DayState day(2);
    day.apply(page("/a", "u1", "s"));
    day.apply(page("/a", "u2", "s"));
    day.apply(page("/b", "u1", "s"));
    day.apply(page("/c", "u3", "s"));  // evicts /b, the minimum
    EXPECT_EQ(day.page_visitors.size(), 2u);
    EXPECT_FALSE(day.page_visitors.contains("/b"));
    EXPECT_EQ(day.page_visitors.at("/a").count(), 2u);
    EXPECT_EQ(day.page_visitors.at("/c").count(), 1u);
    EXPECT_TRUE(day.consistent());

    store::DayState other(2);
    other.apply(page("/c", "u4", "s"));
    other.apply(page("/d", "u5", "s"));
    day.merge(other);  // keeps /a (2) and /c (2 + 1): /d goes
    EXPECT_EQ(day.page_visitors.size(), 2u);
    EXPECT_EQ(day.page_visitors.at("/c").count(), 2u);
    EXPECT_FALSE(day.page_visitors.contains("/d"));
    EXPECT_TRUE(day.consistent());
}

TEST(Store, CapsOnSitesAndEventNames) {
    store::Store s({2, 2, 2, 100});
    EXPECT_EQ(s.admit(0, page("/", "u", "s", kNoon, "a")), store::Admission::ok);
    EXPECT_EQ(s.admit(1, page("/", "u", "s", kNoon, "b")), store::Admission::ok);
    EXPECT_EQ(s.admit(1, page("/", "u", "s", kNoon, "c")), store::Admission::too_many_sites);
    EXPECT_EQ(s.admit(0, page("/", "u", "s", kNoon, "a")), store::Admission::ok);
    EXPECT_EQ(s.admit(0, custom("x", "u", "s", kNoon, "a")), store::Admission::ok);
    EXPECT_EQ(s.admit(1, custom("y", "u", "s", kNoon, "a")), store::Admission::ok);
    EXPECT_EQ(s.admit(1, custom("z", "u", "s", kNoon, "a")),
              store::Admission::too_many_event_names);
    EXPECT_EQ(s.admit(0, custom("x", "u", "s", kNoon, "a")), store::Admission::ok);
    // The cap is per day: the next day has room again.
    EXPECT_EQ(s.admit(0, custom("z", "u", "s", kNoon + kMsPerDay, "a")), store::Admission::ok);
    EXPECT_EQ(s.sites(), (std::vector<std::string>{"a", "b"}));
}

TEST(Store, WindowsCountRecentSessionsOnce) {
    store::Store s({2, 10, 10, 100});
    const std::int64_t now = kNoon;
    s.apply(0, page("/a", "alice", "s1", now - 60'000), now);
    s.apply(1, page("/a", "alice", "s1", now - 30'000), now);  // same session, other shard
    s.apply(1, page("/b", "alice", "s2", now), now);
    s.apply(0, page("/b", "bob", "s3", now - 4 * 60'000), now);
    s.apply(0, page("/c", "carol", "s4", now - 10 * 60'000), now);  // pages window only
    s.apply(0, page("/d", "dave", "s5", now - 20 * 60'000), now);   // neither
    EXPECT_EQ(query::real_time_users(s, "default", now), 3u);
    auto users = query::active_users(s, "default", now);
    ASSERT_EQ(users.size(), 2u);
    EXPECT_EQ(users[0].user_id, "alice");
    EXPECT_EQ(users[0].session_count, 2u);
    auto pages = query::recent_top_pages(s, "default", now, 10);
    EXPECT_EQ(pages, (query::Ranked{{"/a", 2}, {"/b", 2}, {"/c", 1}}));
    // Ten minutes later the 5-minute window is empty, the 15-minute one still holds /b.
    EXPECT_EQ(query::real_time_users(s, "default", now + 10 * 60'000), 0u);
    EXPECT_EQ(query::recent_top_pages(s, "default", now + 10 * 60'000, 5),
              (query::Ranked{{"/a", 2}, {"/b", 2}}));
}

// A flood of distinct paths: each minute of the window holds at most the top-list capacity
// of pages; views of pages past it are counted as refused, those of pages it holds go on.
TEST(Store, AFloodOfDistinctPagesStaysWithinEachMinutesCap) {
    store::Store s({1, 10, 10, 100});
    const std::int64_t now = kNoon;
    for (int i = 0; i < 1'000; ++i)
        s.apply(0, page("/flood/" + std::to_string(i), "u", "s", now), now);
    s.apply(0, page("/flood/7", "u", "s", now), now);
    std::uint64_t refused = 0;
    const auto pages = query::recent_top_pages(s, "default", now, 1'000, &refused);
    EXPECT_EQ(pages.size(), 100u);
    EXPECT_EQ(refused, 900u);
    EXPECT_EQ(pages.front(), (std::pair<std::string, std::uint64_t>{"/flood/7", 2}));
    // The next minute starts afresh.
    s.apply(0, page("/late", "u", "s", now + 60'000), now + 60'000);
    const auto later = query::recent_top_pages(s, "default", now + 60'000, 1'000, &refused);
    EXPECT_EQ(later.size(), 101u);
    EXPECT_EQ(refused, 900u);
}

}  // namespace
}  // namespace tally::test

namespace tally::test {
namespace {

// A flood of distinct sessions stays within the budget (an equal share per partition); the
// figure is then short and says so, until the refusals leave the window; sessions that left
// the window make room again.
TEST(ActiveSessions, AFloodOfSessionsStaysWithinTheBudgetAndIsFlagged) {
    const std::size_t budget = 64 * 4;  // 4 a partition
    store::ActiveSessions active(budget);
    const std::int64_t t0 = kNoon;
    active.record("s", "first", "v", t0, t0);
    EXPECT_FALSE(active.real_time("s", t0).capped);
    for (int i = 0; i < 10'000; ++i)
        active.record("s", "flood-" + std::to_string(i), "v", t0, t0);
    EXPECT_LE(active.held(), budget);
    EXPECT_GE(active.held(), budget * 3 / 4);  // the hash spreads sessions over partitions
    const auto now = active.real_time("s", t0);
    EXPECT_EQ(now.sessions, active.held());
    EXPECT_TRUE(now.capped);
    EXPECT_EQ(active.refused(), 10'001 - active.held());
    // A session already held still moves forward in time while the budget is full.
    active.record("s", "first", "v", t0 + 60'000, t0 + 60'000);
    EXPECT_TRUE(active.real_time("s", t0 + 60'000).capped);

    // Ten minutes later the flood has left the window: no flag, and room for new sessions.
    const std::int64_t later = t0 + 10 * 60'000;
    EXPECT_FALSE(active.real_time("s", later).capped);
    const std::uint64_t refused_before = active.refused();
    for (int i = 0; i < 100; ++i)
        active.record("s", "new-" + std::to_string(i), "v", later, later);
    // (A partition may draw more than its 4 of the 100: those are refused, and flagged.)
    const auto after = active.real_time("s", later);
    const std::uint64_t refused_now = active.refused() - refused_before;
    EXPECT_EQ(after.sessions + refused_now, 100u);
    EXPECT_GE(after.sessions, 90u);
    EXPECT_EQ(after.capped, refused_now > 0);
    EXPECT_LE(active.held(), budget);  // what is left of the flood goes at the next sweeps
}

TEST(ActiveSessions, ExactAcrossMinutesAndSlotReuse) {
    store::ActiveSessions active;
    const std::int64_t t0 = kNoon;
    active.record("s", "a", "alice", t0, t0);
    active.record("s", "b", "bob", t0, t0);
    active.record("s", "a", "alice", t0 + 60'000, t0 + 60'000);  // a moves to the next minute
    EXPECT_EQ(active.count("s", t0 + 60'000), 2u);
    EXPECT_EQ(active.count("other", t0), 0u);
    // At t0 + 5 min, b (last seen at t0) has left the window; a (t0 + 1 min) has not.
    EXPECT_EQ(active.count("s", t0 + 5 * 60'000), 1u);
    EXPECT_EQ(active.count("s", t0 + 6 * 60'000), 0u);
    // Much later, the ring's slots are reused by new minutes without counting old sessions.
    const std::int64_t later = t0 + 60 * 60'000;
    active.record("s", "c", "carol", later, later);
    active.record("s", "a", "alice", later, later);
    EXPECT_EQ(active.count("s", later), 2u);
    store::StringMap<std::uint64_t> per_visitor;
    active.sessions_per_visitor("s", later, per_visitor);
    EXPECT_EQ(per_visitor.size(), 2u);
    // An older event of a session does not move it back in time.
    active.record("s", "c", "carol", later - 60'000, later);
    EXPECT_EQ(active.count("s", later + 4 * 60'000), 2u);
    // Events outside the window are ignored.
    active.record("s", "old", "x", later - 10 * 60'000, later);
    EXPECT_EQ(active.count("s", later), 2u);
}

}  // namespace
}  // namespace tally::test
