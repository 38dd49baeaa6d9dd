// Fuzzes alert rule validation with arbitrary JSON: it never throws, an error names what is
// wrong, and a rule it accepts is accepted again unchanged (the stored form is a fixed
// point) and compiles for evaluation.

#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/alerts/rule.hpp"

using nlohmann::json;
using namespace tally::alerts;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const json body =
        json::parse(std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
    if (body.is_discarded())
        return 0;
    Channels channels;
    channels["pager"] = Action{};
    RuleContext context;
    context.channels = &channels;
    context.sees_site = [](std::string_view site) { return site != "hidden.example"; };
    const auto result = validate_rule(body, context);
    if (const auto* bad = std::get_if<Invalid>(&result)) {
        TALLY_FUZZ_CHECK(!bad->message.empty());
        return 0;
    }
    const json& stored = std::get<json>(result);
    const auto again = validate_rule(stored, context);
    TALLY_FUZZ_CHECK(std::holds_alternative<json>(again));
    TALLY_FUZZ_CHECK(std::get<json>(again) == stored);
    json with_id = stored;
    with_id["id"] = "fuzzrule0001";
    TALLY_FUZZ_CHECK(std::holds_alternative<Rule>(compile_rule(with_id, channels)));
    return 0;
}
