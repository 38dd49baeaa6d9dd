// The daemon's configuration helpers that need no running tallyd (the command line and
// config file are tested against the real binary in tests/integration/cli_test.cpp).

#include "tally/daemon/config.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/process.hpp"
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

daemon::Config parse_json(const std::string& text) {
    TempDir dir;
    const std::string path = dir.path() + "/tallyd.json";
    std::ofstream(path) << text;
    const char* argv[] = {"tallyd", "--config", path.c_str()};
    return daemon::parse_command_line(3, argv, nullptr).config;
}

std::string error_of(const std::string& text) {
    try {
        parse_json(text);
    } catch (const daemon::ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(WorkspacesConfig, TokensAreKeptAsDigests) {
    const daemon::Config config = parse_json(R"({"workspaces": [
        {"name": "shop", "sites": ["shop.example"],
         "tokens": [{"id": "a", "role": "admin", "token": "a-long-secret"},
                    {"role": "viewer", "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]}],
        "statsd": {"workspace": "shop"}})");
    ASSERT_TRUE(config.workspaces_configured);
    ASSERT_EQ(config.workspaces.size(), 1u);
    const auto& shop = config.workspaces[0];
    EXPECT_EQ(shop.sites, std::vector<std::string>{"shop.example"});
    ASSERT_EQ(shop.tokens.size(), 2u);
    EXPECT_EQ(shop.tokens[0].id, "a");
    EXPECT_EQ(shop.tokens[0].digest, workspaces::sha256("a-long-secret"));
    EXPECT_EQ(shop.tokens[1].role, workspaces::Role::viewer);
    EXPECT_EQ(shop.tokens[1].digest, workspaces::sha256("abc"));
    EXPECT_EQ(shop.tokens[1].id, "ba7816bf8f01");  // the digest's start when no id is given
    EXPECT_EQ(config.statsd_workspace, "shop");
}

TEST(WorkspacesConfig, BadOnesNameTheirKey) {
    EXPECT_NE(error_of(R"({"workspaces": {}})").find("workspaces"), std::string::npos);
    EXPECT_NE(error_of(R"({"workspaces": [{"name": "Shop"}]})").find("workspaces[0].name"),
              std::string::npos);
    EXPECT_NE(
        error_of(
            R"({"workspaces": [{"name": "a", "sites": ["x"]}, {"name": "b", "sites": ["x"]}]})")
            .find("workspaces[1].sites"),
        std::string::npos);
    EXPECT_NE(
        error_of(
            R"({"workspaces": [{"name": "a", "tokens": [{"role": "owner", "token": "12345678"}]}]})")
            .find("workspaces[0].tokens[0].role"),
        std::string::npos);
    EXPECT_NE(
        error_of(
            R"({"workspaces": [{"name": "a", "tokens": [{"role": "admin", "sha256": "xyz"}]}]})")
            .find("workspaces[0].tokens[0].sha256"),
        std::string::npos);
    EXPECT_NE(error_of(R"({"statsd": {"workspace": "nowhere"}})").find("statsd.workspace"),
              std::string::npos);
    EXPECT_NE(error_of(R"({"audit": {"retention_days": 0}})").find("audit.retention_days"),
              std::string::npos);
}

}  // namespace
}  // namespace tally::test
