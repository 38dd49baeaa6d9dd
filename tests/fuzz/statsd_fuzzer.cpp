// Fuzzes parse_statsd: never crashes; every point passes the metric rules; the counts add
// up; a reused output vector gives the same points as a fresh one.

#include "metric_fuzz_support.hpp"
#include "tally/ingest/statsd.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<MetricPoint> points;
    const StatsdResult result = parse_statsd(text, fuzz::kNow, points);
    TALLY_FUZZ_CHECK(result.points == points.size());
    TALLY_FUZZ_CHECK(result.lines ==
                     result.accepted + result.bad + result.events + result.service_checks);
    TALLY_FUZZ_CHECK(result.points >= result.accepted);
    TALLY_FUZZ_CHECK((result.bad == 0) == result.first_error.empty());
    for (const MetricPoint& point : points) {
        fuzz::check_point(point);
    }
    static std::vector<MetricPoint> reused;  // kept across inputs, like a UDP worker's
    const StatsdResult again = parse_statsd(text, fuzz::kNow, reused);
    TALLY_FUZZ_CHECK(again.points == result.points && again.first_error == result.first_error);
    for (std::size_t i = 0; i < points.size(); ++i) {
        const MetricPoint& a = points[i];
        const MetricPoint& b = reused[i];
        TALLY_FUZZ_CHECK(a.name == b.name && a.tags == b.tags && a.type == b.type &&
                         a.member == b.member && a.gauge_delta == b.gauge_delta &&
                         a.timestamp_ms == b.timestamp_ms && a.weight == b.weight &&
                         (a.value == b.value || (a.value != a.value && b.value != b.value)));
    }
    return 0;
}
