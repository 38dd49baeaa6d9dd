#pragma once
// GET /api/v1/audit?since=&limit=&workspace=: the audit trail, oldest first, for an admin
// token. A workspace's admin reads its own workspace's entries; the server's admin (the
// global token) reads every workspace's, refused tokens included, unless ?workspace=
// narrows it to one.
//
//   since      RFC 3339 ("2026-12-03T10:00:00Z") or epoch milliseconds; default: all kept
//   limit      1..10000, default 1000
//   workspace  a workspace name; another workspace than the token's own answers 404 unless
//              the token is the server's admin
//
// Answer: {"entries":[{"time": RFC 3339, "workspace", "token_id", "action", "object_id",
// "version_before", "version_after", "detail"}]}; a version is null when there is none (a
// creation has no version before, a deletion or a refusal none after).

#include <cstddef>

#include "tally/api/authorization.hpp"
#include "tally/audit/audit_log.hpp"
#include "tally/http/router.hpp"

namespace tally::api {

class AuditApi {
  public:
    static constexpr std::size_t kDefaultLimit = 1000;
    static constexpr std::size_t kMaxLimit = 10000;

    AuditApi(const Authorization& authorization, const audit::AuditLog& log);

    void add_routes(http::Router& router);

    http::Response list(const http::Request& request) const;

  private:
    const Authorization& authorization_;
    const audit::AuditLog& log_;
};

}  // namespace tally::api
