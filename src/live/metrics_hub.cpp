#include "tally/live/metrics_hub.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "tally/base/time.hpp"
#include "tally/http/router.hpp"
#include "tally/metrics/query.hpp"
#include "tally/metrics/query_json.hpp"
#include "tally/telemetry/metrics.hpp"

namespace tally::live {

using json = nlohmann::json;

struct MetricsHub::Shared {
    explicit Shared(metrics::Engine& e) : engine(e) {}
    metrics::Engine& engine;
    std::mutex mutex;
    std::vector<std::weak_ptr<Client>> clients;
    std::atomic<std::size_t> count{0};
    std::atomic<std::uint64_t> frames{0};
    std::atomic<std::uint64_t> errors{0};
};

namespace {

/// One metric's /current figures as a metric_data item (value null, count 0 while the
/// name is unknown).
json data_item(const metrics::Engine& engine, const std::string& workspace, const std::string& name,
               MetricWindow window, const std::vector<metrics::TagFilter>& filters,
               std::int64_t now) {
    const auto current = metrics::current(engine, workspace, name, window, filters, now);
    json item = current ? metrics::current_json(*current)
                        : json{{"name", name},
                               {"window", window_name(window)},
                               {"value", nullptr},
                               {"count", 0}};
    item["metric"] = name;
    item["timestamp"] = format_rfc3339_ms(now);
    return item;
}

std::shared_ptr<const std::string> error_frame(const std::string& message) {
    return std::make_shared<const std::string>(json{{"type", "error"}, {"error", message}}.dump());
}

}  // namespace

class MetricsHub::Client : public http::WsPeer, public std::enable_shared_from_this<Client> {
  public:
    Client(std::shared_ptr<Shared> shared, std::string id, std::string workspace)
        : shared_(std::move(shared)), id_(std::move(id)), workspace_(std::move(workspace)) {}
    ~Client() override { shared_->count.fetch_sub(1, std::memory_order_relaxed); }

    void on_open(std::weak_ptr<http::WsConnection> connection) override {
        std::lock_guard lock(shared_->mutex);
        connection_ = std::move(connection);
        shared_->clients.push_back(weak_from_this());
    }

    void on_message(std::string_view text) override {
        std::string error = apply(text);
        if (!error.empty()) {
            shared_->errors.fetch_add(1, std::memory_order_relaxed);
            send(error_frame(error));
            return;
        }
        push(now_ms());  // the answer at once
    }

    void on_lagging() override {}

    /// Sends a metric_data frame when a name it follows is among `changed` (sorted).
    void push_if(const std::vector<metrics::NameInfo>& changed, std::int64_t now) {
        bool follows = false;
        {
            std::lock_guard lock(mutex_);
            for (const auto& name : changed) {
                if (name.workspace == workspace_ &&
                    std::find(metrics_.begin(), metrics_.end(), name.name) != metrics_.end())
                    follows = true;
            }
        }
        if (follows)
            push(now);
    }

  private:
    /// Applies a subscribe/unsubscribe message; the error to answer, "" when fine.
    std::string apply(std::string_view text) {
        const json message = json::parse(text, nullptr, false);
        if (!message.is_object() || !message.contains("type") || !message["type"].is_string())
            return "expected {\"type\":\"subscribe\"|\"unsubscribe\", \"metrics\":[...]}";
        const std::string type = message["type"].get<std::string>();
        if (type != "subscribe" && type != "unsubscribe")
            return "unknown message type '" + type + "'";
        std::vector<std::string> names;
        if (message.contains("metrics")) {
            if (!message["metrics"].is_array())
                return "metrics must be a list of metric names";
            for (const json& name : message["metrics"]) {
                if (!name.is_string() || !valid_metric_name(name.get<std::string>()))
                    return "metrics must be a list of metric names";
                names.push_back(name.get<std::string>());
            }
        }
        std::lock_guard lock(mutex_);
        if (type == "unsubscribe") {
            if (!message.contains("metrics"))
                metrics_.clear();
            for (const std::string& name : names)
                metrics_.erase(std::remove(metrics_.begin(), metrics_.end(), name), metrics_.end());
            return "";
        }
        if (names.empty())
            return "subscribe needs a non-empty list of metrics";
        return subscribe(message, names);
    }

    /// Under mutex_.
    std::string subscribe(const json& message, const std::vector<std::string>& names) {
        if (message.contains("window")) {
            const auto window = message["window"].is_string()
                                    ? parse_window(message["window"].get<std::string>())
                                    : std::nullopt;
            if (!window)
                return "window must be 10s, 1m, 5m, 15m, 1h or 1d";
            window_ = *window;
        }
        if (message.contains("tags")) {
            if (!message["tags"].is_object())
                return "tags must be an object of tag values";
            std::vector<metrics::TagFilter> filters;
            for (const auto& [key, value] : message["tags"].items()) {
                metrics::TagFilter filter{key.starts_with("tags.") ? key.substr(5) : key, {}};
                for (const json& v : value.is_array() ? value : json::array({value})) {
                    if (!v.is_string())
                        return "tags must map a key to a value or a list of values";
                    filter.values.push_back(v.get<std::string>());
                }
                filters.push_back(std::move(filter));
            }
            filters_ = std::move(filters);
        }
        for (const std::string& name : names) {
            if (std::find(metrics_.begin(), metrics_.end(), name) == metrics_.end())
                metrics_.push_back(name);
        }
        return "";
    }

    void push(std::int64_t now) {
        json data = json::array();
        {
            std::lock_guard lock(mutex_);
            for (const std::string& name : metrics_)
                data.push_back(
                    data_item(shared_->engine, workspace_, name, window_, filters_, now));
        }
        shared_->frames.fetch_add(1, std::memory_order_relaxed);
        send(std::make_shared<const std::string>(
            json{{"type", "metric_data"}, {"data", std::move(data)}}.dump()));
    }

    void send(std::shared_ptr<const std::string> frame) {
        std::shared_ptr<http::WsConnection> connection;
        {
            std::lock_guard lock(shared_->mutex);
            connection = connection_.lock();
        }
        if (connection)
            connection->send(std::move(frame), /*snapshot=*/true);
    }

    std::shared_ptr<Shared> shared_;
    std::string id_;
    std::string workspace_;  // the metrics engine's name of the client's workspace
    std::weak_ptr<http::WsConnection> connection_;  // under shared_->mutex
    std::mutex mutex_;                              // the subscription
    std::vector<std::string> metrics_;
    MetricWindow window_ = MetricWindow::m1;
    std::vector<metrics::TagFilter> filters_;
};

MetricsHub::MetricsHub(metrics::Engine& engine, MetricsHubOptions options)
    : engine_(engine), options_(options), shared_(std::make_shared<Shared>(engine)) {}

MetricsHub::~MetricsHub() {
    stop();
}

void MetricsHub::start() {
    loop_.start(options_.batch, [this] { broadcast(); });
}

void MetricsHub::stop() {
    loop_.stop();
}

std::variant<http::Response, std::shared_ptr<http::WsPeer>> MetricsHub::accept(
    std::string client_id, std::string workspace) {
    if (shared_->count.fetch_add(1, std::memory_order_relaxed) >= options_.max_clients) {
        shared_->count.fetch_sub(1, std::memory_order_relaxed);
        return http::error_response(503, "too many live clients (live.max_clients)");
    }
    return std::make_shared<Client>(shared_, std::move(client_id), std::move(workspace));
}

void MetricsHub::broadcast() {
    const std::vector<metrics::NameId> changed_ids = engine_.drain_changed();
    if (changed_ids.empty())
        return;
    std::vector<std::shared_ptr<Client>> clients;
    {
        std::lock_guard lock(shared_->mutex);
        auto& all = shared_->clients;
        all.erase(std::remove_if(all.begin(), all.end(), [](const auto& c) { return c.expired(); }),
                  all.end());
        for (const auto& weak : all) {
            if (auto client = weak.lock())
                clients.push_back(std::move(client));
        }
    }
    if (clients.empty())
        return;
    const std::vector<metrics::NameInfo> changed = engine_.registry().names_by_id(changed_ids);
    const std::int64_t now = now_ms();
    for (const auto& client : clients)
        client->push_if(changed, now);
}

void MetricsHub::register_metrics(telemetry::Metrics& metrics) const {
    metrics.add_callback("tally_live_metric_clients", "Clients of WS /ws/metrics.", "gauge",
                         [shared = shared_] { return static_cast<double>(shared->count.load()); });
    metrics.add_callback("tally_live_metric_frames_total", "metric_data frames sent.", "counter",
                         [shared = shared_] { return static_cast<double>(shared->frames.load()); });
    metrics.add_callback("tally_live_metric_errors_total",
                         "Bad messages on WS /ws/metrics, answered with an error.", "counter",
                         [shared = shared_] { return static_cast<double>(shared->errors.load()); });
}

}  // namespace tally::live
