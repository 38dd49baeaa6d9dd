// Funnel steps beyond memory: runs (their body and their file), the spiller that moves
// day logs to them, snapshots that name them, and recovery that rebuilds a day whose run
// is damaged or missing. Every answer is compared with the one the whole log in memory
// gives.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "../store/events.hpp"
#include "support/process.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/funnel_run_files.hpp"
#include "tally/durability/funnel_spiller.hpp"
#include "tally/durability/persistence.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"
#include "tally/store/funnel_run.hpp"

namespace tally::durability {
namespace {

namespace fs = std::filesystem;
using test::custom;
using test::kNoon;
using test::page;

const std::vector<std::vector<std::string>> kFunnels = {
    {"pageview:/", "signup"},
    {"pageview:/", "pageview:/pricing", "signup", "purchase"},
    {"signup", "pageview:/pricing", "signup"},
};

/// A day of `count` events: 2,000 identities wandering over four pages and two events, in
/// a fixed pseudo-random order (times not sorted: late events happen).
std::vector<Event> day_of_events(std::size_t count, unsigned seed = 7) {
    std::mt19937 random(seed);
    const std::vector<std::string> pages = {"/", "/pricing", "/docs", "/blog"};
    std::vector<Event> events;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string user = "user-" + std::to_string(random() % 2000);
        const std::int64_t ts = kNoon - 3'600'000 + static_cast<std::int64_t>(random() % 7'200'000);
        const unsigned what = random() % 10;
        if (what < 7)
            events.push_back(page(pages[what % 4], user, "s-" + user, ts));
        else
            events.push_back(custom(what == 9 ? "purchase" : "signup", user, "s-" + user, ts));
    }
    return events;
}

std::vector<query::Ranked> answers(const store::Store& store) {
    std::vector<query::Ranked> out;
    for (const auto& steps : kFunnels)
        out.push_back(query::funnel(store, "default", day_of(kNoon), steps));
    return out;
}

/// Counts `events` in `store`, spread over its shards.
void count_all(store::Store& store, const std::vector<Event>& events) {
    for (std::size_t i = 0; i < events.size(); ++i)
        store.apply(i % store.shard_count(), events[i], kNoon);
}

TEST(FunnelRun, ABodyRoundTripsAndEveryTruncationIsRefused) {
    store::Store s({1, 10, 10, 100});
    count_all(s, day_of_events(500));
    std::string body;
    s.visit_shard(0, [&](const auto& sites) {
        const auto& log = sites.find("default")->second.days.begin()->second.funnel;
        store::encode_funnel_run("default", day_of(kNoon), log.view(), log.steps().size(),
                                 [&](std::string_view piece) { body.append(piece); });
    });
    std::string why;
    const auto owner = std::make_shared<std::string>(body);
    const auto run = store::FunnelRun::parse(owner, *owner, "f0.run", 0, why);
    ASSERT_NE(run, nullptr) << why;
    EXPECT_EQ(run->steps(), 500u);
    EXPECT_EQ(run->site(), "default");
    std::size_t signups = 0;
    run->for_each_step("signup", [&](std::uint32_t identity, std::int64_t) {
        EXPECT_TRUE(run->identity_name(identity).starts_with("user-"));
        ++signups;
    });
    EXPECT_GT(signups, 0u);
    for (std::size_t cut = 0; cut < body.size(); cut += 7) {
        const std::string_view part = std::string_view(*owner).substr(0, cut);
        EXPECT_EQ(store::FunnelRun::parse(owner, part, "f0.run", 0, why), nullptr) << cut;
    }
    // Sorted into groups a few labels at a time (a pass each), the body is the same.
    for (std::size_t chunk : {std::size_t{1}, std::size_t{100}, std::size_t{1000}}) {
        std::string chunked;
        s.visit_shard(0, [&](const auto& sites) {
            const auto& log = sites.find("default")->second.days.begin()->second.funnel;
            store::encode_funnel_run(
                "default", day_of(kNoon), log.view(), log.steps().size(),
                [&](std::string_view piece) { chunked.append(piece); }, chunk);
        });
        EXPECT_EQ(chunked, body) << chunk;
    }
}

TEST(FunnelRunFiles, AWrittenRunOpensAndADamagedOneIsReported) {
    test::TempDir dir;
    store::Store s({1, 10, 10, 100});
    count_all(s, day_of_events(300));
    std::shared_ptr<const store::FunnelRun> run;
    s.visit_shard(0, [&](const auto& sites) {
        const auto& log = sites.find("default")->second.days.begin()->second.funnel;
        run = write_funnel_run(dir.path(), "f0-1-00000001.run", "default", day_of(kNoon),
                               log.view(), log.steps().size());
    });
    ASSERT_NE(run, nullptr);
    EXPECT_EQ(run->steps(), 300u);
    EXPECT_FALSE(fs::exists(dir.path() + "/f0-1-00000001.run.tmp"));
    std::string why;
    EXPECT_NE(open_funnel_run(dir.path(), "f0-1-00000001.run", why), nullptr) << why;

    // One flipped byte anywhere: refused, with the reason.
    const fs::path path = dir.path() + "/f0-1-00000001.run";
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    for (std::size_t at : {std::size_t{3}, std::size_t{13}, std::size_t{40}, bytes.size() - 1}) {
        std::string damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
        std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
        EXPECT_EQ(open_funnel_run(dir.path(), "f0-1-00000001.run", why), nullptr) << at;
        EXPECT_FALSE(why.empty());
    }
    EXPECT_EQ(open_funnel_run(dir.path(), "missing.run", why), nullptr);
    EXPECT_FALSE(valid_funnel_run_name("../f0-1-00000001.run"));
    EXPECT_FALSE(valid_funnel_run_name("f0-1-00000001.snap"));
    EXPECT_TRUE(valid_funnel_run_name("f0-19675-00000001.run"));
}

// A budget far below the day: the spiller moves logs to runs until each shard is within
// it, and every funnel answers as before, also with more events after the move.
TEST(FunnelSpiller, MovesLogsToRunsAndAnswersStayExact) {
    test::TempDir dir;
    const std::vector<Event> events = day_of_events(60'000);
    store::Store whole({2, 10, 10, 100});
    count_all(whole, events);

    store::Store s({2, 10, 10, 100});
    FunnelSpiller spiller({dir.path(), 256 * 1024, std::chrono::milliseconds(1000)}, s);
    const std::vector<Event> first(events.begin(), events.begin() + 40'000);
    count_all(s, first);
    EXPECT_GT(spiller.move_once(), 0u);
    for (std::size_t shard = 0; shard < 2; ++shard) {
        const auto footprint = s.funnel_footprint(shard);
        EXPECT_LE(footprint.memory_bytes, 128u * 1024) << shard;
        EXPECT_GT(footprint.runs, 0u);
        EXPECT_GT(footprint.disk_bytes, 0u);
    }
    const std::vector<Event> rest(events.begin() + 40'000, events.end());
    count_all(s, rest);
    spiller.move_once();
    EXPECT_EQ(answers(s), answers(whole));
    EXPECT_GT(answers(s)[1][3].second, 0u);

    // Runs no day holds (a crash after a move, before a snapshot named it) are tidied away.
    std::ofstream(dir.path() + "/f0-19000-00000099.run") << "x";
    std::ofstream(dir.path() + "/f0-19000-00000100.run.tmp") << "x";
    EXPECT_EQ(spiller.tidy(), 2u);
    EXPECT_EQ(s.funnel_run_files().size(),
              static_cast<std::size_t>(std::distance(fs::directory_iterator(dir.path()), {})));
}

/// A daemon's durable parts in one place: the log, the store, persistence and the spiller.
struct Durable {
    Durable(const fs::path& root, std::size_t budget)
        : log({root / "log", 2, FsyncMode::never, std::chrono::milliseconds(100), 64u << 20}),
          store({2, 10, 10, 100}),
          persistence(options(root), store, log),
          spiller({root / "funnels", budget, std::chrono::milliseconds(1000)}, store) {}

    static PersistenceOptions options(const fs::path& root) {
        PersistenceOptions o;
        o.snapshot_dir = root / "snapshots";
        o.snapshot_interval = std::chrono::seconds(0);
        o.snapshot_events = 0;
        o.funnel_dir = root / "funnels";
        return o;
    }
    void write(const std::vector<Event>& events) {
        for (std::size_t i = 0; i < events.size(); ++i) {
            LogPosition end;
            ASSERT_TRUE(log.append(i % 2, &events[i], 1, &end));
            store.apply(i % 2, &events[i], 1, kNoon, &end);
        }
    }

    EventLog log;
    store::Store store;
    Persistence persistence;
    FunnelSpiller spiller;
};

// Snapshot names the runs; a restart opens them; a damaged or missing run makes recovery
// rebuild that day's funnel from the log, exactly, and say so.
TEST(FunnelRecovery, RunsSurviveARestartAndADamagedRunIsRebuiltFromTheLog) {
    test::TempDir dir;
    const fs::path root = dir.path();
    const std::vector<Event> events = day_of_events(30'000, 11);
    store::Store whole({2, 10, 10, 100});
    count_all(whole, events);
    const std::vector<query::Ranked> expected = answers(whole);
    {
        Durable d(root, 64 * 1024);
        d.persistence.recover(kNoon);
        d.write(std::vector<Event>(events.begin(), events.begin() + 20'000));
        ASSERT_GT(d.spiller.move_once(), 0u);
        d.write(std::vector<Event>(events.begin() + 20'000, events.end()));
        ASSERT_TRUE(d.persistence.snapshot("test"));
        EXPECT_EQ(answers(d.store), expected);
    }
    {
        Durable d(root, 64 * 1024);
        const auto recovery = d.persistence.recover(kNoon);
        EXPECT_TRUE(recovery.funnels_rebuilt.empty());
        EXPECT_EQ(d.spiller.tidy(), 0u);
        EXPECT_GT(d.store.funnel_footprint(0).runs + d.store.funnel_footprint(1).runs, 0u);
        EXPECT_EQ(answers(d.store), expected);
    }
    // Damage one run and remove another.
    std::vector<fs::path> runs;
    for (const auto& entry : fs::directory_iterator(root / "funnels"))
        runs.push_back(entry.path());
    ASSERT_GE(runs.size(), 2u);
    std::fstream(runs[0], std::ios::in | std::ios::out | std::ios::binary).seekp(30).put('!');
    fs::remove(runs[1]);
    {
        Durable d(root, 64 * 1024);
        const auto recovery = d.persistence.recover(kNoon);
        EXPECT_FALSE(recovery.funnels_rebuilt.empty());
        d.spiller.tidy();
        bool incomplete = true;
        EXPECT_EQ(query::funnel(d.store, "default", day_of(kNoon), kFunnels[1], &incomplete),
                  expected[1]);
        EXPECT_FALSE(incomplete);
        EXPECT_EQ(answers(d.store), expected);
    }
}

}  // namespace
}  // namespace tally::durability
