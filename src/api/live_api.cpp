#include "tally/api/live_api.hpp"

#include "tally/api/params.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

std::variant<http::Response, std::shared_ptr<http::WsPeer>> LiveApi::upgrade(
    const http::Request& request) const {
    if (auto denied = authorization_.check(request))
        return std::move(*denied);
    constexpr std::string_view kMetricsPrefix = "/ws/metrics/";
    if (request.path.starts_with(kMetricsPrefix)) {
        const std::string_view id = request.path.substr(kMetricsPrefix.size());
        if (id.empty() || id.size() > 128 || id.find('/') != std::string_view::npos)
            return http::error_response(400, "expected /ws/metrics/<client_id>", "client_id");
        return metrics_hub_.accept(std::string(id));
    }
    if (request.path != "/ws")
        return http::error_response(404, "not found");
    http::Response error;
    auto site = site_param(request, error);
    if (!site)
        return error;
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
