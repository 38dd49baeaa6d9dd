// CrawlerList against the real list (npm crawler-user-agents, as web/package-lock.json
// locks it): well-known crawlers and tools, real browsers, every instance the package
// lists, case, the empty User-Agent, and each documented load error.

#include "tally/bots/crawler_list.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using nlohmann::json;
using tally::bots::CrawlerList;

namespace {

const fs::path kListFile = TALLY_CRAWLER_LIST;

// The real list, loaded once for the whole binary: compiling it is the slow part.
const CrawlerList& real_list() {
    static const CrawlerList list = [] {
        std::string error;
        auto loaded = CrawlerList::load(kListFile, error);
        if (!loaded) {
            ADD_FAILURE() << error << " (scripts/install-deps.sh runs npm ci in web/)";
            std::abort();
        }
        return *std::move(loaded);
    }();
    return list;
}

json read_json(const fs::path& path) {
    std::ifstream in(path);
    return json::parse(in);
}

}  // namespace

TEST(CrawlerList, LoadsThePackageAndNamesItsVersion) {
    const json package = read_json(kListFile.parent_path() / "package.json");
    EXPECT_EQ(real_list().version(),
              "crawler-user-agents " + package["version"].get<std::string>());
    EXPECT_EQ(real_list().pattern_count(), read_json(kListFile).size());
    EXPECT_GT(real_list().pattern_count(), 1000U);
}

// Long User-Agents, named so that the lists below hold one entry per line.
constexpr const char* kHeadlessChrome =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36";
constexpr const char* kGptBot =
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
    "+https://openai.com/gptbot)";

TEST(CrawlerList, MatchesWellKnownCrawlersAndTools) {
    for (const char* ua : {
             "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
             "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
             kHeadlessChrome,
             "curl/8.5.0",
             "curl/8.11.1",
             "python-requests/2.31.0",
             "Wget/1.21.3",
             "Go-http-client/1.1",
             kGptBot,
             "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
         }) {
        EXPECT_TRUE(real_list().matches(ua)) << ua;
    }
}

TEST(CrawlerList, LetsRealBrowsersThrough) {
    for (const char* ua : {
             // Chrome, Edge, Firefox, Safari on desktops
             "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.0.0 Safari/537.36",
             "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
             "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
             "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:122.0) Gecko/20100101 Firefox/122.0",
             "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
             "Gecko) Version/17.2 Safari/605.1.15",
             // and on phones and tablets
             "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
             "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
             "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
             "Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
             "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/120.0.6099.144 Mobile Safari/537.36",
             "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
             "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
             "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
             "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
             "like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
         }) {
        EXPECT_FALSE(real_list().matches(ua)) << ua;
    }
}

// The package's matchers are case-sensitive by default and its tests check instances
// case-sensitively; so does this list.
TEST(CrawlerList, IsCaseSensitiveLikeThePackage) {
    EXPECT_TRUE(real_list().matches("curl/8.5.0"));
    EXPECT_FALSE(real_list().matches("CURL/8.5.0"));
    EXPECT_FALSE(real_list().matches("MOZILLA/5.0 (COMPATIBLE; GOOGLEBOT/2.1)"));
}

// An empty User-Agent matches no pattern: it is not a crawler (see crawler_list.hpp).
TEST(CrawlerList, TheEmptyUserAgentIsNotACrawler) {
    EXPECT_FALSE(real_list().matches(""));
}

// The strongest check that RE2 reads the patterns as upstream means them: every example
// User-Agent the package lists matches its own pattern alone (so no other pattern hides a
// misread one), and the whole list.
TEST(CrawlerList, EveryInstanceMatchesItsPatternAndTheList) {
    std::size_t instances = 0;
    for (const json& entry : read_json(kListFile)) {
        const std::string pattern = entry["pattern"].get<std::string>();
        const RE2 alone(pattern);
        ASSERT_TRUE(alone.ok()) << pattern << ": " << alone.error();
        for (const json& instance : entry.value("instances", json::array())) {
            const std::string ua = instance.get<std::string>();
            EXPECT_TRUE(RE2::PartialMatch(ua, alone)) << pattern << " misses " << ua;
            EXPECT_TRUE(real_list().matches(ua)) << ua;
            ++instances;
        }
    }
    EXPECT_GT(instances, 1000U);
}

// Load errors: one line naming the file and the problem.
class CrawlerListLoadTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("tally-bots-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    // Writes `text` as the list file and loads it; returns the error (empty on success).
    std::string load_error(const std::string& text) {
        const fs::path file = dir_ / "crawler-user-agents.json";
        std::ofstream(file) << text;
        std::string error;
        loaded_ = CrawlerList::load(file, error);
        EXPECT_EQ(loaded_.has_value(), error.empty()) << error;
        return error;
    }
    std::string path() const { return (dir_ / "crawler-user-agents.json").string(); }

    fs::path dir_;
    std::optional<CrawlerList> loaded_;
};

TEST_F(CrawlerListLoadTest, AMissingFile) {
    std::string error;
    EXPECT_FALSE(CrawlerList::load(dir_ / "absent.json", error));
    EXPECT_EQ(error, (dir_ / "absent.json").string() + ": no such file");
}

TEST_F(CrawlerListLoadTest, NotJson) {
    EXPECT_EQ(load_error("[{\"pattern\": \"bot\""), path() + ": not JSON");
}

TEST_F(CrawlerListLoadTest, NotAListOfPatterns) {
    EXPECT_EQ(load_error("{\"pattern\": \"bot\"}"),
              path() + ": not a JSON array of {\"pattern\": ...} entries");
    EXPECT_EQ(load_error(R"([{"pattern": "bot"}, {"instances": []}])"),
              path() + ": entry 1 has no string \"pattern\"");
    EXPECT_EQ(load_error(R"([{"pattern": 7}])"), path() + ": entry 0 has no string \"pattern\"");
}

TEST_F(CrawlerListLoadTest, NoPatterns) {
    EXPECT_EQ(load_error("[]"), path() + ": no patterns");
}

// One bad pattern fails the whole load, naming it (it is not skipped).
TEST_F(CrawlerListLoadTest, APatternRe2Refuses) {
    EXPECT_EQ(load_error(R"([{"pattern": "bot"}, {"pattern": "(?<!cam)scan"}])"),
              path() + ": pattern 1 \"(?<!cam)scan\" refused by RE2: invalid perl operator: (?<");
    EXPECT_EQ(load_error(R"([{"pattern": "spider("}])"),
              path() + ": pattern 0 \"spider(\" refused by RE2: missing ): spider(");
}

TEST_F(CrawlerListLoadTest, APatternMatchingEveryUserAgent) {
    EXPECT_EQ(load_error(R"([{"pattern": "bot"}, {"pattern": "x*"}])"),
              path() + ": pattern 1 \"x*\" matches the empty string, so every User-Agent");
}

TEST_F(CrawlerListLoadTest, AListWithoutPackageJsonLoadsUnversioned) {
    EXPECT_EQ(load_error(R"([{"pattern": "[bB]ot\\b"}, {"pattern": "^curl"}])"), "");
    ASSERT_TRUE(loaded_);
    EXPECT_EQ(loaded_->version(), "unknown version");
    EXPECT_EQ(loaded_->pattern_count(), 2U);
    EXPECT_TRUE(loaded_->matches("SomeBot (+https://example.com)"));
    EXPECT_TRUE(loaded_->matches("curl/8.5.0"));
    EXPECT_FALSE(loaded_->matches("Botany/1.0 libcurl"));
}
