// Fuzzes dashboard validation with arbitrary JSON: it never throws, and a document it
// accepts is accepted again unchanged (the stored form is a fixed point), within the size
// and widget limits.

#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/dashboards/dashboard.hpp"

using nlohmann::json;
using namespace tally::dashboards;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const json body =
        json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
    if (body.is_discarded())
        return 0;
    const auto result = validate_dashboard(body);
    if (const auto* bad = std::get_if<Invalid>(&result)) {
        TALLY_FUZZ_CHECK(!bad->message.empty());
        return 0;
    }
    const json& stored = std::get<json>(result);
    TALLY_FUZZ_CHECK(stored["widgets"].size() <= kMaxWidgets);
    const auto again = validate_dashboard(stored);
    TALLY_FUZZ_CHECK(std::holds_alternative<json>(again));
    TALLY_FUZZ_CHECK(std::get<json>(again) == stored);
    return 0;
}
