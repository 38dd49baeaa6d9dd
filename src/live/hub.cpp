// The broadcaster: see tally/live/hub.hpp for the design.
//
// One batch (Hub::broadcast):
//   1. under the clients' mutex: who is subscribed to what, and who needs a snapshot (new,
//      resubscribed, lagging, or "today" rolled over to a new day);
//   2. under every shard lock (Store::visit_live): drain the change logs, and ask the store
//      and the query layer for each range's changes, its touched members' totals and
//      uniques, and the waiting dashboards;
//   3. unlocked: real_time_users (recounted at least once a second for ranges holding
//      today, so it falls as sessions age out with no event), JSON once per (site, range),
//      and the frames handed to the connections in one http::WsBatch.

#include "tally/live/hub.hpp"
#include "tally/telemetry/metrics.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "tally/base/names.hpp"
#include "tally/base/time.hpp"
#include "tally/http/router.hpp"
#include "tally/query/query.hpp"

namespace tally::live {

namespace {

using json = nlohmann::ordered_json;

/// "today", YYYY-MM-DD, an ISO week YYYY-Www or a month YYYY-MM (as /dashboard).
bool valid_date(std::string_view date) {
    return query::parse_range(date, now_ms()).has_value();
}

using Totals = query::Ranked;

/// Keeps `top`, what every client of a range holds of a top list (its 10 best, count
/// descending, ties by name), in step with the new totals of `touched`, and leaves in
/// `touched` only the members now in those 10. The others need not be sent: counts only
/// grow, so a member outside the 10 best can enter them only when its own total moves, and
/// then it is touched and in the 10; and one pushed out of them ranks below the 10 with
/// whatever count the client last had for it. At 20k events a second a batch touches
/// hundreds of pages; this keeps a delta's lists to at most 10 entries each.
void keep_top(Totals& touched, Totals& top) {
    auto same_name = [](const std::string& name) {
        return [&name](const auto& entry) { return entry.first == name; };
    };
    for (const auto& [name, count] : touched) {
        if (auto it = std::find_if(top.begin(), top.end(), same_name(name)); it != top.end())
            it->second = count;
        else
            top.emplace_back(name, count);
    }
    std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    if (top.size() > query::kTopListSize)
        top.resize(query::kTopListSize);
    std::erase_if(touched, [&](const auto& entry) {
        return std::none_of(top.begin(), top.end(), same_name(entry.first));
    });
}

json ranked(const Totals& list) {
    json array = json::array();
    for (const auto& [name, count] : list)
        array.push_back({name, count});
    return array;
}

}  // namespace

/// What the broadcaster shares with the clients; outlives the Hub if connections do.
struct Hub::Shared {
    std::mutex mutex;  // guards `clients` and every Client's subscription
    std::vector<std::weak_ptr<Client>> clients;
    std::atomic<std::size_t> count{0};  // Clients alive, opened or not
};

/// One dashboard connection's subscription (the peer of an http::WsConnection).
class Hub::Client : public http::WsPeer, public std::enable_shared_from_this<Client> {
  public:
    Client(std::shared_ptr<Shared> shared, std::string site, std::string date, std::string props)
        : shared_(std::move(shared)),
          site_(std::move(site)),
          date_(std::move(date)),
          props_(std::move(props)) {}
    ~Client() override { shared_->count.fetch_sub(1, std::memory_order_relaxed); }

    void on_open(std::weak_ptr<http::WsConnection> connection) override {
        std::lock_guard lock(shared_->mutex);
        connection_ = std::move(connection);
        wants_snapshot_ = true;
        shared_->clients.push_back(weak_from_this());
    }

    void on_message(std::string_view text) override {
        // {"type":"subscribe","site":"x","date":"today","props":"signup"}; anything else is
        // ignored.
        std::string site, date, props;
        try {
            const json message = json::parse(text, nullptr, false);
            if (!message.is_object() || message.value("type", "") != "subscribe")
                return;
            site = message.value("site", std::string(kDefaultSite));
            date = message.value("date", std::string("today"));
            props = message.value("props", std::string());
        } catch (const json::exception&) {
            return;  // a field of the wrong type; nothing may throw into the connection
        }
        if (!valid_site(site) || !valid_date(date) || !(props.empty() || valid_event_name(props)))
            return;
        std::lock_guard lock(shared_->mutex);
        site_ = std::move(site);
        date_ = std::move(date);
        props_ = std::move(props);
        wants_snapshot_ = true;
    }

    void on_lagging() override { lagging_.store(true, std::memory_order_relaxed); }

    static constexpr std::string_view kDefaultSite = "default";

  private:
    std::shared_ptr<Shared> shared_;

  public:
    // Guarded by shared_->mutex (read and written by the broadcaster in step 1).
    std::weak_ptr<http::WsConnection> connection_;
    std::string site_;
    std::string date_;   // as subscribed: "today", a day, a week or a month
    std::string props_;  // the event whose property breakdown it follows, or ""
    std::string label_;  // what date_ meant at the last batch ("today" moves at midnight)
    bool wants_snapshot_ = true;
    std::atomic<bool> lagging_{false};
};

Hub::Hub(store::Store& store, HubOptions options)
    : store_(store), options_(options), shared_(std::make_shared<Shared>()) {}

Hub::~Hub() {
    stop();
}

void Hub::start() {
    loop_.start(
        options_.batch,
        [this] {
            try {
                broadcast(now_ms());
            } catch (...) {
                // Out of memory building a frame, say: skip this batch, keep serving.
            }
        },
        /*first_step_after_interval=*/true);
}

void Hub::stop() {
    loop_.stop();
    store_.set_live_recording(false);
}

std::size_t Hub::clients() const {
    return shared_->count.load(std::memory_order_relaxed);
}

std::variant<http::Response, std::shared_ptr<http::WsPeer>> Hub::accept(std::string site,
                                                                        std::string date,
                                                                        std::string props) {
    if (shared_->count.fetch_add(1, std::memory_order_relaxed) >= options_.max_clients) {
        shared_->count.fetch_sub(1, std::memory_order_relaxed);
        return http::error_response(503, "too many live dashboards");
    }
    // From here the Client's destructor gives the place back.
    return std::make_shared<Client>(shared_, std::move(site), std::move(date), std::move(props));
}

namespace {

/// The newest events of `changes` over all shards and days, oldest first.
json recent_feed(const store::ChangeSet& changes) {
    std::vector<const store::RecentEvent*> recent;
    recent.reserve(changes.recent.size());
    for (const auto& e : changes.recent)
        recent.push_back(&e);
    std::stable_sort(recent.begin(), recent.end(), [](const auto* a, const auto* b) {
        return a->timestamp_ms < b->timestamp_ms;
    });
    const std::size_t skip = recent.size() > store::ChangeSet::kMaxRecent
                                 ? recent.size() - store::ChangeSet::kMaxRecent
                                 : 0;
    json feed = json::array();
    for (std::size_t i = skip; i < recent.size(); ++i) {
        const store::RecentEvent& e = *recent[i];
        json item;
        if (e.kind == EventKind::pageview) {
            item["type"] = "pageview";
            item["page"] = e.what;
        } else {
            item["type"] = "event";
            item["name"] = e.what;
        }
        if (!e.country.empty())
            item["country"] = e.country;
        item["device"] = device_name(e.device);
        item["ts"] = e.timestamp_ms;
        feed.push_back(std::move(item));
    }
    return feed;
}

/// The delta frame of one (site, range) for one batch.
std::string delta_frame(std::uint64_t seq, const std::string& site, const std::string& label,
                        const store::ChangeSet& c, const Totals& pages, const Totals& referrers,
                        const Totals& countries, std::uint64_t visitors, std::uint64_t sessions,
                        store::ActiveSessions::RealTime real_time,
                        const std::optional<query::PropertiesBreakdown>& properties) {
    json j;
    j["type"] = "delta";
    j["seq"] = seq;
    j["site"] = site;
    j["date"] = label;
    if (c.page_views != 0)
        j["page_views"] = c.page_views;
    json devices = json::object();
    for (int i = 0; i < kDeviceCount; ++i) {
        if (const auto n = c.devices[static_cast<std::size_t>(i)]; n != 0)
            devices[device_name(static_cast<Device>(i))] = n;
    }
    if (!devices.empty())
        j["devices"] = std::move(devices);
    if (!c.events.empty()) {
        json events = json::object();
        for (const auto& [name, n] : c.events)
            events[name] = n;
        j["events"] = std::move(events);
    }
    if (!pages.empty())
        j["pages"] = ranked(pages);
    if (!referrers.empty())
        j["referrers"] = ranked(referrers);
    if (!countries.empty())
        j["countries"] = ranked(countries);
    j["unique_visitors"] = visitors;
    j["unique_sessions"] = sessions;
    j["real_time_users"] = real_time.sessions;
    // Always sent, so a dashboard that showed "capped" learns when it is no longer.
    j["real_time_users_capped"] = real_time.capped;
    if (json feed = recent_feed(c); !feed.empty())
        j["recent"] = std::move(feed);
    if (properties)
        j["properties"] = json::parse(query::to_json(*properties));
    return j.dump();
}

/// Whether `changes` counted `event` ("pageview": a page view), whose breakdown a delta then
/// carries again.
bool touches(const store::ChangeSet& changes, std::string_view event) {
    if (event.empty())
        return false;
    if (event == "pageview")
        return changes.page_views != 0;
    return std::any_of(changes.events.begin(), changes.events.end(),
                       [&](const auto& entry) { return entry.first == event; });
}

/// The snapshot frame of one (site, range): the dashboard as /dashboard has it.
std::string snapshot_frame(std::uint64_t seq, const std::string& site, const std::string& label,
                           const query::Dashboard& dashboard) {
    return R"({"type":"snapshot","seq":)" + std::to_string(seq) + R"(,"site":)" +
           json(site).dump() + R"(,"date":")" + label + R"(","metrics":)" +
           query::to_json(dashboard) + "}";
}

}  // namespace

struct Hub::Work {
    struct Target {
        std::shared_ptr<Client> client;  // keeps its subscription fields alive
        std::shared_ptr<http::WsConnection> connection;
    };
    query::DayRange range;
    std::vector<Target> snapshot_to, delta_to;
    // Filled under the shard locks.
    store::ChangeSet changes;
    bool changed = false;
    query::RangeTotals totals;  // only for a delta
    std::optional<query::Dashboard> snapshot;
    // For a delta that counted the followed event: its breakdown, whole.
    std::optional<query::PropertiesBreakdown> properties;

    bool delta_due() const { return changed && !delta_to.empty(); }
};

void Hub::broadcast(std::int64_t now_ms) {
    Plan plan = who_wants_what(now_ms);
    // Ingest records changes only while someone may need them. Turned on here, before the
    // critical section, every event is either in the state a snapshot is built from or in a
    // change log drained by it; no client gets a delta in the batch that turned recording
    // on (it was off only while there was no client, and a new client's first frame is a
    // snapshot).
    store_.set_live_recording(!plan.empty());
    read_store(plan);
    send_frames(plan, now_ms);
}

Hub::Plan Hub::who_wants_what(std::int64_t now_ms) {
    Plan plan;
    // Each distinct date is resolved once per batch ("today" and a range label are all that
    // clients send, so this map stays tiny).
    std::map<std::string, query::DayRange, std::less<>> ranges;
    std::lock_guard lock(shared_->mutex);
    auto& clients = shared_->clients;
    std::erase_if(clients, [](const auto& w) { return w.expired(); });
    for (const auto& weak : clients) {
        auto client = weak.lock();
        if (!client)
            continue;
        auto connection = client->connection_.lock();
        if (!connection)
            continue;
        auto resolved = ranges.find(client->date_);
        if (resolved == ranges.end()) {
            auto range = query::parse_range(client->date_, now_ms);
            if (!range)
                continue;  // cannot happen: checked on subscription
            resolved = ranges.emplace(client->date_, std::move(*range)).first;
        }
        const query::DayRange& range = resolved->second;
        if (range.label != client->label_) {
            client->label_ = range.label;  // new subscription, or "today" became a new day
            client->wants_snapshot_ = true;
        }
        if (client->lagging_.exchange(false, std::memory_order_relaxed))
            client->wants_snapshot_ = true;
        Work& w = plan[Key{client->site_, range.label, client->props_}];
        w.range = range;
        if (client->wants_snapshot_) {
            client->wants_snapshot_ = false;
            w.snapshot_to.push_back({client, std::move(connection)});
        } else {
            w.delta_to.push_back({client, std::move(connection)});
        }
    }
    return plan;
}

void Hub::read_store(Plan& plan) {
    // Always drained, even with no client, so the change logs stay one batch small.
    store_.visit_live([&](store::Store::LiveView& view) {
        const std::vector<store::ChangeLog> logs = view.take_changes();
        for (auto& [key, w] : plan) {
            const std::string& site = key.site;
            if (auto changes = store::changes_in(logs, site, w.range.first, w.range.last)) {
                w.changes = std::move(*changes);
                w.changed = true;
            }
            if (!w.delta_due() && w.snapshot_to.empty())
                continue;
            const std::vector<const store::SiteShard*> parts = view.site(site);
            if (w.delta_due()) {
                w.totals = query::range_totals_locked(parts, w.range, w.changes.pages,
                                                      w.changes.referrers, w.changes.countries);
            }
            if (w.delta_due() && touches(w.changes, key.props))
                w.properties = query::properties_locked(parts, w.range, key.props);
            if (!w.snapshot_to.empty()) {
                w.snapshot = query::build_dashboard_locked(parts, site, w.range);
                if (!key.props.empty())
                    w.snapshot->properties = query::properties_locked(parts, w.range, key.props);
            }
        }
    });
}

void Hub::send_frames(Plan& plan, std::int64_t now_ms) {
    // real_time_users moves with no event as sessions age out: recount it now and then for
    // every range that holds today, not only when the range changed.
    const auto steady_now = std::chrono::steady_clock::now();
    const bool recount = steady_now >= next_real_time_check_;
    if (recount)
        next_real_time_check_ = steady_now + kRealTimeCheck;

    http::WsBatch batch;
    std::map<Key, Sent> sent;
    for (auto& [key, w] : plan) {
        Sent& s = sent[key];
        if (auto it = sent_.find(key); it != sent_.end())
            s = std::move(it->second);
        add_frames(key, w, s, real_time_users_for(key, w, s, recount, now_ms), batch);
    }
    batch.flush();
    // Keys nobody subscribes to any more are forgotten; a new subscriber starts from a
    // snapshot anyway.
    sent_ = std::move(sent);
}

store::ActiveSessions::RealTime Hub::real_time_users_for(const Key& key, const Work& w,
                                                         const Sent& s, bool recount,
                                                         std::int64_t now_ms) const {
    const std::int64_t today = day_of(now_ms);
    if (today < w.range.first || w.range.last < today)
        return {};
    if (w.delta_due() || w.snapshot || recount)
        return store_.active_sessions().real_time(key.site, now_ms);
    return {s.real_time_users, s.real_time_capped};  // not recounted this batch
}

void Hub::add_frames(const Key& key, Work& w, Sent& s, store::ActiveSessions::RealTime real_time,
                     http::WsBatch& batch) {
    const bool real_time_moved =
        real_time.sessions != s.real_time_users || real_time.capped != s.real_time_capped;
    if (w.delta_due()) {
        keep_top(w.totals.pages, s.top_pages);
        keep_top(w.totals.referrers, s.top_referrers);
        keep_top(w.totals.countries, s.top_countries);
    }
    if (w.changed || real_time_moved)
        ++s.seq;
    s.real_time_users = real_time.sessions;
    s.real_time_capped = real_time.capped;

    if (w.snapshot) {
        w.snapshot->real_time_users = real_time.sessions;
        w.snapshot->real_time_users_capped = real_time.capped;
        s.unique_visitors = w.snapshot->unique_visitors;
        s.unique_sessions = w.snapshot->unique_sessions;
        s.top_pages = w.snapshot->top_pages;
        s.top_referrers = w.snapshot->top_referrers;
        s.top_countries = w.snapshot->countries;
        auto frame = std::make_shared<const std::string>(
            snapshot_frame(s.seq, key.site, w.range.label, *w.snapshot));
        for (const Work::Target& t : w.snapshot_to)
            batch.add(t.connection, frame, true);
    }
    if (w.delta_to.empty() || (!w.changed && !real_time_moved))
        return;
    if (w.changed) {
        s.unique_visitors = w.totals.unique_visitors;
        s.unique_sessions = w.totals.unique_sessions;
    }
    // A delta with nothing but the absolutes when only real_time_users moved.
    auto frame = std::make_shared<const std::string>(delta_frame(
        s.seq, key.site, w.range.label, w.changes, w.totals.pages, w.totals.referrers,
        w.totals.countries, s.unique_visitors, s.unique_sessions, real_time, w.properties));
    for (const Work::Target& t : w.delta_to)
        batch.add(t.connection, frame, false);
}

void Hub::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_ws_clients", "Live dashboards connected to /ws.", "gauge",
                         [this] { return static_cast<double>(clients()); });
}

}  // namespace tally::live
