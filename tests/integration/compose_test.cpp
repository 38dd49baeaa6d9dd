// The docker compose demo without Docker (no engine runs in CI): its three services, run
// from the very scripts and flags the image and the compose file use, on free loopback ports.
//   redis    redis-server --appendonly yes (the compose file's command)
//   tallyd   the image's config file, then the compose file's `command` for tallyd (read from
//            docker/docker-compose.yml, its redis://redis:6379 pointed at this Redis); healthy
//            when docker/healthcheck.sh says so (the image's HEALTHCHECK)
//   traffic  docker/traffic.sh (the image's tally-traffic), a few hundred events, fast
// Redis must then hold, through the mirror, exactly the dashboard's page views and uniques.

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common.hpp"
#include "support/redis_server.hpp"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

std::string source_path(const std::string& relative) {
    return std::string(TALLY_SOURCE_DIR) + "/" + relative;
}

/// The `command:` of the compose file's tallyd service, as arguments.
std::vector<std::string> compose_tallyd_command() {
    std::ifstream file(source_path("docker/docker-compose.yml"));
    std::stringstream text;
    text << file.rdbuf();
    const std::string yaml = text.str();
    const auto service = yaml.find("\n  tallyd:\n");
    if (service == std::string::npos)
        return {};
    std::smatch match;
    const std::string rest = yaml.substr(service);
    if (!std::regex_search(rest, match, std::regex(R"(\n    command: (\[.*\])\n)")))
        return {};
    return json::parse(match[1].str()).get<std::vector<std::string>>();
}

TEST(ComposeStack, TrafficThroughTallydReachesRedisExactly) {
    if (!RedisServer::available())
        GTEST_SKIP() << "redis-server not installed";
    RedisServer redis({"--appendonly", "yes"});

    std::vector<std::string> flags = compose_tallyd_command();
    ASSERT_FALSE(flags.empty()) << "no command for tallyd in docker/docker-compose.yml";
    bool pointed = false;
    for (std::string& flag : flags) {
        if (flag == "redis://redis:6379") {
            flag = "redis://127.0.0.1:" + std::to_string(redis.port());
            pointed = true;
        }
    }
    ASSERT_TRUE(pointed) << "the compose file's tallyd does not mirror to redis://redis:6379";
    flags.insert(flags.begin(), {"--config", source_path("config/tallyd.json")});
    Tallyd daemon(flags);

    const std::string port = std::to_string(daemon.port());
    bool healthy = false;
    for (int i = 0; i < 100 && !healthy; ++i) {
        Process check({"/bin/bash", source_path("docker/healthcheck.sh"), "127.0.0.1", port});
        healthy = check.wait(5s) == 0;
        if (!healthy)
            std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(healthy) << "docker/healthcheck.sh never passed";

    TempDir dir;
    const std::string traffic_log = dir.path() + "/traffic.log";
    Process traffic({"/usr/bin/env", "COUNT=300", "RATE=2000", "SITE=default", "/bin/bash",
                     source_path("docker/traffic.sh"), "http://127.0.0.1:" + port},
                    traffic_log);
    ASSERT_EQ(traffic.wait(60s), 0);
    std::ifstream log(traffic_log);
    std::stringstream said;
    said << log.rdbuf();
    // COUNT is where it stops starting visits: a funnel visit under way ends, so a few more.
    std::smatch sent;
    const std::string text = said.str();
    ASSERT_TRUE(std::regex_search(text, sent, std::regex(R"((\d+) sent, 0 not answered 200)")))
        << text;
    EXPECT_GE(std::stoi(sent[1].str()), 300) << text;

    HttpClient client(daemon.port());
    const json board = dashboard(client, "today");
    const long long views = board.at("page_views").get<long long>();
    EXPECT_GT(views, 200);  // the rest are the funnel's custom events
    const std::string day = today();
    const std::string views_key = "tally:{default}:count:pageviews:" + day;
    long long mirrored = 0;
    for (int i = 0; i < 200 && mirrored != views; ++i) {
        RedisReply reply = redis.command("GET %s", views_key.c_str());
        mirrored = reply->type == REDIS_REPLY_STRING ? std::stoll(reply_string(reply.get())) : 0;
        if (mirrored != views)
            std::this_thread::sleep_for(50ms);
    }
    EXPECT_EQ(mirrored, views);
    EXPECT_EQ(
        reply_integer(redis.command("PFCOUNT tally:{default}:hll:visitors:%s", day.c_str()).get()),
        board.at("unique_visitors").get<long long>());
}

}  // namespace
}  // namespace tally::test
