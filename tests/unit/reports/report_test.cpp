// Report documents: what is stored (defaults, the canonical schedule, server-side and
// unknown fields dropped), every bad field refused naming it, and the body of a run in
// both formats.

#include "tally/reports/report.hpp"

#include <gtest/gtest.h>

#include "tally/base/time.hpp"
#include "tally/dashboards/export.hpp"

namespace tally::reports {
namespace {

using nlohmann::json;

json good() {
    return {{"name", "Weekly traffic"},
            {"dashboard_id", "abc123"},
            {"schedule", "weekly@mon 09:00"},
            {"format", "csv"},
            {"destination", {{"type", "webhook"}, {"url", "http://127.0.0.1:9000/hook"}}}};
}

TEST(Report, AValidReportIsStoredWithItsDefaults) {
    json body = good();
    body.erase("format");
    body["id"] = "ignored";
    body["version"] = 3;
    body["workspace"] = "someone-else";
    body["last_run"] = "2026-01-01T00:00:00Z";
    body["destination"]["extra"] = 1;
    auto result = validate_report(body);
    ASSERT_TRUE(std::holds_alternative<json>(result)) << std::get<Invalid>(result).message;
    const json doc = std::get<json>(result);
    EXPECT_EQ(
        doc, json({{"name", "Weekly traffic"},
                   {"description", ""},
                   {"dashboard_id", "abc123"},
                   {"schedule", "weekly@mon 09:00"},
                   {"range", "previous_period"},
                   {"format", "json"},
                   {"destination", {{"type", "webhook"}, {"url", "http://127.0.0.1:9000/hook"}}}}));
    for (const char* url :
         {"http://example.com", "http://hooks.example.com:8080/a/b?x=1", "http://localhost/"}) {
        json ok = good();
        ok["destination"]["url"] = url;
        EXPECT_TRUE(std::holds_alternative<json>(validate_report(ok))) << url;
    }
}

TEST(Report, EveryBadFieldIsRefusedNamingIt) {
    const auto with = [](const char* key, json value) {
        json body = good();
        if (value.is_discarded())
            body.erase(key);
        else
            body[key] = std::move(value);
        return body;
    };
    const json gone = json(json::value_t::discarded);
    const auto url = [](const char* u) {
        json body = good();
        body["destination"]["url"] = u;
        return body;
    };
    const std::vector<std::pair<json, std::string>> cases = {
        {json::array(), ""},
        {with("name", gone), "name"},
        {with("name", ""), "name"},
        {with("name", 7), "name"},
        {with("name", std::string(201, 'x')), "name"},
        {with("name", "a\nb"), "name"},
        {with("description", json::array()), "description"},
        {with("dashboard_id", gone), "dashboard_id"},
        {with("dashboard_id", "../etc"), "dashboard_id"},
        {with("dashboard_id", 12), "dashboard_id"},
        {with("schedule", gone), "schedule"},
        {with("schedule", "daily@25:00"), "schedule"},
        {with("schedule", "every hour"), "schedule"},
        {with("range", "last_week"), "range"},
        {with("range", 1), "range"},
        {with("format", "xlsx"), "format"},
        {with("destination", gone), "destination"},
        {with("destination", "http://x/"), "destination"},
        {with("destination", {{"type", "email"}, {"url", "http://x/"}}), "destination.type"},
        {with("destination", {{"type", "webhook"}}), "destination.url"},
        {url("https://example.com/hook"), "destination.url"},
        {url("ftp://example.com/hook"), "destination.url"},
        {url("http://"), "destination.url"},
        {url("http:///path"), "destination.url"},
        {url("http://exa mple.com/"), "destination.url"},
        {url("http://example.com:0/"), "destination.url"},
        {url("http://example.com:70000/"), "destination.url"},
        {url("http://example.com:/"), "destination.url"},
        {url("http://example.com/a b"), "destination.url"},
        {url("http://user@example.com/"), "destination.url"},
        {with("description", std::string(20'000, 'x')), ""},
    };
    for (const auto& [body, field] : cases) {
        auto result = validate_report(body);
        ASSERT_TRUE(std::holds_alternative<Invalid>(result)) << body.dump();
        EXPECT_EQ(std::get<Invalid>(result).field, field) << body.dump();
        EXPECT_FALSE(std::get<Invalid>(result).message.empty());
    }
}

json sample_data() {
    return {{"id", "abc123"},
            {"name", "Traffic"},
            {"version", 1},
            {"range", {{"from", 1}, {"to", 2}}},
            {"compare", "none"},
            {"widgets",
             {{{"id", "w"},
               {"type", "number"},
               {"title", "Views"},
               {"data", {{"value", 42}, {"series", json::array()}}}}}}};
}

TEST(Report, AJsonRunIsTheDashboardsDataWithTheReportsPart) {
    json report = std::get<json>(validate_report(good()));
    report["format"] = "json";
    report["id"] = "r1";
    const std::int64_t due = *parse_rfc3339_ms("2027-01-04T09:00:00Z");
    const auto run = make_run(report, due, sample_data(), Trigger::schedule);
    EXPECT_EQ(run.report_id, "r1");
    EXPECT_EQ(run.url, "http://127.0.0.1:9000/hook");
    EXPECT_EQ(run.content_type, "application/json");
    EXPECT_EQ(run.period.to_ms, due);
    EXPECT_EQ(run.period.from_ms, due - 7 * kMsPerDay);
    json body = json::parse(run.body);
    EXPECT_EQ(body["report"]["id"], "r1");
    EXPECT_EQ(body["report"]["name"], "Weekly traffic");
    EXPECT_EQ(body["report"]["schedule"], "weekly@mon 09:00");
    EXPECT_EQ(body["report"]["due_at"], "2027-01-04T09:00:00Z");
    EXPECT_EQ(body["report"]["trigger"], "schedule");
    EXPECT_EQ(body["report"]["period"]["from"], "2026-12-28T09:00:00Z");
    body.erase("report");
    EXPECT_EQ(body, sample_data());
    EXPECT_EQ(json::parse(
                  make_run(report, due, sample_data(), Trigger::manual).body)["report"]["trigger"],
              "manual");
}

TEST(Report, ACsvRunIsTheDashboardsCsvExport) {
    json report = std::get<json>(validate_report(good()));
    report["id"] = "r1";
    const auto run = make_run(report, 0, sample_data(), Trigger::schedule);
    EXPECT_EQ(run.content_type, "text/csv; charset=utf-8");
    EXPECT_EQ(run.body, dashboards::data_csv(sample_data()));
    EXPECT_NE(run.body.find("42"), std::string::npos);
}

}  // namespace
}  // namespace tally::reports
