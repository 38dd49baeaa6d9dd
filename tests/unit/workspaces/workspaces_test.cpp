#include "tally/workspaces/workspaces.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/process.hpp"

namespace tally::workspaces {
namespace {

std::string slurp(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

TokenRecord configured_token(std::string id, Role role, std::string_view secret) {
    TokenRecord token;
    token.id = std::move(id);
    token.role = role;
    token.digest = sha256(secret);
    return token;
}

WorkspacesOptions two_teams(const std::filesystem::path& dir) {
    WorkspacesOptions options;
    options.file = dir / "workspaces.json";
    options.server_token = "server-secret";
    options.configured_present = true;
    Workspace a;
    a.name = "team-a";
    a.sites = {"a.example"};
    a.tokens = {configured_token("a-admin", Role::admin, "secret-a-admin"),
                configured_token("a-view", Role::viewer, "secret-a-view")};
    Workspace b;
    b.name = "team-b";
    b.sites = {"b.example"};
    b.tokens = {configured_token("b-ingest", Role::ingest, "secret-b-ingest")};
    options.configured = {a, b};
    return options;
}

TEST(Workspaces, Sha256MatchesAKnownDigest) {
    // The digest of "abc" from FIPS 180-2's examples.
    EXPECT_EQ(to_hex(sha256("abc")),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Workspaces, NamesAndRoles) {
    EXPECT_TRUE(valid_name("team-a"));
    EXPECT_TRUE(valid_name("a"));
    EXPECT_FALSE(valid_name(""));
    EXPECT_FALSE(valid_name("Team"));
    EXPECT_FALSE(valid_name("a_b"));
    EXPECT_FALSE(valid_name(std::string(33, 'a')));
    for (Role role : {Role::admin, Role::editor, Role::viewer, Role::ingest})
        EXPECT_EQ(parse_role(role_name(role)), role);
    EXPECT_FALSE(parse_role("owner"));
}

TEST(Workspaces, WithoutWorkspacesTheGlobalTokenIsTheDefaultAdmin) {
    test::TempDir dir;
    WorkspacesOptions options;
    options.file = std::filesystem::path(dir.path()) / "workspaces.json";
    options.server_token = "the-token";
    Workspaces workspaces(options);
    workspaces.load();
    EXPECT_FALSE(workspaces.enabled());
    EXPECT_TRUE(workspaces.tokens_required());
    const auto holder = workspaces.authenticate("the-token");
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->workspace, "default");
    EXPECT_EQ(holder->role, Role::admin);
    EXPECT_TRUE(holder->server_admin);
    EXPECT_FALSE(workspaces.authenticate("the-token "));
    EXPECT_FALSE(workspaces.authenticate(""));
    EXPECT_EQ(workspaces.site_workspace("anything.example"), "default");
}

TEST(Workspaces, NoTokenAtAllRequiresNone) {
    test::TempDir dir;
    WorkspacesOptions options;
    options.file = std::filesystem::path(dir.path()) / "workspaces.json";
    Workspaces workspaces(options);
    workspaces.load();
    EXPECT_FALSE(workspaces.tokens_required());
}

TEST(Workspaces, ConfiguredTokensAndSites) {
    test::TempDir dir;
    Workspaces workspaces(two_teams(dir.path()));
    workspaces.load();
    EXPECT_TRUE(workspaces.enabled());
    const auto view = workspaces.authenticate("secret-a-view");
    ASSERT_TRUE(view);
    EXPECT_EQ(view->workspace, "team-a");
    EXPECT_EQ(view->role, Role::viewer);
    EXPECT_EQ(view->token_id, "a-view");
    EXPECT_FALSE(view->server_admin);
    const auto ingest = workspaces.authenticate("secret-b-ingest");
    ASSERT_TRUE(ingest);
    EXPECT_EQ(ingest->workspace, "team-b");
    EXPECT_EQ(workspaces.site_workspace("a.example"), "team-a");
    EXPECT_EQ(workspaces.site_workspace("b.example"), "team-b");
    EXPECT_EQ(workspaces.site_workspace("c.example"), "default");
    EXPECT_EQ(workspaces.names(), (std::vector<std::string>{"default", "team-a", "team-b"}));
}

TEST(Workspaces, MadeThroughTheApiSurvivesARestartWithoutItsSecret) {
    test::TempDir dir;
    std::string secret;
    TokenRecord record;
    {
        Workspaces workspaces(two_teams(dir.path()));
        workspaces.load();
        ASSERT_EQ(workspaces.create("team-c", {"c.example"}, 1).outcome, Workspaces::Outcome::ok);
        ASSERT_EQ(workspaces.create_token("team-c", Role::editor, 2, secret, record).outcome,
                  Workspaces::Outcome::ok);
        EXPECT_EQ(workspaces.create("team-c", {}, 3).outcome, Workspaces::Outcome::exists);
        EXPECT_EQ(workspaces.create("team-d", {"a.example"}, 3).outcome,
                  Workspaces::Outcome::invalid);
        EXPECT_EQ(workspaces.create("Bad Name", {}, 3).outcome, Workspaces::Outcome::invalid);
    }
    ASSERT_GE(secret.size(), 64u);
    const std::string file = slurp(std::filesystem::path(dir.path()) / "workspaces.json");
    EXPECT_EQ(file.find(secret), std::string::npos);
    EXPECT_NE(file.find(to_hex(sha256(secret))), std::string::npos);

    Workspaces again(two_teams(dir.path()));
    again.load();
    const auto holder = again.authenticate(secret);
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->workspace, "team-c");
    EXPECT_EQ(holder->role, Role::editor);
    EXPECT_EQ(holder->token_id, record.id);
    EXPECT_EQ(again.site_workspace("c.example"), "team-c");
    // Configured tokens still work beside the stored ones.
    EXPECT_TRUE(again.authenticate("secret-a-admin"));

    ASSERT_EQ(again.delete_token("team-c", record.id).outcome, Workspaces::Outcome::ok);
    EXPECT_FALSE(again.authenticate(secret));
    EXPECT_EQ(again.delete_token("team-c", record.id).outcome, Workspaces::Outcome::not_found);
    EXPECT_EQ(again.delete_token("team-a", "a-view").outcome, Workspaces::Outcome::invalid);
    Workspaces third(two_teams(dir.path()));
    third.load();
    EXPECT_FALSE(third.authenticate(secret));
}

TEST(Workspaces, TokensForAConfiguredWorkspaceAreKeptToo) {
    test::TempDir dir;
    std::string secret;
    TokenRecord record;
    {
        Workspaces workspaces(two_teams(dir.path()));
        workspaces.load();
        ASSERT_EQ(workspaces.create_token("team-a", Role::viewer, 5, secret, record).outcome,
                  Workspaces::Outcome::ok);
        EXPECT_EQ(workspaces.create_token("nobody", Role::viewer, 5, secret, record).outcome,
                  Workspaces::Outcome::not_found);
    }
    Workspaces again(two_teams(dir.path()));
    again.load();
    const auto holder = again.authenticate(secret);
    ASSERT_TRUE(holder);
    EXPECT_EQ(holder->workspace, "team-a");
}

TEST(Workspaces, ADamagedFileIsAnError) {
    test::TempDir dir;
    const auto path = std::filesystem::path(dir.path()) / "workspaces.json";
    std::ofstream(path) << "{\"format\": 1, \"workspaces\": [{\"name\": 3}]}";
    Workspaces workspaces(two_teams(dir.path()));
    EXPECT_THROW(workspaces.load(), std::runtime_error);
}

}  // namespace
}  // namespace tally::workspaces
