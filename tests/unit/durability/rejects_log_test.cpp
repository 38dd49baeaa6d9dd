// The rejects log: one JSON line per refused input, files by UTC day and size, retention.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/process.hpp"
#include "tally/base/time.hpp"
#include "tally/durability/rejects_log.hpp"

namespace tally::durability {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::int64_t kDay = 24LL * 3600 * 1000;
constexpr std::int64_t kNoon = 20'000 * kDay + kDay / 2;  // 2024-10-04T12:00:00Z

std::vector<json> lines_of(const fs::path& file) {
    std::ifstream in(file);
    std::vector<json> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(json::parse(line));
    return lines;
}

std::vector<std::string> names(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& f : RejectsLog::files(dir))
        out.push_back(f.filename().string());
    return out;
}

TEST(RejectsLog, OneLinePerRejectionWithThePayloadCutAt4KiB) {
    test::TempDir dir;
    {
        RejectsLog log({dir.path(), 1 << 20, 30});
        log.append(kNoon, "/track/pageview", "invalid_country", "country", "country must be two",
                   R"({"country":"Germany"})");
        log.append(kNoon + 1, "/track/event", "invalid_json", "", "not JSON",
                   std::string(10'000, 'x') + "\xff");
    }
    ASSERT_EQ(names(dir.path()), std::vector<std::string>{"r-2024-10-04-0001.log"});
    const auto lines = lines_of(RejectsLog::files(dir.path())[0]);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["time"], "2024-10-04T12:00:00Z");
    EXPECT_EQ(lines[0]["route"], "/track/pageview");
    EXPECT_EQ(lines[0]["reason"], "invalid_country");
    EXPECT_EQ(lines[0]["field"], "country");
    EXPECT_EQ(lines[0]["payload"], R"({"country":"Germany"})");
    EXPECT_FALSE(lines[0].contains("payload_bytes"));
    EXPECT_EQ(lines[1]["payload"].get<std::string>().size(), RejectsLog::kMaxPayload);
    EXPECT_EQ(lines[1]["payload_bytes"], 10'001);
}

TEST(RejectsLog, ABatchIsOneLineWithEveryRefusedItem) {
    test::TempDir dir;
    const std::string body = R"([{"type":"pageview"},{"type":"event"},{"type":"x"}])";
    {
        RejectsLog log({dir.path(), 1 << 20, 30});
        std::vector<BatchItemRejection> items = {
            {0, {"missing_field", "page_url", "page_url is required"}},
            {2, {"invalid_type", "type", "type must be pageview or event"}}};
        log.append_batch(kNoon, "/track/batch", items, body);
    }
    const auto lines = lines_of(RejectsLog::files(dir.path())[0]);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0]["reason"], "batch_items");
    EXPECT_EQ(lines[0]["payload"], body);
    ASSERT_EQ(lines[0]["items"].size(), 2u);
    EXPECT_EQ(lines[0]["items"][1]["index"], 2);
    EXPECT_EQ(lines[0]["items"][1]["field"], "type");
    EXPECT_EQ(lines[0]["items"][0]["error"], "page_url is required");
}

TEST(RejectsLog, NewFileEachDayAndWhenFullAndAfterARestart) {
    test::TempDir dir;
    {
        RejectsLog log({dir.path(), 300, 30});
        for (int i = 0; i < 4; ++i)  // ~200 bytes a line: two a file
            log.append(kNoon, "/track/pageview", "r", "", "e", std::string(120, 'a'));
        log.append(kNoon + kDay, "/track/pageview", "r", "", "e", "next day");
    }
    {
        RejectsLog log({dir.path(), 300, 30});  // continues the day's newest file
        log.append(kNoon + kDay + 1, "/track/pageview", "r", "", "e", "after restart");
    }
    EXPECT_EQ(names(dir.path()),
              (std::vector<std::string>{"r-2024-10-04-0001.log", "r-2024-10-04-0002.log",
                                        "r-2024-10-05-0001.log"}));
    for (const auto& file : RejectsLog::files(dir.path()))
        EXPECT_EQ(lines_of(file).size(), 2u) << file;
}

TEST(RejectsLog, RetentionDeletesWholeDaysBeforeTheWindow) {
    test::TempDir dir;
    RejectsLog log({dir.path(), 1 << 20, 3});
    for (int d = 0; d < 6; ++d)
        log.append(kNoon + d * kDay, "/track/pageview", "r", "", "e", "p");
    std::ofstream(dir.path() + "/notes.txt") << "not ours";
    const auto removed = log.remove_expired(kNoon + 5 * kDay);  // keeps days 3, 4, 5
    EXPECT_EQ(removed.size(), 3u);
    EXPECT_EQ(names(dir.path()),
              (std::vector<std::string>{"r-2024-10-07-0001.log", "r-2024-10-08-0001.log",
                                        "r-2024-10-09-0001.log"}));
    EXPECT_TRUE(fs::exists(dir.path() + "/notes.txt"));
    // The open file survives and keeps taking lines.
    log.append(kNoon + 5 * kDay + 1, "/track/pageview", "r", "", "e", "p");
    EXPECT_EQ(lines_of(RejectsLog::files(dir.path()).back()).size(), 2u);
}

}  // namespace
}  // namespace tally::durability
