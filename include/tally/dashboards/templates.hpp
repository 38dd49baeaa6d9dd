#pragma once
// The built-in dashboards a new one can start from: "web-analytics" (the page at / as a
// dashboard), "api-performance" (request rate, error rate and latency percentiles per
// endpoint, a gauge with thresholds) and "business-kpis" (events, a conversion figure, a
// country map).
//
// A template is filled in with the caller's choices, each with a default that matches
// what `tallyd --demo` sends:
//   site            "default"                the site of the web-analytics widgets
//   requests_metric "demo.http.requests"     a counter tagged endpoint and status
//   latency_metric  "demo.http.latency_ms"   a distribution tagged endpoint
//   signup_started / signup_completed        "signup_started" / "signup_completed" events

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace tally::dashboards {

/// [{"id", "name", "description"}] of every template.
nlohmann::json template_list();

/// The dashboard document template `id` makes with `choices` (the keys above; "name" and
/// "description" override the template's own); nullopt when there is no such template.
/// The result still goes through validate_dashboard().
std::optional<nlohmann::json> make_from_template(const std::string& id,
                                                 const nlohmann::json& choices);

}  // namespace tally::dashboards
