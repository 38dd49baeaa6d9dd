// Fuzzes the incumbents' tracker bodies: parse_plausible, or parse_umami when built with
// TALLY_FUZZ_UMAMI. Never crashes; the same body gives the same answer with fresh and with
// reused buffers; an accepted hit names valid sites and makes Events the store can count,
// its properties a JSON object again when read back.

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "tally/base/names.hpp"
#include "tally/ingest/compat.hpp"

using namespace tally;
using namespace tally::ingest;

namespace {

std::optional<Rejection> parse(std::string_view body, CompatHit& hit, ParseBuffers& buffers) {
#ifdef TALLY_FUZZ_UMAMI
    return parse_umami(body, hit, buffers);
#else
    return parse_plausible(body, hit, buffers);
#endif
}

bool same_hit(const CompatHit& a, const CompatHit& b) {
    return a.kind == b.kind && a.name == b.name && a.page == b.page && a.referrer == b.referrer &&
           a.sites == b.sites && a.properties == b.properties;
}

void check_hit(const CompatHit& hit) {
    if (hit.kind == CompatHit::Kind::ignored)
        return;
    TALLY_FUZZ_CHECK(!hit.sites.empty() && hit.sites.size() <= kMaxCompatSites);
    for (const std::string& site : hit.sites)
        TALLY_FUZZ_CHECK(valid_site(site));
    TALLY_FUZZ_CHECK(!hit.page.empty() && hit.page.size() <= 2 * 2048);
    TALLY_FUZZ_CHECK(!hit.referrer.empty());
    if (hit.kind == CompatHit::Kind::custom)
        TALLY_FUZZ_CHECK(valid_event_name(hit.name));
    else
        TALLY_FUZZ_CHECK(hit.name.empty());
    if (!hit.properties.empty()) {
        const auto properties = nlohmann::json::parse(hit.properties, nullptr, false);
        TALLY_FUZZ_CHECK(properties.is_object() && !properties.empty());
        TALLY_FUZZ_CHECK(properties.size() <= 64 && hit.properties.size() <= 8192);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    ParseBuffers fresh;
    CompatHit hit;
    const auto rejection = parse(body, hit, fresh);
    CompatHit again;
    const auto rejection_again = parse(body, again, fuzz::buffers());
    TALLY_FUZZ_CHECK(fuzz::same_rejection(rejection, rejection_again));
    if (rejection) {
        fuzz::check_rejection(*rejection);
        return 0;
    }
    TALLY_FUZZ_CHECK(same_hit(hit, again));
    check_hit(hit);
    for (const std::string& site : hit.sites) {
        Event event;
        compat_event(hit, site, fuzz::context(), "0123456789abcdef", "0123456789abcdef-1", event);
        TALLY_FUZZ_CHECK(valid_site(event.site));
        TALLY_FUZZ_CHECK(event.kind == EventKind::pageview ? !event.page.empty()
                                                           : valid_event_name(event.event_name));
    }
    return 0;
}
