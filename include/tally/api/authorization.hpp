#pragma once
// The authorization step every read takes (dashboards, series, /metrics, the /ws
// upgrade): with a token configured, a request must carry it as "Authorization: Bearer
// <token>" or ?token=<token>; else it is answered 401 with WWW-Authenticate. Tracking is
// never behind the token: browsers send it from pages anyone can read.

#include <optional>
#include <string>

#include "tally/http/router.hpp"

namespace tally::api {

class Authorization {
  public:
    /// An empty `token` lets every read in.
    explicit Authorization(std::string token) : token_(std::move(token)) {}

    /// nullopt when the request may read; else the 401 to send.
    std::optional<http::Response> check(const http::Request& request) const;

  private:
    std::string token_;
};

}  // namespace tally::api
