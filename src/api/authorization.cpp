#include "tally/api/authorization.hpp"

#include <atomic>

#include "tally/audit/audit_log.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

namespace {

using workspaces::Role;

/// The token a request presents, or "" when it presents none.
std::string presented_token(const http::Request& request) {
    // "Token" is how the InfluxDB clients send theirs.
    for (const std::string_view scheme :
         {std::string_view("Bearer "), std::string_view("Token ")}) {
        if (request.authorization.starts_with(scheme))
            return std::string(request.authorization.substr(scheme.size()));
    }
    return http::query_param(request.query, "token").value_or("");
}

bool role_allows(Role role, Need need) {
    switch (need) {
        case Need::any:
            return true;
        case Need::read:
            return role == Role::admin || role == Role::editor || role == Role::viewer;
        case Need::edit:
            return role == Role::admin || role == Role::editor;
        case Need::admin:
            return role == Role::admin;
        case Need::ingest:
            return role == Role::admin || role == Role::editor || role == Role::ingest;
        case Need::server_admin:
            return false;  // a server admin is the global token, whatever its role
    }
    return false;
}

std::string_view need_words(Need need) {
    switch (need) {
        case Need::any:
        case Need::read:
            return "read";
        case Need::edit:
            return "change dashboards, alerts and reports";
        case Need::admin:
            return "administer its workspace";
        case Need::ingest:
            return "send metrics";
        case Need::server_admin:
            return "use the server's own endpoints";
    }
    return "do this";
}

std::string_view method_name(http::Method method) {
    switch (method) {
        case http::Method::get:
            return "GET";
        case http::Method::head:
            return "HEAD";
        case http::Method::post:
            return "POST";
        case http::Method::put:
            return "PUT";
        case http::Method::delete_:
            return "DELETE";
        default:
            return "OTHER";
    }
}

http::Response unauthorized() {
    http::Response response =
        http::error_response(401, "a valid token is required (Authorization: Bearer)");
    response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"tally\"");
    return response;
}

}  // namespace

std::variant<Access, http::Response> Authorization::allow(const http::Request& request,
                                                          Need need) const {
    if (!workspaces_.tokens_required())
        return Access{};
    const std::string secret = presented_token(request);
    const auto holder = workspaces_.authenticate(secret);
    if (!holder) {
        if (!secret.empty())
            record_refusal(request);
        return unauthorized();
    }
    if (!(holder->server_admin || role_allows(holder->role, need)) ||
        (need == Need::server_admin && !holder->server_admin)) {
        return http::error_response(403, "this token (" + std::string(role_name(holder->role)) +
                                             ") may not " + std::string(need_words(need)));
    }
    Access access;
    access.workspace = holder->workspace;
    access.role = holder->role;
    access.token_id = holder->token_id;
    access.server_admin = holder->server_admin;
    return access;
}

std::optional<http::Response> Authorization::check(const http::Request& request) const {
    auto allowed = allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    return std::nullopt;
}

bool Authorization::sees_site(const Access& access, std::string_view site) const {
    return !workspaces_.enabled() || workspaces_.site_workspace(site) == access.workspace;
}

void Authorization::record_refusal(const http::Request& request) const {
    if (audit_ == nullptr)
        return;
    // A flood of wrong tokens must not fill the disk: at most kRefusalsPerMinute entries a
    // minute; the rest are only counted, and the next entry says how many were left out.
    const std::int64_t now = now_ms();
    const std::int64_t minute = now / 60'000;
    std::int64_t seen = refusal_minute_.load();
    if (seen != minute && refusal_minute_.compare_exchange_strong(seen, minute))
        refusals_this_minute_.store(0);
    if (refusals_this_minute_.fetch_add(1) >= kRefusalsPerMinute) {
        refusals_left_out_.fetch_add(1);
        return;
    }
    audit::Entry entry;
    entry.time_ms = now;
    entry.action = "token.refused";
    entry.detail = std::string(method_name(request.method)) + " " + std::string(request.path);
    if (const auto left_out = refusals_left_out_.exchange(0); left_out > 0)
        entry.detail += " (and " + std::to_string(left_out) + " more not recorded)";
    audit_->append(entry);
}

void record_change(audit::AuditLog* audit, const Access& access, std::string action,
                   std::string object_id, std::int64_t version_before, std::int64_t version_after) {
    if (audit == nullptr)
        return;
    audit::Entry entry;
    entry.time_ms = now_ms();
    entry.workspace = access.workspace;
    entry.token_id = access.token_id;
    entry.action = std::move(action);
    entry.object_id = std::move(object_id);
    entry.version_before = version_before;
    entry.version_after = version_after;
    audit->append(entry);
}

http::Response not_found(std::string_view what) {
    return http::error_response(404, "no such " + std::string(what));
}

}  // namespace tally::api
