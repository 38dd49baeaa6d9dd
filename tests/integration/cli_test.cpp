// The command line: --help, --version, bad flags and config keys exit 2 with one
// line naming them; SIGTERM exits 0.

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common.hpp"

namespace tally::test {
namespace {

TEST(Cli, HelpAndVersion) {
    RunResult help = run_tallyd({"--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--listen HOST:PORT"), std::string::npos);
    EXPECT_NE(help.output.find("--fsync"), std::string::npos);
    RunResult version = run_tallyd({"--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.output.rfind("tallyd ", 0), 0u);
}

TEST(Cli, BadFlagNamesItAndExits2) {
    RunResult r = run_tallyd({"--no-such-flag"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--no-such-flag"), std::string::npos);
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;

    r = run_tallyd({"--fsync", "sometimes"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--fsync"), std::string::npos);

    r = run_tallyd({"--threads", "many"});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("--threads"), std::string::npos);

    r = run_tallyd({"--listen", "nocolon"});
    EXPECT_EQ(r.status, 2);
}

TEST(Cli, PortInUseIsAClearErrorNotACrash) {
    Tallyd holder;  // takes a free port
    TempDir data;
    for (const bool demo : {false, true}) {
        std::vector<std::string> args = {"--listen", "127.0.0.1:" + std::to_string(holder.port()),
                                         "--data-dir", data.path()};
        if (demo)
            args.emplace_back("--demo");
        const RunResult r = run_tallyd(args);
        EXPECT_EQ(r.status, 1) << r.output;  // not a signal from std::terminate
        EXPECT_NE(r.output.find("cannot bind 127.0.0.1:" + std::to_string(holder.port())),
                  std::string::npos)
            << r.output;
    }
}

TEST(Cli, BadConfigKeyNamesItAndExits2) {
    TempDir dir;
    const std::string path = dir.path() + "/bad.json";
    std::ofstream(path) << R"({"listen": "127.0.0.1:0", "durability": {"fsink": "always"}})";
    RunResult r = run_tallyd({"--config", path});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("durability.fsink"), std::string::npos) << r.output;

    std::ofstream(path) << R"({"limits": {"max_sites": "lots"}})";
    r = run_tallyd({"--config", path});
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.output.find("limits.max_sites"), std::string::npos) << r.output;
}

TEST(Cli, ShippedConfigIsValid) {
    // config/tallyd.json documents every key; it must load as it is.
    Tallyd daemon({"--config", std::string(TALLY_SOURCE_DIR) + "/config/tallyd.json"});
    HttpClient client(daemon.port());
    EXPECT_EQ(client.get("/healthz").status, 200);
}

TEST(Cli, SigtermExitsZeroWithOneStartupLine) {
    Tallyd daemon;
    HttpClient client(daemon.port());
    EXPECT_EQ(client.post("/track/pageview", pageview()).status, 200);
    EXPECT_EQ(daemon.stop(SIGTERM), 0);
    const std::string log = daemon.log_text();
    EXPECT_NE(log.find("listening on 127.0.0.1:" + std::to_string(daemon.port())),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("redis off"), std::string::npos) << log;
    // No per-request logs at info.
    EXPECT_EQ(log.find("/track/pageview"), std::string::npos) << log;
}

}  // namespace
}  // namespace tally::test

namespace tally::test {
namespace {

TEST(Cli, DemoTrafficMovesTheDashboard) {
    Tallyd daemon({"--demo"});
    HttpClient client(daemon.port());
    const std::string funnel_path =
        "/funnel?steps=pageview:/pricing,signup_started,signup_completed";
    // Several pages, referrers and countries, custom events and the signup funnel walked to
    // its end, within a few seconds (today's earlier minutes are backfilled at start, and
    // the live rate is a few to tens of events a second).
    json d, funnel;
    const auto enough = [&] {
        return d["page_views"].get<int>() >= 10 && d["top_pages"].size() >= 5 &&
               d["top_referrers"].size() >= 3 && d["countries"].size() >= 3 &&
               d["events"].size() >= 3 && d["real_time_users"].get<int>() >= 1 &&
               funnel.is_array() && funnel.size() == 3 && funnel[2][1].get<int>() > 0;
    };
    for (int i = 0; i < 150; ++i) {  // up to 15 s (a minute past midnight: no backfill)
        d = dashboard(client, "today");
        funnel = json::parse(client.get(funnel_path).body);
        if (enough())
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(enough()) << d.dump() << "\n" << funnel.dump();
    EXPECT_GE(d["unique_visitors"].get<int>(), 2);
    EXPECT_GE(funnel[0][1].get<int>(), funnel[1][1].get<int>());
    EXPECT_GE(funnel[1][1].get<int>(), funnel[2][1].get<int>());
    EXPECT_NE(daemon.log_text().find("demo on"), std::string::npos);

    // The backfill: today's minutes before the start have page views (when today has
    // earlier minutes to fill).
    const std::int64_t now = now_ms();
    const std::int64_t midnight = now - now % 86'400'000;
    if (now - midnight > 10 * 60'000) {
        const auto r = client.get("/timeseries/pageviews?from=" + std::to_string(midnight) +
                                  "&to=" + std::to_string(now - 2 * 60'000 - now % 60'000) +
                                  "&bucket_size=60000");
        ASSERT_EQ(r.status, 200);
        int minutes_with_views = 0;
        for (const auto& point : json::parse(r.body))
            minutes_with_views += point["value"].get<double>() > 0 ? 1 : 0;
        EXPECT_GT(minutes_with_views, 2) << r.body.substr(0, 400);
    }

    // Demo events are logged like real ones: a restart replays them all.
    const int before = dashboard(client, "today")["page_views"].get<int>();
    ASSERT_EQ(daemon.stop(), 0);
    daemon.restart();
    HttpClient again(daemon.port());
    EXPECT_GE(dashboard(again, "today")["page_views"].get<int>(), before);
}

}  // namespace
}  // namespace tally::test
