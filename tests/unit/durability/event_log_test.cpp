// The event log: append, replay, segments, and cutting a damaged tail.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/process.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/durability/record.hpp"

namespace tally::durability {
namespace {

ingest::Event event(int i) {
    ingest::Event e;
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
    auto s = log.replay([&](const ingest::Event& e) { pages.push_back(e.page); });
    if (stats)
        *stats = s;
    return pages;
}

TEST(EventLog, AppendThenReplayInEveryMode) {
    for (FsyncMode mode : {FsyncMode::always, FsyncMode::interval, FsyncMode::never}) {
        test::TempDir dir;
        {
            EventLog log({dir.path(), 2, mode});
            log.replay([](const ingest::Event&) {});
            log.open();
            for (int i = 0; i < 10; ++i) {
                auto e = event(i);
                ASSERT_TRUE(log.append(static_cast<std::size_t>(i % 2), &e, 1));
            }
            std::vector<ingest::Event> batch = {event(10), event(11)};
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
        log.replay([](const ingest::Event&) {});
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

TEST(EventLog, TruncatedAtEveryOffsetKeepsEveryCompleteRecord) {
    test::TempDir dir;
    {
        EventLog log({dir.path(), 1, FsyncMode::never});
        log.replay([](const ingest::Event&) {});
        log.open();
        for (int i = 0; i < 3; ++i) {
            auto e = event(i);
            ASSERT_TRUE(log.append(0, &e, 1));
        }
    }
    const auto file = dir.path() + "/w0-00000001.log";
    std::string bytes;
    {
        std::ifstream in(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    // Record boundaries: replay of growing prefixes.
    std::vector<std::size_t> ends;
    {
        std::size_t offset = 0;
        while (offset < bytes.size()) {
            ingest::Event e;
            auto r = decode_record(std::string_view(bytes).substr(offset), e);
            offset += r.consumed;
            ends.push_back(offset);
        }
    }
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
