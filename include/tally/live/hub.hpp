#pragma once
// The live dashboard's broadcaster (SPEC §4, GET /ws): a snapshot, then deltas, exactly
// consistent with /dashboard.
//
// Who does what
//   Ingest threads only record what an event changed, in their shard's ChangeLog, under the
//   shard lock Store::apply takes anyway (tally/store/live_changes.hpp). They never see a
//   client or a socket.
//   One broadcaster thread wakes every `batch` and, holding every shard's lock at once
//   (Store::visit_live), drains all the change logs and, in the same critical section,
//   reads what the frames need: the new merged totals of the touched top-list members,
//   the merged HyperLogLogs, and the whole dashboard of each (site, day) that has a client
//   waiting for a snapshot. JSON is built after the locks are released.
//   Connections (src/http/ws_session) write what they are given and read subscriptions.
//
// Consistency. An event applied before the drain is in the shard state the snapshot is
// built from and not in the drained change log after it; one applied after is in the next
// drain and not in the snapshot. A snapshot and the deltas that follow it therefore add up
// to the store's state at the latest drain, which is what /dashboard computes (by the same
// code, query::build_dashboard_locked). Additive figures travel as increments, top-list
// members as their new totals (a client keeps the 10 best, ties by name; counts only grow,
// so no member outside a client's list can enter it without being in a delta), and the
// unique counts as absolutes. real_time_users is absolute too, sent with each delta, and
// like /dashboard's is relative to the time it was computed.
//
// Sharing. Per batch, one delta frame per (site, day) and one snapshot frame per (site, day)
// that has new subscribers, each a shared_ptr<const std::string> handed to every client of
// it. `seq` counts the batches that changed a (site, day); a snapshot carries the seq of
// the state it shows, its first delta seq + 1.
//
// Slow clients. A connection holds at most one frame beside the one it writes; a client that
// lags further is resynchronised with a snapshot (http::WsConnection::send). Nothing here
// ever waits for a client.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>

#include "tally/http/message.hpp"
#include "tally/http/websocket.hpp"
#include "tally/store/store.hpp"

namespace tally::live {

struct HubOptions {
    std::chrono::milliseconds batch{100};  // live.batch_ms
    std::size_t max_clients = 10'000;      // live.max_clients
};

class Hub {
  public:
    Hub(store::Store& store, HubOptions options);
    /// Stops the broadcaster. Connections may outlive the Hub (their peers keep only what
    /// they share with it), but get no more frames.
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    /// Starts the broadcaster thread (which turns the store's change recording on while
    /// there are clients).
    void start();
    /// Stops the broadcaster thread; idempotent.
    void stop();

    /// The upgrade decision for GET /ws?site=S&date=D (the caller checked the token):
    /// 400 for a bad site or date, 503 over max_clients, else a new client.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> accept(
        const http::Request& request);

    /// Connected (or connecting) clients.
    std::size_t clients() const;

    class Client;
    struct Shared;

  private:
    void run();
    void broadcast(std::int64_t now_ms);

    store::Store& store_;
    HubOptions options_;
    std::shared_ptr<Shared> shared_;
    // The broadcaster's own: seq per (site, day) subscribed.
    std::map<std::pair<std::string, std::int64_t>, std::uint64_t> seq_;

    std::mutex mutex_;  // guards stopping_
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tally::live
