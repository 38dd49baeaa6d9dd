// redis:// URLs (address.hpp).

#include "tally/redis/address.hpp"

#include <gtest/gtest.h>

namespace tally::redis {
namespace {

TEST(RedisUrl, ParsesHostPortAndDb) {
    auto a = parse_redis_url("redis://127.0.0.1:6380/2");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 6380);
    EXPECT_EQ(a->db, 2);
    auto b = parse_redis_url("redis://redis");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->host, "redis");
    EXPECT_EQ(b->port, 6379);
    EXPECT_EQ(b->db, 0);
    for (const char* bad : {"", "http://x:1", "redis://", "redis://:6379", "redis://h:0",
                            "redis://h:70000", "redis://h:12x", "redis://h:1/-1", "redis://h:1/x"})
        EXPECT_FALSE(parse_redis_url(bad)) << bad;
}

}  // namespace
}  // namespace tally::redis
