#pragma once
// A scheduled report: a dashboard's data for the period that just ended, POSTed to a
// webhook on a schedule.
//
//   {"name", "description", "dashboard_id", "schedule": "hourly|daily@HH:MM|weekly@mon HH:MM",
//    "range": "previous_period", "format": "json|csv",
//    "destination": {"type": "webhook", "url": "http://host[:port]/path"}}
//
// validate_report() returns the document in the form it is stored (the fields above, the
// schedule in its canonical text, defaults filled in: range previous_period, format json),
// or the first thing wrong with it, naming the field. Whether the dashboard exists, and
// in the report's workspace, is the API's check: it needs the dashboards.
//
// make_run() turns a due time and the dashboard's data over the period into what is sent:
// as JSON the data's answer (the one GET /api/v1/dashboards/<id>/data gives) with a
// "report" part saying which report and which due time; as CSV the data's CSV export.
// Only plain http:// destinations are accepted: the outbox speaks HTTP/1.1 without TLS.

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "tally/dashboards/widget_data.hpp"
#include "tally/reports/schedule.hpp"
#include "tally/workspaces/workspaces.hpp"

namespace tally::reports {

inline constexpr std::size_t kMaxReports = 1'000;
inline constexpr std::size_t kMaxDocumentBytes = std::size_t{16} * 1024;
inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxUrlBytes = 2'048;

struct Invalid {
    std::string message;
    std::string field;  // "schedule", "destination.url", ...
};

std::variant<nlohmann::json, Invalid> validate_report(const nlohmann::json& body);

/// The schedule of a stored (validated) report.
Schedule schedule_of(const nlohmann::json& report);

/// A dashboard's data over a range (dashboards::dashboard_data with no comparison, in the
/// daemon); `now_ms` is when it is asked.
using DashboardData = std::function<nlohmann::json(
    const nlohmann::json& dashboard, const dashboards::TimeRange& range, std::int64_t now_ms)>;

/// The daemon's DashboardData: dashboards::dashboard_data with no comparison, reading only
/// what the dashboard's workspace may see (its metrics, its sites), as the dashboards API
/// does for a token of that workspace.
DashboardData workspace_dashboard_data(const metrics::Engine& engine, const store::Store& store,
                                       const workspaces::Workspaces& workspaces);

/// One run of a report, ready to be queued.
struct Run {
    std::string report_id;
    std::int64_t due_ms = 0;
    Period period;
    std::string url;
    std::string content_type;
    std::string body;
};

/// Why a run is made: at its due time, or asked for through the API.
enum class Trigger { schedule, manual };

/// The run of `report` due at `due_ms`, from `data`: the dashboard's data over
/// previous_period(schedule, due_ms).
Run make_run(const nlohmann::json& report, std::int64_t due_ms, nlohmann::json data,
             Trigger trigger);

}  // namespace tally::reports
