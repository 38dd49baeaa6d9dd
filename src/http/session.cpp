// The HTTP session (Beast's advanced_server session, adapted).
//
// One request at a time:
//
//   do_read ──► on_first_bytes ──► do_read_header ──► on_read_header ──► do_read_body
//     ▲           (idle_timeout)      (read_timeout starts at the first byte)      │
//     │                                                                            ▼
//   on_write ◄── do_write ◄── on_reply (posted) ◄──── Reply ◄──── dispatch ◄── on_read_body
//
// Timeouts. A keep-alive connection waiting for its next request may sit idle for
// `idle_timeout`; from the first byte of a request, the whole request (header and body) must
// arrive within `read_timeout` (one deadline, not one per read: a slow-drip client cannot
// extend it). Beast has no "wait for readability", so the first byte is awaited with a plain
// read_some into the session's buffer, which the header parser then starts from. While the
// Handler works no timer runs (the daemon may be waiting for an fsync); the answer must be
// written within `read_timeout` too. A timeout closes the connection and counts in
// stats.timeouts, idle ones included.
//
// Limits. The header is read first, with `header_limit` (over it: 431). The body limit
// depends on the path (`allows_large_body`), which is only known once the header is parsed,
// so the parser starts with no body limit and the Content-Length is checked here by hand
// (Beast checks it while parsing the header, against whatever limit was set then); chunked
// bodies are held to the same limit by the parser while the body is read (over it: 413).
// Other parse errors answer 400. After any of those the connection is closed, but lingering:
// the socket's sending side is shut, and whatever the client still sends is read and dropped
// for a moment, so that the kernel does not reset the connection (and destroy the answer)
// because of unread data.
//
// Replies. The Handler gets a Reply, a plain function pointer and this session's address:
// no allocation per request. Given inside the Handler call, the answer is written as soon as
// the Handler returns. Given later, from any thread (the event log answers after its group
// fsync), the answer is moved into the session and the write is posted to the session's own
// worker; meanwhile `self_` keeps the session alive and `work_` keeps the worker running, so
// that stop() waits for it. A Handler that throws before replying is answered 500. A second
// Reply for the same request is ignored (the state is one atomic), but it must not come after
// the next request has begun, or the connection has ended: the Reply is only a raw address.
//
// Allocation. Per request, what remains is the request body (a std::string sized from
// Content-Length) and whatever the Handler allocates for its Response. The header fields of
// the request and of the answer live in a small arena inside the session (field_arena.hpp),
// the read buffer is kept across requests, the answer's body is moved, never copied, and
// Asio recycles the memory of the asynchronous operations. The stream uses the
// io_context's concrete executor rather than any_io_executor (see net.hpp).
//
// Errors are handled through error_code only, and are silent: the counters in ServerStats
// are the record. Nothing here throws out of a completion handler.

#include "session.hpp"

#include "beast_request.hpp"
#include "ws_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <variant>

#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/optional/optional.hpp>

namespace tally::http {

namespace {

namespace bh = beast::http;

// The session whose Handler call is running on this thread: a Reply given for it is
// synchronous and needs no post.
thread_local session* tl_in_handler = nullptr;

// How much the first read of a request asks for: a typical tracking request whole. Beast
// reads more, in larger steps, when a request needs it.
constexpr std::size_t kFirstRead = std::size_t{4} * 1024;
// An idle connection whose read buffer grew over this gives the memory back.
constexpr std::size_t kIdleBufferKeep = std::size_t{16} * 1024;
// A request body string up to this capacity is kept for the next request.
constexpr std::size_t kSpareBodyKeep = std::size_t{4} * 1024;
// After an error answer, how long and how much the client may still send before we close.
constexpr auto kMaxLinger = std::chrono::milliseconds(2000);
constexpr std::size_t kMaxLingerBytes = std::size_t{2} * 1024 * 1024;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

/// The server's own error answers: `{"error":"<message>"}`.
Response error_answer(unsigned status, std::string_view message) {
    Response response;
    response.status = status;
    response.body.reserve(message.size() + 12);
    response.body.append("{\"error\":\"").append(message).append("\"}");
    return response;
}

bool is_parse_error(const beast::error_code& ec) {
    static const auto& category = bh::make_error_code(bh::error::bad_method).category();
    return ec.category() == category;
}

/// A header name or value that would break the answer's framing (response splitting): it
/// holds a CR, a LF or a NUL.
bool unsafe_header_text(std::string_view text) {
    return text.find_first_of("\r\n", 0, 3) != std::string_view::npos;
}

/// Fills `res` from the Handler's answer. Throws std::invalid_argument for a status outside
/// 100..999 (a Handler bug).
void build_response(session::response_type& res, field_arena& arena, Response& response,
                    unsigned version, bool keep_alive, bool head) {
    if (response.status < 100 || response.status > 999) {
        throw std::invalid_argument("HTTP status out of range");
    }
    res = session::response_type(std::piecewise_construct, std::make_tuple(),
                                 std::make_tuple(arena_allocator<char>(&arena)));
    res.version(version == 10 ? 10 : 11);
    res.result(response.status);
    res.set(bh::field::server, "tally");
    // Statuses that never carry a body (RFC 9110 §6.4.1).
    const unsigned status = res.result_int();
    const bool no_body = status / 100 == 1 || status == 204 || status == 304;
    const std::string_view content_type = response.content_type.empty()
                                              ? std::string_view("application/json")
                                              : response.content_type;
    if (!no_body && !unsafe_header_text(content_type))
        res.set(bh::field::content_type, content_type);
    for (const auto& [name, value] : response.headers) {
        // Beast does not check: a CR or LF taken from user input could forge headers.
        if (!name.empty() && !unsafe_header_text(name) && !unsafe_header_text(value)) {
            res.insert(name, value);
        }
    }
    res.keep_alive(keep_alive);
    if (no_body) {
        return;
    }
    const std::size_t length = response.body.size();
    if (!head) {
        res.body() = std::move(response.body);  // moved, never copied
    }
    // HEAD: the Content-Length of the GET, and no body.
    res.content_length(length);
}

}  // namespace

session::session(socket_type&& socket, server_state& state, worker& w)
    : state_(state), worker_(w), stream_(std::move(socket)), gate_(state.gate) {
    state_.stats.open_connections.fetch_add(1, std::memory_order_relaxed);
}

session::~session() {
    unlink();
    state_.stats.open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void session::link() {
    next_ = worker_.sessions_;
    if (next_ != nullptr) {
        next_->prev_ = this;
    }
    worker_.sessions_ = this;
    linked_ = true;
}

void session::unlink() {
    if (!linked_) {
        return;
    }
    if (prev_ != nullptr) {
        prev_->next_ = next_;
    } else {
        worker_.sessions_ = next_;
    }
    if (next_ != nullptr) {
        next_->prev_ = prev_;
    }
    prev_ = next_ = nullptr;
    linked_ = false;
}

void worker::stop_pass() {
    // on_server_stop() never destroys a session synchronously (closing a socket only
    // queues the aborted completions), so walking the list is safe.
    for (session* s = sessions_; s != nullptr; s = s->next_in_worker()) {
        s->on_server_stop();
    }
    for (const auto& weak : websockets_) {
        if (auto ws = weak.lock())
            ws->on_server_stop();
    }
    guard_.reset();
}

void session::start(std::shared_ptr<session> self) {
    // We are on the accepting thread; everything else happens on the session's worker. The
    // reference moves into the posted handler: the accepting thread keeps none, so the
    // session cannot end (and unlink itself) here while its worker walks the list.
    const auto ex = self->stream_.get_executor();
    net::dispatch(ex, [self = std::move(self)]() { self->on_run(); });
}

void session::on_run() {
    link();
    beast::error_code ec;
    // Answers are small and written whole: no reason to let Nagle hold them back.
    stream_.socket().set_option(tcp::no_delay(true), ec);
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) {
        auto address = endpoint.address();
        // On a dual-stack socket IPv4 clients appear as ::ffff:a.b.c.d; show them as IPv4.
        if (address.is_v6() && address.to_v6().is_v4_mapped()) {
            address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
        }
        client_ip_ = address.to_string();
    }
    do_read();
}

void session::do_read() {
    if (state_.stopping.load(std::memory_order_acquire)) {
        return do_shutdown();
    }
    // A new parser for every request (a parser cannot be reused). The body limit is set
    // once the path is known, see on_read_header.
    if (parser_) {
        auto& body = parser_->get().body();
        if (body.capacity() <= kSpareBodyKeep) {
            spare_body_ = std::move(body);
            spare_body_.clear();
        }
    }
    parser_.reset();  // first, so that its fields go back to the arena before the next ones
    parser_.emplace(std::piecewise_construct, std::forward_as_tuple(std::move(spare_body_)),
                    std::make_tuple(arena_allocator<char>(&arena_)));
    parser_->header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        state_.options.header_limit, std::numeric_limits<std::uint32_t>::max())));
    parser_->body_limit(boost::none);

    if (buffer_.size() == 0) {
        if (buffer_.capacity() > kIdleBufferKeep) {
            buffer_.shrink_to_fit();  // an idle connection keeps little memory
        }
        // Nothing pipelined: wait, up to idle_timeout, for the first bytes of a request.
        phase_ = phase::idle;
        stream_.expires_after(state_.options.idle_timeout);
        stream_.async_read_some(
            buffer_.prepare(kFirstRead),
            beast::bind_front_handler(&session::on_first_bytes, shared_from_this()));
        return;
    }
    // The next request is (partly) in the buffer already: its clock starts now.
    phase_ = phase::reading;
    stream_.expires_after(state_.options.read_timeout);
    do_read_header();
}

void session::on_first_bytes(beast::error_code ec, std::size_t bytes) {
    if (phase_ == phase::closing) {
        return;  // closed by stop() while these bytes were on their way
    }
    if (ec) {
        return on_read_error(ec);
    }
    buffer_.commit(bytes);
    // A request has begun: from now on the whole of it must arrive within read_timeout.
    phase_ = phase::reading;
    stream_.expires_after(state_.options.read_timeout);
    do_read_header();
}

void session::do_read_header() {
    bh::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&session::on_read_header, shared_from_this()));
}

void session::on_read_header(beast::error_code ec, std::size_t) {
    if (ec) {
        return on_read_error(ec);
    }
    const auto& req = parser_->get();

    // The body limit depends on the path.
    const std::string_view target = req.target();
    const std::string_view path = target.substr(0, target.find('?'));
    std::uint64_t limit = state_.options.body_limit;
    if (state_.options.allows_large_body) {
        try {
            if (state_.options.allows_large_body(path)) {
                limit = state_.options.large_body_limit;
            }
        } catch (const std::exception&) {
            // A throwing predicate is a bug; the small limit is the safe answer.
        }
    }
    if (const auto length = parser_->content_length(); length && *length > limit) {
        return fail_request(413, "request body too large");
    }
    parser_->body_limit(limit);  // for chunked bodies

    // The WebSocket endpoint: an upgrade is a GET without a body, so it is complete here.
    const std::string& ws_path = state_.options.websocket_path;
    const bool ws_route =
        !ws_path.empty() &&
        (path == ws_path || (path.size() > ws_path.size() + 1 && path.starts_with(ws_path) &&
                             path[ws_path.size()] == '/'));
    if (ws_route && state_.options.websocket_accept && beast::websocket::is_upgrade(req)) {
        return upgrade();
    }

    if (parser_->is_done()) {
        return dispatch();  // no body
    }
    if (req.version() >= 11 && beast::iequals(req[bh::field::expect], "100-continue")) {
        // The client waits for this before sending the body (curl does, over 1 KiB).
        net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                         beast::bind_front_handler(&session::on_continue, shared_from_this()));
        return;
    }
    do_read_body();
}

void session::on_continue(beast::error_code ec, std::size_t) {
    if (ec) {
        return on_read_error(ec);
    }
    do_read_body();
}

void session::do_read_body() {
    bh::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&session::on_read_body, shared_from_this()));
}

void session::on_read_body(beast::error_code ec, std::size_t) {
    if (ec) {
        return on_read_error(ec);
    }
    dispatch();
}

void session::on_read_error(beast::error_code ec) {
    if (ec == beast::error::timeout) {
        // The stream has closed the socket already.
        state_.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if (ec == bh::error::body_limit) {
        return fail_request(413, "request body too large");
    }
    if (ec == bh::error::header_limit) {
        return fail_request(431, "request header fields too large");
    }
    if (ec == bh::error::end_of_stream || ec == bh::error::partial_message) {
        return;  // the client closed the connection (between or during requests)
    }
    if (is_parse_error(ec)) {
        return fail_request(400, "malformed request");
    }
    // operation_aborted (stop), connection reset, ...: the session just ends, and the
    // socket closes with it.
}

void session::fill_request() {
    // The Request: views into the parser's message, valid until the Reply is given.
    to_request(parser_->get(), request_);
    request_.client_ip = client_ip_;
    request_.worker = worker_.index();
}

void session::upgrade() {
    phase_ = phase::handling;
    fill_request();
    std::variant<Response, std::shared_ptr<WsPeer>> decision;
    try {
        decision = state_.options.websocket_accept(request_);
    } catch (...) {
        decision = error_answer(500, "internal error");
    }
    if (auto* refusal = std::get_if<Response>(&decision)) {
        response_ = std::move(*refusal);
        return do_write(parser_->get().version(), false, false);
    }
    // Accepted: the connection becomes a WebSocket session on this same worker. The request
    // is copied out, since its fields live in this session's arena; bytes the client sent
    // after its request would be frames before the handshake's answer, which RFC 6455
    // forbids, so buffer_ is not handed over.
    const auto& req = parser_->get();
    ws_session::request_type copy;
    copy.method(req.method());
    copy.target(req.target());
    copy.version(req.version());
    for (const auto& field : req)
        copy.insert(field.name_string(), field.value());
    phase_ = phase::closing;
    // The WebSocket lives on the live worker (server_state::live): the socket moves to its
    // io_context, and the session starts on its thread. (Should the move fail, which it
    // cannot for a socket of ours, it stays on this worker.)
    worker* home = &worker_;
    std::optional<stream_type> moved;
    if (state_.live) {
        beast::error_code ec;
        auto& old_socket = stream_.socket();
        const auto protocol = old_socket.local_endpoint(ec).protocol();
        if (!ec) {
            const auto fd = old_socket.release(ec);
            if (!ec) {
                stream_type::socket_type socket(state_.live->ioc());
                socket.assign(protocol, fd, ec);
                if (ec) {
                    ::close(fd);  // cannot happen for a descriptor of ours; the client sees EOF
                    return;
                }
                moved.emplace(std::move(socket));
                home = state_.live.get();
            }
        }
    }
    auto ws =
        std::make_shared<ws_session>(moved ? std::move(*moved) : std::move(stream_), state_, *home,
                                     std::move(std::get<std::shared_ptr<WsPeer>>(decision)));
    net::post(home->ioc(),
              [ws = std::move(ws), copy = std::move(copy)]() mutable { ws->run(std::move(copy)); });
    // This session has no operation left and ends when the caller's reference goes.
}

void session::dispatch() {
    phase_ = phase::handling;
    stream_.expires_never();  // the Handler may wait for an fsync; no timer meanwhile
    fill_request();

    sync_replied_ = false;
    reply_state_.store(waiting, std::memory_order_relaxed);
    self_ = shared_from_this();  // in case the Reply comes later (see reply_fn)

    bool threw = false;
    tl_in_handler = this;
    try {
        state_.handler(request_, Reply(&session::reply_fn, this));
    } catch (...) {
        threw = true;  // a bug in the Handler; answered 500 below unless it replied first
    }
    tl_in_handler = nullptr;

    if (sync_replied_) {
        self_.reset();
        return on_reply();
    }
    if (threw) {
        std::uint8_t expected = waiting;
        if (reply_state_.compare_exchange_strong(expected, replied, std::memory_order_acq_rel)) {
            response_ = error_answer(500, "internal error");
            self_.reset();
            return on_reply();
        }
        return;  // replied from another thread before throwing: on_reply is posted
    }
    // The Reply will come from elsewhere (reply_fn posts on_reply). Until then keep the
    // worker's run() going, so that stop() waits for this answer (up to its grace).
    // Note: reply_fn may already have moved self_ away; it is not touched here.
    work_.emplace(worker_.ioc().get_executor());
}

void session::reply_fn(void* self, Response&& response) {
    auto* s = static_cast<session*>(self);
    std::uint8_t expected = waiting;
    if (!s->reply_state_.compare_exchange_strong(expected, replied, std::memory_order_acq_rel)) {
        return;  // a second Reply for one request: a Handler bug, ignored
    }
    if (tl_in_handler == s) {
        // Inside the Handler call, on the session's thread: dispatch() writes it next.
        s->response_ = std::move(response);
        s->sync_replied_ = true;
        return;
    }
    // From elsewhere: hand the answer over to the session's own thread.
    std::shared_lock lock(s->gate_->mutex);
    if (!s->gate_->open) {
        return;  // the server is gone; see session::abandon()
    }
    s->response_ = std::move(response);
    net::post(s->worker_.ioc(), [keep = std::move(s->self_)]() { keep->on_reply(); });
}

void session::on_reply() {
    work_.reset();
    const auto& req = parser_->get();
    do_write(req.version(), req.keep_alive(), req.method() == bh::verb::head);
}

void session::do_write(unsigned version, bool keep_alive, bool head) {
    phase_ = phase::writing;
    // When the server is stopping, this is the connection's last answer.
    keep_alive =
        keep_alive && !linger_after_write_ && !state_.stopping.load(std::memory_order_acquire);
    try {
        build_response(res_, arena_, response_, version, keep_alive, head);
    } catch (const std::exception&) {
        // A status Beast refuses: a Handler bug.
        response_ = error_answer(500, "internal error");
        build_response(res_, arena_, response_, version, keep_alive, head);
    }
    close_after_write_ = !keep_alive;
    // Drop what the answer still holds (a HEAD's body), without constructing a Response
    // (its default content type is one allocation).
    std::string().swap(response_.body);
    response_.headers.clear();
    stream_.expires_after(state_.options.read_timeout);  // a client must take its answer, too
    serializer_.emplace(res_);
    bh::async_write(stream_, *serializer_,
                    beast::bind_front_handler(&session::on_write, shared_from_this()));
}

void session::on_write(beast::error_code ec, std::size_t) {
    if (ec) {
        if (ec == beast::error::timeout) {
            state_.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
        }
        return;
    }
    serializer_.reset();
    res_ = {};  // the body may be large; an idle connection should not hold it
    if (linger_after_write_) {
        return do_linger();
    }
    if (close_after_write_) {
        return do_shutdown();
    }
    do_read();
}

void session::fail_request(unsigned status, std::string_view message) {
    state_.stats.protocol_errors.fetch_add(1, std::memory_order_relaxed);
    response_ = error_answer(status, message);
    linger_after_write_ = true;
    // The request may not even have a valid version: answer in HTTP/1.1, and close.
    do_write(11, false, false);
}

void session::do_shutdown() {
    phase_ = phase::closing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
}

void session::do_linger() {
    phase_ = phase::closing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);  // the client sees EOF
    buffer_.clear();
    stream_.expires_after(
        std::min<std::chrono::milliseconds>(state_.options.read_timeout, kMaxLinger));
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            beast::bind_front_handler(&session::on_linger, shared_from_this()));
}

void session::on_linger(beast::error_code ec, std::size_t bytes) {
    // Ends on the client's EOF, on any error, or at the deadline set in do_linger (the
    // stream's timer keeps its expiry across reads).
    lingered_ += bytes;
    if (ec || lingered_ > kMaxLingerBytes) {
        return;
    }
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            beast::bind_front_handler(&session::on_linger, shared_from_this()));
}

void session::on_server_stop() {
    if (phase_ == phase::idle) {
        // Waiting for a request that has not begun: close now. The pending read completes
        // with operation_aborted and the session ends quietly.
        phase_ = phase::closing;
        stream_.close();
    }
    // starting: do_read() sees `stopping` and closes. reading, handling, writing: the
    // request finishes and do_write() answers it with `Connection: close`.
}

void session::abandon() {
    beast::error_code ec;
    stream_.socket().close(ec);
}

}  // namespace tally::http
