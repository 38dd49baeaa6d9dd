// The daemon's configuration helpers that need no running tallyd (the command line and
// config file are tested against the real binary in tests/integration/cli_test.cpp).

#include "tally/daemon/config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tally/redis/keys.hpp"

namespace tally::test {
namespace {

TEST(FleetConfig, HostNamesBecomeValidInstanceIds) {
    EXPECT_EQ(daemon::instance_id_from_host("web-1.example.com"), "web-1.example.com");
    EXPECT_EQ(daemon::instance_id_from_host("my host{1}:x"), "my-host-1--x");
    EXPECT_EQ(daemon::instance_id_from_host(std::string(100, 'h')), std::string(64, 'h'));
    EXPECT_EQ(daemon::instance_id_from_host(""), "tallyd");
    EXPECT_TRUE(redis::valid_instance_id(daemon::default_instance_id()));
}

}  // namespace
}  // namespace tally::test
