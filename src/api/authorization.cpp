#include "tally/api/authorization.hpp"

namespace tally::api {

namespace {

/// Compares in time independent of where the strings first differ.
bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
    }
    return diff == 0;
}

}  // namespace

std::optional<http::Response> Authorization::check(const http::Request& request) const {
    if (token_.empty())
        return std::nullopt;
    // "Token" is how the InfluxDB clients send theirs.
    for (const std::string_view scheme :
         {std::string_view("Bearer "), std::string_view("Token ")}) {
        if (request.authorization.starts_with(scheme) &&
            constant_time_equal(request.authorization.substr(scheme.size()), token_)) {
            return std::nullopt;
        }
    }
    if (auto token = http::query_param(request.query, "token");
        token && constant_time_equal(*token, token_)) {
        return std::nullopt;
    }
    http::Response response =
        http::error_response(401, "a valid token is required (Authorization: Bearer)");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tally\"");
    return response;
}

}  // namespace tally::api
