// Retention in the Store (with an injected "today"): old days fold into week and month
// roll-ups that answer exactly what the days answered, then leave; roll-ups expire.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <thread>

#include "events.hpp"
#include "tally/query/query.hpp"
#include "tally/store/store.hpp"

namespace tally::test {
namespace {

query::DayRange range(const std::string& text) {
    return *query::parse_range(text, kNoon);
}

/// Events over days d0-9 .. d0 in one site, spread over 3 shards.
void feed(store::Store& s, std::int64_t d0) {
    for (int day = 0; day < 10; ++day) {
        const std::int64_t ts = (d0 - 9 + day) * kMsPerDay + 3'600'000;
        for (int i = 0; i < 40; ++i) {
            auto e = i % 4 == 0 ? custom(i % 8 == 0 ? "signup" : "buy", "u" + std::to_string(i % 9),
                                         "s" + std::to_string(i), ts + i)
                                : page("/p" + std::to_string((i + day) % 6),
                                       "u" + std::to_string((i + day) % 13),
                                       "s" + std::to_string(i), ts + i);
            e.country = i % 2 ? "US" : "DE";
            const auto shard = static_cast<std::size_t>(i % 3);
            ASSERT_EQ(s.admit(shard, e), store::Admission::ok);
            s.apply(shard, e, ts);
        }
    }
}

TEST(StoreRetention, FoldedDaysAnswerTheirWeekAndMonthExactlyAndLeaveTheDayApi) {
    const std::int64_t today = day_of(kNoon);  // 2023-11-14, a Tuesday
    store::Store s({3, 10, 10, 100});
    feed(s, today);
    // Before: every week and month the days touch, and each day.
    // 2023-11-05 .. 14: W44 ends on the 5th, W45 is the 6th to the 12th.
    const std::vector<std::string> periods = {"2023-W44", "2023-W45", "2023-W46", "2023-11"};
    std::map<std::string, std::string> before;
    for (const auto& p : periods) {
        std::string json;
        s.visit_site_all("default", [&](std::span<const store::SiteShard* const> parts) {
            json = query::to_json(query::build_dashboard_locked(parts, "default", range(p)));
        });
        before[p] = json;
    }
    const auto funnel_before = query::funnel(s, "default", today - 8, {"pageview:/p1", "signup"});
    ASSERT_GT(funnel_before[0].second, 0u);
    const std::size_t days_before = s.day_count();
    EXPECT_EQ(days_before, 30u);  // 10 days x 3 shards

    // Keep the last 5 days (today - 4 ..): today-9 .. today-5 leave.
    const store::RetireStats stats = s.retire(today - 4, today - 400);
    EXPECT_EQ(stats.days, 15u);
    EXPECT_EQ(stats.rollups, 0u);
    EXPECT_EQ(s.day_count(), 15u);
    EXPECT_GT(s.rollup_count(), 0u);

    for (const auto& p : periods) {
        std::string json;
        s.visit_site_all("default", [&](std::span<const store::SiteShard* const> parts) {
            json = query::to_json(query::build_dashboard_locked(parts, "default", range(p)));
        });
        EXPECT_EQ(json, before[p]) << p;
    }
    // A day that left answers as a day never seen; its funnel is gone.
    const auto gone = query::build_dashboard(s, "default", range(format_day(today - 8)), kNoon);
    EXPECT_EQ(gone.page_views, 0u);
    EXPECT_TRUE(gone.top_pages.empty());
    EXPECT_EQ(query::funnel(s, "default", today - 8, {"pageview:/p1", "signup"})[0].second, 0u);
    // A day still held is untouched.
    EXPECT_EQ(query::build_dashboard(s, "default", range(format_day(today)), kNoon).page_views,
              30u);

    // Running again changes nothing.
    EXPECT_EQ(s.retire(today - 4, today - 400).days, 0u);

    // Roll-ups go once their whole period is past rollup retention: W44 (ends the 5th)
    // with a first kept roll-up day of the 6th; W45 and November stay.
    const store::RetireStats later = s.retire(today - 4, today - 8);
    EXPECT_EQ(later.days, 0u);
    EXPECT_GT(later.rollups, 0u);
    EXPECT_EQ(query::build_dashboard(s, "default", range("2023-W44"), kNoon).page_views, 0u);
    for (const auto& p : {"2023-W45", "2023-11"}) {
        std::string json;
        s.visit_site_all("default", [&](std::span<const store::SiteShard* const> parts) {
            json = query::to_json(query::build_dashboard_locked(parts, "default", range(p)));
        });
        EXPECT_EQ(json, before[p]) << p;
    }
    EXPECT_EQ(query::build_dashboard(s, "default", range("2023-11"), kNoon).page_views, 300u);
}

}  // namespace
}  // namespace tally::test
