#include "tally/alerts/rule.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "tally/base/names.hpp"
#include "tally/http/client.hpp"

using nlohmann::json;

namespace tally::alerts {

namespace {

constexpr std::string_view kAnalytics = "analytics:";

/// Fields the server sets or answers with, dropped from a body before it is checked: a
/// client may PUT back what GET gave it.
constexpr std::array<const char*, 9> kServerFields = {
    "id", "version", "created_at", "updated_at", "workspace", "state", "since", "value", "error"};
constexpr std::array<const char*, 11> kFields = {
    "alert_name",        "metric",  "tags",    "aggregation", "window",     "condition",
    "resolve_threshold", "no_data", "actions", "labels",      "annotations"};
constexpr std::array<const char*, 4> kConditionFields = {"operator", "threshold", "duration",
                                                         "sensitivity"};

bool is_text(const json& value, std::size_t max_bytes = kMaxTextBytes) {
    return value.is_string() && value.get_ref<const std::string&>().size() <= max_bytes &&
           valid_utf8(value.get_ref<const std::string&>());
}

bool finite_number(const json& value) {
    return value.is_number() && std::isfinite(value.get<double>());
}

std::optional<Invalid> unknown_field(const json& object, std::span<const char* const> known,
                                     const std::string& prefix) {
    for (const auto& item : object.items()) {
        const std::string& key = item.key();
        if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) ==
            known.end())
            return Invalid{"unknown field '" + key + "'", prefix + key};
    }
    return std::nullopt;
}

/// Alertmanager's label names: [a-zA-Z_][a-zA-Z0-9_]*.
bool valid_label_name(std::string_view name) {
    if (name.empty() || name.size() > 128 || std::isdigit(static_cast<unsigned char>(name[0])))
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

std::optional<Invalid> check_text_map(json& doc, const char* key, bool label_names) {
    if (!doc.contains(key) || doc[key].is_null())
        doc[key] = json::object();
    const json& map = doc[key];
    const std::string field(key);
    if (!map.is_object() || map.size() > kMaxLabels)
        return Invalid{field + " must be an object of at most 32 text values", field};
    for (const auto& [name, value] : map.items()) {
        if (label_names && !valid_label_name(name))
            return Invalid{"a label name is [a-zA-Z_][a-zA-Z0-9_]*, not '" + name + "'",
                           field + "." + name};
        if (!label_names && (name.empty() || name.size() > 128 || !valid_utf8(name)))
            return Invalid{"an annotation's name is text of 1 to 128 bytes", field};
        if (label_names && (name == "alertname" || name == "workspace"))
            return Invalid{"the label '" + name + "' is set by tallyd", field + "." + name};
        if (!is_text(value))
            return Invalid{"must be text of at most 1000 bytes", field + "." + name};
    }
    return std::nullopt;
}

/// "analytics:<kind>:<site>[:<event>]" into the rule's source.
std::optional<Invalid> parse_analytics(std::string_view metric, Rule& rule) {
    std::string_view rest = metric.substr(kAnalytics.size());
    const auto colon = rest.find(':');
    const std::string_view kind = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (kind == "pageviews") {
        rule.source = Source::pageviews;
    } else if (kind == "realtime") {
        rule.source = Source::realtime;
    } else if (kind == "events") {
        rule.source = Source::events;
        const auto split = rest.find(':');
        if (split == std::string_view::npos)
            return Invalid{
                "analytics:events needs a site and an event name: "
                "analytics:events:<site>:<name>",
                "metric"};
        rule.event = std::string(rest.substr(split + 1));
        rest = rest.substr(0, split);
        if (!valid_event_name(rule.event))
            return Invalid{"'" + rule.event + "' is not an event name", "metric"};
    } else {
        return Invalid{
            "an analytics figure is analytics:pageviews:<site>, "
            "analytics:realtime:<site> or analytics:events:<site>:<name>",
            "metric"};
    }
    rule.site = std::string(rest);
    if (!valid_site(rule.site))
        return Invalid{"'" + rule.site + "' is not a site ([A-Za-z0-9._-]{1,64})", "metric"};
    return std::nullopt;
}

std::optional<Invalid> check_tags(json& doc, Rule& rule) {
    if (!doc.contains("tags") || doc["tags"].is_null())
        doc["tags"] = json::object();
    const json& tags = doc["tags"];
    if (!tags.is_object() || tags.size() > 16)
        return Invalid{"tags must be an object of at most 16 tag: value pairs", "tags"};
    if (rule.source != Source::metric && !tags.empty())
        return Invalid{"tags apply to metrics, not to analytics figures", "tags"};
    for (const auto& [key, value] : tags.items()) {
        if (!valid_tag_key(key))
            return Invalid{"'" + key + "' is not a tag key", "tags." + key};
        metrics::TagFilter filter{key, {}};
        const json values = value.is_array() ? value : json::array({value});
        if (values.empty() || values.size() > 100)
            return Invalid{"a tag's value is text or a list of 1 to 100 texts", "tags." + key};
        for (const json& one : values) {
            if (!one.is_string() || !valid_tag_value(one.get<std::string>()))
                return Invalid{"a tag value is text of 1 to 128 bytes", "tags." + key};
            filter.values.push_back(one.get<std::string>());
        }
        rule.filters.push_back(std::move(filter));
    }
    return std::nullopt;
}

std::optional<Invalid> check_source(json& doc, Rule& rule, const RuleContext& context) {
    if (!doc.contains("metric") || !doc["metric"].is_string())
        return Invalid{"metric is required: a metric name or analytics:<figure>:<site>", "metric"};
    const std::string metric = doc["metric"].get<std::string>();
    if (metric.starts_with(kAnalytics)) {
        if (auto bad = parse_analytics(metric, rule))
            return bad;
        if (context.sees_site && !context.sees_site(rule.site))
            return Invalid{"no such site", "metric"};
    } else {
        if (!valid_metric_name(metric))
            return Invalid{"metric must be [A-Za-z0-9_.:-]{1,128}", "metric"};
        rule.source = Source::metric;
        rule.metric = metric;
    }
    return check_tags(doc, rule);
}

std::optional<Invalid> check_window(json& doc, Rule& rule) {
    if (!doc.contains("window") || doc["window"].is_null())
        doc["window"] = "1m";
    const json& window = doc["window"];
    const auto parsed = window.is_string() ? parse_window(window.get<std::string>()) : std::nullopt;
    if (!parsed)
        return Invalid{"window must be 10s, 1m, 5m, 15m, 1h or 1d", "window"};
    if (*parsed == MetricWindow::s10 && rule.source != Source::metric)
        return Invalid{
            "analytics figures are counted by the minute: the window must be 1m or "
            "longer",
            "window"};
    rule.window = *parsed;
    return std::nullopt;
}

std::optional<Invalid> check_aggregation(json& doc, Rule& rule, const RuleContext& context) {
    if (!doc.contains("aggregation") || doc["aggregation"].is_null()) {
        doc.erase("aggregation");
        return std::nullopt;
    }
    const json& value = doc["aggregation"];
    const auto parsed =
        value.is_string() ? metrics::Aggregation::parse(value.get<std::string>()) : std::nullopt;
    if (!parsed)
        return Invalid{"aggregation must be sum, count, rate, avg, min, max, last, unique or pNN",
                       "aggregation"};
    using Op = metrics::Aggregation::Op;
    if (rule.source != Source::metric && parsed->op != Op::sum && parsed->op != Op::count)
        return Invalid{"analytics figures are counts: aggregation must be sum", "aggregation"};
    if (rule.source == Source::metric && context.metric_kind) {
        const auto kind = context.metric_kind(rule.metric);
        if (kind && !parsed->answers(*kind))
            return Invalid{"aggregation '" + parsed->name() + "' does not apply to '" +
                               rule.metric + "', a " + metric_kind_name(*kind) + " metric",
                           "aggregation"};
    }
    if (rule.source == Source::metric)
        rule.aggregation = parsed;
    return std::nullopt;
}

std::optional<Invalid> check_operator(json& condition, Rule& rule) {
    static const std::map<std::string, Operator> kOperators = {
        {">", Operator::gt},           {">=", Operator::ge}, {"<", Operator::lt},
        {"<=", Operator::le},          {"==", Operator::eq}, {"!=", Operator::ne},
        {"anomaly", Operator::anomaly}};
    const json& op = condition.value("operator", json());
    const auto it = op.is_string() ? kOperators.find(op.get<std::string>()) : kOperators.end();
    if (it == kOperators.end())
        return Invalid{"operator must be >, >=, <, <=, ==, != or anomaly", "condition.operator"};
    rule.op = it->second;
    if (rule.op == Operator::anomaly) {
        if (rule.source == Source::realtime)
            return Invalid{"anomaly needs a windowed figure; analytics:realtime has no history",
                           "condition.operator"};
        if (!condition.contains("sensitivity") || condition["sensitivity"].is_null())
            condition["sensitivity"] = kDefaultSensitivity;
        const json& k = condition["sensitivity"];
        if (!finite_number(k) || k.get<double>() <= 0 || k.get<double>() > 100)
            return Invalid{
                "sensitivity must be a number of standard deviations, above 0 and at "
                "most 100",
                "condition.sensitivity"};
        rule.sensitivity = k.get<double>();
        if (condition.contains("threshold") && !condition["threshold"].is_null())
            return Invalid{"an anomaly condition has a sensitivity, not a threshold",
                           "condition.threshold"};
        condition.erase("threshold");
        return std::nullopt;
    }
    if (condition.contains("sensitivity"))
        return Invalid{"sensitivity applies to the anomaly operator only", "condition.sensitivity"};
    if (!condition.contains("threshold") || !finite_number(condition["threshold"]))
        return Invalid{"threshold must be a number", "condition.threshold"};
    rule.threshold = condition["threshold"].get<double>();
    return std::nullopt;
}

std::optional<Invalid> check_condition(json& doc, Rule& rule) {
    if (!doc.contains("condition") || !doc["condition"].is_object())
        return Invalid{"condition {operator, threshold, duration} is required", "condition"};
    json& condition = doc["condition"];
    if (auto bad = unknown_field(condition, kConditionFields, "condition."))
        return bad;
    if (auto bad = check_operator(condition, rule))
        return bad;
    if (!condition.contains("duration") || condition["duration"].is_null())
        condition["duration"] = "0s";
    const auto duration = parse_duration_ms(condition["duration"]);
    if (!duration || *duration > kMaxDurationMs)
        return Invalid{"duration must be like 30s, 5m or 1h (at most 7 days), or seconds",
                       "condition.duration"};
    rule.duration_ms = *duration;
    return std::nullopt;
}

std::optional<Invalid> check_resolve(json& doc, Rule& rule) {
    if (!doc.contains("resolve_threshold") || doc["resolve_threshold"].is_null()) {
        doc.erase("resolve_threshold");
        return std::nullopt;
    }
    const json& value = doc["resolve_threshold"];
    if (!finite_number(value))
        return Invalid{"resolve_threshold must be a number", "resolve_threshold"};
    const double resolve = value.get<double>();
    switch (rule.op) {
        case Operator::gt:
        case Operator::ge:
            if (resolve > rule.threshold)
                return Invalid{"resolve_threshold must not be above the threshold for > and >=",
                               "resolve_threshold"};
            break;
        case Operator::lt:
        case Operator::le:
            if (resolve < rule.threshold)
                return Invalid{"resolve_threshold must not be below the threshold for < and <=",
                               "resolve_threshold"};
            break;
        default:
            return Invalid{"resolve_threshold applies to >, >=, < and <= only",
                           "resolve_threshold"};
    }
    rule.resolve_threshold = resolve;
    return std::nullopt;
}

std::optional<Invalid> check_no_data(json& doc, Rule& rule) {
    if (!doc.contains("no_data") || doc["no_data"].is_null())
        doc["no_data"] = "ok";
    const json& value = doc["no_data"];
    if (value == "ok") {
        rule.no_data = NoData::ok;
    } else if (value == "alerting") {
        rule.no_data = NoData::alerting;
    } else if (value == "keep_last") {
        rule.no_data = NoData::keep_last;
    } else {
        return Invalid{"no_data must be ok, alerting or keep_last", "no_data"};
    }
    return std::nullopt;
}

std::optional<Invalid> check_actions(json& doc, Rule& rule, const Channels* channels) {
    if (!doc.contains("actions") || doc["actions"].is_null())
        doc["actions"] = json::array();
    const json& actions = doc["actions"];
    if (!actions.is_array() || actions.size() > kMaxActions)
        return Invalid{"actions must be a list of at most 10", "actions"};
    for (std::size_t i = 0; i < actions.size(); ++i) {
        const std::string field = "actions[" + std::to_string(i) + "]";
        if (actions[i].is_string()) {
            const std::string name = actions[i].get<std::string>();
            const auto it = channels ? channels->find(name) : Channels::const_iterator();
            if (!channels || it == channels->end())
                return Invalid{"no channel named '" + name + "' in alerts.channels", field};
            rule.actions.push_back(it->second);
            continue;
        }
        auto action = parse_action(actions[i], field);
        if (const auto* bad = std::get_if<Invalid>(&action))
            return *bad;
        rule.actions.push_back(std::move(std::get<Action>(action)));
    }
    return std::nullopt;
}

std::map<std::string, std::string> text_map(const json& object) {
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : object.items())
        out[key] = value.get<std::string>();
    return out;
}

/// Checks `doc` in place (filling defaults) and fills `rule` from it.
std::optional<Invalid> check_rule(json& doc, Rule& rule, const RuleContext& context) {
    if (auto bad = unknown_field(doc, kFields, ""))
        return bad;
    if (!doc.contains("alert_name") || !is_text(doc["alert_name"], 200) ||
        doc["alert_name"].get_ref<const std::string&>().empty())
        return Invalid{"alert_name is required: text of 1 to 200 bytes", "alert_name"};
    rule.alert_name = doc["alert_name"].get<std::string>();
    for (auto check : {check_source, check_aggregation}) {
        if (auto bad = check(doc, rule, context))
            return bad;
    }
    for (auto check : {check_window, check_condition, check_resolve, check_no_data}) {
        if (auto bad = check(doc, rule))
            return bad;
    }
    if (auto bad = check_actions(doc, rule, context.channels))
        return bad;
    if (auto bad = check_text_map(doc, "labels", true))
        return bad;
    if (auto bad = check_text_map(doc, "annotations", false))
        return bad;
    rule.labels = text_map(doc["labels"]);
    rule.annotations = text_map(doc["annotations"]);
    return std::nullopt;
}

}  // namespace

std::variant<Action, Invalid> parse_action(const json& value, const std::string& field) {
    if (!value.is_object())
        return Invalid{
            "an action is {\"type\": \"webhook\"|\"alertmanager\", \"url\"} or a "
            "channel's name",
            field};
    Action action;
    const json& type = value.value("type", json());
    if (type == "webhook") {
        action.type = Action::Type::webhook;
    } else if (type == "alertmanager") {
        action.type = Action::Type::alertmanager;
    } else {
        return Invalid{"type must be webhook or alertmanager", field + ".type"};
    }
    const json& url = value.value("url", json());
    if (!url.is_string())
        return Invalid{"url is required", field + ".url"};
    const http::UrlParse parsed = http::parse_client_url(url.get<std::string>());
    if (!parsed.url)
        return Invalid{"url: " + parsed.error, field + ".url"};
    for (const auto& [key, unused] : value.items()) {
        if (key != "type" && key != "url")
            return Invalid{"unknown field '" + key + "'", field + "." + key};
    }
    action.url = url.get<std::string>();
    return action;
}

std::variant<json, Invalid> validate_rule(const json& body, const RuleContext& context) {
    if (!body.is_object())
        return Invalid{"an alert rule must be a JSON object", ""};
    if (body.dump().size() > kMaxDocumentBytes)
        return Invalid{"an alert rule is at most 64 KiB", ""};
    json doc = body;
    for (const char* server_side : kServerFields)
        doc.erase(server_side);
    Rule rule;
    if (auto bad = check_rule(doc, rule, context))
        return *bad;
    return doc;
}

std::variant<Rule, Invalid> compile_rule(const json& document, const Channels& channels) {
    if (!document.is_object())
        return Invalid{"an alert rule must be a JSON object", ""};
    json doc = document;
    Rule rule;
    rule.id = doc.value("id", "");
    rule.workspace = doc.value("workspace", "default");
    rule.metrics_workspace = rule.workspace == "default" ? std::string() : rule.workspace;
    for (const char* server_side : kServerFields)
        doc.erase(server_side);
    RuleContext context;
    context.channels = &channels;
    if (auto bad = check_rule(doc, rule, context))
        return *bad;
    return rule;
}

bool same_condition(const json& a, const json& b) {
    for (const char* key :
         {"metric", "tags", "aggregation", "window", "condition", "resolve_threshold", "no_data"}) {
        if (a.value(key, json()) != b.value(key, json()))
            return false;
    }
    return true;
}

bool same_identity(const json& a, const json& b) {
    return a.value("alert_name", json()) == b.value("alert_name", json()) &&
           a.value("labels", json()) == b.value("labels", json());
}

std::optional<std::int64_t> parse_duration_ms(const json& value) {
    if (value.is_number()) {
        const double seconds = value.get<double>();
        if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e9)
            return std::nullopt;
        return static_cast<std::int64_t>(std::llround(seconds * 1000));
    }
    if (!value.is_string())
        return std::nullopt;
    const std::string& text = value.get_ref<const std::string&>();
    std::int64_t number = 0;
    const char* end = text.data() + text.size();
    const auto [rest, ec] = std::from_chars(text.data(), end, number);
    if (ec != std::errc{} || number < 0 || number > 1'000'000'000 || rest == text.data())
        return std::nullopt;
    const std::string_view unit(rest, static_cast<std::size_t>(end - rest));
    static const std::map<std::string_view, std::int64_t> kUnits = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
    const auto it = kUnits.find(unit);
    if (it == kUnits.end())
        return std::nullopt;
    return number * it->second;
}

const char* operator_name(Operator op) {
    switch (op) {
        case Operator::gt:
            return ">";
        case Operator::ge:
            return ">=";
        case Operator::lt:
            return "<";
        case Operator::le:
            return "<=";
        case Operator::eq:
            return "==";
        case Operator::ne:
            return "!=";
        case Operator::anomaly:
            return "anomaly";
    }
    return "?";
}

}  // namespace tally::alerts
