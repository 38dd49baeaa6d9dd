// Fuzzes the string rules on raw bytes (the JSON layer is bypassed, so every byte
// sequence reaches them): page keys and referrer hosts are non-empty slices with the
// promised shape, and the name checks agree with their character classes.

#include "fuzz_support.hpp"

using namespace tally;
using namespace tally::ingest;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    const std::string page = page_key(text);
    TALLY_FUZZ_CHECK(!page.empty() && page.size() <= std::max<std::size_t>(size, 1));
    TALLY_FUZZ_CHECK(page.find_first_of("?#") == std::string::npos);
    TALLY_FUZZ_CHECK(page == "/" || text.find(page) != std::string_view::npos);

    const std::string host = referrer_host(text);
    TALLY_FUZZ_CHECK(!host.empty());
    TALLY_FUZZ_CHECK(host == "direct" || text.find("://") != std::string_view::npos);
    TALLY_FUZZ_CHECK(host.find_first_of("/?#@") == std::string::npos);
    for (const char c : host) {
        TALLY_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
    }

    TALLY_FUZZ_CHECK(static_cast<int>(guess_device(text)) < kDeviceCount);
    if (valid_site(text) || valid_event_name(text)) {
        TALLY_FUZZ_CHECK(size >= 1 && size <= 64);
    }
    return 0;
}
