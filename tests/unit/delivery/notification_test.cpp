// The notification bodies: Alertmanager's webhook v4 body and its /api/v2/alerts input,
// field by field, and the fingerprint (checked against a real Alertmanager in
// alertmanager_test.cpp).

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tally/alerts/notification.hpp"

namespace tally::alerts {
namespace {

constexpr std::int64_t kStart = 1796324400123;  // 2026-12-03T19:00:00.123Z

AlertNotice firing() {
    AlertNotice n;
    n.status = "firing";
    n.labels = {{"alertname", "HighErrors"}, {"severity", "page"}};
    n.annotations = {{"summary", "errors above 5%"}};
    n.starts_at_ms = kStart;
    n.generator_url = "http://tally.local/alerts/a1";
    return n;
}

TEST(Notification, FormatsRfc3339WithMilliseconds) {
    EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000Z");
    EXPECT_EQ(rfc3339(kStart), "2026-12-03T19:00:00.123Z");
    EXPECT_EQ(rfc3339(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Notification, FiringWebhookBody) {
    const auto body = nlohmann::json::parse(webhook_body(firing(), "ops", "http://tally.local"));
    EXPECT_EQ(body["version"], "4");
    EXPECT_EQ(body["status"], "firing");
    EXPECT_EQ(body["receiver"], "ops");
    EXPECT_EQ(body["externalURL"], "http://tally.local");
    EXPECT_EQ(body["truncatedAlerts"], 0);
    EXPECT_EQ(body["groupKey"], "{}:{alertname=\"HighErrors\"}");
    EXPECT_EQ(body["groupLabels"], (nlohmann::json{{"alertname", "HighErrors"}}));
    EXPECT_EQ(body["commonLabels"],
              (nlohmann::json{{"alertname", "HighErrors"}, {"severity", "page"}}));
    EXPECT_EQ(body["commonAnnotations"], (nlohmann::json{{"summary", "errors above 5%"}}));
    ASSERT_EQ(body["alerts"].size(), 1u);
    const auto& alert = body["alerts"][0];
    EXPECT_EQ(alert["status"], "firing");
    EXPECT_EQ(alert["labels"]["alertname"], "HighErrors");
    EXPECT_EQ(alert["annotations"]["summary"], "errors above 5%");
    EXPECT_EQ(alert["startsAt"], "2026-12-03T19:00:00.123Z");
    EXPECT_EQ(alert["endsAt"], "0001-01-01T00:00:00Z");
    EXPECT_EQ(alert["generatorURL"], "http://tally.local/alerts/a1");
    EXPECT_EQ(alert["fingerprint"], fingerprint(firing().labels));
}

std::vector<std::string> keys_of(const nlohmann::ordered_json& object) {
    std::vector<std::string> keys;
    for (const auto& item : object.items())
        keys.push_back(item.key());
    return keys;
}

TEST(Notification, WebhookFieldsComeInAlertmanagersOrder) {
    // Go writes struct fields in declaration order: template.Data's, then the Message's own.
    const auto body =
        nlohmann::ordered_json::parse(webhook_body(firing(), "ops", "http://tally.local"));
    EXPECT_EQ(keys_of(body),
              (std::vector<std::string>{"receiver", "status", "alerts", "groupLabels",
                                        "commonLabels", "commonAnnotations", "externalURL",
                                        "version", "groupKey", "truncatedAlerts"}));
    EXPECT_EQ(keys_of(body["alerts"][0]),
              (std::vector<std::string>{"status", "labels", "annotations", "startsAt", "endsAt",
                                        "generatorURL", "fingerprint"}));
}

TEST(Notification, ResolvedWebhookBody) {
    AlertNotice n = firing();
    n.status = "resolved";
    n.ends_at_ms = kStart + 60'000;
    const auto body = nlohmann::json::parse(webhook_body(n, "ops", ""));
    EXPECT_EQ(body["status"], "resolved");
    EXPECT_EQ(body["alerts"][0]["status"], "resolved");
    EXPECT_EQ(body["alerts"][0]["endsAt"], "2026-12-03T19:01:00.123Z");
}

TEST(Notification, GroupKeyQuotesLikeGo) {
    AlertNotice n = firing();
    n.labels["alertname"] = "a \"quoted\"\\ name\n";
    const auto body = nlohmann::json::parse(webhook_body(n, "ops", ""));
    EXPECT_EQ(body["groupKey"], "{}:{alertname=\"a \\\"quoted\\\"\\\\ name\\n\"}");
}

TEST(Notification, FingerprintIsAlertmanagersLabelSignature) {
    // FNV-1a 64 of nothing: the offset basis (model.LabelsToSignature of no labels).
    EXPECT_EQ(fingerprint({}), "cbf29ce484222325");
    const auto a = fingerprint({{"alertname", "HighErrors"}, {"severity", "page"}});
    EXPECT_EQ(a.size(), 16u);
    EXPECT_EQ(a, fingerprint({{"severity", "page"}, {"alertname", "HighErrors"}}));
    EXPECT_NE(a, fingerprint({{"alertname", "HighErrors"}, {"severity", "warn"}}));
    EXPECT_NE(a, fingerprint({{"alertname", "HighErrors"}}));
    // Names and values are separated: moving a byte across the boundary changes it.
    EXPECT_NE(fingerprint({{"ab", "c"}}), fingerprint({{"a", "bc"}}));
}

TEST(Notification, AlertmanagerBody) {
    AlertNotice n = firing();
    n.ends_at_ms = kStart + 5 * 60'000;
    const auto body = nlohmann::json::parse(alertmanager_body(n));
    ASSERT_TRUE(body.is_array());
    ASSERT_EQ(body.size(), 1u);
    EXPECT_EQ(body[0]["labels"],
              (nlohmann::json{{"alertname", "HighErrors"}, {"severity", "page"}}));
    EXPECT_EQ(body[0]["annotations"]["summary"], "errors above 5%");
    EXPECT_EQ(body[0]["startsAt"], "2026-12-03T19:00:00.123Z");
    EXPECT_EQ(body[0]["endsAt"], "2026-12-03T19:05:00.123Z");
    EXPECT_EQ(body[0]["generatorURL"], "http://tally.local/alerts/a1");
    EXPECT_FALSE(body[0].contains("status"));

    n.ends_at_ms = 0;  // no end: Alertmanager applies its resolve_timeout
    n.generator_url.clear();
    const auto open = nlohmann::json::parse(alertmanager_body(n));
    EXPECT_FALSE(open[0].contains("endsAt"));
    EXPECT_FALSE(open[0].contains("generatorURL"));
}

TEST(Notification, AlertmanagerAlertsUrl) {
    EXPECT_EQ(alertmanager_alerts_url("http://am:9093"), "http://am:9093/api/v2/alerts");
    EXPECT_EQ(alertmanager_alerts_url("http://am:9093/"), "http://am:9093/api/v2/alerts");
    EXPECT_EQ(alertmanager_alerts_url("http://am/prefix/"), "http://am/prefix/api/v2/alerts");
    EXPECT_EQ(alertmanager_alerts_url("http://am:9093/api/v2/alerts"),
              "http://am:9093/api/v2/alerts");
}

}  // namespace
}  // namespace tally::alerts
