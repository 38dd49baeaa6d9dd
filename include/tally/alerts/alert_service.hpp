#pragma once
// The alert service: every rule evaluated on its own timer, states kept and persisted,
// transitions announced through the outbox.
//
// Threads. One BackgroundLoop runs a round every `eval_interval`; nothing here runs on an
// I/O or ingest thread except the API's short calls (rule_changed, rule_removed, state_of,
// history_of), which take the service's mutex briefly. A round:
//   1. takes a snapshot of the compiled rules under the mutex (shared pointers: no copy
//      of the rules themselves);
//   2. reads every rule's figure with the mutex released (alert_values.hpp: batched, each
//      engine shard's lock taken once per kJobsPerLock rules, each site visited once); an
//      analytics rule over a site its workspace no longer owns reads no data;
//   3. steps every rule's state under the mutex (evaluation.hpp: pure, microseconds),
//      collecting the notices to send; a rule changed or removed meanwhile (its generation
//      moved on) is left alone this round;
//   4. when any state changed, writes the states file (alert_states.hpp) before anything
//      is announced, so a crash after an announcement never announces it again (a crash
//      between the two loses that announcement instead: at most once);
//   5. hands the notices to the outbox, which never blocks (delivery/outbox.hpp).
//
// Notifications. A transition to firing and one to resolved are announced to every action
// of the rule: a webhook gets Alertmanager's webhook v4 body; an Alertmanager gets its
// POST /api/v2/alerts body. Alertmanager forgets an alert whose endsAt has passed, so a
// firing alert is re-sent to it every `alertmanager_resend` with endsAt = now + 3 x that
// (a restart re-sends at once: Alertmanager deduplicates by labels), and a resolved one is
// sent with endsAt = the time it resolved. Pending is not announced. Labels: alertname (the
// rule's alert_name), the rule's labels, and "workspace" outside the default one.
//
// Restarts. load() reads the rules and the states file: a firing alert stays firing with
// its startsAt and is not announced again. A rule's state goes with the rule. An update
// that keeps the rule's condition (same_condition: metric, tags, aggregation, window,
// condition, resolve_threshold, no_data) and identity (alert_name, labels) keeps its state;
// otherwise the state starts over at inactive, and an alert that was firing is first
// announced resolved (its old identity would otherwise linger in Alertmanager and in
// receivers until someone notices). Deleting a firing rule announces it resolved too.
//
// A stored rule that no longer compiles (a channel removed from alerts.channels) is kept,
// not evaluated, and its GET answer carries the error.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tally/alerts/alert_states.hpp"
#include "tally/alerts/alert_values.hpp"
#include "tally/alerts/evaluation.hpp"
#include "tally/alerts/notification.hpp"
#include "tally/alerts/rule.hpp"
#include "tally/base/background_loop.hpp"
#include "tally/delivery/outbox.hpp"

namespace tally::documents {
class DocumentStore;
}
namespace tally::telemetry {
class Metrics;
}

namespace tally::alerts {

struct AlertServiceOptions {
    std::filesystem::path dir;  // data_dir/alerts: the states file
    std::chrono::milliseconds eval_interval{10'000};
    Channels channels;
    std::string external_url;  // externalURL, and generatorURL's base
    std::chrono::milliseconds alertmanager_resend{60'000};
    /// The workspace that owns a site now (null: no workspaces). A rule over a site its
    /// workspace no longer owns reads no data: a site moved to another team stops feeding
    /// the old team's alerts.
    std::function<std::string(std::string_view site)> site_workspace;
};

/// What GET /api/v1/alerts/<id> adds to the document.
struct StateView {
    State state = State::inactive;
    std::int64_t since_ms = 0;
    std::optional<double> value;
    std::string error;  // the rule does not compile (it is not evaluated)
};

class AlertService {
  public:
    AlertService(AlertServiceOptions options, const metrics::Engine& engine,
                 const store::Store& store, documents::DocumentStore& rules,
                 delivery::Outbox& outbox);
    ~AlertService();
    AlertService(const AlertService&) = delete;
    AlertService& operator=(const AlertService&) = delete;

    /// Compiles the stored rules and reads the states file (after the store loaded).
    void load();
    void start();
    void stop();

    /// A rule was created or replaced: `previous` is the document it replaced (null for a
    /// creation).
    void rule_changed(const nlohmann::json& document, const nlohmann::json* previous,
                      std::int64_t now_ms);
    /// A rule was deleted (`document`: the last version).
    void rule_removed(const nlohmann::json& document, std::int64_t now_ms);

    std::optional<StateView> state_of(const std::string& id) const;
    std::vector<Transition> history_of(const std::string& id) const;

    /// One round at `now_ms` (the loop's step; tests and the benchmark call it directly).
    void evaluate(std::int64_t now_ms);

    const AlertServiceOptions& options() const { return options_; }
    /// Rules, firing alerts, the last round's duration, transitions and notices sent.
    void register_metrics(telemetry::Metrics& metrics) const;

  private:
    struct Entry {
        std::shared_ptr<const Rule> rule;  // null when it does not compile
        std::string error;
        std::uint64_t generation = 0;  // moves on with every change of the rule
        AlertState state;
        std::int64_t last_resent_ms = 0;  // Alertmanager's keep-alive
    };
    struct Snapshot {
        std::vector<std::shared_ptr<const Rule>> rules;
        std::vector<std::uint64_t> generations;
    };

    Entry compile(const nlohmann::json& document);
    Snapshot snapshot() const;
    /// Blanks the readings of analytics rules over sites their workspace does not own.
    void hide_foreign_sites(const std::vector<const Rule*>& rules,
                            std::vector<Reading>& readings) const;
    /// Steps every rule of `snapshot` and queues the notices; true when a state changed.
    bool apply_round(const Snapshot& snapshot, const std::vector<Reading>& readings,
                     std::int64_t now_ms, std::vector<delivery::Delivery>& notices);
    void persist(std::int64_t now_ms);
    void send(std::vector<delivery::Delivery> notices);
    /// The notices of `rule`'s transition (or keep-alive) to each of its actions.
    void notices_for(const Rule& rule, const AlertState& state, const std::string& status,
                     std::int64_t now_ms, bool alertmanager_only,
                     std::vector<delivery::Delivery>& out) const;

    AlertServiceOptions options_;
    documents::DocumentStore& rules_;
    delivery::Outbox& outbox_;
    ValueReader reader_;
    mutable std::mutex mutex_;  // guards entries_, dirty_, next_generation_
    std::map<std::string, Entry> entries_;
    bool dirty_ = false;  // a state changed outside a round (an update reset it)
    std::uint64_t next_generation_ = 1;
    std::mutex persist_mutex_;  // one writer of the states file at a time
    std::atomic<std::uint64_t> transitions_{0};
    std::atomic<std::uint64_t> notices_{0};
    std::atomic<std::uint64_t> rounds_{0};
    std::atomic<std::int64_t> last_round_us_{0};
    std::atomic<std::size_t> firing_{0};
    std::atomic<std::size_t> rule_count_{0};
    BackgroundLoop loop_;  // last: stopped before the members above go
};

}  // namespace tally::alerts
