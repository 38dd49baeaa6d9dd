#pragma once
// WS /ws/metrics/<client_id>: live metric values pushed to subscribers.
//
// A client subscribes with {"type":"subscribe","metrics":["a","b"],"window":"1m",
// "tags":{"k":"v"}} (and unsubscribes with {"type":"unsubscribe","metrics":[...]}, or all
// without a list). The answer comes at once: one metric_data frame with the /current figures
// of every subscribed metric. Then, every live.batch_ms, the hub asks the engine which names
// changed since its last look and sends each client whose subscription holds one of them a
// fresh metric_data frame: at most one frame per batch per client, and none while nothing
// it follows changed. A bad message is answered {"type":"error","error":...} and the
// connection stays.
//
// Every frame stands on its own (all the client's metrics), so a lagging client keeps only
// the newest queued frame: the one-pending-frame rule of the WebSocket layer loses nothing
// a client needs.

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/http/websocket.hpp"
#include "tally/metrics/engine.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::live {

struct MetricsHubOptions {
    std::chrono::milliseconds batch{100};
    std::size_t max_clients = 10'000;
};

class MetricsHub {
  public:
    MetricsHub(metrics::Engine& engine, MetricsHubOptions options);
    ~MetricsHub();  // stop()
    MetricsHub(const MetricsHub&) = delete;
    MetricsHub& operator=(const MetricsHub&) = delete;

    void start();
    void stop();

    /// A new client of `workspace`'s metrics (the engine's name: "" for the default one;
    /// the upgrade was authorized); 503 over max_clients.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> accept(std::string client_id,
                                                                       std::string workspace);

    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    class Client;
    struct Shared;
    void broadcast();

    metrics::Engine& engine_;
    MetricsHubOptions options_;
    std::shared_ptr<Shared> shared_;
    BackgroundLoop loop_;
};

}  // namespace tally::live
