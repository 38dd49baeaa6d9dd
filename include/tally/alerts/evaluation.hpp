#pragma once
// An alert's state machine: one step per evaluation round, from the round's reading of the
// rule's figure. Pure: no clock, no I/O, no locks; the service calls it for each rule.
//
//   inactive ──condition holds──▶ pending ──held for `duration`──▶ firing
//      ▲                             │                               │
//      └──────condition fails────────┘                   condition fails (or, with a
//                                                        resolve_threshold, the value
//   resolved ──condition holds──▶ pending (or firing      is no longer beyond it)
//                                  when duration is 0)               │
//                                                                    ▼
//                                                                 resolved
//
// With `duration` 0 a rule goes from inactive (or resolved) to firing in one step, one
// transition. `resolved` is a resting state like inactive, kept to show that the alert
// fired and ended; it is left when the condition holds again.
//
// Hysteresis: while firing, the condition is checked against `resolve_threshold` (when
// set) instead of `threshold`, so a value that wavers around the threshold fires once and
// resolves once, when it falls back past resolve_threshold.
//
// No data (the metric is unknown, or its window has no points): `no_data` decides. `ok`
// reads it as the condition not holding (a firing alert resolves), `alerting` as holding,
// `keep_last` leaves the state as it is (no transition, timers untouched).
//
// Anomaly: the condition holds when |value - mean| > k x standard deviation, over the
// previous windows that had a value (up to 60). With fewer than kMinAnomalyWindows of them
// there is not enough history to call anything unusual: the condition does not hold. When
// the deviation is zero (a flat history), any value that differs from the mean (beyond a
// relative 1e-9, rounding) is an anomaly: it is infinitely many deviations away.
//
// History: every transition is recorded with its time and value; the oldest go beyond
// kHistoryLimit per rule, so a flapping rule holds bounded memory.

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tally/alerts/rule.hpp"

namespace tally::alerts {

inline constexpr std::size_t kHistoryLimit = 50;
inline constexpr std::size_t kAnomalyWindows = 60;
inline constexpr std::size_t kMinAnomalyWindows = 10;

enum class State { inactive, pending, firing, resolved };
const char* state_name(State state);
std::optional<State> parse_state(std::string_view name);

struct Transition {
    std::int64_t at_ms = 0;
    State from = State::inactive;
    State to = State::inactive;
    std::optional<double> value;
};

struct AlertState {
    State state = State::inactive;
    std::int64_t since_ms = 0;         // when it entered `state`
    std::int64_t firing_since_ms = 0;  // when the last firing began (a resolved one's startsAt)
    std::optional<double> value;       // the last round's value
    std::deque<Transition> history;    // oldest first, at most kHistoryLimit
};

/// A rule's figure in one round: the window's value (nullopt: no data) and, for anomaly
/// rules, the values of the previous windows that had one (oldest first).
struct Reading {
    std::optional<double> value;
    std::vector<double> previous;
};

/// Whether `value` lies more than `k` standard deviations from the mean of `previous`;
/// false with fewer than kMinAnomalyWindows values.
bool anomalous(double value, std::span<const double> previous, double k);

/// Whether the rule's condition holds for `reading` (`firing`: the resolve_threshold, when
/// set, replaces the threshold); nullopt when there is no data.
std::optional<bool> condition_holds(const Rule& rule, const Reading& reading, bool firing);

/// One round: updates `state` and returns the transition it made, if any (recorded in the
/// state's history too).
std::optional<Transition> step(const Rule& rule, AlertState& state, const Reading& reading,
                               std::int64_t now_ms);

}  // namespace tally::alerts
