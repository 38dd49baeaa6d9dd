#pragma once
// One HTTP/1.x connection: read a request, hand it to the Handler, write the answer, repeat.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include "beast_request.hpp"
#include "field_arena.hpp"
#include "net.hpp"
#include "server_state.hpp"
#include "tally/http/message.hpp"

namespace tally::http {

/** A keep-alive HTTP/1.1 (and 1.0) connection, living on one worker thread.

    Owned by shared_ptr: every pending asynchronous operation holds a reference, and while the
    Handler has not replied yet the session holds one to itself (`self_`), since then no
    operation is pending. At most one request is in flight: the next one is read only once the
    answer is written (pipelined requests wait in `buffer_`).
*/
class session : public std::enable_shared_from_this<session> {
  public:
    using fields_type = request_fields;
    using parser_type = request_parser;
    using response_type = beast::http::response<beast::http::string_body, fields_type>;
    using serializer_type = beast::http::response_serializer<beast::http::string_body, fields_type>;

    session(socket_type&& socket, server_state& state, worker& w);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Starts the session on its worker's thread (called on the accepting thread). Takes the
    /// only reference: whichever thread drops the last one runs ~session, which unlinks the
    /// session from its worker's list, so that must be the worker's own thread.
    static void start(std::shared_ptr<session> self);

    /// Server::stop(), on this session's thread: an idle keep-alive connection is closed now;
    /// one with a request under way finishes it and answers with `Connection: close`.
    void on_server_stop();

    /// ~Server, after the worker threads have been joined: closes the socket of a session
    /// that is still waiting for its Reply (it cannot be freed: the Reply holds its address).
    void abandon();

    session* next_in_worker() const { return next_; }

  private:
    // Where the session is; decides what on_server_stop() does.
    enum class phase : std::uint8_t {
        starting,  // accepted, on_run not yet run
        idle,      // waiting for the first byte of a request (idle_timeout)
        reading,   // reading a request (read_timeout)
        handling,  // the Handler has the request; no I/O pending
        writing,   // writing the answer
        closing,   // closing down; nothing more will be read
    };
    // Reply bookkeeping, shared with the thread that gives the Reply.
    enum reply_state : std::uint8_t { no_request, waiting, replied };

    static void reply_fn(void* self, Response&& response);

    void link();
    void unlink();

    void on_run();
    void do_read();
    void on_first_bytes(beast::error_code ec, std::size_t bytes);
    void do_read_header();
    void on_read_header(beast::error_code ec, std::size_t bytes);
    void on_continue(beast::error_code ec, std::size_t bytes);
    void do_read_body();
    void on_read_body(beast::error_code ec, std::size_t bytes);
    void on_read_error(beast::error_code ec);
    void fill_request();
    void upgrade();
    void dispatch();
    void on_reply();
    void do_write(unsigned version, bool keep_alive, bool head);
    void on_write(beast::error_code ec, std::size_t bytes);
    void fail_request(unsigned status, std::string_view message);
    void do_shutdown();
    void do_linger();
    void on_linger(beast::error_code ec, std::size_t bytes);

    server_state& state_;
    worker& worker_;
    // Holds the header fields of the request and of its answer; declared before them, so
    // destroyed after them.
    field_arena arena_;
    stream_type stream_;
    // Reused for the whole connection: keeps its capacity, and holds the bytes of a
    // pipelined next request.
    beast::flat_buffer buffer_;
    // A new parser per request (Beast's rule); the Request's views point into its message,
    // so it is replaced only when the next request starts.
    std::optional<parser_type> parser_;
    // The last request's body string, emptied, handed to the next parser: its capacity saves
    // an allocation per request (kept only while small, see do_read).
    std::string spare_body_;
    response_type res_;
    // Ours rather than async_write(stream, message)'s, which allocates one per answer.
    std::optional<serializer_type> serializer_;
    Request request_;
    Response response_;  // the Handler's answer, moved in by reply_fn
    std::string client_ip_;

    std::shared_ptr<session> self_;  // set while the Handler owes a Reply
    std::shared_ptr<reply_gate> gate_;
    // Holds the worker's run() while a Reply is owed: stop() waits for it (up to grace).
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
    std::atomic<std::uint8_t> reply_state_{no_request};
    bool sync_replied_ = false;  // the Reply came inside the Handler call, on this thread

    phase phase_ = phase::starting;
    bool close_after_write_ = false;
    bool linger_after_write_ = false;  // error answer: drain what the client still sends
    std::size_t lingered_ = 0;

    // Intrusive list of the worker's sessions (see worker::sessions_).
    session* prev_ = nullptr;
    session* next_ = nullptr;
    bool linked_ = false;
};

}  // namespace tally::http
