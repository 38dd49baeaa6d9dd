// Fuzzes what the mirror reads back from Redis and from its configuration: a checkpoint hash
// (parse_checkpoint: never throws, counts what it skips, keeps only well-formed fields) and
// redis:// URLs (parse_redis_url: a port in 1..65535, a database >= 0).
//
// Input: NUL-separated strings; the first is tried as a URL, the rest are field/value pairs.

#include "fuzz_support.hpp"
#include "tally/mirror/day_image.hpp"
#include "tally/redis/address.hpp"

using namespace tally::mirror;
using tally::redis::parse_redis_url;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= input.size()) {
        const std::size_t end = std::min(input.find('\0', start), input.size());
        parts.emplace_back(input.substr(start, end - start));
        start = end + 1;
    }
    if (auto address = parse_redis_url(parts[0])) {
        TALLY_FUZZ_CHECK(!address->host.empty());
        TALLY_FUZZ_CHECK(address->port >= 1 && address->port <= 65535);
        TALLY_FUZZ_CHECK(address->db >= 0);
    }
    std::vector<std::pair<std::string, std::string>> fields;
    for (std::size_t i = 1; i + 1 < parts.size(); i += 2)
        fields.emplace_back(parts[i], parts[i + 1]);
    std::size_t bad = 0;
    const Shipped shipped = parse_checkpoint(fields, &bad);
    TALLY_FUZZ_CHECK(bad <= fields.size());
    const std::size_t kept = shipped.events.size() + shipped.pages.size() +
                             shipped.referrers.size() + shipped.countries.size();
    TALLY_FUZZ_CHECK(kept <= fields.size() - bad);
    return 0;
}
