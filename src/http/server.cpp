// tally::http::Server: the workers, the listener, and the way they stop.
//
// run() starts one thread per worker, each running its own io_context, and then waits for
// stop(). stop() (from any thread, any number of times) marks the server as stopping, posts
// to worker 0 the closing of the acceptor, and posts to every worker its stop pass: idle
// keep-alive connections are closed, the others answer their request in flight with
// `Connection: close` and end, and the worker's work guard goes, so its run() returns once
// nothing is left. run() waits for that, for at most `grace` from the stop() call; then it
// stops the io_contexts still running (dropping what remains: a stalled upload, a Reply
// that did not come in time), joins the threads and returns.
//
// Destruction. Sessions still in the io_contexts' queues are destroyed with them. A session
// still owed a Reply is kept alive by its own `self_` (the Reply holds its raw address), so
// ~Server cannot free it: it closes its socket, and closes the reply gate, so that a Reply
// given after the Server is gone is dropped rather than posted to a destroyed io_context.
// Give every Reply before destroying the Server (the daemon stops the server, then flushes
// the event log, which answers what it still holds, then destroys the server).

#include "tally/http/server.hpp"
#include "tally/telemetry/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include <thread>
#include <vector>

#include "listener.hpp"
#include "net.hpp"
#include "server_state.hpp"
#include "session.hpp"

namespace tally::http {

namespace {
/// The live worker's nice value (see server_state::live).
constexpr int kLiveNice = 5;
}  // namespace

struct Server::Impl {
    Impl(ServerOptions options, Handler handler, ServerStats& stats)
        : state(std::move(options), std::move(handler), stats) {
        if (state.options.threads == 0) {
            state.options.threads = 1;
        }
        state.workers.reserve(state.options.threads);
        for (std::size_t i = 0; i < state.options.threads; ++i) {
            state.workers.push_back(std::make_unique<worker>(i));
        }
        if (!state.options.websocket_path.empty())
            state.live = std::make_unique<worker>(state.options.threads);
    }

    /// The workers and the live worker, for what is done to each alike.
    std::vector<worker*> all_workers() {
        std::vector<worker*> all;
        for (auto& w : state.workers)
            all.push_back(w.get());
        if (state.live)
            all.push_back(state.live.get());
        return all;
    }

    ~Impl();

    tcp::endpoint resolve() const;
    void run_worker(worker& w);

    server_state state;
    // After `state`: the acceptor lives on worker 0's io_context and must go first.
    std::shared_ptr<listener> acceptor;

    std::mutex mutex;  // guards what follows
    std::condition_variable cv;
    bool started = false;
    bool running = false;
    bool stop_requested = false;
    std::chrono::steady_clock::time_point deadline;
    std::size_t finished = 0;  // workers whose run() has returned
    std::uint16_t port = 0;
};

Server::Impl::~Impl() {
    {
        // From now on a late Reply is dropped (see reply_fn).
        std::unique_lock lock(state.gate->mutex);
        state.gate->open = false;
    }
    // The threads are joined (run() has returned, or never ran): the session lists can be
    // walked from here. Sessions still owed a Reply are leaked on purpose; close their sockets.
    for (auto& w : state.workers) {
        for (session* s = w->sessions_; s != nullptr; s = s->next_in_worker()) {
            s->abandon();
        }
    }
    acceptor.reset();
    // state.workers now destroys the io_contexts, and with them the pending handlers and
    // the sessions they own.
}

tcp::endpoint Server::Impl::resolve() const {
    std::string host = state.options.host;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);  // "[::1]"
    }
    beast::error_code ec;
    auto address = net::ip::make_address(host, ec);
    if (!ec) {
        return {address, state.options.port};
    }
    // A name ("localhost"): take the first address it resolves to.
    net::io_context ioc;
    tcp::resolver resolver(ioc);
    auto results =
        resolver.resolve(host, std::to_string(state.options.port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
        throw std::system_error(ec ? ec : make_error_code(net::error::host_not_found),
                                "cannot resolve listen address " + state.options.host);
    }
    return results.begin()->endpoint();
}

void Server::Impl::run_worker(worker& w) {
    // Completion handlers do not throw; if one ever does, keep serving the others.
    for (;;) {
        try {
            w.ioc().run();
            break;
        } catch (...) {
        }
    }
    std::lock_guard lock(mutex);
    ++finished;
    cv.notify_all();
}

Server::Server(ServerOptions options, Handler handler, ServerStats& stats)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler), stats)) {}

Server::~Server() = default;

void Server::start() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->started) {
        throw std::logic_error("tally::http::Server::start() called twice");
    }
    auto l = std::make_shared<listener>(impl_->state, impl_->state.workers.front()->ioc());
    l->open(impl_->resolve());
    impl_->port = l->port();
    if (!impl_->stop_requested) {
        l->run();
    }
    impl_->acceptor = std::move(l);
    impl_->started = true;
}

std::uint16_t Server::port() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->port;
}

void Server::run() {
    auto& impl = *impl_;
    {
        std::lock_guard lock(impl.mutex);
        if (impl.running) {
            throw std::logic_error("tally::http::Server::run() called twice");
        }
        impl.running = true;
    }
    const std::vector<worker*> all = impl.all_workers();
    std::vector<std::thread> threads;
    threads.reserve(all.size());
    for (worker* w : all) {
        const bool live = w == impl.state.live.get();
        threads.emplace_back([&impl, w, live] {
            if (live) {
                // Linux: a thread's nice value is its own. Weight 335 against ingest's 1024:
                // under full load dashboards get about a quarter of a core per ingest
                // thread, and all the CPU ingest leaves otherwise.
                ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kLiveNice);
            }
            impl.run_worker(*w);
        });
    }
    {
        std::unique_lock lock(impl.mutex);
        impl.cv.wait(lock, [&] { return impl.stop_requested; });
        // Let the workers drain, for at most the grace period.
        impl.cv.wait_until(lock, impl.deadline, [&] { return impl.finished == all.size(); });
    }
    for (worker* w : all) {
        w->ioc().stop();
    }
    for (auto& t : threads) {
        t.join();
    }
}

void Server::stop(std::chrono::milliseconds grace) {
    auto& impl = *impl_;
    std::shared_ptr<listener> acceptor;
    {
        std::lock_guard lock(impl.mutex);
        if (impl.stop_requested) {
            return;
        }
        impl.stop_requested = true;
        impl.deadline = std::chrono::steady_clock::now() + grace;
        acceptor = impl.acceptor;
    }
    // Set before the passes are posted: a session that starts a read after its worker's pass
    // sees it and closes instead (see session::do_read).
    impl.state.stopping.store(true, std::memory_order_release);
    if (acceptor) {
        net::post(impl.state.workers.front()->ioc(), [acceptor] { acceptor->close(); });
    }
    for (worker* w : impl.all_workers()) {
        net::post(w->ioc(), [w] { w->stop_pass(); });
    }
    impl.cv.notify_all();
}

}  // namespace tally::http

namespace tally::http {

void ServerStats::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_http_open_connections",
                         "Open HTTP connections (http.max_connections), WebSockets not included.",
                         "gauge", [this] { return static_cast<double>(open_connections.load()); });
    metrics.add_callback("tally_ws_open_connections",
                         "Open WebSocket connections (live dashboards and metric subscribers).",
                         "gauge", [this] { return static_cast<double>(open_websockets.load()); });
    metrics.add_callback("tally_http_refused_connections_total",
                         "Connections closed at once because the connection cap was reached.",
                         "counter",
                         [this] { return static_cast<double>(refused_connections.load()); });
    metrics.add_callback("tally_http_timeouts_total",
                         "Connections closed by a read or idle timeout.", "counter",
                         [this] { return static_cast<double>(timeouts.load()); });
}

}  // namespace tally::http
