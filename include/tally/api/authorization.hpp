#pragma once
// The authorization step every protected route takes: who the token is (its workspace and
// role), and whether that role may do what the route does.
//
// A request carries its token as "Authorization: Bearer <token>" ("Token <token>" as the
// InfluxDB clients send it) or ?token=<token>. An unknown or missing token is answered 401
// with WWW-Authenticate (and recorded in the audit trail when one was presented); a known
// token whose role is too weak is answered 403. Without workspaces and without a token
// every request is the admin of "default". Tracking is never behind a token: browsers
// send it from pages anyone can read.
//
// Scoping: an Access names its workspace; handlers show only that workspace's sites,
// metrics and documents, and answer 404 for another's (an id or site from another
// workspace is indistinguishable from one that does not exist).

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "tally/http/router.hpp"
#include "tally/workspaces/workspaces.hpp"

namespace tally::audit {
class AuditLog;
}

namespace tally::api {

/// What a route needs of the token's role.
enum class Need {
    any,           // any valid token (who am I)
    read,          // viewer, editor, admin
    edit,          // editor, admin: dashboards, alerts, reports
    admin,         // admin: tokens, the audit trail
    ingest,        // ingest, editor, admin: metric points
    server_admin,  // the global token: tallyd's own /metrics, making workspaces
};

struct Access {
    std::string workspace = std::string(workspaces::kDefault);
    workspaces::Role role = workspaces::Role::admin;
    std::string token_id;  // "" when no token is required
    bool server_admin = true;

    /// The metrics engine's name of the workspace: "" for "default".
    std::string metrics_workspace() const {
        return workspace == workspaces::kDefault ? std::string() : workspace;
    }
};

class Authorization {
  public:
    /// `audit` may be null (then refusals are not recorded).
    Authorization(const workspaces::Workspaces& workspaces, audit::AuditLog* audit)
        : workspaces_(workspaces), audit_(audit) {}

    /// The Access of the request's token when its role allows `need`; else the 401/403.
    std::variant<Access, http::Response> allow(const http::Request& request, Need need) const;

    /// allow(request, Need::read) for a route that needs no scope: nullopt when it may read.
    std::optional<http::Response> check(const http::Request& request) const;

    /// Whether `access` may see `site` (it belongs to the access's workspace).
    bool sees_site(const Access& access, std::string_view site) const;

    const workspaces::Workspaces& workspaces() const { return workspaces_; }
    audit::AuditLog* audit() const { return audit_; }

  private:
    static constexpr std::int64_t kRefusalsPerMinute = 60;
    void record_refusal(const http::Request& request) const;

    const workspaces::Workspaces& workspaces_;
    audit::AuditLog* audit_;
    mutable std::atomic<std::int64_t> refusal_minute_{0};
    mutable std::atomic<std::int64_t> refusals_this_minute_{0};
    mutable std::atomic<std::int64_t> refusals_left_out_{0};
};

/// The 404 of an object another workspace owns, or of none: both read the same.
http::Response not_found(std::string_view what);

/// Appends a change to the audit trail (nothing when `audit` is null): who (the access's
/// workspace and token id, never its secret), what ("dashboard.update"), which object, and
/// its versions before and after (0: none).
void record_change(audit::AuditLog* audit, const Access& access, std::string action,
                   std::string object_id, std::int64_t version_before, std::int64_t version_after);

}  // namespace tally::api
