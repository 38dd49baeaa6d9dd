#pragma once
// What the listener, the sessions and the Server share (private to src/http).
//
// Threading model. There is one io_context per I/O thread, each run by exactly one thread
// (a `worker`). The acceptor lives on worker 0 and hands each accepted socket to the workers
// in turn; the session then never leaves its worker, so nothing inside a session needs a
// strand or a lock, and `Request::worker` tells the handler which thread it is on (handlers
// keep per-thread shards of state, so ingest threads never serialise on one lock).
//
// The few things that cross threads are:
//  - `server_state::stopping`, an atomic set by Server::stop() before it posts the stop
//    pass to every worker;
//  - a Reply given from another thread: it posts to the session's worker, under a shared
//    lock on the `reply_gate`, which ~Server closes so that a reply arriving after the
//    server is gone is dropped instead of posting to a destroyed io_context;
//  - the ServerStats counters (atomics).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <vector>

#include "net.hpp"
#include "tally/http/message.hpp"
#include "tally/http/server.hpp"

namespace tally::http {

class session;
class ws_session;

/// Lets late Replies know whether the server (and its io_contexts) still exists.
struct reply_gate {
    std::shared_mutex mutex;
    bool open = true;  // guarded by mutex
};

/// One I/O thread: its io_context and the sessions living on it.
class worker {
  public:
    explicit worker(std::size_t index) : index_(index), ioc_(1), guard_(ioc_.get_executor()) {}
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    std::size_t index() const { return index_; }
    net::io_context& ioc() { return ioc_; }

    /// Called on this worker's thread: closes idle keep-alive sessions, tells the others to
    /// answer with `Connection: close`, and lets run() return once they are done.
    void stop_pass();

    // The sessions of this worker, an intrusive list touched only on this worker's thread
    // (or after its thread has been joined). See session::link()/unlink().
    session* sessions_ = nullptr;

    /// Remembers a WebSocket session of this worker, for the stop pass; on its thread.
    void track(std::weak_ptr<ws_session> session) {
        // Forget the ended ones now and then, so the list stays the size of the live ones.
        if (websockets_.size() >= 2 * websockets_live_ + 16) {
            std::erase_if(websockets_, [](const auto& w) { return w.expired(); });
            websockets_live_ = websockets_.size();
        }
        websockets_.push_back(std::move(session));
    }

  private:
    std::size_t index_;
    // WebSocket sessions (weak: the broadcaster's posts may hold the last reference, on its
    // own thread). Touched only on this worker's thread.
    std::vector<std::weak_ptr<ws_session>> websockets_;
    std::size_t websockets_live_ = 0;
    // Declared after sessions_: the io_context is destroyed first, and the sessions its
    // pending handlers still own unlink themselves from a list that is still there.
    net::io_context ioc_;
    // Keeps run() from returning while the worker has nothing to do (before stop()).
    std::optional<net::executor_work_guard<net::io_context::executor_type>> guard_;
};

/// Everything a session needs from the server.
struct server_state {
    server_state(ServerOptions opts, Handler h, ServerStats& s)
        : options(std::move(opts)), handler(std::move(h)), stats(s) {}

    ServerOptions options;
    Handler handler;
    ServerStats& stats;
    std::shared_ptr<reply_gate> gate = std::make_shared<reply_gate>();
    std::atomic<bool> stopping{false};
    // The WebSocket sessions' own I/O thread (when ServerOptions::websocket_path is set),
    // run at a lower scheduling priority: an upgraded connection moves there, so writing
    // frames to thousands of dashboards competes with ingest only for the CPU ingest leaves
    // (incoming events are never slowed by dashboards). Not in `workers`: it takes no
    // HTTP connection and owns no shard.
    std::unique_ptr<worker> live;
    // Last member: destroyed first, while the options and handler above are still valid
    // for the sessions destroyed along with the io_contexts.
    std::vector<std::unique_ptr<worker>> workers;
};

}  // namespace tally::http
