#include "tally/api/dashboards_api.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "tally/api/document_answers.hpp"
#include "tally/base/time.hpp"
#include "tally/dashboards/dashboard.hpp"
#include "tally/dashboards/export.hpp"
#include "tally/dashboards/templates.hpp"

using nlohmann::json;

namespace tally::api {

namespace {

constexpr std::string_view kPrefix = "/api/v1/dashboards/";
constexpr std::string_view kDataSuffix = "/data";
constexpr std::int64_t kMaxRangeMs = 400 * kMsPerDay;

http::Response invalid(const dashboards::Invalid& bad) {
    return http::error_response(400, bad.message, bad.field);
}

json summary(const json& document) {
    return {{"id", document["id"]},
            {"name", document["name"]},
            {"description", document.value("description", "")},
            {"version", document["version"]},
            {"widgets", document.value("widgets", json::array()).size()},
            {"updated_at", document.value("updated_at", "")}};
}

/// The body of a create: a document, or a template with its choices.
std::variant<json, http::Response> document_to_create(const json& body) {
    if (!body.is_object())
        return http::error_response(400, "body must be a JSON object");
    if (!body.contains("template"))
        return body;
    const json& id = body["template"];
    auto made =
        id.is_string() ? dashboards::make_from_template(id.get<std::string>(), body) : std::nullopt;
    if (!made)
        return http::error_response(
            400, "template must be one of web-analytics, api-performance, business-kpis",
            "template");
    return std::move(*made);
}

/// A time in a query string: epoch milliseconds when all digits, else the text.
json time_value(const json& value) {
    if (!value.is_string())
        return value;
    const std::string& text = value.get_ref<const std::string&>();
    if (text.empty() || text.size() > 15 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return value;
    return std::stoll(text);
}

http::Response export_response(const json& answer, const std::string& format,
                               const std::string& name) {
    if (format == "json")
        return http::json_response(200, answer.dump());
    std::string file;
    for (char c : name)
        file += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
    http::Response response;
    if (format == "csv") {
        response.content_type = "text/csv; charset=utf-8";
        response.body = dashboards::data_csv(answer);
    } else {
        std::string error;
        auto bytes = dashboards::data_xlsx(answer, error);
        if (!bytes)
            return http::error_response(500, error);
        response.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        response.body = std::move(*bytes);
    }
    response.headers.emplace_back("Content-Disposition",
                                  "attachment; filename=\"" + file + "." + format + "\"");
    return response;
}

struct DataRequest {
    dashboards::TimeRange range;
    std::string compare;  // none, previous_period, previous_week
    std::string format;   // json, csv, xlsx
};

std::variant<DataRequest, http::Response> data_request(const http::Request& request,
                                                       const json& document, std::int64_t now) {
    DataRequest out;
    const json& time = document["time"];
    const auto param = [&](const char* name, const json& fallback) {
        const auto text = http::query_param(request.query, name);
        return text ? json(*text) : fallback;
    };
    const auto from_ms = dashboards::resolve_time(time_value(param("from", time["from"])), now);
    const auto to_ms = dashboards::resolve_time(time_value(param("to", time["to"])), now);
    if (!from_ms || !to_ms)
        return http::error_response(
            400,
            "from and to must be now, now-<N><s|m|h|d|w>, now/d, now/M, RFC 3339 or epoch "
            "milliseconds",
            !from_ms ? "from" : "to");
    if (*to_ms <= *from_ms || *to_ms - *from_ms > kMaxRangeMs)
        return http::error_response(400, "to must be after from, at most 400 days later", "to");
    out.range = {*from_ms, *to_ms};
    out.compare = param("compare", document.value("compare", json("none"))).get<std::string>();
    if (out.compare != "none" && out.compare != "previous_period" && out.compare != "previous_week")
        return http::error_response(400, "compare must be none, previous_period or previous_week",
                                    "compare");
    out.format = param("format", json("json")).get<std::string>();
    if (out.format != "json" && out.format != "csv" && out.format != "xlsx")
        return http::error_response(400, "format must be json, csv or xlsx", "format");
    return out;
}

}  // namespace

DashboardsApi::DashboardsApi(const Authorization& authorization,
                             documents::DocumentStore& dashboards, dashboards::Sources sources)
    : authorization_(authorization), dashboards_(dashboards), sources_(sources) {}

void DashboardsApi::add_routes(http::Router& router) {
    using http::Method;
    router.add(
        "dashboards", {Method::get, Method::head, Method::post}, "/api/v1/dashboards",
        [this](const http::Request& r) { return r.method == Method::post ? create(r) : list(r); });
    router.add("dashboards_templates", {Method::get, Method::head}, "/api/v1/dashboards/templates",
               [this](const http::Request& r) { return templates(r); });
    router.add_prefix("dashboards_one", {Method::get, Method::head, Method::put, Method::delete_},
                      std::string(kPrefix), [this](const http::Request& r) { return one(r); });
}

http::Response DashboardsApi::list(const http::Request& request) const {
    auto allowed = authorization_.allow(request, Need::read);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    json out = json::array();
    for (const json& document : dashboards_.list()) {
        if (documents::workspace_of(document) == access.workspace)
            out.push_back(summary(document));
    }
    return http::json_response(200, json{{"dashboards", std::move(out)}}.dump());
}

http::Response DashboardsApi::templates(const http::Request& request) const {
    if (auto denied = authorization_.check(request))
        return std::move(*denied);
    return http::json_response(200, json{{"templates", dashboards::template_list()}}.dump());
}

http::Response DashboardsApi::create(const http::Request& request) {
    auto allowed = authorization_.allow(request, Need::edit);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    if (request.body.size() > dashboards::kMaxDocumentBytes)
        return http::error_response(413, "a dashboard is at most 256 KiB");
    auto body = document_to_create(json::parse(request.body, nullptr, false));
    if (auto* error = std::get_if<http::Response>(&body))
        return std::move(*error);
    auto valid = validated(std::move(std::get<json>(body)), access);
    if (auto* error = std::get_if<http::Response>(&valid))
        return std::move(*error);
    auto result = dashboards_.create(std::move(std::get<json>(valid)), now_ms());
    if (result.outcome != documents::DocumentStore::Outcome::ok)
        return store_failure(result, "dashboard", "10,000 dashboards");
    record_change(authorization_.audit(), access, "dashboard.create",
                  result.document["id"].get<std::string>(), 0, 1);
    http::Response response = http::json_response(201, result.document.dump());
    response.headers.emplace_back("Location",
                                  std::string(kPrefix) + result.document["id"].get<std::string>());
    return response;
}

http::Response DashboardsApi::one(const http::Request& request) {
    const bool reads = request.method == http::Method::get || request.method == http::Method::head;
    auto allowed = authorization_.allow(request, reads ? Need::read : Need::edit);
    if (auto* denied = std::get_if<http::Response>(&allowed))
        return std::move(*denied);
    const Access& access = std::get<Access>(allowed);
    std::string_view rest = request.path.substr(kPrefix.size());
    const bool wants_data = rest.ends_with(kDataSuffix);
    if (wants_data)
        rest.remove_suffix(kDataSuffix.size());
    const std::string id(rest);
    // Another workspace's dashboard reads as one that does not exist.
    const auto document =
        documents::DocumentStore::valid_id(id) ? dashboards_.get(id) : std::nullopt;
    if (!document || documents::workspace_of(*document) != access.workspace)
        return not_found("dashboard");
    if (wants_data) {
        if (!reads)
            return http::error_response(405, "use GET for a dashboard's data");
        return data(request, access, *document);
    }
    if (request.method == http::Method::put)
        return replace(request, access, id);
    if (request.method == http::Method::delete_) {
        auto result = dashboards_.remove(id);
        if (result.outcome != documents::DocumentStore::Outcome::ok)
            return store_failure(result, "dashboard", "10,000 dashboards");
        record_change(authorization_.audit(), access, "dashboard.delete", id,
                      (*document)["version"].get<std::int64_t>(), 0);
        http::Response response;
        response.status = 204;
        return response;
    }
    return http::json_response(200, document->dump());
}

http::Response DashboardsApi::replace(const http::Request& request, const Access& access,
                                      const std::string& id) {
    if (request.body.size() > dashboards::kMaxDocumentBytes)
        return http::error_response(413, "a dashboard is at most 256 KiB");
    const json body = json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("version") || !body["version"].is_number_integer())
        return http::error_response(400, "version (the one you edited) is required", "version");
    const std::int64_t version = body["version"].get<std::int64_t>();
    auto valid = validated(body, access);
    if (auto* error = std::get_if<http::Response>(&valid))
        return std::move(*error);
    auto result = dashboards_.replace(id, std::move(std::get<json>(valid)), version, now_ms());
    using Outcome = documents::DocumentStore::Outcome;
    if (result.outcome == Outcome::conflict) {
        return stale_version("dashboard", version, result.document);
    }
    if (result.outcome != Outcome::ok)
        return store_failure(result, "dashboard", "10,000 dashboards");
    record_change(authorization_.audit(), access, "dashboard.update", id, version,
                  result.document["version"].get<std::int64_t>());
    return http::json_response(200, result.document.dump());
}

http::Response DashboardsApi::data(const http::Request& request, const Access& access,
                                   const json& stored) const {
    const json* document = &stored;
    const std::int64_t now = now_ms();
    auto parsed = data_request(request, *document, now);
    if (auto* error = std::get_if<http::Response>(&parsed))
        return std::move(*error);
    const DataRequest& wanted = std::get<DataRequest>(parsed);
    const auto only = http::query_param(request.query, "widget");
    json answer = dashboards::dashboard_data(*document, scoped_sources(access), wanted.range,
                                             wanted.compare, only ? &*only : nullptr, now);
    // A widget's own file is named after it, the dashboard's after the dashboard.
    std::string file = (*document)["name"].get<std::string>();
    if (only && !answer["widgets"].empty()) {
        file = answer["widgets"][0].value("title", "");
        if (file.empty())
            file = *only;
    }
    return export_response(answer, wanted.format, file);
}

std::variant<json, http::Response> DashboardsApi::validated(json body, const Access& access) const {
    body.erase("workspace");  // set here, from the token, never from the body
    auto valid = dashboards::validate_dashboard(body);
    if (const auto* bad = std::get_if<dashboards::Invalid>(&valid))
        return invalid(*bad);
    json& document = std::get<json>(valid);
    if (access.workspace != workspaces::kDefault)
        document["workspace"] = access.workspace;
    return std::move(document);
}

dashboards::Sources DashboardsApi::scoped_sources(const Access& access) const {
    dashboards::Sources scoped = sources_;
    scoped.workspace = access.metrics_workspace();
    scoped.sees_site = [this, access](std::string_view site) {
        return authorization_.sees_site(access, site);
    };
    return scoped;
}

}  // namespace tally::api
