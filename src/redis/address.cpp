// Parsing redis:// URLs (address.hpp).

#include "tally/redis/address.hpp"

#include <charconv>

namespace tally::redis {

std::optional<RedisAddress> parse_redis_url(std::string_view url) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme)
        return std::nullopt;
    url.remove_prefix(scheme.size());
    RedisAddress address;
    std::string_view db;
    if (auto slash = url.find('/'); slash != std::string_view::npos) {
        db = url.substr(slash + 1);
        url = url.substr(0, slash);
    }
    std::string_view port;
    if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
        port = url.substr(colon + 1);
        url = url.substr(0, colon);
    }
    if (url.empty())
        return std::nullopt;
    address.host = std::string(url);
    auto number = [](std::string_view text, int& out, int max) {
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, out);
        return ec == std::errc() && ptr == end && out >= 0 && out <= max;
    };
    if (!port.empty() && (!number(port, address.port, 65535) || address.port == 0))
        return std::nullopt;
    if (!db.empty() && !number(db, address.db, 1'000'000))
        return std::nullopt;
    return address;
}

}  // namespace tally::redis
