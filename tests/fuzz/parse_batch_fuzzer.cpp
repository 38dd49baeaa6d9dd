// Fuzzes parse_batch: never crashes; a body-level rejection accepts nothing; item results
// account for each item at most once, in order, and every accepted item obeys the tracking rules.

#include "fuzz_support.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    BatchResult result;
    const auto rejection = parse_batch(body, fuzz::context(), fuzz::hasher(), result);
    BatchResult again;
    const auto rejection_again =
        parse_batch(body, fuzz::context(), fuzz::hasher(), again, fuzz::buffers());
    TALLY_FUZZ_CHECK(fuzz::same_rejection(rejection, rejection_again));
    TALLY_FUZZ_CHECK(again.accepted.size() == result.accepted.size() &&
                     again.rejected.size() == result.rejected.size());
    for (std::size_t i = 0; i < result.accepted.size(); ++i) {
        TALLY_FUZZ_CHECK(fuzz::same_event(result.accepted[i], again.accepted[i]));
    }
    if (rejection) {
        fuzz::check_rejection(*rejection);
        TALLY_FUZZ_CHECK(result.accepted.empty() && result.rejected.empty());
        return 0;
    }
    TALLY_FUZZ_CHECK(result.accepted.size() + result.rejected.size() <= kMaxBatchItems);
    for (std::size_t i = 0; i < result.rejected.size(); ++i) {
        fuzz::check_rejection(result.rejected[i].rejection);
        TALLY_FUZZ_CHECK(result.rejected[i].index < kMaxBatchItems);
        TALLY_FUZZ_CHECK(i == 0 || result.rejected[i].index > result.rejected[i - 1].index);
    }
    for (const Event& event : result.accepted) {
        fuzz::check_event(event);
    }
    return 0;
}
