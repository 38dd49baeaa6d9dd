#pragma once
// One WebSocket connection (Beast chat-multi's websocket_session, with a queue cap).

#include <memory>
#include <string>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net.hpp"
#include "server_state.hpp"
#include "tally/http/websocket.hpp"

namespace tally::http {

/** A WebSocket connection on one worker thread, taken over from an HTTP session after its
    upgrade request was accepted.

    Frames out: `writing_` is being written, `pending_` waits; nothing else is ever held, so a
    client that does not read costs one frame of memory beyond the socket's buffers (see
    WsConnection::send for what is dropped instead). Frames in: read continuously, which is
    also what answers pings and notices a close; a client that sends nothing, pongs
    included, for websocket_idle_timeout is dropped (Beast pings it half way through).
*/
class ws_session : public WsConnection, public std::enable_shared_from_this<ws_session> {
  public:
    using request_type = beast::http::request<beast::http::empty_body>;

    ws_session(stream_type&& stream, server_state& state, worker& w, std::shared_ptr<WsPeer> peer);
    ~ws_session() override;

    /// Answers the upgrade request; on the worker's thread.
    void run(request_type request);
    /// Server::stop(), on the worker's thread: closes the connection.
    void on_server_stop();

    void send(std::shared_ptr<const std::string> frame, bool snapshot) override;

  private:
    friend class WsBatch;
    void on_accept(beast::error_code ec);
    void do_read();
    void on_read(beast::error_code ec, std::size_t bytes);
    void on_send(std::shared_ptr<const std::string> frame, bool snapshot);
    void do_write();
    void on_write(beast::error_code ec, std::size_t bytes);

    server_state& state_;
    worker& worker_;
    beast::websocket::stream<stream_type> ws_;
    beast::flat_buffer buffer_;
    request_type request_;
    std::shared_ptr<WsPeer> peer_;
    std::shared_ptr<const std::string> writing_;
    std::shared_ptr<const std::string> pending_;
    bool open_ = false;    // handshake done, not yet closed
    bool resync_ = false;  // frames were dropped: deltas are ignored until a snapshot
};

}  // namespace tally::http
