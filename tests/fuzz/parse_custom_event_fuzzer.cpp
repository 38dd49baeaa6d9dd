// Fuzzes parse_custom_event: never crashes; accepted events obey the tracking rules and their
// properties are a JSON object again when read back.

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    Event event;
    const auto rejection = parse_custom_event(body, fuzz::context(), fuzz::hasher(), event);
    Event again;
    const auto rejection_again =
        parse_custom_event(body, fuzz::context(), fuzz::hasher(), again, fuzz::buffers());
    TALLY_FUZZ_CHECK(fuzz::same_rejection(rejection, rejection_again));
    if (rejection) {
        fuzz::check_rejection(*rejection);
        return 0;
    }
    TALLY_FUZZ_CHECK(event.kind == EventKind::custom);
    fuzz::check_event(event);
    TALLY_FUZZ_CHECK(fuzz::same_event(event, again));
    if (!event.properties.empty()) {
        // The event log and the store read properties back: they must be valid JSON.
        const auto properties = nlohmann::json::parse(event.properties, nullptr, false);
        TALLY_FUZZ_CHECK(properties.is_object());
        TALLY_FUZZ_CHECK(properties.size() <= 64);
    }
    return 0;
}
