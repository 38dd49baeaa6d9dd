#pragma once
// The acceptor: listens on one endpoint (on worker 0's io_context) and deals the accepted
// sockets round-robin to the workers, each one a new session.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "net.hpp"
#include "server_state.hpp"

namespace tally::http {

/** Accepts connections and starts a session for each.

    Owned by shared_ptr: the pending accept holds a reference, so the listener lives as long
    as it accepts. Everything except open() and port() runs on worker 0's thread.
*/
class listener : public std::enable_shared_from_this<listener> {
  public:
    listener(server_state& state, net::io_context& ioc);

    /// Opens, binds and listens (SO_REUSEADDR); throws std::system_error on failure.
    void open(const tcp::endpoint& endpoint);
    std::uint16_t port() const { return port_; }

    /// Starts accepting (posts to the io_context; callable from any thread before run).
    void run();
    /// Stops accepting; must run on the acceptor's io_context.
    void close();

  private:
    void do_accept();
    void on_accept(beast::error_code ec, socket_type socket);
    void on_retry(beast::error_code ec);
    void refuse(socket_type& socket);

    server_state& state_;
    net::io_context& ioc_;
    tcp::acceptor acceptor_;
    net::steady_timer retry_timer_;  // backs off when accept fails (e.g. out of descriptors)
    std::uint16_t port_ = 0;
    std::size_t next_worker_ = 0;  // the worker the pending accept hands its socket to
    bool closed_ = false;
};

}  // namespace tally::http
