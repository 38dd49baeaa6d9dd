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

}  // namespace tally::api
