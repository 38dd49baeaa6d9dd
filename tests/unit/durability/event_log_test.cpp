// The event log: append, replay, segments, and cutting a damaged tail.

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "support/process.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/record.hpp"

namespace tally::durability {
namespace {

Event event(int i) {
    Event e;
    e.timestamp_ms = 1'700'000'000'000 + i;
    e.site = "default";
    e.page = "/p" + std::to_string(i);
    e.session_id = "s";
    e.visitor_id = "v";
    return e;
}

std::vector<std::string> replay_pages(const std::filesystem::path& dir, std::size_t writers,
                                      ReplayStats* stats = nullptr) {
    EventLog log({dir, writers, FsyncMode::never});
    std::vector<std::string> pages;
    auto s = log.replay([&](const Event& e) { pages.push_back(e.page); });
    if (stats)
        *stats = s;
    return pages;
}

TEST(EventLog, AppendThenReplayInEveryMode) {
    for (FsyncMode mode : {FsyncMode::always, FsyncMode::interval, FsyncMode::never}) {
        test::TempDir dir;
        {
            EventLog log({dir.path(), 2, mode});
            log.replay([](const Event&) {});
            log.open();
            for (int i = 0; i < 10; ++i) {
                auto e = event(i);
                ASSERT_TRUE(log.append(static_cast<std::size_t>(i % 2), &e, 1));
            }
            std::vector<Event> batch = {event(10), event(11)};
            ASSERT_TRUE(log.append(0, batch.data(), batch.size()));
            EXPECT_GT(log.bytes_written(), 0u);
        }
        auto pages = replay_pages(dir.path(), 2);
        EXPECT_EQ(pages.size(), 12u) << fsync_mode_name(mode);
    }
}

TEST(EventLog, SegmentsRotateAndReplayInOrder) {
    test::TempDir dir;
    {
        EventLog log({dir.path(), 1, FsyncMode::never, std::chrono::milliseconds(100), 200});
        log.replay([](const Event&) {});
        log.open();
        for (int i = 0; i < 40; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
        }
    }
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(dir.path()))
        ++files;
    EXPECT_GT(files, 3u);
    auto pages = replay_pages(dir.path(), 1);
    ASSERT_EQ(pages.size(), 40u);
    for (int i = 0; i < 40; ++i)
        EXPECT_EQ(pages[static_cast<std::size_t>(i)], "/p" + std::to_string(i));
}

// A cut anywhere keeps every append wholly before it, and of the append it falls in,
// nothing: two single events, then a batch of three.
TEST(EventLog, TruncatedAtEveryOffsetKeepsEveryCompleteAppend) {
    test::TempDir dir;
    {
        EventLog log({dir.path(), 1, FsyncMode::never});
        log.replay([](const Event&) {});
        log.open();
        for (int i = 0; i < 2; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
        }
        std::vector<Event> batch = {event(2), event(3), event(4)};
        ASSERT_TRUE(log.append(0, batch.data(), batch.size()));
    }
    const auto file = dir.path() + "/w0-00000001.log";
    std::string bytes;
    {
        std::ifstream in(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    // Where each record's frame ends (a batch's records share it): replay of growing
    // prefixes keeps the records whose frame ends within the prefix.
    std::vector<std::size_t> ends;
    for (RecordCursor cursor(bytes); !cursor.done();) {
        LoggedRecord record;
        ASSERT_EQ(cursor.next(record), DecodeStatus::ok);
        ends.push_back(cursor.end());
    }
    ASSERT_EQ(ends.size(), 5u);
    EXPECT_EQ(ends[2], ends[4]);
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
        std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes.substr(0, cut);
        ReplayStats stats;
        auto pages = replay_pages(dir.path(), 1, &stats);
        std::size_t complete = 0;
        while (complete < ends.size() && ends[complete] <= cut)
            ++complete;
        EXPECT_EQ(pages.size(), complete) << cut;
        const std::size_t good = complete == 0 ? 0 : ends[complete - 1];
        EXPECT_EQ(std::filesystem::file_size(file), good) << cut;
        EXPECT_EQ(stats.damaged_files, good == cut ? 0u : 1u);
    }
}

}  // namespace
}  // namespace tally::durability

namespace tally::durability {
namespace {

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Group commit: every answer comes from an fsync that began after its append, and under
// concurrency one fsync answers many appends.
TEST(GroupCommit, EachAnswerFollowsAnFsyncThatBeganAfterItsAppend) {
    test::TempDir dir;
    constexpr int kThreads = 8;
    constexpr int kPerThread = 200;
    std::atomic<int> answered{0};
    std::atomic<int> early{0};  // answered by an fsync that began before the append
    std::atomic<int> not_durable{0};
    {
        EventLog log({dir.path(), 1, FsyncMode::always});
        log.replay([](const Event&) {});
        log.open();
        std::vector<std::thread> threads;
        threads.reserve(kThreads);
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < kPerThread; ++i) {
                    auto e = event(t * kPerThread + i);
                    ASSERT_TRUE(log.append(0, &e, 1));
                    // One writer, so only its commit thread counts fsyncs: the fsync that
                    // answers must be a later one than any that had begun by now.
                    const std::uint64_t begun = log.commit_stats().fsyncs_begun;
                    std::promise<void> done;
                    log.when_durable(0, [&, begun](bool durable) {
                        if (log.commit_stats().fsyncs_begun <= begun)
                            ++early;
                        if (!durable)
                            ++not_durable;
                        ++answered;
                        done.set_value();
                    });
                    done.get_future().wait();  // like a client waiting for its answer
                }
            });
        }
        for (auto& thread : threads)
            thread.join();
        const CommitStats stats = log.commit_stats();
        EXPECT_EQ(stats.waiters, static_cast<std::uint64_t>(kThreads * kPerThread));
        EXPECT_EQ(stats.failed, 0u);
        // Eight clients each waiting for their answer: fsyncs are shared.
        EXPECT_LT(stats.fsyncs, static_cast<std::uint64_t>(kThreads * kPerThread) * 3 / 4)
            << stats.fsyncs << " fsyncs";
    }
    EXPECT_EQ(answered.load(), kThreads * kPerThread);
    EXPECT_EQ(early.load(), 0);
    EXPECT_EQ(not_durable.load(), 0);
    EXPECT_EQ(replay_pages(dir.path(), 1).size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(GroupCommit, PipelinedAppendsShareFewFsyncs) {
    test::TempDir dir;
    constexpr int kThreads = 4;
    constexpr int kPerThread = 2000;
    std::atomic<int> answered{0};
    EventLog log({dir.path(), 2, FsyncMode::always});
    log.replay([](const Event&) {});
    log.open();
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                auto e = event(i);
                ASSERT_TRUE(log.append(static_cast<std::size_t>(t % 2), &e, 1));
                log.when_durable(static_cast<std::size_t>(t % 2), [&](bool durable) {
                    if (durable)
                        ++answered;
                });
            }
        });
    }
    for (auto& thread : threads)
        thread.join();
    log.close();  // answers whoever still waits
    EXPECT_EQ(answered.load(), kThreads * kPerThread);
    const CommitStats stats = log.commit_stats();
    EXPECT_EQ(stats.waiters, static_cast<std::uint64_t>(kThreads * kPerThread));
    EXPECT_LT(stats.fsyncs * 10, stats.waiters) << stats.fsyncs << " fsyncs";
}

TEST(GroupCommit, IntervalAndNeverAnswerAtOnce) {
    for (FsyncMode mode : {FsyncMode::interval, FsyncMode::never}) {
        test::TempDir dir;
        EventLog log({dir.path(), 1, mode});
        log.replay([](const Event&) {});
        log.open();
        auto e = event(1);
        ASSERT_TRUE(log.append(0, &e, 1));
        bool called = false;
        log.when_durable(0, [&](bool durable) { called = durable; });
        EXPECT_TRUE(called) << fsync_mode_name(mode);
        EXPECT_EQ(log.commit_stats().fsyncs, 0u);
    }
}

// A failed fsync answers every request waiting for it "not durable" (503), never 200.
// fdatasync(2) on a FIFO fails with EINVAL: the writer's file is made one, with a reader
// holding it open, so writes succeed and every fsync fails.
TEST(GroupCommit, FailedFsyncAnswersEveryWaiterNotDurable) {
    test::TempDir dir;
    const std::string fifo = dir.path() + "/w0-00000001.log";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    ASSERT_GE(reader, 0);
    {
        EventLog log({dir.path(), 1, FsyncMode::always});
        log.replay([](const Event&) {});  // a FIFO is not a segment to replay
        log.open();
        std::atomic<int> durable{0};
        std::atomic<int> not_durable{0};
        for (int i = 0; i < 3; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
            std::promise<void> done;
            log.when_durable(0, [&](bool ok) {
                ++(ok ? durable : not_durable);
                done.set_value();
            });
            done.get_future().wait();
        }
        EXPECT_EQ(durable.load(), 0);
        EXPECT_EQ(not_durable.load(), 3);
        EXPECT_GE(log.commit_stats().failed, 3u);
        EXPECT_FALSE(log.healthy());
        EXPECT_NE(log.problem().find("cannot fsync"), std::string::npos) << log.problem();
    }
    ::close(reader);
}

// A file-size limit makes write(2) fail with EFBIG after a short write, the way a full
// disk does: the half record is cut, the log reports the episode, and it recovers once the
// limit is raised. The limit applies to this test process for a moment.
TEST(DiskTrouble, FailedWriteLeavesNoHalfRecordAndRecovers) {
    test::TempDir dir;
    struct rlimit saved {};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    constexpr rlim_t kLimit = rlim_t{16} * 1024;
    std::size_t logged = 0;
    std::size_t failures = 0;
    {
        EventLog log({dir.path(), 1, FsyncMode::always});
        log.replay([](const Event&) {});
        log.open();
        struct rlimit small = saved;
        small.rlim_cur = kLimit;
        ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
        // Batches of 3, so the write that meets the limit is cut short inside a record.
        for (int i = 0; i < 1000 && failures < 5; ++i) {
            std::vector<Event> batch = {event(3 * i), event(3 * i + 1), event(3 * i + 2)};
            if (log.append(0, batch.data(), batch.size())) {
                EXPECT_EQ(failures, 0u) << "an append succeeded while the file was full";
                logged += 3;
            } else {
                ++failures;
                EXPECT_FALSE(log.healthy());
                EXPECT_NE(log.problem().find("File too large"), std::string::npos) << log.problem();
            }
        }
        const std::string bytes = file_bytes(dir.path() + "/w0-00000001.log");
        ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
        EXPECT_EQ(failures, 5u);
        EXPECT_LE(bytes.size(), kLimit);
        // The file holds whole records only.
        std::size_t records = 0;
        LoggedRecord record;
        for (RecordCursor cursor(bytes); !cursor.done(); ++records)
            ASSERT_EQ(cursor.next(record), DecodeStatus::ok) << "garbage at " << cursor.end();
        EXPECT_EQ(records, logged);

        // Space is back: the next append works and the log is healthy again.
        auto next = event(99'999);
        ASSERT_TRUE(log.append(0, &next, 1));
        ++logged;
        EXPECT_TRUE(log.healthy());
        EXPECT_EQ(log.problem(), "");
    }
    std::signal(SIGXFSZ, old_handler);
    ReplayStats stats;
    EXPECT_EQ(replay_pages(dir.path(), 1, &stats).size(), logged);
    EXPECT_EQ(stats.damaged_files, 0u);
}

// Damage in the middle of the last records (a flipped byte): every record before it is
// kept, the rest is cut and reported with the file and offset, never skipped over.
TEST(EventLog, FlippedByteInTheLastRecordsKeepsEverythingBefore) {
    test::TempDir dir;
    constexpr int kRecords = 6;
    {
        EventLog log({dir.path(), 1, FsyncMode::never});
        log.replay([](const Event&) {});
        log.open();
        for (int i = 0; i < kRecords; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
        }
    }
    const std::string file = dir.path() + "/w0-00000001.log";
    const std::string bytes = file_bytes(file);
    std::vector<std::size_t> starts;
    for (RecordCursor cursor(bytes); !cursor.done();) {
        LoggedRecord record;
        ASSERT_EQ(cursor.next(record), DecodeStatus::ok);
        starts.push_back(cursor.frame_offset());
    }
    ASSERT_EQ(starts.size(), static_cast<std::size_t>(kRecords));
    // Every byte of the last three records, flipped in turn.
    for (std::size_t at = starts[kRecords - 3]; at < bytes.size(); ++at) {
        std::string damaged = bytes;
        damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
        std::ofstream(file, std::ios::binary | std::ios::trunc) << damaged;
        std::size_t hit = 0;  // the record holding the flipped byte
        while (hit + 1 < starts.size() && starts[hit + 1] <= at)
            ++hit;
        ReplayStats stats;
        const auto pages = replay_pages(dir.path(), 1, &stats);
        ASSERT_EQ(pages.size(), hit) << "flip at " << at;
        for (std::size_t i = 0; i < hit; ++i)
            EXPECT_EQ(pages[i], "/p" + std::to_string(i));
        ASSERT_EQ(stats.damage.size(), 1u) << "flip at " << at;
        EXPECT_EQ(stats.damage[0].file, file);
        EXPECT_EQ(stats.damage[0].offset, starts[hit]);
        EXPECT_EQ(stats.damage[0].cut_bytes, bytes.size() - starts[hit]);
        EXPECT_EQ(std::filesystem::file_size(file), starts[hit]);
    }
}

// A segment damaged in the middle while later segments are whole: the later segments are
// still replayed (each file is cut on its own) and the damage names the file.
TEST(EventLog, DamageInAnOlderSegmentIsReportedPerFile) {
    test::TempDir dir;
    {
        EventLog log({dir.path(), 1, FsyncMode::never, std::chrono::milliseconds(100), 150});
        log.replay([](const Event&) {});
        log.open();
        for (int i = 0; i < 12; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
        }
    }
    const std::string first = dir.path() + "/w0-00000001.log";
    std::string bytes = file_bytes(first);
    ASSERT_GT(bytes.size(), 20u);
    bytes.resize(bytes.size() - 3);  // torn
    std::ofstream(first, std::ios::binary | std::ios::trunc) << bytes;
    ReplayStats stats;
    const auto pages = replay_pages(dir.path(), 1, &stats);
    ASSERT_EQ(stats.damage.size(), 1u);
    EXPECT_EQ(stats.damage[0].file, first);
    EXPECT_TRUE(stats.damage[0].torn);
    EXPECT_EQ(stats.damage[0].cut_bytes, stats.cut_bytes);
    EXPECT_EQ(pages.size() + 1, 12u);  // only the torn record is lost
}

}  // namespace
}  // namespace tally::durability
