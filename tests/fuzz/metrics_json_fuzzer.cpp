// Fuzzes parse_metrics_json: never crashes; a body-level rejection accepts nothing; every
// accepted point passes the metric rules; rejected indexes rise; reused buffers and vectors
// give the same answer as fresh ones.

#include "metric_fuzz_support.hpp"
#include "tally/ingest/metric_json.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    std::vector<MetricPoint> accepted;
    std::vector<BatchItemRejection> rejected;
    const auto rejection = parse_metrics_json(body, fuzz::kNow, accepted, rejected);
    static std::vector<MetricPoint> accepted_again;
    static std::vector<BatchItemRejection> rejected_again;
    const auto rejection_again =
        parse_metrics_json(body, fuzz::kNow, accepted_again, rejected_again, fuzz::buffers());
    TALLY_FUZZ_CHECK(fuzz::same_rejection(rejection, rejection_again));
    TALLY_FUZZ_CHECK(accepted.size() == accepted_again.size() &&
                     rejected.size() == rejected_again.size());
    if (rejection) {
        fuzz::check_rejection(*rejection);
        TALLY_FUZZ_CHECK(accepted.empty() && rejected.empty());
        return 0;
    }
    TALLY_FUZZ_CHECK(accepted.size() + rejected.size() <= kMaxMetricPoints);
    for (std::size_t i = 0; i < rejected.size(); ++i) {
        fuzz::check_rejection(rejected[i].rejection);
        TALLY_FUZZ_CHECK(i == 0 || rejected[i].index > rejected[i - 1].index);
        TALLY_FUZZ_CHECK(fuzz::same_rejection(rejected[i].rejection, rejected_again[i].rejection));
    }
    for (std::size_t i = 0; i < accepted.size(); ++i) {
        fuzz::check_point(accepted[i]);
        TALLY_FUZZ_CHECK(accepted[i].name == accepted_again[i].name &&
                         accepted[i].tags == accepted_again[i].tags &&
                         accepted[i].member == accepted_again[i].member &&
                         accepted[i].timestamp_ms == accepted_again[i].timestamp_ms);
    }
    return 0;
}
