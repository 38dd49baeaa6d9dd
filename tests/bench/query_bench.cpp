// Metrics query (d) in-process: the run_query of `run_metrics_query.sh` over the same
// shape of data, without HTTP, so that a change to the query path can be timed alone.
//   query_bench [samples_per_series_minute=30] [queries=300]
// One distribution `lat` (log-normal, ms), 100 series (host h0..h9 x path p0..p9), the past
// hour, samples spread over each minute, fed in 5,000-point bodies alternating between two
// writers as the script's two connections do. Times p99 over 1-minute windows grouped by
// host; prints per-query wall and thread CPU time, and a digest of the answer so that two
// builds can be checked to answer the same.

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "tally/metrics/engine.hpp"
#include "tally/metrics/query.hpp"

namespace {

using namespace tally;
using namespace tally::metrics;

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::size_t kBody = 5'000;

std::vector<MetricPoint> make_points(int per_minute, std::int64_t start_ms) {
    std::mt19937_64 rng(3);
    std::normal_distribution<double> gauss(3.0, 0.8);
    std::vector<MetricPoint> points;
    for (int m = 0; m < 60; ++m) {
        for (int h = 0; h < 10; ++h) {
            for (int p = 0; p < 10; ++p) {
                for (int i = 0; i < per_minute; ++i) {
                    MetricPoint point;
                    point.name = "lat";
                    point.type = MetricType::percentile;
                    point.tags = {{"host", "h" + std::to_string(h)},
                                  {"path", "p" + std::to_string(p)}};
                    point.value = std::round(std::exp(gauss(rng)) * 1000) / 1000;
                    const std::int64_t step = kMinuteMs / per_minute;
                    point.timestamp_ms = start_ms + m * kMinuteMs + i * step +
                                         static_cast<std::int64_t>(rng() % step);
                    points.push_back(std::move(point));
                }
            }
        }
    }
    return points;
}

void load(Engine& engine, std::vector<MetricPoint>& points, std::int64_t now_ms) {
    for (std::size_t i = 0; i < points.size(); ++i) {
        const std::size_t writer = (i / kBody) % engine.shard_count();
        SeriesId id = 0;
        if (engine.admit(writer, points[i], id)) {
            std::fprintf(stderr, "point refused\n");
            std::exit(1);
        }
        engine.apply(writer, &points[i], &id, 1, now_ms, nullptr);
    }
}

double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

std::uint64_t digest(const std::vector<QueryResult>& results) {
    std::uint64_t h = 1469598103934665603ull;
    for (const QueryResult& r : results) {
        for (const QueryPoint& p : r.points) {
            std::uint64_t bits = 0;
            const double v = p.value.value_or(-1.0);
            std::memcpy(&bits, &v, sizeof bits);
            h = (h ^ bits) * 1099511628211ull;
        }
    }
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    const int per_minute = argc > 1 ? std::atoi(argv[1]) : 30;
    const int queries = argc > 2 ? std::atoi(argv[2]) : 300;
    const std::int64_t now_ms = 1'750'000'000'000;
    EngineOptions options;
    options.shards = 2;
    Engine engine(options);
    std::vector<MetricPoint> points = make_points(per_minute, now_ms - 3'600'000);
    load(engine, points, now_ms);

    RangeQuery query;
    query.metrics = {"lat"};
    query.aggregation = Aggregation::parse("p99");
    query.window = MetricWindow::m1;
    query.start_ms = now_ms - 3'600'000;
    query.end_ms = now_ms;
    query.group_by = {"host"};

    std::vector<double> wall, cpu;
    std::uint64_t hash = 0;
    std::size_t shape = 0;
    for (int q = 0; q < queries; ++q) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = thread_cpu_ns();
        auto answer = run_query(engine, query, now_ms);
        cpu.push_back(thread_cpu_ns() - c0);
        wall.push_back(
            std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                .count());
        const auto& results = std::get<std::vector<QueryResult>>(answer);
        hash = digest(results);
        shape = results.size() * (results.empty() ? 0 : results[0].points.size());
    }
    std::sort(wall.begin(), wall.end());
    std::sort(cpu.begin(), cpu.end());
    const auto at = [&](const std::vector<double>& v, double q) {
        return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))] / 1000.0;
    };
    std::printf("points %zu, answer %zu points, digest %016llx\n", points.size(), shape,
                static_cast<unsigned long long>(hash));
    // The machine is shared: the minimum is the figure least disturbed by neighbours.
    std::printf(
        "run_query wall min %.1f p50 %.1f p99 %.1f us; thread CPU min %.1f p50 %.1f p99 "
        "%.1f us\n",
        at(wall, 0), at(wall, 0.5), at(wall, 0.99), at(cpu, 0), at(cpu, 0.5), at(cpu, 0.99));
    return 0;
}
