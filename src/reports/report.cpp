#include "tally/reports/report.hpp"

#include <algorithm>
#include <optional>

#include "tally/base/time.hpp"
#include "tally/dashboards/export.hpp"
#include "tally/documents/document_store.hpp"

using nlohmann::json;

namespace tally::reports {

namespace {

/// A text field: present (when `required`), a string, not empty, at most `max` bytes, no
/// control characters.
std::optional<Invalid> text_field(const json& body, const char* key, bool required,
                                  std::size_t max) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null())
        return required ? std::optional<Invalid>(Invalid{std::string(key) + " is required", key})
                        : std::nullopt;
    if (!it->is_string())
        return Invalid{std::string(key) + " must be a string", key};
    const std::string& text = it->get_ref<const std::string&>();
    if (required && text.empty())
        return Invalid{std::string(key) + " must not be empty", key};
    if (text.size() > max)
        return Invalid{std::string(key) + " is at most " + std::to_string(max) + " bytes", key};
    if (std::any_of(text.begin(), text.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
        return Invalid{std::string(key) + " must not hold control characters", key};
    return std::nullopt;
}

bool host_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/// Why `url` is no plain http://host[:port][/path] the outbox can POST to; nullopt if it is.
std::optional<std::string> url_problem(std::string_view url) {
    constexpr std::string_view kScheme = "http://";
    if (url.size() > kMaxUrlBytes)
        return "url is at most 2048 bytes";
    if (!url.starts_with(kScheme))
        return "url must start with http:// (https is not supported)";
    const std::string_view rest = url.substr(kScheme.size());
    const std::size_t slash = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    const std::size_t colon = authority.rfind(':');
    const std::string_view host = authority.substr(0, colon);
    if (host.empty() || !std::all_of(host.begin(), host.end(), host_char))
        return "url must name a host (letters, digits, dots, dashes)";
    if (colon != std::string_view::npos) {
        const std::string_view port = authority.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
            return "the port of url must be 1 to 65535";
    }
    if (std::any_of(path.begin(), path.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) == 0x7f;
        }))
        return "url must not hold spaces or control characters (percent-encode them)";
    return std::nullopt;
}

std::optional<Invalid> check_destination(const json& body, json& out) {
    const auto it = body.find("destination");
    if (it == body.end() || !it->is_object())
        return Invalid{"destination {\"type\": \"webhook\", \"url\"} is required", "destination"};
    const json& destination = *it;
    if (destination.value("type", json()) != "webhook")
        return Invalid{"destination.type must be webhook", "destination.type"};
    const auto url = destination.find("url");
    if (url == destination.end() || !url->is_string())
        return Invalid{"destination.url is required", "destination.url"};
    if (auto problem = url_problem(url->get_ref<const std::string&>()))
        return Invalid{"destination." + *problem, "destination.url"};
    out["destination"] = {{"type", "webhook"}, {"url", *url}};
    return std::nullopt;
}

/// An optional choice among `allowed`, `fallback` when absent.
std::optional<Invalid> choice(const json& body, const char* key,
                              std::initializer_list<std::string_view> allowed,
                              std::string_view fallback, const std::string& message, json& out) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
        out[key] = fallback;
        return std::nullopt;
    }
    if (!it->is_string() || std::find(allowed.begin(), allowed.end(),
                                      it->get_ref<const std::string&>()) == allowed.end())
        return Invalid{message, key};
    out[key] = *it;
    return std::nullopt;
}

}  // namespace

std::variant<json, Invalid> validate_report(const json& body) {
    if (!body.is_object())
        return Invalid{"a report must be a JSON object", ""};
    if (body.dump().size() > kMaxDocumentBytes)
        return Invalid{"a report is at most 16 KiB", ""};
    json out = json::object();
    if (auto bad = text_field(body, "name", true, kMaxNameBytes))
        return *bad;
    out["name"] = body["name"];
    if (auto bad = text_field(body, "description", false, 2'000))
        return *bad;
    const auto description = body.find("description");
    out["description"] =
        description != body.end() && description->is_string() ? *description : json("");
    const auto dashboard = body.find("dashboard_id");
    if (dashboard == body.end() || !dashboard->is_string() ||
        !documents::DocumentStore::valid_id(dashboard->get<std::string>()))
        return Invalid{"dashboard_id must name a dashboard", "dashboard_id"};
    out["dashboard_id"] = *dashboard;
    const auto schedule = body.find("schedule");
    if (schedule == body.end() || !schedule->is_string())
        return Invalid{"schedule is required: hourly, daily@HH:MM or weekly@<mon..sun> HH:MM (UTC)",
                       "schedule"};
    auto parsed = parse_schedule(schedule->get_ref<const std::string&>());
    if (const auto* error = std::get_if<std::string>(&parsed))
        return Invalid{*error, "schedule"};
    out["schedule"] = std::get<Schedule>(parsed).text();
    if (auto bad = choice(body, "range", {"previous_period"}, "previous_period",
                          "range must be previous_period", out))
        return *bad;
    if (auto bad =
            choice(body, "format", {"json", "csv"}, "json", "format must be json or csv", out))
        return *bad;
    if (auto bad = check_destination(body, out))
        return *bad;
    return out;
}

Schedule schedule_of(const json& report) {
    auto parsed = parse_schedule(report.value("schedule", std::string()));
    const auto* schedule = std::get_if<Schedule>(&parsed);
    return schedule ? *schedule : Schedule{};
}

DashboardData workspace_dashboard_data(const metrics::Engine& engine, const store::Store& store,
                                       const workspaces::Workspaces& workspaces) {
    return [&engine, &store, &workspaces](const json& dashboard, const dashboards::TimeRange& range,
                                          std::int64_t now_ms) {
        const std::string workspace = documents::workspace_of(dashboard);
        dashboards::Sources sources{
            engine, store, workspace == workspaces::kDefault ? std::string() : workspace,
            [&workspaces, workspace](std::string_view site) {
                return !workspaces.enabled() || workspaces.site_workspace(site) == workspace;
            }};
        return dashboards::dashboard_data(dashboard, sources, range, "none", nullptr, now_ms);
    };
}

Run make_run(const json& report, std::int64_t due_ms, json data, Trigger trigger) {
    Run run;
    run.report_id = report.value("id", "");
    run.due_ms = due_ms;
    run.period = previous_period(schedule_of(report), due_ms);
    run.url = report["destination"].value("url", "");
    if (report.value("format", "json") == "csv") {
        run.content_type = "text/csv; charset=utf-8";
        run.body = dashboards::data_csv(data);
        return run;
    }
    data["report"] = {{"id", run.report_id},
                      {"name", report.value("name", "")},
                      {"schedule", report.value("schedule", "")},
                      {"due_at", format_rfc3339_ms(due_ms)},
                      {"trigger", trigger == Trigger::schedule ? "schedule" : "manual"},
                      {"period",
                       {{"from", format_rfc3339_ms(run.period.from_ms)},
                        {"to", format_rfc3339_ms(run.period.to_ms)}}}};
    run.content_type = "application/json";
    run.body = data.dump();
    return run;
}

}  // namespace tally::reports
