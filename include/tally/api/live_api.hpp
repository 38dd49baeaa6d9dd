#pragma once
// GET /ws?site=S&date=D: the upgrade decision for a live dashboard. The authorization step,
// then the same site and range checks as /dashboard (400 naming the parameter), then the
// hub takes the client or refuses it (503 over live.max_clients).

#include <memory>
#include <variant>

#include "tally/api/authorization.hpp"
#include "tally/http/websocket.hpp"
#include "tally/live/hub.hpp"

namespace tally::api {

class LiveApi {
  public:
    LiveApi(const Authorization& authorization, live::Hub& hub)
        : authorization_(authorization), hub_(hub) {}

    /// The answer to send instead of upgrading, or the new connection's peer.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> upgrade(
        const http::Request& request) const;

  private:
    const Authorization& authorization_;
    live::Hub& hub_;
};

}  // namespace tally::api
