#include "tally/api/workspaces_api.hpp"

#include <nlohmann/json.hpp>

#include "tally/audit/audit_log.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"

using nlohmann::json;

namespace tally::api {

namespace {

constexpr std::string_view kPrefix = "/api/v1/workspaces/";
constexpr std::string_view kTokens = "/tokens";

/// The access's own workspace, or any for the server admin.
bool may_see(const Access& access, const std::string& workspace) {
    return access.server_admin || access.workspace == workspace;
}

http::Response failure(const workspaces::Workspaces::Result& result) {
    using Outcome = workspaces::Workspaces::Outcome;
    switch (result.outcome) {
        case Outcome::not_found:
            return not_found("workspace");
        case Outcome::exists:
            return http::error_response(409, result.message, "name");
        case Outcome::invalid:
            return http::error_response(400, result.message);
        default:
            return http::error_response(500, result.message);
    }
}

/// The "sites" of a body: a list of site names; nullopt (with `error` set) when bad.
std::optional<std::vector<std::string>> sites_of(const json& body, http::Response& error) {
    const json sites = body.value("sites", json::array());
    std::vector<std::string> out;
    bool good = sites.is_array() && sites.size() <= 10'000;
    for (const json& site : good ? sites : json::array()) {
        good = good && site.is_string() && valid_site(site.get<std::string>());
        if (good)
            out.push_back(site.get<std::string>());
    }
    if (!good) {
        error = http::error_response(400, "sites must be a list of site names", "sites");
        return std::nullopt;
    }
    return out;
}

}  // namespace

WorkspacesApi::WorkspacesApi(const Authorization& authorization, workspaces::Workspaces& workspaces,
                             audit::AuditLog* audit)
    : authorization_(authorization), workspaces_(workspaces), audit_(audit) {}

void WorkspacesApi::add_routes(http::Router& router) {
    using http::Method;
    router.add("whoami", {Method::get, Method::head}, "/api/v1/whoami",
               [this](const http::Request& r) { return whoami(r); });
    router.add(
        "workspaces", {Method::get, Method::head, Method::post}, "/api/v1/workspaces",
        [this](const http::Request& r) { return r.method == Method::post ? create(r) : list(r); });
    router.add_prefix("workspaces_one",
                      {Method::get, Method::head, Method::put, Method::post, Method::delete_},
                      std::string(kPrefix), [this](const http::Request& r) { return one(r); });
}

void WorkspacesApi::record(const Access& access, const std::string& workspace, std::string action,
                           std::string object_id) const {
    if (audit_ == nullptr)
        return;
    audit::Entry entry;
    entry.time_ms = now_ms();
    entry.workspace = workspace;
    entry.token_id = access.token_id;
    entry.action = std::move(action);
    entry.object_id = std::move(object_id);
    audit_->append(entry);
}

http::Response WorkspacesApi::whoami(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::any);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    const json answer = {{"workspace", access.workspace},
                         {"role", workspaces::role_name(access.role)},
                         {"token_id", access.token_id},
                         {"server_admin", access.server_admin},
                         {"workspaces_enabled", workspaces_.enabled()}};
    return http::json_response(200, answer.dump());
}

http::Response WorkspacesApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    json out = json::array();
    for (const std::string& name : workspaces_.names()) {
        if (!may_see(access, name))
            continue;
        const auto workspace = workspaces_.get(name);
        if (workspace)
            out.push_back({{"name", name}, {"sites", workspace->sites}});
    }
    return http::json_response(200, json{{"workspaces", std::move(out)}}.dump());
}

http::Response WorkspacesApi::create(const http::Request& request) {
    auto allowed = authorization_.allow(request, Need::server_admin);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
        return http::error_response(400, "name is required", "name");
    http::Response error;
    const auto sites = sites_of(body, error);
    if (!sites)
        return error;
    const std::string name = body["name"].get<std::string>();
    const auto result = workspaces_.create(name, *sites, now_ms());
    if (result.outcome != workspaces::Workspaces::Outcome::ok)
        return failure(result);
    record(std::get<Access>(allowed), name, "workspace.create", name);
    http::Response response =
        http::json_response(201, json{{"name", name}, {"sites", *sites}}.dump());
    response.headers.emplace_back("Location", std::string(kPrefix) + name);
    return response;
}

http::Response WorkspacesApi::one(const http::Request& request) {
    std::string_view rest = request.path.substr(kPrefix.size());
    const auto slash = rest.find('/');
    const std::string name(rest.substr(0, slash));
    const std::string_view tail = slash == std::string_view::npos ? "" : rest.substr(slash);
    const bool tokens = tail.starts_with(kTokens);
    const Need need = request.method == http::Method::get || request.method == http::Method::head
                          ? Need::read
                          : Need::admin;
    auto allowed = authorization_.allow(request, need);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    if (!may_see(access, name) || !workspaces_.exists(name))
        return not_found("workspace");
    if (tail.empty() && request.method == http::Method::put)
        return set_sites(request, access, name);
    if (tail.empty() &&
        (request.method == http::Method::get || request.method == http::Method::head))
        return show(access, name);
    if (tokens && tail == kTokens && request.method == http::Method::post)
        return create_token(request, access, name);
    if (tokens && tail.size() > kTokens.size() + 1 && request.method == http::Method::delete_)
        return delete_token(access, name, std::string(tail.substr(kTokens.size() + 1)));
    return http::error_response(404, "no such route");
}

http::Response WorkspacesApi::show(const Access& access, const std::string& name) const {
    const auto workspace = workspaces_.get(name);
    if (!workspace)
        return not_found("workspace");
    json answer = {{"name", name}, {"sites", workspace->sites}};
    if (access.server_admin || access.role == workspaces::Role::admin) {
        json tokens = json::array();
        for (const auto& token : workspace->tokens) {
            tokens.push_back({{"id", token.id},
                              {"role", workspaces::role_name(token.role)},
                              {"from_config", token.from_config},
                              {"created_at", token.created_ms == 0
                                                 ? json(nullptr)
                                                 : json(format_rfc3339_ms(token.created_ms))}});
        }
        answer["tokens"] = std::move(tokens);
    }
    return http::json_response(200, answer.dump());
}

http::Response WorkspacesApi::set_sites(const http::Request& request, const Access& access,
                                        const std::string& name) {
    if (!access.server_admin)
        return http::error_response(403, "only the server's admin token may move sites");
    const json body = json::parse(request.body, nullptr, false);
    http::Response error;
    const auto sites = body.is_object() ? sites_of(body, error) : std::nullopt;
    if (!sites)
        return body.is_object() ? error : http::error_response(400, "body must be a JSON object");
    const auto result = workspaces_.set_sites(name, *sites);
    if (result.outcome != workspaces::Workspaces::Outcome::ok)
        return failure(result);
    record(access, name, "workspace.update", name);
    return http::json_response(200, json{{"name", name}, {"sites", *sites}}.dump());
}

http::Response WorkspacesApi::create_token(const http::Request& request, const Access& access,
                                           const std::string& name) {
    const json body = json::parse(request.body, nullptr, false);
    const auto role = body.is_object() && body.contains("role") && body["role"].is_string()
                          ? workspaces::parse_role(body["role"].get<std::string>())
                          : std::nullopt;
    if (!role)
        return http::error_response(400, "role must be admin, editor, viewer or ingest", "role");
    std::string secret;
    workspaces::TokenRecord record_out;
    const auto result = workspaces_.create_token(name, *role, now_ms(), secret, record_out);
    if (result.outcome != workspaces::Workspaces::Outcome::ok)
        return failure(result);
    record(access, name, "token.create", record_out.id);
    const json answer = {{"id", record_out.id},
                         {"workspace", name},
                         {"role", workspaces::role_name(*role)},
                         {"token", secret},
                         {"note", "the token is shown this once: keep it now"}};
    http::Response response = http::json_response(201, answer.dump());
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
}

http::Response WorkspacesApi::delete_token(const Access& access, const std::string& name,
                                           const std::string& token_id) {
    const auto result = workspaces_.delete_token(name, token_id);
    if (result.outcome == workspaces::Workspaces::Outcome::not_found)
        return not_found("token");
    if (result.outcome != workspaces::Workspaces::Outcome::ok)
        return failure(result);
    record(access, name, "token.delete", token_id);
    http::Response response;
    response.status = 204;
    return response;
}

}  // namespace tally::api
