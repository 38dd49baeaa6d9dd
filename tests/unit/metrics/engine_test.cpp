// The metrics engine's write side and what reads it whole: tiers, exact bucket merges,
// admission (type conflicts, caps, StatsD gauge deltas), the Prometheus export, snapshots
// and the derived metrics.

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fixture.hpp"
#include "tally/base/event.hpp"
#include "tally/metrics/buckets.hpp"
#include "tally/metrics/derive.hpp"
#include "tally/metrics/engine_snapshot.hpp"
#include "tally/metrics/tier.hpp"

namespace tally::metrics::test {
namespace {

// ---------------------------------------------------------------------------------------
// Tier

struct Probe {
    int adds = 0;
    void merge(const Probe& other) { adds += other.adds; }
};

std::vector<std::int64_t> numbers(const Tier<Probe>& tier) {
    std::vector<std::int64_t> out;
    for (const auto& [number, bucket] : tier.entries())
        out.push_back(number);
    return out;
}

// Room for more buckets than any test here makes.
constexpr std::size_t kSpan = 100'000;

TEST(Tier, AtCreatesOnceAndKeepsNumbersSortedWhateverTheOrder) {
    Tier<Probe> tier;
    EXPECT_TRUE(tier.empty());
    std::mt19937 random(7);
    std::map<std::int64_t, int> oracle;
    for (int i = 0; i < 2000; ++i) {
        const std::int64_t number = static_cast<std::int64_t>(random() % 300) - 100;  // < 0 too
        tier.at(number, kSpan).adds += 1;
        oracle[number] += 1;
    }
    ASSERT_EQ(tier.entries().size(), oracle.size());
    auto it = oracle.begin();
    for (const auto& [number, bucket] : tier.entries()) {
        EXPECT_EQ(number, it->first);
        EXPECT_EQ(bucket.adds, it->second);
        ++it;
    }
    const std::vector<std::int64_t> in_order = numbers(tier);
    EXPECT_TRUE(std::is_sorted(in_order.begin(), in_order.end()));
}

TEST(Tier, OutOfOrderInsertsLandInTheMiddle) {
    Tier<Probe> tier;
    for (std::int64_t n : {10, 20, 30, 15, 5, 25, 30, 10})
        tier.at(n, kSpan).adds += 1;
    EXPECT_EQ(numbers(tier), (std::vector<std::int64_t>{5, 10, 15, 20, 25, 30}));
    EXPECT_EQ(tier.at(10, kSpan).adds, 2);
    EXPECT_EQ(tier.at(30, kSpan).adds, 2);
    EXPECT_EQ(tier.entries().size(), 6u);  // at() of existing numbers created nothing
}

TEST(Tier, RoomGrowsToTheSpanAndStops) {
    Tier<Probe> tier;
    for (std::int64_t n = 0; n < 2881; ++n)
        tier.at(n, 2881).adds = 1;
    EXPECT_EQ(tier.entries().capacity(), 2881u);  // doubling alone would have reached 4,096
    tier.at(2881, 2881).adds = 1;                 // one beyond, before a prune: still kept
    EXPECT_EQ(tier.entries().size(), 2882u);
    tier.prune(1);
    EXPECT_EQ(tier.entries().size(), 2881u);
    EXPECT_EQ(tier.entries().front().first, 1);
}

TEST(Tier, VisitIsHalfOpenAndInOrder) {
    Tier<Probe> tier;
    for (std::int64_t n = 0; n < 10; n += 2)
        tier.at(n, kSpan).adds = static_cast<int>(n);
    std::vector<std::int64_t> seen;
    tier.visit(2, 8, [&](std::int64_t number, const Probe& p) {
        EXPECT_EQ(p.adds, number);
        seen.push_back(number);
    });
    EXPECT_EQ(seen, (std::vector<std::int64_t>{2, 4, 6}));
    seen.clear();
    tier.visit(3, 4, [&](std::int64_t number, const Probe&) { seen.push_back(number); });
    EXPECT_TRUE(seen.empty());
    tier.visit(-100, 100, [&](std::int64_t number, const Probe&) { seen.push_back(number); });
    EXPECT_EQ(seen.size(), 5u);
}

TEST(Tier, PruneDropsOnlyWhatIsBelowOldest) {
    Tier<Probe> tier;
    for (std::int64_t n = 0; n < 100; ++n)
        tier.at(n, kSpan).adds = 1;
    tier.prune(40);
    ASSERT_EQ(tier.entries().size(), 60u);
    EXPECT_EQ(tier.entries().front().first, 40);
    tier.prune(40);  // idempotent
    EXPECT_EQ(tier.entries().size(), 60u);
    tier.prune(-5);
    EXPECT_EQ(tier.entries().size(), 60u);
    tier.at(3, kSpan).adds = 1;  // a late point before the oldest still goes in order
    EXPECT_EQ(tier.entries().front().first, 3);
    tier.prune(1000);
    EXPECT_TRUE(tier.empty());
}

// ---------------------------------------------------------------------------------------
// Exact merges: a 1-minute bucket is the merge of its six 10-second buckets, an hour
// bucket the merge of its 60 minutes.

template <typename Bucket>
const Tiers<Bucket>& tiers_of(const Engine& engine, std::size_t shard, SeriesId id) {
    return std::get<Tiers<Bucket>>(engine.shard(shard).series.at(id)->tiers);
}

SeriesId series_of(const Engine& engine, const std::string& name) {
    const auto info = engine.registry().name("", name);
    EXPECT_TRUE(info.has_value()) << name;
    EXPECT_EQ(info->series.size(), 1u);
    return info->series.at(0);
}

/// The merge of the tier-`fine` buckets inside tier-`coarse` bucket `number`.
template <typename Bucket>
Bucket merged_fine(const Tiers<Bucket>& tiers, std::size_t fine, std::size_t coarse,
                   std::int64_t number) {
    const std::int64_t ratio = kTierWidthMs[coarse] / kTierWidthMs[fine];
    Bucket out;
    tiers.tier[fine].visit(number * ratio, (number + 1) * ratio,
                           [&](std::int64_t, const Bucket& b) { out.merge(b); });
    return out;
}

TEST(BucketMerge, CoarseBucketsEqualTheMergeOfTheirFinerOnes) {
    Engine engine(EngineOptions{});
    std::mt19937_64 random(11);
    // Three minutes of points, 20 minutes ago, and (for the hour tier) a few hours of them
    // within the last 48 h.
    const std::int64_t minute = floor_to(kNow - 20 * kMinute, kMinute);
    const std::int64_t hour = floor_to(kNow - 5 * kHour, kHour);
    for (int i = 0; i < 3000; ++i) {
        const bool recent = i % 2 == 0;
        const std::int64_t ts = recent ? minute + static_cast<std::int64_t>(random() % (3 * 60'000))
                                       : hour + static_cast<std::int64_t>(random() % (3 * kHour));
        const double v = 1 + static_cast<double>(random() % 100'000) / 7.0;
        ASSERT_FALSE(put(engine, point("c", MetricType::count, std::floor(v), ts)));
        ASSERT_FALSE(put(engine, point("g", MetricType::gauge, v, ts)));
        ASSERT_FALSE(put(engine, point("d", MetricType::percentile, v, ts)));
        ASSERT_FALSE(put(engine, point("s", MetricType::unique, 0, ts, {},
                                       "m" + std::to_string(random() % 400))));
    }
    struct Check {
        std::size_t fine, coarse;
        std::int64_t first, count;
    };
    const std::vector<Check> checks = {{0, 1, minute / kMinute, 3}, {1, 2, hour / kHour, 3}};
    for (const Check& check : checks) {
        SCOPED_TRACE("tier " + std::to_string(check.fine) + " into " +
                     std::to_string(check.coarse));
        for (std::int64_t n = check.first; n < check.first + check.count; ++n) {
            {
                const auto& t = tiers_of<CounterBucket>(engine, 0, series_of(engine, "c"));
                const auto whole =
                    const_cast<Tier<CounterBucket>&>(t.tier[check.coarse]).at(n, kSpan);
                const auto parts = merged_fine(t, check.fine, check.coarse, n);
                EXPECT_GT(whole.count, 0);
                EXPECT_EQ(whole.sum, parts.sum);
                EXPECT_EQ(whole.count, parts.count);
            }
            {
                const auto& t = tiers_of<GaugeBucket>(engine, 0, series_of(engine, "g"));
                const auto whole =
                    const_cast<Tier<GaugeBucket>&>(t.tier[check.coarse]).at(n, kSpan);
                const auto parts = merged_fine(t, check.fine, check.coarse, n);
                EXPECT_EQ(whole.count, parts.count);
                EXPECT_NEAR(whole.sum, parts.sum, 1e-9 * std::abs(whole.sum));
                EXPECT_EQ(whole.min, parts.min);
                EXPECT_EQ(whole.max, parts.max);
                EXPECT_EQ(whole.last, parts.last);
                EXPECT_EQ(whole.last_ms, parts.last_ms);
            }
            {
                const auto& t = tiers_of<DistributionBucket>(engine, 0, series_of(engine, "d"));
                const auto whole =
                    const_cast<Tier<DistributionBucket>&>(t.tier[check.coarse]).at(n, kSpan);
                const auto parts = merged_fine(t, check.fine, check.coarse, n);
                EXPECT_EQ(whole.sketch.count(), parts.sketch.count());
                EXPECT_EQ(whole.sketch.min(), parts.sketch.min());
                EXPECT_EQ(whole.sketch.max(), parts.sketch.max());
                EXPECT_NEAR(whole.sketch.sum(), parts.sketch.sum(), 1e-9 * whole.sketch.sum());
                for (double q : {0.01, 0.25, 0.5, 0.9, 0.99, 0.999})
                    EXPECT_EQ(whole.sketch.quantile(q), parts.sketch.quantile(q)) << q;
            }
            {
                const auto& t = tiers_of<SetBucket>(engine, 0, series_of(engine, "s"));
                const auto whole = const_cast<Tier<SetBucket>&>(t.tier[check.coarse]).at(n, kSpan);
                const auto parts = merged_fine(t, check.fine, check.coarse, n);
                EXPECT_EQ(whole.points, parts.points);
                EXPECT_EQ(whole.set.count(), parts.set.count());
            }
        }
    }
}

// The same through run_query: windows of 10 s summed give the 1-minute window.
TEST(BucketMerge, TenSecondWindowsAddUpToTheMinuteWindow) {
    Engine engine(with_shards(3));
    std::mt19937_64 random(12);
    const std::int64_t minute = floor_to(kNow - 10 * kMinute, kMinute);
    std::vector<std::int64_t> stamps;
    for (int i = 0; i < 600; ++i)
        stamps.push_back(minute + static_cast<std::int64_t>(i) * 100);  // distinct, one minute
    std::shuffle(stamps.begin(), stamps.end(), random);
    std::set<std::string> members;
    for (std::size_t i = 0; i < stamps.size(); ++i) {
        const std::size_t writer = random() % 3;
        const double v = static_cast<double>(1 + random() % 1000);
        ASSERT_FALSE(put(engine, point("c", MetricType::count, v, stamps[i]), kNow, writer));
        ASSERT_FALSE(put(engine, point("g", MetricType::gauge, v, stamps[i]), kNow, writer));
        ASSERT_FALSE(put(engine, point("d", MetricType::percentile, v, stamps[i]), kNow, writer));
        const std::string member = "u" + std::to_string(random() % 200);
        members.insert(member);
        ASSERT_FALSE(
            put(engine, point("s", MetricType::unique, 0, stamps[i], {}, member), kNow, writer));
    }
    auto run = [&](const std::string& metric, const char* aggregation, MetricWindow window) {
        RangeQuery q;
        q.metrics = {metric};
        q.aggregation = Aggregation::parse(aggregation);
        q.window = window;
        q.start_ms = minute;
        q.end_ms = minute + kMinute;
        const auto results = query_ok(engine, q);
        EXPECT_EQ(results.size(), 1u);
        return results.empty() ? std::vector<QueryPoint>{} : results[0].points;
    };
    auto fold = [&](const std::string& metric, const char* aggregation, auto combine) {
        const auto tens = run(metric, aggregation, MetricWindow::s10);
        const auto one = run(metric, aggregation, MetricWindow::m1);
        EXPECT_EQ(tens.size(), 6u);
        EXPECT_EQ(one.size(), 1u);
        std::optional<double> folded;
        for (const auto& p : tens) {
            EXPECT_TRUE(p.value.has_value());
            if (p.value)
                folded = folded ? combine(*folded, *p.value) : *p.value;
        }
        return std::pair{folded, one.empty() ? std::nullopt : one[0].value};
    };
    const auto add = [](double a, double b) { return a + b; };
    const auto lo = [](double a, double b) { return std::min(a, b); };
    const auto hi = [](double a, double b) { return std::max(a, b); };
    const auto later = [](double, double b) { return b; };
    for (const char* metric : {"c", "g", "d"}) {
        SCOPED_TRACE(metric);
        auto [tens, one] = fold(metric, "sum", add);
        EXPECT_EQ(tens, one);
        std::tie(tens, one) = fold(metric, "count", add);
        EXPECT_EQ(tens, one);
        EXPECT_EQ(one, 600.0);
    }
    for (const char* metric : {"g", "d"}) {
        SCOPED_TRACE(metric);
        auto [tens, one] = fold(metric, "min", lo);
        EXPECT_EQ(tens, one);
        std::tie(tens, one) = fold(metric, "max", hi);
        EXPECT_EQ(tens, one);
    }
    auto [tens, one] = fold("g", "last", later);
    EXPECT_EQ(tens, one);
    // Sets: the minute's distinct count is the union's, not the sum of the windows'.
    const auto unique = run("s", "unique", MetricWindow::m1);
    ASSERT_EQ(unique.size(), 1u);
    EXPECT_EQ(unique[0].value, static_cast<double>(members.size()));
}

// ---------------------------------------------------------------------------------------
// Admission

TEST(Admit, AnotherKindForAKnownNameIsATypeConflict) {
    Engine engine(with_shards(2));
    ASSERT_FALSE(put(engine, point("jobs", MetricType::count, 1, kNow, {{"q", "a"}})));
    for (std::size_t writer : {0u, 1u}) {  // the writer's own cache, and a fresh one
        for (MetricType conflicting :
             {MetricType::gauge, MetricType::percentile, MetricType::unique, MetricType::average}) {
            MetricPoint p = point("jobs", conflicting, 1, kNow, {{"q", "a"}}, "x");
            SeriesId id = 0;
            const auto why = engine.admit(writer, p, id);
            ASSERT_TRUE(why.has_value());
            EXPECT_EQ(why->reason, "type_conflict");
            EXPECT_EQ(why->field, "type");
            EXPECT_NE(why->message.find("type conflicts"), std::string::npos) << why->message;
            // A new tag set of the name conflicts too, and creates no series.
            MetricPoint fresh = point("jobs", conflicting, 1, kNow, {{"q", "new"}}, "x");
            const auto fresh_why = engine.admit(writer, fresh, id);
            ASSERT_TRUE(fresh_why.has_value());
            EXPECT_EQ(fresh_why->reason, "type_conflict");
        }
    }
    EXPECT_EQ(engine.registry().series_count(), 1u);
    EXPECT_EQ(engine.rejected(SeriesRegistry::Admission::type_conflict), 16u);
    // Another type of the same kind is no conflict (sum and rate are counters too).
    EXPECT_FALSE(put(engine, point("jobs", MetricType::sum, 2, kNow, {{"q", "a"}})));
    EXPECT_FALSE(put(engine, point("jobs", MetricType::rate, 2, kNow, {{"q", "b"}}), kNow, 1));
    const auto now = current(engine, "", "jobs", MetricWindow::m1, {}, kNow);
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->type, MetricType::count);  // the first point's type
    EXPECT_EQ(now->value, 5.0);
}

TEST(Admit, CapsRefuseNewSeriesAndLeaveNothingBehind) {
    Engine engine(with_shards(2, RegistryLimits{4, 2}));
    ASSERT_FALSE(put(engine, point("a", MetricType::count, 1, kNow, {{"k", "1"}})));
    ASSERT_FALSE(put(engine, point("a", MetricType::count, 1, kNow, {{"k", "2"}}), kNow, 1));
    for (std::size_t writer : {0u, 1u}) {
        const auto why =
            put(engine, point("a", MetricType::count, 1, kNow, {{"k", "3"}}), kNow, writer);
        ASSERT_TRUE(why.has_value());
        EXPECT_EQ(why->reason, "too_many_series_per_name");
    }
    ASSERT_FALSE(put(engine, point("b", MetricType::gauge, 1, kNow)));
    ASSERT_FALSE(put(engine, point("c", MetricType::gauge, 1, kNow)));
    const auto why = put(engine, point("d", MetricType::gauge, 1, kNow), kNow, 1);
    ASSERT_TRUE(why.has_value());
    EXPECT_EQ(why->reason, "too_many_series");
    // Nothing created: no series, no name, no bucket.
    EXPECT_EQ(engine.registry().series_count(), 4u);
    EXPECT_EQ(engine.registry().name_count(), 3u);
    EXPECT_FALSE(engine.registry().name("", "d").has_value());
    EXPECT_FALSE(current(engine, "", "d", std::nullopt, {}, kNow).has_value());
    const auto a = current(engine, "", "a", MetricWindow::m1, {}, kNow);
    ASSERT_TRUE(a.has_value());
    EXPECT_EQ(a->value, 2.0);
    EXPECT_EQ(engine.registry().name("", "a")->series.size(), 2u);
    // Existing series still count, at the caps.
    EXPECT_FALSE(put(engine, point("a", MetricType::count, 5, kNow, {{"k", "1"}}), kNow, 1));
    const auto again = put(engine, point("d", MetricType::gauge, 1, kNow), kNow, 0);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->reason, "too_many_series");
    EXPECT_EQ(engine.rejected(SeriesRegistry::Admission::too_many_series_for_name), 2u);
    EXPECT_EQ(engine.rejected(SeriesRegistry::Admission::too_many_series), 2u);
    // A replayed point (answered once already) passes the caps.
    MetricPoint replayed = point("e", MetricType::count, 1, kNow);
    engine.apply_replayed(0, replayed, kNow);
    EXPECT_TRUE(engine.registry().name("", "e").has_value());
}

TEST(Admit, GaugeDeltasResolveToAbsoluteValuesAcrossWriters) {
    Engine engine(with_shards(3));
    auto send = [&](double value, bool delta, std::size_t writer, std::int64_t ts) {
        MetricPoint p = point("queue.depth", MetricType::gauge, value, ts);
        p.gauge_delta = delta;
        SeriesId id = 0;
        EXPECT_FALSE(engine.admit(writer, p, id));
        EXPECT_FALSE(p.gauge_delta);  // the log holds the absolute value
        engine.apply(writer, &p, &id, 1, kNow, nullptr);
        return p.value;
    };
    EXPECT_EQ(send(+4, true, 0, kNow - 50'000), 4.0);  // a delta on nothing starts from 0
    EXPECT_EQ(send(10, false, 1, kNow - 40'000), 10.0);
    EXPECT_EQ(send(+5, true, 2, kNow - 30'000), 15.0);
    EXPECT_EQ(send(-3, true, 0, kNow - 20'000), 12.0);
    EXPECT_EQ(send(-12.5, true, 1, kNow - 10'000), -0.5);
    const auto now = current(engine, "", "queue.depth", MetricWindow::m1, {}, kNow);
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->value, -0.5);
    EXPECT_EQ(now->count, 5.0);
    RangeQuery q;
    q.metrics = {"queue.depth"};
    q.window = MetricWindow::m1;
    q.aggregation = Aggregation::parse("max");
    const auto results = query_ok(engine, q);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].points.at(0).value, 15.0);
}

// Recovery replays each writer's log in turn: the registry's gauge value (what "+N" changes)
// must end as the latest value by timestamp, not the last one replayed.
TEST(Admit, RecoveryLeavesGaugesAtTheirLatestValue) {
    Engine engine(with_shards(2));
    const Derivations none;
    EngineState state(engine, none);
    MetricPoint later = point("depth", MetricType::gauge, 100, kNow - 1'000);
    MetricPoint earlier = point("depth", MetricType::gauge, 5, kNow - 9'000);
    state.replay(1, later, kNow);    // writer 1's log first,
    state.replay(0, earlier, kNow);  // then writer 0's, holding an older point
    state.recovered({{1, 0}, {1, 0}});
    MetricPoint delta = point("depth", MetricType::gauge, 1, kNow);
    delta.gauge_delta = true;
    SeriesId id = 0;
    ASSERT_FALSE(engine.admit(0, delta, id));
    EXPECT_EQ(delta.value, 101.0);
}

// ---------------------------------------------------------------------------------------
// Prometheus export

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        out.push_back(text.substr(start, end - start));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    const auto all = lines_of(text);
    return std::find(all.begin(), all.end(), line) != all.end();
}

TEST(Prometheus, CountersGaugesSummariesAndSetsInTextFormat) {
    Engine engine(with_shards(2));
    // A counter, partly more than an hour old (cumulative since it began).
    ASSERT_FALSE(put(engine, point("http.requests", MetricType::count, 3, kNow - 5 * kHour,
                                   {{"path", "/a\"b\\c\nd"}, {"status", "200"}})));
    ASSERT_FALSE(put(engine,
                     point("http.requests", MetricType::count, 4, kNow - 1'000,
                           {{"path", "/a\"b\\c\nd"}, {"status", "200"}}),
                     kNow, 1));
    // A gauge: the latest point's value, whatever the order it came in.
    ASSERT_FALSE(put(engine, point("cpu.load", MetricType::gauge, 0.75, kNow - 2'000)));
    ASSERT_FALSE(put(engine, point("cpu.load", MetricType::gauge, 0.25, kNow - 9'000), kNow, 1));
    // A distribution: 1..100 in the last minute, plus an old 1000 in _sum/_count only.
    ASSERT_FALSE(put(engine, point("api.latency", MetricType::percentile, 1000, kNow - 2 * kHour)));
    for (int v = 1; v <= 100; ++v) {
        ASSERT_FALSE(put(engine, point("api.latency", MetricType::percentile, v, kNow - v * 100),
                         kNow, static_cast<std::size_t>(v % 2)));
    }
    // A set.
    for (int i = 0; i < 30; ++i) {
        ASSERT_FALSE(put(engine, point("users.seen", MetricType::unique, 0, kNow - 1'000, {},
                                       "u" + std::to_string(i % 12))));
    }
    // A tag key Prometheus does not allow, and a name starting with a digit.
    ASSERT_FALSE(put(engine, point("9lives", MetricType::gauge, 9, kNow, {{"a.b-c", "x"}})));
    ASSERT_FALSE(put(engine, point("svc:up", MetricType::gauge, 1, kNow)));  // ':' is for rules

    const std::string text = export_prometheus(engine, kNow);
    SCOPED_TRACE(text);
    EXPECT_TRUE(has_line(text, "# TYPE http_requests_total counter"));
    EXPECT_TRUE(has_line(text, R"(http_requests_total{path="/a\"b\\c\nd",status="200"} 7)"));
    EXPECT_TRUE(has_line(text, "# TYPE cpu_load gauge"));
    EXPECT_TRUE(has_line(text, "cpu_load 0.75"));
    EXPECT_TRUE(has_line(text, "# TYPE api_latency summary"));
    auto quantile = [&](const std::string& q) -> double {
        const std::string prefix = "api_latency{quantile=\"" + q + "\"} ";
        for (const auto& line : lines_of(text)) {
            if (line.rfind(prefix, 0) == 0)
                return std::stod(line.substr(prefix.size()));
        }
        ADD_FAILURE() << "no line " << prefix;
        return -1;
    };
    // Nearest rank over 1..100 in the last minute: ceil(q * 100).
    EXPECT_NEAR(quantile("0.5"), 50, 0.5);
    EXPECT_NEAR(quantile("0.9"), 90, 0.9);
    EXPECT_NEAR(quantile("0.95"), 95, 0.95);
    EXPECT_NEAR(quantile("0.99"), 99, 0.99);
    EXPECT_TRUE(has_line(text, "api_latency_sum 6050"));
    EXPECT_TRUE(has_line(text, "api_latency_count 101"));
    EXPECT_TRUE(has_line(text, "# TYPE users_seen gauge"));
    EXPECT_TRUE(has_line(text, "users_seen 12"));
    EXPECT_TRUE(has_line(text, "_9lives{a_b_c=\"x\"} 9"));
    EXPECT_TRUE(has_line(text, "svc_up 1"));
    // Every sample line's family was declared, once.
    std::map<std::string, int> types;
    for (const auto& line : lines_of(text)) {
        if (line.rfind("# TYPE ", 0) == 0)
            ++types[line.substr(7, line.find(' ', 7) - 7)];
    }
    for (const auto& [family, n] : types)
        EXPECT_EQ(n, 1) << family;
    EXPECT_EQ(types.size(), 6u);
}

// Two valid metric names can become the same Prometheus name ("api.calls" and "api_calls"):
// the exposition must still declare each family once (promtool refuses a repeated TYPE).
TEST(Prometheus, NamesThatCollideAfterSanitisingAreOneFamily) {
    Engine engine(EngineOptions{});
    ASSERT_FALSE(put(engine, point("api.calls", MetricType::gauge, 1, kNow, {{"via", "dot"}})));
    ASSERT_FALSE(
        put(engine, point("api_calls", MetricType::gauge, 2, kNow, {{"via", "underscore"}})));
    const std::string text = export_prometheus(engine, kNow);
    SCOPED_TRACE(text);
    std::map<std::string, int> types;
    for (const auto& line : lines_of(text)) {
        if (line.rfind("# TYPE ", 0) == 0)
            ++types[line.substr(7, line.find(' ', 7) - 7)];
    }
    EXPECT_EQ(types["api_calls"], 1);
    EXPECT_TRUE(has_line(text, "api_calls{tally_name=\"api.calls\",via=\"dot\"} 1"));
    EXPECT_TRUE(has_line(text, "api_calls{tally_name=\"api_calls\",via=\"underscore\"} 2"));
}

// A gauge "x.count" meets the "_count" line of the distribution "x", and a gauge
// "hits.total" the counter "hits" (exported as hits_total): the later name in sorted order
// is numbered ("x_count_2", "hits_total_2"), and no sample name is written by two families.
TEST(Prometheus, ANameThatMeetsAnotherKindIsNumbered) {
    Engine engine(EngineOptions{});
    ASSERT_FALSE(put(engine, point("x", MetricType::percentile, 7, kNow)));
    ASSERT_FALSE(put(engine, point("x.count", MetricType::gauge, 5, kNow)));
    ASSERT_FALSE(put(engine, point("x-count", MetricType::gauge, 6, kNow)));
    ASSERT_FALSE(put(engine, point("hits", MetricType::count, 3, kNow)));
    ASSERT_FALSE(put(engine, point("hits.total", MetricType::gauge, 9, kNow)));
    const std::string text = export_prometheus(engine, kNow);
    SCOPED_TRACE(text);
    EXPECT_TRUE(has_line(text, "# TYPE x summary"));
    EXPECT_TRUE(has_line(text, "x_count 1"));
    EXPECT_TRUE(has_line(text, "# TYPE x_count_2 gauge"));
    EXPECT_TRUE(has_line(text, "x_count_2{tally_name=\"x-count\"} 6"));
    EXPECT_TRUE(has_line(text, "x_count_2{tally_name=\"x.count\"} 5"));
    EXPECT_TRUE(has_line(text, "hits_total 3"));
    EXPECT_TRUE(has_line(text, "hits_total_2 9"));
    std::map<std::string, int> samples;
    for (const auto& line : lines_of(text)) {
        if (!line.empty() && line[0] != '#')
            ++samples[line.substr(0, line.find_first_of("{ "))];
    }
    EXPECT_EQ(samples["x_count"], 1);
    EXPECT_EQ(samples["hits_total"], 1);
}

// ---------------------------------------------------------------------------------------
// Snapshots

void fill_random(Engine& engine, unsigned seed, int points) {
    std::mt19937_64 random(seed);
    const char* hosts[] = {"a", "b", "c"};
    for (int i = 0; i < points; ++i) {
        const std::int64_t age = static_cast<std::int64_t>(random() % (72 * kHour));
        const std::int64_t ts = kNow - age;
        const std::vector<MetricTag> tags = {{"host", hosts[random() % 3]}};
        const std::size_t writer = random() % engine.shard_count();
        const double v = static_cast<double>(1 + random() % 5000);
        ASSERT_FALSE(put(engine, point("c", MetricType::count, v, ts, tags), kNow, writer));
        ASSERT_FALSE(put(engine, point("g", MetricType::gauge, v, ts - 1, tags), kNow, writer));
        ASSERT_FALSE(put(engine, point("d", MetricType::percentile, v, ts, tags), kNow, writer));
        ASSERT_FALSE(
            put(engine,
                point("s", MetricType::unique, 0, ts, tags, "m" + std::to_string(random() % 1000)),
                kNow, writer));
    }
}

/// Every answer the engine gives for a set of queries, as text, to compare engines.
std::string answers(const Engine& engine) {
    std::string out;
    struct Q {
        const char* aggregation;
        MetricWindow window;
        std::int64_t start, end;
    };
    const std::vector<Q> queries = {
        {nullptr, MetricWindow::s10, kNow - 50 * kMinute, kNow},
        {nullptr, MetricWindow::m15, kNow - 40 * kHour, kNow},
        {nullptr, MetricWindow::h1, kNow - 72 * kHour, kNow},
        {"count", MetricWindow::d1, kNow - 72 * kHour, kNow},
        {"avg", MetricWindow::h1, kNow - 72 * kHour, kNow},
    };
    for (const char* metric : {"c", "g", "d", "s"}) {
        for (const Q& spec : queries) {
            RangeQuery q;
            q.metrics = {metric};
            q.window = spec.window;
            q.start_ms = spec.start;
            q.end_ms = spec.end;
            q.group_by = {"host"};
            if (spec.aggregation != nullptr) {
                if (std::string(metric) == "s")
                    continue;
                q.aggregation = Aggregation::parse(spec.aggregation);
            }
            for (const auto& result : query_ok(engine, q)) {
                out += result.metric + " " + result.aggregation + " " +
                       result.group.at(0).second.value_or("-") + ":";
                for (const auto& p : result.points)
                    out += " " + (p.value ? std::to_string(*p.value) : "null");
                out += "\n";
            }
        }
        const auto now = current(engine, "", metric, MetricWindow::d1, {}, kNow);
        out += std::string("current ") + metric + " " +
               (now && now->value ? std::to_string(*now->value) : "null") + " " +
               std::to_string(now ? now->count : -1) + "\n";
    }
    return out;
}

TEST(Snapshot, RoundTripGivesIdenticalAnswers) {
    Engine engine(with_shards(3));
    fill_random(engine, 21, 1500);
    // A gauge changed by deltas: its global last value must survive.
    ASSERT_FALSE(put(engine, point("depth", MetricType::gauge, 7, kNow - 1000)));
    const std::vector<store::LogPosition> extra = {{3, 99}};
    const std::string bytes = encode_engine(engine, kNow, extra);
    const std::string expected = answers(engine);
    ASSERT_GT(expected.size(), 1000u);
    for (std::size_t shards : {3u, 2u, 5u}) {
        SCOPED_TRACE("into " + std::to_string(shards) + " shards");
        Engine copy(with_shards(shards));
        std::string error;
        const auto positions = decode_engine(bytes, copy, error);
        ASSERT_TRUE(positions.has_value()) << error;
        EXPECT_EQ(answers(copy), expected);
        EXPECT_EQ(copy.registry().series_count(), engine.registry().series_count());
        EXPECT_EQ(export_prometheus(copy, kNow), export_prometheus(engine, kNow));
        MetricPoint delta = point("depth", MetricType::gauge, 2, kNow);
        delta.gauge_delta = true;
        SeriesId id = 0;
        ASSERT_FALSE(copy.admit(1, delta, id));
        EXPECT_EQ(delta.value, 9.0);
        // A name keeps its kind after the load.
        MetricPoint conflict = point("c", MetricType::gauge, 1, kNow, {{"host", "a"}});
        const auto why = copy.admit(1, conflict, id);
        ASSERT_TRUE(why.has_value());
        EXPECT_EQ(why->reason, "type_conflict");
    }
}

TEST(Snapshot, DamagedBytesAreRefused) {
    Engine engine(with_shards(2));
    fill_random(engine, 22, 200);
    const std::string bytes = encode_engine(engine, kNow);
    std::mt19937 random(5);
    for (int trial = 0; trial < 40; ++trial) {
        std::string damaged = bytes;
        const std::size_t at = random() % damaged.size();
        damaged[at] = static_cast<char>(damaged[at] ^ (1 << (random() % 8)));
        Engine into(with_shards(2));
        std::string error;
        EXPECT_FALSE(decode_engine(damaged, into, error).has_value()) << "flip at " << at;
        EXPECT_FALSE(error.empty());
    }
    for (std::size_t keep :
         {std::size_t{0}, std::size_t{7}, std::size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
        Engine into(with_shards(2));
        std::string error;
        EXPECT_FALSE(decode_engine(std::string_view(bytes).substr(0, keep), into, error))
            << "truncated to " << keep;
    }
    std::string longer = bytes + "x";
    Engine into(with_shards(2));
    std::string error;
    EXPECT_FALSE(decode_engine(longer, into, error).has_value());
}

// ---------------------------------------------------------------------------------------
// Derived metrics

Event event_of(EventKind kind, const std::string& name, const std::string& properties,
               const std::string& visitor) {
    Event e;
    e.kind = kind;
    e.site = "shop";
    e.event_name = name;
    e.properties = properties;
    e.visitor_id = visitor;
    e.session_id = "s";
    e.timestamp_ms = kNow - 5'000;
    return e;
}

const MetricPoint* find_point(const std::vector<MetricPoint>& points, const std::string& name) {
    for (const auto& p : points) {
        if (p.name == name)
            return &p;
    }
    return nullptr;
}

TEST(Derive, PageviewsEventsUsersAndRules) {
    const Derivations derivations({
        {"api_call",
         "api.response.time",
         MetricType::percentile,
         "duration_ms",
         {"endpoint", "status"}},
        {"signup", "signups.by.plan", MetricType::count, "", {"plan"}},
    });
    std::vector<MetricPoint> out;
    derivations.points_of(event_of(EventKind::pageview, "", "", "v1"), out);
    ASSERT_EQ(out.size(), 2u);
    const MetricPoint* views = find_point(out, "pageviews.count");
    ASSERT_NE(views, nullptr);
    EXPECT_EQ(views->type, MetricType::count);
    EXPECT_EQ(views->value, 1.0);
    EXPECT_EQ(views->tags, (std::vector<MetricTag>{{"site", "shop"}}));
    const MetricPoint* users = find_point(out, "users.active");
    ASSERT_NE(users, nullptr);
    EXPECT_EQ(users->type, MetricType::unique);
    EXPECT_EQ(users->member, "v1");

    out.clear();
    derivations.points_of(
        event_of(EventKind::custom, "api_call",
                 R"({"duration_ms":125.5,"endpoint":"/v1/x","status":200,"other":"y"})", "v2"),
        out);
    ASSERT_EQ(out.size(), 3u);
    ASSERT_NE(find_point(out, "events.api_call.count"), nullptr);
    const MetricPoint* timing = find_point(out, "api.response.time");
    ASSERT_NE(timing, nullptr);
    EXPECT_EQ(timing->type, MetricType::percentile);
    EXPECT_EQ(timing->value, 125.5);
    EXPECT_EQ(timing->tags,
              (std::vector<MetricTag>{{"endpoint", "/v1/x"}, {"site", "shop"}, {"status", "200"}}));

    // Without the value property: no point for the rule, the event's own still there.
    out.clear();
    derivations.points_of(event_of(EventKind::custom, "api_call", R"({"endpoint":"/v1/x"})", "v2"),
                          out);
    EXPECT_EQ(find_point(out, "api.response.time"), nullptr);
    EXPECT_NE(find_point(out, "events.api_call.count"), nullptr);
    out.clear();
    derivations.points_of(
        event_of(EventKind::custom, "api_call", R"({"duration_ms":"slow"})", "v2"), out);
    EXPECT_EQ(find_point(out, "api.response.time"), nullptr);

    // A rule without value: a counter of 1, with the tag.
    out.clear();
    derivations.points_of(event_of(EventKind::custom, "signup", R"({"plan":"pro"})", "v3"), out);
    const MetricPoint* signup = find_point(out, "signups.by.plan");
    ASSERT_NE(signup, nullptr);
    EXPECT_EQ(signup->value, 1.0);
    EXPECT_EQ(signup->type, MetricType::count);
    EXPECT_EQ(signup->tags, (std::vector<MetricTag>{{"plan", "pro"}, {"site", "shop"}}));
}

TEST(Derive, DerivedPointsCountInTheEngine) {
    const Derivations derivations(
        {{"api_call", "api.response.time", MetricType::percentile, "duration_ms", {"endpoint"}}});
    Engine engine(with_shards(2));
    std::vector<MetricPoint> out;
    for (int i = 1; i <= 40; ++i) {
        derivations.points_of(event_of(EventKind::pageview, "", "", "v" + std::to_string(i % 7)),
                              out);
        derivations.points_of(event_of(EventKind::custom, "api_call",
                                       R"({"duration_ms":)" + std::to_string(i) +
                                           R"(,"endpoint":")" + (i % 2 ? "/a" : "/b") + "\"}",
                                       "v" + std::to_string(i % 5)),
                              out);
    }
    for (std::size_t i = 0; i < out.size(); ++i)
        ASSERT_TRUE(engine.record_unlogged(i % 2, out[i], kNow));
    auto value = [&](const std::string& name, std::vector<TagFilter> filters = {}) {
        const auto now = current(engine, "", name, MetricWindow::m1, filters, kNow);
        EXPECT_TRUE(now.has_value()) << name;
        return now ? now->value : std::nullopt;
    };
    EXPECT_EQ(value("pageviews.count"), 40.0);
    EXPECT_EQ(value("events.api_call.count"), 40.0);
    EXPECT_EQ(value("users.active"), 7.0);  // v0..v6
    EXPECT_EQ(value("users.active", {{"site", {"shop"}}}), 7.0);
    EXPECT_EQ(value("users.active", {{"site", {"elsewhere"}}}), std::nullopt);
    const auto timing =
        current(engine, "", "api.response.time", MetricWindow::m1, {{"endpoint", {"/a"}}}, kNow);
    ASSERT_TRUE(timing.has_value());
    EXPECT_EQ(timing->count, 20.0);
    EXPECT_EQ(timing->min, 1.0);
    EXPECT_EQ(timing->max, 39.0);
    ASSERT_TRUE(timing->p50.has_value());
    EXPECT_NEAR(*timing->p50, 19.0, 0.19);  // odd 1..39: rank 10 is 19
}

}  // namespace
}  // namespace tally::metrics::test
