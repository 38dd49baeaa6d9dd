// The WebSocket session: handshake, a read loop, and a write side holding at most one
// pending frame.
//
//   run ──► on_accept ──► do_read ──► on_read ──► (peer->on_message) ──► do_read ...
//
//   send (any thread) ──post──► on_send ──► do_write ──► on_write ──► do_write (pending_)
//
// Everything but send() runs on the session's worker thread, so the fields need no lock.
// The session is owned by its pending operations and by the handlers send() posts; the
// layer above holds weak references only. Errors end the session quietly: a closed or
// timed-out connection is the normal end of a dashboard.

#include "ws_session.hpp"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace tally::http {

namespace {
// Client messages are small commands ({"type":"subscribe",...}).
constexpr std::size_t kMaxMessage = 4096;
}  // namespace

ws_session::ws_session(stream_type&& stream, server_state& state, worker& w,
                       std::shared_ptr<WsPeer> peer)
    : state_(state), worker_(w), ws_(std::move(stream)), peer_(std::move(peer)) {
    state_.stats.open_websockets.fetch_add(1, std::memory_order_relaxed);
}

ws_session::~ws_session() {
    state_.stats.open_websockets.fetch_sub(1, std::memory_order_relaxed);
}

void ws_session::run(request_type request) {
    request_ = std::move(request);
    // The HTTP session's deadline must go: the websocket stream has timeouts of its own.
    beast::get_lowest_layer(ws_).expires_never();
    beast::websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = state_.options.read_timeout;
    timeout.idle_timeout = state_.options.websocket_idle_timeout;
    timeout.keep_alive_pings = true;  // a ping at half the idle timeout; a live client pongs
    ws_.set_option(timeout);
    ws_.set_option(
        beast::websocket::stream_base::decorator([](beast::websocket::response_type& res) {
            res.set(beast::http::field::server, "tally");
        }));
    ws_.read_message_max(kMaxMessage);
    // One WebSocket frame per message: Beast would otherwise cut a frame into pieces of its
    // write buffer (4 KiB), each its own write, and a busy batch's delta is about 5 KiB.
    ws_.auto_fragment(false);
    worker_.track(weak_from_this());
    ws_.async_accept(request_,
                     beast::bind_front_handler(&ws_session::on_accept, shared_from_this()));
}

void ws_session::on_accept(beast::error_code ec) {
    request_ = {};
    if (ec)
        return;
    if (state_.stopping.load(std::memory_order_acquire)) {
        beast::get_lowest_layer(ws_).close();
        return;
    }
    open_ = true;
    peer_->on_open(std::weak_ptr<WsConnection>(shared_from_this()));
    do_read();
}

void ws_session::do_read() {
    ws_.async_read(buffer_, beast::bind_front_handler(&ws_session::on_read, shared_from_this()));
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
    if (ec) {
        // Closed by the client, timed out, or stopped: the session ends once the write side
        // lets go too (its operation fails the same way).
        if (ec == beast::error::timeout)
            state_.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
        open_ = false;
        pending_.reset();
        return;
    }
    if (ws_.got_text()) {
        const std::string text = beast::buffers_to_string(buffer_.data());
        peer_->on_message(text);
    }
    buffer_.consume(buffer_.size());
    do_read();
}

void ws_session::send(std::shared_ptr<const std::string> frame, bool snapshot) {
    // From the broadcaster's thread: onto the session's own.
    net::post(worker_.ioc(), [self = shared_from_this(), frame = std::move(frame),
                              snapshot]() mutable { self->on_send(std::move(frame), snapshot); });
}

void WsBatch::flush() {
    // Every WsConnection is a ws_session: this file is the only implementation. Usually
    // all of them live on one io_context (the live worker's).
    std::map<net::io_context*, std::vector<Item>> by_thread;
    for (Item& item : items_) {
        auto& session = static_cast<ws_session&>(*item.connection);
        by_thread[&session.worker_.ioc()].push_back(std::move(item));
    }
    items_.clear();
    for (auto& [ioc, items] : by_thread) {
        net::post(*ioc, [items = std::move(items)]() mutable {
            for (Item& item : items) {
                static_cast<ws_session&>(*item.connection)
                    .on_send(std::move(item.frame), item.snapshot);
            }
        });
    }
}

void ws_session::on_send(std::shared_ptr<const std::string> frame, bool snapshot) {
    if (!open_)
        return;
    if (snapshot) {
        // Stands on its own: whatever waited is superseded.
        resync_ = false;
        pending_ = std::move(frame);
    } else if (resync_) {
        return;  // a delta on a state the client no longer has; a snapshot is coming
    } else if (pending_) {
        // The client lags by two frames. Deltas cannot be skipped, and merging them here
        // would mean parsing JSON per client: drop both and have the next frame a snapshot.
        pending_.reset();
        resync_ = true;
        peer_->on_lagging();
        return;
    } else {
        pending_ = std::move(frame);
    }
    if (!writing_)
        do_write();
}

void ws_session::do_write() {
    writing_ = std::move(pending_);
    pending_.reset();
    ws_.text(true);
    ws_.async_write(net::buffer(*writing_),
                    beast::bind_front_handler(&ws_session::on_write, shared_from_this()));
}

void ws_session::on_write(beast::error_code ec, std::size_t) {
    writing_.reset();
    if (ec) {
        open_ = false;
        pending_.reset();
        return;
    }
    if (open_ && pending_)
        do_write();
}

void ws_session::on_server_stop() {
    open_ = false;
    pending_.reset();
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().close(ec);
}

}  // namespace tally::http
