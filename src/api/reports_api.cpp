#include "tally/api/reports_api.hpp"

#include <nlohmann/json.hpp>

#include "tally/api/document_answers.hpp"
#include "tally/audit/audit_log.hpp"
#include "tally/base/time.hpp"

using nlohmann::json;

namespace tally::api {

namespace {

constexpr std::string_view kPrefix = "/api/v1/reports/";
constexpr std::string_view kRunSuffix = "/run";

json rfc3339_or_null(const std::optional<std::int64_t>& ms) {
    return ms ? json(format_rfc3339_ms(*ms)) : json(nullptr);
}

}  // namespace

ReportsApi::ReportsApi(const Authorization& authorization, audit::AuditLog* audit,
                       documents::DocumentStore& reports,
                       const documents::DocumentStore& dashboards, reports::ReportService& service)
    : authorization_(authorization),
      audit_(audit),
      reports_(reports),
      dashboards_(dashboards),
      service_(service) {}

void ReportsApi::add_routes(http::Router& router) {
    using http::Method;
    router.add(
        "reports", {Method::get, Method::head, Method::post}, "/api/v1/reports",
        [this](const http::Request& r) { return r.method == Method::post ? create(r) : list(r); });
    router.add_prefix("reports_one",
                      {Method::get, Method::head, Method::put, Method::delete_, Method::post},
                      std::string(kPrefix), [this](const http::Request& r) { return one(r); });
}

json ReportsApi::with_status(json report) const {
    const auto status = service_.status(report);
    report["last_run"] = rfc3339_or_null(status.last_run);
    report["next_run"] = format_rfc3339_ms(status.next_run);
    return report;
}

void ReportsApi::record(const Access& access, const char* action, const std::string& id,
                        std::int64_t before, std::int64_t after, std::string detail) const {
    if (audit_ == nullptr)
        return;
    audit::Entry entry;
    entry.time_ms = now_ms();
    entry.workspace = access.workspace;
    entry.token_id = access.token_id;
    entry.action = action;
    entry.object_id = id;
    entry.version_before = before;
    entry.version_after = after;
    entry.detail = std::move(detail);
    audit_->append(entry);
}

http::Response ReportsApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    json out = json::array();
    for (const json& report : reports_.list()) {
        if (documents::workspace_of(report) != access.workspace)
            continue;
        const json shown = with_status(report);
        out.push_back({{"id", shown["id"]},
                       {"name", shown["name"]},
                       {"dashboard_id", shown["dashboard_id"]},
                       {"schedule", shown["schedule"]},
                       {"format", shown["format"]},
                       {"destination", shown["destination"]},
                       {"version", shown["version"]},
                       {"updated_at", shown.value("updated_at", "")},
                       {"last_run", shown["last_run"]},
                       {"next_run", shown["next_run"]}});
    }
    return http::json_response(200, json{{"reports", std::move(out)}}.dump());
}

std::variant<json, http::Response> ReportsApi::checked(const json& body,
                                                       const Access& access) const {
    auto valid = reports::validate_report(body);
    if (const auto* bad = std::get_if<reports::Invalid>(&valid))
        return http::error_response(400, bad->message, bad->field);
    json report = std::move(std::get<json>(valid));
    const std::string dashboard_id = report["dashboard_id"];
    const auto dashboard = dashboards_.get(dashboard_id);
    if (!dashboard || documents::workspace_of(*dashboard) != access.workspace)
        return http::error_response(400, "dashboard_id names no dashboard: " + dashboard_id,
                                    "dashboard_id");
    if (access.workspace != workspaces::kDefault)
        report["workspace"] = access.workspace;
    return report;
}

http::Response ReportsApi::create(const http::Request& request) {
    auto allowed = authorization_.allow(request, Need::edit);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    if (request.body.size() > reports::kMaxDocumentBytes)
        return http::error_response(413, "a report is at most 16 KiB");
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object())
        return http::error_response(400, "body must be a JSON object");
    auto report = checked(body, access);
    if (auto* error = std::get_if<http::Response>(&report))
        return std::move(*error);
    auto result = reports_.create(std::move(std::get<json>(report)), now_ms());
    if (result.outcome != documents::DocumentStore::Outcome::ok)
        return store_failure(result, "report", "1,000 reports");
    const std::string id = result.document["id"];
    record(access, "report.create", id, 0, result.document["version"].get<std::int64_t>());
    http::Response response = http::json_response(201, with_status(result.document).dump());
    response.headers.emplace_back("Location", std::string(kPrefix) + id);
    return response;
}

http::Response ReportsApi::one(const http::Request& request) {
    std::string_view rest = request.path.substr(kPrefix.size());
    const bool wants_run = rest.ends_with(kRunSuffix);
    if (wants_run)
        rest.remove_suffix(kRunSuffix.size());
    const bool reads = request.method == http::Method::get || request.method == http::Method::head;
    auto allowed = authorization_.allow(request, reads ? Need::read : Need::edit);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    if (wants_run != (request.method == http::Method::post)) {
        http::Response refused = http::error_response(
            405, wants_run ? "use POST to run a report" : "use GET, PUT or DELETE on a report");
        refused.headers.emplace_back("Allow", wants_run ? "POST" : "GET, HEAD, PUT, DELETE");
        return refused;
    }
    const std::string id(rest);
    const auto current = documents::DocumentStore::valid_id(id) ? reports_.get(id) : std::nullopt;
    // Another workspace's report reads exactly like one that does not exist.
    if (!current || documents::workspace_of(*current) != access.workspace)
        return not_found("report");
    if (wants_run)
        return run(access, *current);
    if (request.method == http::Method::put)
        return replace(request, access, *current);
    if (request.method == http::Method::delete_)
        return remove(access, *current);
    return http::json_response(200, with_status(*current).dump());
}

http::Response ReportsApi::replace(const http::Request& request, const Access& access,
                                   const json& current) {
    if (request.body.size() > reports::kMaxDocumentBytes)
        return http::error_response(413, "a report is at most 16 KiB");
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer())
        return http::error_response(400, "version (the one you edited) is required", "version");
    const std::int64_t version = body["version"].get<std::int64_t>();
    auto report = checked(body, access);
    if (auto* error = std::get_if<http::Response>(&report))
        return std::move(*error);
    const std::string id = current["id"];
    auto result = reports_.replace(id, std::move(std::get<json>(report)), version, now_ms());
    using Outcome = documents::DocumentStore::Outcome;
    if (result.outcome == Outcome::conflict) {
        return stale_version("report", version, with_status(result.document));
    }
    if (result.outcome != Outcome::ok)
        return store_failure(result, "report", "1,000 reports");
    record(access, "report.update", id, version, result.document["version"].get<std::int64_t>());
    return http::json_response(200, with_status(result.document).dump());
}

http::Response ReportsApi::remove(const Access& access, const json& current) {
    const std::string id = current["id"];
    auto result = reports_.remove(id);
    if (result.outcome != documents::DocumentStore::Outcome::ok)
        return store_failure(result, "report", "1,000 reports");
    record(access, "report.delete", id, current["version"].get<std::int64_t>(), 0);
    http::Response response;
    response.status = 204;
    return response;
}

http::Response ReportsApi::run(const Access& access, const json& current) {
    const auto queued = service_.run_now(current);
    if (!queued.error.empty())
        return http::error_response(queued.refused ? 503 : 409,
                                    "the report could not be sent: " + queued.error);
    const std::string id = current["id"];
    const std::int64_t version = current["version"].get<std::int64_t>();
    const std::string period = format_rfc3339_ms(queued.run.period.from_ms) + " .. " +
                               format_rfc3339_ms(queued.run.period.to_ms);
    record(access, "report.run", id, version, version, "period " + period);
    const json answer = {
        {"queued", true},
        {"id", id},
        {"due_at", format_rfc3339_ms(queued.run.due_ms)},
        {"range", {{"from", queued.run.period.from_ms}, {"to", queued.run.period.to_ms}}},
        {"period",
         {{"from", format_rfc3339_ms(queued.run.period.from_ms)},
          {"to", format_rfc3339_ms(queued.run.period.to_ms)}}},
        {"format", current.value("format", "json")},
        {"content_type", queued.run.content_type},
        {"bytes", queued.bytes},
        {"url", queued.run.url}};
    return http::json_response(202, answer.dump());
}

}  // namespace tally::api
