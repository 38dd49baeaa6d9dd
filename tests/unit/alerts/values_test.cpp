// The batched reads of a round against the one-at-a-time answers they replace: each rule's
// value equals GET .../current's for the same name, tags and window (whatever the batching
// by name and the tag index do), an anomaly rule's history equals the query API's windows,
// and analytics counts equal the store's minutes.

#include <gtest/gtest.h>

#include <random>

#include "tally/alerts/alert_values.hpp"
#include "tally/base/time.hpp"
#include "tally/metrics/query.hpp"
#include "tally/query/query.hpp"

namespace tally::alerts {
namespace {

constexpr std::int64_t kNow = 1'700'000'123'456;

MetricPoint point(const std::string& name, MetricType type, double value, std::int64_t at,
                  std::vector<MetricTag> tags) {
    MetricPoint p;
    p.name = name;
    p.type = type;
    p.value = value;
    p.timestamp_ms = at;
    p.tags = std::move(tags);
    sort_tags(p.tags);
    return p;
}

Rule metric_rule(std::string name, std::vector<metrics::TagFilter> filters,
                 std::optional<std::string> aggregation, MetricWindow window) {
    Rule rule;
    rule.metric = std::move(name);
    rule.filters = std::move(filters);
    if (aggregation)
        rule.aggregation = metrics::Aggregation::parse(*aggregation);
    rule.window = window;
    return rule;
}

class AlertValues : public ::testing::Test {
  protected:
    AlertValues() : engine_(metrics::EngineOptions{3, {}, 30}), store_({2, 10, 100, 1000}) {
        std::mt19937 random(7);
        std::uniform_real_distribution<double> latency(1, 500);
        // api.latency{host=h0..h19,region=eu|us}: a distribution over the last two hours.
        for (std::int64_t at = kNow - 2 * 3'600'000; at <= kNow; at += 7'000) {
            for (int h = 0; h < 20; ++h) {
                MetricPoint p = point(
                    "api.latency", MetricType::percentile, latency(random), at,
                    {{"host", "h" + std::to_string(h)}, {"region", h % 2 == 0 ? "eu" : "us"}});
                engine_.apply_replayed(static_cast<std::size_t>(h) % 3, p, kNow);
            }
            MetricPoint g = point("queue.depth", MetricType::gauge,
                                  static_cast<double>((at / 1000) % 97), at, {});
            engine_.apply_replayed(0, g, kNow);
        }
    }

    metrics::Engine engine_;
    store::Store store_;
};

TEST_F(AlertValues, EachRuleReadsWhatCurrentAnswers) {
    std::vector<Rule> rules;
    for (int h = 0; h < 20; ++h) {
        rules.push_back(metric_rule("api.latency", {{"host", {"h" + std::to_string(h)}}}, "p99",
                                    MetricWindow::m1));
    }
    rules.push_back(metric_rule("api.latency", {{"region", {"eu"}}}, "avg", MetricWindow::m5));
    rules.push_back(metric_rule("api.latency", {{"host", {"h1", "h2"}}, {"region", {"us"}}}, "max",
                                MetricWindow::s10));
    rules.push_back(metric_rule("api.latency", {}, "count", MetricWindow::h1));
    rules.push_back(metric_rule("queue.depth", {}, std::nullopt, MetricWindow::m1));
    rules.push_back(metric_rule("api.latency", {{"host", {"nobody"}}}, "p50", MetricWindow::m1));
    rules.push_back(metric_rule("never.sent", {}, std::nullopt, MetricWindow::m1));
    rules.push_back(metric_rule("queue.depth", {}, "unique", MetricWindow::m1));  // wrong kind
    std::vector<const Rule*> pointers;
    for (const Rule& rule : rules)
        pointers.push_back(&rule);
    ValueReader reader(engine_, store_);
    std::vector<Reading> readings;
    reader.read(pointers, kNow, readings);
    ASSERT_EQ(readings.size(), rules.size());
    for (std::size_t i = 0; i + 1 < rules.size(); ++i) {
        const Rule& rule = rules[i];
        const auto info = engine_.registry().name("", rule.metric);
        metrics::RangeQuery query;
        query.metrics = {rule.metric};
        query.aggregation = rule.aggregation;
        query.window = rule.window;
        query.filters = rule.filters;
        auto answer = metrics::run_query(engine_, query, kNow);
        ASSERT_TRUE(std::holds_alternative<std::vector<metrics::QueryResult>>(answer)) << i;
        const auto& results = std::get<std::vector<metrics::QueryResult>>(answer);
        std::optional<double> expected;
        if (!results.empty())
            expected = results[0].points[0].value;
        EXPECT_EQ(readings[i].value, expected) << "rule " << i;
        if (info && i < 20) {
            EXPECT_TRUE(readings[i].value.has_value()) << "rule " << i;
        }
    }
    EXPECT_FALSE(readings[rules.size() - 3].value) << "a tag value no series has";
    EXPECT_FALSE(readings[rules.size() - 2].value) << "a name never sent";
    EXPECT_FALSE(readings.back().value) << "an aggregation the kind cannot answer";
}

TEST_F(AlertValues, AnomalyRulesReadTheSixtyWindowsBefore) {
    for (MetricWindow window : {MetricWindow::s10, MetricWindow::m1}) {
        Rule rule = metric_rule("queue.depth", {}, "avg", window);
        rule.op = Operator::anomaly;
        const Rule* pointer = &rule;
        ValueReader reader(engine_, store_);
        std::vector<Reading> readings;
        reader.read(std::span(&pointer, 1), kNow, readings);
        ASSERT_EQ(readings[0].previous.size(), kAnomalyWindows) << window_name(window);
        // The windows end where the current one begins, aligned to the tier's buckets.
        const std::int64_t length = window_ms(window);
        const std::int64_t width = window == MetricWindow::s10 ? 10'000 : 60'000;
        const std::int64_t current_start = (floor_div(kNow, 10'000) + 1) * 10'000 - length;
        const std::int64_t end = floor_div(current_start, width) * width;
        metrics::RangeQuery query;
        query.metrics = {"queue.depth"};
        query.aggregation = metrics::Aggregation::parse("avg");
        query.window = window;
        query.start_ms = end - 60 * length;
        query.end_ms = end;
        const auto results =
            std::get<std::vector<metrics::QueryResult>>(metrics::run_query(engine_, query, kNow));
        ASSERT_EQ(results[0].points.size(), kAnomalyWindows);
        for (std::size_t w = 0; w < kAnomalyWindows; ++w)
            EXPECT_EQ(readings[0].previous[w], results[0].points[w].value) << w;
    }
}

Event event_at(std::string site, std::int64_t at, std::string name = "") {
    Event e;
    e.kind = name.empty() ? EventKind::pageview : EventKind::custom;
    e.site = std::move(site);
    e.page = "/";
    e.referrer = "direct";
    e.event_name = std::move(name);
    e.session_id = "s" + std::to_string(at % 7);
    e.visitor_id = "v" + std::to_string(at % 5);
    e.timestamp_ms = at;
    return e;
}

TEST_F(AlertValues, AnalyticsCountsByTheMinute) {
    // Page views: one a minute for two hours, then five in the current minute; sign-ups:
    // three in the last 4 minutes.
    const std::int64_t minute = floor_div(kNow, 60'000) * 60'000;
    std::size_t shard = 0;
    for (std::int64_t at = minute - 120 * 60'000; at < minute; at += 60'000)
        store_.apply(shard++ % 2, event_at("shop.example", at + 1'000), kNow);
    for (int i = 0; i < 5; ++i)
        store_.apply(shard++ % 2, event_at("shop.example", minute + i), kNow);
    for (int i = 1; i <= 3; ++i)
        store_.apply(shard++ % 2, event_at("shop.example", minute - i * 60'000, "signup"), kNow);
    Rule pageviews;
    pageviews.source = Source::pageviews;
    pageviews.site = "shop.example";
    pageviews.window = MetricWindow::m5;
    Rule anomaly = pageviews;
    anomaly.window = MetricWindow::m1;
    anomaly.op = Operator::anomaly;
    Rule signups = pageviews;
    signups.source = Source::events;
    signups.event = "signup";
    Rule realtime = pageviews;
    realtime.source = Source::realtime;
    Rule elsewhere = pageviews;
    elsewhere.site = "quiet.example";
    const Rule* rules[] = {&pageviews, &anomaly, &signups, &realtime, &elsewhere};
    ValueReader reader(engine_, store_);
    std::vector<Reading> readings;
    reader.read(rules, kNow, readings);
    EXPECT_EQ(readings[0].value, 4 + 5);  // four whole minutes before, and this one's five
    EXPECT_EQ(readings[1].value, 5);
    // kNow is 22:15 UTC: the sixty minutes before this one are all on the site's first day
    // in the store, and each had one view.
    ASSERT_EQ(readings[1].previous.size(), kAnomalyWindows);
    for (double v : readings[1].previous)
        EXPECT_EQ(v, 1);
    EXPECT_EQ(readings[2].value, 3);
    EXPECT_EQ(readings[3].value,
              static_cast<double>(query::real_time_users(store_, "shop.example", kNow)));
    EXPECT_EQ(readings[4].value, 0);
    EXPECT_TRUE(readings[4].previous.empty());
}

}  // namespace
}  // namespace tally::alerts
