#pragma once
// The upgrade decisions of the live WebSockets, after the authorization step:
//   GET /ws?site=S&date=D          a live dashboard: the same site and range checks as
//                                  /dashboard (400 naming the parameter), then the hub
//                                  takes the client or refuses it (503 over live.max_clients);
//   GET /ws/metrics/<client_id>    live metric values (the metrics hub).

#include <memory>
#include <variant>

#include "tally/api/authorization.hpp"
#include "tally/http/websocket.hpp"
#include "tally/live/hub.hpp"
#include "tally/live/metrics_hub.hpp"

namespace tally::api {

class LiveApi {
  public:
    LiveApi(const Authorization& authorization, live::Hub& hub, live::MetricsHub& metrics_hub)
        : authorization_(authorization), hub_(hub), metrics_hub_(metrics_hub) {}

    /// The answer to send instead of upgrading, or the new connection's peer.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> upgrade(
        const http::Request& request) const;

  private:
    const Authorization& authorization_;
    live::Hub& hub_;
    live::MetricsHub& metrics_hub_;
};

}  // namespace tally::api
