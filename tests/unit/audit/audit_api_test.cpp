// GET /api/v1/audit: admins only, scoped to the token's workspace (all of them for the
// server's admin), since/limit/workspace checked with a 400 naming the parameter.

#include "tally/api/audit_api.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "tally/base/time.hpp"

namespace tally::api {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using workspaces::Role;

constexpr std::int64_t kNoon = 20'000 * kMsPerDay + kMsPerDay / 2;  // 2024-10-04T12:00:00Z

workspaces::TokenRecord token(std::string id, Role role, std::string_view secret) {
    workspaces::TokenRecord record;
    record.id = std::move(id);
    record.role = role;
    record.digest = workspaces::sha256(secret);
    return record;
}

workspaces::WorkspacesOptions two_teams(const fs::path& dir) {
    workspaces::WorkspacesOptions options;
    options.file = dir / "workspaces.json";
    options.server_token = "server-secret";
    options.configured_present = true;
    workspaces::Workspace a;
    a.name = "team-a";
    a.sites = {"a.example"};
    a.tokens = {token("a-admin", Role::admin, "secret-a-admin"),
                token("a-edit", Role::editor, "secret-a-edit")};
    workspaces::Workspace b;
    b.name = "team-b";
    b.sites = {"b.example"};
    b.tokens = {token("b-admin", Role::admin, "secret-b-admin")};
    options.configured = {a, b};
    return options;
}

class AuditApiTest : public ::testing::Test {
  protected:
    AuditApiTest()
        : workspaces_(two_teams(tmp_.path())),
          log_(audit::AuditOptions{fs::path(tmp_.path()) / "audit", 400}),
          authorization_(workspaces_, &log_),
          api_(authorization_, log_) {
        workspaces_.load();
        log_.open(kNoon);
        for (int i = 0; i < 6; ++i) {
            audit::Entry e;
            e.time_ms = kNoon + i * 1000;
            e.workspace = i % 2 == 0 ? "team-a" : "team-b";
            e.token_id = i % 2 == 0 ? "a-edit" : "b-admin";
            e.action = i < 2 ? "dashboard.create" : "dashboard.update";
            e.object_id = "d" + std::to_string(i % 2);
            e.version_before = i < 2 ? 0 : i;
            e.version_after = i + 1;
            log_.append(e);
        }
    }

    http::Response get(std::string_view query, std::string_view secret) {
        http::Request request;
        request.method = http::Method::get;
        request.path = "/api/v1/audit";
        request.query = query;
        authorization_header_ = "Bearer " + std::string(secret);
        request.authorization = authorization_header_;
        return api_.list(request);
    }

    std::vector<json> entries(std::string_view query, std::string_view secret) {
        const http::Response response = get(query, secret);
        EXPECT_EQ(response.status, 200u) << response.body;
        const json body = json::parse(response.body);
        return body["entries"].get<std::vector<json>>();
    }

    test::TempDir tmp_;
    workspaces::Workspaces workspaces_;
    audit::AuditLog log_;
    Authorization authorization_;
    AuditApi api_;
    std::string authorization_header_;
};

TEST_F(AuditApiTest, AWorkspaceAdminReadsItsOwnEntriesOldestFirst) {
    const std::vector<json> got = entries("", "secret-a-admin");
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0], json::parse(R"({"time":"2024-10-04T12:00:00Z","workspace":"team-a",
        "token_id":"a-edit","action":"dashboard.create","object_id":"d0",
        "version_before":null,"version_after":1,"detail":""})"));
    EXPECT_EQ(got[1]["time"], "2024-10-04T12:00:02Z");
    EXPECT_EQ(got[1]["version_before"], 2);
    EXPECT_EQ(got[2]["time"], "2024-10-04T12:00:04Z");
    // Its own workspace named is the same; another's reads as one that does not exist.
    EXPECT_EQ(entries("workspace=team-a", "secret-a-admin").size(), 3u);
    EXPECT_EQ(get("workspace=team-b", "secret-a-admin").status, 404u);
}

TEST_F(AuditApiTest, OnlyAdminsAndAValidTokenRecordedWhenRefused) {
    EXPECT_EQ(get("", "secret-a-edit").status, 403u);
    const http::Response refused = get("", "not-a-token");
    EXPECT_EQ(refused.status, 401u);
    // The refusal itself is in the trail, seen by the server's admin, never its secret.
    const std::vector<json> all = entries("limit=10000", "server-secret");
    ASSERT_EQ(all.size(), 7u);
    EXPECT_EQ(all.back()["action"], "token.refused");
    EXPECT_EQ(all.back()["version_after"], nullptr);
    EXPECT_EQ(all.back().dump().find("not-a-token"), std::string::npos);
    EXPECT_EQ(entries("", "secret-a-admin").size(), 3u);
}

TEST_F(AuditApiTest, TheServerAdminReadsEveryWorkspaceOrOneNamed) {
    EXPECT_EQ(entries("", "server-secret").size(), 6u);
    const std::vector<json> b = entries("workspace=team-b", "server-secret");
    ASSERT_EQ(b.size(), 3u);
    for (const json& e : b)
        EXPECT_EQ(e["workspace"], "team-b");
    EXPECT_TRUE(entries("workspace=team-z", "server-secret").empty());
}

TEST_F(AuditApiTest, SinceAndLimit) {
    EXPECT_EQ(entries("since=2024-10-04T12:00:03Z", "server-secret").size(), 3u);
    EXPECT_EQ(entries("since=2024-10-04T14:00:03%2B02:00", "server-secret").size(), 3u);
    EXPECT_EQ(entries("since=" + std::to_string(kNoon + 4000), "server-secret").size(), 2u);
    const std::vector<json> two = entries("limit=2", "server-secret");
    ASSERT_EQ(two.size(), 2u);
    EXPECT_EQ(two[1]["time"], "2024-10-04T12:00:01Z");
    EXPECT_EQ(entries("limit=10000&since=0", "server-secret").size(), 6u);
}

TEST_F(AuditApiTest, BadParametersAre400NamingThem) {
    for (const char* query : {"since=yesterday", "since=-5", "since=", "limit=0", "limit=10001",
                              "limit=x", "limit=", "workspace=Team_B", "workspace="}) {
        const http::Response response = get(query, "server-secret");
        EXPECT_EQ(response.status, 400u) << query;
        const std::string name = std::string(query).substr(0, std::string(query).find('='));
        EXPECT_EQ(json::parse(response.body)["field"], name) << query;
    }
}

}  // namespace
}  // namespace tally::api
