#pragma once
// The dashboards API, behind the token like every read:
//
//   GET    /api/v1/dashboards                 [{id, name, description, version, updated_at}]
//   POST   /api/v1/dashboards                 a document, or {"template": id, ...choices}
//                                             -> 201 with the stored document
//   GET    /api/v1/dashboards/templates       [{id, name, description}]
//   GET    /api/v1/dashboards/<id>            the document
//   PUT    /api/v1/dashboards/<id>            the document with the "version" it edited
//                                             -> 200, or 409 {"error", "current": document}
//   DELETE /api/v1/dashboards/<id>            -> 204
//   GET    /api/v1/dashboards/<id>/data       ?from=&to=&compare=&format=json|csv|xlsx
//                                             [&widget=<widget id>: that one alone]
//
// A 2xx that changed a document comes after its file is fsynced (documents/). /data
// answers every widget over the range (default: the document's "time") and, with a
// comparison, over the previous period or week too ("compare_data", its timestamps in
// their own time; "offset_ms" moves them onto the range).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <variant>

#include "tally/api/authorization.hpp"
#include "tally/dashboards/widget_data.hpp"
#include "tally/documents/document_store.hpp"
#include "tally/http/router.hpp"

namespace tally::api {

class DashboardsApi {
  public:
    DashboardsApi(const Authorization& authorization, documents::DocumentStore& dashboards,
                  dashboards::Sources sources);

    void add_routes(http::Router& router);

    http::Response list(const http::Request& request) const;
    http::Response create(const http::Request& request);
    http::Response templates(const http::Request& request) const;
    /// GET|PUT|DELETE /api/v1/dashboards/<id> and GET .../<id>/data.
    http::Response one(const http::Request& request);

  private:
    http::Response replace(const http::Request& request, const Access& access,
                           const std::string& id);
    http::Response data(const http::Request& request, const Access& access,
                        const nlohmann::json& document) const;
    /// The body checked as a dashboard of the access's workspace, or the 400.
    std::variant<nlohmann::json, http::Response> validated(nlohmann::json body,
                                                           const Access& access) const;
    /// The sources of the access's workspace: its metrics, its sites.
    dashboards::Sources scoped_sources(const Access& access) const;

    const Authorization& authorization_;
    documents::DocumentStore& dashboards_;
    dashboards::Sources sources_;
};

}  // namespace tally::api
