// The first durability step: an event answered 200 is in the log; a restart (clean or
// kill -9) rebuilds the same figures from it; a torn tail is cut, not crashed on.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common.hpp"

namespace tally::test {
namespace {

TEST(Durability, RestartKeepsEveryFigure) {
    Tallyd daemon;
    json before;
    {
        HttpClient client(daemon.port());
        for (int i = 0; i < 50; ++i) {
            ASSERT_EQ(
                client
                    .post("/track/pageview",
                          pageview({{"page_url", "/p" + std::to_string(i % 7)},
                                    {"user_id", "u" + std::to_string(i % 13)},
                                    {"session_id", "s" + std::to_string(i % 17)},
                                    {"referrer", "https://r" + std::to_string(i % 3) + ".com/"}}))
                    .status,
                200);
        }
        ASSERT_EQ(
            client.post("/track/event", R"({"event_name":"signup","session_id":"s1"})").status,
            200);
        before = dashboard(client, "today");
        ASSERT_EQ(before["page_views"], 50);
    }
    for (int signal : {SIGTERM, SIGKILL}) {
        daemon.stop(signal);
        daemon.restart();
        HttpClient client(daemon.port());
        json after = dashboard(client, "today");
        EXPECT_EQ(after, before) << "after signal " << signal;
    }
}

TEST(Durability, TornTailIsCutAndReported) {
    Tallyd daemon;
    {
        HttpClient client(daemon.port());
        for (int i = 0; i < 10; ++i)
            ASSERT_EQ(client.post("/track/pageview", pageview()).status, 200);
    }
    daemon.stop();
    // Append half a record to the newest segment, as a crash mid-write would leave it.
    std::filesystem::path segment;
    for (const auto& e : std::filesystem::directory_iterator(daemon.data_dir() + "/log")) {
        if (std::filesystem::file_size(e.path()) > 0)
            segment = e.path();
    }
    ASSERT_FALSE(segment.empty());
    const auto good_size = std::filesystem::file_size(segment);
    {
        std::ofstream out(segment, std::ios::app | std::ios::binary);
        out << std::string("\x40\x00\x00\x00\x12\x34", 6);
    }
    daemon.restart();
    HttpClient client(daemon.port());
    EXPECT_EQ(dashboard(client, "today")["page_views"], 10);
    EXPECT_EQ(std::filesystem::file_size(segment), good_size);
    EXPECT_NE(daemon.log_text().find("damaged or torn"), std::string::npos);
    // Appends continue after the cut.
    EXPECT_EQ(client.post("/track/pageview", pageview()).status, 200);
    daemon.stop();
    daemon.restart();
    HttpClient again(daemon.port());
    EXPECT_EQ(dashboard(again, "today")["page_views"], 11);
}

}  // namespace
}  // namespace tally::test
