#include "tally/metrics/derive.hpp"

#include <nlohmann/json.hpp>

#include <cmath>

namespace tally::metrics {

namespace {

MetricPoint site_point(const Event& event, std::string name, MetricType type) {
    MetricPoint point;
    point.name = std::move(name);
    point.type = type;
    point.value = 1;
    point.timestamp_ms = event.timestamp_ms;
    point.tags.push_back({"site", event.site});
    return point;
}

/// A property's value as a tag value: strings as they are, numbers and booleans as JSON.
std::optional<std::string> tag_text(const nlohmann::json& value) {
    if (value.is_string())
        return value.get<std::string>();
    if (value.is_number() || value.is_boolean())
        return value.dump();
    return std::nullopt;
}

}  // namespace

Derivations::Derivations(std::vector<DeriveRule> rules) : rules_(std::move(rules)) {}

void Derivations::points_of(const Event& event, std::vector<MetricPoint>& out) const {
    if (event.kind == EventKind::pageview) {
        out.push_back(site_point(event, "pageviews.count", MetricType::count));
    } else {
        std::string name = "events." + event.event_name + ".count";
        if (valid_metric_name(name))
            out.push_back(site_point(event, std::move(name), MetricType::count));
    }
    MetricPoint users = site_point(event, "users.active", MetricType::unique);
    users.member = event.visitor_id;
    out.push_back(std::move(users));
    if (event.kind != EventKind::custom)
        return;
    for (const DeriveRule& rule : rules_) {
        if (rule.event == event.event_name)
            rule_point(rule, event, out);
    }
}

void Derivations::rule_point(const DeriveRule& rule, const Event& event,
                             std::vector<MetricPoint>& out) const {
    nlohmann::json properties = nlohmann::json::object();
    if (!event.properties.empty()) {
        properties = nlohmann::json::parse(event.properties, nullptr, false);
        if (!properties.is_object())
            return;
    }
    MetricPoint point = site_point(event, rule.metric, rule.type);
    if (!rule.value.empty()) {
        const auto it = properties.find(rule.value);
        if (it == properties.end())
            return;
        if (kind_of(rule.type) == MetricKind::set) {
            const auto member = tag_text(*it);
            if (!member)
                return;
            point.member = *member;
        } else {
            if (!it->is_number() || !std::isfinite(it->get<double>()))
                return;
            point.value = it->get<double>();
        }
    }
    for (const std::string& key : rule.tags) {
        const auto it = properties.find(key);
        if (it == properties.end())
            continue;
        const auto text = tag_text(*it);
        if (!text || !valid_tag_key(key) || !valid_tag_value(*text))
            return;
        point.tags.push_back({key, *text});
    }
    if (point.tags.size() > kMaxMetricTags || !sort_tags(point.tags))
        return;
    out.push_back(std::move(point));
}

}  // namespace tally::metrics
