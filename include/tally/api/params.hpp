#pragma once
// The request parameters several APIs share, parsed once and answered with the same 400
// wherever they appear: ?site= (default "default"), a dashboard range (today, a day, an
// ISO week, a month) and integers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/http/router.hpp"
#include "tally/query/query.hpp"

namespace tally::api {

/// The site a read asks for when it names none.
inline constexpr std::string_view kDefaultSite = "default";

/// ?site=, or "default"; nullopt with the 400 in `error` when malformed.
std::optional<std::string> site_param(const http::Request& request, http::Response& error);

/// "today", YYYY-MM-DD, YYYY-Www or YYYY-MM at `now_ms`; nullopt with the 400 (naming
/// `date`) in `error` when it is none of them.
std::optional<query::DayRange> range_param(std::string_view text, std::int64_t now_ms,
                                           http::Response& error);

/// The client's address: the peer's, or, when the peer is one of `trusted_proxies`, the
/// rightmost X-Forwarded-For hop that is not one of them.
std::string client_address(const http::Request& request,
                           const std::vector<std::string>& trusted_proxies);

/// A whole decimal integer, nothing else.
std::optional<std::int64_t> parse_int(std::string_view text);

}  // namespace tally::api
