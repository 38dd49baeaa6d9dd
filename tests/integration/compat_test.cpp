// POST /api/event (Plausible) and POST /api/send (Umami) against the real daemon: what
// they count and answer, CORS, the sessions of clients that send no session id, crawlers
// and engagement reports answered but not counted, refusals counted and logged, and the
// Umami website map from the configuration.

#include <gtest/gtest.h>

#include <fstream>

#include "common.hpp"

namespace tally::test {
namespace {

const std::string kChrome =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36";
const std::string kGooglebot =
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

class Compat : public ::testing::Test {
  private:
    TempDir config_dir_;

  protected:
    Tallyd daemon{{"--config", write_config()}};
    HttpClient client{daemon.port()};

    std::string write_config() {
        const std::string path = config_dir_.path() + "/tallyd.json";
        std::ofstream(path) << R"({"compat": {"umami_websites":
                                     {"4f2a8c1e-0b9d-4c1e-9f00-1a2b3c4d5e6f": "blog.example"}}})";
        return path;
    }
    HttpResponse plausible(const json& body, const std::string& agent = kChrome) {
        return client.post("/api/event", body.dump(),
                           {{"User-Agent", agent}, {"Content-Type", "text/plain"}});
    }
    HttpResponse umami(const json& payload, const std::string& type = "event",
                       const std::string& agent = kChrome) {
        return client.post("/api/send", json{{"type", type}, {"payload", payload}}.dump(),
                           {{"User-Agent", agent}, {"Content-Type", "application/json"}});
    }
    json figures(const std::string& site, const std::string& props = "") {
        const auto r =
            client.get("/dashboard/today?site=" + site + (props.empty() ? "" : "&props=" + props));
        EXPECT_EQ(r.status, 200) << r.body;
        return json::parse(r.body);
    }
    std::string metric(const std::string& line_prefix) {
        const std::string text = client.get("/metrics").body;
        const std::size_t at = text.find("\n" + line_prefix + " ");
        return at == std::string::npos
                   ? ""
                   : text.substr(at + line_prefix.size() + 2,
                                 text.find('\n', at + 1) - at - line_prefix.size() - 2);
    }
};

TEST_F(Compat, PlausibleEventsCountInEverySiteAndAnswer202Ok) {
    const auto r = plausible({{"n", "pageview"},
                              {"u", "https://www.shop.example/pricing?plan=pro"},
                              {"d", "www.shop.example,mirror.example"},
                              {"r", "https://www.google.com/search?q=tally"}});
    EXPECT_EQ(r.status, 202);
    EXPECT_EQ(r.body, "ok");
    EXPECT_EQ(r.header("access-control-allow-origin"), "*");
    ASSERT_EQ(plausible({{"name", "Signup"},
                         {"url", "https://shop.example/pricing"},
                         {"domain", "shop.example"},
                         {"props", {{"plan", "pro"}}}})
                  .status,
              202);
    for (const std::string site : {"shop.example", "mirror.example"}) {
        const json m = figures(site);
        EXPECT_EQ(m["page_views"], 1) << site;
        EXPECT_EQ(m["top_pages"], json::parse(R"([["/pricing",1]])")) << site;
        EXPECT_EQ(m["top_referrers"], json::parse(R"([["www.google.com",1]])")) << site;
        EXPECT_EQ(m["devices"]["desktop"], 1) << site;
    }
    const json shop = figures("shop.example", "Signup");
    EXPECT_EQ(shop["events"], json::parse(R"({"Signup":1})"));
    EXPECT_EQ(shop["unique_visitors"], 1);  // the same browser: one cookieless visitor
    EXPECT_EQ(shop["unique_sessions"], 1);  // and, seconds apart, one session
    EXPECT_EQ(shop["properties"]["keys"][0]["values"][0],
              json::parse(R"({"value":"pro","count":1,"visitors":1})"));
    EXPECT_EQ(metric("tally_events_ingested_total{kind=\"pageview\"}"), "2");
}

TEST_F(Compat, PreflightAndTextPlainBothWork) {
    const auto pre = client.request("OPTIONS", "/api/event", "",
                                    {{"Origin", "https://shop.example"},
                                     {"Access-Control-Request-Method", "POST"},
                                     {"Access-Control-Request-Headers", "content-type"}});
    EXPECT_EQ(pre.status, 204);
    EXPECT_EQ(pre.header("access-control-allow-origin"), "*");
    EXPECT_EQ(client.request("OPTIONS", "/api/send", "", {{"Origin", "https://x"}}).status, 204);
}

TEST_F(Compat, CrawlersAndEngagementAreAnsweredButNotCounted) {
    const auto bot =
        plausible({{"n", "pageview"}, {"u", "https://a.example/"}, {"d", "a.example"}}, kGooglebot);
    EXPECT_EQ(bot.status, 202);
    EXPECT_EQ(bot.header("x-plausible-dropped"), "1");
    const auto umami_bot = umami({{"website", "a.example"}, {"url", "/"}}, "event", "curl/8.5.0");
    EXPECT_EQ(umami_bot.status, 200);
    EXPECT_EQ(umami_bot.body, R"({"beep":"boop"})");
    EXPECT_EQ(plausible({{"n", "engagement"},
                         {"u", "https://a.example/"},
                         {"d", "a.example"},
                         {"sd", 60},
                         {"e", 4200}})
                  .status,
              202);
    EXPECT_EQ(umami({{"website", "a.example"}, {"data", {{"plan", "pro"}}}}, "identify").status,
              200);
    for (const std::string agent :
         {"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
          "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "HeadlessChrome/131.0.0.0 Safari/537.36",
          "python-requests/2.31.0"}) {
        EXPECT_EQ(
            plausible({{"n", "pageview"}, {"u", "https://a.example/"}, {"d", "a.example"}}, agent)
                .header("x-plausible-dropped"),
            "1")
            << agent;
    }
    EXPECT_EQ(figures("a.example")["page_views"], 0);
    // Real browsers count: a phone's Safari and a desktop Firefox.
    for (const std::string agent :
         {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
          "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
          "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}) {
        EXPECT_EQ(
            plausible({{"n", "pageview"}, {"u", "https://b.example/"}, {"d", "b.example"}}, agent)
                .header("x-plausible-dropped"),
            "")
            << agent;
    }
    EXPECT_EQ(figures("b.example")["page_views"], 2);
    EXPECT_EQ(metric("tally_events_dropped_total{reason=\"bot\"}"), "5");
    EXPECT_EQ(metric("tally_events_dropped_total{reason=\"engagement\"}"), "1");
    EXPECT_EQ(metric("tally_events_dropped_total{reason=\"identify\"}"), "1");
    const json ready = json::parse(client.get("/readyz").body);
    EXPECT_EQ(ready["crawler_list"].get<std::string>().rfind("crawler-user-agents ", 0), 0u);
}

TEST_F(Compat, UmamiSendCountsUnderTheMappedSiteAndAnswersItsIds) {
    const std::string website = "4f2a8c1e-0b9d-4c1e-9f00-1a2b3c4d5e6f";
    const auto r = umami({{"website", website},
                          {"hostname", "blog.example"},
                          {"url", "/posts/1?x=2"},
                          {"referrer", "https://duckduckgo.com/"},
                          {"title", "One"},
                          {"screen", "1920x1080"},
                          {"language", "en-GB"}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json ids = json::parse(r.body);
    EXPECT_TRUE(ids["cache"].is_string());
    EXPECT_EQ(ids["sessionId"].get<std::string>().size(), 36u);
    EXPECT_EQ(umami({{"website", website}, {"name", "newsletter"}, {"data", {{"list", "weekly"}}}})
                  .status,
              200);
    const json blog = figures("blog.example", "newsletter");
    EXPECT_EQ(blog["page_views"], 1);
    EXPECT_EQ(blog["top_pages"], json::parse(R"([["/posts/1",1]])"));
    EXPECT_EQ(blog["events"], json::parse(R"({"newsletter":1})"));
    EXPECT_EQ(blog["properties"]["keys"][0]["values"][0]["value"], "weekly");
    // An unmapped website id that is a valid site name counts as itself.
    ASSERT_EQ(umami({{"website", "other.example"}, {"url", "/"}}).status, 200);
    EXPECT_EQ(figures("other.example")["page_views"], 1);
}

TEST_F(Compat, RefusalsNameTheFieldCountNothingAndAreLogged) {
    const auto r = plausible({{"n", "pageview"}, {"d", "a.example"}});
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(json::parse(r.body)["field"], "url");
    EXPECT_EQ(client.post("/api/event", "{not json", {{"User-Agent", kChrome}}).status, 400);
    EXPECT_EQ(umami({{"url", "/"}}).status, 400);
    EXPECT_EQ(figures("a.example")["page_views"], 0);
    EXPECT_EQ(metric("tally_events_rejected_total{reason=\"missing_field\"}"), "2");
    EXPECT_EQ(metric("tally_events_rejected_total{reason=\"bad_json\"}"), "1");
}

}  // namespace
}  // namespace tally::test
