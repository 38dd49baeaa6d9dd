// Fuzzes the URLs webhooks and reports are sent to: a URL either parses into a host, a
// port and a request target that carry no space or control character (nothing can be
// smuggled into the request line or Host), and parses again the same from its parts, or is
// refused with a reason.

#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/http/client.hpp"

using namespace tally::http;

namespace {

bool printable(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const UrlParse parsed = parse_client_url(text);
    if (!parsed.url) {
        TALLY_FUZZ_CHECK(!parsed.error.empty());
        return 0;
    }
    const ClientUrl& url = *parsed.url;
    TALLY_FUZZ_CHECK(!url.host.empty() && url.port != 0);
    TALLY_FUZZ_CHECK(printable(url.host) && printable(url.target) && printable(url.host_header));
    TALLY_FUZZ_CHECK(url.target.starts_with("/"));
    const UrlParse again = parse_client_url("http://" + url.host_header + url.target);
    TALLY_FUZZ_CHECK(again.url);
    TALLY_FUZZ_CHECK(again.url->host == url.host && again.url->port == url.port &&
                     again.url->target == url.target);
    return 0;
}
