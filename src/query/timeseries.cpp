#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "tally/base/time.hpp"
#include "tally/query/query.hpp"

namespace tally::query {

bool parse_aggregation(std::string_view text, Aggregation& out) {
    if (text == "sum") {
        out = Aggregation::sum;
    } else if (text == "avg") {
        out = Aggregation::avg;
    } else if (text == "min") {
        out = Aggregation::min;
    } else if (text == "max") {
        out = Aggregation::max;
    } else {
        return false;
    }
    return true;
}

std::pair<std::int64_t, std::int64_t> timeseries_days(const TimeseriesRequest& request) {
    const std::int64_t first_bucket =
        floor_div(request.from_ms, request.bucket_ms) * request.bucket_ms;
    return {day_of(first_bucket), day_of(std::max(request.to_ms - 1, first_bucket))};
}

std::vector<Point> timeseries(const store::Store& store, std::string_view site,
                              const TimeseriesRequest& request) {
    // Per-minute counts of the days the buckets touch, summed over the shards. Days with
    // no data are absent and count as zeros.
    const std::pair<std::int64_t, std::int64_t> days = timeseries_days(request);
    const std::int64_t first_day = days.first;  // (a lambda cannot capture a structured binding
    const std::int64_t last_day = days.second;  // in clang's C++20)
    DayMinutes minutes;
    store.visit_site(site, [&](const store::SiteShard& shard) {
        for (auto it = shard.days.lower_bound(first_day);
             it != shard.days.end() && it->first <= last_day; ++it) {
            const store::MinuteCounts* source = nullptr;
            if (request.event_name.empty()) {
                source = &it->second.pageviews_per_minute;
            } else if (auto e = it->second.events.find(request.event_name);
                       e != it->second.events.end()) {
                source = &e->second.per_minute;
            }
            if (source == nullptr)
                continue;
            auto& target = minutes.try_emplace(it->first).first->second;
            for (std::size_t m = 0; m < target.size(); ++m)
                target[m] += (*source)[m];
        }
    });
    return timeseries(minutes, request);
}

std::vector<Point> timeseries(const DayMinutes& minutes, const TimeseriesRequest& request) {
    const std::int64_t bucket = request.bucket_ms;
    const std::int64_t first_bucket = floor_div(request.from_ms, bucket) * bucket;
    std::vector<Point> points;
    for (std::int64_t start = first_bucket; start < request.to_ms; start += bucket) {
        const std::int64_t end = start + bucket;
        double sum = 0;
        double lo = 0;
        double hi = 0;
        bool seen = false;
        auto take = [&](double v) {
            sum += v;
            lo = seen ? std::min(lo, v) : v;
            hi = seen ? std::max(hi, v) : v;
            seen = true;
        };
        // Walk the bucket a day at a time: a day without data is 1,440 zeros at once.
        for (std::int64_t t = start; t < end;) {
            const std::int64_t day = day_of(t);
            const std::int64_t day_end = std::min(end, (day + 1) * kMsPerDay);
            auto it = minutes.find(day);
            if (it == minutes.end()) {
                take(0);
            } else {
                for (std::int64_t m = t; m < day_end; m += kMsPerMinute) {
                    take(it->second[static_cast<std::size_t>(minute_of_day(m))]);
                }
            }
            t = day_end;
        }
        // bucket is a multiple of a minute (checked by the caller), so the division is exact.
        const auto minutes_in_bucket =
            static_cast<double>(bucket / kMsPerMinute);  // NOLINT(bugprone-integer-division)
        double value = 0;
        switch (request.aggregation) {
            case Aggregation::sum:
                value = sum;
                break;
            case Aggregation::avg:
                value = sum / minutes_in_bucket;
                break;
            case Aggregation::min:
                value = lo;
                break;
            case Aggregation::max:
                value = hi;
                break;
        }
        points.push_back({start, value});
    }
    return points;
}

std::string to_json(const std::vector<Point>& points) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const Point& p : points) {
        nlohmann::ordered_json point;
        point["timestamp"] = format_rfc3339_ms(p.timestamp_ms);
        point["value"] = p.value;
        array.push_back(std::move(point));
    }
    return array.dump();
}

}  // namespace tally::query
