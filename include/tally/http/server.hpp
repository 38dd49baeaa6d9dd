#pragma once
// The HTTP server: a listener and keep-alive sessions on Boost.Beast, one io_context per
// I/O thread (the acceptor deals connections to the threads in turn, and a session never
// leaves its thread: see src/http/server_state.hpp), limits and timeouts (body sizes, header size,
// read and idle timeouts, the connection cap). Beast's templates stay inside src/http.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tally/http/message.hpp"
#include "tally/http/websocket.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;  // 0: pick a free port (see Server::port())
    std::size_t threads = 1;
    std::size_t header_limit = std::size_t{8} * 1024;         // larger headers -> 431
    std::size_t body_limit = std::size_t{64} * 1024;          // larger bodies -> 413
    std::size_t large_body_limit = std::size_t{1024} * 1024;  // for the paths below
    /// Paths (exact) that accept large_body_limit: /track/batch, /api/v1/metrics.
    std::function<bool(std::string_view path)> allows_large_body;
    /// From its first byte, a request (header and body) must arrive whole within this; an
    /// answer must be taken by the client within it too.
    std::chrono::milliseconds read_timeout{10'000};
    /// A keep-alive connection may wait this long for the first byte of its next request.
    std::chrono::milliseconds idle_timeout{60'000};
    /// HTTP connections; beyond: accepted, sent a 503 and closed at once. A connection that
    /// becomes a WebSocket leaves this budget (websocket_accept keeps the WebSockets' own), so
    /// dashboards cannot crowd out tracking.
    std::size_t max_connections = 10'000;
    /// The path served as a WebSocket (itself and the paths below it: "/ws", "/ws/metrics/x"),
    /// "" for none, and what decides on its upgrade requests (see tally/http/websocket.hpp).
    /// Other requests to it go to the Handler.
    std::string websocket_path;
    WsAccept websocket_accept;
    /// A WebSocket client that sends nothing (not even a pong) for this long is dropped.
    std::chrono::milliseconds websocket_idle_timeout{30'000};
};

/// Counters the server keeps about itself; /metrics reads them.
struct ServerStats {
    std::atomic<std::int64_t> open_connections{0};  // HTTP, not yet (or never) upgraded
    std::atomic<std::int64_t> open_websockets{0};
    std::atomic<std::uint64_t> accepted_connections{0};
    std::atomic<std::uint64_t> refused_connections{0};  // over max_connections
    std::atomic<std::uint64_t> timeouts{0};             // read, idle and write timeouts
    std::atomic<std::uint64_t> protocol_errors{0};      // unparseable requests (400/413/431)

    /// Open connections, refused connections and timeouts, as gauges and counters.
    void register_metrics(telemetry::Metrics& metrics) const;
};

class Server {
  public:
    /// `stats` must outlive the Server.
    Server(ServerOptions options, Handler handler, ServerStats& stats);
    /// Give every owed Reply before this (after run() has returned is fine): a Reply given
    /// after the Server is destroyed is dropped, and its connection's memory is leaked.
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds and listens; throws std::system_error naming the address on failure.
    void start();
    /// The bound port (useful with port 0).
    std::uint16_t port() const;
    /// Runs the I/O threads; returns once stop() has drained them.
    void run();
    /// Stops accepting, lets in-flight requests finish (up to `grace`), closes idle
    /// keep-alive connections, and makes run() return. Thread-safe, idempotent.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::http
