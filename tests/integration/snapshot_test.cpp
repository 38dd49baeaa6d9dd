// Snapshots in the real daemon: a restart after a snapshot and more events gives the same
// figures (every read: dashboard, time series, funnel, windows), a damaged newest snapshot
// falls back to the previous one and a longer replay, a kill -9 while snapshots are being
// written loses and doubles nothing, and retention moves old days out of memory, the log
// and the API while their weeks and months still answer from roll-ups.

#include <gtest/gtest.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "common.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"

namespace tally::test {
namespace {

namespace fs = std::filesystem;

/// A config file in `dir` setting the snapshot knobs; returns the --config arguments.
std::vector<std::string> snapshot_config(const TempDir& dir, int events, int interval_s = 0) {
    const std::string path = dir.path() + "/tallyd.json";
    std::ofstream(path) << json{{"durability",
                                 {{"snapshot_events", events},
                                  {"snapshot_interval_s", interval_s},
                                  {"snapshots_kept", 2}}}}
                               .dump();
    return {"--config", path};
}

std::vector<fs::path> snapshots(const Tallyd& daemon) {
    return durability::list_snapshots(fs::path(daemon.data_dir()) / "snapshots");
}

/// Waits (at most 15 s) until the daemon has written `count` snapshots in all (by seq).
bool wait_for_snapshots(const Tallyd& daemon, std::size_t seq) {
    for (int i = 0; i < 150; ++i) {
        const auto list = snapshots(daemon);
        if (!list.empty()) {
            const std::string name = list.front().filename().string();
            const std::size_t dash = name.rfind('-');
            if (std::stoul(name.substr(dash + 1)) >= seq)
                return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

/// Varied traffic: pages, referrers, countries, devices, users, sessions, custom events
/// (a signup funnel), numbered from `from`: count page views and count / 4 custom events.
/// As one /track/batch when `batch` (counted at once: a snapshot has all or none of it),
/// else one request per event.
void send_traffic(HttpClient& client, int from, int count, bool batch) {
    json items = json::array();
    for (int i = from; i < from + count; ++i) {
        json body = {{"type", "pageview"},
                     {"page_url", "https://example.com/p" + std::to_string(i % 7)},
                     {"session_id", "s" + std::to_string(i % 23)},
                     {"referrer", "https://r" + std::to_string(i % 4) + ".example/x"},
                     {"country", i % 3 == 0 ? "DE" : "FR"},
                     {"device_type", i % 2 == 0 ? "mobile" : "desktop"}};
        if (i % 5 != 0)
            body["user_id"] = "u" + std::to_string(i % 11);
        items.push_back(body);
        if (i % 4 == 0) {
            items.push_back({{"type", "event"},
                             {"event_name", i % 8 == 0 ? "signup" : "purchase"},
                             {"session_id", "s" + std::to_string(i % 23)}});
        }
    }
    if (batch) {
        auto r = client.post("/track/batch", items.dump());
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(json::parse(r.body)["accepted"], items.size()) << r.body;
        return;
    }
    for (json& item : items) {
        const bool pageview = item["type"] == "pageview";
        item.erase("type");
        auto r = client.post(pageview ? "/track/pageview" : "/track/event", item.dump());
        ASSERT_EQ(r.status, 200) << r.body;
    }
}

/// Every read a dashboard makes of today, as one JSON value.
json figures(HttpClient& client) {
    json all;
    all["dashboard"] = dashboard(client, "today");
    const std::int64_t day = day_of(now_ms()) * kMsPerDay;
    const std::string range =
        "from=" + std::to_string(day) + "&to=" + std::to_string(day + kMsPerDay);
    all["pageviews"] =
        json::parse(client.get("/timeseries/pageviews?" + range + "&bucket_size=60000").body);
    all["signups"] =
        json::parse(client.get("/timeseries/events:signup?" + range + "&bucket_size=60000").body);
    all["funnel"] = json::parse(client.get("/funnel?steps=pageview:/p0,signup,purchase").body);
    all["funnel2"] = json::parse(client.get("/funnel?steps=pageview:/p1,pageview:/p2").body);
    all["active"] = json::parse(client.get("/api/v1/dashboard/active-users").body);
    all["pages15"] = json::parse(client.get("/api/v1/dashboard/page-views").body);
    return all;
}

/// The last "recovery: ..." line of the daemon's log.
std::string last_recovery(const Tallyd& daemon) {
    const std::string log = daemon.log_text();
    const std::size_t at = log.rfind("recovery: ");
    return at == std::string::npos ? "" : log.substr(at, log.find('\n', at) - at);
}

std::uint64_t replayed(const Tallyd& daemon) {
    std::smatch m;
    const std::string line = last_recovery(daemon);
    if (!std::regex_search(line, m, std::regex("replayed (\\d+) event")))
        return UINT64_MAX;
    return std::stoull(m[1]);
}

TEST(Snapshots, RestartAfterASnapshotAndMoreEventsKeepsEveryFigure) {
    TempDir config;
    Tallyd daemon(snapshot_config(config, 100));
    json before;
    {
        HttpClient client(daemon.port());
        send_traffic(client, 0, 100, true);  // 125 events: one snapshot
        ASSERT_TRUE(wait_for_snapshots(daemon, 1)) << daemon.log_text();
        send_traffic(client, 100, 40, false);  // 50 more, fewer than the next snapshot's 100
        before = figures(client);
        ASSERT_EQ(before["dashboard"]["page_views"], 140);
        // Every figure has something in it to lose.
        ASSERT_GT(before["funnel"][2][1], 0) << before["funnel"];
        ASSERT_GT(before["funnel2"][1][1], 0) << before["funnel2"];
        ASSERT_EQ(before["dashboard"]["events"]["signup"], 18);
        ASSERT_GT(before["active"].size(), 0u);
        ASSERT_GT(before["pages15"].size(), 0u);
    }
    ASSERT_EQ(snapshots(daemon).size(), 1u);
    daemon.stop(SIGKILL);  // no shutdown snapshot: the newest is the one at 125 events
    daemon.restart();
    {
        HttpClient client(daemon.port());
        EXPECT_EQ(figures(client), before);
    }
    EXPECT_NE(last_recovery(daemon).find(snapshots(daemon).front().filename().string()),
              std::string::npos)
        << last_recovery(daemon);
    EXPECT_EQ(replayed(daemon), 50u) << last_recovery(daemon);

    // A clean stop snapshots everything: the next start replays nothing.
    EXPECT_EQ(daemon.stop(), 0);
    daemon.restart();
    HttpClient client(daemon.port());
    EXPECT_EQ(figures(client), before);
    EXPECT_EQ(replayed(daemon), 0u) << last_recovery(daemon);
    EXPECT_EQ(snapshots(daemon).size(), 2u);  // snapshots_kept
}

TEST(Snapshots, DamagedNewestSnapshotFallsBackToThePreviousAndALongerReplay) {
    TempDir config;
    Tallyd daemon(snapshot_config(config, 50));
    json before;
    {
        HttpClient client(daemon.port());
        send_traffic(client, 0, 40, true);  // 50 events
        ASSERT_TRUE(wait_for_snapshots(daemon, 1)) << daemon.log_text();
        send_traffic(client, 40, 40, true);  // 50 more
        ASSERT_TRUE(wait_for_snapshots(daemon, 2)) << daemon.log_text();
        send_traffic(client, 80, 8, false);  // 10 more
        before = figures(client);
    }
    daemon.stop(SIGKILL);
    const auto list = snapshots(daemon);
    ASSERT_EQ(list.size(), 2u);
    {
        // Flip bytes in the middle of the newest.
        std::fstream f(list[0], std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(list[0]) / 2));
        f.write("\xde\xad\xbe\xef", 4);
    }
    daemon.restart();
    HttpClient client(daemon.port());
    EXPECT_EQ(figures(client), before);
    EXPECT_NE(last_recovery(daemon).find(list[1].filename().string()), std::string::npos)
        << last_recovery(daemon);
    EXPECT_EQ(replayed(daemon), 60u) << last_recovery(daemon);
    EXPECT_NE(daemon.log_text().find("is damaged"), std::string::npos);
    // Moved aside, so it no longer counts among the kept snapshots.
    fs::path aside = list[0];
    aside += ".damaged";
    EXPECT_TRUE(fs::exists(aside));
    EXPECT_EQ(snapshots(daemon), std::vector<fs::path>{list[1]});
}

TEST(Snapshots, KillDuringSnapshotsLosesAndDoublesNothing) {
    TempDir config;
    // A snapshot every second while events for several sites flow from two connections
    // (both I/O threads), and a kill at various points of that.
    Tallyd daemon(snapshot_config(config, 1));
    constexpr int kSites = 4;
    std::array<std::atomic<std::uint64_t>, kSites> answered{};
    for (int round = 0; round < 3; ++round) {
        const auto until =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(1300 + 350 * round);
        auto send = [&](int from) {
            HttpClient client(daemon.port());
            for (int i = from; std::chrono::steady_clock::now() < until; i += 2) {
                json body = {{"page_url", "/k" + std::to_string(i % 5)},
                             {"session_id", "s" + std::to_string(i)},
                             {"site", "k" + std::to_string(i % kSites)}};
                if (client.post("/track/pageview", body.dump()).status == 200)
                    ++answered[static_cast<std::size_t>(i % kSites)];
            }
        };
        std::thread a(send, 0), b(send, 1);
        a.join();
        b.join();
        daemon.stop(SIGKILL);
        // What a kill in the middle of a write leaves: a partial temp file.
        const fs::path dir = fs::path(daemon.data_dir()) / "snapshots";
        const auto list = snapshots(daemon);
        if (!list.empty()) {
            const std::string half(fs::file_size(list[0]) / 2, 'x');
            std::ofstream(dir / "snapshot-1.tmp", std::ios::binary) << half;
        }
        daemon.restart();
        HttpClient client(daemon.port());
        for (int site = 0; site < kSites; ++site) {
            EXPECT_EQ(dashboard(client, "today", "k" + std::to_string(site))["page_views"],
                      answered[static_cast<std::size_t>(site)].load())
                << "round " << round << ", site k" << site;
        }
    }
    EXPECT_GE(snapshots(daemon).size(), 1u);
}

// Retention, on a data dir made as an old daemon would have left it: a snapshot holding a
// day 40 days ago (its log segment already before the snapshot's position), yesterday,
// and a day 500 days ago whose roll-ups are past rollup_retention_days.
TEST(Retention, OldDaysLeaveMemoryDiskAndTheApiButTheirWeeksAndMonthsStillAnswer) {
    Tallyd daemon;
    daemon.stop();
    const fs::path data = daemon.data_dir();
    fs::remove_all(data / "snapshots");
    fs::remove_all(data / "log");

    const std::int64_t today = day_of(now_ms());
    const std::int64_t old_day = today - 40;
    const std::int64_t ancient = today - 500;
    store::Store store(store::StoreOptions{1, 1000, 1000, 10'000});
    durability::EventLog log(durability::EventLogOptions{data / "log", 1});
    log.open();
    auto add = [&](std::int64_t day, int n) {
        for (int i = 0; i < n; ++i) {
            Event e;
            e.site = "default";
            e.page = "/old" + std::to_string(i % 3);
            e.referrer = "direct";
            e.session_id = "s" + std::to_string(i);
            e.visitor_id = "v" + std::to_string(i % 4);
            e.timestamp_ms = day * kMsPerDay + 3'600'000 + i;
            ASSERT_TRUE(log.append(0, &e, 1));
            store.apply(0, e, now_ms());
        }
    };
    add(ancient, 3);
    add(old_day, 5);
    add(today - 1, 7);
    const durability::LogPosition end = log.end_position(0);
    ASSERT_EQ(end.segment, 1u);
    // The snapshot holds all of segment 1 and says writer 0 goes on in segment 2.
    durability::write_snapshot(store, durability::SnapshotMeta{now_ms(), {{2, 0}}, 0},
                               data / "snapshots", 2);

    auto week_of = [](std::int64_t day) {
        const std::int64_t monday = store::period_start(store::Period::week, day);
        int year = 0;
        unsigned month = 0, dom = 0;
        civil_from_days(monday + 3, year, month, dom);  // its Thursday's year
        const std::int64_t week1 =
            store::period_start(store::Period::week, days_from_civil(year, 1, 4));
        const int week = static_cast<int>((monday - week1) / 7) + 1;
        char label[48];
        std::snprintf(label, sizeof(label), "%04d-W%02d", year, week);
        return std::string(label);
    };
    const std::string old_date = format_day(old_day);
    const std::string old_month = old_date.substr(0, 7);

    daemon.restart();
    HttpClient client(daemon.port());
    // The day left the API: it answers as a day never seen.
    json old = dashboard(client, old_date);
    json never = dashboard(client, format_day(today - 1000));
    never["date"] = old_date;
    EXPECT_EQ(old, never);
    EXPECT_EQ(old["page_views"], 0);
    // Its week and month answer from the roll-ups, with merged uniques and top lists.
    for (const std::string& period : {week_of(old_day), old_month}) {
        json d = dashboard(client, period);
        EXPECT_EQ(d["page_views"], 5) << period;
        EXPECT_EQ(d["unique_visitors"], 4) << period;
        EXPECT_EQ(d["top_pages"], json::parse(R"([["/old0",2],["/old1",2],["/old2",1]])"))
            << period;
    }
    // Past rollup_retention_days: nothing.
    EXPECT_EQ(dashboard(client, week_of(ancient))["page_views"], 0);
    EXPECT_EQ(dashboard(client, format_day(ancient).substr(0, 7))["page_views"], 0);
    // Yesterday stays.
    EXPECT_EQ(dashboard(client, format_day(today - 1))["page_views"], 7);

    // Memory: one day state (yesterday's) and two roll-ups (the old day's week and month).
    const std::string metrics = client.get("/metrics").body;
    EXPECT_NE(metrics.find("tally_day_states 1\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("tally_rollups 2\n"), std::string::npos) << metrics;
    // Disk: the segment also holds yesterday's events, so it stays (the next test has one
    // that goes).
    EXPECT_TRUE(fs::exists(data / "log" / "w0-00000001.log"));

    // The roll-ups survive a restart (they are in the shutdown snapshot).
    EXPECT_EQ(daemon.stop(), 0);
    daemon.restart();
    HttpClient again(daemon.port());
    EXPECT_EQ(dashboard(again, old_month)["page_views"], 5);
    EXPECT_EQ(dashboard(again, old_date)["page_views"], 0);
}

TEST(Retention, LogSegmentsOfOnlyOldEventsBeforeEveryKeptSnapshotAreDeleted) {
    Tallyd daemon;
    daemon.stop();
    const fs::path data = daemon.data_dir();
    fs::remove_all(data / "snapshots");
    fs::remove_all(data / "log");

    const std::int64_t today = day_of(now_ms());
    store::Store store(store::StoreOptions{1, 1000, 1000, 10'000});
    {
        // Writer 0: segment 1 old events only, segment 2 recent ones; writer 1: old only,
        // but the snapshot's position is inside its segment 1, so it stays.
        durability::EventLog log(durability::EventLogOptions{
            data / "log", 2, durability::FsyncMode::never, std::chrono::milliseconds(100), 1});
        log.open();
        Event e;
        e.site = "default";
        e.page = "/";
        e.referrer = "direct";
        e.session_id = "s";
        e.visitor_id = "v";
        e.timestamp_ms = (today - 45) * kMsPerDay;
        ASSERT_TRUE(log.append(0, &e, 1));  // segment 1 (segment_bytes 1: the next rotates)
        ASSERT_TRUE(log.append(1, &e, 1));
        store.apply(0, e, now_ms());
        store.apply(1, e, now_ms());
        e.timestamp_ms = (today - 1) * kMsPerDay;
        ASSERT_TRUE(log.append(0, &e, 1));  // segment 2
        store.apply(0, e, now_ms());
        ASSERT_EQ(log.end_position(0).segment, 2u);
        ASSERT_EQ(log.end_position(1).segment, 1u);
        durability::write_snapshot(
            store,
            durability::SnapshotMeta{now_ms(), {log.end_position(0), log.end_position(1)}, 0},
            data / "snapshots", 2);
    }
    daemon.restart();
    HttpClient client(daemon.port());
    EXPECT_FALSE(fs::exists(data / "log" / "w0-00000001.log"));  // old, before the snapshot
    EXPECT_TRUE(fs::exists(data / "log" / "w0-00000002.log"));   // the snapshot's own
    EXPECT_TRUE(fs::exists(data / "log" / "w1-00000001.log"));   // the snapshot is inside it
    EXPECT_NE(daemon.log_text().find("removed log segment w0-00000001.log"), std::string::npos);
    EXPECT_EQ(dashboard(client, format_day(today - 1))["page_views"], 1);
}

}  // namespace
}  // namespace tally::test
