// The shared pieces of the metric parsers (metric_text.hpp).

#include "metric_text.hpp"

#include <charconv>
#include <cmath>

#include "tally/base/names.hpp"

namespace tally::ingest::detail {

namespace {

constexpr std::size_t kMaxQuoted = 64;

bool is_continuation(char c) {
    return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

}  // namespace

std::string quoted(std::string_view text) {
    const bool cut = text.size() > kMaxQuoted;
    if (cut) {
        std::size_t end = kMaxQuoted;
        while (end > 0 && is_continuation(text[end])) {
            --end;
        }
        text = text.substr(0, end);
    }
    const bool utf8 = valid_utf8(text);
    std::string out;
    out.reserve(text.size() + 5);
    out.push_back('"');
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        const bool unsafe = byte < 0x20 || byte == 0x7F || (byte >= 0x80 && !utf8);
        out.push_back(unsafe ? '?' : c);
    }
    out.push_back('"');
    if (cut) {
        out.append("...");
    }
    return out;
}

std::optional<double> parse_finite_double(std::string_view text) {
    // from_chars also reads "inf", "nan" and hexadecimal-free forms such as ".5" and "5.";
    // the first two are refused by the finiteness check, the others are ordinary numbers.
    double value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end || !std::isfinite(value)) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::int64_t> parse_int64(std::string_view text) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::uint64_t> parse_uint64(std::string_view text) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc() || ptr != end) {
        return std::nullopt;
    }
    return value;
}

std::optional<std::int64_t> checked_mul(std::int64_t value, std::int64_t factor) {
    std::int64_t product = 0;
    if (__builtin_mul_overflow(value, factor, &product)) {
        return std::nullopt;
    }
    return product;
}

void reset_point(MetricPoint& point) {
    point.workspace.clear();
    point.name.clear();
    point.type = MetricType::gauge;
    point.tags.clear();
    point.value = 0;
    point.member.clear();
    point.weight = 1;
    point.gauge_delta = false;
    point.window = MetricWindow::m1;
    point.timestamp_ms = 0;
}

MetricPoint& PointWriter::next() {
    if (size_ == out_.size()) {
        out_.emplace_back();
    }
    MetricPoint& point = out_[size_];
    reset_point(point);
    return point;
}

}  // namespace tally::ingest::detail
