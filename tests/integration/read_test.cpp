// The read API against the real daemon: dashboard JSON and CSV, ISO week and
// month ranges with merged uniques, time series, funnels, rolling windows, the token,
// static files and /metrics.

#include <gtest/gtest.h>

#include <fstream>

#include "common.hpp"

namespace tally::test {
namespace {

std::string iso_week_label(std::int64_t day) {
    const std::int64_t weekday = ((day + 3) % 7 + 7) % 7;  // Monday = 0
    const std::int64_t thursday = day - weekday + 3;
    int year;
    unsigned month, dom;
    civil_from_days(thursday, year, month, dom);
    const std::int64_t week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    char label[32];
    std::snprintf(label, sizeof(label), "%04d-W%02d", year, static_cast<int>(week));
    return label;
}

std::string month_label(std::int64_t day) {
    int year;
    unsigned month, dom;
    civil_from_days(day, year, month, dom);
    char label[32];
    std::snprintf(label, sizeof(label), "%04d-%02u", year, month);
    return label;
}

using Read = DaemonTest;

TEST_F(Read, DashboardShapeAndOrdering) {
    for (int i = 0; i < 3; ++i)
        send({{"page_url", "/b"},
              {"session_id", "s" + std::to_string(i)},
              {"user_id", "u" + std::to_string(i)}});
    for (int i = 0; i < 3; ++i)
        send({{"page_url", "/a"}, {"session_id", "s9"}, {"user_id", "u9"}});
    send({{"page_url", "/c"}, {"session_id", "s9"}, {"user_id", "u9"}, {"device_type", "tablet"}});
    send({{"event_name", "signup"}, {"session_id", "s9"}}, "/track/event");

    auto r = client.get("/dashboard/" + today());
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/json");
    json d = json::parse(r.body);
    for (const char* key :
         {"date", "site", "page_views", "unique_visitors", "unique_sessions", "top_pages",
          "top_referrers", "devices", "countries", "real_time_users", "events"}) {
        EXPECT_TRUE(d.contains(key)) << key;
    }
    EXPECT_EQ(d["date"], today());
    EXPECT_EQ(d["site"], "default");
    EXPECT_EQ(d["page_views"], 7);
    // Ties by name ascending.
    EXPECT_EQ(d["top_pages"], json::parse(R"([["/a",3],["/b",3],["/c",1]])"));
    EXPECT_EQ(d["devices"], json::parse(R"({"desktop":6,"mobile":0,"tablet":1})"));
    EXPECT_EQ(d["unique_visitors"], 5);  // u0 u1 u2 u9, and the cookieless signup visitor
    EXPECT_EQ(d["unique_sessions"], 4);
    EXPECT_EQ(d["real_time_users"], 4);
    EXPECT_EQ(d["events"], json({{"signup", 1}}));
    EXPECT_EQ(d["top_error_bound"], 0);

    // Another site is separate; an unknown date is empty, not an error.
    EXPECT_EQ(dashboard(client, today(), "other")["page_views"], 0);
    EXPECT_EQ(dashboard(client, "2020-01-01")["page_views"], 0);
    EXPECT_EQ(dashboard(client, "2020-01-01")["real_time_users"], 0);
    EXPECT_EQ(client.get("/dashboard/2020-13-01").status, 400);
    EXPECT_EQ(client.get("/dashboard/yesterdayish").status, 400);
    EXPECT_EQ(client.get("/dashboard/today?site=bad%20site").status, 400);
}

TEST_F(Read, Csv) {
    send({{"page_url", "/a,b"}, {"session_id", "s"}, {"user_id", "u"}});
    auto r = client.get("/dashboard/today?format=csv");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type").rfind("text/csv", 0), 0u);
    EXPECT_NE(r.header("content-disposition").find("attachment"), std::string::npos);
    EXPECT_EQ(r.body.rfind("section,name,value\r\n", 0), 0u);
    EXPECT_NE(r.body.find("summary,page_views,1\r\n"), std::string::npos);
    EXPECT_NE(r.body.find("top_pages,\"/a,b\",1\r\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("devices,desktop,1\r\n"), std::string::npos);
}

TEST_F(Read, WeekAndMonthMergeUniquesNotSumThem) {
    const std::int64_t now = now_ms();
    const std::int64_t yesterday_ms = now - 24 * 3600 * 1000LL;
    send({{"page_url", "/"}, {"session_id", "a1"}, {"user_id", "u1"}, {"timestamp", iso(now)}});
    send({{"page_url", "/"}, {"session_id", "a3"}, {"user_id", "u3"}, {"timestamp", iso(now)}});
    send({{"page_url", "/"},
          {"session_id", "b1"},
          {"user_id", "u1"},
          {"timestamp", iso(yesterday_ms)}});
    send({{"page_url", "/"},
          {"session_id", "b2"},
          {"user_id", "u2"},
          {"timestamp", iso(yesterday_ms)}});

    const std::int64_t d_today = day_of(now);
    const std::int64_t d_yesterday = day_of(yesterday_ms);
    EXPECT_EQ(dashboard(client, format_day(d_today))["unique_visitors"], 2);
    EXPECT_EQ(dashboard(client, format_day(d_yesterday))["unique_visitors"], 2);

    for (const auto& label : {iso_week_label(d_today), month_label(d_today)}) {
        const bool both = label == iso_week_label(d_yesterday) || label == month_label(d_yesterday);
        json d = dashboard(client, label);
        EXPECT_EQ(d["date"], label);
        EXPECT_EQ(d["page_views"], both ? 4 : 2) << label;
        EXPECT_EQ(d["unique_visitors"], both ? 3 : 2) << label;  // u1 once, not twice
        EXPECT_EQ(d["unique_sessions"], both ? 4 : 2) << label;
    }
    EXPECT_EQ(client.get("/dashboard/2021-W53").status, 400);  // 2021 has 52 ISO weeks
    EXPECT_EQ(client.get("/dashboard/2020-W53").status, 200);
    EXPECT_EQ(client.get("/dashboard/2024-00").status, 400);
}

TEST_F(Read, Timeseries) {
    const std::int64_t now = now_ms();
    const std::int64_t minute = now / 60000 * 60000;
    send({{"page_url", "/"}, {"session_id", "s"}, {"timestamp", iso(minute - 120000)}});
    send({{"page_url", "/"}, {"session_id", "s"}, {"timestamp", iso(minute - 120000 + 5)}});
    send({{"page_url", "/"}, {"session_id", "s"}, {"timestamp", iso(minute - 60000)}});
    send({{"event_name", "buy"}, {"session_id", "s"}, {"timestamp", iso(minute - 60000)}},
         "/track/event");

    const std::string range =
        "from=" + std::to_string(minute - 180000) + "&to=" + std::to_string(minute);
    json points = json::parse(client.get("/timeseries/pageviews?" + range).body);
    ASSERT_EQ(points.size(), 3u);
    EXPECT_EQ(points[0]["value"], 0);
    EXPECT_EQ(points[1]["value"], 2);
    EXPECT_EQ(points[2]["value"], 1);
    EXPECT_EQ(points[1]["timestamp"], iso(minute - 120000));

    // One 3-minute bucket aligned to multiples of 180000 since the epoch.
    const std::int64_t aligned = (minute - 120000) / 180000 * 180000;
    json agg = json::parse(client
                               .get("/timeseries/pageviews?from=" + std::to_string(aligned) +
                                    "&to=" + std::to_string(aligned + 180000) +
                                    "&bucket_size=180000&aggregation=max")
                               .body);
    ASSERT_EQ(agg.size(), 1u);
    EXPECT_EQ(agg[0]["timestamp"], iso(aligned));

    json events =
        json::parse(client.get("/timeseries/events:buy?" + range + "&aggregation=sum").body);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[2]["value"], 1);

    json day = json::parse(
        client.get("/timeseries/ts:pageviews:" + today() + "?bucket_size=86400000").body);
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0]["value"], 3);
    json avg = json::parse(
        client.get("/timeseries/ts:pageviews:" + today() + "?bucket_size=86400000&aggregation=avg")
            .body);
    EXPECT_DOUBLE_EQ(avg[0]["value"].get<double>(), 3.0 / 1440.0);

    EXPECT_EQ(client.get("/timeseries/pageviews?" + range + "&bucket_size=1000").status, 400);
    EXPECT_EQ(client.get("/timeseries/pageviews?" + range + "&aggregation=median").status, 400);
    EXPECT_EQ(client.get("/timeseries/pageviews?from=0&to=" + std::to_string(now)).status,
              400);  // too many points
    EXPECT_EQ(client.get("/timeseries/cpu").status, 400);
}

TEST_F(Read, FunnelIsOrderedAndExact) {
    const std::int64_t now = now_ms();
    auto at = [&](int seconds_ago) { return iso(now - seconds_ago * 1000LL); };
    // u1: land -> signup -> buy, in order.
    send({{"page_url", "/pricing"},
          {"session_id", "s1"},
          {"user_id", "u1"},
          {"timestamp", at(300)}});
    send(
        {{"event_name", "signup"}, {"session_id", "s1"}, {"user_id", "u1"}, {"timestamp", at(200)}},
        "/track/event");
    send({{"event_name", "buy"}, {"session_id", "s1"}, {"user_id", "u1"}, {"timestamp", at(100)}},
         "/track/event");
    // u2: buy before signup: reaches step 2 only.
    send({{"page_url", "/pricing"},
          {"session_id", "s2"},
          {"user_id", "u2"},
          {"timestamp", at(300)}});
    send({{"event_name", "buy"}, {"session_id", "s2"}, {"user_id", "u2"}, {"timestamp", at(250)}},
         "/track/event");
    send(
        {{"event_name", "signup"}, {"session_id", "s2"}, {"user_id", "u2"}, {"timestamp", at(200)}},
        "/track/event");
    // s3 (no user_id: the session is the identity): signup without landing.
    send({{"event_name", "signup"}, {"session_id", "s3"}, {"timestamp", at(200)}}, "/track/event");

    auto r = client.get("/funnel?steps=pageview:/pricing,signup,buy&date=" + today());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body),
              json::parse(R"([["pageview:/pricing",2],["signup",2],["buy",1]])"));
    r = client.get("/funnel?steps=signup,buy");
    EXPECT_EQ(json::parse(r.body), json::parse(R"([["signup",3],["buy",1]])"));

    EXPECT_EQ(client.get("/funnel?steps=signup").status, 400);
    EXPECT_EQ(client.get("/funnel?steps=a,b,c,d,e,f,g,h,i").status, 400);
    EXPECT_EQ(client.get("/funnel?steps=a,b&date=nope").status, 400);
    EXPECT_EQ(client.get("/funnel").status, 400);
    // A step that is not UTF-8 is refused, not echoed into the JSON answer.
    r = client.get("/funnel?steps=a,b%FF");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("\"field\":\"steps\""), std::string::npos) << r.body;
    EXPECT_EQ(client.get("/funnel?steps=pageview:/%C3%A9t%C3%A9,b").status, 200);
}

TEST_F(Read, RollingWindows) {
    send({{"page_url", "/x"}, {"session_id", "s1"}, {"user_id", "alice"}});
    send({{"page_url", "/x"}, {"session_id", "s2"}, {"user_id", "alice"}});
    send({{"page_url", "/y"}, {"session_id", "s3"}, {"user_id", "bob"}});
    // An hour-old event is counted for the day but not in the windows.
    send({{"page_url", "/old"},
          {"session_id", "s4"},
          {"user_id", "carol"},
          {"timestamp", iso(now_ms() - 3600 * 1000)}});

    json users = json::parse(client.get("/api/v1/dashboard/active-users").body);
    EXPECT_EQ(
        users,
        json::parse(
            R"({"userDetails":[{"userId":"alice","sessionCount":2},{"userId":"bob","sessionCount":1}]})"));
    json pages = json::parse(client.get("/api/v1/dashboard/page-views?offset=1").body);
    EXPECT_EQ(pages, json::parse(R"({"pageViews":[{"pageUrl":"/x","viewCount":2}]})"));
    pages = json::parse(client.get("/api/v1/dashboard/page-views").body);
    EXPECT_EQ(pages["pageViews"].size(), 2u);
    EXPECT_EQ(dashboard(client, "today")["real_time_users"], 3);
    EXPECT_EQ(client.get("/api/v1/dashboard/page-views?offset=0").status, 400);
}

TEST_F(Read, HealthAndMetrics) {
    EXPECT_EQ(client.get("/healthz").status, 200);
    EXPECT_EQ(client.get("/readyz").status, 200);
    send({{"page_url", "/"}, {"session_id", "s"}});
    auto r = client.get("/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type").rfind("text/plain; version=0.0.4", 0), 0u);
    for (const char* needle :
         {"tally_events_ingested_total{kind=\"pageview\"} 1",
          "tally_http_requests_total{route=\"track_pageview\",code=\"200\"} 1",
          "tally_http_request_duration_seconds_bucket{route=\"track_pageview\",le=\"+Inf\"} 1",
          "# TYPE tally_http_open_connections gauge", "tally_log_bytes_total"}) {
        EXPECT_NE(r.body.find(needle), std::string::npos) << needle << "\n" << r.body;
    }
}

TEST_F(Read, MetricsPassPromtool) {
    send({{"page_url", "/"}, {"session_id", "s"}});
    EXPECT_EQ(client.post("/track/pageview", "not json").status, 400);
    const std::string promtool = find_program("promtool");
    ASSERT_FALSE(promtool.empty())
        << "promtool is missing: scripts/install-deps.sh --test installs it";
    TempDir dir;
    const std::string metrics_path = dir.path() + "/metrics.txt";
    std::ofstream(metrics_path) << client.get("/metrics").body;
    const std::string log_path = dir.path() + "/promtool.log";
    // promtool reads the exposition on standard input.
    Process check({"/bin/sh", "-c", promtool + " check metrics < " + metrics_path}, log_path);
    EXPECT_EQ(check.wait(std::chrono::seconds(30)), 0) << [&] {
        std::ifstream in(log_path);
        return std::string(std::istreambuf_iterator<char>(in), {});
    }();
}

TEST(ReadToken, EveryReadNeedsTheTokenTrackingDoesNot) {
    Tallyd daemon({"--token", "s3cret"});
    HttpClient client(daemon.port());
    EXPECT_EQ(client.post("/track/pageview", pageview()).status, 200);
    for (const char* path :
         {"/dashboard/today", "/timeseries/pageviews", "/funnel?steps=a,b", "/metrics",
          "/api/v1/dashboard/active-users", "/api/v1/dashboard/page-views"}) {
        auto r = client.get(path);
        EXPECT_EQ(r.status, 401) << path;
        EXPECT_NE(r.header("www-authenticate").find("Bearer"), std::string::npos);
        EXPECT_EQ(client.get(path, {{"Authorization", "Bearer wrong"}}).status, 401) << path;
        EXPECT_EQ(client.get(path, {{"Authorization", "Bearer s3cret"}}).status, 200) << path;
    }
    EXPECT_EQ(client.get("/dashboard/today?token=s3cret").status, 200);
    EXPECT_EQ(client.get("/healthz").status, 200);
}

TEST_F(Read, StaticFilesStayInsideWebRoot) {
    auto r = client.get("/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    for (const char* path : {"/../CMakeLists.txt", "/%2e%2e/CMakeLists.txt", "/..%2fCMakeLists.txt",
                             "/web/../../etc/passwd", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"}) {
        auto bad = client.get(path);
        EXPECT_TRUE(bad.status == 404 || bad.status == 400) << path << " " << bad.status;
        EXPECT_EQ(bad.body.find("cmake_minimum_required"), std::string::npos);
    }
    EXPECT_EQ(client.get("/nope.html").status, 404);
}

}  // namespace
}  // namespace tally::test
