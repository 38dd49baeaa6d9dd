// DogStatsD text -> metric points: every type, sample rates, tags, timestamps, the Telegraf
// variant, events and service checks, and bad lines among good ones.

#include "tally/ingest/statsd.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {
namespace {

constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z

struct Parsed {
    StatsdResult result;
    std::vector<MetricPoint> points;
};

Parsed parse(std::string_view text) {
    Parsed parsed;
    parsed.result = parse_statsd(text, kNow, parsed.points);
    return parsed;
}

std::vector<MetricTag> tags(std::initializer_list<std::pair<const char*, const char*>> list) {
    std::vector<MetricTag> out;
    for (const auto& [key, value] : list) {
        out.push_back(MetricTag{key, value});
    }
    return out;
}

struct TypeCase {
    const char* line;
    MetricType type;
    double value;
    double weight;
    bool delta;
};

TEST(StatsdTest, EveryTypeAndSign) {
    const TypeCase cases[] = {
        {"a.b:1|c", MetricType::count, 1, 1, false},
        {"a.b:-3|c", MetricType::count, -3, 1, false},
        {"a.b:+3|c", MetricType::count, 3, 1, false},
        {"a.b:2.5|c|@0.5", MetricType::count, 2.5, 2, false},
        {"a.b:42|g", MetricType::gauge, 42, 1, false},
        {"a.b:+4|g", MetricType::gauge, 4, 1, true},
        {"a.b:-4|g", MetricType::gauge, -4, 1, true},
        {"a.b:7|g|@0.5", MetricType::gauge, 7, 1, false},
        {"a.b:320|ms", MetricType::percentile, 320, 1, false},
        {"a.b:320|ms|@0.1", MetricType::percentile, 320, 10, false},
        {"a.b:1e3|h", MetricType::percentile, 1000, 1, false},
        {"a.b:0.25|d|@0.25", MetricType::percentile, 0.25, 4, false},
    };
    for (const TypeCase& c : cases) {
        SCOPED_TRACE(c.line);
        const Parsed parsed = parse(c.line);
        ASSERT_EQ(parsed.result.accepted, 1u) << parsed.result.first_error;
        ASSERT_EQ(parsed.points.size(), 1u);
        const MetricPoint& point = parsed.points[0];
        EXPECT_EQ(point.name, "a.b");
        EXPECT_EQ(point.type, c.type);
        EXPECT_DOUBLE_EQ(point.value, c.value);
        EXPECT_DOUBLE_EQ(point.weight, c.weight);
        EXPECT_EQ(point.gauge_delta, c.delta);
        EXPECT_EQ(point.timestamp_ms, kNow);
        EXPECT_EQ(point.window, MetricWindow::m1);
        EXPECT_FALSE(validate_metric_point(point, kNow));
    }
}

TEST(StatsdTest, SetMemberIsTheWholeValueText) {
    const Parsed parsed = parse("users.unique:user-42|s\nurls:http://x.test:8080/a|s");
    ASSERT_EQ(parsed.points.size(), 2u) << parsed.result.first_error;
    EXPECT_EQ(parsed.points[0].type, MetricType::unique);
    EXPECT_EQ(parsed.points[0].member, "user-42");
    EXPECT_EQ(parsed.points[1].member, "http://x.test:8080/a");
}

TEST(StatsdTest, MultiValueLinesGiveOnePointPerValue) {
    const Parsed parsed = parse("lat:1:2.5:3|ms|@0.5|#env:prod\ng:+1:2:-3|g");
    ASSERT_EQ(parsed.result.accepted, 2u) << parsed.result.first_error;
    ASSERT_EQ(parsed.result.points, 6u);
    ASSERT_EQ(parsed.points.size(), 6u);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(parsed.points[i].name, "lat");
        EXPECT_DOUBLE_EQ(parsed.points[i].weight, 2);
        EXPECT_EQ(parsed.points[i].tags, tags({{"env", "prod"}}));
    }
    EXPECT_DOUBLE_EQ(parsed.points[1].value, 2.5);
    EXPECT_TRUE(parsed.points[3].gauge_delta);
    EXPECT_FALSE(parsed.points[4].gauge_delta);  // a plain value sets, whatever came before
    EXPECT_TRUE(parsed.points[5].gauge_delta);
    EXPECT_DOUBLE_EQ(parsed.points[5].value, -3);
}

TEST(StatsdTest, TagsSplitAtFirstColonAndBareTagsAreTrue) {
    const Parsed parsed = parse("hits:1|c|#url:http://a.test:80/x?y=1,canary,env:prod,,region:eu");
    ASSERT_EQ(parsed.points.size(), 1u) << parsed.result.first_error;
    EXPECT_EQ(parsed.points[0].tags, tags({{"canary", "true"},
                                           {"env", "prod"},
                                           {"region", "eu"},
                                           {"url", "http://a.test:80/x?y=1"}}));
}

TEST(StatsdTest, TimestampAndUnknownFields) {
    const Parsed parsed =
        parse("a:1|c|c:83f1a2|T1705314000|e:it-false,cn-foo|card:high\nb:2|g|#k:v|T1705314600");
    ASSERT_EQ(parsed.points.size(), 2u) << parsed.result.first_error;
    EXPECT_EQ(parsed.points[0].timestamp_ms, 1705314000000);
    EXPECT_EQ(parsed.points[1].timestamp_ms, kNow);
    EXPECT_EQ(parsed.points[1].tags, tags({{"k", "v"}}));
}

TEST(StatsdTest, TelegrafNameTagsMergeWithDogStatsDTags) {
    const Parsed parsed = parse("req.count,host=web1,zone=eu-1,flag:1|c|#env:prod");
    ASSERT_EQ(parsed.points.size(), 1u) << parsed.result.first_error;
    EXPECT_EQ(parsed.points[0].name, "req.count");
    EXPECT_EQ(parsed.points[0].tags,
              tags({{"env", "prod"}, {"flag", "true"}, {"host", "web1"}, {"zone", "eu-1"}}));
}

TEST(StatsdTest, EventsAndServiceChecksAreCountedAndIgnored) {
    const Parsed parsed =
        parse("_e{5,4}:title|text|#a:b\n_sc|db.check|0|#env:prod\na:1|c\n_e{1,1}:x|y");
    EXPECT_EQ(parsed.result.lines, 4u);
    EXPECT_EQ(parsed.result.events, 2u);
    EXPECT_EQ(parsed.result.service_checks, 1u);
    EXPECT_EQ(parsed.result.accepted, 1u);
    EXPECT_EQ(parsed.result.bad, 0u);
    EXPECT_EQ(parsed.points.size(), 1u);
}

struct BadCase {
    const char* line;
    const char* why;  // a piece of the message
};

TEST(StatsdTest, BadLinesAreSkippedAndCountedTheRestStands) {
    const BadCase cases[] = {
        {"nobar:1", "no |type"},
        {"nocolon|c", "no ':'"},
        {"a:1|x", "unknown metric type"},
        {"a:|c", "not a finite number"},
        {"a:abc|c", "not a finite number"},
        {"a:nan|g", "not a finite number"},
        {"a:inf|c", "not a finite number"},
        {"a:1:|c", "not a finite number"},
        {"a:+-1|g", "not a number"},
        {"a:1|c|@0", "sample rate"},
        {"a:1|c|@1.5", "sample rate"},
        {"a:1|c|@x", "sample rate"},
        {"a:1|c|Tabc", "unix seconds"},
        {"a:1|c|T99999999999999999999", "unix seconds"},
        {"a:1|c|T1000", "within the last 48 hours"},
        {"a:1|c|T1805314600", "within the last 48 hours"},
        {"bad name:1|c", "metric name"},
        {"a/b:1|c", "metric name"},
        {":1|c", "metric name"},
        {"a:1|c|#1key:v", "tag key"},
        {"a:1|c|#k:", "empty value"},
        {"a:1|c|#k:a,k:b", "more than once"},
        {"a:1|c|#a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "at most 16 tags"},
        {"a:|s", "unique value"},
        {"a:1|s|#k:v,k:w", "more than once"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.line);
        const std::string text = std::string("ok.first:1|c\n") + c.line + "\nok.last:2|g\n";
        const Parsed parsed = parse(text);
        EXPECT_EQ(parsed.result.lines, 3u);
        EXPECT_EQ(parsed.result.accepted, 2u);
        EXPECT_EQ(parsed.result.bad, 1u);
        ASSERT_EQ(parsed.points.size(), 2u);
        EXPECT_EQ(parsed.points[0].name, "ok.first");
        EXPECT_EQ(parsed.points[1].name, "ok.last");
        EXPECT_EQ(parsed.result.first_error.rfind("line 2: ", 0), 0u) << parsed.result.first_error;
        EXPECT_NE(parsed.result.first_error.find(c.why), std::string::npos)
            << parsed.result.first_error;
    }
}

TEST(StatsdTest, FirstErrorNamesTheFirstBadLineAmongSeveral) {
    const Parsed parsed = parse("a:1|c\n\nb:x|c\nc:y|c\n");
    EXPECT_EQ(parsed.result.bad, 2u);
    EXPECT_EQ(parsed.result.first_error.rfind("line 3: ", 0), 0u) << parsed.result.first_error;
}

TEST(StatsdTest, CrLfTrailingNewlineAndEmptyLines) {
    const Parsed parsed = parse("a:1|c\r\n\r\n\nb:2|g\r\n");
    EXPECT_EQ(parsed.result.lines, 2u);
    EXPECT_EQ(parsed.result.accepted, 2u);
    EXPECT_EQ(parsed.result.bad, 0u);
    ASSERT_EQ(parsed.points.size(), 2u);
    EXPECT_DOUBLE_EQ(parsed.points[1].value, 2);
}

TEST(StatsdTest, EmptyDatagram) {
    for (const char* text : {"", "\n", "\r\n\n"}) {
        const Parsed parsed = parse(text);
        EXPECT_EQ(parsed.result.lines, 0u);
        EXPECT_TRUE(parsed.points.empty());
        EXPECT_TRUE(parsed.result.first_error.empty());
    }
}

TEST(StatsdTest, HugeDatagramOf64KiB) {
    std::string text;
    std::size_t lines = 0;
    while (text.size() < 65536 - 64) {
        text += "svc.req.latency:" + std::to_string(lines % 1000) + "|ms|#host:web" +
                std::to_string(lines % 7) + "\n";
        ++lines;
    }
    const Parsed parsed = parse(text);
    EXPECT_EQ(parsed.result.lines, lines);
    EXPECT_EQ(parsed.result.accepted, lines);
    EXPECT_EQ(parsed.points.size(), lines);
    EXPECT_DOUBLE_EQ(parsed.points.back().value, static_cast<double>((lines - 1) % 1000));
}

TEST(StatsdTest, OutputIsOverwrittenAndItsPointsReused) {
    std::vector<MetricPoint> points;
    parse_statsd("a:1|c|#k:v\nb:2|c\nc:3|c", kNow, points);
    ASSERT_EQ(points.size(), 3u);
    const StatsdResult result = parse_statsd("x:+5|g", kNow, points);
    EXPECT_EQ(result.points, 1u);
    ASSERT_EQ(points.size(), 1u);
    EXPECT_EQ(points[0].name, "x");
    EXPECT_TRUE(points[0].tags.empty());
    EXPECT_TRUE(points[0].gauge_delta);
    EXPECT_EQ(points[0].type, MetricType::gauge);
}

TEST(StatsdTest, IntoFillsSlotsAfterTheUsedOnesAndNeverShrinks) {
    std::vector<MetricPoint> points;
    StatsdResult result = parse_statsd_into("a:1|c|#k:v\nb:2|c\nc:3|c", kNow, points, 0);
    ASSERT_EQ(result.points, 3u);
    ASSERT_EQ(points.size(), 3u);
    // Slot 1 onwards is free: the next text reuses slots 1 and 2, and the vector keeps 3.
    result = parse_statsd_into("x:+5|g\nbad\n", kNow, points, 1);
    EXPECT_EQ(result.points, 1u);
    EXPECT_EQ(result.bad, 1u);
    ASSERT_EQ(points.size(), 3u);
    EXPECT_EQ(points[0].name, "a");
    EXPECT_EQ(points[0].tags, tags({{"k", "v"}}));
    EXPECT_EQ(points[1].name, "x");
    EXPECT_TRUE(points[1].tags.empty());
    EXPECT_TRUE(points[1].gauge_delta);
    // Past the end it grows.
    result = parse_statsd_into("d:1|c\ne:1|c\nf:1|c", kNow, points, 2);
    EXPECT_EQ(result.points, 3u);
    ASSERT_EQ(points.size(), 5u);
    EXPECT_EQ(points[1].name, "x");
    EXPECT_EQ(points[4].name, "f");
}

}  // namespace
}  // namespace tally::ingest
