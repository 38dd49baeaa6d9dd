// The outbox against a real loopback receiver: order per destination, retries while the
// receiver is down, giving up at the horizon, the bounds (oldest dropped), a dead receiver
// not holding up others, and its metrics. Back-off and horizons are milliseconds here.

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include "black_hole.hpp"
#include "support/webhook_receiver.hpp"
#include "tally/delivery/outbox.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::delivery {
namespace {

using namespace std::chrono_literals;

OutboxOptions fast_options() {
    OutboxOptions o;
    o.first_retry = 20ms;
    o.max_retry = 100ms;
    o.give_up_after = 20s;
    o.timeout = 1s;
    return o;
}

// The outcomes `done` reported, in the order they came.
struct Outcomes {
    mutable std::mutex mutex;
    std::vector<std::pair<std::string, std::string>> seen;  // (body, "" or the error)
};

Delivery make(const std::string& url, const std::string& body, Outcomes* outcomes = nullptr,
              const std::string& kind = "alert_webhook") {
    Delivery d;
    d.kind = kind;
    d.url = url;
    d.body = body;
    if (outcomes)
        d.done = [outcomes, body](bool delivered, const std::string& error) {
            std::lock_guard lock(outcomes->mutex);
            outcomes->seen.emplace_back(body, delivered ? "" : error);
        };
    return d;
}

std::vector<std::pair<std::string, std::string>> wait_outcomes(const Outcomes& o, std::size_t n,
                                                               std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        {
            std::lock_guard lock(o.mutex);
            if (o.seen.size() >= n)
                return o.seen;
        }
        std::this_thread::sleep_for(5ms);
    }
    std::lock_guard lock(o.mutex);
    return o.seen;
}

std::vector<std::string> bodies(const std::vector<test::ReceivedPost>& posts) {
    std::vector<std::string> out;
    for (const auto& p : posts)
        out.push_back(p.body);
    return out;
}

TEST(Outbox, DeliversInOrder) {
    test::WebhookReceiver receiver;
    Outbox outbox(fast_options());
    outbox.start();
    Outcomes outcomes;
    std::vector<std::string> expected;
    for (int i = 0; i < 30; ++i) {
        expected.push_back(std::to_string(i));
        ASSERT_TRUE(outbox.send(make(receiver.url(), expected.back(), &outcomes)));
    }
    const auto posts = receiver.wait_for(30, 10s);
    EXPECT_EQ(bodies(posts), expected);
    EXPECT_EQ(posts.at(0).content_type, "application/json");
    EXPECT_EQ(posts.at(0).path, "/hook");
    const auto seen = wait_outcomes(outcomes, 30, 5s);
    ASSERT_EQ(seen.size(), 30u);
    for (const auto& [body, error] : seen)
        EXPECT_EQ(error, "") << body;
    EXPECT_EQ(outbox.counts("alert_webhook").delivered, 30u);
    EXPECT_EQ(outbox.counts().failed, 0u);
    EXPECT_EQ(outbox.attempts(), 30u);
    EXPECT_EQ(outbox.retries(), 0u);
    EXPECT_EQ(outbox.queued(), 0u);
    EXPECT_EQ(outbox.queued_bytes(), 0u);
}

TEST(Outbox, RetriesWhileTheReceiverIsDownThenDeliversInOrder) {
    test::WebhookReceiver receiver;
    receiver.stop_listening();
    Outbox outbox(fast_options());
    outbox.start();
    Outcomes outcomes;
    ASSERT_TRUE(outbox.send(make(receiver.url(), "firing", &outcomes)));
    ASSERT_TRUE(outbox.send(make(receiver.url(), "resolved", &outcomes)));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (outbox.retries() < 3 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    ASSERT_GE(outbox.retries(), 3u);
    EXPECT_EQ(outbox.queued(), 2u);
    EXPECT_EQ(outbox.counts().delivered, 0u);

    receiver.start_listening();
    const auto posts = receiver.wait_for(2, 5s);
    EXPECT_EQ(bodies(posts), (std::vector<std::string>{"firing", "resolved"}));
    const auto seen = wait_outcomes(outcomes, 2, 5s);
    EXPECT_EQ(seen,
              (std::vector<std::pair<std::string, std::string>>{{"firing", ""}, {"resolved", ""}}));
    EXPECT_EQ(outbox.counts().delivered, 2u);
    EXPECT_EQ(outbox.counts().failed, 0u);
}

TEST(Outbox, RetriesAnErrorStatus) {
    test::WebhookReceiver receiver;
    receiver.set_status(500);
    Outbox outbox(fast_options());
    outbox.start();
    ASSERT_TRUE(outbox.send(make(receiver.url(), "x")));
    ASSERT_GE(receiver.wait_for(3, 5s).size(), 3u);  // each attempt reached it, and failed
    EXPECT_EQ(outbox.counts().delivered, 0u);
    receiver.set_status(204);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (outbox.counts().delivered == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    EXPECT_EQ(outbox.counts().delivered, 1u);
    EXPECT_EQ(outbox.attempts(), receiver.posts().size());
}

TEST(Outbox, BacksOffInsteadOfRetryingInATightLoop) {
    test::WebhookReceiver receiver;
    receiver.stop_listening();
    auto options = fast_options();
    options.first_retry = 50ms;
    options.max_retry = 400ms;
    Outbox outbox(options);
    outbox.start();
    ASSERT_TRUE(outbox.send(make(receiver.url(), "x")));
    std::this_thread::sleep_for(1s);
    // 0, 50, 150, 350, 750 ms: 5 attempts within the second. A loaded machine only makes
    // them later (fewer); more would mean the back-off was skipped.
    EXPECT_GE(outbox.attempts(), 3u);
    EXPECT_LE(outbox.attempts(), 6u);
}

TEST(Outbox, GivesUpAfterTheHorizon) {
    test::WebhookReceiver receiver;
    receiver.stop_listening();
    auto options = fast_options();
    options.give_up_after = 300ms;
    Outbox outbox(options);
    outbox.start();
    Outcomes outcomes;
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(outbox.send(make(receiver.url(), "first", &outcomes, "report")));
    ASSERT_TRUE(outbox.send(make(receiver.url(), "second", &outcomes, "report")));
    const auto seen = wait_outcomes(outcomes, 2, 5s);
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].first, "first");
    EXPECT_EQ(seen[1].first, "second");
    EXPECT_NE(seen[0].second.find("connect"), std::string::npos) << seen[0].second;
    EXPECT_FALSE(seen[1].second.empty());
    EXPECT_GE(took, 200ms);  // a horizon of 300 ms, less at most one back-off step
    EXPECT_LT(took, 3s);
    EXPECT_EQ(outbox.counts("report").failed, 2u);
    EXPECT_EQ(outbox.queued(), 0u);
    EXPECT_GE(outbox.attempts(), 3u);

    // The receiver returns: new deliveries go through.
    receiver.start_listening();
    ASSERT_TRUE(outbox.send(make(receiver.url(), "third", nullptr, "report")));
    const auto posts = receiver.wait_for(1, 5s);
    EXPECT_EQ(bodies(posts), std::vector<std::string>{"third"});
}

TEST(Outbox, DropsTheOldestWhenTheCountIsFull) {
    test::WebhookReceiver receiver;
    auto options = fast_options();
    options.max_queued = 3;
    Outbox outbox(options);  // not started: everything stays queued
    Outcomes outcomes;
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(outbox.send(make(receiver.url(), std::to_string(i), &outcomes)));
    EXPECT_EQ(outbox.queued(), 3u);
    EXPECT_EQ(outbox.counts().dropped, 2u);
    outbox.start();
    const auto posts = receiver.wait_for(3, 5s);
    EXPECT_EQ(bodies(posts), (std::vector<std::string>{"2", "3", "4"}));
    auto seen = wait_outcomes(outcomes, 5, 5s);
    ASSERT_EQ(seen.size(), 5u);
    std::sort(seen.begin(), seen.end());
    EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{
                        {"0", "dropped"}, {"1", "dropped"}, {"2", ""}, {"3", ""}, {"4", ""}}));
    EXPECT_EQ(outbox.counts().delivered, 3u);
}

TEST(Outbox, DropsTheOldestWhenTheBytesAreFullAndRefusesWhatNeverFits) {
    test::WebhookReceiver receiver;
    const std::string body(1000, 'b');
    std::size_t one = 0;
    {
        Outbox probe(fast_options());
        ASSERT_TRUE(probe.send(make(receiver.url(), body)));
        one = probe.queued_bytes();
    }
    ASSERT_GT(one, body.size());
    auto options = fast_options();
    options.max_bytes = 2 * one + one / 2;  // room for two
    Outbox outbox(options);
    for (int i = 0; i < 4; ++i)
        ASSERT_TRUE(outbox.send(make(receiver.url(), std::to_string(i) + body)));
    EXPECT_EQ(outbox.queued(), 2u);
    EXPECT_LE(outbox.queued_bytes(), options.max_bytes);
    EXPECT_EQ(outbox.counts().dropped, 2u);
    EXPECT_FALSE(outbox.send(make(receiver.url(), std::string(options.max_bytes, 'x'))));
    EXPECT_EQ(outbox.queued(), 2u);
    outbox.start();
    const auto posts = receiver.wait_for(2, 5s);
    ASSERT_EQ(posts.size(), 2u);
    EXPECT_EQ(posts[0].body, "2" + body);
    EXPECT_EQ(posts[1].body, "3" + body);
}

TEST(Outbox, RefusesBadUrls) {
    Outbox outbox(fast_options());
    EXPECT_FALSE(outbox.send(make("https://hooks.example.com/x", "x")));
    EXPECT_FALSE(outbox.send(make("not a url", "x")));
    EXPECT_EQ(outbox.queued(), 0u);
}

TEST(Outbox, ADeadReceiverDoesNotHoldUpOthers) {
    test::BlackHole hole;  // every attempt waits the whole timeout
    test::WebhookReceiver receiver;
    auto options = fast_options();
    options.timeout = 2s;
    Outbox outbox(options);
    outbox.start();
    ASSERT_TRUE(outbox.send(make(hole.url("/a"), "slow")));
    ASSERT_TRUE(outbox.send(make(hole.url("/b"), "slow too")));
    std::this_thread::sleep_for(50ms);  // both are in flight now
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(outbox.send(make(receiver.url(), std::to_string(i))));
    const auto posts = receiver.wait_for(5, 5s);
    EXPECT_EQ(posts.size(), 5u);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // well before either timeout
    EXPECT_EQ(bodies(posts), (std::vector<std::string>{"0", "1", "2", "3", "4"}));
    const auto stopping = std::chrono::steady_clock::now();
    outbox.stop();  // abandons the two requests in flight instead of waiting them out
    EXPECT_LT(std::chrono::steady_clock::now() - stopping, 1s);
}

TEST(Outbox, GivesUpAtOnceOnARefusalAndGoesOn) {
    test::WebhookReceiver receiver;
    receiver.set_status(400);
    Outbox outbox(fast_options());
    outbox.start();
    Outcomes outcomes;
    ASSERT_TRUE(outbox.send(make(receiver.url(), "malformed", &outcomes)));
    auto seen = wait_outcomes(outcomes, 1, 5s);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].second, "HTTP 400");
    EXPECT_EQ(outbox.attempts(), 1u);
    EXPECT_EQ(outbox.counts().failed, 1u);

    receiver.set_status(429);  // "too many requests" is worth a retry
    ASSERT_TRUE(outbox.send(make(receiver.url(), "later", &outcomes)));
    ASSERT_EQ(receiver.wait_for(3, 5s).size(), 3u);
    receiver.set_status(200);
    seen = wait_outcomes(outcomes, 2, 5s);
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1], (std::pair<std::string, std::string>{"later", ""}));
}

TEST(Outbox, StopTellsWhatWasNotSent) {
    test::WebhookReceiver receiver;
    receiver.stop_listening();
    auto options = fast_options();
    options.first_retry = 10s;
    options.max_retry = 10s;
    Outbox outbox(options);
    outbox.start();
    Outcomes outcomes;
    ASSERT_TRUE(outbox.send(make(receiver.url(), "a", &outcomes)));
    ASSERT_TRUE(outbox.send(make(receiver.url(), "b", &outcomes)));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (outbox.attempts() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    const auto start = std::chrono::steady_clock::now();
    outbox.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);  // not the 10 s back-off
    const auto seen = wait_outcomes(outcomes, 2, 1s);
    EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{"a", "outbox stopped"},
                                                                      {"b", "outbox stopped"}}));
    EXPECT_FALSE(outbox.send(make(receiver.url(), "c")));
}

TEST(Outbox, RegistersItsMetrics) {
    test::WebhookReceiver receiver;
    Outbox outbox(fast_options());
    telemetry::Metrics metrics(1);
    outbox.register_metrics(metrics);
    outbox.start();
    ASSERT_TRUE(outbox.send(make(receiver.url(), "x", nullptr, "alertmanager")));
    ASSERT_EQ(receiver.wait_for(1, 5s).size(), 1u);
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (outbox.counts().delivered == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(5ms);
    const std::string text = metrics.render();
    for (const char* line :
         {"# TYPE tally_deliveries_total counter\n",
          "tally_deliveries_total{kind=\"alertmanager\",outcome=\"delivered\"} 1\n",
          "tally_deliveries_total{kind=\"alert_webhook\",outcome=\"delivered\"} 0\n",
          "tally_deliveries_total{kind=\"report\",outcome=\"dropped\"} 0\n",
          "tally_delivery_attempts_total 1\n", "tally_delivery_retries_total 0\n",
          "tally_delivery_queue 0\n", "tally_delivery_queue_bytes 0\n"})
        EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
}

}  // namespace
}  // namespace tally::delivery
