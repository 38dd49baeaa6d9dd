// GET /ws: snapshot then deltas, against the real tallyd. The invariant under test: a
// client that applies the deltas to its snapshot holds exactly what /dashboard says.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "common.hpp"
#include "support/ws_client.hpp"

namespace tally::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using WsHeaders = std::vector<std::pair<std::string, std::string>>;

constexpr int kBatchMs = 100;  // live.batch_ms, the default

/// What a dashboard client holds: the snapshot with the deltas applied.
class LiveState {
  public:
    /// Applies one frame; returns its type. Deltas for another (site, date) than the last
    /// snapshot's (sent before a resubscription took effect) are skipped.
    std::string apply(const json& frame) {
        const std::string type = frame.at("type");
        if (type == "snapshot") {
            metrics_ = frame.at("metrics");
            site_ = frame.at("site");
            date_ = frame.at("date");
            seq_ = frame.at("seq");
            lists_.clear();
            for (const char* list : {"top_pages", "top_referrers", "countries"}) {
                for (const auto& entry : metrics_[list])
                    lists_[list][entry[0]] = entry[1];
            }
            ++snapshots_;
            return type;
        }
        if (type != "delta" || frame.at("site") != site_ || frame.at("date") != date_)
            return type;
        if (frame.at("seq") != seq_ + 1)
            ++seq_gaps_;
        seq_ = frame.at("seq");
        ++deltas_;
        if (frame.contains("page_views"))
            metrics_["page_views"] = metrics_["page_views"].get<std::uint64_t>() +
                                     frame["page_views"].get<std::uint64_t>();
        if (frame.contains("devices")) {
            for (auto& [name, n] : frame["devices"].items())
                metrics_["devices"][name] =
                    metrics_["devices"][name].get<std::uint64_t>() + n.get<std::uint64_t>();
        }
        if (frame.contains("events")) {
            for (auto& [name, n] : frame["events"].items()) {
                const std::uint64_t had = metrics_["events"].contains(name)
                                              ? metrics_["events"][name].get<std::uint64_t>()
                                              : 0;
                metrics_["events"][name] = had + n.get<std::uint64_t>();
            }
        }
        const std::pair<const char*, const char*> lists[] = {
            {"pages", "top_pages"}, {"referrers", "top_referrers"}, {"countries", "countries"}};
        for (const auto& [in_frame, in_metrics] : lists) {
            if (!frame.contains(in_frame))
                continue;
            auto& members = lists_[in_metrics];
            for (const auto& entry : frame[in_frame])
                members[entry[0]] = entry[1];
            metrics_[in_metrics] = top10(members);
        }
        for (const char* absolute : {"unique_visitors", "unique_sessions", "real_time_users"}) {
            if (frame.contains(absolute))
                metrics_[absolute] = frame[absolute];
        }
        // As /dashboard has it: present only while true.
        if (frame.value("real_time_users_capped", false))
            metrics_["real_time_users_capped"] = true;
        else if (frame.contains("real_time_users_capped"))
            metrics_.erase("real_time_users_capped");
        if (frame.contains("recent"))
            recent_ += frame["recent"].size();
        return type;
    }

    const json& metrics() const { return metrics_; }
    int seq_gaps() const { return seq_gaps_; }
    int deltas() const { return deltas_; }
    int snapshots() const { return snapshots_; }
    std::size_t recent() const { return recent_; }

  private:
    /// The dashboard's top list: 10 entries, count descending, ties by name ascending. The
    /// client keeps only those (counts only grow, so nothing else can come back unseen).
    static json top10(std::map<std::string, std::uint64_t>& members) {
        std::vector<std::pair<std::string, std::uint64_t>> v(members.begin(), members.end());
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
            return a.second != b.second ? a.second > b.second : a.first < b.first;
        });
        if (v.size() > 10)
            v.resize(10);
        members = {v.begin(), v.end()};
        json out = json::array();
        for (const auto& [name, n] : v)
            out.push_back({name, n});
        return out;
    }

    json metrics_;
    std::string site_, date_;
    std::uint64_t seq_ = 0;
    std::map<std::string, std::map<std::string, std::uint64_t>> lists_;
    int seq_gaps_ = 0, deltas_ = 0, snapshots_ = 0;
    std::size_t recent_ = 0;
};

/// Reads and applies frames until none has come for `quiet` (or `limit` passed).
void drain(WsClient& ws, LiveState& state, milliseconds quiet = milliseconds(3 * kBatchMs),
           milliseconds limit = milliseconds(15'000)) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        auto frame = ws.read(quiet);
        if (!frame)
            return;
        state.apply(json::parse(*frame));
    }
}

/// The ISO week label (YYYY-Www) of day number `day`.
std::string iso_week(std::int64_t day) {
    const std::int64_t weekday = ((day + 3) % 7 + 7) % 7;  // Monday = 0; day 0 was a Thursday
    const std::int64_t thursday = day - weekday + 3;       // its week's year is the Thursday's
    const int year = std::stoi(format_day(thursday).substr(0, 4));
    const std::int64_t week = (thursday - days_from_civil(year, 1, 1)) / 7 + 1;
    char label[16];
    std::snprintf(label, sizeof label, "%04d-W%02d", year, static_cast<int>(week));
    return label;
}

json batch_items(int thread, int round, int n) {
    static const char* devices[] = {"desktop", "mobile", "tablet"};
    static const char* countries[] = {"US", "DE", "FR", "JP", "BR", ""};
    json items = json::array();
    for (int i = 0; i < n; ++i) {
        const int k = thread * 7919 + round * 131 + i;
        if (k % 10 == 0) {
            items.push_back({{"type", "event"},
                             {"event_name", "ev" + std::to_string(k % 4)},
                             {"session_id", "s" + std::to_string(k % 97)}});
            continue;
        }
        json item = {{"type", "pageview"},
                     {"page_url", "/p" + std::to_string((k * k) % 37)},
                     {"referrer", "https://r" + std::to_string(k % 13) + ".example/"},
                     {"device_type", devices[k % 3]},
                     {"session_id", "s" + std::to_string(k % 97)},
                     {"user_id", "u" + std::to_string(k % 53)}};
        if (*countries[k % 6] != '\0')
            item["country"] = countries[k % 6];
        items.push_back(item);
    }
    return items;
}

using Live = DaemonTest;

TEST_F(Live, SnapshotEqualsDashboard) {
    send({{"page_url", "/a"}, {"session_id", "s1"}, {"country", "US"}});
    send({{"page_url", "/b"}, {"session_id", "s2"}, {"device_type", "mobile"}});
    send({{"event_name", "signup"}, {"session_id", "s2"}}, "/track/event");
    WsClient ws(daemon.port());
    ASSERT_TRUE(ws.connected());
    EXPECT_EQ(ws.status(), 101);
    auto frame = ws.read(milliseconds(2000));
    ASSERT_TRUE(frame);
    json f = json::parse(*frame);
    EXPECT_EQ(f["type"], "snapshot");
    EXPECT_EQ(f["site"], "default");
    EXPECT_EQ(f["date"], today());
    EXPECT_EQ(f["metrics"], dashboard(client, "today"));
    EXPECT_EQ(f["metrics"]["page_views"], 2);
}

TEST_F(Live, AFollowedPropertyBreakdownComesInTheSnapshotAndAgainWhenItsEventIsCounted) {
    auto signup = [&](const char* plan, const char* user) {
        send({{"event_name", "signup"},
              {"user_id", user},
              {"session_id", user},
              {"properties", {{"plan", plan}}}},
             "/track/event");
    };
    signup("pro", "u1");
    WsClient ws(daemon.port(), "/ws?props=signup");
    ASSERT_TRUE(ws.connected());
    auto frame = ws.read(milliseconds(2000));
    ASSERT_TRUE(frame);
    json f = json::parse(*frame);
    ASSERT_EQ(f["type"], "snapshot");
    const auto props = client.get("/dashboard/today?props=signup");
    EXPECT_EQ(f["metrics"], json::parse(props.body));
    EXPECT_EQ(f["metrics"]["properties"]["keys"][0]["values"][0]["count"], 1);

    signup("free", "u2");
    signup("free", "u3");
    json properties;
    for (int i = 0; i < 20 && properties.is_null(); ++i) {
        frame = ws.read(milliseconds(2000));
        ASSERT_TRUE(frame);
        f = json::parse(*frame);
        if (f["type"] == "delta" && f.contains("properties"))
            properties = f["properties"];
    }
    EXPECT_EQ(properties,
              json::parse(client.get("/dashboard/today?props=signup").body)["properties"]);
    EXPECT_EQ(properties["keys"][0]["values"][0],
              json::parse(R"({"value":"free","count":2,"visitors":2})"));
    // A page view does not touch the signup breakdown: its delta carries none.
    send({{"page_url", "/a"}, {"session_id", "s9"}});
    frame = ws.read(milliseconds(2000));
    ASSERT_TRUE(frame);
    f = json::parse(*frame);
    EXPECT_EQ(f["page_views"], 1);
    EXPECT_FALSE(f.contains("properties"));
    WsClient bad(daemon.port(), "/ws?props=no%20such");
    EXPECT_EQ(bad.status(), 400);
}

TEST_F(Live, DeltasAfterBurstsAddUpToDashboard) {
    send({{"page_url", "/first"}, {"session_id", "s0"}});
    WsClient ws(daemon.port());
    ASSERT_TRUE(ws.connected());
    LiveState state;
    auto first = ws.read(milliseconds(2000));
    ASSERT_TRUE(first);
    ASSERT_EQ(state.apply(json::parse(*first)), "snapshot");
    // A client that reads nothing during the burst: it lags, frames are dropped for it, and
    // it is resynchronised by a snapshot.
    WsClient lazy(daemon.port(), "/ws", {}, 4096);
    ASSERT_TRUE(lazy.connected());

    // Four HTTP clients, 5,000 events each, while this client keeps reading.
    std::atomic<int> failures{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < 4; ++t) {
        senders.emplace_back([&, t] {
            HttpClient c(daemon.port());
            for (int round = 0; round < 25; ++round) {
                if (c.post("/track/batch", batch_items(t, round, 200).dump()).status != 200)
                    ++failures;
                if (round % 5 == 0 &&
                    c.post("/track/pageview", pageview({{"page_url", "/single"}})).status != 200)
                    ++failures;
            }
        });
    }
    std::atomic<bool> sent{false};
    std::thread joiner([&] {
        for (auto& s : senders)
            s.join();
        sent = true;
    });
    const auto end = Clock::now() + milliseconds(60'000);
    while (!sent && Clock::now() < end) {
        if (auto frame = ws.read(milliseconds(50)))
            state.apply(json::parse(*frame));
    }
    joiner.join();
    EXPECT_EQ(failures, 0);
    drain(ws, state);

    const json expected = dashboard(client, "today");
    EXPECT_EQ(expected["page_views"].get<int>(), 1 + 4 * (25 * 180 + 5));
    EXPECT_EQ(state.metrics(), expected);
    EXPECT_EQ(state.seq_gaps(), 0);
    EXPECT_GT(state.deltas(), 0);
    EXPECT_GT(state.recent(), 0u);

    LiveState lazy_state;
    drain(lazy, lazy_state);
    EXPECT_EQ(lazy_state.metrics(), expected);
    // How often it was resynchronised (1 = only its first snapshot), for the record.
    RecordProperty("lazy_snapshots", lazy_state.snapshots());
}

TEST_F(Live, EventToDeltaWithinBatchInterval) {
    WsClient ws(daemon.port());
    ASSERT_TRUE(ws.connected());
    LiveState state;
    drain(ws, state);
    ASSERT_EQ(state.snapshots(), 1);
    std::vector<double> latencies;
    for (int i = 0; i < 7; ++i) {
        const auto sent = Clock::now();
        send({{"page_url", "/lat"}, {"session_id", "s" + std::to_string(i)}});
        auto frame = ws.read(milliseconds(2000));
        ASSERT_TRUE(frame);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
        json f = json::parse(*frame);
        EXPECT_EQ(f["type"], "delta");
        EXPECT_EQ(f["page_views"], 1);
        ASSERT_EQ(f["recent"].size(), 1u);
        EXPECT_EQ(f["recent"][0]["page"], "/lat");
        latencies.push_back(ms);
        std::this_thread::sleep_for(milliseconds(37 * (i + 1) % kBatchMs));
    }
    std::sort(latencies.begin(), latencies.end());
    // The median, so that one scheduling hiccup on a shared machine does not fail the test.
    EXPECT_LT(latencies[latencies.size() / 2], kBatchMs + 50);
}

TEST_F(Live, AtMostOneDeltaPerBatchInterval) {
    WsClient ws(daemon.port());
    LiveState state;
    drain(ws, state);
    std::atomic<bool> stop{false};
    std::thread sender([&] {
        HttpClient c(daemon.port());
        while (!stop)
            c.post("/track/pageview", pageview());
    });
    int deltas = 0;
    const auto start = Clock::now();
    while (Clock::now() - start < milliseconds(2000)) {
        if (auto frame = ws.read(milliseconds(50)); frame && json::parse(*frame)["type"] == "delta")
            ++deltas;
    }
    const double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    stop = true;
    sender.join();
    EXPECT_GT(deltas, 5);
    EXPECT_LE(deltas, static_cast<int>(elapsed / kBatchMs) + 2);
}

TEST_F(Live, SubscribeSwitchesSiteAndDate) {
    send({{"page_url", "/x"}, {"session_id", "s1"}, {"site", "shop"}});
    const std::int64_t yesterday_ms = now_ms() - 86'400'000;
    const std::string yesterday = format_day(day_of(yesterday_ms));
    send({{"page_url", "/old"}, {"session_id", "s2"}, {"timestamp", iso(yesterday_ms)}});

    WsClient ws(daemon.port(), "/ws?site=shop");
    LiveState state;
    drain(ws, state);
    EXPECT_EQ(state.metrics(), dashboard(client, "today", "shop"));

    // Nonsense is ignored; the connection stays.
    ws.send("not json");
    ws.send(R"({"type":"subscribe","site":42})");
    ws.send(R"({"type":"subscribe","site":"no/slash"})");
    ws.send(R"({"type":"subscribe","site":"default","date":"2026-W60"})");
    ws.send(R"({"type":"subscribe","site":"default","date":")" + yesterday + "\"}");
    drain(ws, state);
    EXPECT_EQ(state.snapshots(), 2);
    EXPECT_EQ(state.metrics()["date"], yesterday);
    EXPECT_EQ(state.metrics(), dashboard(client, yesterday));
    EXPECT_EQ(state.metrics()["top_pages"][0][0], "/old");

    // Events of the subscribed day arrive as deltas.
    send({{"page_url", "/old2"}, {"session_id", "s3"}, {"timestamp", iso(yesterday_ms)}});
    drain(ws, state);
    EXPECT_EQ(state.metrics(), dashboard(client, yesterday));

    ws.send(R"({"type":"subscribe","site":"shop","date":"today"})");
    send({{"page_url", "/y"}, {"session_id", "s4"}, {"site", "shop"}});
    drain(ws, state);
    EXPECT_EQ(state.snapshots(), 3);
    EXPECT_EQ(state.metrics(), dashboard(client, "today", "shop"));
}

TEST_F(Live, NeverReadingClientBlocksNobody) {
    // Connected, handshake done, never reads: its socket buffers fill within a few frames.
    WsClient stuck(daemon.port(), "/ws", {}, 4096);
    ASSERT_TRUE(stuck.connected());
    WsClient ws(daemon.port());
    LiveState state;
    drain(ws, state);

    const auto start = Clock::now();
    HttpClient c(daemon.port());
    // 80 rounds over the same 2,500 long pages (made by the first 10 rounds), so the store
    // stops growing early and what is left to grow is what is held for the stuck client:
    // every frame is about 200 KB, 16 MB in all had they been queued.
    long rss_warm = 0;
    std::vector<double> latencies;
    for (int round = 0; round < 80; ++round) {
        json items = json::array();
        for (int i = 0; i < 250; ++i) {
            // Long distinct pages make large deltas.
            items.push_back({{"type", "pageview"},
                             {"page_url", "/" + std::string(800, 'a' + round % 10) +
                                              std::to_string((round % 10) * 1000 + i)},
                             {"session_id", "s" + std::to_string(i)}});
        }
        const auto sent = Clock::now();
        ASSERT_EQ(c.post("/track/batch", items.dump()).status, 200);
        // The reading client still gets each burst within about a batch.
        if (auto frame = ws.read(milliseconds(2'000))) {
            latencies.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
            state.apply(json::parse(*frame));
        }
        while (auto frame = ws.read(milliseconds(5)))
            state.apply(json::parse(*frame));
        if (round == 19)
            rss_warm = rss_kib(daemon.pid());
    }
    const long rss_end = rss_kib(daemon.pid());
    ASSERT_GT(rss_warm, 0);
    RecordProperty("rss_warm_kib", static_cast<int>(rss_warm));
    RecordProperty("rss_end_kib", static_cast<int>(rss_end));
    if (kRssMeaningful) {
        EXPECT_LT(rss_end - rss_warm, 8 * 1024) << rss_warm << " KiB -> " << rss_end << " KiB";
    }
    ASSERT_GE(latencies.size(), 70u);
    std::sort(latencies.begin(), latencies.end());
    EXPECT_LT(latencies[latencies.size() / 2], kBatchMs + 100);
    const double ingest_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    EXPECT_LT(ingest_ms, 20'000);
    drain(ws, state);
    EXPECT_EQ(state.metrics(), dashboard(client, "today"));
    EXPECT_EQ(state.seq_gaps(), 0);
    // Live traffic still flows to the reading client within about a batch.
    const auto sent = Clock::now();
    send({{"page_url", "/after"}, {"session_id", "z"}});
    ASSERT_TRUE(ws.read(milliseconds(2000)));
    EXPECT_LT(Clock::now() - sent, milliseconds(1000));

    // The stuck client, reading at last, was resynchronised by snapshots: what it ends with
    // is the dashboard too.
    LiveState stuck_state;
    drain(stuck, stuck_state);
    EXPECT_EQ(stuck_state.metrics(), dashboard(client, "today"));
    EXPECT_GE(stuck_state.snapshots(), 2);
    RecordProperty("stuck_snapshots", stuck_state.snapshots());
}

/// Bursts of batches from `threads` HTTP clients while `ws` keeps reading into `state`;
/// every third item is stamped `stamp_ms` (another day, say) when it is not 0.
void burst(int port, WsClient& ws, LiveState& state, int threads, int rounds,
           std::int64_t stamp_ms) {
    std::atomic<int> failures{0};
    std::atomic<int> done{0};
    std::vector<std::thread> senders;
    for (int t = 0; t < threads; ++t) {
        senders.emplace_back([&, t] {
            HttpClient c(port);
            for (int round = 0; round < rounds; ++round) {
                json items = batch_items(t, round, 200);
                for (std::size_t i = 0; stamp_ms != 0 && i < items.size(); i += 3)
                    items[i]["timestamp"] = iso(stamp_ms);
                if (c.post("/track/batch", items.dump()).status != 200)
                    ++failures;
            }
            ++done;
        });
    }
    const auto end = Clock::now() + milliseconds(60'000);
    while (done < threads && Clock::now() < end) {
        if (auto frame = ws.read(milliseconds(50)))
            state.apply(json::parse(*frame));
    }
    for (auto& s : senders)
        s.join();
    EXPECT_EQ(failures, 0);
    drain(ws, state);
}

TEST_F(Live, WeekAndMonthDeltasAddUpToDashboard) {
    const std::int64_t now = now_ms();
    const std::int64_t day = day_of(now);
    const std::string week = iso_week(day);
    const std::string month = today().substr(0, 7);
    // Yesterday is in this week or month, or not: either way /dashboard says which.
    const std::int64_t yesterday_ms = now - 86'400'000;
    send({{"page_url", "/w"}, {"session_id", "s1"}, {"country", "US"}});
    send({{"page_url", "/y"}, {"session_id", "s2"}, {"timestamp", iso(yesterday_ms)}});

    WsClient ws(daemon.port(), "/ws?date=" + week);
    ASSERT_TRUE(ws.connected());
    LiveState state;
    drain(ws, state);
    ASSERT_EQ(state.snapshots(), 1);
    EXPECT_EQ(state.metrics()["date"], week);
    EXPECT_EQ(state.metrics(), dashboard(client, week));

    burst(daemon.port(), ws, state, 3, 10, yesterday_ms);
    const json week_dashboard = dashboard(client, week);
    EXPECT_GE(week_dashboard["page_views"].get<int>(), 3 * 10 * 120);
    EXPECT_EQ(state.metrics(), week_dashboard);
    EXPECT_EQ(state.seq_gaps(), 0);
    EXPECT_GT(state.deltas(), 0);
    EXPECT_GT(state.recent(), 0u);

    ws.send(R"({"type":"subscribe","date":")" + month + "\"}");
    drain(ws, state);
    EXPECT_EQ(state.snapshots(), 2);
    EXPECT_EQ(state.metrics(), dashboard(client, month));
    burst(daemon.port(), ws, state, 2, 10, yesterday_ms);
    EXPECT_EQ(state.metrics(), dashboard(client, month));
    EXPECT_EQ(state.seq_gaps(), 0);

    // A week that is not this one: its figures are all of another time, and only events
    // of its days move it.
    const std::string old_week = iso_week(day - 14);
    ws.send(R"({"type":"subscribe","date":")" + old_week + "\"}");
    drain(ws, state);
    EXPECT_EQ(state.metrics(), dashboard(client, old_week));
    EXPECT_EQ(state.metrics()["page_views"], 0);
    const int deltas = state.deltas();
    send({{"page_url", "/now"}, {"session_id", "s9"}});
    drain(ws, state);
    EXPECT_EQ(state.deltas(), deltas);

    // A bad range is refused at the upgrade.
    WsClient bad(daemon.port(), "/ws?date=2026-W60");
    EXPECT_FALSE(bad.connected());
    EXPECT_EQ(bad.status(), 400);
}

TEST_F(Live, RealTimeUsersFallAsSessionsAgeOutWithNoEvent) {
    // real_time_users counts sessions whose latest event lies in the last 5 minutes, counted
    // by the minute: a session last seen in the oldest minute of the window leaves it at the
    // next minute boundary. Far from the boundary, so the event is surely counted first.
    if (60'000 - now_ms() % 60'000 < 4'000)
        std::this_thread::sleep_for(milliseconds(4'000));
    const std::int64_t minute = now_ms() / 60'000;
    const std::int64_t boundary_ms = (minute + 1) * 60'000;
    send({{"page_url", "/old"}, {"session_id", "old"}, {"timestamp", iso((minute - 4) * 60'000)}});
    send({{"page_url", "/new"}, {"session_id", "new"}});

    WsClient ws(daemon.port());
    LiveState state;
    drain(ws, state);
    ASSERT_EQ(state.metrics()["real_time_users"], 2);

    // No more events. Within about a second of the boundary a delta says 1.
    std::optional<std::int64_t> seen_ms;
    const auto end = Clock::now() + milliseconds(boundary_ms - now_ms() + 5'000);
    while (!seen_ms && Clock::now() < end) {
        auto frame = ws.read(milliseconds(500));
        if (!frame)
            continue;
        const json f = json::parse(*frame);
        EXPECT_EQ(f["type"], "delta");
        EXPECT_FALSE(f.contains("page_views"));
        state.apply(f);
        if (state.metrics()["real_time_users"] == 1)
            seen_ms = now_ms();
    }
    ASSERT_TRUE(seen_ms);
    EXPECT_GE(*seen_ms, boundary_ms);
    EXPECT_LT(*seen_ms, boundary_ms + 1'000 + 2 * kBatchMs + 300);
    EXPECT_EQ(state.seq_gaps(), 0);
    EXPECT_EQ(state.metrics(), dashboard(client, "today"));
    // And nothing more while nothing changes.
    EXPECT_FALSE(ws.read(milliseconds(1'500)));
}

TEST(LivePing, ReadingClientIsPingedAndStays) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"live":{"idle_timeout_ms":600}})";
    Tallyd daemon({"--config", config});
    // This client reads, which answers the server's pings (Beast pongs while reading), and
    // never sends a message of its own: only the pongs keep it alive past 600 ms.
    WsClient reader(daemon.port());
    WsClient silent(daemon.port());
    ASSERT_TRUE(reader.connected());
    LiveState state;
    const auto end = Clock::now() + milliseconds(2'500);
    while (Clock::now() < end) {
        if (auto frame = reader.read(milliseconds(100)))
            state.apply(json::parse(*frame));
    }
    EXPECT_TRUE(reader.connected());
    EXPECT_EQ(state.snapshots(), 1);
    HttpClient http(daemon.port());
    EXPECT_NE(http.get("/metrics").body.find("tally_ws_clients 1"), std::string::npos);
    // Still served: an event reaches it.
    ASSERT_EQ(http.post("/track/pageview", pageview()).status, 200);
    auto frame = reader.read(milliseconds(2'000));
    ASSERT_TRUE(frame);
    EXPECT_EQ(json::parse(*frame)["page_views"], 1);
    // The silent one, which never read the pings, is gone (its snapshot may still be in
    // its socket).
    for (int i = 0; i < 5 && silent.read(milliseconds(200)); ++i) {
    }
    EXPECT_FALSE(silent.connected());
}

TEST_F(Live, StopsGracefullyWithClientsConnected) {
    WsClient a(daemon.port()), b(daemon.port());
    LiveState state;
    drain(a, state);
    const auto start = Clock::now();
    EXPECT_EQ(daemon.stop(), 0);
    EXPECT_LT(Clock::now() - start, milliseconds(5000));
    EXPECT_FALSE(a.read(milliseconds(1000)));
    EXPECT_FALSE(a.connected());
}

TEST(LiveToken, RequiredWhenSet) {
    Tallyd daemon({"--token", "sekrit"});
    WsClient anonymous(daemon.port());
    EXPECT_FALSE(anonymous.connected());
    EXPECT_EQ(anonymous.status(), 401);
    WsClient by_query(daemon.port(), "/ws?token=sekrit");
    ASSERT_TRUE(by_query.connected());
    auto frame = by_query.read(milliseconds(2000));
    ASSERT_TRUE(frame);
    EXPECT_EQ(json::parse(*frame)["type"], "snapshot");
    WsClient by_header(daemon.port(), "/ws", {{"Authorization", "Bearer sekrit"}});
    EXPECT_TRUE(by_header.connected());
}

TEST(LiveCap, ClientsOverTheCapAreRefusedAndCounted) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"live":{"max_clients":2,"batch_ms":50}})";
    Tallyd daemon({"--config", config});
    WsClient a(daemon.port()), b(daemon.port());
    ASSERT_TRUE(a.connected());
    ASSERT_TRUE(b.connected());
    WsClient c(daemon.port());
    EXPECT_FALSE(c.connected());
    EXPECT_EQ(c.status(), 503);
    HttpClient http(daemon.port());
    auto metrics = http.get("/metrics");
    EXPECT_NE(metrics.body.find("tally_ws_clients 2"), std::string::npos) << metrics.body;
}

// A flood of sessions past limits.active_sessions: the deltas say real_time_users is capped,
// and the dashboard a live client holds stays equal to /dashboard's.
TEST(LiveBudget, DeltasSayWhenRealTimeUsersIsCapped) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"limits":{"active_sessions":64},"live":{"batch_ms":50}})";
    Tallyd daemon({"--config", config});
    HttpClient client(daemon.port());
    WsClient ws(daemon.port());
    LiveState state;
    drain(ws, state, milliseconds(150));
    ASSERT_EQ(state.snapshots(), 1);
    EXPECT_FALSE(state.metrics().contains("real_time_users_capped"));
    ASSERT_TRUE(flood_sessions(client, 0, 1));
    drain(ws, state, milliseconds(300));
    EXPECT_GE(state.deltas(), 1);
    EXPECT_EQ(state.metrics()["real_time_users_capped"], true) << state.metrics();
    EXPECT_LE(state.metrics()["real_time_users"].get<int>(), 64);
    EXPECT_EQ(state.metrics(), dashboard(client, "today"));
}

// Dashboards and tracking have separate budgets: 50 dashboards fill both live.max_clients and
// what would have been every HTTP connection, and tracking still gets all of its own.
TEST(LiveBudget, DashboardsAtTheirCapLeaveTrackingItsConnections) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"http":{"max_connections":50},)"
                          << R"("live":{"max_clients":50,"max_clients_per_ip":10,"batch_ms":50}})";
    Tallyd daemon({"--config", config});
    std::vector<std::unique_ptr<WsClient>> dashboards;
    for (int i = 0; i < 50; ++i) {
        const std::string from = "127.0.0." + std::to_string(2 + i / 10);  // 10 an address
        dashboards.push_back(
            std::make_unique<WsClient>(daemon.port(), "/ws", WsHeaders{}, 0, from));
        ASSERT_TRUE(dashboards.back()->connected()) << i;
    }
    WsClient one_more(daemon.port(), "/ws", {}, 0, "127.0.0.20");
    EXPECT_EQ(one_more.status(), 503);

    // 20 page views on connections of their own, all held open at once, then 30 more.
    std::vector<std::unique_ptr<HttpClient>> trackers;
    for (int i = 0; i < 20; ++i) {
        trackers.push_back(std::make_unique<HttpClient>(daemon.port()));
        const auto r =
            trackers.back()->post("/track/pageview", R"({"page_url":"/budget","session_id":"s)" +
                                                         std::to_string(i) + R"("})");
        EXPECT_EQ(r.status, 200) << i << " " << r.body;
    }
    HttpClient http(daemon.port());
    for (int i = 0; i < 30; ++i) {
        EXPECT_EQ(http.post("/track/pageview", R"({"page_url":"/budget","session_id":"t"})").status,
                  200);
    }
    EXPECT_EQ(json::parse(http.get("/dashboard/today").body)["page_views"], 50);
    const std::string metrics = http.get("/metrics").body;
    EXPECT_NE(metrics.find("\ntally_ws_open_connections 50\n"), std::string::npos) << metrics;
    EXPECT_NE(metrics.find("\ntally_http_open_connections 21\n"), std::string::npos);
}

// One address holds at most live.max_clients_per_ip live connections (429 past it); others
// are not affected, and a closed connection gives its place back.
TEST(LiveBudget, OneAddressHoldsAtMostItsShare) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"live":{"max_clients_per_ip":3,"batch_ms":50}})";
    Tallyd daemon({"--config", config});
    std::vector<std::unique_ptr<WsClient>> mine;
    for (int i = 0; i < 3; ++i) {
        mine.push_back(
            std::make_unique<WsClient>(daemon.port(), "/ws", WsHeaders{}, 0, "127.0.0.2"));
        ASSERT_TRUE(mine.back()->connected());
    }
    WsClient fourth(daemon.port(), "/ws", {}, 0, "127.0.0.2");
    EXPECT_EQ(fourth.status(), 429);
    WsClient metrics_too(daemon.port(), "/ws/metrics/x", {}, 0, "127.0.0.2");
    EXPECT_EQ(metrics_too.status(), 429);
    WsClient elsewhere(daemon.port(), "/ws", {}, 0, "127.0.0.3");
    EXPECT_TRUE(elsewhere.connected());

    mine.pop_back();
    bool admitted = false;
    for (int attempt = 0; attempt < 50 && !admitted; ++attempt) {
        WsClient again(daemon.port(), "/ws", {}, 0, "127.0.0.2");
        admitted = again.connected();
        if (!admitted)
            std::this_thread::sleep_for(milliseconds(50));  // the close is still on its way
    }
    EXPECT_TRUE(admitted);
}

TEST(LiveIdle, ClientThatNeverAnswersIsDropped) {
    TempDir dir;
    const std::string config = dir.path() + "/tallyd.json";
    std::ofstream(config) << R"({"live":{"idle_timeout_ms":600}})";
    Tallyd daemon({"--config", config});
    // Never reads, so never answers the server's ping.
    WsClient silent(daemon.port());
    ASSERT_TRUE(silent.connected());
    HttpClient http(daemon.port());
    EXPECT_NE(http.get("/metrics").body.find("tally_ws_clients 1"), std::string::npos);
    const auto end = Clock::now() + milliseconds(5000);
    std::string body;
    while (Clock::now() < end) {
        body = http.get("/metrics").body;
        if (body.find("tally_ws_clients 0") != std::string::npos)
            break;
        std::this_thread::sleep_for(milliseconds(100));
    }
    EXPECT_NE(body.find("tally_ws_clients 0"), std::string::npos);
}

}  // namespace
}  // namespace tally::test
