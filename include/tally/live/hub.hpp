#pragma once
// The live dashboard's broadcaster (GET /ws): a snapshot, then deltas, exactly consistent
// with /dashboard.
//
// Who does what
//   Ingest threads only record what an event changed, in their shard's ChangeLog, under the
//   shard lock Store::apply takes anyway (tally/store/live_changes.hpp). They never see a
//   client or a socket.
//   The broadcaster, a tally::BackgroundLoop, wakes every `batch` and, holding every
//   shard's lock at once (Store::visit_live), drains all the change logs and, in the same
//   critical section, asks for what the frames need: each subscribed range's changes
//   (store::changes_in), the new merged totals of its touched top-list members and its
//   unique counts (query::range_totals_locked), and the whole dashboard of each (site,
//   range) that has a client waiting for a snapshot (query::build_dashboard_locked). It
//   never reads the shards' state itself: it keeps who is subscribed to what and what they
//   hold, and builds and sends the frames. JSON is built after the locks are released.
//   Connections (src/http/ws_session) write what they are given and read subscriptions.
//
// Properties. A client may also follow one event's custom-property breakdown (?props=, or
// "props" in a subscribe message): its snapshot carries the breakdown as /dashboard's
// ?props= does, and a delta of a batch that counted that event carries it again, whole
// (query::properties_locked, in the same critical section), like the unique counts.
//
// Ranges. A client subscribes to a day ("today", YYYY-MM-DD), an ISO week (YYYY-Www) or a
// month (YYYY-MM), and gets exact deltas for all three: the change logs are kept per day,
// so a range's delta is the sum of its days' change sets; its top-list members' totals are
// merged over every (day, shard) summary by the rule /dashboard's top lists use
// (query::merged_count), and its uniques are the merged HyperLogLogs of its days. A re-sent
// snapshot per batch would have been simpler, but a month's snapshot is the whole dashboard
// per client per batch (and loses the feed), where a delta costs what the batch changed.
//
// Consistency. An event applied before the drain is in the shard state the snapshot is
// built from and not in the drained change log after it; one applied after is in the next
// drain and not in the snapshot. A snapshot and the deltas that follow it therefore add up
// to the store's state at the latest drain, which is what /dashboard computes (by the same
// code, query::build_dashboard_locked). Additive figures travel as increments, top-list
// members as their new totals (a client keeps the 10 best, ties by name; counts only grow,
// so no member outside a client's list can enter it without being in a delta; only the
// touched members that are in the new 10 best are sent, the broadcaster keeping the lists
// its clients hold), and the unique counts as absolutes. real_time_users is absolute too, sent with
// each delta, and like /dashboard's is relative to the time it was computed. Sessions also age out
// of its 5-minute window with no event at all, so about once a second (kRealTimeCheck) the
// broadcaster recounts it for every subscribed range that holds today and sends a delta
// holding only the absolutes when it moved.
//
// Sharing. Per batch, one delta frame per (site, range) and one snapshot frame per (site, range)
// that has new subscribers, each a shared_ptr<const std::string> handed to every client of
// it. `seq` counts the batches that changed a (site, range); a snapshot carries the seq of
// the state it shows, its first delta seq + 1.
//
// Slow clients. A connection holds at most one frame beside the one it writes; a client that
// lags further is resynchronised with a snapshot (http::WsConnection::send). Nothing here
// ever waits for a client.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tally/base/background_loop.hpp"
#include "tally/http/message.hpp"
#include "tally/http/websocket.hpp"
#include "tally/store/store.hpp"

namespace tally::telemetry {
class Metrics;
}

namespace tally::live {

struct HubOptions {
    std::chrono::milliseconds batch{100};  // live.batch_ms
    std::size_t max_clients = 10'000;      // live.max_clients
};

/// How often real_time_users is recounted for ranges that had no event (it changes as
/// sessions age out of its window, which is counted by the minute).
inline constexpr std::chrono::milliseconds kRealTimeCheck{1000};

class Hub {
  public:
    Hub(store::Store& store, HubOptions options);
    /// Stops the broadcaster. Connections may outlive the Hub (their peers keep only what
    /// they share with it), but get no more frames.
    ~Hub();
    Hub(const Hub&) = delete;
    Hub& operator=(const Hub&) = delete;

    /// Starts the broadcaster: a batch every options.batch, the first one batch from now (it
    /// turns the store's change recording on while there are clients).
    void start();
    /// Stops the broadcaster and the store's change recording; idempotent.
    void stop();

    /// A new client of `site` and `date` ("today", a day, an ISO week or a month), and, when
    /// `props` names an event, that event's property breakdown; all already checked by the
    /// caller; a 503 over max_clients.
    std::variant<http::Response, std::shared_ptr<http::WsPeer>> accept(std::string site,
                                                                       std::string date,
                                                                       std::string props = {});

    /// Connected (or connecting) clients.
    std::size_t clients() const;
    /// Connected live dashboards, as a gauge.
    void register_metrics(telemetry::Metrics& metrics) const;

    class Client;
    struct Shared;

  private:
    /// One (site, range)'s clients and figures in one batch (hub.cpp).
    struct Work;
    /// What a group of clients follows: a site's range, and one event's property breakdown
    /// ("" for none).
    struct Key {
        std::string site;
        std::string label;  // the range's
        std::string props;
        auto operator<=>(const Key&) const = default;
    };
    using Plan = std::map<Key, Work>;
    // The broadcaster's own, per (site, range label) subscribed: what the clients hold.
    struct Sent {
        std::uint64_t seq = 0;
        std::uint64_t unique_visitors = 0;
        std::uint64_t unique_sessions = 0;
        std::uint64_t real_time_users = 0;
        bool real_time_capped = false;  // the active-sessions budget refused some
        // The top lists the clients hold (see keep_top in hub.cpp).
        std::vector<std::pair<std::string, std::uint64_t>> top_pages, top_referrers, top_countries;
    };

    /// One batch: the three steps below. May throw (out of memory building a frame, say):
    /// the loop's step catches, skips the batch and keeps serving.
    void broadcast(std::int64_t now_ms);
    /// 1. Who is subscribed to what, and who needs a snapshot.
    Plan who_wants_what(std::int64_t now_ms);
    /// 2. The critical section: drains the changes and fills in what the frames need.
    void read_store(Plan& plan);
    /// 3. The frames, built once per (site, range) and handed over all at once.
    void send_frames(Plan& plan, std::int64_t now_ms);
    /// Step 3 for one (site, range): `sent` brought up to date, its frames added to `batch`.
    void add_frames(const Key& key, Work& work, Sent& sent,
                    store::ActiveSessions::RealTime real_time, http::WsBatch& batch);
    /// real_time_users (and whether it is capped) for `work`'s range: 0 unless it holds
    /// today; recounted when a delta or a snapshot is due or `recount`, else what its
    /// clients hold.
    store::ActiveSessions::RealTime real_time_users_for(const Key& key, const Work& work,
                                                        const Sent& sent, bool recount,
                                                        std::int64_t now_ms) const;

    store::Store& store_;
    HubOptions options_;
    std::shared_ptr<Shared> shared_;
    std::map<Key, Sent> sent_;
    std::chrono::steady_clock::time_point next_real_time_check_{};
    BackgroundLoop loop_;  // last: stopped before the members above go
};

}  // namespace tally::live
