// Fuzzes parse_pageview: never crashes, never accepts an Event that breaks the tracking rules, and
// gives the same answer with fresh and with reused parse buffers.

#include "fuzz_support.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    Event event;
    const auto rejection = parse_pageview(body, fuzz::context(), fuzz::hasher(), event);

    // Same answer with the buffers of earlier inputs reused.
    Event again;
    const auto rejection_again =
        parse_pageview(body, fuzz::context(), fuzz::hasher(), again, fuzz::buffers());
    TALLY_FUZZ_CHECK(fuzz::same_rejection(rejection, rejection_again));

    if (rejection) {
        fuzz::check_rejection(*rejection);
        return 0;
    }
    TALLY_FUZZ_CHECK(event.kind == EventKind::pageview);
    fuzz::check_event(event);
    TALLY_FUZZ_CHECK(fuzz::same_event(event, again));
    return 0;
}
