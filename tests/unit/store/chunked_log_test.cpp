// ChunkedLog: the stable chunks snapshots read outside the shard lock.

#include "tally/store/chunked_log.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

namespace tally::test {
namespace {

TEST(ChunkedLog, IndexesAcrossChunkBoundaries) {
    store::ChunkedLog<std::uint64_t> log;
    for (std::uint64_t i = 0; i < 5000; ++i)
        EXPECT_EQ(log.push_back(i * 3), i * 3);
    ASSERT_EQ(log.size(), 5000u);
    for (std::uint64_t i = 0; i < 5000; ++i)
        ASSERT_EQ(log[i], i * 3) << i;
    std::uint64_t expected = 0;
    log.for_each([&](std::uint64_t v) {
        ASSERT_EQ(v, expected * 3);
        ++expected;
    });
    EXPECT_EQ(expected, 5000u);
}

TEST(ChunkedLog, AViewKeepsItsElementsWhileTheLogGrowsAndAfterItIsGone) {
    auto log = std::make_unique<store::ChunkedLog<std::string>>();
    for (int i = 0; i < 100; ++i)
        log->push_back("identity-" + std::to_string(i));
    const std::string* first = &(*log)[0];
    const auto view = log->view();
    // Appending allocates new chunks; nothing already there moves.
    std::thread writer([&] {
        for (int i = 100; i < 20000; ++i)
            log->push_back("identity-" + std::to_string(i));
    });
    std::size_t seen = 0;
    view.for_each([&](const std::string& s) {
        EXPECT_EQ(s, "identity-" + std::to_string(seen));
        ++seen;
    });
    writer.join();
    EXPECT_EQ(seen, 100u);
    EXPECT_EQ(&(*log)[0], first);
    log.reset();  // retention dropped the day: the view still owns its chunks
    EXPECT_EQ(view.size(), 100u);
    EXPECT_EQ(view[99], "identity-99");
}

}  // namespace
}  // namespace tally::test
