// The outgoing HTTP client: URL parsing (what is refused and why), one POST to a real
// loopback receiver, and its failures (a refused connection, a server that never answers).

#include <gtest/gtest.h>

#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "black_hole.hpp"
#include "support/webhook_receiver.hpp"
#include "tally/http/client.hpp"

namespace tally::http {
namespace {

using namespace std::chrono_literals;

TEST(ClientUrl, TakesApartHostPortAndTarget) {
    const auto parsed = parse_client_url("http://127.0.0.1:8080/hook?x=1&y=2");
    ASSERT_TRUE(parsed.url) << parsed.error;
    EXPECT_EQ(parsed.url->host, "127.0.0.1");
    EXPECT_EQ(parsed.url->port, 8080);
    EXPECT_EQ(parsed.url->target, "/hook?x=1&y=2");
    EXPECT_EQ(parsed.url->host_header, "127.0.0.1:8080");
}

TEST(ClientUrl, DefaultsPortAndPathAndLowersSchemeAndHost) {
    const auto parsed = parse_client_url("HTTP://Alerts.Example.com");
    ASSERT_TRUE(parsed.url) << parsed.error;
    EXPECT_EQ(parsed.url->host, "alerts.example.com");
    EXPECT_EQ(parsed.url->port, 80);
    EXPECT_EQ(parsed.url->target, "/");
    EXPECT_EQ(parsed.url->host_header, "alerts.example.com");

    const auto query_only = parse_client_url("http://h:81?a=b");
    ASSERT_TRUE(query_only.url) << query_only.error;
    EXPECT_EQ(query_only.url->target, "/?a=b");
}

TEST(ClientUrl, ReadsBracketedIpv6) {
    const auto parsed = parse_client_url("http://[::1]:9093/api/v2/alerts");
    ASSERT_TRUE(parsed.url) << parsed.error;
    EXPECT_EQ(parsed.url->host, "::1");
    EXPECT_EQ(parsed.url->port, 9093);
    EXPECT_EQ(parsed.url->host_header, "[::1]:9093");
}

TEST(ClientUrl, RefusesHttpsWithAClearReason) {
    const auto parsed = parse_client_url("https://hooks.example.com/x");
    EXPECT_FALSE(parsed.url);
    EXPECT_NE(parsed.error.find("https is not supported"), std::string::npos) << parsed.error;
    EXPECT_NE(parsed.error.find("TLS"), std::string::npos) << parsed.error;
}

TEST(ClientUrl, RefusesMalformedUrls) {
    const std::string too_long = "http://h/" + std::string(2100, 'a');
    for (const std::string& bad : std::vector<std::string>{
             "", "ftp://h/x", "127.0.0.1:80/x", "http://", "http:///path", "http://:80/",
             "http://h:0/", "http://h:65536/", "http://h:abc/", "http://h:/x", "http://u:p@h/",
             "http://h/a b", "http://h/x#frag", "http://[::1/x", "http://[zz]:80/", "http://h\n/",
             "http://h%41/", too_long}) {
        const auto parsed = parse_client_url(bad);
        EXPECT_FALSE(parsed.url) << "accepted: " << bad;
        EXPECT_FALSE(parsed.error.empty()) << bad;
    }
}

TEST(Client, PostsToAReceiver) {
    test::WebhookReceiver receiver;
    const auto url = parse_client_url(receiver.url("/alerts?team=ops"));
    ASSERT_TRUE(url.url);
    const auto answer = post(*url.url, "application/json", R"({"a":1})", 2s);
    EXPECT_EQ(answer.status, 200u) << answer.error;
    EXPECT_TRUE(answer.ok());
    const auto posts = receiver.wait_for(1, 2s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(posts[0].path, "/alerts?team=ops");
    EXPECT_EQ(posts[0].content_type, "application/json");
    EXPECT_EQ(posts[0].body, R"({"a":1})");
}

TEST(Client, ReportsAnErrorStatus) {
    test::WebhookReceiver receiver;
    receiver.set_status(503);
    const auto answer = post(*parse_client_url(receiver.url()).url, "text/plain", "x", 2s);
    EXPECT_EQ(answer.status, 503u);
    EXPECT_FALSE(answer.ok());
}

TEST(Client, ReportsARefusedConnection) {
    test::WebhookReceiver receiver;
    receiver.stop_listening();
    const auto answer = post(*parse_client_url(receiver.url()).url, "text/plain", "x", 2s);
    EXPECT_EQ(answer.status, 0u);
    EXPECT_NE(answer.error.find("connect"), std::string::npos) << answer.error;
    receiver.start_listening();  // and the same port works again
    const auto again = post(*parse_client_url(receiver.url()).url, "text/plain", "y", 2s);
    EXPECT_EQ(again.status, 200u) << again.error;
}

TEST(Client, GivesUpOnAServerThatNeverAnswers) {
    test::BlackHole hole;
    const auto start = std::chrono::steady_clock::now();
    const auto answer = post(*parse_client_url(hole.url()).url, "text/plain", "x", 300ms);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(answer.status, 0u);
    EXPECT_NE(answer.error.find("no answer within 300 ms"), std::string::npos) << answer.error;
    EXPECT_GE(took, 290ms);
    EXPECT_LT(took, 3s);
}

TEST(Client, AStopAbandonsTheRequest) {
    test::BlackHole hole;
    std::stop_source stop;
    std::thread stopper([&stop] {
        std::this_thread::sleep_for(100ms);
        stop.request_stop();
    });
    const auto start = std::chrono::steady_clock::now();
    const auto answer =
        post(*parse_client_url(hole.url()).url, "text/plain", "x", 5s, stop.get_token());
    const auto took = std::chrono::steady_clock::now() - start;
    stopper.join();
    EXPECT_EQ(answer.status, 0u);
    EXPECT_EQ(answer.error, "stopped");
    EXPECT_LT(took, 2s);
}

}  // namespace
}  // namespace tally::http
