#include "tally/base/metric_point.hpp"

#include <algorithm>
#include <array>

#include "tally/base/names.hpp"

namespace tally {

namespace {

struct TypeName {
    std::string_view name;
    MetricType type;
};

constexpr std::array<TypeName, 12> kTypeNames = {{
    {"count", MetricType::count},
    {"sum", MetricType::sum},
    {"rate", MetricType::rate},
    {"average", MetricType::average},
    {"min", MetricType::min},
    {"max", MetricType::max},
    {"gauge", MetricType::gauge},
    {"percentile", MetricType::percentile},
    {"unique", MetricType::unique},
    {"histogram", MetricType::percentile},
    {"distribution", MetricType::percentile},
    {"timing", MetricType::percentile},
}};

constexpr std::array<std::string_view, 6> kWindowNames = {"10s", "1m", "5m", "15m", "1h", "1d"};
constexpr std::array<std::int64_t, 6> kWindowMs = {10'000,  60'000,    300'000,
                                                   900'000, 3'600'000, 86'400'000};

bool is_alnum(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

}  // namespace

MetricKind kind_of(MetricType type) {
    switch (type) {
        case MetricType::count:
        case MetricType::sum:
        case MetricType::rate:
            return MetricKind::counter;
        case MetricType::average:
        case MetricType::min:
        case MetricType::max:
        case MetricType::gauge:
            return MetricKind::gauge;
        case MetricType::percentile:
            return MetricKind::distribution;
        case MetricType::unique:
            return MetricKind::set;
    }
    return MetricKind::gauge;
}

const char* metric_type_name(MetricType type) {
    return kTypeNames[static_cast<std::size_t>(type)].name.data();
}

const char* metric_kind_name(MetricKind kind) {
    constexpr std::array<const char*, 4> kNames = {"counter", "gauge", "distribution", "set"};
    return kNames[static_cast<std::size_t>(kind)];
}

std::optional<MetricType> parse_metric_type(std::string_view text) {
    for (const TypeName& entry : kTypeNames) {
        if (entry.name == text)
            return entry.type;
    }
    return std::nullopt;
}

std::int64_t window_ms(MetricWindow window) {
    return kWindowMs[static_cast<std::size_t>(window)];
}

const char* window_name(MetricWindow window) {
    return kWindowNames[static_cast<std::size_t>(window)].data();
}

std::optional<MetricWindow> parse_window(std::string_view text) {
    for (std::size_t i = 0; i < kWindowNames.size(); ++i) {
        if (kWindowNames[i] == text)
            return static_cast<MetricWindow>(i);
    }
    return std::nullopt;
}

bool valid_metric_name(std::string_view name) {
    if (name.empty() || name.size() > 128)
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
    });
}

bool valid_tag_key(std::string_view key) {
    if (key.empty() || key.size() > 64)
        return false;
    if (!(key[0] == '_' || (key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z')))
        return false;
    return std::all_of(key.begin() + 1, key.end(),
                       [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool valid_tag_value(std::string_view value) {
    return !value.empty() && value.size() <= 128 && valid_utf8(value);
}

bool sort_tags(std::vector<MetricTag>& tags) {
    std::sort(tags.begin(), tags.end(),
              [](const MetricTag& a, const MetricTag& b) { return a.key < b.key; });
    return std::adjacent_find(tags.begin(), tags.end(), [](const MetricTag& a, const MetricTag& b) {
               return a.key == b.key;
           }) == tags.end();
}

}  // namespace tally
