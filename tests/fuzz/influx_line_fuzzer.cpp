// Fuzzes parse_influx_lines in every precision: never crashes; every point passes the
// metric rules and is a gauge; an error always names a line.

#include "metric_fuzz_support.hpp"
#include "tally/ingest/influx_line.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    // The first byte picks the precision, the rest is the body.
    const auto precision = static_cast<InfluxPrecision>(data[0] % 6);
    const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    static std::vector<MetricPoint> points;  // reused across inputs, like an HTTP worker's
    const InfluxResult result = parse_influx_lines(body, precision, fuzz::kNow, points);
    TALLY_FUZZ_CHECK(!result.error || result.error->rfind("line ", 0) == 0);
    TALLY_FUZZ_CHECK(result.lines > 0 || points.empty());
    for (const MetricPoint& point : points) {
        fuzz::check_point(point);
        TALLY_FUZZ_CHECK(point.type == MetricType::gauge && !point.gauge_delta);
        TALLY_FUZZ_CHECK(point.name.find('.') != std::string::npos);
    }
    return 0;
}
