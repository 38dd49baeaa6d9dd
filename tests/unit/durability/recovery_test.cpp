// Recovery's pieces: the log replayed from per-writer positions, a position past a lost
// tail, log-segment retention, and snapshots carrying roll-ups and funnels.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "../store/events.hpp"
#include "support/process.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/snapshot.hpp"
#include "tally/query/query.hpp"

namespace tally::durability {
namespace {

namespace fs = std::filesystem;
using test::custom;
using test::kNoon;
using test::page;

EventLogOptions options(const fs::path& dir, std::size_t writers,
                        std::uint64_t segment_bytes = 64ull << 20) {
    return EventLogOptions{dir, writers, FsyncMode::never, std::chrono::milliseconds(100),
                           segment_bytes};
}

Event numbered(int i, std::int64_t ts = kNoon) {
    return page("/p" + std::to_string(i), "u", "s", ts);
}

TEST(ReplayFrom, StartsEachWriterAtItsPosition) {
    test::TempDir dir;
    std::vector<LogPosition> marks;
    {
        EventLog log(options(dir.path(), 2, 200));  // small segments: several per writer
        log.open();
        for (int i = 0; i < 40; ++i) {
            const Event e = numbered(i);
            LogPosition end;
            ASSERT_TRUE(log.append(static_cast<std::size_t>(i % 2), &e, 1, &end));
            if (i == 21)
                marks = {LogPosition{}, end};  // writer 1 after its event 21
            if (i == 24)
                marks[0] = end;  // writer 0 after its event 24
        }
        EXPECT_GT(log.end_position(0).segment, 2u);
    }
    EventLog log(options(dir.path(), 2, 200));
    std::vector<std::pair<std::size_t, std::string>> seen;
    std::vector<LogPosition> last(2);
    const ReplayStats stats =
        log.replay_from(marks, [&](std::size_t w, const LogPosition& at, const Event& e) {
            seen.emplace_back(w, e.page);
            // Where each record begins: at or after the position, increasing.
            EXPECT_FALSE(at < marks[w]);
            EXPECT_TRUE(last[w] < at || last[w] == LogPosition{});
            last[w] = at;
        });
    std::vector<std::pair<std::size_t, std::string>> expected;
    for (int i = 26; i < 40; i += 2)
        expected.emplace_back(0, "/p" + std::to_string(i));
    for (int i = 23; i < 40; i += 2)
        expected.emplace_back(1, "/p" + std::to_string(i));
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(stats.records, expected.size());
    EXPECT_GT(stats.skipped_bytes, 0u);
    ASSERT_EQ(stats.ends.size(), 2u);
    // From the ends, nothing is left to replay.
    EventLog again(options(dir.path(), 2, 200));
    EXPECT_EQ(
        again.replay_from(stats.ends, [](std::size_t, const LogPosition&, const Event&) {}).records,
        0u);
}

TEST(ReplayFrom, APositionPastALostTailStartsANewSegment) {
    test::TempDir dir;
    LogPosition snapshot_end;
    {
        EventLog log(options(dir.path(), 1));
        log.open();
        for (int i = 0; i < 3; ++i) {
            const Event e = numbered(i);
            ASSERT_TRUE(log.append(0, &e, 1, &snapshot_end));
        }
    }
    // A machine crash lost the unsynced last record the snapshot already counted.
    const fs::path segment = fs::path(dir.path()) / "w0-00000001.log";
    fs::resize_file(segment, fs::file_size(segment) - 10);
    {
        EventLog log(options(dir.path(), 1));
        std::size_t n = 0;
        log.replay_from({snapshot_end},
                        [&](std::size_t, const LogPosition&, const Event&) { ++n; });
        EXPECT_EQ(n, 0u);
        log.open();
        EXPECT_EQ(log.end_position(0), (LogPosition{2, 0}));
        const Event e = numbered(7);
        ASSERT_TRUE(log.append(0, &e, 1));
    }
    // The record written after recovery is after the snapshot's position: replayed.
    EventLog log(options(dir.path(), 1));
    std::vector<std::string> seen;
    log.replay_from({snapshot_end}, [&](std::size_t, const LogPosition&, const Event& e) {
        seen.push_back(e.page);
    });
    EXPECT_EQ(seen, std::vector<std::string>{"/p7"});
}

TEST(RemoveSegments, OnlyOldClosedSegmentsBeforeThePositions) {
    test::TempDir dir;
    const std::int64_t old_ts = kNoon - 40 * kMsPerDay;
    EventLog log(options(dir.path(), 2, 1));  // every append after the first rotates
    log.open();
    for (std::int64_t ts : {old_ts, old_ts, kNoon, old_ts}) {
        const Event e = numbered(0, ts);
        ASSERT_TRUE(log.append(0, &e, 1));  // segments 1, 2 old; 3 new; 4 old (open)
    }
    const Event e = numbered(0, old_ts);
    ASSERT_TRUE(log.append(1, &e, 1));  // writer 1: segment 1, open
    auto exists = [&](const char* name) { return fs::exists(fs::path(dir.path()) / name); };

    const std::int64_t cutoff = kNoon - 30 * kMsPerDay;
    // Snapshots need writer 0 from segment 2: only segment 1 may go.
    EXPECT_EQ(log.remove_segments({{2, 0}, {5, 0}}, cutoff).size(), 1u);
    EXPECT_FALSE(exists("w0-00000001.log"));
    EXPECT_TRUE(exists("w0-00000002.log"));
    // From segment 9 on: 2 goes, 3 holds a recent event, 4 is open; writer 1's is open.
    EXPECT_EQ(log.remove_segments({{9, 0}, {9, 0}}, cutoff).size(), 1u);
    EXPECT_FALSE(exists("w0-00000002.log"));
    EXPECT_TRUE(exists("w0-00000003.log"));
    EXPECT_TRUE(exists("w0-00000004.log"));
    EXPECT_TRUE(exists("w1-00000001.log"));
    // No position for a writer: all its segments stay.
    EXPECT_TRUE(log.remove_segments({}, kNoon * 2).empty());
}

TEST(SnapshotRollups, RollUpsAndFunnelsSurviveAndPositionsOfExtraWritersStay) {
    const std::int64_t today = day_of(kNoon);
    store::Store s({2, 10, 10, 100});
    for (int d = 0; d < 6; ++d) {
        const std::int64_t ts = (today - d) * kMsPerDay + 1000;
        for (int i = 0; i < 20; ++i) {
            const auto shard = static_cast<std::size_t>(i % 2);
            s.apply(shard, page("/p" + std::to_string(i % 3), "u" + std::to_string(i), "s", ts + i),
                    ts);
            if (i % 5 == 0)
                s.apply(shard, custom("signup", "u" + std::to_string(i), "s", ts + i + 1), ts);
        }
    }
    s.retire(today - 2, today - 400);  // three days fold into roll-ups
    ASSERT_GT(s.rollup_count(), 0u);

    SnapshotMeta meta{kNoon, {{0, 0}, {0, 0}, {7, 70}}, 0};  // writer 2: a past run's
    const std::string bytes = encode_snapshot(s, meta, nullptr, [](std::size_t shard) {
        return LogPosition{shard + 1, 10};
    });
    store::Store loaded({2, 10, 10, 100});
    std::string error;
    const auto m = decode_snapshot(bytes, loaded, &error);
    ASSERT_TRUE(m) << error;
    EXPECT_EQ(m->log_positions, (std::vector<LogPosition>{{1, 10}, {2, 10}, {7, 70}}));
    EXPECT_EQ(loaded.rollup_count(), s.rollup_count());
    EXPECT_EQ(loaded.day_count(), s.day_count());
    for (const std::string& period :
         {std::string("2023-W46"), std::string("2023-W45"), std::string("2023-11")}) {
        const auto r = *query::parse_range(period, kNoon);
        EXPECT_EQ(query::to_json(query::build_dashboard(s, "default", r, kNoon)),
                  query::to_json(query::build_dashboard(loaded, "default", r, kNoon)))
            << period;
    }
    for (std::int64_t day = today - 2; day <= today; ++day) {
        const auto f = query::funnel(s, "default", day, {"pageview:/p0", "signup"});
        EXPECT_GT(f[1].second, 0u);
        EXPECT_EQ(query::funnel(loaded, "default", day, {"pageview:/p0", "signup"}), f);
    }
}

TEST(SnapshotSettledDays, DaysIngestCanNoLongerChangeRoundTripToo) {
    // Days before today - 2 are serialised outside the shard lock; the file is the same
    // kind of file and loads to the same answers.
    const std::int64_t today = day_of(kNoon);
    store::Store s({2, 10, 10, 100});
    for (int d = 0; d < 10; ++d) {
        const std::int64_t ts = (today - d) * kMsPerDay + 5000;
        for (int i = 0; i < 12; ++i) {
            const auto shard = static_cast<std::size_t>(i % 2);
            s.apply(shard, page("/p" + std::to_string(i % 4), "u" + std::to_string(i), "s", ts + i),
                    ts);
            if (i % 3 == 0)
                s.apply(shard, custom("signup", "u" + std::to_string(i), "s", ts + i + 1), ts);
        }
    }
    const std::string bytes = encode_snapshot(s, SnapshotMeta{kNoon, {}, 0});
    store::Store loaded({3, 10, 10, 100});
    std::string error;
    ASSERT_TRUE(decode_snapshot(bytes, loaded, &error)) << error;
    EXPECT_EQ(loaded.day_count(), 10u * 2);
    for (std::int64_t day = today - 9; day <= today; ++day) {
        const query::DayRange r{day, day, format_day(day)};
        EXPECT_EQ(query::to_json(query::build_dashboard(s, "default", r, kNoon)),
                  query::to_json(query::build_dashboard(loaded, "default", r, kNoon)))
            << r.label;
        const auto f = query::funnel(s, "default", day, {"pageview:/p0", "signup"});
        EXPECT_GT(f[1].second, 0u);
        EXPECT_EQ(query::funnel(loaded, "default", day, {"pageview:/p0", "signup"}), f);
    }
}

TEST(SnapshotWhileIngesting, SnapshotPlusFilteredReplayIsExact) {
    // Ingest keeps writing (log, then apply with the log's end, as the daemon does) into
    // every shard and many sites while snapshots are taken site by site; each snapshot
    // plus the log after its positions, minus what its site marks say it holds, must
    // give exactly the store's figures.
    test::TempDir dir;
    const std::int64_t today = day_of(kNoon);
    store::Store live({2, 100, 100, 10'000});
    EventLog log(options(dir.path(), 2, 1 << 20));
    log.open();
    // Large top lists make each site's hold long enough for ingest to slip in between.
    for (std::size_t shard = 0; shard < 2; ++shard) {
        for (int i = 0; i < 13 * 2000; ++i) {
            Event e = page("/big" + std::to_string(i / 13), "u", "s", kNoon,
                           "site" + std::to_string(i % 13));
            LogPosition end;
            ASSERT_TRUE(log.append(shard, &e, 1, &end));
            live.apply(shard, &e, 1, kNoon, &end);
        }
    }
    std::atomic<bool> stop{false};
    auto ingest = [&](std::size_t shard) {
        for (int i = 0; !stop.load() || i < 2000; ++i) {
            Event e = page("/p" + std::to_string(i % 5), "u" + std::to_string(i % 37),
                           "s" + std::to_string(i), kNoon + i, "site" + std::to_string(i % 13));
            LogPosition end;
            ASSERT_TRUE(log.append(shard, &e, 1, &end));
            live.apply(shard, &e, 1, kNoon, &end);
        }
    };
    std::thread a(ingest, 0), b(ingest, 1);
    std::vector<std::string> snapshots;
    for (int k = 0; k < 4; ++k) {
        snapshots.push_back(
            encode_snapshot(live, SnapshotMeta{kNoon, {}, 0}, nullptr,
                            [&](std::size_t shard) { return live.log_position_locked(shard); }));
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    stop.store(true);
    a.join();
    b.join();
    log.sync_all();

    const query::DayRange range{today, today, format_day(today)};
    for (const std::string& bytes : snapshots) {
        store::Store recovered({2, 100, 100, 10'000});
        const auto meta = decode_snapshot(bytes, recovered);
        ASSERT_TRUE(meta);
        const ReplayFilter filter(*meta);
        EventLog replay(options(dir.path(), 2, 1 << 20));
        replay.replay_from(meta->log_positions,
                           [&](std::size_t w, const LogPosition& at, const Event& e) {
                               if (!filter.in_snapshot(w, e.site, at))
                                   recovered.apply(w, &e, 1, kNoon);
                           });
        for (int site = 0; site < 13; ++site) {
            const std::string name = "site" + std::to_string(site);
            const auto want = query::build_dashboard(live, name, range, kNoon);
            const auto got = query::build_dashboard(recovered, name, range, kNoon);
            ASSERT_EQ(got.page_views, want.page_views) << name;
            EXPECT_EQ(query::to_json(got), query::to_json(want)) << name;
        }
    }
}

}  // namespace
}  // namespace tally::durability
