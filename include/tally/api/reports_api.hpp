#pragma once
// The scheduled reports API, behind the token:
//
//   GET    /api/v1/reports             [{id, name, dashboard_id, schedule, format, version,
//                                       updated_at, last_run, next_run}]          (read)
//   POST   /api/v1/reports             a report -> 201 with the stored document, Location (edit)
//   GET    /api/v1/reports/<id>        the document with "last_run" (RFC 3339 or null) and
//                                      "next_run"                                 (read)
//   PUT    /api/v1/reports/<id>        the document with the "version" it edited -> 200, or
//                                      409 {"error", "current": document}          (edit)
//   DELETE /api/v1/reports/<id>        -> 204                                      (edit)
//   POST   /api/v1/reports/<id>/run    sends one now: the period ending at the last due time
//                                      -> 202 with what was queued                 (edit)
//
// A report names a dashboard of its own workspace (else 400 naming dashboard_id). Reports
// belong to the workspace of the token that made them: a list shows that workspace's, and
// another's id answers 404 as a missing one does. Every change and every run is recorded
// in the audit trail (report.create, report.update, report.delete, report.run).

#include "tally/api/authorization.hpp"
#include "tally/documents/document_store.hpp"
#include "tally/http/router.hpp"
#include "tally/reports/report_service.hpp"

namespace tally::audit {
class AuditLog;
}

namespace tally::api {

class ReportsApi {
  public:
    /// `audit` may be null (nothing is recorded).
    ReportsApi(const Authorization& authorization, audit::AuditLog* audit,
               documents::DocumentStore& reports, const documents::DocumentStore& dashboards,
               reports::ReportService& service);

    void add_routes(http::Router& router);

    http::Response list(const http::Request& request) const;
    http::Response create(const http::Request& request);
    /// GET|PUT|DELETE /api/v1/reports/<id> and POST .../<id>/run.
    http::Response one(const http::Request& request);

  private:
    http::Response replace(const http::Request& request, const Access& access,
                           const nlohmann::json& current);
    http::Response remove(const Access& access, const nlohmann::json& current);
    http::Response run(const Access& access, const nlohmann::json& current);
    /// The validated document to store for `access`, or the 400 saying what is wrong.
    std::variant<nlohmann::json, http::Response> checked(const nlohmann::json& body,
                                                         const Access& access) const;
    nlohmann::json with_status(nlohmann::json report) const;
    void record(const Access& access, const char* action, const std::string& id,
                std::int64_t before, std::int64_t after, std::string detail = {}) const;

    const Authorization& authorization_;
    audit::AuditLog* audit_;
    documents::DocumentStore& reports_;
    const documents::DocumentStore& dashboards_;
    reports::ReportService& service_;
};

}  // namespace tally::api
