// Reading the metrics engine: current() and run_query() against an oracle computed here
// from the same random points (group_by, tag filters with lists of values, aligned ranges,
// empty windows, the tier each range reads), percentiles against the exact nearest rank,
// and the answer limits.

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "fixture.hpp"

namespace tally::metrics::test {
namespace {

struct Sample {
    std::string metric;
    double value = 0;
    std::string member;
    std::int64_t ts = 0;
    std::string host;
    std::optional<std::string> region;  // some series have no region tag
};

struct Filter {
    std::string key;
    std::vector<std::string> values;
};

std::optional<std::string> tag_of(const Sample& s, const std::string& key) {
    if (key == "host")
        return s.host;
    if (key == "region")
        return s.region;
    return std::nullopt;
}

bool passes(const Sample& s, const std::vector<Filter>& filters) {
    for (const Filter& f : filters) {
        const auto v = tag_of(s, f.key);
        if (!v || std::find(f.values.begin(), f.values.end(), *v) == f.values.end())
            return false;
    }
    return true;
}

/// What the aggregation gives over `values` (in time order), computed the slow way.
struct Exact {
    std::optional<double> value;
    bool percentile = false;
};

Exact exact(const std::string& aggregation, std::vector<const Sample*> in, double seconds) {
    if (in.empty())
        return {};
    std::sort(in.begin(), in.end(), [](const Sample* a, const Sample* b) { return a->ts < b->ts; });
    double sum = 0;
    double lo = INFINITY;
    double hi = -INFINITY;
    std::vector<double> values;
    std::set<std::string> members;
    for (const Sample* s : in) {
        sum += s->value;
        lo = std::min(lo, s->value);
        hi = std::max(hi, s->value);
        values.push_back(s->value);
        members.insert(s->member);
    }
    const double n = static_cast<double>(in.size());
    if (aggregation == "sum")
        return {sum};
    if (aggregation == "count")
        return {n};
    if (aggregation == "rate")
        return {sum / seconds};
    if (aggregation == "avg")
        return {sum / n};
    if (aggregation == "min")
        return {lo};
    if (aggregation == "max")
        return {hi};
    if (aggregation == "last")
        return {in.back()->value};
    if (aggregation == "unique")
        return {static_cast<double>(members.size())};
    // pNN: the nearest rank, ceil(q * n), at least 1.
    const double q = std::stod(aggregation.substr(1)) / 100.0;
    std::sort(values.begin(), values.end());
    const auto rank = std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(q * n)));
    return {values[rank - 1], true};
}

void expect_close(const std::optional<double>& got, const Exact& want, const std::string& where) {
    ASSERT_EQ(got.has_value(), want.value.has_value()) << where;
    if (!got)
        return;
    if (want.percentile) {
        EXPECT_LE(std::abs(*got - *want.value), 0.01 * std::abs(*want.value) + 1e-9)
            << where << ": " << *got << " vs nearest rank " << *want.value;
    } else {
        EXPECT_NEAR(*got, *want.value, 1e-9 * std::max(1.0, std::abs(*want.value)))
            << where << ": " << *got << " vs " << *want.value;
    }
}

class QueryOracle : public ::testing::Test {
  protected:
    static constexpr std::size_t kShards = 3;
    Engine engine{with_shards(kShards)};
    std::vector<Sample> samples;

    void SetUp() override {
        std::mt19937_64 random(1234);
        const char* hosts[] = {"a", "b", "c", "d"};
        const char* regions[] = {"eu", "us"};
        // Distinct timestamps (so "last" is well defined): ages drawn without repeats, 40 %
        // in the last hour, 40 % within 48 h, 20 % up to 100 h back.
        std::set<std::int64_t> used;
        auto age = [&] {
            for (;;) {
                const auto pick = random() % 10;
                const std::int64_t span = pick < 4 ? kHour : pick < 8 ? 47 * kHour : 100 * kHour;
                const std::int64_t a = static_cast<std::int64_t>(random() % span);
                if (used.insert(a).second)
                    return a;
            }
        };
        for (const char* metric : {"req", "temp", "lat", "who"}) {
            for (int i = 0; i < 1500; ++i) {
                Sample s;
                s.metric = metric;
                s.ts = kNow - age();
                s.host = hosts[random() % 4];
                if (random() % 10 != 0)
                    s.region = regions[random() % 2];
                s.value = static_cast<double>(1 + random() % 20'000);
                if (std::string(metric) == "temp")
                    s.value -= 10'000;  // gauges may be negative
                s.member = "m" + std::to_string(random() % 300);
                samples.push_back(s);
            }
        }
        std::shuffle(samples.begin(), samples.end(), random);
        const std::map<std::string, MetricType> types = {{"req", MetricType::count},
                                                         {"temp", MetricType::gauge},
                                                         {"lat", MetricType::percentile},
                                                         {"who", MetricType::unique}};
        for (std::size_t i = 0; i < samples.size(); ++i) {
            const Sample& s = samples[i];
            std::vector<MetricTag> tags = {{"host", s.host}};
            if (s.region)
                tags.push_back({"region", *s.region});
            ASSERT_FALSE(put(engine,
                             point(s.metric, types.at(s.metric), s.value, s.ts, tags, s.member),
                             kNow, i % kShards));
        }
    }

    /// The oracle's answer per group (by the group_by tag's value).
    std::map<std::optional<std::string>, std::vector<Exact>> oracle(
        const std::string& metric, const std::string& aggregation, std::int64_t window,
        std::int64_t start, std::int64_t end, const std::vector<Filter>& filters,
        const std::optional<std::string>& group_by) const {
        const std::int64_t first = floor_to(start, window);
        const std::int64_t last = -floor_to(-end, window);
        const std::size_t windows = static_cast<std::size_t>((last - first) / window);
        std::map<std::optional<std::string>, std::vector<std::vector<const Sample*>>> in;
        for (const Sample& s : samples) {
            if (s.metric != metric || !passes(s, filters))
                continue;
            const auto group = group_by ? tag_of(s, *group_by) : std::nullopt;
            auto& slots = in[group];
            slots.resize(windows);  // every series that matches makes a group, empty or not
            if (s.ts >= first && s.ts < last)
                slots[static_cast<std::size_t>((s.ts - first) / window)].push_back(&s);
        }
        std::map<std::optional<std::string>, std::vector<Exact>> out;
        for (const auto& [group, slots] : in) {
            for (const auto& slot : slots)
                out[group].push_back(exact(aggregation, slot, static_cast<double>(window) / 1000));
        }
        return out;
    }

    void check_range(const std::string& metric, const std::string& aggregation, MetricWindow window,
                     std::int64_t start, std::int64_t end, const std::vector<Filter>& filters,
                     const std::optional<std::string>& group_by) {
        const std::string where = metric + " " + aggregation + " " + window_name(window) +
                                  " from now-" + std::to_string((kNow - start) / kMinute) +
                                  "min to now-" + std::to_string((kNow - end) / kMinute) + "min";
        SCOPED_TRACE(where);
        RangeQuery q;
        q.metrics = {metric};
        q.aggregation = Aggregation::parse(aggregation);
        q.window = window;
        q.start_ms = start;
        q.end_ms = end;
        if (group_by)
            q.group_by = {*group_by};
        for (const Filter& f : filters)
            q.filters.push_back({f.key, f.values});
        const auto results = query_ok(engine, q);
        const auto want =
            oracle(metric, aggregation, window_ms(window), start, end, filters, group_by);
        ASSERT_EQ(results.size(), want.size());
        const std::int64_t first = floor_to(start, window_ms(window));
        std::size_t non_null = 0;
        std::size_t nulls = 0;
        for (const QueryResult& result : results) {
            EXPECT_EQ(result.metric, metric);
            EXPECT_EQ(result.aggregation, aggregation);
            std::optional<std::string> group;
            if (group_by) {
                ASSERT_EQ(result.group.size(), 1u);
                EXPECT_EQ(result.group[0].first, *group_by);
                group = result.group[0].second;
            } else {
                EXPECT_TRUE(result.group.empty());
            }
            ASSERT_TRUE(want.contains(group)) << group.value_or("(none)");
            const auto& expected = want.at(group);
            ASSERT_EQ(result.points.size(), expected.size());
            for (std::size_t w = 0; w < expected.size(); ++w) {
                EXPECT_EQ(result.points[w].timestamp_ms,
                          first + static_cast<std::int64_t>(w) * window_ms(window));
                expect_close(result.points[w].value, expected[w],
                             "group " + group.value_or("(none)") + " window " + std::to_string(w));
                (result.points[w].value ? non_null : nulls) += 1;
            }
        }
        EXPECT_GT(non_null, 0u) << "a range with no data checks little";
    }
};

const std::vector<std::string>& aggregations_of(const std::string& metric) {
    static const std::map<std::string, std::vector<std::string>> all = {
        {"req", {"sum", "count", "rate", "avg"}},
        {"temp", {"avg", "min", "max", "last", "sum", "count"}},
        {"lat", {"p50", "p90", "p99", "p99.9", "p1", "avg", "min", "max", "count", "sum"}},
        {"who", {"unique"}},
    };
    return all.at(metric);
}

TEST_F(QueryOracle, RangesInEveryTierWithGroupsAndFilters) {
    struct Range {
        MetricWindow window;
        std::int64_t start, end;
    };
    const std::vector<Range> ranges = {
        // The 10 s tier: not aligned, aligned by the query.
        {MetricWindow::s10, kNow - 55 * kMinute + 3'000, kNow - 5 * kMinute - 7'000},
        // The minute tier (older than an hour, within 48 h), and across the hour boundary.
        {MetricWindow::m5, kNow - 47 * kHour, kNow - 30 * kMinute},
        {MetricWindow::m1, kNow - 3 * kHour + 1, kNow + 2 * kMinute},
        // The hour tier: older than 48 h, crossing both boundaries, and days.
        {MetricWindow::h1, kNow - 99 * kHour, kNow},
        {MetricWindow::d1, kNow - 5 * 24 * kHour, kNow + kHour},
    };
    const std::vector<std::vector<Filter>> filter_sets = {
        {},
        {{"region", {"eu"}}},
        {{"host", {"a", "c"}}, {"region", {"eu", "us"}}},
    };
    for (const char* metric : {"req", "temp", "lat", "who"}) {
        for (const Range& range : ranges) {
            for (const std::string& aggregation : aggregations_of(metric)) {
                check_range(metric, aggregation, range.window, range.start, range.end, {},
                            std::nullopt);
            }
            for (const auto& filters : filter_sets) {
                for (const std::optional<std::string>& group_by :
                     {std::optional<std::string>("host"), std::optional<std::string>("region")}) {
                    check_range(metric, aggregations_of(metric).front(), range.window, range.start,
                                range.end, filters, group_by);
                }
            }
        }
    }
}

TEST_F(QueryOracle, EmptyWindowsAreNullAndUnknownNamesGiveNoResult) {
    RangeQuery q;
    q.metrics = {"req", "never.sent"};
    q.window = MetricWindow::m1;
    q.start_ms = floor_to(kNow, kMinute) + kHour;  // the future: nothing there yet
    q.end_ms = *q.start_ms + kHour;
    const auto results = query_ok(engine, q);
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].metric, "req");
    ASSERT_EQ(results[0].points.size(), 60u);
    for (const auto& p : results[0].points)
        EXPECT_FALSE(p.value.has_value());
    q.filters = {{"host", {"no-such-host"}}};
    EXPECT_TRUE(query_ok(engine, q).empty());
}

TEST_F(QueryOracle, CurrentMatchesTheOracleForEveryWindowAndFilter) {
    const std::map<std::string, std::string> natural = {
        {"req", "sum"}, {"temp", "last"}, {"lat", "p50"}, {"who", "unique"}};
    for (MetricWindow window : {MetricWindow::s10, MetricWindow::m1, MetricWindow::m5,
                                MetricWindow::m15, MetricWindow::h1, MetricWindow::d1}) {
        const std::int64_t length = window_ms(window);
        const std::int64_t width = length <= kHour ? 10'000 : 60'000;
        const std::int64_t start = floor_to(kNow, width) + width - length;
        for (const auto& filters : std::vector<std::vector<Filter>>{
                 {}, {{"host", {"b"}}}, {{"host", {"a", "d"}}, {"region", {"us"}}}}) {
            for (const char* metric : {"req", "temp", "lat", "who"}) {
                SCOPED_TRACE(std::string(metric) + " over " + window_name(window));
                std::vector<TagFilter> tag_filters;
                for (const Filter& f : filters)
                    tag_filters.push_back({f.key, f.values});
                const auto got = current(engine, "", metric, window, tag_filters, kNow);
                ASSERT_TRUE(got.has_value());
                EXPECT_EQ(got->window, window);
                std::vector<const Sample*> in;
                for (const Sample& s : samples) {
                    if (s.metric == metric && passes(s, filters) && s.ts >= start &&
                        s.ts < start + length)
                        in.push_back(&s);
                }
                const double seconds = static_cast<double>(length) / 1000;
                expect_close(got->value, exact(natural.at(metric), in, seconds), "value");
                EXPECT_EQ(got->count, static_cast<double>(in.size()));
                if (std::string(metric) == "lat") {
                    expect_close(got->p90, exact("p90", in, seconds), "p90");
                    expect_close(got->p95, exact("p95", in, seconds), "p95");
                    expect_close(got->p99, exact("p99", in, seconds), "p99");
                    expect_close(got->min, exact("min", in, seconds), "min");
                    expect_close(got->max, exact("max", in, seconds), "max");
                    expect_close(got->avg, exact("avg", in, seconds), "avg");
                }
            }
        }
    }
    EXPECT_FALSE(current(engine, "", "never.sent", std::nullopt, {}, kNow).has_value());
    // Without a window: the name's default (1m unless the first point said otherwise).
    const auto fallback = current(engine, "", "req", std::nullopt, {}, kNow);
    ASSERT_TRUE(fallback.has_value());
    EXPECT_EQ(fallback->window, MetricWindow::m1);
}

TEST_F(QueryOracle, WithoutARangeOnePointOverTheLastWindow) {
    RangeQuery q;
    q.metrics = {"req"};
    q.window = MetricWindow::m15;
    q.group_by = {"host"};
    const auto results = query_ok(engine, q);
    ASSERT_EQ(results.size(), 4u);
    const std::int64_t start = floor_to(kNow, 10'000) + 10'000 - 15 * kMinute;
    for (const auto& result : results) {
        ASSERT_EQ(result.points.size(), 1u);
        EXPECT_EQ(result.points[0].timestamp_ms, start);
        std::vector<const Sample*> in;
        for (const Sample& s : samples) {
            if (s.metric == "req" && s.host == result.group.at(0).second && s.ts >= start &&
                s.ts < start + 15 * kMinute)
                in.push_back(&s);
        }
        expect_close(result.points[0].value, exact("sum", in, 900), "trailing sum");
    }
}

TEST_F(QueryOracle, RefusedQueries) {
    RangeQuery q;
    q.metrics = {"req"};
    // More than 10,000 windows.
    q.window = MetricWindow::s10;
    q.start_ms = kNow - 40 * kMinute;
    q.end_ms = kNow + 30 * 24 * kHour;
    auto error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
    EXPECT_NE(error->message.find("too many points"), std::string::npos) << error->message;
    // Exactly 10,000 windows is fine.
    q.window = MetricWindow::m1;
    q.start_ms = floor_to(kNow, kMinute) - 9'000 * kMinute;
    q.end_ms = *q.start_ms + 10'000 * kMinute;
    error = query_error(engine, q);
    EXPECT_TRUE(!error || error->message.find("too many points") == std::string::npos)
        << error->message;
    // 10 s windows older than the 10 s tier reaches.
    q.window = MetricWindow::s10;
    q.start_ms = kNow - 3 * kHour;
    q.end_ms = kNow - 2 * kHour;
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
    EXPECT_EQ(error->field, "window");
    // 1-minute windows older than 48 h.
    q.window = MetricWindow::m1;
    q.start_ms = kNow - 60 * kHour;
    q.end_ms = kNow - 50 * kHour;
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
    // An aggregation the kind cannot answer.
    q.window = MetricWindow::h1;
    q.aggregation = Aggregation::parse("p99");
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->field, "aggregation");
    // end before start.
    q.aggregation.reset();
    q.start_ms = kNow;
    q.end_ms = kNow - kHour;
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
}

// A 10 s window over a range older than the 10 s tier reaches is refused, and the message
// says why (it used to claim the data was "older than 48 hours" for any such range).
TEST_F(QueryOracle, TooFineAWindowIsRefusedWithTheRightReason) {
    RangeQuery q;
    q.metrics = {"req"};
    q.window = MetricWindow::s10;
    q.start_ms = kNow - 2 * kHour;
    q.end_ms = kNow - kHour;
    auto error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->field, "window");
    EXPECT_EQ(error->message.find("older than 48 hours"), std::string::npos) << error->message;
    EXPECT_NE(error->message.find("1 hour"), std::string::npos) << error->message;
    q.window = MetricWindow::m1;
    q.start_ms = kNow - 50 * kHour;
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_NE(error->message.find("48 hours"), std::string::npos) << error->message;
}

// "The last hour in 10-second windows": start_time = now - 1 h, aligned down to 10 s. The
// 10 s tier keeps the bucket holding now - 1 h whole, so it answers.
TEST_F(QueryOracle, TheLastHourInTenSecondWindows) {
    RangeQuery q;
    q.metrics = {"req"};
    q.window = MetricWindow::s10;
    q.start_ms = kNow - kHour;
    q.end_ms = kNow;
    const auto error = query_error(engine, q);
    EXPECT_FALSE(error.has_value()) << error->message;
}

TEST(QueryLimits, AThousandGroupsAnsweredOneMoreRefused) {
    Engine engine(with_shards(2));
    for (int i = 0; i < 1000; ++i) {
        ASSERT_FALSE(put(
            engine, point("wide", MetricType::count, 1, kNow - 1'000, {{"id", std::to_string(i)}}),
            kNow, static_cast<std::size_t>(i % 2)));
    }
    RangeQuery q;
    q.metrics = {"wide"};
    q.window = MetricWindow::m1;
    q.group_by = {"id"};
    auto results = query_ok(engine, q);
    ASSERT_EQ(results.size(), 1000u);
    for (const auto& r : results)
        EXPECT_EQ(r.points.at(0).value, 1.0);
    // 1,000 groups x 11 windows: more than 10,000 points.
    q.start_ms = kNow - 10 * kMinute;
    q.end_ms = kNow;
    auto error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
    EXPECT_NE(error->message.find("too many points"), std::string::npos) << error->message;
    // 1,001 groups.
    ASSERT_FALSE(put(engine, point("wide", MetricType::count, 1, kNow - 1'000, {{"id", "x"}})));
    q.start_ms.reset();
    q.end_ms.reset();
    error = query_error(engine, q);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, 400u);
    EXPECT_NE(error->message.find("too many groups"), std::string::npos) << error->message;
    // Two metrics count together.
    q.metrics = {"wide", "wide"};
    q.filters = {{"id", {"1", "2", "3"}}};
    results = query_ok(engine, q);
    EXPECT_EQ(results.size(), 6u);
}

}  // namespace
}  // namespace tally::metrics::test
