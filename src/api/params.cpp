#include "tally/api/params.hpp"

#include <charconv>

#include "tally/base/names.hpp"

namespace tally::api {

std::optional<std::string> site_param(const http::Request& request, http::Response& error) {
    auto site = http::query_param(request.query, "site");
    if (!site)
        return std::string(kDefaultSite);
    if (!valid_site(*site)) {
        error = http::error_response(400, "site must match [A-Za-z0-9._-]{1,64}", "site");
        return std::nullopt;
    }
    return site;
}

std::optional<query::DayRange> range_param(std::string_view text, std::int64_t now_ms,
                                           http::Response& error) {
    auto range = query::parse_range(text, now_ms);
    if (!range) {
        error = http::error_response(400, "date must be today, YYYY-MM-DD, YYYY-Www or YYYY-MM",
                                     "date");
    }
    return range;
}

std::optional<std::int64_t> parse_int(std::string_view text) {
    std::int64_t value = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || p != text.data() + text.size() || text.empty())
        return std::nullopt;
    return value;
}

std::string client_address(const http::Request& request,
                           const std::vector<std::string>& trusted_proxies) {
    const std::string_view peer = request.client_ip;
    auto trusted = [&](std::string_view ip) {
        for (const auto& proxy : trusted_proxies) {
            if (proxy == ip)
                return true;
        }
        return false;
    };
    if (request.x_forwarded_for.empty() || !trusted(peer))
        return std::string(peer);
    // "client, proxy1, proxy2": walk from the right past our own trusted proxies.
    std::string_view list = request.x_forwarded_for;
    while (!list.empty()) {
        const auto comma = list.rfind(',');
        std::string_view hop = comma == std::string_view::npos ? list : list.substr(comma + 1);
        while (!hop.empty() && hop.front() == ' ')
            hop.remove_prefix(1);
        while (!hop.empty() && hop.back() == ' ')
            hop.remove_suffix(1);
        if (!hop.empty() && !trusted(hop))
            return std::string(hop);
        if (comma == std::string_view::npos)
            break;
        list = list.substr(0, comma);
    }
    return std::string(peer);
}

}  // namespace tally::api
