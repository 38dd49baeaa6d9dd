#pragma once
// What the metric parser fuzzers share: the invariant every produced point obeys (it
// passes validate_metric_point, and what that function cannot see: sorted unique tags).

#include <cstdlib>

#include "fuzz_support.hpp"
#include "tally/ingest/metric_rules.hpp"

namespace tally::ingest::fuzz {

inline void check_point(const MetricPoint& point) {
    TALLY_FUZZ_CHECK(!validate_metric_point(point, kNow));
    TALLY_FUZZ_CHECK(point.workspace.empty());
    for (std::size_t i = 1; i < point.tags.size(); ++i) {
        TALLY_FUZZ_CHECK(point.tags[i - 1].key < point.tags[i].key);
    }
}

}  // namespace tally::ingest::fuzz
