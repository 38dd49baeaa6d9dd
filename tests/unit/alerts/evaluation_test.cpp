// The alert state machine: pending for `duration`, firing, resolving, hysteresis with a
// resolve_threshold, each no_data mode, and the anomaly test on a synthetic series.

#include <gtest/gtest.h>

#include <cmath>

#include "tally/alerts/evaluation.hpp"

namespace tally::alerts {
namespace {

Rule threshold_rule(double threshold, std::int64_t duration_ms = 0) {
    Rule rule;
    rule.id = "r";
    rule.alert_name = "test";
    rule.op = Operator::gt;
    rule.threshold = threshold;
    rule.duration_ms = duration_ms;
    return rule;
}

Reading value(double v) {
    return Reading{v, {}};
}

Reading nothing() {
    return Reading{};
}

TEST(AlertEvaluation, PendingUntilTheDurationThenFiringThenResolved) {
    const Rule rule = threshold_rule(100, 30'000);
    AlertState state;
    EXPECT_FALSE(step(rule, state, value(50), 1'000));
    EXPECT_EQ(state.state, State::inactive);
    auto t = step(rule, state, value(150), 2'000);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, State::inactive);
    EXPECT_EQ(t->to, State::pending);
    EXPECT_EQ(state.since_ms, 2'000);
    EXPECT_FALSE(step(rule, state, value(150), 31'999));  // 29.999 s: still pending
    EXPECT_EQ(state.state, State::pending);
    t = step(rule, state, value(151), 32'000);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->to, State::firing);
    EXPECT_EQ(t->value, 151);
    EXPECT_EQ(state.firing_since_ms, 32'000);
    EXPECT_FALSE(step(rule, state, value(200), 40'000));
    t = step(rule, state, value(100), 50'000);  // not > 100
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, State::firing);
    EXPECT_EQ(t->to, State::resolved);
    EXPECT_EQ(state.firing_since_ms, 32'000);  // the resolved notice's startsAt
    ASSERT_EQ(state.history.size(), 3u);
    EXPECT_EQ(state.history[0].to, State::pending);
    EXPECT_EQ(state.history[2].to, State::resolved);
}

TEST(AlertEvaluation, PendingThatStopsHoldingGoesBackToInactive) {
    const Rule rule = threshold_rule(100, 60'000);
    AlertState state;
    step(rule, state, value(150), 0);
    const auto t = step(rule, state, value(10), 10'000);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, State::pending);
    EXPECT_EQ(t->to, State::inactive);
    // And a new episode starts its own timer.
    step(rule, state, value(150), 20'000);
    EXPECT_FALSE(step(rule, state, value(150), 70'000));
    EXPECT_EQ(step(rule, state, value(150), 80'000)->to, State::firing);
}

TEST(AlertEvaluation, ZeroDurationFiresInOneStep) {
    const Rule rule = threshold_rule(100);
    AlertState state;
    const auto t = step(rule, state, value(101), 5);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->from, State::inactive);
    EXPECT_EQ(t->to, State::firing);
    EXPECT_EQ(state.history.size(), 1u);
    // resolved -> firing again in one step, too.
    step(rule, state, value(1), 6);
    EXPECT_EQ(step(rule, state, value(101), 7)->to, State::firing);
}

TEST(AlertEvaluation, FlappingWithResolveThresholdFiresOnceAndResolvesOnce) {
    Rule rule = threshold_rule(100);
    rule.resolve_threshold = 80;
    AlertState state;
    int firing = 0;
    int resolved = 0;
    const double values[] = {90, 101, 99, 102, 95, 100.5, 85, 98, 104, 81, 79, 70, 60};
    std::int64_t now = 0;
    for (double v : values) {
        if (const auto t = step(rule, state, value(v), now += 1000)) {
            firing += t->to == State::firing;
            resolved += t->to == State::resolved;
        }
    }
    EXPECT_EQ(firing, 1);
    EXPECT_EQ(resolved, 1);
    EXPECT_EQ(state.state, State::resolved);

    // Without the resolve threshold the same values flap.
    rule.resolve_threshold.reset();
    AlertState flapping;
    int fired = 0;
    for (double v : values)
        fired += step(rule, flapping, value(v), now += 1000).has_value() &&
                 flapping.state == State::firing;
    EXPECT_GT(fired, 1);
}

TEST(AlertEvaluation, ResolveThresholdForBelowConditions) {
    Rule rule = threshold_rule(10);
    rule.op = Operator::lt;
    rule.resolve_threshold = 20;
    AlertState state;
    EXPECT_EQ(step(rule, state, value(5), 1)->to, State::firing);
    EXPECT_FALSE(step(rule, state, value(15), 2));  // still below 20: firing
    EXPECT_EQ(step(rule, state, value(20), 3)->to, State::resolved);
}

TEST(AlertEvaluation, NoDataOkResolves) {
    Rule rule = threshold_rule(100);
    rule.no_data = NoData::ok;
    AlertState state;
    step(rule, state, value(200), 1);
    const auto t = step(rule, state, nothing(), 2);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->to, State::resolved);
    EXPECT_FALSE(t->value.has_value());
    EXPECT_FALSE(step(rule, state, nothing(), 3));
}

TEST(AlertEvaluation, NoDataAlertingFiresAfterTheDuration) {
    Rule rule = threshold_rule(100, 1'000);
    rule.no_data = NoData::alerting;
    AlertState state;
    EXPECT_EQ(step(rule, state, nothing(), 0)->to, State::pending);
    EXPECT_EQ(step(rule, state, nothing(), 1'000)->to, State::firing);
    EXPECT_EQ(step(rule, state, value(1), 2'000)->to, State::resolved);  // data again, quiet
}

TEST(AlertEvaluation, NoDataKeepLastKeepsEveryState) {
    Rule rule = threshold_rule(100, 10'000);
    rule.no_data = NoData::keep_last;
    AlertState state;
    EXPECT_FALSE(step(rule, state, nothing(), 0));
    EXPECT_EQ(state.state, State::inactive);
    step(rule, state, value(200), 1'000);
    EXPECT_EQ(state.state, State::pending);
    EXPECT_FALSE(step(rule, state, nothing(), 50'000));  // no data: pending stays pending
    EXPECT_EQ(state.state, State::pending);
    EXPECT_EQ(step(rule, state, value(200), 60'000)->to, State::firing);
    EXPECT_FALSE(step(rule, state, nothing(), 70'000));
    EXPECT_EQ(state.state, State::firing);
    EXPECT_EQ(step(rule, state, value(0), 80'000)->to, State::resolved);
}

TEST(AlertEvaluation, HistoryIsBounded) {
    const Rule rule = threshold_rule(0);
    AlertState state;
    for (int i = 0; i < 500; ++i)
        step(rule, state, value(i % 2 == 0 ? 1 : -1), i);
    EXPECT_EQ(state.history.size(), kHistoryLimit);
    EXPECT_EQ(state.history.back().at_ms, 499);
}

TEST(AlertEvaluation, AnomalyOnASyntheticSeriesWithOneSpike) {
    Rule rule;
    rule.op = Operator::anomaly;
    rule.sensitivity = 3;
    // A noisy but steady series (a sine around 100, amplitude 5) and one spike.
    std::vector<double> series;
    for (int i = 0; i < 200; ++i)
        series.push_back(100 + 5 * std::sin(i * 0.7));
    series[150] = 140;
    AlertState state;
    std::vector<std::size_t> fired;
    std::vector<std::size_t> resolved;
    for (std::size_t i = 0; i < series.size(); ++i) {
        Reading reading{series[i], {}};
        const std::size_t from = i >= kAnomalyWindows ? i - kAnomalyWindows : 0;
        reading.previous.assign(series.begin() + static_cast<std::ptrdiff_t>(from),
                                series.begin() + static_cast<std::ptrdiff_t>(i));
        if (const auto t = step(rule, state, reading, static_cast<std::int64_t>(i))) {
            if (t->to == State::firing)
                fired.push_back(i);
            if (t->to == State::resolved)
                resolved.push_back(i);
        }
    }
    EXPECT_EQ(fired, std::vector<std::size_t>{150});
    EXPECT_EQ(resolved, std::vector<std::size_t>{151});
}

TEST(AlertEvaluation, AnomalyNeedsHistoryAndHandlesAFlatOne) {
    const std::vector<double> short_history(kMinAnomalyWindows - 1, 10.0);
    EXPECT_FALSE(anomalous(1e9, short_history, 3));
    const std::vector<double> flat(kMinAnomalyWindows, 10.0);
    EXPECT_FALSE(anomalous(10.0, flat, 3));
    EXPECT_TRUE(anomalous(10.5, flat, 3));
    std::vector<double> noisy;
    for (int i = 0; i < 60; ++i)
        noisy.push_back(i % 2 == 0 ? 9 : 11);  // mean 10, deviation 1
    EXPECT_FALSE(anomalous(12.9, noisy, 3));
    EXPECT_TRUE(anomalous(13.1, noisy, 3));
    EXPECT_TRUE(anomalous(6.9, noisy, 3));
}

TEST(AlertEvaluation, StateNames) {
    for (State s : {State::inactive, State::pending, State::firing, State::resolved})
        EXPECT_EQ(parse_state(state_name(s)), s);
    EXPECT_FALSE(parse_state("alerting"));
}

}  // namespace
}  // namespace tally::alerts
