// --query-source redis against the real daemon and a real redis-server: /dashboard answers
// from keys written by hand in the mirror's layout (for a site this tallyd never receives
// events for, so the test holds with the mirror running too), with the local route's token,
// ?site=, range and ?format= handling; a blocked Redis does not block the I/O thread;
// Redis down gives 503 and /readyz says so until it is back; bad configurations exit 2.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "common.hpp"
#include "support/redis_server.hpp"
#include "tally/redis/keys.hpp"

namespace tally::test {
namespace {

constexpr auto kWait = std::chrono::seconds(10);
const std::vector<std::pair<std::string, std::string>> kAuth = {{"Authorization", "Bearer t0k"}};

class FleetRead : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!RedisServer::available())
            GTEST_SKIP() << "redis-server is not installed";
        // DEBUG SLEEP stands for a Redis that stalls.
        redis_ = std::make_unique<RedisServer>(
            std::vector<std::string>{"--enable-debug-command", "yes"});
        std::ofstream(dir_.path() + "/tallyd.json") << R"({"redis":{"stale_max_s":3}})";
        daemon_ = std::make_unique<Tallyd>(std::vector<std::string>{
            "--redis", "redis://127.0.0.1:" + std::to_string(redis_->port()), "--query-source",
            "redis", "--token", "t0k", "--threads", "1", "--config", dir_.path() + "/tallyd.json"});
        client_ = std::make_unique<HttpClient>(daemon_->port());
        ASSERT_TRUE(wait_ready(200)) << daemon_->log_text();
    }

    /// Polls /readyz until it answers `status` (bounded).
    bool wait_ready(int status) {
        const auto deadline = std::chrono::steady_clock::now() + kWait;
        while (std::chrono::steady_clock::now() < deadline) {
            if (client_->get("/readyz").status == status)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

    void run(const std::vector<std::string>& args) {
        std::vector<std::string_view> views(args.begin(), args.end());
        RedisReply reply = redis_->command_argv(views);
        ASSERT_NE(reply->type, REDIS_REPLY_ERROR) << reply_string(reply.get());
    }

    TempDir dir_;
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<Tallyd> daemon_;
    std::unique_ptr<HttpClient> client_;
};

TEST_F(FleetRead, DashboardTodayComesFromRedis) {
    const std::string day = today();
    const redis::DayKeys k("fleetonly", day);
    run({"INCRBY", k.pageviews, "12"});
    run({"PFADD", k.visitors, "u1", "u2", "u3", "u4"});
    run({"PFADD", k.sessions, "s1", "s2", "s3"});
    run({"ZINCRBY", k.pages, "7", "/"});
    run({"ZINCRBY", k.pages, "5", "/pricing"});
    run({"ZINCRBY", k.referrers, "12", "direct"});
    run({"ZINCRBY", k.countries, "3", "FR"});
    run({"HINCRBY", k.devices, "desktop", "10"});
    run({"HINCRBY", k.devices, "mobile", "2"});
    run({"HINCRBY", k.events, "signup", "1"});
    // Two instances' real-time users.
    run({"SET", redis::active_key("fleetonly", "a"), "2", "PX", "60000"});
    run({"SADD", redis::instances_key("fleetonly"), "a"});
    run({"SET", redis::active_key("fleetonly", "b"), "1", "PX", "60000"});
    run({"SADD", redis::instances_key("fleetonly"), "b"});

    const std::string expected =
        R"({"date":")" + day +
        R"(","site":"fleetonly","page_views":12,"unique_visitors":4,"unique_sessions":3,)"
        R"("top_pages":[["/",7],["/pricing",5]],"top_referrers":[["direct",12]],)"
        R"("devices":{"desktop":10,"mobile":2,"tablet":0},"countries":[["FR",3]],)"
        R"("real_time_users":3,"events":{"signup":1},"top_error_bound":0})";
    HttpResponse r = client_->get("/dashboard/today?site=fleetonly", kAuth);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.body, expected);
    r = client_->get("/dashboard/" + day + "?site=fleetonly&token=t0k");
    EXPECT_EQ(r.body, expected);

    r = client_->get("/dashboard/today?site=fleetonly&format=csv", kAuth);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("content-type"), "text/csv; charset=utf-8");
    EXPECT_NE(r.body.find("summary,page_views,12\r\n"), std::string::npos) << r.body;
    EXPECT_NE(r.header("content-disposition").find("tally-fleetonly-" + day + ".csv"),
              std::string::npos);

    // The local route's checks, unchanged.
    EXPECT_EQ(client_->get("/dashboard/today?site=fleetonly").status, 401);
    EXPECT_EQ(client_->get("/dashboard/2026-13-01?site=fleetonly", kAuth).status, 400);
    EXPECT_EQ(client_->get("/dashboard/today?site=bad%20site", kAuth).status, 400);
    EXPECT_EQ(client_->get("/dashboard/today?site=fleetonly&format=xml", kAuth).status, 400);

    r = client_->get("/metrics", kAuth);
    EXPECT_NE(r.body.find("tally_redis_reads_total 3\n"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("tally_redis_read_errors_total 0\n"), std::string::npos);
    EXPECT_NE(r.body.find("tally_redis_reader_up 1\n"), std::string::npos);
    const std::string promtool = find_program("promtool");
    ASSERT_FALSE(promtool.empty())
        << "promtool is missing: scripts/install-deps.sh --test installs it";
    TempDir dir;
    std::ofstream(dir.path() + "/metrics.txt") << r.body;
    // promtool reads the exposition on standard input.
    Process check({"/bin/sh", "-c", promtool + " check metrics < " + dir.path() + "/metrics.txt"},
                  dir.path() + "/promtool.log");
    EXPECT_EQ(check.wait(std::chrono::seconds(30)), 0)
        << std::ifstream(dir.path() + "/promtool.log").rdbuf();
}

// The point of the reader's own thread: while Redis stalls, the I/O thread (there is one)
// goes on answering.
TEST_F(FleetRead, AStalledRedisDoesNotBlockTheIoThread) {
    HttpResponse slow;
    std::thread stall([&] {
        RedisContext c = redis_->connect();
        freeReplyObject(redisCommand(c.get(), "DEBUG SLEEP 1.5"));
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // DEBUG SLEEP under way
    std::thread reader([&] {
        HttpClient other(daemon_->port());
        slow = other.get("/dashboard/today?site=fleetonly", kAuth);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the read is waiting
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(client_->get("/healthz").status, 200);
    EXPECT_EQ(
        client_
            ->post("/track/pageview", pageview({{"site", "ingestonly"}, {"session_id", "stall"}}))
            .status,
        200);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(500));
    reader.join();
    stall.join();
    // The stalled read timed out (1 s) or waited the sleep out; either way it was answered.
    EXPECT_TRUE(slow.status == 200 || slow.status == 503) << slow.status << " " << slow.body;
}

TEST_F(FleetRead, RedisDownIs503AndNotReadyUntilItIsBack) {
    redis_->stop();
    HttpResponse r = client_->get("/dashboard/today?site=fleetonly", kAuth);
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(json::parse(r.body)["error"].get<std::string>().rfind("redis unavailable: ", 0), 0u)
        << r.body;
    ASSERT_TRUE(wait_ready(503));
    r = client_->get("/readyz");
    EXPECT_NE(r.body.find("not ready: redis"), std::string::npos) << r.body;
    // Ingest does not depend on Redis.
    EXPECT_EQ(client_->post("/track/pageview", pageview({{"site", "ingestonly"}})).status, 200);

    redis_->start();
    run({"INCRBY", redis::DayKeys("fleetonly", today()).pageviews, "4"});
    ASSERT_TRUE(wait_ready(200)) << client_->get("/readyz").body;
    r = client_->get("/dashboard/today?site=fleetonly", kAuth);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["page_views"], 4);
}

std::string wait_for(HttpClient& client, const std::string& target,
                     const std::function<bool(const std::string&)>& done);

// Redis goes away after a good read: the last good figures come back marked with their age
// (and fast, once the circuit is open), until redis.stale_max_s (3 here) has passed; then
// 503. Redis back: fresh figures, unmarked, and the circuit closed.
TEST_F(FleetRead, RedisDownServesTheLastGoodFiguresMarkedStaleThen503) {
    run({"INCRBY", redis::DayKeys("fleetonly", today()).pageviews, "7"});
    HttpResponse r = client_->get("/dashboard/today?site=fleetonly", kAuth);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_FALSE(json::parse(r.body).contains("stale_seconds"));
    EXPECT_EQ(r.header("x-tally-stale-seconds"), "");

    redis_->stop();
    for (int i = 0; i < 5; ++i) {  // three failed reads open the circuit
        const auto started = std::chrono::steady_clock::now();
        r = client_->get("/dashboard/today?site=fleetonly", kAuth);
        ASSERT_EQ(r.status, 200) << r.body;
        const json body = json::parse(r.body);
        EXPECT_EQ(body["page_views"], 7);
        ASSERT_TRUE(body.contains("stale_seconds")) << r.body;
        EXPECT_LE(body["stale_seconds"].get<int>(), 3);
        EXPECT_EQ(r.header("x-tally-stale-seconds"),
                  std::to_string(body["stale_seconds"].get<int>()));
        if (i >= 3) {  // open: no attempt at Redis, so no connect timeout either
            EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
        }
    }
    std::string metrics = client_->get("/metrics", kAuth).body;
    EXPECT_NE(metrics.find("\ntally_redis_circuit_open 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\ntally_redis_stale_answers_total 5\n"), std::string::npos);

    std::this_thread::sleep_for(std::chrono::milliseconds(4200));  // past stale_max_s
    r = client_->get("/dashboard/today?site=fleetonly", kAuth);
    EXPECT_EQ(r.status, 503) << r.body;

    redis_->start();
    run({"INCRBY", redis::DayKeys("fleetonly", today()).pageviews, "1"});
    const std::string fresh = wait_for(
        *client_, "/dashboard/today?site=fleetonly",
        [](const std::string& body) { return !json::parse(body).contains("stale_seconds"); });
    EXPECT_EQ(json::parse(fresh)["page_views"], 1) << fresh;  // a new Redis: only the new key
    metrics = client_->get("/metrics", kAuth).body;
    EXPECT_NE(metrics.find("\ntally_redis_circuit_open 0\n"), std::string::npos) << metrics;
}

/// `target` from `client` until it answers 200 with a body that `done` accepts (bounded):
/// the mirrors flush every 250 ms. Returns the last body.
std::string wait_for(HttpClient& client, const std::string& target,
                     const std::function<bool(const std::string&)>& done) {
    std::string body;
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
        HttpResponse r = client.get(target, kAuth);
        body = r.body;
        if (r.status == 200 && done(body))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return body;
}

// With the real mirror: an instance that mirrors and receives events, and the reader
// (which receives none) answers for it from Redis byte for byte as it answers locally;
// with a second mirroring instance, the reader gives the fleet's sums and union.
TEST_F(FleetRead, EqualsTheMirroringInstancesLocalDashboardAndSumsTheFleet) {
    const std::string url = "redis://127.0.0.1:" + std::to_string(redis_->port());
    Tallyd one({"--redis", url, "--instance-id", "one", "--threads", "1"});
    Tallyd two({"--redis", url, "--instance-id", "two", "--threads", "1"});
    HttpClient to_one(one.port());
    HttpClient to_two(two.port());
    int n = 0;
    auto send = [&](HttpClient& to, const std::string& site, const json& fields) {
        json body = {{"site", site},
                     {"session_id", "s" + std::to_string(n % 7)},
                     {"user_id", "u" + std::to_string(n % 5)}};
        body.update(fields);
        ++n;
        const bool event = body.contains("event_name");
        ASSERT_EQ(to.post(event ? "/track/event" : "/track/pageview", body.dump()).status, 200);
    };
    const char* pages[] = {"/",  "/pricing", "/docs", "/a", "/b", "/c",
                           "/d", "/e",       "/f",    "/g", "/h", "/i"};
    for (const std::string site : {"fleetmix", "fleetsum"}) {
        for (int i = 0; i < 40; ++i) {
            send(to_one, site,
                 {{"page_url", std::string("https://x.example") + pages[i % 12 * (i % 3) % 12]},
                  {"referrer", i % 4 == 0 ? "" : "https://r" + std::to_string(i % 3) + ".com/"},
                  {"country", i % 5 == 0 ? "DE" : "FR"},
                  {"device_type", i % 6 == 0 ? "mobile" : "desktop"}});
        }
        send(to_one, site, {{"event_name", "signup"}});
    }

    // One instance's site: the same bytes, JSON and CSV, for a day and a month.
    for (const std::string& range : {std::string("today"), today(), today().substr(0, 7)}) {
        const std::string local = to_one.get("/dashboard/" + range + "?site=fleetmix").body;
        EXPECT_EQ(wait_for(*client_, "/dashboard/" + range + "?site=fleetmix",
                           [&](const std::string& body) { return body == local; }),
                  local)
            << range;
    }
    const std::string csv = to_one.get("/dashboard/today?site=fleetmix&format=csv").body;
    EXPECT_EQ(client_->get("/dashboard/today?site=fleetmix&format=csv", kAuth).body, csv);

    // Page views per bucket from Redis's minute counters: the same points as locally, for
    // every aggregation and bucket size (and a range that starts before Redis keeps days).
    const std::int64_t day_start = day_of(now_ms()) * kMsPerDay;
    const std::string span = "&from=" + std::to_string(day_start - 40 * kMsPerDay) +
                             "&to=" + std::to_string(day_start + kMsPerDay);
    for (const std::string& query :
         {"pageviews?site=fleetmix&bucket_size=86400000" + span,
          "pageviews?site=fleetmix&bucket_size=3600000&aggregation=max&from=" +
              std::to_string(day_start) + "&to=" + std::to_string(day_start + kMsPerDay),
          "ts:pageviews:" + today() + "?site=fleetmix&bucket_size=300000&aggregation=avg",
          "ts:pageviews:" + today() + "?site=fleetmix&aggregation=min"}) {
        const std::string local = to_one.get("/timeseries/" + query).body;
        ASSERT_NE(local.find("\"value\":"), std::string::npos) << local;
        EXPECT_EQ(client_->get("/timeseries/" + query, kAuth).body, local) << query;
    }
    // Custom events have no per-minute keys in Redis: their series stay the reader's own.
    const json events = json::parse(
        client_
            ->get("/timeseries/events:signup?site=fleetmix&from=" + std::to_string(day_start) +
                      "&to=" + std::to_string(day_start + 60'000),
                  kAuth)
            .body);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0]["value"], 0);

    // Both instances' site, the second with other visitors: counters add, uniques unite,
    // real-time users add. Both instances' real-time keys exist before the first read of
    // the site, so the reader finds them at once (it looks for new ones every 10 s).
    for (int i = 0; i < 10; ++i) {
        send(to_two, "fleetsum",
             {{"page_url", "/two"},
              {"session_id", "t" + std::to_string(i)},
              {"user_id", "w" + std::to_string(i)}});
    }
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    for (const char* instance : {"one", "two"}) {
        const std::string k = redis::active_key("fleetsum", instance);
        while (reply_integer(redis_->command("EXISTS %s", k.c_str()).get()) == 0 &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    json expected = json::parse(to_one.get("/dashboard/today?site=fleetsum").body);
    const json second = json::parse(to_two.get("/dashboard/today?site=fleetsum").body);
    expected["page_views"] = expected["page_views"].get<int>() + 10;
    expected["unique_visitors"] = expected["unique_visitors"].get<int>() + 10;
    expected["unique_sessions"] = expected["unique_sessions"].get<int>() + 10;
    expected["real_time_users"] =
        expected["real_time_users"].get<int>() + second["real_time_users"].get<int>();
    expected["devices"]["desktop"] = expected["devices"]["desktop"].get<int>() + 10;
    const json fleet =
        json::parse(wait_for(*client_, "/dashboard/today?site=fleetsum", [&](const auto& body) {
            const json d = json::parse(body);
            return d["page_views"] == expected["page_views"] &&
                   d["real_time_users"] == expected["real_time_users"];
        }));
    EXPECT_EQ(fleet["page_views"], expected["page_views"]);
    EXPECT_EQ(fleet["unique_visitors"], expected["unique_visitors"]);
    EXPECT_EQ(fleet["unique_sessions"], expected["unique_sessions"]);
    EXPECT_EQ(fleet["real_time_users"], expected["real_time_users"]);
    EXPECT_EQ(fleet["devices"], expected["devices"]);
    EXPECT_NE(std::find(fleet["top_pages"].begin(), fleet["top_pages"].end(),
                        json::parse(R"(["/two",10])")),
              fleet["top_pages"].end())
        << fleet["top_pages"];
}

TEST(FleetConfig, BadSettingsExit2NamingTheKey) {
    RunResult r = run_tallyd({"--query-source", "redis"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("query_source"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("redis.url"), std::string::npos) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

    r = run_tallyd({"--query-source", "sometimes"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--query-source"), std::string::npos) << r.output;

    r = run_tallyd({"--redis", "redis://:1", "--query-source", "redis"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--redis"), std::string::npos) << r.output;

    r = run_tallyd({"--instance-id", "has space"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--instance-id"), std::string::npos) << r.output;
    r = run_tallyd({"--instance-id", "a{b}"});
    EXPECT_EQ(r.status, 2);

    TempDir dir;
    const std::string path = dir.path() + "/fleet.json";
    std::ofstream(path) << R"({"query_source": "redis"})";
    r = run_tallyd({"--config", path});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("query_source"), std::string::npos) << r.output;

    EXPECT_NE(run_tallyd({"--help"}).output.find("--query-source"), std::string::npos);
}

}  // namespace
}  // namespace tally::test
