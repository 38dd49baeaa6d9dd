#pragma once
// The alerts API: rules as versioned documents, and their live state.
//
//   GET    /api/v1/alerts                 {"alerts": [document + state, since, value]}  (read)
//   POST   /api/v1/alerts                 a rule -> 201 with the stored document (edit)
//   GET    /api/v1/alerts/<id>            the document + "state", "since", "value"     (read)
//   PUT    /api/v1/alerts/<id>            the rule with the "version" it edited -> 200,
//                                         or 409 {"error", "current": document}        (edit)
//   DELETE /api/v1/alerts/<id>            -> 204                                      (edit)
//   GET    /api/v1/alerts/<id>/history    {"history": [{"at", "from", "to", "value"}]} (read)
//
// A rule belongs to the workspace of the token that made it; another workspace's rule
// answers 404 like a missing one, and a rule over a site the token does not see answers
// 404 "no such site". A 2xx that changed a rule comes after its file is fsynced
// (documents/) and after the alert service took the change; each change is recorded in the
// audit trail ("alert.create", "alert.update", "alert.delete" with the versions).

#include <cstdint>

#include "tally/alerts/alert_service.hpp"
#include "tally/api/authorization.hpp"
#include "tally/documents/document_store.hpp"
#include "tally/http/router.hpp"
#include "tally/metrics/engine.hpp"

namespace tally::audit {
class AuditLog;
}

namespace tally::api {

class AlertsApi {
  public:
    /// `audit` may be null (changes are then not recorded).
    AlertsApi(const Authorization& authorization, documents::DocumentStore& alerts,
              alerts::AlertService& service, const metrics::Engine& engine, audit::AuditLog* audit);

    void add_routes(http::Router& router);

    http::Response list(const http::Request& request) const;
    http::Response create(const http::Request& request);
    /// GET|PUT|DELETE /api/v1/alerts/<id> and GET .../<id>/history.
    http::Response one(const http::Request& request);

  private:
    http::Response replace(const http::Request& request, const Access& access,
                           const nlohmann::json& current);
    http::Response remove(const Access& access, const nlohmann::json& current);
    /// The rule checked for `access` (its channels, sites and metric kinds).
    std::variant<nlohmann::json, http::Response> validate(const nlohmann::json& body,
                                                          const Access& access) const;
    nlohmann::json with_state(nlohmann::json document) const;

    const Authorization& authorization_;
    documents::DocumentStore& alerts_;
    alerts::AlertService& service_;
    const metrics::Engine& engine_;
    audit::AuditLog* audit_;
};

}  // namespace tally::api
