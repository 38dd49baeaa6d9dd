#pragma once
// A small WebSocket client for the tests (Beast, compiled once here): connect to tallyd's
// /ws, read text frames with a timeout, send text.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tally::test {

class WsClient {
  public:
    /// Connects to ws://127.0.0.1:`port``target`. `receive_buffer` > 0 shrinks the socket's
    /// receive buffer (a client that never reads then blocks the server's writes sooner).
    /// `source_ip` (another loopback address, 127.0.0.2 ...) makes the client another
    /// address to the server.
    explicit WsClient(int port, const std::string& target = "/ws",
                      const std::vector<std::pair<std::string, std::string>>& headers = {},
                      int receive_buffer = 0, const std::string& source_ip = "");
    ~WsClient();
    WsClient(const WsClient&) = delete;
    WsClient& operator=(const WsClient&) = delete;

    /// True once the handshake succeeded (and until the connection fails).
    bool connected() const;
    /// The HTTP status of the handshake's answer (101 when accepted, 0 when none came).
    int status() const;

    void send(const std::string& text);
    /// The next text frame, or nullopt when none came within `timeout` or the connection
    /// ended (then connected() is false).
    std::optional<std::string> read(std::chrono::milliseconds timeout);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tally::test
