// Queries: funnel ordering, ranges, time series aggregation.

#include <gtest/gtest.h>

#include "tally/query/query.hpp"
#include "tally/store/store.hpp"
#include "unit/store/events.hpp"

namespace tally::test {
namespace {

class Funnel : public ::testing::Test {
  protected:
    store::Store store{{2, 10, 100, 100}};
    std::size_t next_shard = 0;
    void add(const Event& e) {
        // Spread one identity's events over the shards: the funnel must join them.
        store.apply(next_shard++ % 2, e, kNoon);
    }
    query::Ranked run(std::vector<std::string> steps) {
        return query::funnel(store, "default", day_of(kNoon), steps);
    }
};

TEST_F(Funnel, StepsMustComeInOrder) {
    add(page("/pricing", "u1", "s1", kNoon + 1));
    add(custom("signup", "u1", "s1", kNoon + 2));
    add(custom("buy", "u1", "s1", kNoon + 3));
    add(custom("buy", "u2", "s2", kNoon + 1));  // buy before signup
    add(custom("signup", "u2", "s2", kNoon + 2));
    add(custom("signup", "u3", "s3", kNoon + 5));  // no pricing view
    EXPECT_EQ(run({"pageview:/pricing", "signup", "buy"}),
              (query::Ranked{{"pageview:/pricing", 1}, {"signup", 1}, {"buy", 1}}));
    EXPECT_EQ(run({"signup", "buy"}), (query::Ranked{{"signup", 3}, {"buy", 1}}));
}

TEST_F(Funnel, EqualTimesCountAsAtOrAfter) {
    add(custom("b", "u1", "s", kNoon));
    add(custom("a", "u1", "s", kNoon));
    EXPECT_EQ(run({"a", "b"}), (query::Ranked{{"a", 1}, {"b", 1}}));
}

TEST_F(Funnel, RepeatedStepNeedsAnotherEvent) {
    add(custom("a", "u1", "s", kNoon));
    add(custom("b", "u1", "s", kNoon + 1));
    EXPECT_EQ(run({"a", "b", "a"}), (query::Ranked{{"a", 1}, {"b", 1}, {"a", 0}}));
    add(custom("a", "u1", "s", kNoon + 2));
    EXPECT_EQ(run({"a", "b", "a"}), (query::Ranked{{"a", 1}, {"b", 1}, {"a", 1}}));
    EXPECT_EQ(run({"a", "a"}), (query::Ranked{{"a", 1}, {"a", 1}}));
}

TEST_F(Funnel, GreedyEarliestIsOptimal) {
    // a(1) a(5) b(3): taking a@1 lets b@3 follow; a later a would not.
    add(custom("a", "u1", "s", kNoon + 5));
    add(custom("b", "u1", "s", kNoon + 3));
    add(custom("a", "u1", "s", kNoon + 1));
    EXPECT_EQ(run({"a", "b"}), (query::Ranked{{"a", 1}, {"b", 1}}));
}

TEST_F(Funnel, SessionIsTheIdentityWithoutUser) {
    Event e1 = custom("a", "", "sess", kNoon);
    e1.visitor_id = "hash1";
    Event e2 = custom("b", "", "sess", kNoon + 1);
    e2.visitor_id = "hash2";
    add(e1);
    add(e2);
    EXPECT_EQ(run({"a", "b"}), (query::Ranked{{"a", 1}, {"b", 1}}));
}

TEST_F(Funnel, OtherDaysAndUnknownStepsCountZero) {
    add(custom("a", "u1", "s", kNoon - kMsPerDay));
    EXPECT_EQ(run({"a", "zzz"}), (query::Ranked{{"a", 0}, {"zzz", 0}}));
}

TEST(Range, Parses) {
    auto r = query::parse_range("2024-W01", 0);
    ASSERT_TRUE(r);
    EXPECT_EQ(format_day(r->first), "2024-01-01");
    EXPECT_EQ(format_day(r->last), "2024-01-07");
    r = query::parse_range("2021-W01", 0);  // 2021's week 1 starts on Jan 4
    EXPECT_EQ(format_day(r->first), "2021-01-04");
    r = query::parse_range("2020-W53", 0);
    ASSERT_TRUE(r);
    EXPECT_EQ(format_day(r->last), "2021-01-03");
    EXPECT_FALSE(query::parse_range("2021-W53", 0));
    r = query::parse_range("2024-02", 0);
    EXPECT_EQ(format_day(r->last), "2024-02-29");
    r = query::parse_range("2023-12", 0);
    EXPECT_EQ(format_day(r->last), "2023-12-31");
    EXPECT_FALSE(query::parse_range("2024-13", 0));
    EXPECT_FALSE(query::parse_range("2024-W00", 0));
    EXPECT_FALSE(query::parse_range("20-01-01", 0));
    r = query::parse_range("today", kNoon);
    EXPECT_EQ(r->first, day_of(kNoon));
}

TEST(Timeseries, AggregatesPerMinuteCountsWithZeros) {
    store::Store s({2, 10, 10, 100});
    const std::int64_t base = day_of(kNoon) * kMsPerDay + 600 * 60'000;  // 10:00
    s.apply(0, page("/", "u", "s", base + 5), kNoon);
    s.apply(1, page("/", "u", "s", base + 10), kNoon);
    s.apply(0, page("/", "u", "s", base + 2 * 60'000), kNoon);
    query::TimeseriesRequest q;
    q.from_ms = base;
    q.to_ms = base + 3 * 60'000;
    q.bucket_ms = 3 * 60'000;
    q.aggregation = query::Aggregation::sum;
    auto points = query::timeseries(s, "default", q);
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].value, 3);
    q.aggregation = query::Aggregation::max;
    EXPECT_EQ(query::timeseries(s, "default", q)[0].value, 2);
    q.aggregation = query::Aggregation::min;
    EXPECT_EQ(query::timeseries(s, "default", q)[0].value, 0);
    q.aggregation = query::Aggregation::avg;
    EXPECT_EQ(query::timeseries(s, "default", q)[0].value, 1);
    // A bucket over a day boundary and a day with no data at all.
    q.from_ms = base - kMsPerDay;
    q.to_ms = base + kMsPerDay;
    q.bucket_ms = kMsPerDay;
    q.aggregation = query::Aggregation::sum;
    points = query::timeseries(s, "default", q);
    ASSERT_EQ(points.size(), 3u);  // yesterday, today, tomorrow (from/to are not aligned)
    EXPECT_EQ(points[0].value, 0);
    EXPECT_EQ(points[1].value, 3);
    EXPECT_EQ(points[2].value, 0);
}

}  // namespace
}  // namespace tally::test
