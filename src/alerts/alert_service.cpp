#include "tally/alerts/alert_service.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <unordered_map>

#include "tally/base/time.hpp"
#include "tally/documents/document_store.hpp"
#include "tally/telemetry/metrics.hpp"

using nlohmann::json;

namespace tally::alerts {

namespace {

std::string format_value(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

}  // namespace

AlertService::AlertService(AlertServiceOptions options, const metrics::Engine& engine,
                           const store::Store& store, documents::DocumentStore& rules,
                           delivery::Outbox& outbox)
    : options_(std::move(options)), rules_(rules), outbox_(outbox), reader_(engine, store) {}

AlertService::~AlertService() {
    loop_.stop();
}

AlertService::Entry AlertService::compile(const json& document) {
    Entry entry;
    entry.generation = next_generation_++;
    auto compiled = compile_rule(document, options_.channels);
    if (auto* rule = std::get_if<Rule>(&compiled)) {
        entry.rule = std::make_shared<const Rule>(std::move(*rule));
    } else {
        const Invalid& bad = std::get<Invalid>(compiled);
        entry.error = bad.field.empty() ? bad.message : bad.field + ": " + bad.message;
    }
    return entry;
}

void AlertService::load() {
    States saved = load_states(options_.dir);
    const std::vector<json> documents = rules_.list();
    std::lock_guard lock(mutex_);
    entries_.clear();
    std::size_t firing = 0;
    for (const json& document : documents) {
        const std::string id = document.value("id", "");
        Entry entry = compile(document);
        if (!entry.error.empty())
            spdlog::warn("alert rule {} is not evaluated: {}", id, entry.error);
        if (auto it = saved.find(id); it != saved.end()) {
            entry.state = std::move(it->second);
            saved.erase(it);
        }
        firing += entry.state.state == State::firing ? 1 : 0;
        entries_.emplace(id, std::move(entry));
    }
    dirty_ = !saved.empty();  // states of rules deleted meanwhile: rewrite without them
    rule_count_.store(entries_.size());
    firing_.store(firing);
    spdlog::info("alerts: {} rule(s), {} firing, evaluated every {} ms", entries_.size(), firing,
                 options_.eval_interval.count());
}

void AlertService::start() {
    loop_.start(options_.eval_interval, [this] { evaluate(now_ms()); });
}

void AlertService::stop() {
    loop_.stop();
    bool dirty = false;
    {
        std::lock_guard lock(mutex_);
        dirty = dirty_;
    }
    if (dirty)
        persist(now_ms());
}

void AlertService::rule_changed(const json& document, const json* previous, std::int64_t now_ms) {
    std::vector<delivery::Delivery> notices;
    const std::string id = document.value("id", "");
    {
        std::lock_guard lock(mutex_);
        Entry fresh = compile(document);
        auto it = entries_.find(id);
        if (it != entries_.end() && previous != nullptr) {
            Entry& old = it->second;
            if (same_condition(*previous, document) && same_identity(*previous, document)) {
                fresh.state = std::move(old.state);
                fresh.last_resent_ms = old.last_resent_ms;
            } else {
                if (old.state.state == State::firing && old.rule)
                    notices_for(*old.rule, old.state, "resolved", now_ms, false, notices);
                dirty_ = true;
            }
        }
        entries_[id] = std::move(fresh);
        rule_count_.store(entries_.size());
    }
    send(std::move(notices));
}

void AlertService::rule_removed(const json& document, std::int64_t now_ms) {
    std::vector<delivery::Delivery> notices;
    {
        std::lock_guard lock(mutex_);
        auto it = entries_.find(document.value("id", ""));
        if (it == entries_.end())
            return;
        if (it->second.state.state == State::firing && it->second.rule)
            notices_for(*it->second.rule, it->second.state, "resolved", now_ms, false, notices);
        entries_.erase(it);
        dirty_ = true;
        rule_count_.store(entries_.size());
    }
    send(std::move(notices));
}

std::optional<StateView> AlertService::state_of(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end())
        return std::nullopt;
    const AlertState& state = it->second.state;
    return StateView{state.state, state.since_ms, state.value, it->second.error};
}

std::vector<Transition> AlertService::history_of(const std::string& id) const {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end())
        return {};
    return {it->second.state.history.begin(), it->second.state.history.end()};
}

AlertService::Snapshot AlertService::snapshot() const {
    Snapshot out;
    std::lock_guard lock(mutex_);
    out.rules.reserve(entries_.size());
    out.generations.reserve(entries_.size());
    for (const auto& [id, entry] : entries_) {
        if (!entry.rule)
            continue;
        out.rules.push_back(entry.rule);
        out.generations.push_back(entry.generation);
    }
    return out;
}

void AlertService::evaluate(std::int64_t now_ms) {
    const auto started = std::chrono::steady_clock::now();
    const Snapshot rules = snapshot();
    std::vector<const Rule*> pointers;
    pointers.reserve(rules.rules.size());
    for (const auto& rule : rules.rules)
        pointers.push_back(rule.get());
    std::vector<Reading> readings;
    reader_.read(pointers, now_ms, readings);
    if (options_.site_workspace)
        hide_foreign_sites(pointers, readings);
    std::vector<delivery::Delivery> notices;
    if (apply_round(rules, readings, now_ms, notices))
        persist(now_ms);  // before anything is announced
    send(std::move(notices));
    const auto took = std::chrono::steady_clock::now() - started;
    last_round_us_.store(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
    rounds_.fetch_add(1, std::memory_order_relaxed);
}

void AlertService::hide_foreign_sites(const std::vector<const Rule*>& rules,
                                      std::vector<Reading>& readings) const {
    std::unordered_map<std::string, std::string> owners;  // each site asked once a round
    for (std::size_t i = 0; i < rules.size(); ++i) {
        const Rule& rule = *rules[i];
        if (rule.source == Source::metric)
            continue;
        auto it = owners.find(rule.site);
        if (it == owners.end())
            it = owners.emplace(rule.site, options_.site_workspace(rule.site)).first;
        if (it->second != rule.workspace)
            readings[i] = Reading{};
    }
}

bool AlertService::apply_round(const Snapshot& snapshot, const std::vector<Reading>& readings,
                               std::int64_t now_ms, std::vector<delivery::Delivery>& notices) {
    const std::int64_t resend = options_.alertmanager_resend.count();
    std::lock_guard lock(mutex_);
    bool changed = dirty_;
    dirty_ = false;
    for (std::size_t i = 0; i < snapshot.rules.size(); ++i) {
        const Rule& rule = *snapshot.rules[i];
        auto it = entries_.find(rule.id);
        if (it == entries_.end() || it->second.generation != snapshot.generations[i])
            continue;  // changed or removed since the snapshot: next round
        Entry& entry = it->second;
        const auto transition = step(rule, entry.state, readings[i], now_ms);
        if (transition) {
            changed = true;
            transitions_.fetch_add(1, std::memory_order_relaxed);
            if (transition->to == State::firing) {
                notices_for(rule, entry.state, "firing", now_ms, false, notices);
                entry.last_resent_ms = now_ms;
            } else if (transition->from == State::firing) {
                notices_for(rule, entry.state, "resolved", now_ms, false, notices);
            }
        } else if (entry.state.state == State::firing && now_ms - entry.last_resent_ms >= resend) {
            notices_for(rule, entry.state, "firing", now_ms, true, notices);  // keep-alive
            entry.last_resent_ms = now_ms;
        }
    }
    std::size_t firing = 0;
    for (const auto& [id, entry] : entries_)
        firing += entry.state.state == State::firing ? 1 : 0;
    firing_.store(firing);
    return changed;
}

void AlertService::persist(std::int64_t now_ms) {
    States states;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, entry] : entries_)
            states.emplace(id, entry.state);
    }
    const std::string text = encode_states(states, now_ms);
    std::lock_guard lock(persist_mutex_);
    std::string error;
    if (!save_states(options_.dir, text, error))
        spdlog::error("alert states not saved: {} (a restart would start them over)", error);
}

void AlertService::send(std::vector<delivery::Delivery> notices) {
    for (delivery::Delivery& notice : notices) {
        const std::string url = notice.url;
        if (!outbox_.send(std::move(notice)))
            spdlog::warn("alert notification to {} refused by the outbox", url);
        notices_.fetch_add(1, std::memory_order_relaxed);
    }
}

void AlertService::notices_for(const Rule& rule, const AlertState& state, const std::string& status,
                               std::int64_t now_ms, bool alertmanager_only,
                               std::vector<delivery::Delivery>& out) const {
    AlertNotice notice;
    notice.status = status;
    notice.labels = rule.labels;
    notice.labels["alertname"] = rule.alert_name;
    if (rule.workspace != "default")
        notice.labels["workspace"] = rule.workspace;
    notice.annotations = rule.annotations;
    if (state.value && !notice.annotations.contains("value"))
        notice.annotations["value"] = format_value(*state.value);
    notice.starts_at_ms = state.firing_since_ms;
    notice.generator_url = options_.external_url + "/alerts/" + rule.id;
    const bool resolved = status == "resolved";
    for (const Action& action : rule.actions) {
        delivery::Delivery delivery;
        delivery.url = action.url;
        if (action.type == Action::Type::webhook) {
            if (alertmanager_only)
                continue;
            notice.ends_at_ms = resolved ? now_ms : 0;
            delivery.kind = "alert_webhook";
            delivery.body = webhook_body(notice, action.receiver, options_.external_url);
        } else {
            notice.ends_at_ms =
                resolved ? now_ms : now_ms + 3 * options_.alertmanager_resend.count();
            delivery.kind = "alertmanager";
            delivery.url = alertmanager_alerts_url(action.url);
            delivery.body = alertmanager_body(notice);
        }
        out.push_back(std::move(delivery));
    }
}

void AlertService::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_alerts_rules", "Alert rules stored.", "gauge",
                         [this] { return double(rule_count_.load()); });
    metrics.add_callback("tally_alerts_firing", "Alerts firing now.", "gauge",
                         [this] { return double(firing_.load()); });
    metrics.add_callback("tally_alerts_round_seconds",
                         "How long the last evaluation round of every rule took.", "gauge",
                         [this] { return double(last_round_us_.load()) / 1e6; });
    metrics.add_callback("tally_alerts_rounds_total", "Evaluation rounds run.", "counter",
                         [this] { return double(rounds_.load()); });
    metrics.add_callback("tally_alerts_transitions_total",
                         "Alert state transitions (to pending, firing, resolved, inactive).",
                         "counter", [this] { return double(transitions_.load()); });
    metrics.add_callback("tally_alerts_notifications_total",
                         "Alert notifications handed to the outbox (firing, resolved, and "
                         "Alertmanager keep-alives).",
                         "counter", [this] { return double(notices_.load()); });
}

}  // namespace tally::alerts
