// The audit trail's API; see tally/api/audit_api.hpp.

#include "tally/api/audit_api.hpp"

#include <nlohmann/json.hpp>

#include "tally/api/params.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

namespace {

using json = nlohmann::ordered_json;

/// ?since=: RFC 3339 or epoch ms; 0 (everything kept) when absent.
std::optional<std::int64_t> since_param(const http::Request& request, http::Response& error) {
    const auto text = http::query_param(request.query, "since");
    if (!text)
        return 0;
    if (auto ms = parse_int(*text); ms && *ms >= 0)
        return ms;
    if (auto ms = parse_rfc3339_ms(*text))
        return ms;
    error = http::error_response(
        400, "since must be an RFC 3339 time (2026-12-03T10:00:00Z) or epoch milliseconds",
        "since");
    return std::nullopt;
}

/// ?limit=: 1..kMaxLimit, kDefaultLimit when absent.
std::optional<std::size_t> limit_param(const http::Request& request, http::Response& error) {
    const auto text = http::query_param(request.query, "limit");
    if (!text)
        return AuditApi::kDefaultLimit;
    const auto limit = parse_int(*text);
    if (limit && *limit >= 1 && *limit <= static_cast<std::int64_t>(AuditApi::kMaxLimit))
        return static_cast<std::size_t>(*limit);
    error = http::error_response(400, "limit must be a whole number from 1 to 10000", "limit");
    return std::nullopt;
}

json version(std::int64_t v) {
    return v == 0 ? json(nullptr) : json(v);
}

json to_json(const audit::Entry& entry) {
    return json{{"time", format_rfc3339_ms(entry.time_ms)},
                {"workspace", entry.workspace},
                {"token_id", entry.token_id},
                {"action", entry.action},
                {"object_id", entry.object_id},
                {"version_before", version(entry.version_before)},
                {"version_after", version(entry.version_after)},
                {"detail", entry.detail}};
}

}  // namespace

AuditApi::AuditApi(const Authorization& authorization, const audit::AuditLog& log)
    : authorization_(authorization), log_(log) {}

void AuditApi::add_routes(http::Router& router) {
    router.add("audit", {http::Method::get}, "/api/v1/audit",
               [this](const http::Request& r) { return list(r); });
}

http::Response AuditApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::admin);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    http::Response error;
    const auto since = since_param(request, error);
    if (!since)
        return error;
    const auto limit = limit_param(request, error);
    if (!limit)
        return error;
    // The server's admin reads every workspace ("") unless narrowed; anyone else their own.
    std::string workspace = access.server_admin ? std::string() : access.workspace;
    if (const auto named = http::query_param(request.query, "workspace")) {
        if (!workspaces::valid_name(*named))
            return http::error_response(400, "workspace must be 1 to 32 of a-z, 0-9 and -",
                                        "workspace");
        if (!access.server_admin && *named != access.workspace)
            return not_found("workspace");
        workspace = *named;
    }
    json entries = json::array();
    for (const audit::Entry& entry : log_.read(workspace, *since, *limit))
        entries.push_back(to_json(entry));
    return http::json_response(200, json{{"entries", std::move(entries)}}.dump(
                                        -1, ' ', false, json::error_handler_t::replace));
}

}  // namespace tally::api
