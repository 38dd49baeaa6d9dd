// Fuzzes what a report is made of: a schedule text either parses to one whose canonical
// text parses back to itself and whose due times bracket any time, or is refused with a
// message; report validation never throws and its stored form is a fixed point.

#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/reports/report.hpp"
#include "tally/reports/schedule.hpp"

using nlohmann::json;
using namespace tally::reports;

namespace {

void check_schedule(std::string_view text, std::int64_t t_ms) {
    const auto parsed = parse_schedule(text);
    if (const auto* message = std::get_if<std::string>(&parsed)) {
        TALLY_FUZZ_CHECK(!message->empty());
        return;
    }
    const Schedule& schedule = std::get<Schedule>(parsed);
    const auto again = parse_schedule(schedule.text());
    TALLY_FUZZ_CHECK(std::holds_alternative<Schedule>(again));
    TALLY_FUZZ_CHECK(std::get<Schedule>(again) == schedule);
    const std::int64_t last = last_due_at_or_before(schedule, t_ms);
    const std::int64_t next = next_due_after(schedule, t_ms);
    TALLY_FUZZ_CHECK(last <= t_ms && t_ms < next);
    TALLY_FUZZ_CHECK(next - last <= schedule.period_ms());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    // Any time from 1970 to 2100: the first 5 bytes pick it, the rest is the text.
    std::int64_t t_ms = 0;
    for (std::size_t i = 0; i < 5 && i < size; ++i)
        t_ms = t_ms * 256 + data[i];
    check_schedule(text, t_ms % 4'102'444'800'000);
    const json body = json::parse(text, nullptr, false);
    if (body.is_discarded())
        return 0;
    const auto result = validate_report(body);
    if (const auto* bad = std::get_if<Invalid>(&result)) {
        TALLY_FUZZ_CHECK(!bad->message.empty());
        return 0;
    }
    const auto again = validate_report(std::get<json>(result));
    TALLY_FUZZ_CHECK(std::holds_alternative<json>(again));
    TALLY_FUZZ_CHECK(std::get<json>(again) == std::get<json>(result));
    return 0;
}
