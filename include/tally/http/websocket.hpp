#pragma once
// The WebSocket seam between the server (src/http, Beast) and the layer that serves the
// connections (src/live), free of Beast like the rest of include/tally/http.
//
// An upgrade request to ServerOptions::websocket_path goes to ServerOptions::websocket_accept
// before the handshake. It either refuses (a Response: 401 without the token, 503 over the
// client cap), or accepts with a WsPeer. The server then completes the handshake and hands
// the peer its connection (WsPeer::on_open). The connection owns the peer; the layer above
// keeps only weak references to either, so a closed connection simply goes away.
//
// Frames out are shared: one std::string per broadcast, held by every connection it goes
// to (Beast chat-multi's shared_ptr<const std::string>). A connection never queues more
// than one frame besides the one it is writing; what happens when a client lags is part of
// the contract of WsConnection::send.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tally/http/message.hpp"

namespace tally::http {

/// One open WebSocket connection, as the layer above sees it.
class WsConnection {
  public:
    virtual ~WsConnection() = default;

    /// Queues a text frame; thread-safe, never blocks. A `snapshot` (a frame that stands on
    /// its own) replaces whatever frame is queued. A delta is queued if the queue is empty;
    /// if it is not, the client is lagging: both are dropped, every later delta too, and the
    /// peer is told (WsPeer::on_lagging) so that its next frame is a snapshot.
    virtual void send(std::shared_ptr<const std::string> frame, bool snapshot) = 0;
};

/// Frames for many connections at once, each with WsConnection::send's contract, delivered
/// with one post per I/O thread instead of one per connection: a broadcaster that serves
/// 10,000 dashboards would otherwise queue 10,000 handlers (and wake-ups) per batch.
class WsBatch {
  public:
    void add(std::shared_ptr<WsConnection> connection, std::shared_ptr<const std::string> frame,
             bool snapshot) {
        items_.push_back({std::move(connection), std::move(frame), snapshot});
    }
    /// Hands every frame added to its connection's thread; never blocks. Empties the batch.
    void flush();

    struct Item {
        std::shared_ptr<WsConnection> connection;
        std::shared_ptr<const std::string> frame;
        bool snapshot = false;
    };

  private:
    std::vector<Item> items_;
};

/// The layer above's side of one connection. Owned by the connection.
class WsPeer {
  public:
    virtual ~WsPeer() = default;

    /// The handshake is done; `connection` may be sent to from now on.
    virtual void on_open(std::weak_ptr<WsConnection> connection) = 0;
    /// A text message from the client, on the connection's thread.
    virtual void on_message(std::string_view text) = 0;
    /// The connection dropped frames (see WsConnection::send); on the connection's thread.
    virtual void on_lagging() = 0;
};

/// Decides on an upgrade request: a Response refuses it, a peer accepts it. Called on the
/// connection's I/O thread; must not throw.
using WsAccept = std::function<std::variant<Response, std::shared_ptr<WsPeer>>(const Request&)>;

}  // namespace tally::http
