#pragma once
// What an alert's transition looks like on the wire, in the two shapes the tools people
// already run understand: Alertmanager's webhook body (version "4"), which every webhook
// receiver written for Alertmanager reads, and the body of Alertmanager's own
// POST /api/v2/alerts, so that a real Alertmanager groups, routes and resolves them.
//
// Both match Alertmanager 0.25 field for field (checked against the real one in the tests):
// Go's field order, label maps sorted by name, groupKey `{}:{alertname="X"}` (one alert per
// body, grouped by alertname), the fingerprint Alertmanager computes for the same labels.
// Pure functions: no clock, no I/O. The details are in src/alerts/notification.cpp.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace tally::alerts {

/// One alert's state to announce.
struct AlertNotice {
    std::string status;                         // "firing" or "resolved"
    std::map<std::string, std::string> labels;  // "alertname" is the rule's name
    std::map<std::string, std::string> annotations;
    std::int64_t starts_at_ms = 0;  // when it began firing
    std::int64_t ends_at_ms = 0;    // resolved: when; firing: 0 (webhook) or
                                    // the horizon Alertmanager keeps it (v2)
    std::string generator_url;      // the rule's page in tallyd
};

/// A stable id of a label set: 16 hex digits, the same for the same labels.
std::string fingerprint(const std::map<std::string, std::string>& labels);

/// The webhook v4 body of one notice: {version:"4", groupKey, truncatedAlerts:0, status,
/// receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts:[...]}.
/// A firing alert's endsAt is "0001-01-01T00:00:00Z", as Alertmanager sends it.
std::string webhook_body(const AlertNotice& notice, const std::string& receiver,
                         const std::string& external_url);

/// The body of Alertmanager's POST /api/v2/alerts: a JSON array of one alert
/// ({labels, annotations, startsAt, endsAt, generatorURL}).
std::string alertmanager_body(const AlertNotice& notice);

/// Where an alertmanager action posts: its base URL + "/api/v2/alerts".
std::string alertmanager_alerts_url(std::string_view base_url);

/// RFC 3339 in UTC with milliseconds ("2026-12-03T19:00:00.000Z").
std::string rfc3339(std::int64_t ms);

}  // namespace tally::alerts
