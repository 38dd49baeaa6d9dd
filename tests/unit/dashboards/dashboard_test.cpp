#include "tally/dashboards/dashboard.hpp"

#include <gtest/gtest.h>

#include "tally/dashboards/templates.hpp"

namespace tally::dashboards {
namespace {

using nlohmann::json;

json widget(json query, json position = {{"x", 0}, {"y", 0}, {"width", 6}, {"height", 3}}) {
    return {{"type", "line_chart"}, {"title", "t"}, {"query", query}, {"position", position}};
}

json metric_query() {
    return {{"metrics", {"api.requests"}}, {"aggregation", "sum"}};
}

json analytics_query() {
    return {{"source", "analytics"}, {"site", "example.com"}, {"metric", "pageviews"}};
}

/// The field the validation error names, or "ok".
std::string field_of(const json& body) {
    const auto result = validate_dashboard(body);
    if (const auto* bad = std::get_if<Invalid>(&result))
        return bad->field.empty() ? "(body)" : bad->field;
    return "ok";
}

TEST(ValidateDashboard, FillsDefaultsAndDropsServerFields) {
    const json body = {
        {"name", "Mine"}, {"id", "forged"}, {"version", 99}, {"widgets", {widget(metric_query())}}};
    const auto result = validate_dashboard(body);
    ASSERT_TRUE(std::holds_alternative<json>(result));
    const json& doc = std::get<json>(result);
    EXPECT_FALSE(doc.contains("id"));
    EXPECT_FALSE(doc.contains("version"));
    EXPECT_EQ(doc["description"], "");
    EXPECT_EQ(doc["compare"], "none");
    EXPECT_EQ(doc["refresh_interval"], "live");
    EXPECT_EQ(doc["time"], json({{"from", "now-6h"}, {"to", "now"}}));
    EXPECT_EQ(doc["widgets"][0]["id"], "w1");
    EXPECT_EQ(doc["widgets"][0]["visualization_config"], json::object());
}

TEST(ValidateDashboard, NewWidgetIdsAvoidTheOnesGiven) {
    json later = widget(metric_query());
    later["id"] = "w1";
    const auto result =
        validate_dashboard({{"name", "n"}, {"widgets", {widget(metric_query()), later}}});
    ASSERT_TRUE(std::holds_alternative<json>(result));
    EXPECT_EQ(std::get<json>(result)["widgets"][0]["id"], "w2");
    EXPECT_EQ(std::get<json>(result)["widgets"][1]["id"], "w1");
    json twin = later;
    EXPECT_EQ(field_of({{"name", "n"}, {"widgets", {later, twin}}}), "widgets[1].id");
}

TEST(ValidateDashboard, EachRuleNamesItsField) {
    const json ok = {{"name", "n"}, {"widgets", json::array()}};
    EXPECT_EQ(field_of(ok), "ok");
    EXPECT_EQ(field_of(json::array()), "(body)");
    EXPECT_EQ(field_of({{"widgets", json::array()}}), "name");
    EXPECT_EQ(field_of({{"name", ""}}), "name");
    EXPECT_EQ(field_of({{"name", "n"}, {"compare", "yesterday"}}), "compare");
    EXPECT_EQ(field_of({{"name", "n"}, {"time", {{"from", "then"}, {"to", "now"}}}}), "time.from");
    EXPECT_EQ(field_of({{"name", "n"}, {"refresh_interval", "often"}}), "refresh_interval");
    EXPECT_EQ(field_of({{"name", "n"}, {"widgets", {{{"type", "radar"}}}}}), "widgets[0].type");
    json unknown_type = widget(metric_query());
    unknown_type["type"] = "sparkline";
    EXPECT_EQ(field_of({{"name", "n"}, {"widgets", {unknown_type}}}), "widgets[0].type");
    // Off the grid.
    for (const json& position : {json{{"x", 7}, {"y", 0}, {"width", 6}, {"height", 3}},
                                 json{{"x", -1}, {"y", 0}, {"width", 6}, {"height", 3}},
                                 json{{"x", 0}, {"y", 0}, {"width", 0}, {"height", 3}},
                                 json{{"x", 0}, {"y", -2}, {"width", 3}, {"height", 3}},
                                 json{{"x", 0}, {"y", 0}, {"width", 3}, {"height", 25}}}) {
        EXPECT_EQ(field_of({{"name", "n"}, {"widgets", {widget(metric_query(), position)}}}),
                  "widgets[0].position")
            << position;
    }
    EXPECT_EQ(
        field_of({{"name", "n"},
                  {"widgets",
                   {widget(metric_query(), {{"x", 1.5}, {"y", 0}, {"width", 3}, {"height", 3}})}}}),
        "widgets[0].position.x");
    // Overlapping widgets are allowed.
    EXPECT_EQ(
        field_of({{"name", "n"}, {"widgets", {widget(metric_query()), widget(analytics_query())}}}),
        "ok");
}

TEST(ValidateDashboard, QueriesAreCheckedByKind) {
    auto with_query = [](json query) { return json{{"name", "n"}, {"widgets", {widget(query)}}}; };
    EXPECT_EQ(field_of(with_query(analytics_query())), "ok");
    EXPECT_EQ(field_of(with_query({{"metrics", {"bad name!"}}})), "widgets[0].query.metrics");
    EXPECT_EQ(field_of(with_query({{"metrics", {"a"}}, {"aggregation", "median"}})),
              "widgets[0].query.aggregation");
    EXPECT_EQ(field_of(with_query({{"metrics", {"a"}}, {"start_time", 0}})), "widgets[0].query");
    json site = analytics_query();
    site["site"] = "";
    EXPECT_EQ(field_of(with_query(site)), "widgets[0].query.site");
    json metric = analytics_query();
    metric["metric"] = "bounces";
    EXPECT_EQ(field_of(with_query(metric)), "widgets[0].query.metric");
    json breakdown = analytics_query();
    breakdown["breakdown"] = "browsers";
    EXPECT_EQ(field_of(with_query(breakdown)), "widgets[0].query.breakdown");
    breakdown["breakdown"] = "props:signup:plan";
    EXPECT_EQ(field_of(with_query(breakdown)), "ok");
    json events = analytics_query();
    events["metric"] = "events:signup";
    EXPECT_EQ(field_of(with_query(events)), "ok");
}

TEST(ValidateDashboard, FormulasMustParseAndNameTheirQueries) {
    auto formula = [](json f) { return json{{"name", "n"}, {"widgets", {widget(f)}}}; };
    const json queries = {{"errors", metric_query()}, {"requests", metric_query()}};
    EXPECT_EQ(field_of(formula({{"formula", "errors / requests * 100"}, {"queries", queries}})),
              "ok");
    EXPECT_EQ(field_of(formula({{"formula", "errors / (requests"}, {"queries", queries}})),
              "widgets[0].query.formula");
    EXPECT_EQ(field_of(formula({{"formula", "errors / total"}, {"queries", queries}})),
              "widgets[0].query.queries");
    EXPECT_EQ(field_of(formula({{"formula", "1"}, {"queries", json::object()}})),
              "widgets[0].query.queries");
    json nested = queries;
    nested["errors"] = {{"formula", "1"}, {"queries", queries}};
    EXPECT_EQ(field_of(formula({{"formula", "errors"}, {"queries", nested}})),
              "widgets[0].query.queries.errors");
    json bad_inner = queries;
    bad_inner["requests"] = {{"metrics", {"a"}}, {"window", "2m"}};
    EXPECT_EQ(field_of(formula({{"formula", "errors / requests"}, {"queries", bad_inner}})),
              "widgets[0].query.queries.requests.window");
}

TEST(ValidateDashboard, SizeLimits) {
    json widgets = json::array();
    for (int i = 0; i < 51; ++i)
        widgets.push_back(widget(metric_query()));
    EXPECT_EQ(field_of({{"name", "n"}, {"widgets", widgets}}), "widgets");
    widgets.erase(widgets.begin());
    EXPECT_EQ(field_of({{"name", "n"}, {"widgets", widgets}}), "ok");
    EXPECT_EQ(field_of({{"name", "n"}, {"description", std::string(300 * 1024, 'x')}}), "(body)");
}

TEST(ResolveTime, RelativeAndAbsolute) {
    const std::int64_t now = 1'700'000'123'456;  // 2023-11-14T22:15:23.456Z
    EXPECT_EQ(resolve_time("now", now), now);
    EXPECT_EQ(resolve_time("now-15m", now), now - 15 * 60'000);
    EXPECT_EQ(resolve_time("now-7d", now), now - 7 * 86'400'000LL);
    EXPECT_EQ(resolve_time("now-2w", now), now - 14 * 86'400'000LL);
    EXPECT_EQ(resolve_time("now/d", now), 1'699'920'000'000);
    EXPECT_EQ(resolve_time("now/M", now), 1'698'796'800'000);  // 2023-11-01
    EXPECT_EQ(resolve_time("2023-11-14T00:00:00Z", now), 1'699'920'000'000);
    EXPECT_EQ(resolve_time(42, now), 42);
    for (const char* bad : {"now-", "now-5", "now-5y", "now+1h", "yesterday", "now--1h"})
        EXPECT_EQ(resolve_time(bad, now), std::nullopt) << bad;
}

TEST(Templates, EveryTemplateIsAValidDashboard) {
    const json list = template_list();
    ASSERT_GE(list.size(), 3u);
    for (const json& item : list) {
        const auto made = make_from_template(item["id"], {{"site", "example.com"}});
        ASSERT_TRUE(made) << item;
        const auto result = validate_dashboard(*made);
        ASSERT_TRUE(std::holds_alternative<json>(result))
            << item["id"] << ": " << std::get<Invalid>(result).field << " "
            << std::get<Invalid>(result).message;
        EXPECT_GE(std::get<json>(result)["widgets"].size(), 8u);
    }
    EXPECT_FALSE(make_from_template("nope", json::object()));
    const auto named = make_from_template("api-performance", {{"name", "Checkout API"}});
    EXPECT_EQ((*named)["name"], "Checkout API");
}

}  // namespace
}  // namespace tally::dashboards
