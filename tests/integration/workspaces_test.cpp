// Workspaces and roles in the real daemon: every endpoint × every role × its own
// workspace's object or another's, with the status each cell must answer; the audit trail
// of changes and refusals; and a token's secret never showing after it was made.

#include <functional>
#include <set>
#include <thread>

#include "common.hpp"
#include "support/ws_client.hpp"

namespace tally::test {
namespace {

const std::vector<std::string> kRoles = {"admin", "editor", "viewer", "ingest"};

std::string team_config(const std::string& dir) {
    json workspaces = json::array();
    for (const std::string team : {"a", "b"}) {
        json tokens = json::array();
        for (const std::string& role : kRoles)
            tokens.push_back({{"id", team + "-" + role},
                              {"role", role},
                              {"token", "secret-" + team + "-" + role}});
        workspaces.push_back(
            {{"name", "team-" + team}, {"sites", {team + ".example"}}, {"tokens", tokens}});
    }
    const std::string path = dir + "/tallyd.json";
    std::ofstream(path) << json{{"token", "server-secret"}, {"workspaces", workspaces}}.dump();
    return path;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers bearer(const std::string& token) {
    if (token.empty())
        return {};
    return {{"Authorization", "Bearer " + token}};
}

/// The expected status of a cell, by what the route needs.
enum class Kind { read_scoped, read_list, edit_scoped, create, ingest, admin, server_admin };

int expected(Kind kind, const std::string& role, bool own, int ok) {
    if (role == "none" || role == "bad")
        return 401;
    const bool reads = role != "ingest";
    const bool edits = role == "admin" || role == "editor";
    switch (kind) {
        case Kind::read_scoped:
            return !reads ? 403 : own ? ok : 404;
        case Kind::read_list:
            return reads ? ok : 403;
        case Kind::edit_scoped:
            return !edits ? 403 : own ? ok : 404;
        case Kind::create:
            return edits ? ok : 403;
        case Kind::ingest:
            return role != "viewer" ? ok : 403;
        case Kind::admin:
            return role == "admin" ? ok : 403;
        case Kind::server_admin:
            return 403;
    }
    return 0;
}

class WorkspacesTest : public ::testing::Test {
  public:
    void SetUp() override {
        tallyd_ = std::make_unique<Tallyd>(
            std::vector<std::string>{"--config", team_config(dir_.path())});
        client_ = std::make_unique<HttpClient>(tallyd_->port());
        for (const std::string team : {"a", "b"}) {
            const std::string site = team + ".example";
            ASSERT_EQ(client_->post("/track/pageview", pageview({{"site", site}})).status, 200);
            const json point = {
                {"name", "svc." + team + ".latency"}, {"type", "gauge"}, {"value", 5}};
            ASSERT_EQ(call("POST", "/api/v1/metrics", token(team, "ingest"),
                           json{{"metrics", {point}}}.dump())
                          .status,
                      200);
            dashboards_[team] = make_dashboard(team);
            ASSERT_FALSE(dashboards_[team].empty());
            reports_[team] = make_document(team, "reports", report_body(team));
            alerts_[team] = make_document(team, "alerts", alert_body(team));
        }
    }

    json report_body(const std::string& team) {
        return {{"name", "weekly " + team},
                {"dashboard_id", dashboards_[team]},
                {"schedule", "weekly@mon 06:00"},
                {"range", "previous_period"},
                {"format", "json"},
                {"destination", {{"type", "webhook"}, {"url", "http://127.0.0.1:9/report"}}}};
    }

    static json alert_body(const std::string& team) {
        return {{"alert_name", "slow " + team},
                {"metric", "svc." + team + ".latency"},
                {"aggregation", "avg"},
                {"window", "1m"},
                {"condition", {{"operator", ">"}, {"threshold", 1000}, {"duration", "0s"}}},
                {"no_data", "ok"},
                {"actions", {{{"type", "webhook"}, {"url", "http://127.0.0.1:9/alert"}}}}};
    }

    /// A report or alert of `team`, made by its editor; its id ("" when refused).
    std::string make_document(const std::string& team, const std::string& kind, const json& body) {
        const auto r = call("POST", "/api/v1/" + kind, token(team, "editor"), body.dump());
        EXPECT_EQ(r.status, 201) << kind << ": " << r.body;
        return r.status == 201 ? json::parse(r.body)["id"].get<std::string>() : "";
    }

    static std::string token(const std::string& team, const std::string& role) {
        if (role == "none")
            return "";
        if (role == "bad")
            return "not-a-token";
        return "secret-" + team + "-" + role;
    }

    HttpResponse call(const std::string& method, const std::string& target,
                      const std::string& secret, const std::string& body = {}) {
        HttpResponse r = client_->request(method, target, body, bearer(secret));
        answers_.push_back(r.body);
        return r;
    }

    std::string make_dashboard(const std::string& team) {
        const json body = {
            {"name", "board " + team},
            {"widgets",
             {{{"id", "w1"},
               {"type", "number"},
               {"title", "views"},
               {"query",
                {{"source", "analytics"}, {"site", team + ".example"}, {"metric", "pageviews"}}},
               {"position", {{"x", 0}, {"y", 0}, {"width", 4}, {"height", 3}}}}}}};
        const auto r = call("POST", "/api/v1/dashboards", token(team, "editor"), body.dump());
        return r.status == 201 ? json::parse(r.body)["id"].get<std::string>() : "";
    }

    std::int64_t version_of(const std::string& team, const std::string& id) {
        const auto r = call("GET", "/api/v1/dashboards/" + id, token(team, "admin"));
        return r.status == 200 ? json::parse(r.body)["version"].get<std::int64_t>() : -1;
    }

    TempDir dir_;
    std::unique_ptr<Tallyd> tallyd_;
    std::unique_ptr<HttpClient> client_;
    std::map<std::string, std::string> dashboards_;
    std::map<std::string, std::string> reports_;
    std::map<std::string, std::string> alerts_;
    std::vector<std::string> answers_;
};

struct Cell {
    std::string name;
    Kind kind;
    int ok;
    // Calls the endpoint with `secret`, on team-a's object (own) or team-b's (foreign).
    std::function<int(WorkspacesTest&, const std::string& secret, bool own)> run;
};

}  // namespace

// Reached from the cells, which are not members.
class WorkspacesMatrix : public WorkspacesTest {
  public:
    std::vector<Cell> cells();
    /// The cells of alerts or reports (`kind`): list, get, create, put, delete, and `extra`.
    std::vector<Cell> document_cells(const std::string& kind);
    void run_matrix();
};

std::vector<Cell> WorkspacesMatrix::document_cells(const std::string& kind) {
    auto ids = [this, kind](bool own) -> std::string& {
        return (kind == "alerts" ? alerts_ : reports_)[own ? "a" : "b"];
    };
    auto body = [this, kind](const std::string& team) {
        return kind == "alerts" ? alert_body(team) : report_body(team);
    };
    const std::string base = "/api/v1/" + kind;
    std::vector<Cell> out = {
        {kind + " list", Kind::read_list, 200,
         [=](WorkspacesTest& t, const std::string& s, bool) {
             return t.call("GET", base, s).status;
         }},
        {kind + " get", Kind::read_scoped, 200,
         [=](WorkspacesTest& t, const std::string& s, bool own) {
             return t.call("GET", base + "/" + ids(own), s).status;
         }},
        {kind + " create", Kind::create, 201,
         [=](WorkspacesTest& t, const std::string& s, bool) {
             return t.call("POST", base, s, body("a").dump()).status;
         }},
        {kind + " put", Kind::edit_scoped, 200,
         [=](WorkspacesTest& t, const std::string& s, bool own) {
             const std::string team = own ? "a" : "b";
             const auto current = t.call("GET", base + "/" + ids(own), token(team, "admin"));
             json edited = body(team);
             edited["version"] = json::parse(current.body)["version"];
             return t.call("PUT", base + "/" + ids(own), s, edited.dump()).status;
         }},
        {kind + " delete", Kind::edit_scoped, 204,
         [=](WorkspacesTest& t, const std::string& s, bool own) {
             const std::string team = own ? "a" : "b";
             const std::string id = t.make_document(team, kind, body(team));
             return t.call("DELETE", base + "/" + id, s).status;
         }},
    };
    if (kind == "alerts") {
        out.push_back({"alert history", Kind::read_scoped, 200,
                       [=](WorkspacesTest& t, const std::string& s, bool own) {
                           return t.call("GET", base + "/" + ids(own) + "/history", s).status;
                       }});
    } else {
        out.push_back({"report run", Kind::edit_scoped, 202,
                       [=](WorkspacesTest& t, const std::string& s, bool own) {
                           return t.call("POST", base + "/" + ids(own) + "/run", s).status;
                       }});
    }
    return out;
}

std::vector<Cell> WorkspacesMatrix::cells() {
    auto site = [](bool own) { return std::string(own ? "a" : "b") + ".example"; };
    auto board = [this](bool own) { return dashboards_[own ? "a" : "b"]; };
    auto metric = [](bool own) { return std::string("svc.") + (own ? "a" : "b") + ".latency"; };
    auto get = [](std::function<std::string(bool)> target) {
        return [target](WorkspacesTest& t, const std::string& s, bool own) {
            return static_cast<WorkspacesMatrix&>(t).call("GET", target(own), s).status;
        };
    };
    std::vector<Cell> out = {
        {"dashboard", Kind::read_scoped, 200,
         get([=](bool own) { return "/dashboard/today?site=" + site(own); })},
        {"page-views", Kind::read_scoped, 200,
         get([=](bool own) { return "/api/v1/dashboard/page-views?site=" + site(own); })},
        {"stats", Kind::read_scoped, 200, get([=](bool own) {
             return "/api/v1/stats/aggregate?site_id=" + site(own) + "&period=day&metrics=visitors";
         })},
        {"sites", Kind::read_list, 200, get([](bool) { return std::string("/api/v1/sites"); })},
        {"metric names", Kind::read_list, 200,
         get([](bool) { return std::string("/api/v1/metrics"); })},
        {"metric current", Kind::read_scoped, 200,
         get([=](bool own) { return "/api/v1/metrics/" + metric(own) + "/current"; })},
        {"metric query", Kind::read_scoped, 200,
         [=](WorkspacesTest& t, const std::string& s, bool own) {
             const json body = {{"metrics", {metric(own)}}, {"window", "1m"}};
             const auto r =
                 static_cast<WorkspacesMatrix&>(t).call("POST", "/api/v1/query", s, body.dump());
             // A metric nobody sent answers no results: this endpoint's "no such metric".
             const bool none = r.status == 200 && json::parse(r.body)["results"].empty();
             return none ? 404 : r.status;
         }},
        {"prometheus export", Kind::read_list, 200,
         get([](bool) { return std::string("/api/v1/export/prometheus"); })},
        {"metric ingest", Kind::ingest, 200,
         [](WorkspacesTest& t, const std::string& s, bool) {
             const json point = {{"name", "svc.ingested"}, {"type", "count"}, {"value", 1}};
             return static_cast<WorkspacesMatrix&>(t)
                 .call("POST", "/api/v1/metrics", s, json{{"metrics", {point}}}.dump())
                 .status;
         }},
        {"dashboards list", Kind::read_list, 200,
         get([](bool) { return std::string("/api/v1/dashboards"); })},
        {"dashboard get", Kind::read_scoped, 200,
         get([=](bool own) { return "/api/v1/dashboards/" + board(own); })},
        {"dashboard data", Kind::read_scoped, 200,
         get([=](bool own) { return "/api/v1/dashboards/" + board(own) + "/data"; })},
        {"dashboard csv", Kind::read_scoped, 200,
         get([=](bool own) { return "/api/v1/dashboards/" + board(own) + "/data?format=csv"; })},
        {"dashboard create", Kind::create, 201,
         [](WorkspacesTest& t, const std::string& s, bool) {
             return static_cast<WorkspacesMatrix&>(t)
                 .call("POST", "/api/v1/dashboards", s, json{{"name", "made"}}.dump())
                 .status;
         }},
        {"dashboard put", Kind::edit_scoped, 200,
         [](WorkspacesTest& t, const std::string& s, bool own) {
             auto& m = static_cast<WorkspacesMatrix&>(t);
             const std::string team = own ? "a" : "b";
             const std::string id = m.dashboards_[team];
             const json body = {{"name", "renamed"}, {"version", m.version_of(team, id)}};
             return m.call("PUT", "/api/v1/dashboards/" + id, s, body.dump()).status;
         }},
        {"dashboard delete", Kind::edit_scoped, 204,
         [](WorkspacesTest& t, const std::string& s, bool own) {
             auto& m = static_cast<WorkspacesMatrix&>(t);
             const std::string id = m.make_dashboard(own ? "a" : "b");
             return m.call("DELETE", "/api/v1/dashboards/" + id, s).status;
         }},
        {"audit", Kind::admin, 200, get([](bool) { return std::string("/api/v1/audit"); })},
        {"tally's own metrics", Kind::server_admin, 200,
         get([](bool) { return std::string("/metrics"); })},
        {"live /ws", Kind::read_scoped, 101,
         [=](WorkspacesTest& t, const std::string& s, bool own) {
             WsClient ws(t.tallyd_->port(), "/ws?site=" + site(own), bearer(s));
             return ws.status();
         }},
        {"live /ws/metrics", Kind::read_list, 101,
         [](WorkspacesTest& t, const std::string& s, bool) {
             WsClient ws(t.tallyd_->port(), "/ws/metrics/client-1", bearer(s));
             return ws.status();
         }},
    };
    for (const std::string kind : {"alerts", "reports"}) {
        for (Cell& cell : document_cells(kind))
            out.push_back(std::move(cell));
    }
    return out;
}

void WorkspacesMatrix::run_matrix() {
    int checked = 0;
    for (const Cell& cell : cells()) {
        for (const std::string role : {"admin", "editor", "viewer", "ingest", "none", "bad"}) {
            for (const bool own : {true, false}) {
                const int want = expected(cell.kind, role, own, cell.ok);
                const int got = cell.run(*this, token("a", role), own);
                EXPECT_EQ(got, want) << cell.name << " as " << role << " on "
                                     << (own ? "its own" : "another workspace's") << " object";
                ++checked;
            }
        }
    }
    EXPECT_EQ(checked, static_cast<int>(cells().size()) * 12);
}

TEST_F(WorkspacesMatrix, EveryEndpointEveryRoleOwnAndForeign) {
    run_matrix();
    // The server's admin token reaches tallyd's own metrics.
    EXPECT_EQ(call("GET", "/metrics", "server-secret").status, 200);
}

TEST_F(WorkspacesTest, ListsShowOnlyTheirWorkspace) {
    const json sites = json::parse(call("GET", "/api/v1/sites", token("a", "viewer")).body);
    ASSERT_EQ(sites["sites"].size(), 1u) << sites;
    EXPECT_EQ(sites["sites"][0]["site"], "a.example");
    const json names = json::parse(call("GET", "/api/v1/metrics", token("a", "viewer")).body);
    std::set<std::string> listed;
    for (const json& m : names["metrics"])
        listed.insert(m["name"].get<std::string>());
    EXPECT_TRUE(listed.contains("svc.a.latency"));
    EXPECT_FALSE(listed.contains("svc.b.latency"));
    const std::string scrape = call("GET", "/api/v1/export/prometheus", token("a", "viewer")).body;
    EXPECT_NE(scrape.find("svc_a_latency"), std::string::npos);
    EXPECT_EQ(scrape.find("svc_b_latency"), std::string::npos);
    const json boards = json::parse(call("GET", "/api/v1/dashboards", token("a", "viewer")).body);
    ASSERT_EQ(boards["dashboards"].size(), 1u);
    EXPECT_EQ(boards["dashboards"][0]["id"], dashboards_["a"]);
    // A dashboard of team a naming team b's site reads nothing of it.
    const json stolen = {
        {"name", "peek"},
        {"widgets",
         {{{"id", "w1"},
           {"type", "number"},
           {"query", {{"source", "analytics"}, {"site", "b.example"}, {"metric", "pageviews"}}},
           {"position", {{"x", 0}, {"y", 0}, {"width", 4}, {"height", 3}}}}}}};
    const auto made = call("POST", "/api/v1/dashboards", token("a", "editor"), stolen.dump());
    ASSERT_EQ(made.status, 201);
    const json data = json::parse(
        call("GET",
             "/api/v1/dashboards/" + json::parse(made.body)["id"].get<std::string>() + "/data",
             token("a", "viewer"))
            .body);
    EXPECT_EQ(data["widgets"][0]["data"].value("error", ""), "no such site") << data;
    // The live metrics socket of team a sees nothing of team b's metric.
    WsClient ws(tallyd_->port(), "/ws/metrics/peek", bearer(token("a", "viewer")));
    ASSERT_EQ(ws.status(), 101);
    ws.send(json{{"type", "subscribe"}, {"metrics", {"svc.b.latency", "svc.a.latency"}}}.dump());
    const auto frame = ws.read(std::chrono::seconds(5));
    ASSERT_TRUE(frame);
    const json items = json::parse(*frame)["data"];
    ASSERT_EQ(items.size(), 2u) << *frame;
    EXPECT_TRUE(items[0]["value"].is_null()) << *frame;
    EXPECT_EQ(items[1]["value"], 5) << *frame;
}

TEST_F(WorkspacesTest, ChangesAndRefusalsAreAuditedWithTheirVersions) {
    const std::string id = make_dashboard("a");
    const json edit = {{"name", "second"}, {"version", 1}};
    ASSERT_EQ(call("PUT", "/api/v1/dashboards/" + id, token("a", "admin"), edit.dump()).status,
              200);
    ASSERT_EQ(call("DELETE", "/api/v1/dashboards/" + id, token("a", "admin")).status, 204);
    EXPECT_EQ(call("GET", "/api/v1/dashboards", "wrong-secret").status, 401);
    const json audit = json::parse(call("GET", "/api/v1/audit", token("a", "admin")).body);
    std::vector<json> mine;
    for (const json& entry : audit["entries"]) {
        EXPECT_EQ(entry["workspace"], "team-a") << entry;
        if (entry["object_id"] == id)
            mine.push_back(entry);
    }
    ASSERT_EQ(mine.size(), 3u) << audit;
    EXPECT_EQ(mine[0]["action"], "dashboard.create");
    EXPECT_EQ(mine[0]["token_id"], "a-editor");
    EXPECT_EQ(mine[0]["version_after"], 1);
    EXPECT_EQ(mine[1]["action"], "dashboard.update");
    EXPECT_EQ(mine[1]["version_before"], 1);
    EXPECT_EQ(mine[1]["version_after"], 2);
    EXPECT_EQ(mine[2]["action"], "dashboard.delete");
    EXPECT_EQ(mine[2]["version_before"], 2);
    // The refusal is the server's: its admin sees it, with no trace of the secret.
    const json all = json::parse(call("GET", "/api/v1/audit", "server-secret").body);
    int refused = 0;
    for (const json& entry : all["entries"])
        refused += entry["action"] == "token.refused" ? 1 : 0;
    EXPECT_GE(refused, 1) << all;
    EXPECT_EQ(all.dump().find("wrong-secret"), std::string::npos);
}

TEST_F(WorkspacesTest, ATokenIsShownOnceAndNeverAgain) {
    const auto made = call("POST", "/api/v1/workspaces/team-a/tokens", token("a", "admin"),
                           json{{"role", "viewer"}}.dump());
    ASSERT_EQ(made.status, 201) << made.body;
    const std::string secret = json::parse(made.body)["token"].get<std::string>();
    const std::string id = json::parse(made.body)["id"].get<std::string>();
    answers_.clear();
    // The new token works, as a viewer of team a.
    const json who = json::parse(call("GET", "/api/v1/whoami", secret).body);
    EXPECT_EQ(who["workspace"], "team-a");
    EXPECT_EQ(who["role"], "viewer");
    EXPECT_EQ(who["token_id"], id);
    EXPECT_EQ(call("POST", "/api/v1/dashboards", secret, "{}").status, 403);
    // Team b's admin cannot touch team a's tokens; a workspace admin cannot make workspaces.
    EXPECT_EQ(call("POST", "/api/v1/workspaces/team-a/tokens", token("b", "admin"),
                   json{{"role", "admin"}}.dump())
                  .status,
              404);
    EXPECT_EQ(
        call("POST", "/api/v1/workspaces", token("a", "admin"), json{{"name", "team-z"}}.dump())
            .status,
        403);
    call("GET", "/api/v1/workspaces/team-a", token("a", "admin"));
    call("GET", "/api/v1/audit", token("a", "admin"));
    call("GET", "/api/v1/audit", "server-secret");
    for (const std::string& answer : answers_)
        EXPECT_EQ(answer.find(secret), std::string::npos) << answer;
    EXPECT_EQ(call("DELETE", "/api/v1/workspaces/team-a/tokens/" + id, token("a", "admin")).status,
              204);
    EXPECT_EQ(call("GET", "/api/v1/whoami", secret).status, 401);
    tallyd_->stop();
    const std::string log = tallyd_->log_text();
    EXPECT_EQ(log.find(secret), std::string::npos);
    for (const std::string& role : kRoles)
        EXPECT_EQ(log.find("secret-a-" + role), std::string::npos);
    std::string files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(tallyd_->data_dir())) {
        if (!entry.is_regular_file() || entry.path().string().find("/log/") != std::string::npos)
            continue;
        std::ifstream in(entry.path(), std::ios::binary);
        files.append(std::istreambuf_iterator<char>(in), {});
    }
    EXPECT_EQ(files.find(secret), std::string::npos);
}

TEST_F(WorkspacesTest, WorkspacesMadeThroughTheApiOwnTheirSites) {
    EXPECT_EQ(call("POST", "/api/v1/workspaces", "server-secret",
                   json{{"name", "team-c"}, {"sites", {"a.example"}}}.dump())
                  .status,
              400);
    ASSERT_EQ(call("POST", "/api/v1/workspaces", "server-secret",
                   json{{"name", "team-c"}, {"sites", {"c.example"}}}.dump())
                  .status,
              201);
    const auto made = call("POST", "/api/v1/workspaces/team-c/tokens", "server-secret",
                           json{{"role", "admin"}}.dump());
    ASSERT_EQ(made.status, 201);
    const std::string secret = json::parse(made.body)["token"].get<std::string>();
    ASSERT_EQ(client_->post("/track/pageview", pageview({{"site", "c.example"}})).status, 200);
    EXPECT_EQ(call("GET", "/dashboard/today?site=c.example", secret).status, 200);
    EXPECT_EQ(call("GET", "/dashboard/today?site=c.example", token("a", "admin")).status, 404);
    tallyd_->restart();
    client_ = std::make_unique<HttpClient>(tallyd_->port());
    EXPECT_EQ(call("GET", "/dashboard/today?site=c.example", secret).status, 200);
    const json who = json::parse(call("GET", "/api/v1/whoami", secret).body);
    EXPECT_EQ(who["workspace"], "team-c");
}

TEST(WorkspacesStatsd, DatagramsCountInTheListenersWorkspace) {
    TempDir dir;
    const std::string config = team_config(dir.path());
    json file;
    std::ifstream(config) >> file;
    const int udp_port = free_port();
    file["statsd"] = {{"listen", "127.0.0.1:" + std::to_string(udp_port)}, {"workspace", "team-b"}};
    std::ofstream(config) << file.dump();
    Tallyd daemon({"--config", config});
    HttpClient client(daemon.port());
    UdpSender udp(udp_port);
    udp.send("svc.udp.hits:3|c\n");
    const auto bearer_of = [](const std::string& team) {
        return bearer("secret-" + team + "-viewer");
    };
    HttpResponse r;
    for (int i = 0; i < 100; ++i) {
        r = client.get("/api/v1/metrics/svc.udp.hits/current", bearer_of("b"));
        if (r.status == 200)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["value"], 3);
    EXPECT_EQ(client.get("/api/v1/metrics/svc.udp.hits/current", bearer_of("a")).status, 404);
}

}  // namespace tally::test
