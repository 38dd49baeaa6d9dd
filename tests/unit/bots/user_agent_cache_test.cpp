// UserAgentCache: the same answers as the list (I1), within its bound after many distinct
// User-Agents (I2), long User-Agents matched but never stored, and clear().

#include "tally/bots/user_agent_cache.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

using tally::bots::CrawlerList;
using tally::bots::UserAgentCache;

namespace {

const CrawlerList& real_list() {
    static const CrawlerList list = [] {
        std::string error;
        auto loaded = CrawlerList::load(TALLY_CRAWLER_LIST, error);
        if (!loaded) {
            ADD_FAILURE() << error << " (scripts/install-deps.sh runs npm ci in web/)";
            std::abort();
        }
        return *std::move(loaded);
    }();
    return list;
}

constexpr const char* kChrome =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
constexpr const char* kSafariIphone =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1";

const std::vector<std::string> kMix = {
    kChrome,
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.5.0",
    kSafariIphone,
    "python-requests/2.31.0",
    "",
};

// A distinct User-Agent for each i: browsers with made-up build numbers, and every tenth a
// crawler, so both answers pass through the slots.
std::string distinct_user_agent(int i) {
    if (i % 10 == 0)
        return "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) #" +
               std::to_string(i);
    return "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0." +
           std::to_string(i) + ".0 Safari/537.36";
}

}  // namespace

TEST(UserAgentCache, GivesTheListsAnswersAndRemembersThem) {
    UserAgentCache cache;
    for (int round = 0; round < 3; ++round) {
        for (const std::string& ua : kMix)
            EXPECT_EQ(cache.is_bot(real_list(), ua), real_list().matches(ua)) << ua;
    }
    EXPECT_EQ(cache.misses(), kMix.size());
    EXPECT_EQ(cache.hits(), 2 * kMix.size());
    EXPECT_EQ(cache.size(), kMix.size());
}

TEST(UserAgentCache, StaysWithinItsBoundAfter100000DistinctUserAgents) {
    UserAgentCache cache;
    ASSERT_EQ(cache.capacity(), UserAgentCache::kDefaultCapacity);
    for (int pass = 0; pass < 2; ++pass) {
        for (int i = 0; i < 100'000; ++i) {
            const std::string ua = distinct_user_agent(i);
            ASSERT_EQ(cache.is_bot(real_list(), ua), i % 10 == 0) << ua;
            ASSERT_LE(cache.size(), cache.capacity());
        }
    }
    EXPECT_EQ(cache.hits() + cache.misses(), 200'000U);
    EXPECT_GT(cache.size(), cache.capacity() / 2);  // the slots are used, not one of them
}

TEST(UserAgentCache, CollidingUserAgentsNeverShareAnAnswer) {
    UserAgentCache cache(2);  // one pair: every User-Agent shares it
    for (int round = 0; round < 3; ++round) {
        for (const std::string& ua : kMix)
            EXPECT_EQ(cache.is_bot(real_list(), ua), real_list().matches(ua)) << ua;
    }
    EXPECT_EQ(cache.size(), 2U);
    EXPECT_EQ(cache.hits(), 0U);  // seven User-Agents in turn through two slots: LRU keeps none
}

TEST(UserAgentCache, MatchesLongUserAgentsWithoutStoringThem) {
    UserAgentCache cache;
    const std::string padding(UserAgentCache::kDefaultMaxCachedLength, 'x');
    EXPECT_TRUE(cache.is_bot(real_list(), padding + " Googlebot/2.1"));
    EXPECT_FALSE(cache.is_bot(real_list(), padding + " Firefox/121.0"));
    EXPECT_EQ(cache.uncached(), 2U);
    EXPECT_EQ(cache.size(), 0U);
    // exactly max_cached_length() bytes is still stored
    EXPECT_FALSE(cache.is_bot(real_list(), padding));
    EXPECT_EQ(cache.size(), 1U);
}

// Within a pair the slot used less recently goes: a popular User-Agent survives a stream of
// one-off ones sharing its pair.
TEST(UserAgentCache, KeepsTheRecentlyUsedSlotOfAPair) {
    UserAgentCache cache(2);
    const std::string popular = kChrome;
    cache.is_bot(real_list(), popular);
    for (int i = 0; i < 100; ++i) {
        EXPECT_FALSE(cache.is_bot(real_list(), popular));
        cache.is_bot(real_list(), distinct_user_agent(i));
    }
    EXPECT_EQ(cache.hits(), 100U);
    EXPECT_EQ(cache.misses(), 101U);
}

TEST(UserAgentCache, RoundsItsCapacityUpToAPowerOfTwo) {
    EXPECT_EQ(UserAgentCache(1000).capacity(), 1024U);
    EXPECT_EQ(UserAgentCache(0).capacity(), 2U);
    EXPECT_EQ(UserAgentCache(3).capacity(), 4U);
}

TEST(UserAgentCache, ClearForgetsEveryAnswer) {
    UserAgentCache cache;
    for (const std::string& ua : kMix)
        cache.is_bot(real_list(), ua);
    cache.clear();
    EXPECT_EQ(cache.size(), 0U);
    EXPECT_TRUE(cache.is_bot(real_list(), "curl/8.5.0"));
    EXPECT_EQ(cache.misses(), kMix.size() + 1);
}
