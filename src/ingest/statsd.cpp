// DogStatsD text -> metric points (statsd.hpp). Each line is read in place (string_views
// into the text); the first point of a line is built in a slot of the caller's vector and
// the line's further values are copies of it, so a steady stream reuses the same buffers.

#include "tally/ingest/statsd.hpp"

#include <cstdint>
#include <limits>

#include "metric_text.hpp"
#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {

namespace {

using detail::PointWriter;
using detail::quoted;
using Why = std::optional<std::string>;

// Cuts `rest` at the first `separator`: returns what is before it, leaves what is after.
std::string_view cut(std::string_view& rest, char separator) {
    const std::size_t at = rest.find(separator);
    const std::string_view head = rest.substr(0, at);
    rest = at == std::string_view::npos ? std::string_view() : rest.substr(at + 1);
    return head;
}

std::optional<MetricType> statsd_type(std::string_view type) {
    if (type == "c") {
        return MetricType::count;
    }
    if (type == "g") {
        return MetricType::gauge;
    }
    if (type == "ms" || type == "h" || type == "d") {
        return MetricType::percentile;
    }
    if (type == "s") {
        return MetricType::unique;
    }
    return std::nullopt;
}

// One tag of a list: `key<separator>value`, or a bare `key` (value "true").
Why add_tag(std::string_view entry, char separator, std::vector<MetricTag>& tags) {
    if (entry.empty()) {
        return std::nullopt;
    }
    const std::size_t at = entry.find(separator);
    const std::string_view key = entry.substr(0, at);
    const std::string_view value =
        at == std::string_view::npos ? std::string_view("true") : entry.substr(at + 1);
    if (value.empty()) {
        return "tag " + quoted(key) + " has an empty value";
    }
    if (tags.size() == kMaxMetricTags) {
        return std::string("a point has at most 16 tags");
    }
    MetricTag& tag = tags.emplace_back();
    tag.key.assign(key);
    tag.value.assign(value);
    return std::nullopt;
}

Why add_tags(std::string_view list, char separator, std::vector<MetricTag>& tags) {
    while (!list.empty()) {
        if (Why why = add_tag(cut(list, ','), separator, tags)) {
            return why;
        }
    }
    return std::nullopt;
}

// The fields after the type: `@rate`, `#tags`, `T<unix seconds>`; others are ignored.
Why read_fields(std::string_view fields, MetricPoint& point, double& rate) {
    while (!fields.empty()) {
        const std::string_view field = cut(fields, '|');
        if (field.empty()) {
            continue;
        }
        if (field[0] == '@') {
            const std::optional<double> value = detail::parse_finite_double(field.substr(1));
            if (!value || *value <= 0 || *value > 1) {
                return "sample rate " + quoted(field) + " must be greater than 0 and at most 1";
            }
            rate = *value;
        } else if (field[0] == '#') {
            if (Why why = add_tags(field.substr(1), ':', point.tags)) {
                return why;
            }
        } else if (field[0] == 'T') {
            const std::optional<std::uint64_t> seconds = detail::parse_uint64(field.substr(1));
            const std::optional<std::int64_t> ms =
                seconds && *seconds <=
                               static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                    ? detail::checked_mul(static_cast<std::int64_t>(*seconds), 1000)
                    : std::nullopt;
            if (!ms) {
                return "timestamp " + quoted(field) + " must be T followed by unix seconds";
            }
            point.timestamp_ms = *ms;
        }
    }
    return std::nullopt;
}

// One value of a line into `point` (name, tags, type already set).
Why read_value(std::string_view text, MetricPoint& point) {
    if (point.type == MetricType::unique) {
        point.member.assign(text);
        return std::nullopt;
    }
    std::string_view number = text;
    point.gauge_delta = false;
    if (!number.empty() && (number[0] == '+' || number[0] == '-')) {
        point.gauge_delta = point.type == MetricType::gauge;
        if (number[0] == '+') {
            number.remove_prefix(1);
            if (!number.empty() && (number[0] == '-' || number[0] == '+')) {
                return "value " + quoted(text) + " is not a number";
            }
        }
    }
    const std::optional<double> value = detail::parse_finite_double(number);
    if (!value) {
        return "value " + quoted(text) + " is not a finite number";
    }
    point.value = *value;
    return std::nullopt;
}

// The first point of a line, from everything but its values.
Why read_head(std::string_view name, std::string_view after_values, std::int64_t now_ms,
              MetricPoint& point) {
    std::string_view type_and_fields = after_values;
    const std::string_view type_text = cut(type_and_fields, '|');
    const std::optional<MetricType> type = statsd_type(type_text);
    if (!type) {
        return "unknown metric type " + quoted(type_text) + " (c, g, ms, h, d or s)";
    }
    point.type = *type;
    point.timestamp_ms = now_ms;
    const std::size_t comma = name.find(',');
    if (comma != std::string_view::npos) {
        if (Why why = add_tags(name.substr(comma + 1), '=', point.tags)) {
            return why;
        }
        name = name.substr(0, comma);
    }
    point.name.assign(name);
    double rate = 1;
    if (Why why = read_fields(type_and_fields, point, rate)) {
        return why;
    }
    const bool sampled = point.type != MetricType::gauge && point.type != MetricType::unique;
    point.weight = sampled ? 1 / rate : 1;
    sort_tags(point.tags);  // a repeated key is reported by validate_metric_point
    return std::nullopt;
}

// A metric line: its points go to `writer` (and stay there only if the whole line is good).
Why parse_metric_line(std::string_view line, std::int64_t now_ms, PointWriter& writer) {
    const std::size_t bar = line.find('|');
    if (bar == std::string_view::npos) {
        return std::string("the line has no |type");
    }
    const std::string_view head = line.substr(0, bar);
    const std::size_t colon = head.find(':');
    if (colon == std::string_view::npos) {
        return std::string("the line has no ':' between the name and the value");
    }
    const std::size_t first = writer.size();
    if (Why why = read_head(head.substr(0, colon), line.substr(bar + 1), now_ms, writer.next())) {
        return why;
    }
    // A set's member is all the text (it may hold ':'); other types split their values.
    const bool single = writer.at(first).type == MetricType::unique;
    std::string_view values = head.substr(colon + 1);
    for (bool more = true; more;) {
        const std::size_t at = single ? std::string_view::npos : values.find(':');
        const std::string_view text = values.substr(0, at);
        more = at != std::string_view::npos;
        values = more ? values.substr(at + 1) : std::string_view();
        if (writer.size() != first) {
            MetricPoint& copy = writer.next();  // first: next() may move the points
            copy = writer.at(first);
        }
        MetricPoint& point = writer.at(writer.size());
        Why why = read_value(text, point);
        if (!why) {
            if (auto rejection = validate_metric_point(point, now_ms)) {
                why = std::move(rejection->message);
            }
        }
        if (why) {
            writer.rollback(first);
            return why;
        }
        writer.commit();
    }
    return std::nullopt;
}

// Every line of `text` into `writer`.
StatsdResult parse_lines(std::string_view text, std::int64_t now_ms, PointWriter& writer) {
    StatsdResult result;
    const std::size_t start = writer.size();
    std::size_t number = 0;
    while (!text.empty()) {
        std::string_view line = cut(text, '\n');
        ++number;
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        if (line.empty()) {
            continue;
        }
        ++result.lines;
        if (line.substr(0, 3) == "_e{") {
            ++result.events;
            continue;
        }
        if (line.substr(0, 4) == "_sc|") {
            ++result.service_checks;
            continue;
        }
        if (Why why = parse_metric_line(line, now_ms, writer)) {
            if (result.bad++ == 0) {
                result.first_error = "line " + std::to_string(number) + ": " + *why;
            }
            continue;
        }
        ++result.accepted;
    }
    result.points = writer.size() - start;
    return result;
}

}  // namespace

StatsdResult parse_statsd(std::string_view text, std::int64_t now_ms,
                          std::vector<MetricPoint>& out) {
    PointWriter writer(out, 0);
    StatsdResult result = parse_lines(text, now_ms, writer);
    writer.finish();
    return result;
}

StatsdResult parse_statsd_into(std::string_view text, std::int64_t now_ms,
                               std::vector<MetricPoint>& out, std::size_t used) {
    PointWriter writer(out, used);
    return parse_lines(text, now_ms, writer);
}

}  // namespace tally::ingest
