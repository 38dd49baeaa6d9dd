#pragma once
// Helpers for the metrics engine's tests: points, admitting and applying them the way the
// write path does, and a fixed clock.

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tally/base/metric_point.hpp"
#include "tally/metrics/engine.hpp"
#include "tally/metrics/query.hpp"

namespace tally::metrics::test {

// A fixed "now", deliberately not aligned to 10 s, a minute or an hour.
inline constexpr std::int64_t kNow = 1'750'000'123'456;
inline constexpr std::int64_t kSecond = 1'000;
inline constexpr std::int64_t kMinute = 60 * kSecond;
inline constexpr std::int64_t kHour = 60 * kMinute;

inline std::int64_t floor_to(std::int64_t value, std::int64_t width) {
    return (value >= 0 ? value / width : (value - width + 1) / width) * width;
}

/// Engine options with `shards` shards and the given caps (default: the defaults).
inline EngineOptions with_shards(std::size_t shards, RegistryLimits limits = {}) {
    EngineOptions options;
    options.shards = shards;
    options.limits = limits;
    return options;
}

inline MetricPoint point(const std::string& name, MetricType type, double value, std::int64_t ts,
                         std::vector<MetricTag> tags = {}, std::string member = {}) {
    MetricPoint p;
    p.name = name;
    p.type = type;
    p.value = value;
    p.timestamp_ms = ts;
    p.tags = std::move(tags);
    EXPECT_TRUE(sort_tags(p.tags));
    p.member = std::move(member);
    return p;
}

/// Admits and applies one point as the write path does; the rejection when refused.
inline std::optional<Rejection> put(Engine& engine, MetricPoint p, std::int64_t now = kNow,
                                    std::size_t writer = 0) {
    SeriesId id = 0;
    if (auto why = engine.admit(writer, p, id))
        return why;
    engine.apply(writer, &p, &id, 1, now, nullptr);
    return std::nullopt;
}

inline std::vector<QueryResult> query_ok(const Engine& engine, const RangeQuery& q,
                                         std::int64_t now = kNow) {
    auto answer = run_query(engine, q, now);
    if (const auto* error = std::get_if<QueryError>(&answer)) {
        ADD_FAILURE() << "query refused: " << error->message;
        return {};
    }
    return std::get<std::vector<QueryResult>>(answer);
}

inline std::optional<QueryError> query_error(const Engine& engine, const RangeQuery& q,
                                             std::int64_t now = kNow) {
    auto answer = run_query(engine, q, now);
    if (const auto* error = std::get_if<QueryError>(&answer))
        return *error;
    return std::nullopt;
}

}  // namespace tally::metrics::test
