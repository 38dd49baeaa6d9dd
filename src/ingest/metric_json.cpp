// The JSON metrics body -> metric points (metric_json.hpp). Like parse.cpp's batches, the
// whole body must be valid JSON: every value is read (unknown ones through walk()), points
// are built as they are read, and a flaw further on drops them all again. Numbers of
// `value` and `timestamp` are read from their token, so a number too large for a double
// (1e400) refuses only its point, with a message naming the field.

#include "tally/ingest/metric_json.hpp"

#include <charconv>
#include <cmath>

#include "json_fields.hpp"
#include "metric_text.hpp"
#include "tally/base/time.hpp"
#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {

namespace {

using namespace detail;

enum class JsonKind : std::uint8_t { absent, string, number, other };

struct JsonScalar {
    JsonKind kind = JsonKind::absent;
    std::string_view text;  // the unescaped string, or the number's token
    bool integer = false;   // a number without fraction or exponent
};

// The fields of one point; tags go straight into the point being built.
struct RawMetric {
    JsonScalar name, type, value, window, timestamp;
    std::optional<Rejection> tags_error;
};

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// JSON's number grammar (On-Demand leaves a number unchecked until it is read).
bool json_number(std::string_view text, bool& integer) {
    std::size_t i = 0;
    const auto digits = [&] {
        const std::size_t start = i;
        while (i < text.size() && is_digit(text[i])) {
            ++i;
        }
        return i > start;
    };
    i += !text.empty() && text[0] == '-' ? 1 : 0;
    if (i < text.size() && text[i] == '0') {
        ++i;
    } else if (!digits()) {
        return false;
    }
    integer = true;
    if (i < text.size() && text[i] == '.') {
        ++i;
        integer = false;
        if (!digits()) {
            return false;
        }
    }
    if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
        ++i;
        integer = false;
        i += i < text.size() && (text[i] == '+' || text[i] == '-') ? 1 : 0;
        if (!digits()) {
            return false;
        }
    }
    return i == text.size();
}

// A JSON number token as a double: nullopt when it overflows; an underflow is 0.
std::optional<double> number_value(std::string_view token) {
    double value = 0;
    const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec == std::errc::result_out_of_range) {
        const std::size_t e = token.find_first_of("eE");
        if (e != std::string_view::npos && e + 1 < token.size() && token[e + 1] == '-') {
            return 0.0;
        }
        return std::nullopt;
    }
    if (ec != std::errc() || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

error_code read_scalar(od::value& value, JsonScalar& out) {
    od::json_type type;
    SIMDJSON_TRY(value.type().get(type));
    switch (type) {
        case od::json_type::string:
            out.kind = JsonKind::string;
            return value.get_string().get(out.text);
        case od::json_type::number: {
            std::string_view token = value.raw_json_token();
            while (!token.empty() && is_json_space(token.back())) {
                token.remove_suffix(1);
            }
            out.kind = JsonKind::number;
            out.text = token;
            // Left unread: On-Demand skips it, so the grammar is checked here instead.
            return json_number(token, out.integer) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
        }
        case od::json_type::null: {
            out.kind = JsonKind::absent;
            bool is_null = false;
            SIMDJSON_TRY(value.is_null().get(is_null));
            return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
        }
        default:
            out.kind = JsonKind::other;
            return walk(value, nullptr, 2);
    }
}

// "tags": an object of strings, read into `tags`; the first problem is kept in `error`
// while the rest is still read (the body must be valid JSON whatever the point's fate).
error_code read_tags(od::value& value, std::vector<MetricTag>& tags,
                     std::optional<Rejection>& error) {
    tags.clear();
    error.reset();
    od::json_type type;
    SIMDJSON_TRY(value.type().get(type));
    if (type == od::json_type::null) {
        JsonScalar ignored;
        return read_scalar(value, ignored);
    }
    if (type != od::json_type::object) {
        error = Rejection{"invalid_field", "tags", "tags must be an object of string values"};
        return walk(value, nullptr, 2);
    }
    od::object object;
    SIMDJSON_TRY(value.get_object().get(object));
    std::size_t count = 0;
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        std::string_view key;
        SIMDJSON_TRY(field.unescaped_key().get(key));
        od::value& tag_value = field.value();
        SIMDJSON_TRY(tag_value.type().get(type));
        if (type != od::json_type::string) {
            if (!error) {
                error = Rejection{"invalid_field", "tags",
                                  "the value of tag " + quoted(key) + " must be a string"};
            }
            SIMDJSON_TRY(walk(tag_value, nullptr, 3));
            continue;
        }
        std::string_view text;
        SIMDJSON_TRY(tag_value.get_string().get(text));
        if (++count > kMaxMetricTags) {
            if (!error) {
                error = Rejection{"too_many_tags", "tags", "a point has at most 16 tags"};
            }
            continue;
        }
        tags.push_back(MetricTag{std::string(key), std::string(text)});
    }
    return simdjson::SUCCESS;
}

// The fields of one point: the scalars into `raw`, the tags into `point`.
error_code read_metric(od::object& object, RawMetric& raw, MetricPoint& point) {
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        std::string_view key;
        SIMDJSON_TRY(field.unescaped_key().get(key));
        od::value& value = field.value();
        JsonScalar* slot = key == "name"        ? &raw.name
                           : key == "type"      ? &raw.type
                           : key == "value"     ? &raw.value
                           : key == "window"    ? &raw.window
                           : key == "timestamp" ? &raw.timestamp
                                                : nullptr;
        if (slot) {
            SIMDJSON_TRY(read_scalar(value, *slot));
        } else if (key == "tags") {
            SIMDJSON_TRY(read_tags(value, point.tags, raw.tags_error));
        } else {
            SIMDJSON_TRY(walk(value, nullptr, 2));  // unknown fields are ignored, once validated
        }
    }
    return simdjson::SUCCESS;
}

Rejection invalid(const char* field, std::string message) {
    return Rejection{"invalid_field", field, std::move(message)};
}

// A number's canonical text as a set member: integral values in plain decimal, others in
// their shortest round-trip form. False when it overflows a double.
bool number_member(const JsonScalar& number, std::string& out) {
    char buffer[32];
    char* end = nullptr;
    const std::optional<std::int64_t> whole =
        number.integer ? parse_int64(number.text) : std::nullopt;
    const std::optional<std::uint64_t> big =
        number.integer && !whole ? parse_uint64(number.text) : std::nullopt;
    const std::optional<double> value = whole || big ? std::nullopt : number_value(number.text);
    if (whole) {
        end = std::to_chars(buffer, buffer + sizeof buffer, *whole).ptr;
    } else if (big) {
        end = std::to_chars(buffer, buffer + sizeof buffer, *big).ptr;
    } else if (!value) {
        return false;
    } else if (std::trunc(*value) == *value && std::fabs(*value) < 9.0e18) {
        end = std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(*value)).ptr;
    } else {
        end = std::to_chars(buffer, buffer + sizeof buffer, *value).ptr;
    }
    out.assign(buffer, end);
    return true;
}

Check build_value(const JsonScalar& value, MetricPoint& point) {
    if (value.kind == JsonKind::absent) {
        return Rejection{"missing_field", "value", "value is required"};
    }
    if (point.type == MetricType::unique) {
        if (value.kind == JsonKind::string) {
            point.member.assign(value.text);
            return std::nullopt;
        }
        if (value.kind == JsonKind::number && number_member(value, point.member)) {
            return std::nullopt;
        }
        return invalid("value", "the value of a unique metric must be a string or a finite number");
    }
    const std::optional<double> number =
        value.kind == JsonKind::number ? number_value(value.text) : std::nullopt;
    if (!number) {
        return invalid("value", "value must be a finite number");
    }
    point.value = *number;
    return std::nullopt;
}

Check build_when(const RawMetric& raw, std::int64_t now_ms, MetricPoint& point) {
    if (raw.window.kind != JsonKind::absent) {
        const std::optional<MetricWindow> window =
            raw.window.kind == JsonKind::string ? parse_window(raw.window.text) : std::nullopt;
        if (!window) {
            return invalid("window", "window must be one of 10s, 1m, 5m, 15m, 1h, 1d");
        }
        point.window = *window;
    }
    point.timestamp_ms = now_ms;
    if (raw.timestamp.kind != JsonKind::absent) {
        const std::optional<std::int64_t> ms =
            raw.timestamp.kind == JsonKind::string ? parse_rfc3339_ms(raw.timestamp.text)
            : raw.timestamp.kind == JsonKind::number && raw.timestamp.integer
                ? parse_int64(raw.timestamp.text)
                : std::nullopt;
        if (!ms) {
            return invalid("timestamp",
                           "timestamp must be an RFC 3339 date-time or integer epoch milliseconds");
        }
        point.timestamp_ms = *ms;
    }
    return std::nullopt;
}

// The checks in a fixed order (name, type, value, tags, window, timestamp, then the rules
// of every point), so a point with several problems always reports the same one.
Check build_metric(const RawMetric& raw, std::int64_t now_ms, MetricPoint& point) {
    if (raw.name.kind != JsonKind::string) {
        return raw.name.kind == JsonKind::absent
                   ? Rejection{"missing_field", "name", "name is required"}
                   : invalid("name", "name must be a string");
    }
    point.name.assign(raw.name.text);
    if (raw.type.kind != JsonKind::string) {
        return raw.type.kind == JsonKind::absent
                   ? Rejection{"missing_field", "type", "type is required"}
                   : invalid("type", "type must be a string");
    }
    const std::optional<MetricType> type = parse_metric_type(raw.type.text);
    if (!type) {
        return invalid("type", "type " + quoted(raw.type.text) +
                                   " is not one of count, sum, rate, average, min, max, gauge, "
                                   "percentile (histogram, distribution, timing), unique");
    }
    point.type = *type;
    if (Check error = build_value(raw.value, point)) {
        return error;
    }
    if (raw.tags_error) {
        return raw.tags_error;
    }
    if (Check error = build_when(raw, now_ms, point)) {
        return error;
    }
    sort_tags(point.tags);  // a repeated key is reported by validate_metric_point
    return validate_metric_point(point, now_ms);
}

struct Outputs {
    PointWriter writer;
    std::vector<BatchItemRejection>& rejected;
    std::size_t count = 0;   // items of "metrics", also those past the limit
    bool seen = false;       // a "metrics" field was there
    bool not_array = false;  // ... but it was not an array
};

// The "metrics" array: each item read, built and sorted into accepted or rejected. Past
// kMaxMetricPoints the items are only validated (the caller refuses the body then).
error_code read_points(od::value& value, std::int64_t now_ms, Outputs& out) {
    od::array array;
    SIMDJSON_TRY(value.get_array().get(array));
    for (auto result : array) {
        od::value item;
        SIMDJSON_TRY(result.get(item));
        od::json_type type;
        SIMDJSON_TRY(item.type().get(type));
        const std::size_t index = out.count++;
        if (index >= kMaxMetricPoints || type != od::json_type::object) {
            SIMDJSON_TRY(walk(item, nullptr, 2));
            if (index < kMaxMetricPoints) {
                out.rejected.push_back({index, bad_json("the point must be a JSON object")});
            }
            continue;
        }
        od::object object;
        SIMDJSON_TRY(item.get_object().get(object));
        RawMetric raw;
        MetricPoint& point = out.writer.next();
        SIMDJSON_TRY(read_metric(object, raw, point));
        if (Check error = build_metric(raw, now_ms, point)) {
            out.rejected.push_back({index, std::move(*error)});
        } else {
            out.writer.commit();
        }
    }
    return simdjson::SUCCESS;
}

// The top-level object; a "metrics" sent twice counts as its last one, like other keys.
error_code read_body(od::document& document, std::int64_t now_ms, Outputs& out) {
    od::object object;
    SIMDJSON_TRY(document.get_object().get(object));
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        std::string_view key;
        SIMDJSON_TRY(field.unescaped_key().get(key));
        od::value& value = field.value();
        if (key != "metrics") {
            SIMDJSON_TRY(walk(value, nullptr, 1));
            continue;
        }
        out.seen = true;
        out.writer.rollback(0);
        out.rejected.clear();
        out.count = 0;
        od::json_type type;
        SIMDJSON_TRY(value.type().get(type));
        out.not_array = type != od::json_type::array;
        SIMDJSON_TRY(out.not_array ? walk(value, nullptr, 1) : read_points(value, now_ms, out));
    }
    return simdjson::SUCCESS;
}

Check parse_padded(const Padded& text, od::parser& parser, std::int64_t now_ms, Outputs& out) {
    const std::string_view view = strip_bom(text.view());
    od::document document;
    od::json_type type;
    if (parser.iterate(view.data(), view.size(), text.capacity - (text.size - view.size()))
            .get(document) ||
        document.type().get(type)) {
        return bad_json("the body is not valid JSON");
    }
    if (type != od::json_type::object) {
        return bad_json("the body must be a JSON object with a \"metrics\" array");
    }
    const char* trailing = nullptr;
    if (read_body(document, now_ms, out) || !document.current_location().get(trailing)) {
        return bad_json("the body is not valid JSON");
    }
    if (!out.seen) {
        return Rejection{"missing_field", "metrics", "the body has no \"metrics\" array"};
    }
    if (out.not_array) {
        return Rejection{"invalid_field", "metrics", "\"metrics\" must be an array"};
    }
    if (out.count > kMaxMetricPoints) {
        return Rejection{"too_large", "metrics", "a body holds at most 10000 points"};
    }
    return std::nullopt;
}

Check parse_with(std::string_view body, std::int64_t now_ms, std::vector<MetricPoint>& accepted,
                 std::vector<BatchItemRejection>& rejected, ParseBuffers::Impl& buffers) {
    Outputs out{PointWriter(accepted, 0), rejected};
    rejected.clear();
    Check error;
    if (body.size() > kMaxMetricsBodyBytes) {
        error = Rejection{"too_large", "", "a metrics body holds at most 1 MiB"};
    } else {
        error = parse_padded(buffers.pad(body), buffers.parser, now_ms, out);
        buffers.release_if_big();
    }
    if (error) {
        out.writer.rollback(0);
        rejected.clear();
    }
    out.writer.finish();
    return error;
}

}  // namespace

std::optional<Rejection> parse_metrics_json(std::string_view body, std::int64_t now_ms,
                                            std::vector<MetricPoint>& accepted,
                                            std::vector<BatchItemRejection>& rejected) {
    ParseBuffers::Impl buffers;
    return parse_with(body, now_ms, accepted, rejected, buffers);
}

std::optional<Rejection> parse_metrics_json(std::string_view body, std::int64_t now_ms,
                                            std::vector<MetricPoint>& accepted,
                                            std::vector<BatchItemRejection>& rejected,
                                            ParseBuffers& buffers) {
    return parse_with(body, now_ms, accepted, rejected, buffers.impl());
}

}  // namespace tally::ingest
