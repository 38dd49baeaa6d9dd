// Fuzzes the sketch decoders a snapshot or a peer hands us: DDSketch::decode,
// DistinctSet::decode and CompactDistinctSet::decode. Any bytes either decode to a sketch whose own
// encoding decodes back to an equal sketch, whose queries answer without a crash, or are refused.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/sketch/compact_distinct_set.hpp"
#include "tally/sketch/ddsketch.hpp"
#include "tally/sketch/distinct_set.hpp"

namespace {

void check_ddsketch(std::string_view bytes) {
    using tally::sketch::DDSketch;
    const auto sketch = DDSketch::decode(bytes);
    if (!sketch) {
        return;
    }
    std::string again;
    sketch->encode(again);
    const auto twice = DDSketch::decode(again);
    TALLY_FUZZ_CHECK(twice && *twice == *sketch);
    for (double q : {0.0, 0.01, 0.5, 0.99, 1.0}) {
        const double v = sketch->quantile(q);
        TALLY_FUZZ_CHECK(sketch->empty() ? std::isnan(v)
                                         : v >= sketch->min() && v <= sketch->max());
    }
    (void)sketch->memory_bytes();
    DDSketch merged = *sketch;
    merged.merge(*sketch);
    TALLY_FUZZ_CHECK(merged.count() == 2 * sketch->count());
}

void check_distinct_set(std::string_view bytes) {
    using tally::sketch::DistinctSet;
    const auto set = DistinctSet::decode(bytes);
    if (!set) {
        return;
    }
    std::string again;
    set->encode(again);
    const auto twice = DistinctSet::decode(again);
    TALLY_FUZZ_CHECK(twice && *twice == *set);
    (void)set->count();
    DistinctSet merged = *set;
    merged.merge(*twice);
    TALLY_FUZZ_CHECK(merged.to_hyperloglog() == set->to_hyperloglog());
}

void check_compact_distinct_set(std::string_view bytes) {
    using tally::sketch::CompactDistinctSet;
    const auto set = CompactDistinctSet::decode(bytes);
    if (!set) {
        return;
    }
    std::string again;
    set->encode(again);
    const auto twice = CompactDistinctSet::decode(again);
    TALLY_FUZZ_CHECK(twice && *twice == *set);
    CompactDistinctSet merged = *set;
    merged.merge(*twice);  // a union with an equal set changes nothing
    TALLY_FUZZ_CHECK(merged == *set && merged.count() == set->count());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    check_ddsketch(bytes);
    check_distinct_set(bytes);
    check_compact_distinct_set(bytes);
    return 0;
}
