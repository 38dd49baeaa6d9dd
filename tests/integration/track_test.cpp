// POST /track/* against the real daemon: acceptance, each rejection rule, batch, caps,
// CORS, limits, and the rejects log.

#include <gtest/gtest.h>

#include <fstream>

#include "common.hpp"
#include "tally/durability/rejects_log.hpp"

namespace tally::test {
namespace {

class Track : public ::testing::Test {
  private:
    TempDir config_dir_;  // before the daemon: its config is written here first
    std::string config_path_;

  protected:
    Tallyd daemon{{"--config", write_config()}};
    HttpClient client{daemon.port()};

    std::string write_config() {
        config_path_ = config_dir_.path() + "/tallyd.json";
        std::ofstream(config_path_) << R"({"limits": {"max_sites": 3, "max_event_names_per_day": 2},
                                           "http": {"trusted_proxies": ["127.0.0.1"]}})";
        return config_path_;
    }
    // Every rejects-log file's lines, oldest first.
    std::string rejects_log() {
        std::stringstream s;
        for (const auto& file : durability::RejectsLog::files(daemon.data_dir() + "/rejects")) {
            std::ifstream in(file);
            s << in.rdbuf();
        }
        return s.str();
    }
};

TEST_F(Track, PageviewIsCountedWithEveryNormalisation) {
    auto r = client.post(
        "/track/pageview",
        pageview({{"page_url", "https://Example.com/pricing?utm=x#top"},
                  {"referrer", "https://News.Ycombinator.com/item?id=1"},
                  {"country", "de"},
                  {"user_agent",
                   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"}}));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body), json({{"status", "ok"}}));
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");

    json d = dashboard(client, "today");
    EXPECT_EQ(d["page_views"], 1);
    EXPECT_EQ(d["top_pages"], json::parse(R"([["/pricing",1]])"));
    EXPECT_EQ(d["top_referrers"], json::parse(R"([["news.ycombinator.com",1]])"));
    EXPECT_EQ(d["countries"], json::parse(R"([["DE",1]])"));
    EXPECT_EQ(d["devices"]["mobile"], 1);
    EXPECT_EQ(d["unique_visitors"], 1);
    EXPECT_EQ(d["unique_sessions"], 1);
    EXPECT_EQ(d["real_time_users"], 1);
}

TEST_F(Track, DirectReferrerAndGuessedDeviceFromHeader) {
    auto r = client.post("/track/pageview", pageview({{"page_url", "/a"}}),
                         {{"User-Agent", "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"}});
    ASSERT_EQ(r.status, 200);
    json d = dashboard(client, "today");
    EXPECT_EQ(d["top_referrers"], json::parse(R"([["direct",1]])"));
    EXPECT_EQ(d["devices"]["tablet"], 1);
}

TEST_F(Track, CookielessVisitorsDifferByIpAndAgent) {
    // No user_id: the visitor is a hash of (salt, site, IP, UA). The IP comes from the
    // socket, or from X-Forwarded-For since 127.0.0.1 is a trusted proxy in this config.
    for (const char* ip : {"203.0.113.1", "203.0.113.2", "203.0.113.1"}) {
        auto r = client.post(
            "/track/pageview", R"({"page_url":"/","session_id":"s"})",
            {{"X-Forwarded-For", std::string(ip) + ", 127.0.0.1"}, {"User-Agent", "UA"}});
        ASSERT_EQ(r.status, 200);
    }
    json d = dashboard(client, "today");
    EXPECT_EQ(d["page_views"], 3);
    EXPECT_EQ(d["unique_visitors"], 2);
    EXPECT_EQ(d["unique_sessions"], 1);
}

TEST_F(Track, EachRejectionNamesTheFieldAndCountsNothing) {
    struct Case {
        std::string path, body, field;
        int status;
    };
    const std::int64_t now = now_ms();
    const std::vector<Case> cases = {
        {"/track/pageview", "{not json", "", 400},
        {"/track/pageview", "[]", "", 400},
        {"/track/pageview", R"({"session_id":"s"})", "page_url", 400},
        {"/track/pageview", R"({"page_url":"","session_id":"s"})", "page_url", 400},
        {"/track/pageview", R"({"page_url":")" + std::string(2049, 'a') + R"(","session_id":"s"})",
         "page_url", 400},
        {"/track/pageview", R"({"page_url":"/"})", "session_id", 400},
        {"/track/pageview", R"({"page_url":"/","session_id":")" + std::string(129, 's') + R"("})",
         "session_id", 400},
        {"/track/pageview",
         R"({"page_url":"/","session_id":"s","user_id":")" + std::string(129, 'u') + R"("})",
         "user_id", 400},
        {"/track/pageview", R"({"page_url":"/","session_id":"s","device_type":"fridge"})",
         "device_type", 400},
        {"/track/pageview", R"({"page_url":"/","session_id":"s","country":"USA"})", "country", 400},
        {"/track/pageview", R"({"page_url":"/","session_id":"s","site":"bad site"})", "site", 400},
        {"/track/pageview", R"({"page_url":"/","session_id":"s","timestamp":"yesterday"})",
         "timestamp", 400},
        {"/track/pageview",
         R"({"page_url":"/","session_id":"s","timestamp":")" + iso(now - 49 * 3600 * 1000LL) +
             R"("})",
         "timestamp", 400},
        {"/track/pageview",
         R"({"page_url":"/","session_id":"s","timestamp":")" + iso(now + 6 * 60 * 1000LL) + R"("})",
         "timestamp", 400},
        {"/track/pageview", R"({"page_url":42,"session_id":"s"})", "page_url", 400},
        {"/track/event", R"({"session_id":"s"})", "event_name", 400},
        {"/track/event", R"({"event_name":"bad name!","session_id":"s"})", "event_name", 400},
        {"/track/event", R"({"event_name":"e","session_id":"s","properties":[1]})", "properties",
         400},
    };
    for (const auto& c : cases) {
        auto r = client.post(c.path, c.body);
        EXPECT_EQ(r.status, c.status) << c.body;
        json answer = json::parse(r.body, nullptr, false);
        ASSERT_TRUE(answer.is_object()) << r.body;
        EXPECT_TRUE(answer["error"].is_string()) << r.body;
        if (!c.field.empty()) {
            EXPECT_EQ(answer.value("field", ""), c.field) << c.body << " -> " << r.body;
        }
    }
    json d = dashboard(client, "today");
    EXPECT_EQ(d["page_views"], 0);
    EXPECT_EQ(d["unique_visitors"], 0);
    EXPECT_EQ(d["events"], json::object());

    // One line per rejection in the rejects log, with the reason and the payload.
    const std::string log = rejects_log();
    EXPECT_EQ(static_cast<std::size_t>(std::count(log.begin(), log.end(), '\n')), cases.size());
    EXPECT_NE(log.find("\"reason\":\"out_of_window\""), std::string::npos);
    EXPECT_NE(log.find("fridge"), std::string::npos);

    auto metrics = client.get("/metrics").body;
    EXPECT_NE(metrics.find("tally_events_rejected_total{reason=\"bad_json\"} 2"), std::string::npos)
        << metrics;
}

TEST_F(Track, PropertiesLimits) {
    json many = json::object();
    for (int i = 0; i < 65; ++i)
        many["k" + std::to_string(i)] = i;
    auto r =
        client.post("/track/event",
                    json({{"event_name", "e"}, {"session_id", "s"}, {"properties", many}}).dump());
    EXPECT_EQ(r.status, 400);
    json big = {{"k", std::string(8200, 'x')}};
    r = client.post("/track/event",
                    json({{"event_name", "e"}, {"session_id", "s"}, {"properties", big}}).dump());
    EXPECT_EQ(r.status, 400);
    r = client.post(
        "/track/event",
        json({{"event_name", "signup"}, {"session_id", "s"}, {"properties", {{"plan", "pro"}}}})
            .dump());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(dashboard(client, "today")["events"], json({{"signup", 1}}));
}

TEST_F(Track, TextPlainFromSendBeacon) {
    auto r =
        client.post("/track/pageview", pageview(), {{"Content-Type", "text/plain;charset=UTF-8"}});
    EXPECT_EQ(r.status, 200);
}

TEST_F(Track, BatchArrayAndNdjson) {
    json items = json::array();
    items.push_back({{"type", "pageview"}, {"page_url", "/a"}, {"session_id", "s1"}});
    items.push_back({{"type", "event"}, {"event_name", "click"}, {"session_id", "s1"}});
    items.push_back({{"type", "nope"}, {"session_id", "s1"}});
    items.push_back({{"type", "pageview"}, {"session_id", "s2"}});
    auto r = client.post("/track/batch", items.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    json answer = json::parse(r.body);
    EXPECT_EQ(answer["accepted"], 2);
    ASSERT_EQ(answer["rejected"].size(), 2u);
    EXPECT_EQ(answer["rejected"][0]["index"], 2);
    EXPECT_EQ(answer["rejected"][1]["index"], 3);
    EXPECT_EQ(answer["rejected"][1]["field"], "page_url");
    // The rejects log: one line for the body, naming both refused items.
    {
        const std::string log = rejects_log();
        ASSERT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
        const json line = json::parse(log);
        EXPECT_EQ(line["reason"], "batch_items");
        EXPECT_EQ(line["payload"], items.dump());
        ASSERT_EQ(line["items"].size(), 2u);
        EXPECT_EQ(line["items"][0]["index"], 2);
        EXPECT_EQ(line["items"][1]["field"], "page_url");
    }

    const std::string ndjson = R"({"type":"pageview","page_url":"/b","session_id":"s3"})"
                               "\n"
                               R"({"type":"pageview","page_url":"/b","session_id":"s4"})"
                               "\n";
    r = client.post("/track/batch", ndjson, {{"Content-Type", "application/x-ndjson"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["accepted"], 2);

    json d = dashboard(client, "today");
    EXPECT_EQ(d["page_views"], 3);
    EXPECT_EQ(d["events"]["click"], 1);

    json too_many = json::array();
    for (int i = 0; i < 1001; ++i)
        too_many.push_back({{"type", "pageview"}, {"page_url", "/"}, {"session_id", "s"}});
    r = client.post("/track/batch", too_many.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(dashboard(client, "today")["page_views"], 3);
}

TEST_F(Track, CapsOnSitesAndEventNamesAnswer429) {
    for (const char* site : {"a", "b", "c"}) {
        EXPECT_EQ(client.post("/track/pageview", pageview({{"site", site}})).status, 200);
    }
    auto r = client.post("/track/pageview", pageview({{"site", "d"}}));
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(json::parse(r.body)["field"], "site");
    for (const char* name : {"e1", "e2"}) {
        EXPECT_EQ(client
                      .post("/track/event",
                            json({{"event_name", name}, {"session_id", "s"}, {"site", "a"}}).dump())
                      .status,
                  200);
    }
    r = client.post("/track/event",
                    json({{"event_name", "e3"}, {"session_id", "s"}, {"site", "a"}}).dump());
    EXPECT_EQ(r.status, 429);
    // A known name still passes.
    EXPECT_EQ(client
                  .post("/track/event",
                        json({{"event_name", "e1"}, {"session_id", "s"}, {"site", "a"}}).dump())
                  .status,
              200);
    EXPECT_EQ(dashboard(client, "today", "a")["events"], json({{"e1", 2}, {"e2", 1}}));
    EXPECT_EQ(dashboard(client, "today", "d")["page_views"], 0);
    auto metrics = client.get("/metrics").body;
    EXPECT_NE(metrics.find("tally_events_rejected_total{reason=\"too_many_sites\"} 1"),
              std::string::npos);
}

// A cardinality attack on sessions: 50,000 distinct session ids in a minute against a
// budget of 1,000 held for real_time_users. Every page view is counted; the sessions held
// stay within the budget; real_time_users is short and says so.
TEST(TrackFlood, DistinctSessionsStayWithinTheActiveSessionsBudgetAndAreFlagged) {
    TempDir dir;
    std::ofstream(dir.path() + "/tallyd.json") << R"({"limits":{"active_sessions":1000}})";
    Tallyd daemon({"--config", dir.path() + "/tallyd.json"});
    HttpClient client(daemon.port());
    EXPECT_FALSE(dashboard(client, "today").contains("real_time_users_capped"));
    const long rss_before = rss_kib(daemon.pid());
    ASSERT_TRUE(flood_sessions(client, 0, 50));
    const json d = dashboard(client, "today");
    EXPECT_EQ(d["page_views"], 50'000);
    EXPECT_LE(d["real_time_users"].get<int>(), 1'000);
    EXPECT_GE(d["real_time_users"].get<int>(), 750);
    EXPECT_EQ(d["real_time_users_capped"], true) << d;
    const std::string metrics = client.get("/metrics").body;
    const std::size_t at = metrics.find("\ntally_active_sessions ");
    ASSERT_NE(at, std::string::npos);
    EXPECT_LE(std::stol(metrics.substr(at + 23)), 1'000);
    const std::size_t refused = metrics.find("\ntally_active_sessions_refused_total ");
    ASSERT_NE(refused, std::string::npos);
    EXPECT_GE(std::stol(metrics.substr(refused + 37)), 49'000);
    // The flood's funnel log stays in memory, well under limits.funnel_memory_mb (see
    // FunnelsOnDisk.AFloodOfIdentitiesStaysWithinTheBudgets for a flood past it).
    std::printf("RSS %ld KiB -> %ld KiB over 50,000 distinct sessions\n", rss_before,
                rss_kib(daemon.pid()));
}

TEST_F(Track, CorsPreflight) {
    auto r = client.request("OPTIONS", "/track/pageview", "",
                            {{"Origin", "https://shop.example"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "content-type"}});
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    EXPECT_NE(r.header("access-control-allow-methods").find("POST"), std::string::npos);
    EXPECT_EQ(r.header("access-control-allow-headers"), "content-type");
}

TEST_F(Track, LimitsAndErrors) {
    // 64 KiB body limit on /track/pageview, 1 MiB on /track/batch.
    std::string big(64 * 1024 + 1, ' ');
    EXPECT_EQ(client.post("/track/pageview", big).status, 413);
    HttpClient c2(daemon.port());
    EXPECT_EQ(c2.post("/track/batch", "[" + std::string(200 * 1024, ' ') + "]").status, 200);
    // 8 KiB header limit.
    HttpClient c3(daemon.port());
    EXPECT_EQ(c3.get("/healthz", {{"X-Big", std::string(9000, 'h')}}).status, 431);
    HttpClient c4(daemon.port());
    EXPECT_EQ(c4.get("/no/such/thing").status, 404);
    auto r = c4.get("/track/pageview");
    EXPECT_EQ(r.status, 405);
    EXPECT_NE(r.header("allow").find("POST"), std::string::npos);
    r = c4.post("/healthz", "");
    EXPECT_EQ(r.status, 405);
    // A path no route has is 404 whatever the method (405 is for a path that exists).
    EXPECT_EQ(c4.post("/track/nothing-here", "{}").status, 404);
    EXPECT_EQ(c4.post("/index.html", "").status, 404);
    // Garbage does not hurt a neighbour connection.
    HttpClient bad(daemon.port());
    EXPECT_EQ(bad.raw("NOT HTTP AT ALL\r\n\r\n").status, 400);
    EXPECT_EQ(c4.get("/healthz").status, 200);
}

}  // namespace
}  // namespace tally::test
