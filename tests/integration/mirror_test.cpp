// The Redis mirror against a real redis-server started on a free port:
// the keys equal the dashboard (PFCOUNT, dense registers, counters, hashes, sorted sets),
// every key has a TTL, each flush is published, Redis going away mid-load and coming back
// converges to the exact figures, a tallyd killed with SIGKILL mid-flush and restarted
// counts nothing twice, and two tallyds sum and merge into one Redis.

#include <hiredis/hiredis.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "common.hpp"
#include "support/redis_server.hpp"
#include "tally/sketch/hyperloglog.hpp"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

constexpr int kFlushMs = 50;

std::string redis_url(const RedisServer& redis) {
    return "redis://127.0.0.1:" + std::to_string(redis.port());
}

/// A config file that makes the mirror flush every kFlushMs (tests wait less).
class FastFlushConfig {
  public:
    explicit FastFlushConfig(int flush_ms = kFlushMs) {
        path_ = dir_.path() + "/tallyd.json";
        std::ofstream(path_) << R"({"redis": {"flush_ms": )" << flush_ms << "}}";
    }
    const std::string& path() const { return path_; }

  private:
    TempDir dir_;
    std::string path_;
};

std::vector<std::string> mirror_args(const RedisServer& redis, const FastFlushConfig& config,
                                     const std::string& instance) {
    return {"--redis", redis_url(redis), "--instance-id", instance, "--config", config.path()};
}

std::string key(const std::string& site, const std::string& rest) {
    return "tally:{" + site + "}:" + rest;
}

long long get_integer(RedisServer& redis, const std::string& k) {
    RedisReply reply = redis.command("GET %b", k.data(), k.size());
    if (reply->type == REDIS_REPLY_NIL)
        return 0;
    return std::stoll(reply_string(reply.get()));
}

long long pfcount(RedisServer& redis, const std::string& k) {
    return reply_integer(redis.command("PFCOUNT %b", k.data(), k.size()).get());
}

/// A sorted set's whole content, member -> score.
std::map<std::string, long long> zset(RedisServer& redis, const std::string& k) {
    RedisReply reply = redis.command("ZRANGE %b 0 -1 WITHSCORES", k.data(), k.size());
    std::map<std::string, long long> out;
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2)
        out[reply_string(reply->element[i])] = std::stoll(reply_string(reply->element[i + 1]));
    return out;
}

std::map<std::string, long long> hash(RedisServer& redis, const std::string& k) {
    RedisReply reply = redis.command("HGETALL %b", k.data(), k.size());
    std::map<std::string, long long> out;
    for (std::size_t i = 0; i + 1 < reply->elements; i += 2)
        out[reply_string(reply->element[i])] = std::stoll(reply_string(reply->element[i + 1]));
    return out;
}

/// The registers of a HyperLogLog key (dense or sparse, as GET returns it).
sketch::HyperLogLog registers(RedisServer& redis, const std::string& k) {
    RedisReply reply = redis.command("GET %b", k.data(), k.size());
    auto hll = sketch::HyperLogLog::from_redis_bytes(reply_string(reply.get()));
    EXPECT_TRUE(hll.has_value()) << k << " is not a HyperLogLog";
    return hll.value_or(sketch::HyperLogLog());
}

std::vector<std::string> all_keys(RedisServer& redis) {
    RedisReply reply = redis.command("KEYS *");
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < reply->elements; ++i)
        keys.push_back(reply_string(reply->element[i]));
    return keys;
}

/// The top `k` of a ranked list in the dashboard's order: count descending, member ascending.
json top_of(std::map<std::string, long long> scores, std::size_t k) {
    std::vector<std::pair<std::string, long long>> ranked(scores.begin(), scores.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    json out = json::array();
    for (std::size_t i = 0; i < ranked.size() && i < k; ++i)
        out.push_back({ranked[i].first, ranked[i].second});
    return out;
}

/// Everything Redis holds of `site` on `date`, in the dashboard's JSON shape (the figures
/// the mirror is responsible for).
json redis_figures(RedisServer& redis, const std::string& site, const std::string& date) {
    json figures;
    figures["page_views"] = get_integer(redis, key(site, "count:pageviews:" + date));
    figures["unique_visitors"] = pfcount(redis, key(site, "hll:visitors:" + date));
    figures["unique_sessions"] = pfcount(redis, key(site, "hll:sessions:" + date));
    figures["top_pages"] = top_of(zset(redis, key(site, "pages:" + date)), 10);
    figures["top_referrers"] = top_of(zset(redis, key(site, "referrers:" + date)), 10);
    figures["countries"] = top_of(zset(redis, key(site, "countries:" + date)), 10);
    json devices = {{"desktop", 0}, {"mobile", 0}, {"tablet", 0}};
    for (const auto& [name, count] : hash(redis, key(site, "devices:" + date)))
        devices[name] = count;
    figures["devices"] = devices;
    json events = json::object();
    for (const auto& [name, count] : hash(redis, key(site, "events:" + date)))
        events[name] = count;
    figures["events"] = events;
    return figures;
}

json dashboard_figures(const json& dashboard) {
    json figures;
    for (const char* field : {"page_views", "unique_visitors", "unique_sessions", "top_pages",
                              "top_referrers", "countries", "devices", "events"})
        figures[field] = dashboard.at(field);
    return figures;
}

/// Waits (bounded) until Redis holds exactly `expected`; returns the last figures seen.
json wait_for_figures(RedisServer& redis, const std::string& site, const std::string& date,
                      const json& expected, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json figures;
    while (std::chrono::steady_clock::now() < deadline) {
        figures = redis_figures(redis, site, date);
        if (figures == expected)
            break;
        std::this_thread::sleep_for(20ms);
    }
    return figures;
}

/// The readiness answer's view of the mirror.
json readiness(int port) {
    HttpClient client(port);
    auto r = client.get("/readyz");
    return r.status == 200 ? json::parse(r.body) : json{{"status_code", r.status}};
}

/// Varied traffic: `n` page views with 15 pages in a skewed mix (ties at the tenth place
/// included), referrers, countries, devices, user ids that repeat, and a custom event per
/// 7 views. Returns how many requests were answered 200.
int send_traffic(HttpClient& client, int n, int seed, const std::string& site = "default") {
    static const char* devices[] = {"desktop", "mobile", "tablet"};
    static const char* countries[] = {"de", "fr", "us", "jp"};
    int ok = 0;
    for (int i = 0; i < n; ++i) {
        const long long k = i + seed * 7919LL;
        json view = {{"page_url", "https://example.com/p" + std::to_string((k * k) % 15)},
                     {"session_id", "s" + std::to_string(k % 97)},
                     {"user_id", "u" + std::to_string(k % 61)},
                     {"referrer", "https://r" + std::to_string(k % 5) + ".example/"},
                     {"country", countries[k % 4]},
                     {"device_type", devices[k % 3]},
                     {"site", site}};
        ok += client.post("/track/pageview", view.dump()).status == 200 ? 1 : 0;
        if (i % 7 == 0) {
            json event = {{"event_name", "signup" + std::to_string(k % 3)},
                          {"session_id", "s" + std::to_string(k % 97)},
                          {"user_id", "u" + std::to_string(k % 61)},
                          {"site", site}};
            client.post("/track/event", event.dump());
        }
    }
    return ok;
}

/// After restarts: the daemon counted each of the `answered` page views once, and Redis
/// comes to hold exactly its figures and still does a few flushes later (nothing is
/// shipped twice, late).
void expect_exactly_in_redis(RedisServer& redis, Tallyd& daemon, int answered) {
    HttpClient client(daemon.port());
    const json expected = dashboard_figures(dashboard(client, "today"));
    ASSERT_EQ(expected["page_views"], answered);
    EXPECT_EQ(wait_for_figures(redis, "default", today(), expected), expected);
    std::this_thread::sleep_for(std::chrono::milliseconds(4 * kFlushMs));
    EXPECT_EQ(redis_figures(redis, "default", today()), expected);
}

class MirrorTest : public ::testing::Test {
  protected:
    void SetUp() override {
        if (!RedisServer::available())
            GTEST_SKIP() << "redis-server not installed";
    }
};

TEST_F(MirrorTest, RedisHoldsTheDashboardsFiguresWithTtlsAndRedisOwnRegisters) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    HttpClient client(daemon.port());
    ASSERT_EQ(send_traffic(client, 300, 1), 300);

    const std::string date = today();
    const json expected = dashboard_figures(dashboard(client, "today"));
    ASSERT_EQ(expected["page_views"], 300);
    EXPECT_EQ(wait_for_figures(redis, "default", date, expected), expected);

    // The day's counter is the sum of its hours and of its minutes.
    long long hours = 0;
    long long minutes = 0;
    for (const std::string& k : all_keys(redis)) {
        const std::string prefix = key("default", "count:pageviews:" + date + ":");
        if (k.rfind(prefix, 0) == 0)
            (k.size() == prefix.size() + 2 ? hours : minutes) += get_integer(redis, k);
    }
    EXPECT_EQ(hours, 300);
    EXPECT_EQ(minutes, 300);

    // The visitors' HyperLogLog has exactly the registers PFADD of the same ids makes.
    for (int u = 0; u < 61; ++u)
        redis.command("PFADD reference u%d", u);
    EXPECT_TRUE(registers(redis, key("default", "hll:visitors:" + date)) ==
                registers(redis, "reference"));
    EXPECT_EQ(pfcount(redis, key("default", "hll:visitors:" + date)), pfcount(redis, "reference"));
    redis.command("DEL reference");

    // Every key has a TTL: the day's end plus the retention (30 days by default).
    const auto keys = all_keys(redis);
    ASSERT_GE(keys.size(), 12u);
    for (const std::string& k : keys) {
        const long long ttl = reply_integer(redis.command("TTL %b", k.data(), k.size()).get());
        if (k.find(":active:") != std::string::npos) {
            EXPECT_GT(ttl, 0) << k;  // seconds: the real-time users expire quickly
            EXPECT_LE(ttl, 10) << k;
        } else {
            EXPECT_GT(ttl, 30LL * 86400) << k;
            EXPECT_LE(ttl, 31LL * 86400) << k;
        }
    }
    // The mirror's scratch key never outlives its transaction.
    EXPECT_EQ(
        std::count_if(keys.begin(), keys.end(),
                      [](const std::string& k) { return k.find(":scratch") != std::string::npos; }),
        0);
    json ready = readiness(daemon.port());
    EXPECT_EQ(ready["redis"], "up");
    EXPECT_EQ(ready["redis_pending_keys"], 0);
}

TEST_F(MirrorTest, EachFlushIsPublished) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    RedisContext subscriber = redis.connect();
    RedisReply subscribed(static_cast<redisReply*>(
        redisCommand(subscriber.get(), "SUBSCRIBE %s", "tally:{shop}:realtime")));
    ASSERT_TRUE(subscribed);

    HttpClient client(daemon.port());
    ASSERT_EQ(
        client.post("/track/pageview", pageview({{"site", "shop"}, {"page_url", "/cart"}})).status,
        200);
    void* raw = nullptr;
    ASSERT_EQ(redisGetReply(subscriber.get(), &raw), REDIS_OK);  // within the 5 s timeout
    RedisReply message(static_cast<redisReply*>(raw));
    ASSERT_EQ(message->type, REDIS_REPLY_ARRAY);
    ASSERT_EQ(message->elements, 3u);
    EXPECT_EQ(reply_string(message->element[0]), "message");
    EXPECT_EQ(reply_string(message->element[1]), "tally:{shop}:realtime");
    const json body = json::parse(reply_string(message->element[2]));
    EXPECT_EQ(body["instance"], "t1");
    EXPECT_EQ(body["site"], "shop");
    EXPECT_EQ(body["days"][today()]["page_views"], 1);
    EXPECT_EQ(body["days"][today()]["pages"]["/cart"], 1);
    EXPECT_EQ(body["real_time_users"], 1);
}

TEST_F(MirrorTest, RedisShutdownMidLoadThenBackConvergesExactly) {
    RedisServer redis({"--appendonly", "yes", "--appendfsync", "everysec"});
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));

    std::atomic<int> answered{0};
    std::atomic<bool> done{false};
    std::jthread load([&] {  // joined however the test ends
        HttpClient client(daemon.port());
        for (int round = 0; round < 30; ++round) {
            answered += send_traffic(client, 40, round);
            std::this_thread::sleep_for(20ms);
        }
        done = true;
    });
    // Let some flushes land, then SHUTDOWN (which writes the AOF and exits) mid-load.
    std::this_thread::sleep_for(300ms);
    {
        // SHUTDOWN answers by closing the connection: send it on a connection of its own.
        RedisContext admin = redis.connect();
        freeReplyObject(redisCommand(admin.get(), "SHUTDOWN"));
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (redis.running() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(10ms);
    ASSERT_FALSE(redis.running());

    // Redis away: ingest goes on, /readyz and /metrics say so, the pending keys show.
    std::this_thread::sleep_for(300ms);
    json ready = readiness(daemon.port());
    EXPECT_EQ(ready["status"], "ready");
    EXPECT_EQ(ready["redis"], "down");
    EXPECT_GT(ready["redis_pending_keys"].get<long long>(), 0);
    {
        HttpClient client(daemon.port());
        const std::string metrics = client.get("/metrics").body;
        EXPECT_NE(metrics.find("tally_redis_up 0"), std::string::npos);
        EXPECT_EQ(dashboard(client, "today")["page_views"].get<int>() > 0, true);
    }

    redis.start();  // the same directory: the AOF brings the keys back
    load.join();
    ASSERT_TRUE(done);
    ASSERT_EQ(answered.load(), 30 * 40);
    HttpClient client(daemon.port());
    const json expected = dashboard_figures(dashboard(client, "today"));
    ASSERT_EQ(expected["page_views"], 30 * 40);
    EXPECT_EQ(wait_for_figures(redis, "default", today(), expected), expected);
    EXPECT_EQ(readiness(daemon.port())["redis"], "up");
    EXPECT_NE(daemon.log_text().find("redis mirror: connected"), std::string::npos);
}

TEST_F(MirrorTest, KilledMidFlushAndRestartedCountsNothingTwice) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    int answered = 0;
    // Each round sends a burst (hundreds of distinct members change at once, so flushes are
    // big) and kills the daemon at a different moment of its flush cycle.
    for (int round = 0; round < 6; ++round) {
        {
            HttpClient client(daemon.port());
            answered += send_traffic(client, 150, round);
        }
        // At least one flush has landed (the first comes one interval after the start),
        // and the kill falls at a different phase of the flush cycle each round.
        std::this_thread::sleep_for(std::chrono::milliseconds(2 * kFlushMs + 9 * round));
        daemon.stop(SIGKILL);
        daemon.restart();
    }
    expect_exactly_in_redis(redis, daemon, answered);
}

TEST_F(MirrorTest, KilledWhileItsTransactionWaitsInRedisCountsNothingTwice) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    int answered = 0;
    {
        HttpClient client(daemon.port());
        answered += send_traffic(client, 100, 1);
        const json expected = dashboard_figures(dashboard(client, "today"));
        ASSERT_EQ(wait_for_figures(redis, "default", today(), expected), expected);
    }
    // Redis holds every write for a second: the next flush's MULTI...EXEC is sent and waits
    // there, unanswered, when the daemon is killed.
    ASSERT_EQ(reply_string(redis.command("CLIENT PAUSE 1000 WRITE").get()), "OK");
    {
        HttpClient client(daemon.port());
        answered += send_traffic(client, 100, 2);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(4 * kFlushMs));
    daemon.stop(SIGKILL);
    daemon.restart();
    expect_exactly_in_redis(redis, daemon, answered);
}

TEST_F(MirrorTest, ASlowRedisNeverSlowsIngestOrDashboards) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    HttpClient client(daemon.port());
    ASSERT_EQ(send_traffic(client, 20, 1), 20);
    // Redis stalls every write for 2 s: the mirror's transaction waits in it.
    ASSERT_EQ(reply_string(redis.command("CLIENT PAUSE 2000 WRITE").get()), "OK");
    std::this_thread::sleep_for(std::chrono::milliseconds(2 * kFlushMs));
    auto slowest = std::chrono::nanoseconds(0);
    for (int i = 0; i < 100; ++i) {
        const auto start = std::chrono::steady_clock::now();
        ASSERT_EQ(
            client.post("/track/pageview", pageview({{"session_id", "slow" + std::to_string(i)}}))
                .status,
            200);
        ASSERT_EQ(client.get("/dashboard/today").status, 200);
        slowest = std::max(slowest, std::chrono::steady_clock::now() - start);
    }
    // Far below the 2 s pause (a loaded CI machine still answers in milliseconds).
    EXPECT_LT(slowest, 500ms);
    const json expected = dashboard_figures(dashboard(client, "today"));
    EXPECT_EQ(expected["page_views"], 120);
    EXPECT_EQ(wait_for_figures(redis, "default", today(), expected), expected);
}

TEST_F(MirrorTest, TwoInstancesSumAndMergeIntoOneRedis) {
    RedisServer redis;
    FastFlushConfig config;
    Tallyd first(mirror_args(redis, config, "t1"));
    Tallyd second(mirror_args(redis, config, "t2"));
    HttpClient a(first.port());
    HttpClient b(second.port());
    ASSERT_EQ(send_traffic(a, 200, 1), 200);
    ASSERT_EQ(send_traffic(b, 150, 2), 150);  // user ids overlap with the first's

    const json one = dashboard(a, "today");
    const json two = dashboard(b, "today");
    const std::string date = today();
    const std::string views = key("default", "count:pageviews:" + date);
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (get_integer(redis, views) != 350 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(3 * kFlushMs));  // the last merges
    const json figures = redis_figures(redis, "default", date);
    EXPECT_EQ(figures["page_views"], 350);

    // Counters and lists add up exactly.
    auto sum = [](const json& x, const json& y) {
        json total = x;
        for (auto& [name, value] : y.items())
            total[name] = total.value(name, 0) + value.get<long long>();
        return total;
    };
    EXPECT_EQ(figures["devices"], sum(one["devices"], two["devices"]));
    EXPECT_EQ(figures["events"], sum(one["events"], two["events"]));
    std::map<std::string, long long> pages;
    for (const json* d : {&one, &two})
        for (const auto& entry : (*d)["top_pages"])
            pages[entry[0]] += entry[1].get<long long>();
    // 15 pages: the dashboards' top 10s are not the whole lists, so compare the full sets.
    std::map<std::string, long long> redis_pages = zset(redis, key("default", "pages:" + date));
    long long total = 0;
    for (const auto& [page, count] : redis_pages)
        total += count;
    EXPECT_EQ(total, 350);
    for (const auto& [page, count] : pages)
        EXPECT_GE(redis_pages[page], count) << page;

    // Uniques merge: the union, exactly the registers of PFADD over both instances' ids.
    for (int u = 0; u < 61; ++u)
        redis.command("PFADD reference u%d", u);
    EXPECT_EQ(pfcount(redis, key("default", "hll:visitors:" + date)), pfcount(redis, "reference"));
    EXPECT_TRUE(registers(redis, key("default", "hll:visitors:" + date)) ==
                registers(redis, "reference"));
    // Each instance keeps its own checkpoint.
    EXPECT_EQ(
        reply_integer(redis
                          .command("EXISTS %s %s", ("tally:{default}:mirror:t1:" + date).c_str(),
                                   ("tally:{default}:mirror:t2:" + date).c_str())
                          .get()),
        2);
}

TEST_F(MirrorTest, SigtermFlushesToRedisBeforeExiting) {
    RedisServer redis;
    FastFlushConfig config(60'000);  // no periodic flush within the test
    Tallyd daemon(mirror_args(redis, config, "t1"));
    json expected;
    {
        HttpClient client(daemon.port());
        ASSERT_EQ(send_traffic(client, 40, 5), 40);
        expected = dashboard_figures(dashboard(client, "today"));
    }
    EXPECT_EQ(get_integer(redis, key("default", "count:pageviews:" + today())), 0);
    EXPECT_EQ(daemon.stop(), 0);
    EXPECT_EQ(redis_figures(redis, "default", today()), expected);
    EXPECT_NE(daemon.log_text().find("redis mirror: final flush done"), std::string::npos);
}

TEST_F(MirrorTest, StartsWithoutRedisAndCatchesUpWhenItAppears) {
    RedisServer redis;
    const int port = redis.port();
    redis.stop();
    FastFlushConfig config;
    Tallyd daemon(mirror_args(redis, config, "t1"));
    HttpClient client(daemon.port());
    ASSERT_EQ(send_traffic(client, 50, 3), 50);
    EXPECT_EQ(readiness(daemon.port())["redis"], "down");
    redis.start();
    ASSERT_EQ(redis.port(), port);
    const json expected = dashboard_figures(dashboard(client, "today"));
    EXPECT_EQ(wait_for_figures(redis, "default", today(), expected), expected);
}

}  // namespace
}  // namespace tally::test
