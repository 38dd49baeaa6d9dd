// The rules of a metric point (metric_rules.hpp). Messages quote the offending text through
// quoted(), so whatever a client sent can be echoed into a JSON answer or a log line.

#include "tally/ingest/metric_rules.hpp"

#include <cmath>
#include <string>

#include "metric_text.hpp"
#include "tally/base/names.hpp"

namespace tally::ingest {

namespace {

using detail::quoted;

Rejection invalid(const char* field, std::string message) {
    return Rejection{"invalid_field", field, std::move(message)};
}

std::optional<Rejection> check_tags(const std::vector<MetricTag>& tags) {
    if (tags.size() > kMaxMetricTags) {
        return Rejection{
            "too_many_tags", "tags",
            "a point has at most 16 tags, this one has " + std::to_string(tags.size())};
    }
    for (std::size_t i = 0; i < tags.size(); ++i) {
        const MetricTag& tag = tags[i];
        if (!valid_tag_key(tag.key)) {
            return invalid("tags", "tag key " + quoted(tag.key) +
                                       " must be 1 to 64 characters from A-Z a-z 0-9 _ . - "
                                       "starting with a letter or _");
        }
        if (!valid_tag_value(tag.value)) {
            return invalid(
                "tags", "the value of tag " + quoted(tag.key) + " must be 1 to 128 bytes of UTF-8");
        }
        if (i > 0 && tags[i - 1].key == tag.key) {
            return invalid("tags", "tag key " + quoted(tag.key) + " appears more than once");
        }
        if (i > 0 && tags[i - 1].key > tag.key) {
            return invalid("tags", "tags must be sorted by key");
        }
    }
    return std::nullopt;
}

std::optional<Rejection> check_value(const MetricPoint& point) {
    if (point.type == MetricType::unique) {
        if (point.member.empty() || point.member.size() > kMaxMetricMember ||
            !valid_utf8(point.member)) {
            return invalid("value", "a unique value must be 1 to 1024 bytes of UTF-8");
        }
    } else if (!std::isfinite(point.value)) {
        return invalid("value", "value must be a finite number");
    }
    if (!std::isfinite(point.weight) || point.weight <= 0) {
        return invalid("weight", "the sample rate must be greater than 0 and at most 1");
    }
    if (point.gauge_delta && point.type != MetricType::gauge) {
        return invalid("value", "only a gauge takes a +N or -N change");
    }
    return std::nullopt;
}

}  // namespace

std::optional<Rejection> validate_metric_point(const MetricPoint& point, std::int64_t now_ms) {
    if (!valid_metric_name(point.name)) {
        return invalid("name", "metric name " + quoted(point.name) +
                                   " must be 1 to 128 characters from A-Z a-z 0-9 _ . : -");
    }
    if (static_cast<int>(point.type) >= kMetricTypeCount) {
        return invalid("type", "the metric type is unknown");
    }
    if (auto error = check_tags(point.tags)) {
        return error;
    }
    if (auto error = check_value(point)) {
        return error;
    }
    if (static_cast<std::size_t>(point.window) > static_cast<std::size_t>(MetricWindow::d1)) {
        return invalid("window", "the window is unknown");
    }
    if (point.timestamp_ms < now_ms - kMaxMetricPastMs ||
        point.timestamp_ms > now_ms + kMaxMetricFutureMs) {
        return Rejection{"out_of_window", "timestamp",
                         "timestamp must lie within the last 48 hours and at most 5 minutes "
                         "ahead"};
    }
    return std::nullopt;
}

}  // namespace tally::ingest
