#pragma once
// tallyd's configuration: the embedded defaults, then a JSON file (--config), then flags
// (flags win over the file). Every key is listed in README.md and config/tallyd.json.
// A bad flag, key or value is a one-line error naming it (exit 2).

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/alerts/rule.hpp"
#include "tally/durability/event_log.hpp"
#include "tally/metrics/derive.hpp"
#include "tally/workspaces/workspaces.hpp"

namespace tally::daemon {

/// Where GET /dashboard reads: this process's memory, or the fleet's sums in Redis.
enum class QuerySource { local, redis };

struct Config {
    std::string listen_host = "127.0.0.1";
    std::uint16_t listen_port = 8080;
    std::string data_dir = "./data";
    std::string web_root = "./web";
    std::string token;        // "" = reads are open
    std::string instance_id;  // "" = the host name (default_instance_id)
    std::string log_level = "info";
    std::size_t threads = 0;  // 0 = one per core
    bool demo = false;

    // durability.*
    durability::FsyncMode fsync = durability::FsyncMode::interval;
    std::chrono::milliseconds fsync_interval{100};
    std::uint64_t segment_bytes = 64ull << 20;
    std::chrono::seconds snapshot_interval{300};  // 0 = only on clean shutdown
    std::uint64_t snapshot_events = 1'000'000;    // or after this many events; 0 = off
    std::size_t snapshots_kept = 2;

    // http.*
    std::size_t max_connections = 10'000;
    std::chrono::milliseconds read_timeout{10'000};
    std::chrono::milliseconds idle_timeout{60'000};
    std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-For is believed
    std::vector<std::string> cors_origins = {"*"};

    // limits.*
    std::size_t max_sites = 1000;
    std::size_t max_event_names_per_day = 1000;
    std::size_t top_capacity = 10'000;
    std::size_t compat_sessions = 500'000;      // visitors whose Plausible/Umami session is kept
    std::size_t max_active_sessions = 500'000;  // sessions held for real_time_users
    std::size_t funnel_memory_mb = 128;         // funnel steps in memory; the rest goes to disk
    std::size_t query_cache_mb = 64;  // merged top lists of settled days (top_list_cache.hpp)

    // compat.*
    std::map<std::string, std::string> umami_websites;  // Umami website id -> site
    // bots.*: "" = the npm package's file under web_root (bot filtering off when absent)
    std::string crawler_list;
    bool filter_track_api = false;  // also drop crawlers' /track/* requests

    // redis.*, live.*, retention (used by later parts; accepted and validated now)
    std::string redis_url;  // "" = no mirror
    std::chrono::milliseconds redis_flush{250};
    std::chrono::seconds redis_stale_max{300};      // fleet figures kept while Redis is away
    QuerySource query_source = QuerySource::local;  // redis needs redis_url
    std::chrono::milliseconds live_batch{100};
    std::size_t live_max_clients = 10'000;      // /ws connections; more are refused with 503
    std::size_t live_max_clients_per_ip = 100;  // /ws connections of one address; more: 429
    std::chrono::milliseconds live_idle_timeout{30'000};  // a silent /ws client is dropped
    int retention_days = 30;  // day states, log segments (at least 3: events may be 48 h old)
    int rollup_retention_days = 400;  // week and month roll-ups
    // The metrics service: statsd.listen (off when the port is 0), metrics.*.
    std::string statsd_host;
    std::uint16_t statsd_port = 0;
    std::size_t metrics_max_series = 100'000;
    std::size_t metrics_max_series_per_name = 10'000;
    int metrics_retention_days = 30;  // the 1-hour tier
    std::vector<metrics::DeriveRule> derive;

    // workspaces, audit.*: several teams on one daemon (workspaces.hpp); without
    // "workspaces" there is one, "default", and `token` is its admin.
    std::vector<workspaces::Workspace> workspaces;
    bool workspaces_configured = false;
    std::string statsd_workspace = "default";  // the workspace DogStatsD points go to
    int audit_retention_days = 400;

    // alerts.*: how often every rule is evaluated, the named channels rules may use in
    // "actions", and the URL notifications link back to ("" = http://<listen>).
    std::chrono::milliseconds alerts_eval_interval{10'000};
    alerts::Channels alert_channels;
    std::string alerts_external_url;
};

/// What the command line asked for.
struct CommandLine {
    enum class Action { run, help, version } action = Action::run;
    Config config;
};

/// Parses argv (and the --config file it names, and TALLY_TOKEN from the environment).
/// Throws ConfigError with a one-line message naming the bad flag or key.
CommandLine parse_command_line(int argc, const char* const* argv, const char* env_token);

struct ConfigError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string usage();

/// `host` made a valid instance id (redis::valid_instance_id): each character outside
/// [A-Za-z0-9._-] becomes '-', cut to 64; "tallyd" when empty.
std::string instance_id_from_host(std::string_view host);
/// The default instance id: this machine's host name, made valid.
std::string default_instance_id();

}  // namespace tally::daemon
