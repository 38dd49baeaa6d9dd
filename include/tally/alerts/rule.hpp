#pragma once
// What an alert rule may hold, checked before it is stored, and its compiled form that the
// evaluator reads every round.
//
//   {"alert_name", "metric", "tags": {}, "aggregation": "avg", "window": "1m",
//    "condition": {"operator": ">|>=|<|<=|==|!=|anomaly", "threshold": x,
//                  "duration": "5m", "sensitivity": k},
//    "resolve_threshold": x, "no_data": "ok|alerting|keep_last",
//    "actions": [{"type": "webhook"|"alertmanager", "url"} | "<channel name>"],
//    "labels": {}, "annotations": {}}
//
// `metric` is a metrics-service name (its series filtered by `tags`, merged, and answered
// by `aggregation` over the trailing `window`, like GET /api/v1/metrics/<name>/current), or
// a web-analytics figure:
//   analytics:pageviews:<site>        page views in the trailing window (whole minutes)
//   analytics:events:<site>:<name>    that custom event's count in the window
//   analytics:realtime:<site>         sessions active in the last five minutes (no window)
// A name that begins with "analytics:" is always read as one of these. Analytics figures
// are counts: their aggregation is "sum" (or "count", the same), tags do not apply, and
// their windows are whole minutes (the store counts by the minute).
//
// The condition compares the window's value with `threshold`; `anomaly` instead holds when
// the value lies more than `sensitivity` (default 3) standard deviations from the mean of
// the previous 60 windows (evaluation.hpp says what happens with little history).
// `resolve_threshold` (comparison operators but == and !=) gives hysteresis: a firing
// alert stays firing while the value is still beyond it, so it must lie on the side of the
// threshold the condition does not hold on (below it for > and >=, above it for < and <=).
//
// validate_rule() returns the document with its defaults filled in (the form it is stored
// and answered in), or the first thing wrong with it, naming the field by its JSON path
// ("condition.threshold", "actions[1].url"). compile_rule() turns a stored document into
// the Rule the evaluator reads; it fails only when the configuration changed under a stored
// rule (a channel it names is no longer configured).

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/metrics/buckets.hpp"
#include "tally/metrics/query.hpp"

namespace tally::alerts {

inline constexpr std::size_t kMaxAlerts = 20'000;
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kMaxActions = 10;
inline constexpr std::size_t kMaxLabels = 32;
inline constexpr std::size_t kMaxTextBytes = 1000;
inline constexpr std::int64_t kMaxDurationMs = std::int64_t{7} * 24 * 3'600'000;
inline constexpr double kDefaultSensitivity = 3;

struct Invalid {
    std::string message;
    std::string field;  // a JSON path: "condition.threshold", "actions[1].url"
};

/// Where a notification goes.
struct Action {
    enum class Type { webhook, alertmanager };
    Type type = Type::webhook;
    std::string url;
    /// The webhook body's "receiver": the channel's name, or "tallyd" for an inline action.
    std::string receiver = "tallyd";
};

/// alerts.channels: name -> action.
using Channels = std::map<std::string, Action>;

/// {"type": "webhook"|"alertmanager", "url": "http://host[:port]/path"}; `field` is the
/// path errors name.
std::variant<Action, Invalid> parse_action(const nlohmann::json& value, const std::string& field);

enum class Operator { gt, ge, lt, le, eq, ne, anomaly };
enum class NoData { ok, alerting, keep_last };
enum class Source { metric, pageviews, realtime, events };

struct Rule {
    std::string id;
    std::string workspace = "default";
    std::string alert_name;
    Source source = Source::metric;
    std::string metric;             // Source::metric: the name
    std::string site;               // analytics figures
    std::string event;              // Source::events
    std::string metrics_workspace;  // the engine's name of `workspace` ("" for default)
    std::vector<metrics::TagFilter> filters;
    std::optional<metrics::Aggregation> aggregation;  // nullopt: the metric's natural one
    MetricWindow window = MetricWindow::m1;
    Operator op = Operator::gt;
    double threshold = 0;
    double sensitivity = kDefaultSensitivity;
    std::int64_t duration_ms = 0;
    std::optional<double> resolve_threshold;
    NoData no_data = NoData::ok;
    std::vector<Action> actions;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
};

/// What validation may ask of the daemon: the configured channels, whether the caller sees
/// a site (its workspace's), and the kind of a metric name already known (to refuse an
/// aggregation it cannot answer). Null functions skip those checks.
struct RuleContext {
    const Channels* channels = nullptr;
    std::function<bool(std::string_view site)> sees_site;
    std::function<std::optional<MetricKind>(const std::string& name)> metric_kind;
};

/// A rule document as the API receives it: the stored form, or the first error. 404-class
/// errors (a site the caller does not see) have the field "metric" and the message
/// "no such site".
std::variant<nlohmann::json, Invalid> validate_rule(const nlohmann::json& body,
                                                    const RuleContext& context);

/// A stored (validated) document, with its "id" and "workspace", for evaluation.
std::variant<Rule, Invalid> compile_rule(const nlohmann::json& document, const Channels& channels);

/// Whether two stored documents decide their state alike: same metric, tags, aggregation,
/// window, condition, resolve_threshold and no_data. An update that changes none of these
/// keeps the rule's state.
bool same_condition(const nlohmann::json& a, const nlohmann::json& b);

/// Whether two stored documents announce the same alert (alert_name and labels: the
/// identity Alertmanager groups and deduplicates by).
bool same_identity(const nlohmann::json& a, const nlohmann::json& b);

/// "500ms", "10s", "5m", "1h", "1d", "0", or a number of seconds; nullopt when malformed
/// or negative.
std::optional<std::int64_t> parse_duration_ms(const nlohmann::json& value);

const char* operator_name(Operator op);

}  // namespace tally::alerts
