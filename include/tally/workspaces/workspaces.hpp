#pragma once
// Workspaces: several teams on one daemon. A workspace owns sites, metrics, dashboards,
// alerts, reports and its part of the audit trail; its tokens carry a role.
//
//   admin   everything in the workspace, its tokens included
//   editor  dashboards, alerts and reports, and every read
//   viewer  reads only
//   ingest  metrics ingest only
//
// Without workspaces in the config there is one, "default", and the global token (when
// set) is its admin and the server's admin: everything behaves as before workspaces.
// A site no workspace names belongs to "default".
//
// Tokens are kept as SHA-256 digests, never as their secret: a request's token is hashed
// and its digest looked up. Only digests are ever compared, so the comparison's timing
// tells nothing about a secret (it is constant in the secret). A token made through the
// API is shown once, in the answer that creates it. Workspaces and tokens made through the
// API are kept in one JSON file in the data dir (written, fsynced, renamed); those of the
// config are read from it at every start.
//
// Cost: a lookup is one SHA-256 of the presented token (about 1 us) and a hash-map probe
// under a shared lock; changes (rare, people administering) take the lock exclusively.

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tally::workspaces {

inline constexpr std::string_view kDefault = "default";

enum class Role { admin, editor, viewer, ingest };
std::string_view role_name(Role role);
std::optional<Role> parse_role(std::string_view name);

/// Whether `name` is a valid workspace name: [a-z0-9-]{1,32}.
bool valid_name(std::string_view name);

using Digest = std::array<std::uint8_t, 32>;
Digest sha256(std::string_view text);
std::string to_hex(const Digest& digest);
/// The digest of 64 lowercase hex digits (to_hex's form); nullopt for anything else.
std::optional<Digest> digest_from_hex(std::string_view hex);

/// Who a presented token is.
struct Holder {
    std::string workspace;  // its workspace's name
    Role role = Role::viewer;
    std::string token_id;  // shown in the audit trail, never the secret
    bool server_admin = false;
};

/// A token as configured or stored: its digest, never its secret.
struct TokenRecord {
    std::string id;
    Role role = Role::viewer;
    Digest digest{};
    std::int64_t created_ms = 0;
    bool from_config = false;
};

struct Workspace {
    std::string name;
    std::vector<std::string> sites;
    std::vector<TokenRecord> tokens;
    bool from_config = false;
};

/// The config's part: workspaces with their sites and tokens (a token as its secret, or as
/// "sha256": its hex digest).
struct WorkspacesOptions {
    std::filesystem::path file;  // data_dir/workspaces.json
    std::string server_token;    // the global token ("" = none)
    std::vector<Workspace> configured;
    bool configured_present = false;  // "workspaces" appeared in the config
};

class Workspaces {
  public:
    explicit Workspaces(WorkspacesOptions options);

    /// Reads the file of workspaces and tokens made through the API. Throws on a damaged file.
    void load();

    /// Whether the config named workspaces (else: one "default", the global token its admin).
    bool enabled() const { return options_.configured_present || !stored_empty(); }
    /// Whether any token is required at all.
    bool tokens_required() const;

    /// nullopt when `secret` is no token this daemon knows.
    std::optional<Holder> authenticate(std::string_view secret) const;

    /// The workspace a site belongs to ("default" when no workspace names it).
    std::string site_workspace(std::string_view site) const;
    bool exists(std::string_view workspace) const;
    std::vector<std::string> names() const;
    std::optional<Workspace> get(std::string_view workspace) const;

    enum class Outcome { ok, exists, not_found, invalid, io_error };
    struct Result {
        Outcome outcome = Outcome::ok;
        std::string message;
    };
    /// A new workspace with its sites (each must be unowned or "default"'s).
    Result create(const std::string& name, const std::vector<std::string>& sites,
                  std::int64_t now_ms);
    Result set_sites(const std::string& name, const std::vector<std::string>& sites);
    /// A new token: its secret goes to `secret_out`, its record to `record_out`.
    Result create_token(const std::string& workspace, Role role, std::int64_t now_ms,
                        std::string& secret_out, TokenRecord& record_out);
    Result delete_token(const std::string& workspace, const std::string& token_id);

  private:
    bool stored_empty() const;
    bool save_locked(std::string& error) const;

    WorkspacesOptions options_;
    mutable std::shared_mutex mutex_;
    std::map<std::string, Workspace, std::less<>> workspaces_;
    std::unordered_map<std::string, std::string> site_owner_;  // site -> workspace
    std::unordered_map<std::string, Holder> by_digest_;        // hex digest -> holder
    bool any_stored_ = false;
};

}  // namespace tally::workspaces
