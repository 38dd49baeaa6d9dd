// The alert service's rounds, driven by hand (evaluate(now)) over a real engine, a real
// outbox and a loopback receiver: a firing and a resolved notice with the v4 body, no second
// firing after a restart, what an update keeps and what it starts over, a deleted firing
// rule announced resolved, Alertmanager's keep-alive, and states and history as the API
// shows them.

#include <gtest/gtest.h>

#include <thread>

#include "support/process.hpp"
#include "support/webhook_receiver.hpp"
#include "tally/alerts/alert_service.hpp"
#include "tally/base/time.hpp"
#include "tally/documents/document_store.hpp"

namespace tally::alerts {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class AlertServiceTest : public ::testing::Test {
  protected:
    AlertServiceTest()
        : engine_(metrics::EngineOptions{2, {}, 30}),
          store_({2, 10, 100, 1000}),
          rules_(std::filesystem::path(dir_.path()) / "alerts", "alert", kMaxAlerts),
          outbox_(fast_outbox()) {
        outbox_.start();
        start_service();
    }
    ~AlertServiceTest() override {
        service_.reset();
        outbox_.stop();
    }

    static delivery::OutboxOptions fast_outbox() {
        delivery::OutboxOptions options;
        options.first_retry = 20ms;
        options.max_retry = 100ms;
        options.timeout = 1s;
        return options;
    }

    void start_service(std::function<std::string(std::string_view)> site_workspace = nullptr) {
        AlertServiceOptions options;
        options.site_workspace = std::move(site_workspace);
        options.dir = std::filesystem::path(dir_.path()) / "alerts";
        options.external_url = "http://tally.test:8080";
        options.alertmanager_resend = 60s;
        options.channels["pager"] = Action{Action::Type::alertmanager, hook_.url("/am"), "pager"};
        service_ = std::make_unique<AlertService>(options, engine_, store_, rules_, outbox_);
        service_->load();
    }

    /// A gauge point of `queue.depth` at `at`.
    void gauge(double value, std::int64_t at) {
        MetricPoint p;
        p.name = "queue.depth";
        p.type = MetricType::gauge;
        p.value = value;
        p.timestamp_ms = at;
        engine_.apply_replayed(0, p, at);
    }

    std::string add_rule(json body) {
        Channels channels = service_->options().channels;
        RuleContext context;
        context.channels = &channels;
        auto valid = validate_rule(body, context);
        EXPECT_TRUE(std::holds_alternative<json>(valid));
        auto result = rules_.create(std::get<json>(valid), t_);
        service_->rule_changed(result.document, nullptr, t_);
        return result.document["id"].get<std::string>();
    }

    json rule_body(double threshold, json actions) {
        return {{"alert_name", "Queue too deep"},
                {"metric", "queue.depth"},
                {"aggregation", "last"},
                {"window", "10s"},
                {"condition", {{"operator", ">"}, {"threshold", threshold}}},
                {"labels", {{"severity", "page"}}},
                {"annotations", {{"summary", "the queue backs up"}}},
                {"actions", std::move(actions)}};
    }

    json webhook() const { return json::array({{{"type", "webhook"}, {"url", hook_.url()}}}); }

    /// One round `step` after the last, with the gauge at `value` in the bucket it reads.
    void round(double value, std::int64_t step = 20'000) {
        t_ += step;
        gauge(value, t_);
        service_->evaluate(t_);
    }

    std::vector<json> bodies(std::size_t n, std::chrono::milliseconds wait = 3s) {
        std::vector<json> out;
        for (const auto& post : hook_.wait_for(n, wait))
            out.push_back(json::parse(post.body));
        return out;
    }

    test::TempDir dir_;
    test::WebhookReceiver hook_;
    metrics::Engine engine_;
    store::Store store_;
    documents::DocumentStore rules_;
    delivery::Outbox outbox_;
    std::unique_ptr<AlertService> service_;
    std::int64_t t_ = floor_div(now_ms(), 10'000) * 10'000;
};

TEST_F(AlertServiceTest, FiresAndResolvesWithTheWebhookBody) {
    const std::string id = add_rule(rule_body(100, webhook()));
    round(50);
    EXPECT_EQ(service_->state_of(id)->state, State::inactive);
    round(150);
    const auto firing = bodies(1);
    ASSERT_EQ(firing.size(), 1u);
    const json& body = firing[0];
    EXPECT_EQ(body["version"], "4");
    EXPECT_EQ(body["status"], "firing");
    EXPECT_EQ(body["receiver"], "tallyd");
    EXPECT_EQ(body["externalURL"], "http://tally.test:8080");
    ASSERT_EQ(body["alerts"].size(), 1u);
    const json& alert = body["alerts"][0];
    EXPECT_EQ(alert["labels"]["alertname"], "Queue too deep");
    EXPECT_EQ(alert["labels"]["severity"], "page");
    EXPECT_EQ(alert["annotations"]["summary"], "the queue backs up");
    EXPECT_EQ(alert["annotations"]["value"], "150");
    EXPECT_EQ(alert["startsAt"], rfc3339(t_));
    EXPECT_EQ(alert["endsAt"], "0001-01-01T00:00:00Z");
    EXPECT_EQ(alert["generatorURL"], "http://tally.test:8080/alerts/" + id);
    const StateView state = *service_->state_of(id);
    EXPECT_EQ(state.state, State::firing);
    EXPECT_EQ(state.since_ms, t_);
    EXPECT_EQ(state.value, 150);
    const std::int64_t fired_at = t_;
    round(160);  // still firing: nothing new
    round(20);
    const auto all = bodies(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1]["status"], "resolved");
    EXPECT_EQ(all[1]["alerts"][0]["startsAt"], rfc3339(fired_at));
    EXPECT_EQ(all[1]["alerts"][0]["endsAt"], rfc3339(t_));
    EXPECT_EQ(all[1]["alerts"][0]["fingerprint"], alert["fingerprint"]);
    const auto history = service_->history_of(id);
    ASSERT_EQ(history.size(), 2u);
    EXPECT_EQ(history[0].to, State::firing);
    EXPECT_EQ(history[1].to, State::resolved);
    EXPECT_EQ(history[1].value, 20);
}

TEST_F(AlertServiceTest, ARestartKeepsAFiringAlertWithoutAnnouncingItAgain) {
    const std::string id = add_rule(rule_body(100, webhook()));
    round(150);
    ASSERT_EQ(bodies(1).size(), 1u);
    const std::int64_t fired_at = t_;
    service_.reset();  // a restart: a new service over the same rules and states file
    start_service();
    EXPECT_EQ(service_->state_of(id)->state, State::firing);
    EXPECT_EQ(service_->state_of(id)->since_ms, fired_at);
    round(170);
    round(180);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(hook_.posts().size(), 1u) << "announced a second time";
    round(10);
    const auto all = bodies(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1]["status"], "resolved");
    EXPECT_EQ(all[1]["alerts"][0]["startsAt"], rfc3339(fired_at));
}

TEST_F(AlertServiceTest, AnUpdateKeepsTheStateUnlessTheConditionChanges) {
    const std::string id = add_rule(rule_body(100, webhook()));
    round(150);
    ASSERT_EQ(bodies(1).size(), 1u);
    json previous = *rules_.get(id);
    json changed = previous;
    changed["annotations"]["summary"] = "reworded";
    auto stored = rules_.replace(id, changed, previous["version"].get<std::int64_t>(), t_);
    service_->rule_changed(stored.document, &previous, t_);
    EXPECT_EQ(service_->state_of(id)->state, State::firing);
    round(150);
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(hook_.posts().size(), 1u);

    previous = stored.document;
    changed = previous;
    changed["condition"]["threshold"] = 200;
    stored = rules_.replace(id, changed, previous["version"].get<std::int64_t>(), t_);
    service_->rule_changed(stored.document, &previous, t_);
    EXPECT_EQ(service_->state_of(id)->state, State::inactive);
    const auto all = bodies(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1]["status"], "resolved");  // the old alert ends with the old condition
    round(150);                               // under the new threshold
    EXPECT_EQ(service_->state_of(id)->state, State::inactive);
}

TEST_F(AlertServiceTest, DeletingAFiringRuleResolvesIt) {
    const std::string id = add_rule(rule_body(100, webhook()));
    round(150);
    ASSERT_EQ(bodies(1).size(), 1u);
    const json last = *rules_.get(id);
    rules_.remove(id);
    service_->rule_removed(last, t_);
    EXPECT_FALSE(service_->state_of(id));
    const auto all = bodies(2);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1]["status"], "resolved");
    // Its state does not come back after a restart.
    round(150);
    service_.reset();
    start_service();
    EXPECT_FALSE(service_->state_of(id));
}

TEST_F(AlertServiceTest, AlertmanagerGetsKeepAlivesWhileFiring) {
    json body = rule_body(100, json::array({"pager"}));
    const std::string id = add_rule(body);
    round(150);
    auto posts = hook_.wait_for(1, 3s);
    ASSERT_EQ(posts.size(), 1u);
    EXPECT_EQ(posts[0].path, "/am/api/v2/alerts");
    json alerts = json::parse(posts[0].body);
    ASSERT_TRUE(alerts.is_array());
    EXPECT_EQ(alerts[0]["labels"]["alertname"], "Queue too deep");
    EXPECT_EQ(alerts[0]["endsAt"], rfc3339(t_ + 180'000));
    round(150, 30'000);  // within the minute: nothing
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(hook_.posts().size(), 1u);
    round(150, 30'000);  // a minute after the firing: re-sent
    posts = hook_.wait_for(2, 3s);
    ASSERT_EQ(posts.size(), 2u);
    alerts = json::parse(posts[1].body);
    EXPECT_EQ(alerts[0]["endsAt"], rfc3339(t_ + 180'000));
    round(10);
    posts = hook_.wait_for(3, 3s);
    ASSERT_EQ(posts.size(), 3u);
    alerts = json::parse(posts[2].body);
    EXPECT_EQ(alerts[0]["endsAt"], rfc3339(t_));
    (void)id;
}

TEST_F(AlertServiceTest, WorkspaceLabelOutsideTheDefault) {
    json body = rule_body(100, webhook());
    Channels channels;
    RuleContext context;
    context.channels = &channels;
    json doc = std::get<json>(validate_rule(body, context));
    doc["workspace"] = "team-a";
    auto result = rules_.create(doc, t_);
    service_->rule_changed(result.document, nullptr, t_);
    round(150);  // team-a's queue.depth has no points: no data, ok
    std::this_thread::sleep_for(200ms);
    EXPECT_TRUE(hook_.posts().empty());
    MetricPoint p;
    p.workspace = "team-a";
    p.name = "queue.depth";
    p.type = MetricType::gauge;
    p.value = 500;
    t_ += 20'000;
    p.timestamp_ms = t_;
    engine_.apply_replayed(0, p, t_);
    service_->evaluate(t_);
    const auto all = bodies(1);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0]["alerts"][0]["labels"]["workspace"], "team-a");
}

TEST_F(AlertServiceTest, ASiteItsWorkspaceNoLongerOwnsReadsNoData) {
    service_.reset();
    start_service([](std::string_view site) {
        return site == "mine.example" ? std::string("default") : std::string("team-x");
    });
    for (const char* site : {"mine.example", "theirs.example"}) {
        add_rule({{"alert_name", std::string("Views of ") + site},
                  {"metric", std::string("analytics:pageviews:") + site},
                  {"condition", {{"operator", ">="}, {"threshold", 0}}},
                  {"actions", webhook()}});
    }
    round(0);
    const auto posts = bodies(1);
    std::this_thread::sleep_for(200ms);
    ASSERT_EQ(hook_.posts().size(), 1u);
    EXPECT_EQ(posts[0]["alerts"][0]["labels"]["alertname"], "Views of mine.example");
}

}  // namespace
}  // namespace tally::alerts
