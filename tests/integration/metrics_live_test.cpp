// WS /ws/metrics/<client_id> against the real tallyd: the answer at once, pushes while a
// followed metric changes (at most one per batch), nothing for metrics not followed,
// errors that keep the connection, unsubscribe, the token.

#include <gtest/gtest.h>

#include <thread>

#include "common.hpp"
#include "support/ws_client.hpp"

namespace tally::test {
namespace {

using std::chrono::milliseconds;

std::string points(const std::string& name, const std::string& type, double value, int n = 1) {
    json items = json::array();
    for (int i = 0; i < n; ++i)
        items.push_back({{"name", name}, {"type", type}, {"value", value}});
    return json{{"metrics", items}}.dump();
}

json read_json(WsClient& client, milliseconds timeout = milliseconds(3000)) {
    auto frame = client.read(timeout);
    return frame ? json::parse(*frame) : json();
}

TEST(MetricsLive, AnswersAtOnceThenPushesChanges) {
    Tallyd daemon;
    HttpClient http(daemon.port());
    ASSERT_EQ(http.post("/api/v1/metrics", points("jobs.done", "count", 2)).status, 200);
    WsClient client(daemon.port(), "/ws/metrics/c1");
    ASSERT_TRUE(client.connected());
    client.send(R"({"type":"subscribe","metrics":["jobs.done","not.yet"],"window":"1m"})");
    const json first = read_json(client);
    ASSERT_EQ(first["type"], "metric_data");
    ASSERT_EQ(first["data"].size(), 2u);
    EXPECT_EQ(first["data"][0]["metric"], "jobs.done");
    EXPECT_EQ(first["data"][0]["value"], 2.0);
    EXPECT_EQ(first["data"][0]["count"], 1);
    EXPECT_TRUE(first["data"][1]["value"].is_null());

    ASSERT_EQ(http.post("/api/v1/metrics", points("jobs.done", "count", 3)).status, 200);
    const json pushed = read_json(client);
    ASSERT_EQ(pushed["type"], "metric_data");
    EXPECT_EQ(pushed["data"][0]["value"], 5.0);

    // A metric nobody here follows changes: nothing is sent.
    ASSERT_EQ(http.post("/api/v1/metrics", points("other.metric", "gauge", 1)).status, 200);
    EXPECT_FALSE(client.read(milliseconds(500)));
}

TEST(MetricsLive, AtMostOneFramePerBatch) {
    Tallyd daemon;  // live.batch_ms 100
    HttpClient http(daemon.port());
    WsClient client(daemon.port(), "/ws/metrics/burst");
    client.send(R"({"type":"subscribe","metrics":["lat"]})");
    ASSERT_EQ(read_json(client)["type"], "metric_data");
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 50; ++i)
        ASSERT_EQ(http.post("/api/v1/metrics", points("lat", "percentile", i + 1)).status, 200);
    const auto elapsed = std::chrono::steady_clock::now() - started;
    int frames = 0;
    json last;
    while (auto frame = client.read(milliseconds(400))) {
        ++frames;
        last = json::parse(*frame);
    }
    const auto batches = std::chrono::duration_cast<milliseconds>(elapsed).count() / 100 + 2;
    EXPECT_GE(frames, 1);
    EXPECT_LE(frames, batches);
    EXPECT_EQ(last["data"][0]["count"], 50);
    EXPECT_EQ(last["data"][0]["max"], 50.0);
}

TEST(MetricsLive, BadMessagesAreAnsweredAndTheConnectionStays) {
    Tallyd daemon;
    WsClient client(daemon.port(), "/ws/metrics/bad");
    for (const char* bad : {"not json", R"({"type":"dance"})", R"({"type":"subscribe"})",
                            R"({"type":"subscribe","metrics":["bad name"]})",
                            R"({"type":"subscribe","metrics":["a"],"window":"2m"})"}) {
        client.send(bad);
        const json answer = read_json(client);
        EXPECT_EQ(answer["type"], "error") << bad;
        EXPECT_FALSE(answer["error"].get<std::string>().empty());
    }
    client.send(R"({"type":"subscribe","metrics":["a"]})");
    EXPECT_EQ(read_json(client)["type"], "metric_data");
    client.send(R"({"type":"unsubscribe"})");
    EXPECT_TRUE(read_json(client)["data"].empty());
    HttpClient http(daemon.port());
    ASSERT_EQ(http.post("/api/v1/metrics", points("a", "count", 1)).status, 200);
    EXPECT_FALSE(client.read(milliseconds(500)));  // unsubscribed: nothing more
}

TEST(MetricsLive, TagFiltersNarrowTheValue) {
    Tallyd daemon;
    HttpClient http(daemon.port());
    const json body = {
        {"metrics",
         {{{"name", "req"}, {"type", "count"}, {"value", 1}, {"tags", {{"ep", "a"}}}},
          {{"name", "req"}, {"type", "count"}, {"value", 10}, {"tags", {{"ep", "b"}}}}}}};
    ASSERT_EQ(http.post("/api/v1/metrics", body.dump()).status, 200);
    WsClient client(daemon.port(), "/ws/metrics/tags");
    client.send(R"({"type":"subscribe","metrics":["req"],"tags":{"ep":"b"}})");
    EXPECT_EQ(read_json(client)["data"][0]["value"], 10.0);
}

TEST(MetricsLive, TokenRequiredWhenSet) {
    Tallyd daemon({"--token", "sekrit"});
    WsClient anonymous(daemon.port(), "/ws/metrics/x");
    EXPECT_FALSE(anonymous.connected());
    EXPECT_EQ(anonymous.status(), 401);
    WsClient with_token(daemon.port(), "/ws/metrics/x?token=sekrit");
    EXPECT_TRUE(with_token.connected());
}

}  // namespace
}  // namespace tally::test
