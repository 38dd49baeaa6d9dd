// The /api/v2/alerts body against a real Alertmanager 0.25, posted through the outbox as
// tallyd does: a firing notice is listed as active, with the fingerprint tallyd computes;
// the same notice resolved is no longer listed.

#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "support/alertmanager_server.hpp"
#include "support/webhook_receiver.hpp"
#include "tally/alerts/notification.hpp"
#include "tally/base/time.hpp"
#include "tally/delivery/outbox.hpp"

namespace tally::alerts {
namespace {

using namespace std::chrono_literals;

// The alerts Alertmanager lists with this alertname (polls until `until` holds, bounded).
nlohmann::json listed(const test::AlertmanagerServer& am, const std::string& name,
                      const std::function<bool(const nlohmann::json&)>& until) {
    nlohmann::json found = nlohmann::json::array();
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        found = nlohmann::json::array();
        for (const auto& alert : am.alerts())
            if (alert["labels"].value("alertname", "") == name)
                found.push_back(alert);
        if (until(found))
            break;
        std::this_thread::sleep_for(50ms);
    }
    return found;
}

// Posts through an outbox and waits for the outcome.
std::pair<bool, std::string> deliver(delivery::Outbox& outbox, const std::string& url,
                                     const std::string& body) {
    std::promise<std::pair<bool, std::string>> outcome;
    auto result = outcome.get_future();
    delivery::Delivery d;
    d.kind = "alertmanager";
    d.url = url;
    d.body = body;
    d.done = [&outcome](bool delivered, const std::string& error) {
        outcome.set_value({delivered, error});
    };
    if (!outbox.send(std::move(d)))
        return {false, "refused"};
    if (result.wait_for(10s) != std::future_status::ready)
        return {false, "no outcome within 10 s"};
    return result.get();
}

TEST(Alertmanager, FiringIsActiveThenResolvedIsGone) {
    if (!test::AlertmanagerServer::available())
        GTEST_SKIP() << "prometheus-alertmanager is not installed";
    test::AlertmanagerServer am;
    delivery::OutboxOptions options;
    options.first_retry = 50ms;
    options.give_up_after = 5s;
    delivery::Outbox outbox(options);
    outbox.start();

    const std::int64_t now = now_ms();
    AlertNotice notice;
    notice.status = "firing";
    notice.labels = {{"alertname", "TallyHighErrors"}, {"severity", "page"}, {"site", "a.com"}};
    notice.annotations = {{"summary", "errors above 5%"}};
    notice.starts_at_ms = now - 60'000;
    notice.ends_at_ms = now + 5 * 60'000;
    notice.generator_url = "http://127.0.0.1:1/alerts/a1";
    const std::string url = alertmanager_alerts_url(am.url());

    auto [delivered, error] = deliver(outbox, url, alertmanager_body(notice));
    ASSERT_TRUE(delivered) << error << "\n" << am.log();
    const auto active =
        listed(am, "TallyHighErrors", [](const nlohmann::json& found) { return !found.empty(); });
    ASSERT_EQ(active.size(), 1u) << am.alerts().dump();
    const auto& alert = active[0];
    const std::string state = alert["status"]["state"];
    EXPECT_TRUE(state == "active" || state == "unprocessed") << alert.dump();
    EXPECT_EQ(alert["labels"]["severity"], "page");
    EXPECT_EQ(alert["annotations"]["summary"], "errors above 5%");
    EXPECT_EQ(alert["fingerprint"], fingerprint(notice.labels));
    EXPECT_EQ(alert["generatorURL"], notice.generator_url);
    EXPECT_EQ(parse_rfc3339_ms(alert["startsAt"].get<std::string>()), notice.starts_at_ms);
    EXPECT_EQ(parse_rfc3339_ms(alert["endsAt"].get<std::string>()), notice.ends_at_ms);

    notice.status = "resolved";
    notice.ends_at_ms = now_ms();
    std::tie(delivered, error) = deliver(outbox, url, alertmanager_body(notice));
    ASSERT_TRUE(delivered) << error;
    const auto after =
        listed(am, "TallyHighErrors", [](const nlohmann::json& found) { return found.empty(); });
    EXPECT_TRUE(after.empty()) << after.dump();
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& object) {
    std::vector<std::string> keys;
    for (const auto& item : object.items())
        keys.push_back(item.key());
    return keys;
}

// Alertmanager's own webhook body for `notice` against tallyd's: the same fields in the same
// order, the same values (times compared as instants; externalURL is each side's own).
void expect_same_webhook(const std::string& theirs_text, const AlertNotice& notice) {
    const auto theirs = nlohmann::ordered_json::parse(theirs_text);
    const auto ours = nlohmann::ordered_json::parse(webhook_body(notice, "tally", "http://x"));
    EXPECT_EQ(keys_of(theirs), keys_of(ours)) << theirs_text;
    for (const char* key : {"receiver", "status", "groupLabels", "commonLabels",
                            "commonAnnotations", "version", "groupKey", "truncatedAlerts"})
        EXPECT_EQ(theirs[key], ours[key]) << key << " in " << theirs_text;
    ASSERT_EQ(theirs["alerts"].size(), 1u) << theirs_text;
    const auto& a = theirs["alerts"][0];
    const auto& b = ours["alerts"][0];
    EXPECT_EQ(keys_of(a), keys_of(b)) << theirs_text;
    for (const char* key : {"status", "labels", "annotations", "generatorURL", "fingerprint"})
        EXPECT_EQ(a[key], b[key]) << key << " in " << theirs_text;
    for (const char* key : {"startsAt", "endsAt"})
        EXPECT_EQ(parse_rfc3339_ms(a[key].get<std::string>()),
                  parse_rfc3339_ms(b[key].get<std::string>()))
            << key << " in " << theirs_text;
}

TEST(Alertmanager, ItsWebhookBodiesMatchOurs) {
    if (!test::AlertmanagerServer::available())
        GTEST_SKIP() << "prometheus-alertmanager is not installed";
    test::WebhookReceiver hook;
    test::AlertmanagerServer am(hook.url("/am"));
    delivery::Outbox outbox(delivery::OutboxOptions{});
    outbox.start();
    const std::string url = alertmanager_alerts_url(am.url());

    const std::int64_t now = now_ms();
    AlertNotice notice;
    notice.status = "firing";
    notice.labels = {{"alertname", "Tally \"quoted\""}, {"severity", "page"}};
    notice.annotations = {{"summary", "errors above 5%"}, {"runbook", "http://wiki/x"}};
    notice.starts_at_ms = now - 30'000;
    notice.ends_at_ms = now + 5 * 60'000;
    notice.generator_url = "http://127.0.0.1:1/alerts/a2";
    auto [delivered, error] = deliver(outbox, url, alertmanager_body(notice));
    ASSERT_TRUE(delivered) << error;
    auto posts = hook.wait_for(1, 10s);
    ASSERT_GE(posts.size(), 1u) << am.log();
    EXPECT_EQ(posts[0].path, "/am");
    EXPECT_EQ(posts[0].content_type, "application/json");
    expect_same_webhook(posts[0].body, notice);  // firing: endsAt hidden as Go's zero time

    notice.status = "resolved";
    notice.ends_at_ms = now_ms();
    std::tie(delivered, error) = deliver(outbox, url, alertmanager_body(notice));
    ASSERT_TRUE(delivered) << error;
    posts = hook.wait_for(2, 10s);  // after group_interval (1 s)
    ASSERT_GE(posts.size(), 2u) << am.log();
    expect_same_webhook(posts[1].body, notice);
}

TEST(Alertmanager, RefusesAnAlertWithoutLabelsAndTheOutboxGivesUpAtOnce) {
    if (!test::AlertmanagerServer::available())
        GTEST_SKIP() << "prometheus-alertmanager is not installed";
    test::AlertmanagerServer am;
    delivery::OutboxOptions options;
    delivery::Outbox outbox(delivery::OutboxOptions{});
    outbox.start();
    AlertNotice empty;  // no labels at all: Alertmanager answers 400
    empty.status = "firing";
    empty.starts_at_ms = now_ms();
    const auto [delivered, error] =
        deliver(outbox, alertmanager_alerts_url(am.url()), alertmanager_body(empty));
    EXPECT_FALSE(delivered);
    EXPECT_NE(error.find("HTTP 400"), std::string::npos) << error;
    EXPECT_EQ(outbox.attempts(), 1u);  // a refusal is not retried
}

}  // namespace
}  // namespace tally::alerts
