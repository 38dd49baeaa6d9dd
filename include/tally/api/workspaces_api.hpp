#pragma once
// The workspaces API: who a token is, the workspaces and their tokens.
//
//   GET    /api/v1/whoami                          {workspace, role, token_id, server_admin}
//   GET    /api/v1/workspaces                      the server admin: every workspace; else its own
//   POST   /api/v1/workspaces                      {name, sites}: the server admin -> 201
//   GET    /api/v1/workspaces/<name>               {name, sites, tokens: [{id, role, created_at}]}
//   PUT    /api/v1/workspaces/<name>               {sites}: the server admin
//   POST   /api/v1/workspaces/<name>/tokens        {role} -> 201 {id, role, token}: the token's
//                                                  secret, shown this once and never again
//   DELETE /api/v1/workspaces/<name>/tokens/<id>   -> 204
//
// A workspace's admin manages its tokens; another workspace answers 404. Each change is
// written to the audit trail (never a secret).

#include "tally/api/authorization.hpp"
#include "tally/http/router.hpp"
#include "tally/workspaces/workspaces.hpp"

namespace tally::audit {
class AuditLog;
}

namespace tally::api {

class WorkspacesApi {
  public:
    WorkspacesApi(const Authorization& authorization, workspaces::Workspaces& workspaces,
                  audit::AuditLog* audit);

    void add_routes(http::Router& router);

  private:
    http::Response whoami(const http::Request& request) const;
    http::Response list(const http::Request& request) const;
    http::Response create(const http::Request& request);
    http::Response one(const http::Request& request);
    http::Response show(const Access& access, const std::string& name) const;
    http::Response set_sites(const http::Request& request, const Access& access,
                             const std::string& name);
    http::Response create_token(const http::Request& request, const Access& access,
                                const std::string& name);
    http::Response delete_token(const Access& access, const std::string& name,
                                const std::string& token_id);
    void record(const Access& access, const std::string& workspace, std::string action,
                std::string object_id) const;

    const Authorization& authorization_;
    workspaces::Workspaces& workspaces_;
    audit::AuditLog* audit_;
};

}  // namespace tally::api
