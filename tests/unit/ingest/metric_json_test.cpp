// POST /api/v1/metrics bodies -> metric points: types and aliases, values, tags, windows,
// timestamps, bad points among good ones, and bodies refused whole.

#include "tally/ingest/metric_json.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z

struct Parsed {
    std::optional<Rejection> rejection;
    std::vector<MetricPoint> accepted;
    std::vector<BatchItemRejection> rejected;
};

Parsed parse(std::string_view body) {
    Parsed parsed;
    parsed.rejection = parse_metrics_json(body, kNow, parsed.accepted, parsed.rejected);
    return parsed;
}

Parsed parse_points(const Json& points) {
    return parse(Json{{"metrics", points}}.dump());
}

Json point(const char* type, Json value) {
    return {{"name", "api.latency"}, {"type", type}, {"value", std::move(value)}};
}

TEST(MetricJsonTest, EveryTypeAndAlias) {
    const std::pair<const char*, MetricType> cases[] = {
        {"count", MetricType::count},
        {"sum", MetricType::sum},
        {"rate", MetricType::rate},
        {"average", MetricType::average},
        {"min", MetricType::min},
        {"max", MetricType::max},
        {"gauge", MetricType::gauge},
        {"percentile", MetricType::percentile},
        {"histogram", MetricType::percentile},
        {"distribution", MetricType::percentile},
        {"timing", MetricType::percentile},
    };
    for (const auto& [name, type] : cases) {
        SCOPED_TRACE(name);
        const Parsed parsed = parse_points(Json::array({point(name, 12.5)}));
        ASSERT_FALSE(parsed.rejection);
        ASSERT_EQ(parsed.accepted.size(), 1u);
        EXPECT_EQ(parsed.accepted[0].type, type);
        EXPECT_DOUBLE_EQ(parsed.accepted[0].value, 12.5);
        EXPECT_EQ(parsed.accepted[0].window, MetricWindow::m1);
        EXPECT_EQ(parsed.accepted[0].timestamp_ms, kNow);
        EXPECT_DOUBLE_EQ(parsed.accepted[0].weight, 1);
        EXPECT_FALSE(validate_metric_point(parsed.accepted[0], kNow));
    }
}

TEST(MetricJsonTest, UniqueMembersFromStringsAndNumbers) {
    const std::pair<Json, const char*> cases[] = {
        {"user-1", "user-1"},
        {5, "5"},
        {5.0, "5"},
        {-0.0, "0"},
        {1.5, "1.5"},
        {12345678901234567, "12345678901234567"},
        {18446744073709551615u, "18446744073709551615"},
    };
    for (const auto& [value, member] : cases) {
        SCOPED_TRACE(member);
        const Parsed parsed = parse_points(Json::array({point("unique", value)}));
        ASSERT_EQ(parsed.accepted.size(), 1u);
        EXPECT_EQ(parsed.accepted[0].member, member);
    }
    const Parsed exponent = parse(R"({"metrics":[{"name":"u","type":"unique","value":1e3},)"
                                  R"({"name":"u","type":"unique","value":1.25e300}]})");
    ASSERT_EQ(exponent.accepted.size(), 2u);
    EXPECT_EQ(exponent.accepted[0].member, "1000");
    EXPECT_EQ(exponent.accepted[1].member, "1.25e+300");
}

TEST(MetricJsonTest, TagsWindowsAndTimestamps) {
    Json p = point("gauge", 3);
    p["tags"] = {{"zone", "eu-1"}, {"host", "web:1"}};
    p["window"] = "15m";
    p["timestamp"] = "2024-01-15T10:00:00Z";
    Json q = point("count", 1);
    q["timestamp"] = kNow - 1000;
    q["window"] = nullptr;
    q["tags"] = nullptr;
    const Parsed parsed = parse_points(Json::array({p, q}));
    ASSERT_FALSE(parsed.rejection);
    ASSERT_EQ(parsed.accepted.size(), 2u);
    EXPECT_EQ(parsed.accepted[0].tags,
              (std::vector<MetricTag>{{"host", "web:1"}, {"zone", "eu-1"}}));
    EXPECT_EQ(parsed.accepted[0].window, MetricWindow::m15);
    EXPECT_EQ(parsed.accepted[0].timestamp_ms, kNow - 30 * 60'000);
    EXPECT_EQ(parsed.accepted[1].timestamp_ms, kNow - 1000);
    EXPECT_EQ(parsed.accepted[1].window, MetricWindow::m1);
    for (const char* window : {"10s", "1m", "5m", "15m", "1h", "1d"}) {
        Json w = point("gauge", 1);
        w["window"] = window;
        EXPECT_EQ(parse_points(Json::array({w})).accepted.size(), 1u) << window;
    }
}

struct BadCase {
    Json point;
    const char* reason;
    const char* field;
};

TEST(MetricJsonTest, BadPointsAreRejectedWithIndexFieldAndReasonTheGoodStand) {
    const auto with = [](Json p, const char* key, Json value) {
        p[key] = std::move(value);
        return p;
    };
    const auto without = [](Json p, const char* key) {
        p.erase(key);
        return p;
    };
    const Json good = point("gauge", 1);
    Json many_tags = good;
    for (int i = 0; i < 17; ++i) {
        many_tags["tags"]["k" + std::to_string(i)] = "v";
    }
    const BadCase cases[] = {
        {without(good, "name"), "missing_field", "name"},
        {with(good, "name", 5), "invalid_field", "name"},
        {with(good, "name", "has space"), "invalid_field", "name"},
        {with(good, "name", std::string(129, 'a')), "invalid_field", "name"},
        {without(good, "type"), "missing_field", "type"},
        {with(good, "type", "Gauge"), "invalid_field", "type"},
        {with(good, "type", true), "invalid_field", "type"},
        {without(good, "value"), "missing_field", "value"},
        {with(good, "value", nullptr), "missing_field", "value"},
        {with(good, "value", "1.5"), "invalid_field", "value"},
        {with(good, "value", Json::array({1})), "invalid_field", "value"},
        {with(point("unique", true), "x", 1), "invalid_field", "value"},
        {point("unique", ""), "invalid_field", "value"},
        {point("unique", std::string(1025, 'm')), "invalid_field", "value"},
        {with(good, "tags", "a:b"), "invalid_field", "tags"},
        {with(good, "tags", {{"k", 5}}), "invalid_field", "tags"},
        {with(good, "tags", {{"k", true}}), "invalid_field", "tags"},
        {with(good, "tags", {{"1k", "v"}}), "invalid_field", "tags"},
        {with(good, "tags", {{"k", ""}}), "invalid_field", "tags"},
        {with(good, "tags", {{"k", std::string(129, 'v')}}), "invalid_field", "tags"},
        {many_tags, "too_many_tags", "tags"},
        {with(good, "window", "2m"), "invalid_field", "window"},
        {with(good, "window", 60), "invalid_field", "window"},
        {with(good, "timestamp", "yesterday"), "invalid_field", "timestamp"},
        {with(good, "timestamp", 1.5), "invalid_field", "timestamp"},
        {with(good, "timestamp", "2024-01-12T10:00:00Z"), "out_of_window", "timestamp"},
        {with(good, "timestamp", kNow + 6 * 60'000), "out_of_window", "timestamp"},
    };
    for (const BadCase& c : cases) {
        SCOPED_TRACE(c.point.dump());
        const Parsed parsed = parse_points(Json::array({good, c.point, good}));
        ASSERT_FALSE(parsed.rejection);
        EXPECT_EQ(parsed.accepted.size(), 2u);
        ASSERT_EQ(parsed.rejected.size(), 1u);
        EXPECT_EQ(parsed.rejected[0].index, 1u);
        EXPECT_EQ(parsed.rejected[0].rejection.reason, c.reason);
        EXPECT_EQ(parsed.rejected[0].rejection.field, c.field);
        EXPECT_FALSE(parsed.rejected[0].rejection.message.empty());
    }
}

TEST(MetricJsonTest, DuplicateTagKeyInTheObjectIsRejected) {
    const Parsed parsed =
        parse(R"({"metrics":[{"name":"a","type":"gauge","value":1,"tags":{"k":"a","k":"b"}}]})");
    ASSERT_EQ(parsed.rejected.size(), 1u);
    EXPECT_NE(parsed.rejected[0].rejection.message.find("more than once"), std::string::npos);
}

TEST(MetricJsonTest, NonFiniteValueRefusesOnlyItsPoint) {
    const Parsed parsed = parse(
        R"({"metrics":[{"name":"a","type":"gauge","value":1e400},)"
        R"({"name":"b","type":"gauge","value":-1e400},{"name":"c","type":"gauge","value":1e-400}]})");
    ASSERT_FALSE(parsed.rejection);
    ASSERT_EQ(parsed.rejected.size(), 2u);
    EXPECT_EQ(parsed.rejected[0].rejection.field, "value");
    EXPECT_EQ(parsed.rejected[1].index, 1u);
    ASSERT_EQ(parsed.accepted.size(), 1u);
    EXPECT_EQ(parsed.accepted[0].value, 0);
}

TEST(MetricJsonTest, NonObjectItemIsRejectedByIndex) {
    const Parsed parsed = parse(R"({"metrics":[1,{"name":"a","type":"count","value":1},"x"]})");
    ASSERT_FALSE(parsed.rejection);
    ASSERT_EQ(parsed.rejected.size(), 2u);
    EXPECT_EQ(parsed.rejected[0].index, 0u);
    EXPECT_EQ(parsed.rejected[1].index, 2u);
    EXPECT_EQ(parsed.accepted.size(), 1u);
}

TEST(MetricJsonTest, BodiesRefusedWhole) {
    const std::pair<std::string, const char*> cases[] = {
        {"", "bad_json"},
        {"not json", "bad_json"},
        {"[]", "bad_json"},
        {"\"metrics\"", "bad_json"},
        {R"({"metrics":[{"name":"a","type":"count","value":1}]} trailing)", "bad_json"},
        {R"({"metrics":[{"name":"a","type":"count","value":01}]})", "bad_json"},
        {R"({"metrics":[{"name":"a","type":"count","value":1.}]})", "bad_json"},
        {R"({"metrics":[{"name":"a","type":"count","value":1,"x":[}]})", "bad_json"},
        {R"({"points":[]})", "missing_field"},
        {R"({"metrics":{}})", "invalid_field"},
        {R"({"metrics":null})", "invalid_field"},
    };
    for (const auto& [body, reason] : cases) {
        SCOPED_TRACE(body);
        const Parsed parsed = parse(body);
        ASSERT_TRUE(parsed.rejection);
        EXPECT_EQ(parsed.rejection->reason, reason);
        EXPECT_TRUE(parsed.accepted.empty());
        EXPECT_TRUE(parsed.rejected.empty());
    }
}

TEST(MetricJsonTest, TenThousandPointsPassOneMoreIsRefused) {
    Json points = Json::array();
    for (int i = 0; i < 10'000; ++i) {
        points.push_back({{"name", "n"}, {"type", "count"}, {"value", i}});
    }
    const Parsed full = parse_points(points);
    ASSERT_FALSE(full.rejection);
    EXPECT_EQ(full.accepted.size(), 10'000u);
    points.push_back({{"name", "n"}, {"type", "count"}, {"value", 1}});
    const Parsed over = parse_points(points);
    ASSERT_TRUE(over.rejection);
    EXPECT_EQ(over.rejection->reason, "too_large");
    EXPECT_TRUE(over.accepted.empty());
}

TEST(MetricJsonTest, BodyOverOneMiBIsRefused) {
    const std::string body = R"({"metrics":[],"pad":")" + std::string(1024 * 1024, 'x') + "\"}";
    const Parsed parsed = parse(body);
    ASSERT_TRUE(parsed.rejection);
    EXPECT_EQ(parsed.rejection->reason, "too_large");
}

TEST(MetricJsonTest, EmptyMetricsAndUnknownFields) {
    const Parsed parsed = parse(R"({"metrics":[],"extra":{"a":[1,2]}})");
    ASSERT_FALSE(parsed.rejection);
    EXPECT_TRUE(parsed.accepted.empty());
}

TEST(MetricJsonTest, ReusedBuffersGiveTheSameAnswer) {
    ParseBuffers buffers;
    std::vector<MetricPoint> accepted;
    std::vector<BatchItemRejection> rejected;
    const std::string body =
        R"({"metrics":[{"name":"a","type":"gauge","value":2,"tags":{"k":"v"}}]})";
    for (int i = 0; i < 3; ++i) {
        ASSERT_FALSE(parse_metrics_json(body, kNow, accepted, rejected, buffers));
        ASSERT_EQ(accepted.size(), 1u);
        EXPECT_EQ(accepted[0].tags.size(), 1u);
    }
    ASSERT_FALSE(parse_metrics_json(R"({"metrics":[]})", kNow, accepted, rejected, buffers));
    EXPECT_TRUE(accepted.empty());
}

}  // namespace
}  // namespace tally::ingest
