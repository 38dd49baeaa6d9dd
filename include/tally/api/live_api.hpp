#pragma once
// The upgrade decisions of the live WebSockets, after the authorization step:
//   GET /ws?site=S&date=D          a live dashboard: the same site and range checks as
//                                  /dashboard (400 naming the parameter), then the hub
//                                  takes the client or refuses it (503 over live.max_clients);
//   GET /ws/metrics/<client_id>    live metric values (the metrics hub).
// Either way one client address holds at most live.max_clients_per_ip of them (429 past it),
// so one machine cannot take every place.

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "tally/api/authorization.hpp"
#include "tally/http/websocket.hpp"
#include "tally/live/hub.hpp"
#include "tally/live/metrics_hub.hpp"

namespace tally::api {

/// Open live connections per client address, capped. The map holds only addresses with a
/// connection open (an entry goes with its last one), so it is bounded by the live caps.
class ConnectionsPerClient {
  public:
    explicit ConnectionsPerClient(std::size_t cap) : state_(std::make_shared<State>(cap)) {}

    /// A place for one more connection from `address`, held until the returned handle is
    /// destroyed; null when the address already holds `cap`.
    std::shared_ptr<void> take(const std::string& address);

  private:
    struct State {
        explicit State(std::size_t c) : cap(c) {}
        const std::size_t cap;
        mutable std::mutex mutex;
        std::unordered_map<std::string, std::size_t> open;
    };
    // Shared with every handle, so a handle may outlive this object (a connection closing
    // after the API is gone at shutdown).
    std::shared_ptr<State> state_;
};

struct LiveOptions {
    std::vector<std::string> trusted_proxies;  // whose X-Forwarded-For names the client
    std::size_t max_clients_per_ip = 100;
};

class LiveApi {
  public:
    LiveApi(const Authorization& authorization, live::Hub& hub, live::MetricsHub& metrics_hub,
            LiveOptions options)
        : authorization_(authorization),
          hub_(hub),
          metrics_hub_(metrics_hub),
          options_(std::move(options)),
          per_client_(options_.max_clients_per_ip) {}

    /// The answer to send instead of upgrading, or the new connection's peer.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> upgrade(
        const http::Request& request) const;

  private:
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> accept(const http::Request& request,
                                                                       const Access& access) const;

    const Authorization& authorization_;
    live::Hub& hub_;
    live::MetricsHub& metrics_hub_;
    const LiveOptions options_;
    mutable ConnectionsPerClient per_client_;
};

}  // namespace tally::api
