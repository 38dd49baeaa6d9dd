// The key layout (keys.hpp): every key of a site inside its hash tag, and instance ids.

#include "tally/redis/keys.hpp"

#include <gtest/gtest.h>

namespace tally::redis {
namespace {

TEST(Keys, FollowTheLayoutWithTheSiteAsHashTag) {
    const DayKeys keys("shop", "2026-11-22");
    EXPECT_EQ(keys.pageviews, "tally:{shop}:count:pageviews:2026-11-22");
    EXPECT_EQ(keys.hour(7), "tally:{shop}:count:pageviews:2026-11-22:07");
    EXPECT_EQ(keys.minute(7 * 60 + 5), "tally:{shop}:count:pageviews:2026-11-22:07:05");
    EXPECT_EQ(keys.minute(1439), "tally:{shop}:count:pageviews:2026-11-22:23:59");
    EXPECT_EQ(keys.visitors, "tally:{shop}:hll:visitors:2026-11-22");
    EXPECT_EQ(keys.sessions, "tally:{shop}:hll:sessions:2026-11-22");
    EXPECT_EQ(keys.pages, "tally:{shop}:pages:2026-11-22");
    EXPECT_EQ(keys.referrers, "tally:{shop}:referrers:2026-11-22");
    EXPECT_EQ(keys.countries, "tally:{shop}:countries:2026-11-22");
    EXPECT_EQ(keys.devices, "tally:{shop}:devices:2026-11-22");
    EXPECT_EQ(keys.events, "tally:{shop}:events:2026-11-22");
    EXPECT_EQ(realtime_channel("shop"), "tally:{shop}:realtime");
    EXPECT_EQ(checkpoint_key("shop", "t-1", "2026-11-22"), "tally:{shop}:mirror:t-1:2026-11-22");
    EXPECT_EQ(active_key("shop", "t-1"), "tally:{shop}:active:t-1");
    EXPECT_EQ(instances_key("shop"), "tally:{shop}:instances");
    EXPECT_TRUE(valid_instance_id("tally-1.eu_west"));
    EXPECT_FALSE(valid_instance_id(""));
    EXPECT_FALSE(valid_instance_id("a:b"));
    EXPECT_FALSE(valid_instance_id("a{b}"));
    EXPECT_FALSE(valid_instance_id(std::string(65, 'a')));
}

}  // namespace
}  // namespace tally::redis
