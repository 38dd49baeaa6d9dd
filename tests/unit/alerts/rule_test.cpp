// Alert rule validation: the stored form with its defaults, and each bad field named by
// its path.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tally/alerts/rule.hpp"

namespace tally::alerts {
namespace {

using nlohmann::json;

json good() {
    return {{"alert_name", "High latency"},
            {"metric", "api.latency"},
            {"tags", {{"service", "checkout"}}},
            {"aggregation", "p99"},
            {"window", "5m"},
            {"condition", {{"operator", ">"}, {"threshold", 500}, {"duration", "2m"}}},
            {"resolve_threshold", 400},
            {"no_data", "keep_last"},
            {"actions",
             json::array({{{"type", "webhook"}, {"url", "http://127.0.0.1:9/hook"}}, "ops"})},
            {"labels", {{"severity", "page"}}},
            {"annotations", {{"summary", "p99 over 500 ms"}}}};
}

Channels channels() {
    Channels out;
    out["ops"] = Action{Action::Type::alertmanager, "http://127.0.0.1:9093", "ops"};
    return out;
}

std::string field_of(const json& body, const RuleContext& context) {
    const auto result = validate_rule(body, context);
    if (std::holds_alternative<json>(result))
        return "(valid)";
    return std::get<Invalid>(result).field;
}

std::string field_of(const json& body) {
    const Channels known = channels();
    RuleContext context;
    context.channels = &known;
    return field_of(body, context);
}

TEST(AlertRule, AcceptsAFullRuleAndCompilesIt) {
    const Channels known = channels();
    RuleContext context;
    context.channels = &known;
    const auto result = validate_rule(good(), context);
    ASSERT_TRUE(std::holds_alternative<json>(result)) << std::get<Invalid>(result).message;
    json stored = std::get<json>(result);
    stored["id"] = "abc";
    const auto compiled = compile_rule(stored, known);
    ASSERT_TRUE(std::holds_alternative<Rule>(compiled));
    const Rule& rule = std::get<Rule>(compiled);
    EXPECT_EQ(rule.id, "abc");
    EXPECT_EQ(rule.workspace, "default");
    EXPECT_EQ(rule.metrics_workspace, "");
    EXPECT_EQ(rule.source, Source::metric);
    EXPECT_EQ(rule.metric, "api.latency");
    ASSERT_EQ(rule.filters.size(), 1u);
    EXPECT_EQ(rule.filters[0].key, "service");
    EXPECT_EQ(rule.aggregation->name(), "p99");
    EXPECT_EQ(rule.window, MetricWindow::m5);
    EXPECT_EQ(rule.op, Operator::gt);
    EXPECT_EQ(rule.threshold, 500);
    EXPECT_EQ(rule.duration_ms, 120'000);
    EXPECT_EQ(*rule.resolve_threshold, 400);
    EXPECT_EQ(rule.no_data, NoData::keep_last);
    ASSERT_EQ(rule.actions.size(), 2u);
    EXPECT_EQ(rule.actions[0].receiver, "tallyd");
    EXPECT_EQ(rule.actions[1].type, Action::Type::alertmanager);
    EXPECT_EQ(rule.actions[1].receiver, "ops");
    EXPECT_EQ(rule.labels.at("severity"), "page");
}

TEST(AlertRule, FillsDefaults) {
    const json body = {
        {"alert_name", "x"}, {"metric", "m"}, {"condition", {{"operator", "<"}, {"threshold", 1}}}};
    const auto result = validate_rule(body, {});
    ASSERT_TRUE(std::holds_alternative<json>(result));
    const json& doc = std::get<json>(result);
    EXPECT_EQ(doc["window"], "1m");
    EXPECT_EQ(doc["no_data"], "ok");
    EXPECT_EQ(doc["condition"]["duration"], "0s");
    EXPECT_EQ(doc["actions"], json::array());
    EXPECT_EQ(doc["labels"], json::object());
    EXPECT_FALSE(doc.contains("aggregation"));  // the metric's natural one
}

TEST(AlertRule, DropsWhatTheServerSets) {
    json body = good();
    body["id"] = "forged";
    body["workspace"] = "other";
    body["version"] = 7;
    body["state"] = "firing";
    const Channels known = channels();
    RuleContext context;
    context.channels = &known;
    const json doc = std::get<json>(validate_rule(body, context));
    for (const char* key : {"id", "workspace", "version", "state"})
        EXPECT_FALSE(doc.contains(key)) << key;
}

TEST(AlertRule, NamesEachBadField) {
    const std::vector<std::pair<std::function<void(json&)>, std::string>> cases = {
        {[](json& b) { b.erase("alert_name"); }, "alert_name"},
        {[](json& b) { b["alert_name"] = ""; }, "alert_name"},
        {[](json& b) { b["alert_name"] = 5; }, "alert_name"},
        {[](json& b) { b["treshold"] = 5; }, "treshold"},
        {[](json& b) { b.erase("metric"); }, "metric"},
        {[](json& b) { b["metric"] = "bad name!"; }, "metric"},
        {[](json& b) { b["metric"] = "analytics:visitors:site"; }, "metric"},
        {[](json& b) { b["metric"] = "analytics:pageviews:bad site"; }, "metric"},
        {[](json& b) { b["metric"] = "analytics:events:site"; }, "metric"},
        {[](json& b) {
             b["tags"] = {{"bad key!", "x"}};
         },
         "tags.bad key!"},
        {[](json& b) {
             b["tags"] = {{"k", 5}};
         },
         "tags.k"},
        {[](json& b) { b["tags"] = json::array(); }, "tags"},
        {[](json& b) { b["aggregation"] = "median"; }, "aggregation"},
        {[](json& b) { b["window"] = "2m"; }, "window"},
        {[](json& b) { b.erase("condition"); }, "condition"},
        {[](json& b) { b["condition"]["operator"] = "=>"; }, "condition.operator"},
        {[](json& b) { b["condition"]["threshold"] = "high"; }, "condition.threshold"},
        {[](json& b) { b["condition"].erase("threshold"); }, "condition.threshold"},
        {[](json& b) { b["condition"]["duration"] = "5 minutes"; }, "condition.duration"},
        {[](json& b) { b["condition"]["duration"] = "-5m"; }, "condition.duration"},
        {[](json& b) { b["condition"]["duration"] = "30d"; }, "condition.duration"},
        {[](json& b) { b["condition"]["sensitivity"] = 3; }, "condition.sensitivity"},
        {[](json& b) { b["condition"]["for"] = "1m"; }, "condition.for"},
        {[](json& b) { b["resolve_threshold"] = 600; }, "resolve_threshold"},
        {[](json& b) { b["resolve_threshold"] = "low"; }, "resolve_threshold"},
        {[](json& b) { b["no_data"] = "ignore"; }, "no_data"},
        {[](json& b) { b["actions"] = "ops"; }, "actions"},
        {[](json& b) { b["actions"][1] = "email"; }, "actions[1]"},
        {[](json& b) { b["actions"][0]["type"] = "email"; }, "actions[0].type"},
        {[](json& b) { b["actions"][0]["url"] = "https://example.com/x"; }, "actions[0].url"},
        {[](json& b) { b["actions"][0].erase("url"); }, "actions[0].url"},
        {[](json& b) { b["actions"][0]["secret"] = "x"; }, "actions[0].secret"},
        {[](json& b) {
             b["labels"] = {{"bad-name", "x"}};
         },
         "labels.bad-name"},
        {[](json& b) {
             b["labels"] = {{"alertname", "x"}};
         },
         "labels.alertname"},
        {[](json& b) {
             b["labels"] = {{"team", 1}};
         },
         "labels.team"},
        {[](json& b) {
             b["annotations"] = {{"summary", json::array()}};
         },
         "annotations.summary"},
    };
    for (const auto& [mutate, field] : cases) {
        json body = good();
        mutate(body);
        EXPECT_EQ(field_of(body), field) << body.dump();
    }
}

TEST(AlertRule, ResolveThresholdMustLieOnTheQuietSide) {
    json body = good();
    body["condition"]["operator"] = "<";
    body["condition"]["threshold"] = 10;
    body["resolve_threshold"] = 5;
    EXPECT_EQ(field_of(body), "resolve_threshold");
    body["resolve_threshold"] = 15;
    EXPECT_EQ(field_of(body), "(valid)");
    body["condition"]["operator"] = "==";
    EXPECT_EQ(field_of(body), "resolve_threshold");
}

TEST(AlertRule, AnomalyTakesASensitivityNotAThreshold) {
    json body = good();
    body.erase("resolve_threshold");
    body["condition"] = {{"operator", "anomaly"}, {"sensitivity", 2.5}};
    EXPECT_EQ(field_of(body), "(valid)");
    body["condition"]["sensitivity"] = 0;
    EXPECT_EQ(field_of(body), "condition.sensitivity");
    body["condition"] = {{"operator", "anomaly"}, {"threshold", 3}};
    EXPECT_EQ(field_of(body), "condition.threshold");
    body["condition"] = {{"operator", "anomaly"}};  // the default sensitivity
    const Channels known = channels();
    RuleContext context;
    context.channels = &known;
    EXPECT_EQ(std::get<json>(validate_rule(body, context))["condition"]["sensitivity"], 3);
    body["metric"] = "analytics:realtime:example.com";
    body["tags"] = json::object();
    body.erase("aggregation");
    EXPECT_EQ(field_of(body), "condition.operator");
}

TEST(AlertRule, AnalyticsFigures) {
    json body = {{"alert_name", "No traffic"},
                 {"metric", "analytics:events:shop.example:checkout:done"},
                 {"window", "15m"},
                 {"condition", {{"operator", "<"}, {"threshold", 1}}}};
    const auto result = compile_rule(body, {});
    ASSERT_TRUE(std::holds_alternative<Rule>(result));
    const Rule& rule = std::get<Rule>(result);
    EXPECT_EQ(rule.source, Source::events);
    EXPECT_EQ(rule.site, "shop.example");
    EXPECT_EQ(rule.event, "checkout:done");
    body["window"] = "10s";
    EXPECT_EQ(field_of(body), "window");
    body["window"] = "1m";
    body["tags"] = {{"k", "v"}};
    EXPECT_EQ(field_of(body), "tags");
    body.erase("tags");
    body["aggregation"] = "avg";
    EXPECT_EQ(field_of(body), "aggregation");
    body["aggregation"] = "sum";
    EXPECT_EQ(field_of(body), "(valid)");
}

TEST(AlertRule, SiteTheCallerDoesNotSeeIsNoSuchSite) {
    json body = {{"alert_name", "x"},
                 {"metric", "analytics:pageviews:theirs.example"},
                 {"condition", {{"operator", ">"}, {"threshold", 1}}}};
    RuleContext context;
    context.sees_site = [](std::string_view site) { return site == "mine.example"; };
    const auto result = validate_rule(body, context);
    ASSERT_TRUE(std::holds_alternative<Invalid>(result));
    EXPECT_EQ(std::get<Invalid>(result).message, "no such site");
    EXPECT_EQ(std::get<Invalid>(result).field, "metric");
    body["metric"] = "analytics:pageviews:mine.example";
    EXPECT_EQ(field_of(body, context), "(valid)");
}

TEST(AlertRule, AggregationMustSuitAKnownMetricsKind) {
    json body = good();
    body["aggregation"] = "unique";
    RuleContext context;
    const Channels known = channels();
    context.channels = &known;
    context.metric_kind = [](const std::string& name) -> std::optional<MetricKind> {
        if (name == "api.latency")
            return MetricKind::distribution;
        return std::nullopt;
    };
    EXPECT_EQ(field_of(body, context), "aggregation");
    body["metric"] = "not.yet.sent";  // unknown: any aggregation, checked when it exists
    EXPECT_EQ(field_of(body, context), "(valid)");
}

TEST(AlertRule, CompileFailsWhenAChannelWasRemoved) {
    json body = good();
    const auto result = compile_rule(body, {});
    ASSERT_TRUE(std::holds_alternative<Invalid>(result));
    EXPECT_EQ(std::get<Invalid>(result).field, "actions[1]");
}

TEST(AlertRule, Durations) {
    EXPECT_EQ(parse_duration_ms("500ms"), 500);
    EXPECT_EQ(parse_duration_ms("10s"), 10'000);
    EXPECT_EQ(parse_duration_ms("1m"), 60'000);
    EXPECT_EQ(parse_duration_ms("2h"), 7'200'000);
    EXPECT_EQ(parse_duration_ms("1d"), 86'400'000);
    EXPECT_EQ(parse_duration_ms("0"), 0);
    EXPECT_EQ(parse_duration_ms(json(1.5)), 1500);
    EXPECT_EQ(parse_duration_ms("1.5s"), std::nullopt);
    EXPECT_EQ(parse_duration_ms("s"), std::nullopt);
    EXPECT_EQ(parse_duration_ms("-1s"), std::nullopt);
    EXPECT_EQ(parse_duration_ms(json(-1)), std::nullopt);
    EXPECT_EQ(parse_duration_ms("10 s"), std::nullopt);
}

TEST(AlertRule, ConditionAndIdentityChanges) {
    const json a = good();
    json b = a;
    b["annotations"]["summary"] = "changed";
    b["actions"] = json::array();
    EXPECT_TRUE(same_condition(a, b));
    EXPECT_TRUE(same_identity(a, b));
    b["condition"]["threshold"] = 501;
    EXPECT_FALSE(same_condition(a, b));
    b = a;
    b["labels"]["severity"] = "ticket";
    EXPECT_TRUE(same_condition(a, b));
    EXPECT_FALSE(same_identity(a, b));
}

}  // namespace
}  // namespace tally::alerts
