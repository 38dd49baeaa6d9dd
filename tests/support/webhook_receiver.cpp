#include "support/webhook_receiver.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <condition_variable>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace tally::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
constexpr std::uint64_t kBodyLimit = 16u << 20;
}

// Everything below runs on the receiver's thread (the io_context's), except what is
// guarded by `mutex`: the status, the posts and their condition variable.
struct WebhookReceiver::Impl : std::enable_shared_from_this<WebhookReceiver::Impl> {
    struct Session {
        explicit Session(tcp::socket s) : socket(std::move(s)) {}
        tcp::socket socket;
        beast::flat_buffer buffer;
        std::optional<http::request_parser<http::string_body>> parser;
        http::response<http::string_body> response;
    };

    net::io_context ioc;
    net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
    std::optional<tcp::acceptor> acceptor;
    std::list<std::weak_ptr<Session>> sessions;
    std::uint16_t port = 0;

    mutable std::mutex mutex;
    mutable std::condition_variable arrived;
    unsigned status = 200;
    std::vector<ReceivedPost> posts;

    std::thread thread;

    /// Runs `fn` on the receiver's thread and waits for it (exceptions come back here).
    template <class Fn>
    void run_here(Fn fn) {
        std::packaged_task<void()> task(std::move(fn));
        auto done = task.get_future();
        net::post(ioc, [&task] { task(); });
        done.get();
    }

    void listen(std::uint16_t on_port) {
        const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), on_port);
        acceptor.emplace(ioc);
        try {
            acceptor->open(endpoint.protocol());
            acceptor->set_option(net::socket_base::reuse_address(true));
            acceptor->bind(endpoint);
            acceptor->listen();
        } catch (const std::exception& e) {
            acceptor.reset();
            throw std::runtime_error("webhook receiver: cannot listen on 127.0.0.1:" +
                                     std::to_string(on_port) + ": " + e.what());
        }
        port = acceptor->local_endpoint().port();
        accept();
    }

    void accept() {
        acceptor->async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket s) {
            if (ec || !self->acceptor || !self->acceptor->is_open())
                return;
            auto session = std::make_shared<Session>(std::move(s));
            self->sessions.remove_if([](const auto& weak) { return weak.expired(); });
            self->sessions.push_back(session);
            self->read(session);
            self->accept();
        });
    }

    void read(const std::shared_ptr<Session>& session) {
        session->parser.emplace();
        session->parser->body_limit(kBodyLimit);
        http::async_read(session->socket, session->buffer, *session->parser,
                         [self = shared_from_this(), session](beast::error_code ec, std::size_t) {
                             if (ec)
                                 return;  // closed, or garbage: the connection ends
                             self->answer(session);
                         });
    }

    void answer(const std::shared_ptr<Session>& session) {
        const auto& request = session->parser->get();
        unsigned answer_status = 200;
        {
            std::lock_guard lock(mutex);
            answer_status = status;
            if (request.method() == http::verb::post) {
                posts.push_back({std::string(request.target()),
                                 std::string(request[http::field::content_type]), request.body(),
                                 std::chrono::steady_clock::now()});
                arrived.notify_all();
            }
        }
        auto& response = session->response;
        response = {};
        response.version(11);
        response.result(answer_status);
        response.keep_alive(request.keep_alive());
        response.prepare_payload();
        http::async_write(session->socket, response,
                          [self = shared_from_this(), session](beast::error_code ec, std::size_t) {
                              if (ec || !session->response.keep_alive()) {
                                  beast::error_code ignored;
                                  session->socket.shutdown(tcp::socket::shutdown_send, ignored);
                                  return;
                              }
                              self->read(session);
                          });
    }

    void close_all() {
        beast::error_code ignored;
        if (acceptor)
            acceptor->close(ignored);
        acceptor.reset();
        for (const auto& weak : sessions)
            if (auto session = weak.lock())
                session->socket.close(ignored);
        sessions.clear();
    }
};

WebhookReceiver::WebhookReceiver() : impl_(std::make_shared<Impl>()) {
    impl_->listen(0);  // before the thread runs: nothing else touches the acceptor yet
    impl_->thread = std::thread([impl = impl_.get()] { impl->ioc.run(); });
}

WebhookReceiver::~WebhookReceiver() {
    // Closing every socket ends every pending operation; the io_context then runs out of
    // work and returns. Stopping it instead would leave those handlers queued, each holding
    // the Impl that owns the queue: a cycle nothing frees.
    impl_->run_here([impl = impl_.get()] { impl->close_all(); });
    impl_->work.reset();
    impl_->thread.join();
}

std::uint16_t WebhookReceiver::port() const {
    return impl_->port;
}

std::string WebhookReceiver::url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

void WebhookReceiver::set_status(unsigned status) {
    std::lock_guard lock(impl_->mutex);
    impl_->status = status;
}

void WebhookReceiver::stop_listening() {
    impl_->run_here([impl = impl_.get()] { impl->close_all(); });
}

void WebhookReceiver::start_listening() {
    impl_->run_here([impl = impl_.get()] {
        if (!impl->acceptor)
            impl->listen(impl->port);
    });
}

std::vector<ReceivedPost> WebhookReceiver::posts() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->posts;
}

std::vector<ReceivedPost> WebhookReceiver::wait_for(std::size_t n,
                                                    std::chrono::milliseconds timeout) const {
    std::unique_lock lock(impl_->mutex);
    impl_->arrived.wait_for(lock, timeout, [&] { return impl_->posts.size() >= n; });
    return impl_->posts;
}

}  // namespace tally::test
