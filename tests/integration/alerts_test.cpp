// Alerts in the real tallyd: rules as versioned documents, evaluated every 200 ms (the
// config's alerts.eval_interval), announced to a loopback webhook receiver in Alertmanager's
// v4 body and to a real Alertmanager through its own API; flapping with a resolve_threshold,
// the no-data modes, a restart while firing, a receiver down for a while, workspaces, and
// bad configuration refused at start.

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <thread>

#include "common.hpp"
#include "support/alertmanager_server.hpp"
#include "support/process.hpp"
#include "support/webhook_receiver.hpp"

namespace tally::test {
namespace {

using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr auto kEvalInterval = 200ms;

std::string write_config(const TempDir& dir, json extra = json::object()) {
    json config = {{"alerts", {{"eval_interval", "200ms"}}}};
    for (auto& [key, value] : extra.items())
        config[key] = value;
    const std::string path = dir.path() + "/tallyd.json";
    std::ofstream(path) << config.dump(2);
    return path;
}

void post_metric(HttpClient& client, const std::string& name, double value,
                 const Headers& headers = {}) {
    const json body = {{"metrics", {{{"name", name}, {"type", "gauge"}, {"value", value}}}}};
    const HttpResponse response = client.post("/api/v1/metrics", body.dump(), headers);
    ASSERT_EQ(response.status, 200) << response.body;
    ASSERT_EQ(json::parse(response.body)["accepted"], 1) << response.body;
}

json rule(const std::string& name, const std::string& metric, const std::string& op,
          double threshold, json actions) {
    return {{"alert_name", name},
            {"metric", metric},
            {"aggregation", "last"},
            {"window", "1m"},
            {"condition", {{"operator", op}, {"threshold", threshold}, {"duration", "0s"}}},
            {"labels", {{"severity", "page"}}},
            {"annotations", {{"summary", name + " crossed its threshold"}}},
            {"actions", std::move(actions)}};
}

json webhook(const WebhookReceiver& hook, const std::string& path = "/hook") {
    return json::array({{{"type", "webhook"}, {"url", hook.url(path)}}});
}

std::string create(HttpClient& client, const json& body, const Headers& headers = {}) {
    const HttpResponse response = client.post("/api/v1/alerts", body.dump(), headers);
    EXPECT_EQ(response.status, 201) << response.body;
    if (response.status != 201)
        return "";
    return json::parse(response.body)["id"].get<std::string>();
}

json get_rule(HttpClient& client, const std::string& id) {
    const HttpResponse response = client.get("/api/v1/alerts/" + id);
    EXPECT_EQ(response.status, 200) << response.body;
    return json::parse(response.body, nullptr, false);
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done())
            return true;
        std::this_thread::sleep_for(20ms);
    }
    return done();
}

std::vector<std::string> statuses(const std::vector<ReceivedPost>& posts) {
    std::vector<std::string> out;
    for (const ReceivedPost& post : posts)
        out.push_back(json::parse(post.body)["status"].get<std::string>());
    return out;
}

TEST(AlertsTest, RulesAreVersionedDocuments) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon(
        {"--config",
         write_config(dir, {{"alerts",
                             {{"eval_interval", "200ms"},
                              {"channels",
                               {{"slack", {{"type", "webhook"}, {"url", hook.url("/s")}}}}}}}})});
    HttpClient client(daemon.port());
    json bad = rule("r", "queue.depth", ">", 1, json::array({"email"}));
    HttpResponse response = client.post("/api/v1/alerts", bad.dump());
    EXPECT_EQ(response.status, 400);
    EXPECT_EQ(json::parse(response.body)["field"], "actions[0]") << response.body;
    bad = rule("r", "queue.depth", "=>", 1, json::array());
    response = client.post("/api/v1/alerts", bad.dump());
    EXPECT_EQ(json::parse(response.body)["field"], "condition.operator") << response.body;
    EXPECT_EQ(client.post("/api/v1/alerts", "{not json").status, 400);

    response = client.post("/api/v1/alerts",
                           rule("Deep", "queue.depth", ">", 100, json::array({"slack"})).dump());
    ASSERT_EQ(response.status, 201) << response.body;
    const json created = json::parse(response.body);
    const std::string id = created["id"];
    EXPECT_EQ(response.header("location"), "/api/v1/alerts/" + id);
    EXPECT_EQ(created["version"], 1);
    EXPECT_EQ(created["state"], "inactive");

    json listed = json::parse(client.get("/api/v1/alerts").body);
    ASSERT_EQ(listed["alerts"].size(), 1u);
    EXPECT_EQ(listed["alerts"][0]["id"], id);

    json edited = created;
    edited["condition"]["threshold"] = 120;
    response = client.request("PUT", "/api/v1/alerts/" + id, edited.dump());
    ASSERT_EQ(response.status, 200) << response.body;
    EXPECT_EQ(json::parse(response.body)["version"], 2);
    response = client.request("PUT", "/api/v1/alerts/" + id, edited.dump());  // version 1: stale
    EXPECT_EQ(response.status, 409);
    EXPECT_EQ(json::parse(response.body)["current"]["version"], 2);

    EXPECT_EQ(client.request("DELETE", "/api/v1/alerts/" + id).status, 204);
    EXPECT_EQ(client.get("/api/v1/alerts/" + id).status, 404);
    EXPECT_EQ(client.get("/api/v1/alerts/" + id + "/history").status, 404);
    EXPECT_EQ(client.get("/api/v1/alerts/../../etc").status, 404);
}

TEST(AlertsTest, FiresWithinTheIntervalAndResolves) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon({"--config", write_config(dir)});
    HttpClient client(daemon.port());
    json body = rule("QueueDeep", "queue.depth", ">", 100, webhook(hook));
    body["condition"]["duration"] = "1s";
    const std::string id = create(client, body);
    post_metric(client, "queue.depth", 50);
    std::this_thread::sleep_for(3 * kEvalInterval);
    EXPECT_EQ(get_rule(client, id)["state"], "inactive");

    const auto crossed = std::chrono::steady_clock::now();
    post_metric(client, "queue.depth", 150);
    auto posts = hook.wait_for(1, 5s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_LE(posts[0].at - crossed, kEvalInterval + 1s + 1s);
    EXPECT_GE(posts[0].at - crossed, 1s) << "fired before its duration";
    EXPECT_EQ(posts[0].path, "/hook");
    EXPECT_EQ(posts[0].content_type, "application/json");
    const json firing = json::parse(posts[0].body);
    EXPECT_EQ(firing["version"], "4");
    EXPECT_EQ(firing["status"], "firing");
    EXPECT_EQ(firing["externalURL"], "http://127.0.0.1:" + std::to_string(daemon.port()));
    ASSERT_EQ(firing["alerts"].size(), 1u);
    const json& alert = firing["alerts"][0];
    EXPECT_EQ(alert["labels"]["alertname"], "QueueDeep");
    EXPECT_EQ(alert["labels"]["severity"], "page");
    EXPECT_EQ(alert["annotations"]["summary"], "QueueDeep crossed its threshold");
    EXPECT_EQ(alert["endsAt"], "0001-01-01T00:00:00Z");
    EXPECT_EQ(firing["commonLabels"]["alertname"], "QueueDeep");
    EXPECT_FALSE(alert["fingerprint"].get<std::string>().empty());

    const json state = get_rule(client, id);
    EXPECT_EQ(state["state"], "firing");
    EXPECT_EQ(state["value"], 150);
    EXPECT_EQ(state["since"], alert["startsAt"]);

    post_metric(client, "queue.depth", 40);
    posts = hook.wait_for(2, 5s);
    ASSERT_EQ(posts.size(), 2u);
    const json resolved = json::parse(posts[1].body);
    EXPECT_EQ(resolved["status"], "resolved");
    EXPECT_EQ(resolved["alerts"][0]["startsAt"], alert["startsAt"]);
    EXPECT_EQ(resolved["alerts"][0]["fingerprint"], alert["fingerprint"]);
    EXPECT_NE(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");

    const json history = json::parse(client.get("/api/v1/alerts/" + id + "/history").body);
    std::vector<std::string> path;
    for (const json& t : history["history"])
        path.push_back(t["from"].get<std::string>() + ">" + t["to"].get<std::string>());
    EXPECT_EQ(path,
              (std::vector<std::string>{"inactive>pending", "pending>firing", "firing>resolved"}));
    EXPECT_EQ(history["history"][2]["value"], 40);
}

TEST(AlertsTest, FlappingWithAResolveThresholdFiresOnceAndResolvesOnce) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon({"--config", write_config(dir)});
    HttpClient client(daemon.port());
    json body = rule("Flappy", "load", ">", 100, webhook(hook));
    body["resolve_threshold"] = 80;
    create(client, body);
    for (double value : {90.0, 101.0, 99.0, 103.0, 95.0, 100.5, 85.0, 104.0, 81.0, 79.0, 70.0}) {
        post_metric(client, "load", value);
        std::this_thread::sleep_for(2 * kEvalInterval);
    }
    std::this_thread::sleep_for(500ms);  // anything late would have come by now
    EXPECT_EQ(statuses(hook.posts()), (std::vector<std::string>{"firing", "resolved"}));
}

TEST(AlertsTest, NoDataModes) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon({"--config", write_config(dir)});
    HttpClient client(daemon.port());
    // Over a metric never sent: ok stays quiet, alerting fires, keep_last keeps inactive.
    json body = rule("NeverOk", "never.sent", ">", 1, webhook(hook, "/ok"));
    const std::string never_ok = create(client, body);
    body = rule("NeverAlerting", "never.sent", ">", 1, webhook(hook, "/alerting"));
    body["no_data"] = "alerting";
    const std::string never_alerting = create(client, body);
    // Over a metric that fires and then falls silent (10-second windows empty out).
    body = rule("SilentOk", "blip", ">", 5, webhook(hook, "/silent-ok"));
    body["window"] = "10s";
    const std::string silent_ok = create(client, body);
    body = rule("SilentKeep", "blip", ">", 5, webhook(hook, "/silent-keep"));
    body["window"] = "10s";
    body["no_data"] = "keep_last";
    const std::string silent_keep = create(client, body);
    post_metric(client, "blip", 10);
    ASSERT_TRUE(eventually(
        [&] {
            return get_rule(client, silent_ok)["state"] == "firing" &&
                   get_rule(client, silent_keep)["state"] == "firing" &&
                   get_rule(client, never_alerting)["state"] == "firing";
        },
        3s));
    EXPECT_EQ(get_rule(client, never_ok)["state"], "inactive");
    // The 10-second bucket of the point ends within 10 s: then there is no data.
    ASSERT_TRUE(
        eventually([&] { return get_rule(client, silent_ok)["state"] == "resolved"; }, 12s));
    EXPECT_TRUE(get_rule(client, silent_ok)["value"].is_null());
    std::this_thread::sleep_for(3 * kEvalInterval);
    EXPECT_EQ(get_rule(client, silent_keep)["state"], "firing");
    EXPECT_EQ(get_rule(client, never_alerting)["state"], "firing");
    EXPECT_EQ(get_rule(client, never_ok)["state"], "inactive");
    std::map<std::string, std::vector<std::string>> by_path;
    for (const ReceivedPost& post : hook.posts())
        by_path[post.path].push_back(json::parse(post.body)["status"]);
    EXPECT_EQ(by_path["/ok"], std::vector<std::string>{});
    EXPECT_EQ(by_path["/alerting"], std::vector<std::string>{"firing"});
    EXPECT_EQ(by_path["/silent-ok"], (std::vector<std::string>{"firing", "resolved"}));
    EXPECT_EQ(by_path["/silent-keep"], std::vector<std::string>{"firing"});
}

TEST(AlertsTest, ARestartOrKillWhileFiringDoesNotAnnounceItAgain) {
    TempDir dir;
    WebhookReceiver hook;
    Tallyd daemon({"--config", write_config(dir)});
    std::string id;
    {
        HttpClient client(daemon.port());
        id = create(client, rule("Restarted", "queue.depth", ">", 100, webhook(hook)));
        post_metric(client, "queue.depth", 150);
        ASSERT_EQ(hook.wait_for(1, 5s).size(), 1u);
    }
    const std::string since = json::parse(hook.posts()[0].body)["alerts"][0]["startsAt"];
    ASSERT_EQ(daemon.stop(), 0);
    daemon.restart();
    HttpClient client(daemon.port());
    const json state = get_rule(client, id);
    EXPECT_EQ(state["state"], "firing");
    EXPECT_EQ(state["since"], since);
    std::this_thread::sleep_for(10 * kEvalInterval);  // rounds over the replayed 150
    EXPECT_EQ(hook.posts().size(), 1u) << "announced a second time";
    // And after a kill -9: the state was written before the firing was announced.
    EXPECT_EQ(daemon.stop(9), 128 + 9);
    daemon.restart();
    client.close();
    EXPECT_EQ(get_rule(client, id)["state"], "firing");
    std::this_thread::sleep_for(10 * kEvalInterval);
    EXPECT_EQ(hook.posts().size(), 1u) << "announced again after kill -9";
    post_metric(client, "queue.depth", 10);
    const auto posts = hook.wait_for(2, 5s);
    EXPECT_EQ(statuses(posts), (std::vector<std::string>{"firing", "resolved"}));
    EXPECT_EQ(json::parse(posts[1].body)["alerts"][0]["startsAt"], since);
}

TEST(AlertsTest, AReceiverDownForAWhileGetsItWhenItReturns) {
    TempDir dir;
    // tallyd first: a child started after the receiver would inherit its listening socket
    // and keep the port taken while the receiver is down.
    Tallyd daemon({"--config", write_config(dir)});
    WebhookReceiver hook;
    HttpClient client(daemon.port());
    const std::string id = create(client, rule("Away", "queue.depth", ">", 100, webhook(hook)));
    hook.stop_listening();
    post_metric(client, "queue.depth", 150);
    ASSERT_TRUE(eventually([&] { return get_rule(client, id)["state"] == "firing"; }, 3s));
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(hook.posts().empty());
    hook.start_listening();
    const auto posts = hook.wait_for(1, 20s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(json::parse(posts[0].body)["status"], "firing");
}

TEST(AlertsTest, ARealAlertmanagerShowsItActiveThenResolved) {
    if (!AlertmanagerServer::available())
        GTEST_SKIP() << "prometheus-alertmanager is not installed";
    AlertmanagerServer am;
    TempDir dir;
    Tallyd daemon(
        {"--config",
         write_config(
             dir, {{"alerts",
                    {{"eval_interval", "200ms"},
                     {"channels", {{"pager", {{"type", "alertmanager"}, {"url", am.url()}}}}}}}})});
    HttpClient client(daemon.port());
    create(client, rule("TallyQueueDeep", "queue.depth", ">", 100, json::array({"pager"})));
    post_metric(client, "queue.depth", 150);
    const auto listed = [&] {
        json mine = json::array();
        for (const json& alert : am.alerts()) {
            if (alert["labels"].value("alertname", "") == "TallyQueueDeep")
                mine.push_back(alert);
        }
        return mine;
    };
    json active;
    ASSERT_TRUE(eventually(
        [&] {
            active = listed();
            return active.size() == 1;
        },
        10s))
        << am.log();
    EXPECT_EQ(active[0]["status"]["state"], "active") << active.dump();
    EXPECT_EQ(active[0]["labels"]["severity"], "page");
    EXPECT_EQ(active[0]["annotations"]["summary"], "TallyQueueDeep crossed its threshold");
    post_metric(client, "queue.depth", 10);
    EXPECT_TRUE(eventually([&] { return listed().empty(); }, 10s)) << listed().dump();
}

TEST(AlertsTest, RulesBelongToTheirWorkspace) {
    TempDir dir;
    WebhookReceiver hook;
    const json workspaces = {
        {{"name", "team-a"},
         {"sites", {"a.example"}},
         {"tokens",
          {{{"id", "a-editor"}, {"role", "editor"}, {"token", "team-a-editor-token"}},
           {{"id", "a-viewer"}, {"role", "viewer"}, {"token", "team-a-viewer-token"}},
           {{"id", "a-ingest"}, {"role", "ingest"}, {"token", "team-a-ingest-token"}}}}},
        {{"name", "team-b"},
         {"sites", {"b.example"}},
         {"tokens", {{{"id", "b-editor"}, {"role", "editor"}, {"token", "team-b-editor-token"}}}}}};
    Tallyd daemon({"--config", write_config(dir, {{"token", "server-admin-token"},
                                                  {"workspaces", workspaces}})});
    HttpClient client(daemon.port());
    const Headers a_editor = {{"Authorization", "Bearer team-a-editor-token"}};
    const Headers a_viewer = {{"Authorization", "Bearer team-a-viewer-token"}};
    const Headers a_ingest = {{"Authorization", "Bearer team-a-ingest-token"}};
    const Headers b_editor = {{"Authorization", "Bearer team-b-editor-token"}};
    json body = rule("Mine", "queue.depth", ">", 100, webhook(hook));
    EXPECT_EQ(client.post("/api/v1/alerts", body.dump()).status, 401);
    EXPECT_EQ(client.post("/api/v1/alerts", body.dump(), a_viewer).status, 403);
    const std::string id = create(client, body, a_editor);
    EXPECT_EQ(client.get("/api/v1/alerts/" + id, a_viewer).status, 200);
    EXPECT_EQ(client.get("/api/v1/alerts/" + id, b_editor).status, 404);
    EXPECT_EQ(client.request("DELETE", "/api/v1/alerts/" + id, "", b_editor).status, 404);
    EXPECT_EQ(json::parse(client.get("/api/v1/alerts", b_editor).body)["alerts"].size(), 0u);
    EXPECT_EQ(client.request("DELETE", "/api/v1/alerts/" + id, "", a_viewer).status, 403);
    // A site of another workspace reads as no such site.
    json theirs = rule("Theirs", "analytics:pageviews:b.example", ">", 1, json::array());
    theirs.erase("aggregation");
    EXPECT_EQ(client.post("/api/v1/alerts", theirs.dump(), a_editor).status, 404);
    theirs["metric"] = "analytics:pageviews:a.example";
    EXPECT_EQ(client.post("/api/v1/alerts", theirs.dump(), a_editor).status, 201);
    // Team b's queue.depth does not move team a's rule; team a's does, labelled.
    post_metric(client, "queue.depth", 500, b_editor);
    std::this_thread::sleep_for(3 * kEvalInterval);
    EXPECT_EQ(json::parse(client.get("/api/v1/alerts/" + id, a_viewer).body)["state"], "inactive");
    post_metric(client, "queue.depth", 500, a_ingest);
    const auto posts = hook.wait_for(1, 5s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(json::parse(posts[0].body)["alerts"][0]["labels"]["workspace"], "team-a");
}

TEST(AlertsTest, ABadChannelStopsTheStartNamingTheKey) {
    TempDir dir;
    const std::string config = write_config(
        dir, {{"alerts", {{"channels", {{"pager", {{"type", "pager"}, {"url", "http://x/"}}}}}}}});
    const std::string log = dir.path() + "/tallyd.log";
    Process tallyd({tallyd_path(), "--config", config, "--data-dir", dir.path() + "/data",
                    "--listen", "127.0.0.1:" + std::to_string(free_port())},
                   log);
    EXPECT_EQ(tallyd.wait(10s), 2);
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("alerts.channels.pager.type"), std::string::npos) << text;
}

}  // namespace
}  // namespace tally::test
