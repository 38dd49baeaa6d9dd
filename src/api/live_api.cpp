#include "tally/api/live_api.hpp"

#include "tally/api/params.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

std::shared_ptr<void> ConnectionsPerClient::take(const std::string& address) {
    std::lock_guard lock(state_->mutex);
    std::size_t& open = state_->open[address];
    if (open >= state_->cap) {
        if (open == 0)
            state_->open.erase(address);  // a cap of 0: keep no entry
        return nullptr;
    }
    ++open;
    // Not null (a null shared_ptr reads as "refused"); the deleter only gives the place back.
    return std::shared_ptr<void>(state_.get(), [state = state_, address](void*) {
        std::lock_guard give_back(state->mutex);
        auto it = state->open.find(address);
        if (it != state->open.end() && --it->second == 0)
            state->open.erase(it);
    });
}

namespace {

/// A hub's peer holding its client's place in ConnectionsPerClient for as long as the
/// connection (which owns the peer) lives.
class PeerWithPlace final : public http::WsPeer {
  public:
    PeerWithPlace(std::shared_ptr<http::WsPeer> peer, std::shared_ptr<void> place)
        : peer_(std::move(peer)), place_(std::move(place)) {}
    void on_open(std::weak_ptr<http::WsConnection> connection) override {
        peer_->on_open(std::move(connection));
    }
    void on_message(std::string_view text) override { peer_->on_message(text); }
    void on_lagging() override { peer_->on_lagging(); }

  private:
    std::shared_ptr<http::WsPeer> peer_;
    std::shared_ptr<void> place_;
};

}  // namespace

std::variant<http::Response, std::shared_ptr<http::WsPeer>> LiveApi::upgrade(
    const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    auto place = per_client_.take(client_address(request, options_.trusted_proxies));
    if (!place) {
        return http::error_response(
            429, "too many live connections from this address (live.max_clients_per_ip)");
    }
    auto decision = accept(request, std::get<Access>(allowed));
    if (auto* peer = std::get_if<std::shared_ptr<http::WsPeer>>(&decision))
        return std::make_shared<PeerWithPlace>(std::move(*peer), std::move(place));
    return decision;
}

std::variant<http::Response, std::shared_ptr<http::WsPeer>> LiveApi::accept(
    const http::Request& request, const Access& access) const {
    constexpr std::string_view kMetricsPrefix = "/ws/metrics/";
    if (request.path.starts_with(kMetricsPrefix)) {
        const std::string_view id = request.path.substr(kMetricsPrefix.size());
        if (id.empty() || id.size() > 128 || id.find('/') != std::string_view::npos)
            return http::error_response(400, "expected /ws/metrics/<client_id>", "client_id");
        return metrics_hub_.accept(std::string(id), access.metrics_workspace());
    }
    if (request.path != "/ws")
        return http::error_response(404, "not found");
    http::Response error;
    auto site = site_param(request, error);
    if (!site)
        return error;
    if (!authorization_.sees_site(access, *site))
        return not_found("site");
    // The client keeps what it asked for ("today" moves at midnight); the hub resolves it
    // again at every batch.
    std::string date = http::query_param(request.query, "date").value_or("today");
    if (!range_param(date, now_ms(), error))
        return error;
    std::string props = http::query_param(request.query, "props").value_or("");
    if (!props.empty() && !valid_event_name(props))
        return http::error_response(400, "props must be an event name ([A-Za-z0-9_.:-]{1,64})",
                                    "props");
    return hub_.accept(std::move(*site), std::move(date), std::move(props));
}

}  // namespace tally::api
