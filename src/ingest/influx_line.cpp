// InfluxDB line protocol -> metric points (influx_line.hpp). A line is read left to right by
// a cursor, unescaping names straight into the points' strings. The points of a line are
// written to the caller's vector as its fields are read and taken back if the line turns
// out bad, so the good lines before it keep theirs.

#include "tally/ingest/influx_line.hpp"

#include <utility>

#include "metric_text.hpp"
#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest {

namespace {

using detail::PointWriter;
using detail::quoted;
using Why = std::optional<std::string>;

// What ends a name: the measurement ends at ',' or ' '; a tag key or field key at '=' (or,
// wrongly, at ',' or ' '); a tag value at ',' or ' '.
enum class Part : std::uint8_t { measurement, key, tag_value };

bool ends(Part part, char c) {
    return c == ' ' || c == ',' || (part == Part::key && c == '=');
}

bool escapable(Part part, char c) {
    return c == ',' || c == ' ' || (part != Part::measurement && c == '=');
}

struct Cursor {
    std::string_view line;
    std::size_t pos = 0;

    bool done() const { return pos >= line.size(); }
    char peek() const { return line[pos]; }

    // Reads a name into `out` (unescaped), up to the first unescaped terminator of `part`.
    void read_name(Part part, std::string& out) {
        out.clear();
        while (!done() && !ends(part, peek())) {
            if (peek() == '\\' && pos + 1 < line.size() && escapable(part, line[pos + 1])) {
                ++pos;
            }
            out.push_back(line[pos++]);
        }
    }

    void skip_spaces() {
        while (!done() && peek() == ' ') {
            ++pos;
        }
    }

    // A field value: a quoted string (escapes skipped over), or the text up to ',' or ' '.
    Why read_value(std::string_view& value) {
        const std::size_t start = pos;
        if (!done() && peek() == '"') {
            for (++pos; !done() && peek() != '"'; ++pos) {
                pos += peek() == '\\' ? 1 : 0;
            }
            if (done()) {
                return std::string("a string field value has no closing quote");
            }
            ++pos;
        } else {
            while (!done() && peek() != ',' && peek() != ' ') {
                ++pos;
            }
        }
        value = line.substr(start, pos - start);
        return std::nullopt;
    }
};

// The numeric value of a field, nullopt for strings and booleans; an error for anything
// that is none of these.
Why numeric_value(std::string_view text, std::optional<double>& number) {
    number.reset();
    if (text.empty()) {
        return std::string("a field has an empty value");
    }
    if (text.front() == '"' || text == "t" || text == "T" || text == "true" || text == "True" ||
        text == "TRUE" || text == "f" || text == "F" || text == "false" || text == "False" ||
        text == "FALSE") {
        return std::nullopt;
    }
    const std::string_view digits = text.substr(0, text.size() - 1);
    if (text.back() == 'i') {
        if (auto value = detail::parse_int64(digits)) {
            number = static_cast<double>(*value);
        }
    } else if (text.back() == 'u') {
        if (auto value = detail::parse_uint64(digits)) {
            number = static_cast<double>(*value);
        }
    } else {
        number = detail::parse_finite_double(text);
    }
    if (!number) {
        return "field value " + quoted(text) + " is not a number, string or boolean";
    }
    return std::nullopt;
}

// The tag set after the measurement's ',' into `tags` (sorted).
Why read_tags(Cursor& cursor, std::vector<MetricTag>& tags) {
    tags.clear();
    while (!cursor.done() && cursor.peek() == ',') {
        ++cursor.pos;
        if (tags.size() == kMaxMetricTags) {
            return std::string("a point has at most 16 tags");
        }
        MetricTag& tag = tags.emplace_back();
        cursor.read_name(Part::key, tag.key);
        if (cursor.done() || cursor.peek() != '=') {
            return "tag " + quoted(tag.key) + " has no '=' and value";
        }
        ++cursor.pos;
        cursor.read_name(Part::tag_value, tag.value);
        if (tag.key.empty() || tag.value.empty()) {
            return "tag " + quoted(tag.key) + " has an empty key or value";
        }
    }
    sort_tags(tags);  // a repeated key is reported by validate_metric_point
    return std::nullopt;
}

// The scratch a parse keeps from line to line, so names are unescaped without allocating.
struct LineScratch {
    std::string measurement;
    std::string key;
    std::vector<MetricTag> tags;
};

// The field set: a point per numeric field, its timestamp still unset.
Why read_fields(Cursor& cursor, LineScratch& scratch, PointWriter& writer) {
    if (cursor.done()) {
        return std::string("the line has no fields");
    }
    for (bool more = true; more;) {
        cursor.read_name(Part::key, scratch.key);
        if (cursor.done() || cursor.peek() != '=') {
            return "field " + quoted(scratch.key) + " has no '=' and value";
        }
        if (scratch.key.empty()) {
            return std::string("a field has an empty key");
        }
        ++cursor.pos;
        std::string_view text;
        std::optional<double> number;
        if (Why why = cursor.read_value(text)) {
            return why;
        }
        if (Why why = numeric_value(text, number)) {
            return why;
        }
        if (number) {
            MetricPoint& point = writer.next();
            point.name.append(scratch.measurement).append(".").append(scratch.key);
            point.tags = scratch.tags;
            point.value = *number;
            writer.commit();
        }
        more = !cursor.done() && cursor.peek() == ',';
        cursor.pos += more ? 1 : 0;
    }
    return std::nullopt;
}

// The optional timestamp at the end of a line, in epoch ms.
Why read_timestamp(Cursor& cursor, InfluxPrecision precision, std::int64_t now_ms,
                   std::int64_t& timestamp_ms) {
    cursor.skip_spaces();
    timestamp_ms = now_ms;
    if (cursor.done()) {
        return std::nullopt;
    }
    const std::size_t start = cursor.pos;
    while (!cursor.done() && cursor.peek() != ' ') {
        ++cursor.pos;
    }
    const std::string_view text = cursor.line.substr(start, cursor.pos - start);
    cursor.skip_spaces();
    if (!cursor.done()) {
        return "unexpected text after the timestamp: " + quoted(cursor.line.substr(cursor.pos));
    }
    const std::optional<std::int64_t> value = detail::parse_int64(text);
    if (!value) {
        return "timestamp " + quoted(text) + " is not an integer";
    }
    // Floor division, so a time before 1970 rounds down like the later ones.
    const auto floor_div = [](std::int64_t a, std::int64_t b) {
        return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
    };
    std::optional<std::int64_t> ms;
    switch (precision) {
        case InfluxPrecision::ns:
            ms = floor_div(*value, 1'000'000);
            break;
        case InfluxPrecision::us:
            ms = floor_div(*value, 1'000);
            break;
        case InfluxPrecision::ms:
            ms = *value;
            break;
        case InfluxPrecision::s:
            ms = detail::checked_mul(*value, 1'000);
            break;
        case InfluxPrecision::m:
            ms = detail::checked_mul(*value, 60'000);
            break;
        case InfluxPrecision::h:
            ms = detail::checked_mul(*value, 3'600'000);
            break;
    }
    if (!ms) {
        return "timestamp " + quoted(text) + " is out of range";
    }
    timestamp_ms = *ms;
    return std::nullopt;
}

// One data line; its points are in `writer` when it is good.
Why parse_line(std::string_view line, InfluxPrecision precision, std::int64_t now_ms,
               LineScratch& scratch, PointWriter& writer) {
    Cursor cursor{line};
    cursor.read_name(Part::measurement, scratch.measurement);
    if (scratch.measurement.empty()) {
        return std::string("the line has no measurement");
    }
    if (Why why = read_tags(cursor, scratch.tags)) {
        return why;
    }
    cursor.skip_spaces();
    const std::size_t first = writer.size();
    if (Why why = read_fields(cursor, scratch, writer)) {
        return why;
    }
    std::int64_t timestamp_ms = 0;
    if (Why why = read_timestamp(cursor, precision, now_ms, timestamp_ms)) {
        return why;
    }
    for (std::size_t i = first; i < writer.size(); ++i) {
        MetricPoint& point = writer.at(i);
        point.timestamp_ms = timestamp_ms;
        if (auto rejection = validate_metric_point(point, now_ms)) {
            return std::move(rejection->message);
        }
    }
    return std::nullopt;
}

}  // namespace

std::optional<InfluxPrecision> parse_precision(std::string_view text) {
    if (text == "ns" || text == "n") {
        return InfluxPrecision::ns;
    }
    if (text == "us" || text == "u") {
        return InfluxPrecision::us;
    }
    if (text == "ms") {
        return InfluxPrecision::ms;
    }
    if (text == "s") {
        return InfluxPrecision::s;
    }
    if (text == "m") {
        return InfluxPrecision::m;
    }
    if (text == "h") {
        return InfluxPrecision::h;
    }
    return std::nullopt;
}

InfluxResult parse_influx_lines(std::string_view body, InfluxPrecision precision,
                                std::int64_t now_ms, std::vector<MetricPoint>& out) {
    InfluxResult result;
    PointWriter writer(out, 0);
    LineScratch scratch;
    for (std::size_t number = 1; !body.empty(); ++number) {
        const std::size_t end = body.find('\n');
        std::string_view line = body.substr(0, end);
        body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        const std::size_t start = line.find_first_not_of(" \t");
        if (start == std::string_view::npos || line[start] == '#') {
            continue;
        }
        const std::size_t before = writer.size();
        if (Why why = parse_line(line.substr(start), precision, now_ms, scratch, writer)) {
            writer.rollback(before);
            result.error = "line " + std::to_string(number) + ": " + *why;
            break;
        }
        ++result.lines;
    }
    writer.finish();
    return result;
}

}  // namespace tally::ingest
