// Fuzzes parse_rfc3339_ms and its inverse: whatever parses lies inside years 0000..9999
// (give or take a day of offset) and survives format -> parse unchanged.

#include "fuzz_support.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::optional<std::int64_t> ms = parse_rfc3339_ms(text);
    if (!ms) {
        return 0;
    }
    constexpr std::int64_t kDayMs = 86'400'000;
    TALLY_FUZZ_CHECK(*ms >= days_from_civil(0, 1, 1) * kDayMs - kDayMs);
    TALLY_FUZZ_CHECK(*ms < days_from_civil(10000, 1, 1) * kDayMs + kDayMs);
    // An offset can push the instant just outside 0000..9999, where the four-digit years of
    // RFC 3339 end; inside, format and parse are inverses.
    const std::int64_t day = day_of(*ms);
    if (day >= days_from_civil(0, 1, 1) && day < days_from_civil(10000, 1, 1)) {
        TALLY_FUZZ_CHECK(parse_rfc3339_ms(format_rfc3339_ms(*ms)) == ms);
        TALLY_FUZZ_CHECK(parse_day(format_day(day)) == day);
    }
    // The input's own date part, when valid, is a day parse_day agrees with.
    if (size >= 10) {
        TALLY_FUZZ_CHECK(parse_day(text.substr(0, 10)).has_value());
    }
    return 0;
}
