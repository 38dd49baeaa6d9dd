// Scheduled reports in the real tallyd, delivered to a webhook receiver the test runs:
// a report due at the next whole minute fires once with the dashboard's data for the 24
// hours before it (the same figures GET /api/v1/dashboards/<id>/data answers for that
// range), and not again, not even after a restart; a second daemon, stopped across that
// due time, sends the missed run once when it starts; run-now; the CSV format; CRUD with
// versions and validation naming the field; roles (403) and another workspace (404).

#include <thread>

#include "common.hpp"
#include "support/webhook_receiver.hpp"

namespace tally::test {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers bearer(const std::string& token) {
    return {{"Authorization", "Bearer " + token}};
}

/// The posts the receiver got on `path`.
std::vector<ReceivedPost> posts_to(const WebhookReceiver& hook, const std::string& path) {
    std::vector<ReceivedPost> out;
    for (ReceivedPost& post : hook.posts()) {
        if (post.path == path)
            out.push_back(std::move(post));
    }
    return out;
}

/// Waits until `path` got `n` posts or `timeout` passed.
std::vector<ReceivedPost> wait_posts(const WebhookReceiver& hook, const std::string& path,
                                     std::size_t n, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (posts_to(hook, path).size() < n && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(50ms);
    return posts_to(hook, path);
}

void sleep_until_ms(std::int64_t epoch_ms) {
    const std::int64_t left = epoch_ms - now_ms();
    if (left > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(left));
}

/// Hourly reports made in a test that lasts a second must not see the hour turn (then the
/// schedule itself would send one too): waits out the last 10 s of an hour.
void avoid_hour_boundary() {
    const std::int64_t next_hour = (now_ms() / kHour + 1) * kHour;
    if (next_hour - now_ms() < 10'000)
        sleep_until_ms(next_hour + 100);
}

std::string hh_mm(std::int64_t ms) {
    const int minute = minute_of_day(ms);
    char text[16];
    std::snprintf(text, sizeof text, "%02d:%02d", minute / 60, minute % 60);
    return text;
}

json widget(const std::string& id, const std::string& type, json query, int x) {
    return {{"id", id},
            {"type", type},
            {"title", id},
            {"query", std::move(query)},
            {"position", {{"x", x}, {"y", 0}, {"width", 4}, {"height", 3}}}};
}

/// Known data in one daemon: counter points and page views in the last hour. Returns the
/// counter's sum.
double put_known_data(HttpClient& client) {
    const std::int64_t now = now_ms();
    json points = json::array();
    double sum = 0;
    for (int i = 1; i <= 40; ++i) {
        points.push_back({{"name", "shop.orders"},
                          {"type", "count"},
                          {"value", i},
                          {"tags", {{"region", i % 2 == 0 ? "eu" : "us"}}},
                          {"timestamp", now - 20 * kMinute - i * 1000}});
        sum += i;
    }
    auto r = client.post("/api/v1/metrics", json{{"metrics", points}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    json batch = json::array();
    for (int i = 0; i < 25; ++i) {
        batch.push_back({{"type", "pageview"},
                         {"site", "shop.example"},
                         {"page_url", "https://shop.example/p" + std::to_string(i % 3)},
                         {"session_id", "s" + std::to_string(i % 6)},
                         {"timestamp", iso(now - 10 * kMinute - i * 1000)}});
    }
    r = client.post("/track/batch", batch.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return sum;
}

json make_dashboard(HttpClient& client, const Headers& headers = {},
                    const std::string& site = "shop.example") {
    const json sum = {{"metrics", {"shop.orders"}}, {"aggregation", "sum"}};
    json by_region = sum;
    by_region["group_by"] = {"region"};
    const json body = {
        {"name", "Shop"},
        {"widgets",
         {widget("orders", "number", sum, 0), widget("regions", "line_chart", by_region, 4),
          widget("views", "number",
                 {{"source", "analytics"}, {"site", site}, {"metric", "pageviews"}}, 8)}}};
    const auto r = client.post("/api/v1/dashboards", body.dump(), headers);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body) : json();
}

json report_body(const std::string& dashboard_id, const std::string& schedule,
                 const std::string& url, const std::string& format = "json") {
    return {{"name", "Shop " + schedule}, {"dashboard_id", dashboard_id},
            {"schedule", schedule},       {"range", "previous_period"},
            {"format", format},           {"destination", {{"type", "webhook"}, {"url", url}}}};
}

json make_report(HttpClient& client, const json& body, const Headers& headers = {}) {
    const auto r = client.post("/api/v1/reports", body.dump(), headers);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body) : json();
}

/// GET /api/v1/dashboards/<id>/data over [from, to) with no comparison.
HttpResponse dashboard_data(HttpClient& client, const std::string& id, std::int64_t from,
                            std::int64_t to, const std::string& format = "json") {
    return client.get("/api/v1/dashboards/" + id + "/data?compare=none&format=" + format +
                      "&from=" + std::to_string(from) + "&to=" + std::to_string(to));
}

/// A scheduled run's body against what the dashboard's data answers for its range.
void expect_run_matches(HttpClient& client, const ReceivedPost& post, const json& dashboard,
                        const json& report, std::int64_t due, double orders) {
    EXPECT_EQ(post.content_type, "application/json");
    const json body = json::parse(post.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << post.body;
    EXPECT_EQ(body["report"]["id"], report["id"]);
    EXPECT_EQ(body["report"]["due_at"], iso(due));
    EXPECT_EQ(body["report"]["schedule"], report["schedule"]);
    EXPECT_EQ(body["range"]["from"], due - 24 * kHour);
    EXPECT_EQ(body["range"]["to"], due);
    const auto r = dashboard_data(client, dashboard["id"], due - 24 * kHour, due);
    ASSERT_EQ(r.status, 200) << r.body;
    const json expected = json::parse(r.body);
    EXPECT_EQ(body["widgets"], expected["widgets"]);
    ASSERT_EQ(body["widgets"].size(), 3u);
    EXPECT_EQ(body["widgets"][0]["data"]["value"], orders);
    EXPECT_EQ(body["widgets"][2]["data"]["value"], 25);
}

TEST(ReportsTest, ADueReportFiresOnceAndAMissedOneIsSentOnceAtStart) {
    WebhookReceiver hook;
    Tallyd up;    // runs across the due time
    Tallyd down;  // stopped across it
    HttpClient up_client(up.port()), down_client(down.port());
    const double up_orders = put_known_data(up_client);
    const double down_orders = put_known_data(down_client);
    const json up_dashboard = make_dashboard(up_client);
    const json down_dashboard = make_dashboard(down_client);
    // The next whole minute at least 10 s away: time to make both reports before it.
    const std::int64_t due = (now_ms() + 10'000) / kMinute * kMinute + kMinute;
    const std::string schedule = "daily@" + hh_mm(due);
    const json up_report =
        make_report(up_client, report_body(up_dashboard["id"], schedule, hook.url("/up")));
    const json down_report =
        make_report(down_client, report_body(down_dashboard["id"], schedule, hook.url("/down")));
    ASSERT_TRUE(up_report.is_object() && down_report.is_object());
    EXPECT_EQ(up_report["schedule"], schedule);
    EXPECT_TRUE(up_report["last_run"].is_null());
    EXPECT_EQ(up_report["next_run"], iso(due));
    ASSERT_LT(now_ms(), due - 1'000) << "setting up took too long";
    ASSERT_EQ(down.stop(), 0);

    sleep_until_ms(due);
    auto up_posts = wait_posts(hook, "/up", 1, 5s);
    ASSERT_EQ(up_posts.size(), 1u);
    expect_run_matches(up_client, up_posts[0], up_dashboard, up_report, due, up_orders);
    const json shown =
        json::parse(up_client.get("/api/v1/reports/" + up_report["id"].get<std::string>()).body);
    EXPECT_EQ(shown["last_run"], iso(due));
    EXPECT_EQ(shown["next_run"], iso(due + 24 * kHour));

    // Past the due time: the stopped daemon sends the run it missed, once.
    EXPECT_TRUE(posts_to(hook, "/down").empty());
    down.restart();
    auto down_posts = wait_posts(hook, "/down", 1, 10s);
    ASSERT_EQ(down_posts.size(), 1u);
    expect_run_matches(down_client, down_posts[0], down_dashboard, down_report, due, down_orders);

    // Never twice: not later, and not after a restart of either.
    up.stop();
    up.restart();
    down.stop();
    down.restart();
    std::this_thread::sleep_for(3s);
    EXPECT_EQ(posts_to(hook, "/up").size(), 1u);
    EXPECT_EQ(posts_to(hook, "/down").size(), 1u);
    const auto metrics = up_client.get("/metrics");
    EXPECT_NE(metrics.body.find("tally_reports 1\n"), std::string::npos) << metrics.body;
    // Since the restart: nothing sent.
    EXPECT_NE(metrics.body.find("tally_report_runs_total 0\n"), std::string::npos);
}

/// "<action> <before>-<after>" of each audit entry about `id`, oldest first.
std::vector<std::string> audit_of(HttpClient& client, const std::string& id) {
    const auto r = client.get("/api/v1/audit");
    EXPECT_EQ(r.status, 200) << r.body;
    const json entries = json::parse(r.body, nullptr, false).value("entries", json::array());
    std::vector<std::string> out;
    for (const json& entry : entries) {
        if (entry["object_id"] == id)
            out.push_back(
                entry["action"].get<std::string>() + " " +
                std::to_string(
                    entry["version_before"].is_null() ? 0 : entry["version_before"].get<int>()) +
                "-" +
                std::to_string(
                    entry["version_after"].is_null() ? 0 : entry["version_after"].get<int>()));
    }
    return out;
}

class ReportsApiTest : public DaemonTest {
  protected:
    WebhookReceiver hook;
};

TEST_F(ReportsApiTest, RunNowSendsTheLastWholePeriodAtOnceAsCsv) {
    avoid_hour_boundary();
    put_known_data(client);
    const json dashboard = make_dashboard(client);
    const json report =
        make_report(client, report_body(dashboard["id"], "hourly", hook.url("/csv"), "csv"));
    const std::string id = report["id"];
    const auto r = client.post("/api/v1/reports/" + id + "/run", "");
    ASSERT_EQ(r.status, 202) << r.body;
    const json answer = json::parse(r.body);
    const std::int64_t to = answer["range"]["to"];
    EXPECT_EQ(to % kHour, 0);
    EXPECT_LE(to, now_ms());
    EXPECT_GT(to, now_ms() - kHour - 5'000);
    EXPECT_EQ(answer["range"]["from"], to - kHour);
    EXPECT_EQ(answer["due_at"], iso(to));
    EXPECT_EQ(answer["format"], "csv");
    EXPECT_EQ(answer["url"], hook.url("/csv"));
    const auto posts = wait_posts(hook, "/csv", 1, 5s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(posts[0].content_type, "text/csv; charset=utf-8");
    EXPECT_EQ(answer["bytes"], posts[0].body.size());
    const auto csv = dashboard_data(client, dashboard["id"], to - kHour, to, "csv");
    ASSERT_EQ(csv.status, 200);
    EXPECT_EQ(posts[0].body, csv.body);
    EXPECT_NE(posts[0].body.find("# orders (number)"), std::string::npos) << posts[0].body;
    EXPECT_EQ(audit_of(client, id),
              (std::vector<std::string>{"report.create 0-1", "report.run 1-1"}));
    // The schedule is left alone.
    const json shown = json::parse(client.get("/api/v1/reports/" + id).body);
    EXPECT_TRUE(shown["last_run"].is_null());
    EXPECT_EQ(shown["next_run"], iso(to + kHour));
    // A report whose dashboard is gone cannot run.
    ASSERT_EQ(
        client.request("DELETE", "/api/v1/dashboards/" + dashboard["id"].get<std::string>()).status,
        204);
    EXPECT_EQ(client.post("/api/v1/reports/" + id + "/run", "").status, 409);
    EXPECT_EQ(posts_to(hook, "/csv").size(), 1u);
}

TEST_F(ReportsApiTest, CreateListGetReplaceDeleteWithVersions) {
    const json dashboard = make_dashboard(client);
    const auto r = client.post("/api/v1/reports",
                               report_body(dashboard["id"], "weekly@mon 09:00", hook.url()).dump());
    ASSERT_EQ(r.status, 201) << r.body;
    const json made = json::parse(r.body);
    const std::string id = made["id"];
    EXPECT_EQ(r.header("location"), "/api/v1/reports/" + id);
    EXPECT_EQ(made["version"], 1);
    EXPECT_EQ(made["format"], "json");
    const json listed = json::parse(client.get("/api/v1/reports").body)["reports"];
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0]["id"], id);
    EXPECT_EQ(listed[0]["schedule"], "weekly@mon 09:00");
    EXPECT_EQ(listed[0]["destination"]["type"], "webhook");
    const json got = json::parse(client.get("/api/v1/reports/" + id).body);
    EXPECT_TRUE(got["last_run"].is_null());
    const std::int64_t next = *parse_rfc3339_ms(got["next_run"].get<std::string>());
    EXPECT_GT(next, now_ms());
    EXPECT_LE(next, now_ms() + 7 * 24 * kHour);
    EXPECT_EQ(minute_of_day(next), 9 * 60);

    json edit = made;
    edit["schedule"] = "daily@06:15";
    auto put = client.request("PUT", "/api/v1/reports/" + id, edit.dump());
    ASSERT_EQ(put.status, 200) << put.body;
    EXPECT_EQ(json::parse(put.body)["version"], 2);
    json stale = made;
    stale["name"] = "someone else's";
    put = client.request("PUT", "/api/v1/reports/" + id, stale.dump());
    ASSERT_EQ(put.status, 409) << put.body;
    EXPECT_EQ(json::parse(put.body)["current"]["schedule"], "daily@06:15");
    EXPECT_EQ(client.request("PUT", "/api/v1/reports/" + id, R"({"name":"x"})").status, 400);

    EXPECT_EQ(client.request("DELETE", "/api/v1/reports/" + id).status, 204);
    EXPECT_EQ(client.get("/api/v1/reports/" + id).status, 404);
    EXPECT_EQ(client.post("/api/v1/reports/" + id + "/run", "").status, 404);
    EXPECT_EQ(client.request("DELETE", "/api/v1/reports/" + id).status, 404);
    EXPECT_EQ(client.get("/api/v1/reports/..%2fetc").status, 404);
    EXPECT_EQ(client.get("/api/v1/reports/" + id + "/run").status, 405);

    // The audit trail has each change once, with its versions.
    EXPECT_EQ(
        audit_of(client, id),
        (std::vector<std::string>{"report.create 0-1", "report.update 1-2", "report.delete 2-0"}));
}

TEST_F(ReportsApiTest, BadReportsAreRefusedNamingTheField) {
    const json dashboard = make_dashboard(client);
    const std::string dashboard_id = dashboard["id"];
    const auto with = [&](const std::string& key, json value) {
        json body = report_body(dashboard_id, "hourly", hook.url());
        body[key] = std::move(value);
        return body;
    };
    const std::vector<std::pair<json, std::string>> cases = {
        {with("schedule", "daily@25:00"), "schedule"},
        {with("schedule", "weekly@monday 09:00"), "schedule"},
        {with("dashboard_id", "nosuchdashboard"), "dashboard_id"},
        {with("range", "last_week"), "range"},
        {with("format", "xlsx"), "format"},
        {with("name", ""), "name"},
        {with("destination", {{"type", "webhook"}, {"url", "https://example.com/"}}),
         "destination.url"},
        {with("destination", {{"type", "email"}, {"url", "http://example.com/"}}),
         "destination.type"},
    };
    for (const auto& [body, field] : cases) {
        const auto r = client.post("/api/v1/reports", body.dump());
        EXPECT_EQ(r.status, 400) << body.dump();
        EXPECT_EQ(json::parse(r.body, nullptr, false).value("field", ""), field) << r.body;
    }
    EXPECT_EQ(client.post("/api/v1/reports", "{not json").status, 400);
    EXPECT_EQ(json::parse(client.get("/api/v1/reports").body)["reports"].size(), 0u);
}

/// Two workspaces with an editor and a viewer each, and the server's token.
std::string workspaces_config(const TempDir& dir) {
    const json config = {
        {"token", "server-admin-token"},
        {"workspaces",
         {{{"name", "team-a"},
           {"sites", {"a.example"}},
           {"tokens",
            {{{"id", "a-editor"}, {"role", "editor"}, {"token", "team-a-editor-token"}},
             {{"id", "a-viewer"}, {"role", "viewer"}, {"token", "team-a-viewer-token"}}}}},
          {{"name", "team-b"},
           {"sites", {"b.example"}},
           {"tokens",
            {{{"id", "b-editor"}, {"role", "editor"}, {"token", "team-b-editor-token"}}}}}}}};
    const std::string path = dir.path() + "/tallyd.json";
    std::ofstream(path) << config.dump(2);
    return path;
}

TEST(ReportsWorkspacesTest, AWeakRoleIs403AndAnotherWorkspacesReportIs404) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon({"--config", workspaces_config(dir)});
    HttpClient client(daemon.port());
    avoid_hour_boundary();
    const Headers a_editor = bearer("team-a-editor-token"),
                  a_viewer = bearer("team-a-viewer-token"),
                  b_editor = bearer("team-b-editor-token");
    const json dashboard = make_dashboard(client, a_editor, "a.example");
    ASSERT_TRUE(dashboard.is_object());
    const json body = report_body(dashboard["id"], "hourly", hook.url("/ws"));
    const json report = make_report(client, body, a_editor);
    ASSERT_TRUE(report.is_object());
    const std::string path = "/api/v1/reports/" + report["id"].get<std::string>();
    json edit = report;
    edit["name"] = "edited";

    EXPECT_EQ(client.get("/api/v1/reports").status, 401);
    EXPECT_EQ(client.get(path).status, 401);
    // A viewer reads, and changes nothing.
    EXPECT_EQ(client.get(path, a_viewer).status, 200);
    EXPECT_EQ(json::parse(client.get("/api/v1/reports", a_viewer).body)["reports"].size(), 1u);
    EXPECT_EQ(client.post("/api/v1/reports", body.dump(), a_viewer).status, 403);
    EXPECT_EQ(client.request("PUT", path, edit.dump(), a_viewer).status, 403);
    EXPECT_EQ(client.request("DELETE", path, "", a_viewer).status, 403);
    EXPECT_EQ(client.post(path + "/run", "", a_viewer).status, 403);
    // Another workspace's editor sees nothing, and cannot use team-a's dashboard.
    EXPECT_EQ(json::parse(client.get("/api/v1/reports", b_editor).body)["reports"].size(), 0u);
    EXPECT_EQ(client.get(path, b_editor).status, 404);
    EXPECT_EQ(client.request("PUT", path, edit.dump(), b_editor).status, 404);
    EXPECT_EQ(client.request("DELETE", path, "", b_editor).status, 404);
    EXPECT_EQ(client.post(path + "/run", "", b_editor).status, 404);
    const auto foreign = client.post("/api/v1/reports", body.dump(), b_editor);
    EXPECT_EQ(foreign.status, 400);
    EXPECT_EQ(json::parse(foreign.body, nullptr, false).value("field", ""), "dashboard_id");
    // Nothing was sent by any of that; the owner's run goes through.
    EXPECT_TRUE(hook.posts().empty());
    EXPECT_EQ(client.post(path + "/run", "", a_editor).status, 202);
    EXPECT_EQ(client.request("PUT", path, edit.dump(), a_editor).status, 200);
    EXPECT_EQ(wait_posts(hook, "/ws", 1, 5s).size(), 1u);
    EXPECT_EQ(client.request("DELETE", path, "", a_editor).status, 204);
}

}  // namespace
}  // namespace tally::test
