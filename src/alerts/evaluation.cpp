#include "tally/alerts/evaluation.hpp"

#include <algorithm>
#include <cmath>

namespace tally::alerts {

namespace {

bool compare(Operator op, double value, double threshold) {
    switch (op) {
        case Operator::gt:
            return value > threshold;
        case Operator::ge:
            return value >= threshold;
        case Operator::lt:
            return value < threshold;
        case Operator::le:
            return value <= threshold;
        case Operator::eq:
            return value == threshold;
        case Operator::ne:
            return value != threshold;
        case Operator::anomaly:
            return false;
    }
    return false;
}

Transition move(AlertState& state, State to, std::int64_t now_ms) {
    Transition transition{now_ms, state.state, to, state.value};
    state.state = to;
    state.since_ms = now_ms;
    if (to == State::firing)
        state.firing_since_ms = now_ms;
    state.history.push_back(transition);
    while (state.history.size() > kHistoryLimit)
        state.history.pop_front();
    return transition;
}

}  // namespace

const char* state_name(State state) {
    switch (state) {
        case State::inactive:
            return "inactive";
        case State::pending:
            return "pending";
        case State::firing:
            return "firing";
        case State::resolved:
            return "resolved";
    }
    return "inactive";
}

std::optional<State> parse_state(std::string_view name) {
    for (State state : {State::inactive, State::pending, State::firing, State::resolved}) {
        if (name == state_name(state))
            return state;
    }
    return std::nullopt;
}

bool anomalous(double value, std::span<const double> previous, double k) {
    if (previous.size() < kMinAnomalyWindows)
        return false;
    double sum = 0;
    for (double v : previous)
        sum += v;
    const double n = static_cast<double>(previous.size());
    const double mean = sum / n;
    double squares = 0;
    for (double v : previous)
        squares += (v - mean) * (v - mean);
    const double deviation = std::sqrt(squares / n);
    const double distance = std::fabs(value - mean);
    const double rounding = 1e-9 * std::max(1.0, std::fabs(mean));
    if (deviation <= rounding)
        return distance > rounding;
    return distance > k * deviation;
}

std::optional<bool> condition_holds(const Rule& rule, const Reading& reading, bool firing) {
    if (!reading.value)
        return std::nullopt;
    if (rule.op == Operator::anomaly)
        return anomalous(*reading.value, reading.previous, rule.sensitivity);
    const double threshold =
        firing && rule.resolve_threshold ? *rule.resolve_threshold : rule.threshold;
    return compare(rule.op, *reading.value, threshold);
}

std::optional<Transition> step(const Rule& rule, AlertState& state, const Reading& reading,
                               std::int64_t now_ms) {
    state.value = reading.value;
    std::optional<bool> holds = condition_holds(rule, reading, state.state == State::firing);
    if (!holds) {
        if (rule.no_data == NoData::keep_last)
            return std::nullopt;
        holds = rule.no_data == NoData::alerting;
    }
    switch (state.state) {
        case State::inactive:
        case State::resolved:
            if (!*holds)
                return std::nullopt;
            return move(state, rule.duration_ms == 0 ? State::firing : State::pending, now_ms);
        case State::pending:
            if (!*holds)
                return move(state, State::inactive, now_ms);
            if (now_ms - state.since_ms >= rule.duration_ms)
                return move(state, State::firing, now_ms);
            return std::nullopt;
        case State::firing:
            if (*holds)
                return std::nullopt;
            return move(state, State::resolved, now_ms);
    }
    return std::nullopt;
}

}  // namespace tally::alerts
