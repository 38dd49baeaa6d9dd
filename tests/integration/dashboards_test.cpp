// Dashboards in the real tallyd: create, list, get, replace with versions (409 on a stale
// one), delete; validation answers naming the field; templates; every widget's data
// against an oracle computed here from the points and events the test sent (and against
// /dashboard for the web-analytics figures); CSV, JSON and XLSX exports (the workbook
// opened with zlib and its sheets counted and named); kill -9 after a 201.

#include <signal.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>

#include "common.hpp"

namespace tally::test {
namespace {

constexpr std::int64_t kMinute = 60'000;

class DashboardsTest : public DaemonTest {
  protected:
    json create(const json& body) {
        const auto r = client.post("/api/v1/dashboards", body.dump());
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? json::parse(r.body) : json();
    }
    json data(const std::string& id, const std::string& params) {
        const auto r = client.get("/api/v1/dashboards/" + id + "/data?" + params);
        EXPECT_EQ(r.status, 200) << r.body;
        return r.status == 200 ? json::parse(r.body) : json();
    }
    void send_points(const json& points) {
        const auto r = client.post("/api/v1/metrics", json{{"metrics", points}}.dump());
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(json::parse(r.body)["accepted"], points.size()) << r.body;
    }
};

json position(int x, int y, int width = 4, int height = 3) {
    return {{"x", x}, {"y", y}, {"width", width}, {"height", height}};
}

json widget(const std::string& id, const std::string& type, json query, int x = 0, int y = 0) {
    return {
        {"id", id}, {"type", type}, {"title", id}, {"query", query}, {"position", position(x, y)}};
}

TEST_F(DashboardsTest, CreateListGetReplaceDelete) {
    const json made = create({{"name", "Ops"}, {"widgets", json::array()}});
    const std::string id = made["id"];
    EXPECT_EQ(made["version"], 1);
    EXPECT_EQ(made["compare"], "none");
    auto listed = json::parse(client.get("/api/v1/dashboards").body)["dashboards"];
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["id"], id);
    EXPECT_EQ(listed[0]["name"], "Ops");
    EXPECT_EQ(json::parse(client.get("/api/v1/dashboards/" + id).body), made);

    json edit = made;
    edit["name"] = "Ops (edited)";
    auto r = client.request("PUT", "/api/v1/dashboards/" + id, edit.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["version"], 2);

    // A second editor still holding version 1: refused, and told what is there now.
    json stale = made;
    stale["name"] = "Someone else's";
    r = client.request("PUT", "/api/v1/dashboards/" + id, stale.dump());
    ASSERT_EQ(r.status, 409) << r.body;
    const json conflict = json::parse(r.body);
    EXPECT_EQ(conflict["current"]["name"], "Ops (edited)");
    EXPECT_EQ(conflict["current"]["version"], 2);
    EXPECT_EQ(json::parse(client.get("/api/v1/dashboards/" + id).body)["name"], "Ops (edited)");

    r = client.request("PUT", "/api/v1/dashboards/" + id, json{{"name", "no version"}}.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(client.request("DELETE", "/api/v1/dashboards/" + id, "").status, 204);
    EXPECT_EQ(client.get("/api/v1/dashboards/" + id).status, 404);
    EXPECT_EQ(client.request("DELETE", "/api/v1/dashboards/" + id, "").status, 404);
    EXPECT_EQ(client.get("/api/v1/dashboards/..%2fetc").status, 404);
}

TEST_F(DashboardsTest, BadDocumentsAreRefusedNamingTheField) {
    const std::vector<std::pair<json, std::string>> cases = {
        {json::array(), ""},
        {{{"widgets", json::array()}}, "name"},
        {{{"name", "n"}, {"widgets", {widget("a", "radar", {{"metrics", {"x"}}})}}},
         "widgets[0].type"},
        {{{"name", "n"},
          {"widgets",
           {{{"type", "number"}, {"query", {{"metrics", {"x"}}}}, {"position", position(10, 0)}}}}},
         "widgets[0].position"},
        {{{"name", "n"},
          {"widgets", {widget("a", "number", {{"metrics", {"x"}}, {"window", "7m"}})}}},
         "widgets[0].query.window"},
        {{{"name", "n"},
          {"widgets",
           {widget("a", "number",
                   {{"formula", "a / (b"}, {"queries", {{"a", {{"metrics", {"x"}}}}}}})}}},
         "widgets[0].query.formula"},
        {{{"name", "n"}, {"template", "nope"}}, "template"},
    };
    for (const auto& [body, field] : cases) {
        const auto r = client.post("/api/v1/dashboards", body.dump());
        EXPECT_EQ(r.status, 400) << body.dump();
        const json answer = json::parse(r.body, nullptr, false);
        EXPECT_EQ(answer.value("field", ""), field) << r.body;
    }
    EXPECT_EQ(client.post("/api/v1/dashboards", "{not json").status, 400);
    json widgets = json::array();
    for (int i = 0; i < 51; ++i)
        widgets.push_back(widget("w" + std::to_string(i), "number", {{"metrics", {"x"}}}));
    EXPECT_EQ(
        client.post("/api/v1/dashboards", json{{"name", "n"}, {"widgets", widgets}}.dump()).status,
        400);
    EXPECT_EQ(json::parse(client.get("/api/v1/dashboards").body)["dashboards"].size(), 0u);
}

TEST_F(DashboardsTest, TemplatesMakeDashboardsInOneCall) {
    const json templates =
        json::parse(client.get("/api/v1/dashboards/templates").body)["templates"];
    std::vector<std::string> ids;
    for (const json& t : templates)
        ids.push_back(t["id"]);
    EXPECT_EQ(ids, (std::vector<std::string>{"web-analytics", "api-performance", "business-kpis"}));
    for (const std::string& id : ids) {
        const json made = create({{"template", id}, {"site", "example.com"}});
        EXPECT_GE(made["widgets"].size(), 8u) << id;
        const json answer = data(made["id"], "from=now-1h&to=now");
        for (const json& w : answer["widgets"])  // nothing sent: empty, but no errors
            EXPECT_FALSE(w["data"].contains("error")) << id << " " << w.dump();
    }
    EXPECT_EQ(create({{"template", "api-performance"}, {"name", "Checkout"}})["name"], "Checkout");
}

TEST_F(DashboardsTest, MetricWidgetsAgreeWithAnOracle) {
    // Two whole minutes, well in the past but inside the minute tier, and in one hour: the
    // p50 widget asks for a 1-hour window, and two hour buckets would give it the second's.
    std::int64_t t0 = (now_ms() / kMinute - 30) * kMinute;
    if (t0 / kMinute % 60 == 59)
        t0 -= kMinute;
    json points = json::array();
    double sum_a = 0, sum_b = 0, errors = 0;
    std::vector<double> latencies;
    for (int i = 0; i < 120; ++i) {
        const std::int64_t ts = t0 + (i % 2) * kMinute + i * 100;
        const std::string endpoint = i % 3 == 0 ? "/b" : "/a";
        const std::string status = i % 10 == 0 ? "500" : "200";
        (endpoint == "/a" ? sum_a : sum_b) += i;
        if (status == "500")
            errors += i;
        points.push_back({{"name", "dash.requests"},
                          {"type", "count"},
                          {"value", i},
                          {"tags", {{"endpoint", endpoint}, {"status", status}}},
                          {"timestamp", ts}});
        const double latency = 5.0 + (i * 37) % 200;
        latencies.push_back(latency);
        points.push_back({{"name", "dash.latency"},
                          {"type", "distribution"},
                          {"value", latency},
                          {"timestamp", ts}});
    }
    send_points(points);
    const json sum = {{"metrics", {"dash.requests"}}, {"aggregation", "sum"}};
    json errors_query = sum;
    errors_query["filters"] = {{"status", "500"}};
    json by_endpoint = sum;
    by_endpoint["group_by"] = {"endpoint"};
    by_endpoint["window"] = "1m";
    const json made = create(
        {{"name", "Oracle"},
         {"widgets",
          {widget("total", "number", sum), widget("split", "line_chart", by_endpoint, 4),
           widget("ratio", "number",
                  {{"formula", "errors / requests * 100"},
                   {"queries", {{"errors", errors_query}, {"requests", sum}}}},
                  8),
           widget("p50", "gauge",
                  {{"metrics", {"dash.latency"}}, {"aggregation", "p50"}, {"window", "1h"}}, 0, 3),
           widget("missing", "number", {{"metrics", {"dash.never_sent"}}}, 4, 3),
           // Every other kind over the same grouped query: the same series, drawn otherwise.
           widget("heat", "heatmap", by_endpoint, 8, 3),
           widget("dots", "scatter", by_endpoint, 0, 6),
           widget("bars", "bar_chart", by_endpoint, 4, 6),
           widget("area", "area_chart", by_endpoint, 8, 6),
           widget("pie", "pie_chart", by_endpoint, 0, 9),
           widget("rows", "table", by_endpoint, 4, 9)}}});
    const std::string range =
        "from=" + std::to_string(t0) + "&to=" + std::to_string(t0 + 2 * kMinute);
    const json answer = data(made["id"], range);
    std::map<std::string, json> by_id;
    for (const json& w : answer["widgets"])
        by_id[w["id"]] = w["data"];

    EXPECT_EQ(by_id["total"]["value"], sum_a + sum_b);
    ASSERT_EQ(by_id["split"]["series"].size(), 2u);
    for (const json& series : by_id["split"]["series"]) {
        const double want = series["group"]["endpoint"] == "/a" ? sum_a : sum_b;
        double got = 0;
        for (const json& p : series["points"])
            got += p[1].is_number() ? p[1].get<double>() : 0;
        EXPECT_EQ(got, want) << series.dump();
        EXPECT_EQ(series["points"].size(), 2u);  // one a minute
        EXPECT_EQ(series["points"][0][0], t0);
    }
    for (const char* kind : {"heat", "dots", "bars", "area", "pie", "rows"})
        EXPECT_EQ(by_id[kind]["series"], by_id["split"]["series"]) << kind;
    EXPECT_NEAR(by_id["ratio"]["value"].get<double>(), errors / (sum_a + sum_b) * 100, 1e-9);
    std::sort(latencies.begin(), latencies.end());
    const double exact = latencies[static_cast<std::size_t>(0.5 * (latencies.size() - 1))];
    EXPECT_NEAR(by_id["p50"]["value"].get<double>(), exact, exact * 0.011);
    EXPECT_TRUE(by_id["missing"]["value"].is_null());
    EXPECT_FALSE(by_id["missing"].contains("error"));

    // The previous period holds nothing: the comparison answers empty windows.
    const json compared = data(made["id"], range + "&compare=previous_period");
    EXPECT_EQ(compared["offset_ms"], 2 * kMinute);
    EXPECT_TRUE(compared["widgets"][0]["compare_data"]["value"].is_null());
    EXPECT_EQ(compared["widgets"][0]["data"]["value"], sum_a + sum_b);
}

TEST_F(DashboardsTest, AnalyticsWidgetsAgreeWithTheDashboardPage) {
    const std::int64_t now = now_ms();
    for (int i = 0; i < 30; ++i) {
        send(json{{"page_url", "https://example.com/p" + std::to_string(i % 4)},
                  {"session_id", "s" + std::to_string(i % 7)},
                  {"user_id", "u" + std::to_string(i % 5)},
                  {"country", i % 3 == 0 ? "DE" : "FR"},
                  {"timestamp", iso(now - i * 1000)}});
    }
    // Plans: pro for i = 0, 3 (users u0, u3), free for the other four (u1, u2, u4, u1).
    for (int i = 0; i < 6; ++i) {
        send({{"event_name", "signup"},
              {"session_id", "s" + std::to_string(i)},
              {"user_id", "u" + std::to_string(i % 5 == 0 && i > 0 ? 1 : i % 5)},
              {"properties", {{"plan", i % 3 == 0 ? "pro" : "free"}, {"seats", i % 2}}}},
             "/track/event");
    }
    const auto analytics = [](const char* metric, const char* breakdown = nullptr) {
        json q = {{"source", "analytics"}, {"site", "default"}, {"metric", metric}};
        if (breakdown != nullptr)
            q["breakdown"] = breakdown;
        return q;
    };
    const json made = create(
        {{"name", "Web"},
         {"widgets",
          {widget("views", "number", analytics("pageviews")),
           widget("visitors", "number", analytics("visitors"), 4),
           widget("signups", "number", analytics("events:signup"), 8),
           widget("pages", "table", analytics("pageviews", "pages"), 0, 3),
           widget("devices", "pie_chart", analytics("pageviews", "devices"), 4, 3),
           widget("now", "number", analytics("realtime"), 8, 3),
           widget("plans", "table", analytics("events:signup", "props:signup:plan"), 0, 6),
           widget("plan_visitors", "bar_chart", analytics("visitors", "props:signup:plan"), 4, 6),
           widget("world", "map", analytics("pageviews", "countries"), 8, 6)}}});
    const json answer = data(made["id"], "from=now/d&to=now");
    std::map<std::string, json> by_id;
    for (const json& w : answer["widgets"])
        by_id[w["id"]] = w["data"];
    const json page = dashboard(client, "today");
    EXPECT_EQ(by_id["views"]["value"], 30);
    EXPECT_EQ(by_id["views"]["value"], page["page_views"]);
    EXPECT_EQ(by_id["visitors"]["value"], page["unique_visitors"]);
    EXPECT_EQ(by_id["signups"]["value"], 6);
    json pages = json::array();
    for (const json& row : by_id["pages"]["rows"])
        pages.push_back({row["name"], row["value"]});
    EXPECT_EQ(pages, page["top_pages"]);
    json countries = json::array();
    for (const json& row : by_id["world"]["rows"])
        countries.push_back({row["name"], row["value"]});
    EXPECT_EQ(countries, page["countries"]);
    EXPECT_EQ(countries, json::parse(R"([["FR",20],["DE",10]])"));
    std::uint64_t devices = 0;
    for (const json& row : by_id["devices"]["rows"])
        devices += row["value"].get<std::uint64_t>();
    EXPECT_EQ(devices, 30u);
    EXPECT_EQ(by_id["now"]["value"], page["real_time_users"]);
    // The property breakdown: the oracle above, and /dashboard's ?props= answer.
    EXPECT_EQ(by_id["plans"]["rows"],
              json::parse(R"([{"name":"free","value":4},{"name":"pro","value":2}])"));
    EXPECT_EQ(by_id["plan_visitors"]["rows"],
              json::parse(R"([{"name":"free","value":3},{"name":"pro","value":2}])"));
    const auto props = client.get("/dashboard/today?props=signup");
    ASSERT_EQ(props.status, 200) << props.body;
    const json breakdown = json::parse(props.body)["properties"];
    EXPECT_EQ(breakdown["event"], "signup");
    ASSERT_EQ(breakdown["keys"].size(), 2u);
    EXPECT_EQ(breakdown["keys"][0]["key"], "plan");  // 6 each: ties by key
    EXPECT_EQ(breakdown["keys"][0]["visitors"], 5);
    EXPECT_EQ(breakdown["keys"][0]["values"][0],
              json::parse(R"({"value":"free","count":4,"visitors":3})"));
    EXPECT_EQ(breakdown["keys"][1]["key"], "seats");
    EXPECT_EQ(breakdown["keys"][1]["values"][0]["value"], "0");
    EXPECT_EQ(client.get("/dashboard/today?props=no%20such").status, 400);
    // The series stops at now: no point for a minute that has not begun.
    const json& points = by_id["views"]["series"][0]["points"];
    ASSERT_FALSE(points.empty());
    EXPECT_LE(points.back()[0].get<std::int64_t>(), now_ms());
}

/// The names of a workbook's sheets, read from xl/workbook.xml inside the zip.
std::vector<std::string> sheet_names(const std::string& zip) {
    auto u16 = [&](std::size_t at) {
        return std::uint32_t(std::uint8_t(zip[at])) | std::uint32_t(std::uint8_t(zip[at + 1])) << 8;
    };
    auto u32 = [&](std::size_t at) { return u16(at) | u16(at + 2) << 16; };
    const std::size_t end = zip.rfind(std::string("PK\x05\x06", 4));
    if (end == std::string::npos)
        return {};
    std::size_t entry = u32(end + 16);
    std::string xml;
    for (std::uint32_t i = 0; i < u16(end + 10) && entry + 46 <= zip.size(); ++i) {
        const std::uint32_t method = u16(entry + 10), packed = u32(entry + 20),
                            size = u32(entry + 24), name_len = u16(entry + 28),
                            extra = u16(entry + 30), comment = u16(entry + 32),
                            local = u32(entry + 42);
        if (zip.compare(entry + 46, name_len, "xl/workbook.xml") == 0 && name_len == 15) {
            const std::size_t start = local + 30 + u16(local + 26) + u16(local + 28);
            xml.resize(size);
            if (method == 0) {
                xml = zip.substr(start, size);
            } else {
                z_stream z{};
                inflateInit2(&z, -15);
                z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zip.data() + start));
                z.avail_in = packed;
                z.next_out = reinterpret_cast<Bytef*>(xml.data());
                z.avail_out = size;
                inflate(&z, Z_FINISH);
                inflateEnd(&z);
            }
        }
        entry += 46 + name_len + extra + comment;
    }
    std::vector<std::string> names;
    for (std::size_t at = xml.find("<sheet "); at != std::string::npos;
         at = xml.find("<sheet ", at + 1)) {
        const std::size_t open = xml.find("name=\"", at) + 6;
        names.push_back(xml.substr(open, xml.find('"', open) - open));
    }
    return names;
}

TEST_F(DashboardsTest, ExportsAsCsvJsonAndXlsx) {
    send_points(
        {{{"name", "dash.x"}, {"type", "count"}, {"value", 3}, {"timestamp", now_ms() - kMinute}}});
    const json made = create(
        {{"name", "Export me"},
         {"widgets",
          {widget("a", "line_chart", {{"metrics", {"dash.x"}}}),
           widget("b", "table",
                  {{"source", "analytics"}, {"site", "default"}, {"breakdown", "pages"}}, 4)}}});
    const std::string base =
        "/api/v1/dashboards/" + made["id"].get<std::string>() + "/data?from=now-1h";
    auto r = client.get(base + "&format=csv");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/csv; charset=utf-8");
    EXPECT_NE(r.header("content-disposition").find("Export-me.csv"), std::string::npos);
    EXPECT_EQ(r.body.rfind(
                  "# a (line_chart)\r\nperiod,series,timestamp,value\r\ncurrent,total,,3\r\n", 0),
              0u)
        << r.body;
    EXPECT_NE(r.body.find("# b (table)\r\nperiod,name,value\r\n"), std::string::npos);
    r = client.get(base + "&format=json");
    EXPECT_EQ(json::parse(r.body)["widgets"].size(), 2u);
    r = client.get(base + "&format=xlsx");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"),
              "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    EXPECT_EQ(sheet_names(r.body), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(client.get(base + "&format=pdf").status, 400);
    EXPECT_EQ(client.get(base + "&compare=lastyear").status, 400);
    EXPECT_EQ(
        client.get("/api/v1/dashboards/" + made["id"].get<std::string>() + "/data?from=yesterday")
            .status,
        400);
}

TEST_F(DashboardsTest, AWidgetAloneAndTheSitesList) {
    send(json{{"site", "a.test"}, {"page_url", "https://a.test/x"}, {"session_id", "s1"}});
    send(json{{"site", "a.test"}, {"page_url", "https://a.test/y"}, {"session_id", "s2"}});
    send(json{{"site", "b.test"}, {"page_url", "https://b.test/"}, {"session_id", "s3"}});
    const json sites = json::parse(client.get("/api/v1/sites").body)["sites"];
    std::map<std::string, json> by_site;
    for (const json& s : sites)
        by_site[s["site"]] = s;
    EXPECT_EQ(by_site["a.test"]["page_views_today"], 2);
    EXPECT_EQ(by_site["b.test"]["page_views_today"], 1);
    const auto seen = parse_rfc3339_ms(by_site["a.test"]["last_seen"].get<std::string>());
    ASSERT_TRUE(seen);
    EXPECT_LE(*seen, now_ms());
    EXPECT_GT(*seen, now_ms() - 2 * kMinute);

    const json made =
        create({{"name", "Two"},
                {"widgets",
                 {widget("first", "number", {{"source", "analytics"}, {"site", "a.test"}}),
                  widget("second", "number", {{"source", "analytics"}, {"site", "b.test"}}, 4)}}});
    const std::string base = "/api/v1/dashboards/" + made["id"].get<std::string>() + "/data?";
    const json one = data(made["id"], "widget=second");
    ASSERT_EQ(one["widgets"].size(), 1u);
    EXPECT_EQ(one["widgets"][0]["data"]["value"], 1);
    const auto csv = client.get(base + "widget=first&format=csv");
    EXPECT_NE(csv.header("content-disposition").find("filename=\"first.csv\""), std::string::npos)
        << csv.header("content-disposition");
}

TEST_F(DashboardsTest, TheBuilderPageIsServedAndRevalidated) {
    const auto list = client.get("/dashboards");
    ASSERT_EQ(list.status, 200);
    EXPECT_EQ(list.header("content-type"), "text/html; charset=utf-8");
    EXPECT_NE(list.body.find("/js/board/main.js"), std::string::npos);
    const auto one = client.get("/dashboards/abc123");
    EXPECT_EQ(one.body, list.body);  // one page reads its own path
    const std::string tag = list.header("etag");
    ASSERT_FALSE(tag.empty());
    const auto again = client.get("/dashboards", {{"If-None-Match", tag}});
    EXPECT_EQ(again.status, 304);
    EXPECT_TRUE(again.body.empty());
    EXPECT_EQ(again.header("etag"), tag);
    EXPECT_EQ(client.get("/dashboards", {{"If-None-Match", "\"other\""}}).status, 200);
    const auto script = client.get("/js/board/main.js");
    ASSERT_EQ(script.status, 200);
    EXPECT_EQ(client.get("/js/board/main.js", {{"If-None-Match", script.header("etag")}}).status,
              304);
}

TEST_F(DashboardsTest, TheTokenGuardsEveryRoute) {
    Tallyd guarded({"--token", "s3cret"});
    HttpClient c(guarded.port());
    EXPECT_EQ(c.get("/api/v1/dashboards").status, 401);
    EXPECT_EQ(c.get("/api/v1/dashboards/templates").status, 401);
    EXPECT_EQ(c.get("/api/v1/sites").status, 401);
    EXPECT_EQ(c.post("/api/v1/dashboards", json{{"name", "x"}}.dump()).status, 401);
    EXPECT_EQ(c.get("/api/v1/dashboards/abc/data").status, 401);
    const auto r = c.post("/api/v1/dashboards", json{{"name", "x"}}.dump(),
                          {{"Authorization", "Bearer s3cret"}});
    EXPECT_EQ(r.status, 201);
}

TEST_F(DashboardsTest, A201SurvivesKill9) {
    const json made = create({{"template", "business-kpis"}});
    json edit = made;
    edit["name"] = "Edited before the crash";
    ASSERT_EQ(
        client.request("PUT", "/api/v1/dashboards/" + made["id"].get<std::string>(), edit.dump())
            .status,
        200);
    daemon.stop(SIGKILL);
    daemon.restart();
    HttpClient again(daemon.port());
    const auto r = again.get("/api/v1/dashboards/" + made["id"].get<std::string>());
    ASSERT_EQ(r.status, 200);
    const json back = json::parse(r.body);
    EXPECT_EQ(back["name"], "Edited before the crash");
    EXPECT_EQ(back["version"], 2);
    EXPECT_EQ(back["widgets"], made["widgets"]);
}

}  // namespace
}  // namespace tally::test
