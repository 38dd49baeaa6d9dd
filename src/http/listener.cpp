// The listener (Beast's listener, without strands).
//
// Each accept targets the io_context of the next worker in turn, so the accepted socket
// already belongs to the thread that will run its session. The connection cap is enforced
// here: a connection over `max_connections` is still accepted (otherwise it would sit in the
// kernel's backlog and the client would wait without an answer), sent a fixed 503 with a
// single non-blocking write, and closed at once.
//
// Accept errors other than cancellation (EMFILE, ENFILE, ENOBUFS...) are not fatal: the
// listener waits a little and tries again, instead of spinning or giving up for good.

#include "listener.hpp"

#include <chrono>
#include <string_view>
#include <system_error>

#include <boost/beast/core/bind_handler.hpp>

#include "session.hpp"

namespace tally::http {

namespace {

// Sent to a refused connection. Short enough for any fresh socket's send buffer.
constexpr std::string_view kServiceUnavailable =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Server: tally\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 32\r\n"
    "Connection: close\r\n"
    "\r\n"
    "{\"error\":\"too many connections\"}";

constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(50);

}  // namespace

listener::listener(server_state& state, net::io_context& ioc)
    : state_(state), ioc_(ioc), acceptor_(ioc), retry_timer_(ioc) {}

void listener::open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    auto check = [&](const char* what) {
        if (ec) {
            std::string where = endpoint.address().to_string();
            if (endpoint.address().is_v6()) {
                where = "[" + where + "]";
            }
            where += ":" + std::to_string(endpoint.port());
            throw std::system_error(ec, std::string("cannot ") + what + " " + where);
        }
    };
    acceptor_.open(endpoint.protocol(), ec);
    check("open a socket for");
    // A restarted daemon must be able to bind while old connections sit in TIME_WAIT.
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    check("set SO_REUSEADDR on");
    acceptor_.bind(endpoint, ec);
    check("bind");
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    check("listen on");
    port_ = acceptor_.local_endpoint(ec).port();
    check("read the port of");
}

void listener::run() {
    // Start on the acceptor's own thread, like everything else the listener does.
    net::post(ioc_, beast::bind_front_handler(&listener::do_accept, shared_from_this()));
}

void listener::close() {
    closed_ = true;
    beast::error_code ec;
    retry_timer_.cancel();
    acceptor_.close(ec);  // the pending accept completes with operation_aborted
}

void listener::do_accept() {
    if (closed_ || !acceptor_.is_open()) {
        return;
    }
    auto& target = *state_.workers[next_worker_];
    // The socket is created on the target worker's io_context: its session runs there.
    acceptor_.async_accept(target.ioc(),
                           beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(beast::error_code ec, socket_type socket) {
    if (ec == net::error::operation_aborted || closed_) {
        return;  // closed by stop(); a socket accepted meanwhile is simply closed
    }
    if (ec) {
        // Probably out of descriptors or memory: try again shortly rather than spin.
        retry_timer_.expires_after(kAcceptRetryDelay);
        retry_timer_.async_wait(beast::bind_front_handler(&listener::on_retry, shared_from_this()));
        return;
    }

    auto& stats = state_.stats;
    if (stats.open_connections.load(std::memory_order_relaxed) >=
        static_cast<std::int64_t>(state_.options.max_connections)) {
        stats.refused_connections.fetch_add(1, std::memory_order_relaxed);
        refuse(socket);
    } else {
        stats.accepted_connections.fetch_add(1, std::memory_order_relaxed);
        auto& w = *state_.workers[next_worker_];
        try {
            // The session counts itself in open_connections from its constructor (here, on
            // the accepting thread, so the cap holds before it starts) to its destructor.
            session::start(std::make_shared<session>(std::move(socket), state_, w));
        } catch (const std::exception&) {
            // Out of memory: the socket closes with the half-built session. No exception may
            // leave an async handler, and the next connection may fare better.
        }
        next_worker_ = (next_worker_ + 1) % state_.workers.size();
    }
    do_accept();
}

void listener::on_retry(beast::error_code ec) {
    if (ec) {
        return;  // cancelled by close()
    }
    do_accept();
}

void listener::refuse(socket_type& socket) {
    // One non-blocking write: a fresh socket's send buffer always takes these few bytes,
    // and if not, the client just sees the connection closed. Never blocks this thread.
    beast::error_code ec;
    socket.non_blocking(true, ec);
    if (!ec) {
        socket.write_some(net::buffer(kServiceUnavailable.data(), kServiceUnavailable.size()), ec);
    }
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
}

}  // namespace tally::http
