#include "tally/api/alerts_api.hpp"

#include <nlohmann/json.hpp>

#include "tally/alerts/rule.hpp"
#include "tally/api/document_answers.hpp"
#include "tally/base/time.hpp"

using nlohmann::json;

namespace tally::api {

namespace {

constexpr std::string_view kPrefix = "/api/v1/alerts/";
constexpr std::string_view kHistorySuffix = "/history";

json number_or_null(const std::optional<double>& value) {
    return value ? json(*value) : json(nullptr);
}

json time_or_null(std::int64_t ms) {
    return ms > 0 ? json(format_rfc3339_ms(ms)) : json(nullptr);
}

}  // namespace

AlertsApi::AlertsApi(const Authorization& authorization, documents::DocumentStore& alerts,
                     alerts::AlertService& service, const metrics::Engine& engine,
                     audit::AuditLog* audit)
    : authorization_(authorization),
      alerts_(alerts),
      service_(service),
      engine_(engine),
      audit_(audit) {}

void AlertsApi::add_routes(http::Router& router) {
    using http::Method;
    router.add(
        "alerts", {Method::get, Method::head, Method::post}, "/api/v1/alerts",
        [this](const http::Request& r) { return r.method == Method::post ? create(r) : list(r); });
    router.add_prefix("alerts_one", {Method::get, Method::head, Method::put, Method::delete_},
                      std::string(kPrefix), [this](const http::Request& r) { return one(r); });
}

json AlertsApi::with_state(json document) const {
    const auto state = service_.state_of(document.value("id", ""));
    if (!state) {
        document["state"] = alerts::state_name(alerts::State::inactive);
        document["since"] = nullptr;
        document["value"] = nullptr;
        return document;
    }
    document["state"] = alerts::state_name(state->state);
    document["since"] = time_or_null(state->since_ms);
    document["value"] = number_or_null(state->value);
    if (!state->error.empty())
        document["error"] = state->error;
    return document;
}

http::Response AlertsApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    json out = json::array();
    for (json& document : alerts_.list()) {
        if (documents::workspace_of(document) == access.workspace)
            out.push_back(with_state(std::move(document)));
    }
    return http::json_response(200, json{{"alerts", std::move(out)}}.dump());
}

std::variant<json, http::Response> AlertsApi::validate(const json& body,
                                                       const Access& access) const {
    alerts::RuleContext context;
    context.channels = &service_.options().channels;
    context.sees_site = [&](std::string_view site) {
        return authorization_.sees_site(access, site);
    };
    const std::string workspace = access.metrics_workspace();
    context.metric_kind = [&](const std::string& name) -> std::optional<MetricKind> {
        const auto info = engine_.registry().name(workspace, name);
        return info ? std::optional(kind_of(info->type)) : std::nullopt;
    };
    auto valid = alerts::validate_rule(body, context);
    if (const auto* bad = std::get_if<alerts::Invalid>(&valid)) {
        const unsigned status = bad->message == "no such site" ? 404 : 400;
        return http::error_response(status, bad->message, bad->field);
    }
    return std::move(std::get<json>(valid));
}

http::Response AlertsApi::create(const http::Request& request) {
    auto allowed = authorization_.allow(request, Need::edit);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    if (request.body.size() > alerts::kMaxDocumentBytes)
        return http::error_response(413, "an alert rule is at most 64 KiB");
    auto valid = validate(json::parse(request.body, nullptr, false), access);
    if (auto* error = std::get_if<http::Response>(&valid))
        return std::move(*error);
    json document = std::move(std::get<json>(valid));
    if (access.workspace != workspaces::kDefault)
        document["workspace"] = access.workspace;
    const std::int64_t now = now_ms();
    auto result = alerts_.create(std::move(document), now);
    if (result.outcome != documents::DocumentStore::Outcome::ok)
        return store_failure(result, "alert rule", "20,000 alert rules");
    const std::string id = result.document["id"].get<std::string>();
    service_.rule_changed(result.document, nullptr, now);
    record_change(audit_ ? audit_ : authorization_.audit(), access, "alert.create", id, 0,
                  result.document["version"].get<std::int64_t>());
    http::Response response = http::json_response(201, with_state(result.document).dump());
    response.headers.emplace_back("Location", std::string(kPrefix) + id);
    return response;
}

http::Response AlertsApi::one(const http::Request& request) {
    const bool changes =
        request.method == http::Method::put || request.method == http::Method::delete_;
    auto allowed = authorization_.allow(request, changes ? Need::edit : Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    std::string_view rest = request.path.substr(kPrefix.size());
    const bool wants_history = rest.ends_with(kHistorySuffix);
    if (wants_history)
        rest.remove_suffix(kHistorySuffix.size());
    const std::string id(rest);
    const auto current =
        documents::DocumentStore::valid_id(id) ? alerts_.get(id) : std::optional<json>();
    if (!current || documents::workspace_of(*current) != access.workspace)
        return not_found("alert");
    if (wants_history) {
        if (changes)
            return http::error_response(405, "use GET for an alert's history");
        json history = json::array();
        for (const alerts::Transition& t : service_.history_of(id)) {
            history.push_back({{"at", format_rfc3339_ms(t.at_ms)},
                               {"from", alerts::state_name(t.from)},
                               {"to", alerts::state_name(t.to)},
                               {"value", number_or_null(t.value)}});
        }
        return http::json_response(200, json{{"history", std::move(history)}}.dump());
    }
    if (request.method == http::Method::put)
        return replace(request, access, *current);
    if (request.method == http::Method::delete_)
        return remove(access, *current);
    return http::json_response(200, with_state(*current).dump());
}

http::Response AlertsApi::replace(const http::Request& request, const Access& access,
                                  const json& current) {
    if (request.body.size() > alerts::kMaxDocumentBytes)
        return http::error_response(413, "an alert rule is at most 64 KiB");
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer())
        return http::error_response(400, "version (the one you edited) is required", "version");
    const std::int64_t version = body["version"].get<std::int64_t>();
    auto valid = validate(body, access);
    if (auto* error = std::get_if<http::Response>(&valid))
        return std::move(*error);
    json document = std::move(std::get<json>(valid));
    if (current.contains("workspace"))
        document["workspace"] = current["workspace"];
    const std::string id = current["id"].get<std::string>();
    const std::int64_t now = now_ms();
    auto result = alerts_.replace(id, std::move(document), version, now);
    using Outcome = documents::DocumentStore::Outcome;
    if (result.outcome == Outcome::conflict) {
        return stale_version("alert rule", version, result.document);
    }
    if (result.outcome != Outcome::ok)
        return store_failure(result, "alert rule", "20,000 alert rules");
    service_.rule_changed(result.document, &current, now);
    record_change(audit_ ? audit_ : authorization_.audit(), access, "alert.update", id, version,
                  result.document["version"].get<std::int64_t>());
    return http::json_response(200, with_state(result.document).dump());
}

http::Response AlertsApi::remove(const Access& access, const json& current) {
    const std::string id = current["id"].get<std::string>();
    auto result = alerts_.remove(id);
    if (result.outcome != documents::DocumentStore::Outcome::ok)
        return store_failure(result, "alert rule", "20,000 alert rules");
    service_.rule_removed(current, now_ms());
    record_change(audit_ ? audit_ : authorization_.audit(), access, "alert.delete", id,
                  current["version"].get<std::int64_t>(), 0);
    http::Response response;
    response.status = 204;
    return response;
}

}  // namespace tally::api
