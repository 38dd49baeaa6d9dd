#include "tally/daemon/config.hpp"
#include "tally/redis/address.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "tally/base/names.hpp"
#include "tally/redis/keys.hpp"

namespace tally::daemon {

namespace {

using json = nlohmann::json;

/// Sets one configuration key from a JSON value; throws ConfigError naming the key.
using Setter = std::function<void(Config&, const json&, const std::string& key)>;

[[noreturn]] void bad(const std::string& key, const std::string& what) {
    throw ConfigError(key + ": " + what);
}

std::string as_string(const json& v, const std::string& key) {
    if (!v.is_string())
        bad(key, "expected a string");
    return v.get<std::string>();
}

std::int64_t as_integer(const json& v, const std::string& key, std::int64_t min, std::int64_t max) {
    std::int64_t n = 0;
    if (v.is_number_integer()) {
        n = v.get<std::int64_t>();
    } else if (v.is_string()) {  // from a flag
        const std::string s = v.get<std::string>();
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || p != s.data() + s.size())
            bad(key, "expected an integer, got '" + s + "'");
    } else {
        bad(key, "expected an integer");
    }
    if (n < min || n > max) {
        bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return n;
}

std::vector<std::string> as_string_list(const json& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.is_string()) {  // from a flag: comma-separated
        std::stringstream in(v.get<std::string>());
        std::string item;
        while (std::getline(in, item, ',')) {
            if (!item.empty())
                out.push_back(item);
        }
        return out;
    }
    if (!v.is_array())
        bad(key, "expected a list of strings");
    for (const auto& item : v)
        out.push_back(as_string(item, key));
    return out;
}

/// HOST:PORT or [V6]:PORT.
void split_host_port(const json& v, const std::string& key, std::string& host_out,
                     std::uint16_t& port_out) {
    const std::string text = as_string(v, key);
    std::string host;
    std::string port;
    if (!text.empty() && text.front() == '[') {  // [::1]:8080
        const auto close = text.find(']');
        if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            bad(key, "expected HOST:PORT, got '" + text + "'");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string::npos)
            bad(key, "expected HOST:PORT, got '" + text + "'");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (host.empty())
        bad(key, "expected HOST:PORT, got '" + text + "'");
    host_out = host;
    port_out = static_cast<std::uint16_t>(as_integer(json(port), key, 0, 65535));
}

void set_listen(Config& c, const json& v, const std::string& key) {
    split_host_port(v, key, c.listen_host, c.listen_port);
}

void set_statsd(Config& c, const json& v, const std::string& key) {
    if (v.is_null() || (v.is_string() && v.get<std::string>().empty())) {
        c.statsd_host.clear();
        c.statsd_port = 0;
        return;
    }
    split_host_port(v, key, c.statsd_host, c.statsd_port);
    if (c.statsd_port == 0)
        bad(key, "needs a port other than 0");
}

void set_umami_websites(Config& c, const json& v, const std::string& key) {
    if (!v.is_object())
        bad(key, "must be an object {\"<website id>\": \"<site>\"}");
    c.umami_websites.clear();
    for (const auto& [website, site] : v.items()) {
        const std::string name = as_string(site, key + "." + website);
        if (!valid_site(name))
            bad(key + "." + website, "must be a site ([A-Za-z0-9._-]{1,64}), got '" + name + "'");
        c.umami_websites[website] = name;
    }
}

metrics::DeriveRule derive_rule(const json& v, const std::string& key) {
    if (!v.is_object())
        bad(key, "each rule must be an object {event, metric, type, value, tags}");
    metrics::DeriveRule rule;
    rule.event = as_string(v.value("event", json()), key + ".event");
    if (!valid_event_name(rule.event))
        bad(key, "event must be an event name, got '" + rule.event + "'");
    rule.metric = as_string(v.value("metric", json()), key + ".metric");
    if (!valid_metric_name(rule.metric))
        bad(key, "metric must be [A-Za-z0-9_.:-]{1,128}, got '" + rule.metric + "'");
    const auto type = parse_metric_type(as_string(v.value("type", json("count")), key + ".type"));
    if (!type)
        bad(key, "type must be count, sum, rate, average, min, max, gauge, percentile or unique");
    rule.type = *type;
    if (v.contains("value"))
        rule.value = as_string(v["value"], key + ".value");
    if (rule.value.empty() && kind_of(rule.type) != MetricKind::counter)
        bad(key, "a rule without a value property must be a counter (type count)");
    if (v.contains("tags"))
        rule.tags = as_string_list(v["tags"], key + ".tags");
    for (const auto& [field, value] : v.items()) {
        if (field != "event" && field != "metric" && field != "type" && field != "value" &&
            field != "tags") {
            bad(key, "unknown field '" + field + "' in a rule");
        }
    }
    return rule;
}

void set_derive(Config& c, const json& v, const std::string& key) {
    if (!v.is_array())
        bad(key, "expected a list of rules");
    c.derive.clear();
    for (const json& item : v)
        c.derive.push_back(derive_rule(item, key));
}

std::chrono::milliseconds as_ms(const json& v, const std::string& key, std::int64_t min,
                                std::int64_t max) {
    return std::chrono::milliseconds(as_integer(v, key, min, max));
}

// What the daemon is: where it listens, stores and serves, its token and threads.
std::vector<std::pair<std::string, Setter>> core_setters() {
    return {
        {"listen", set_listen},
        {"data_dir",
         [](Config& c, const json& v, const std::string& k) { c.data_dir = as_string(v, k); }},
        {"web_root",
         [](Config& c, const json& v, const std::string& k) { c.web_root = as_string(v, k); }},
        {"token",
         [](Config& c, const json& v, const std::string& k) { c.token = as_string(v, k); }},
        {"instance_id",
         [](Config& c, const json& v, const std::string& k) {
             // It names the instance inside Redis keys (keys.hpp): "" = the host name.
             std::string id = as_string(v, k);
             if (!id.empty() && !redis::valid_instance_id(id))
                 bad(k, "must be 1 to 64 of [A-Za-z0-9._-], got '" + id + "'");
             c.instance_id = std::move(id);
         }},
        {"log_level",
         [](Config& c, const json& v, const std::string& k) {
             const std::string level = as_string(v, k);
             static const char* kLevels[] = {"trace", "debug",    "info", "warn",
                                             "error", "critical", "off"};
             for (const char* l : kLevels) {
                 if (level == l) {
                     c.log_level = level;
                     return;
                 }
             }
             bad(k, "must be one of trace, debug, info, warn, error, critical, off");
         }},
        {"threads",
         [](Config& c, const json& v, const std::string& k) {
             c.threads = static_cast<std::size_t>(as_integer(v, k, 0, 256));
         }},
        {"demo",
         [](Config& c, const json& v, const std::string& k) {
             if (v.is_boolean()) {
                 c.demo = v.get<bool>();
             } else {
                 bad(k, "expected true or false");
             }
         }},
    };
}

// The event log and snapshots; the HTTP server's limits.
std::vector<std::pair<std::string, Setter>> durability_http_setters() {
    return {
        {"durability.fsync",
         [](Config& c, const json& v, const std::string& k) {
             if (!durability::parse_fsync_mode(as_string(v, k), c.fsync)) {
                 bad(k, "must be always, interval or never");
             }
         }},
        {"durability.fsync_interval_ms",
         [](Config& c, const json& v, const std::string& k) {
             c.fsync_interval = as_ms(v, k, 1, 60'000);
         }},
        {"durability.segment_mb",
         [](Config& c, const json& v, const std::string& k) {
             c.segment_bytes = static_cast<std::uint64_t>(as_integer(v, k, 1, 4096)) << 20;
         }},
        {"durability.snapshot_interval_s",
         [](Config& c, const json& v, const std::string& k) {
             c.snapshot_interval = std::chrono::seconds(as_integer(v, k, 0, 86'400));
         }},
        {"durability.snapshot_events",
         [](Config& c, const json& v, const std::string& k) {
             c.snapshot_events = static_cast<std::uint64_t>(as_integer(v, k, 0, 1'000'000'000));
         }},
        {"durability.snapshots_kept",
         [](Config& c, const json& v, const std::string& k) {
             c.snapshots_kept = static_cast<std::size_t>(as_integer(v, k, 1, 100));
         }},
        {"http.max_connections",
         [](Config& c, const json& v, const std::string& k) {
             c.max_connections = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"http.read_timeout_ms",
         [](Config& c, const json& v, const std::string& k) {
             c.read_timeout = as_ms(v, k, 10, 3'600'000);
         }},
        {"http.idle_timeout_ms",
         [](Config& c, const json& v, const std::string& k) {
             c.idle_timeout = as_ms(v, k, 10, 3'600'000);
         }},
        {"http.trusted_proxies",
         [](Config& c, const json& v, const std::string& k) {
             c.trusted_proxies = as_string_list(v, k);
         }},
        {"http.cors_origins", [](Config& c, const json& v,
                                 const std::string& k) { c.cors_origins = as_string_list(v, k); }},
    };
}

// Caps and budgets: what traffic may create, and the memory it may take.
std::vector<std::pair<std::string, Setter>> limit_setters() {
    return {
        {"limits.max_sites",
         [](Config& c, const json& v, const std::string& k) {
             c.max_sites = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"limits.max_event_names_per_day",
         [](Config& c, const json& v, const std::string& k) {
             c.max_event_names_per_day = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"limits.top_capacity",
         [](Config& c, const json& v, const std::string& k) {
             c.top_capacity = static_cast<std::size_t>(as_integer(v, k, 10, 10'000'000));
         }},
        {"limits.compat_sessions",
         [](Config& c, const json& v, const std::string& k) {
             c.compat_sessions = static_cast<std::size_t>(as_integer(v, k, 16, 100'000'000));
         }},
        {"limits.active_sessions",
         [](Config& c, const json& v, const std::string& k) {
             c.max_active_sessions = static_cast<std::size_t>(as_integer(v, k, 64, 100'000'000));
         }},
        {"limits.funnel_memory_mb",
         [](Config& c, const json& v, const std::string& k) {
             c.funnel_memory_mb = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"limits.query_cache_mb",
         [](Config& c, const json& v, const std::string& k) {
             c.query_cache_mb = static_cast<std::size_t>(as_integer(v, k, 0, 1'000'000));
         }},
    };
}

// The Redis mirror, the live pushes, the incumbents' trackers, the bot filter.
std::vector<std::pair<std::string, Setter>> mirror_live_setters() {
    return {
        {"redis.url",
         [](Config& c, const json& v, const std::string& k) {
             if (v.is_null()) {
                 c.redis_url.clear();
                 return;
             }
             const std::string url = as_string(v, k);
             if (!url.empty() && !redis::parse_redis_url(url))
                 bad(k, "expected redis://HOST:PORT[/DB]");
             c.redis_url = url;
         }},
        {"query_source",
         [](Config& c, const json& v, const std::string& k) {
             const std::string source = as_string(v, k);
             if (source == "local") {
                 c.query_source = QuerySource::local;
             } else if (source == "redis") {
                 c.query_source = QuerySource::redis;
             } else {
                 bad(k, "must be local or redis");
             }
         }},
        {"redis.stale_max_s",
         [](Config& c, const json& v, const std::string& k) {
             c.redis_stale_max = std::chrono::seconds(as_integer(v, k, 0, 86'400));
         }},
        {"redis.flush_ms", [](Config& c, const json& v,
                              const std::string& k) { c.redis_flush = as_ms(v, k, 10, 60'000); }},
        {"live.batch_ms", [](Config& c, const json& v,
                             const std::string& k) { c.live_batch = as_ms(v, k, 10, 10'000); }},
        {"live.idle_timeout_ms",
         [](Config& c, const json& v, const std::string& k) {
             c.live_idle_timeout = as_ms(v, k, 100, 3'600'000);
         }},
        {"live.max_clients",
         [](Config& c, const json& v, const std::string& k) {
             c.live_max_clients = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"live.max_clients_per_ip",
         [](Config& c, const json& v, const std::string& k) {
             c.live_max_clients_per_ip = static_cast<std::size_t>(as_integer(v, k, 1, 1'000'000));
         }},
        {"compat.umami_websites", set_umami_websites},
        {"bots.crawler_list",
         [](Config& c, const json& v, const std::string& k) { c.crawler_list = as_string(v, k); }},
        {"bots.track_api",
         [](Config& c, const json& v, const std::string& k) {
             if (!v.is_boolean())
                 bad(k, "must be true or false");
             c.filter_track_api = v.get<bool>();
         }},
    };
}

// The metrics service and how long data is kept.
workspaces::TokenRecord workspace_token(const json& v, const std::string& key) {
    if (!v.is_object())
        bad(key, "must be an object {\"id\", \"role\", \"token\" or \"sha256\"}");
    workspaces::TokenRecord token;
    const auto role = workspaces::parse_role(as_string(v.value("role", json()), key + ".role"));
    if (!role)
        bad(key + ".role", "must be admin, editor, viewer or ingest");
    token.role = *role;
    if (v.contains("token")) {
        const std::string secret = as_string(v["token"], key + ".token");
        if (secret.size() < 8)
            bad(key + ".token", "must be at least 8 characters");
        token.digest = workspaces::sha256(secret);
    } else {
        const std::string hex = as_string(v.value("sha256", json()), key + ".sha256");
        const auto digest = workspaces::digest_from_hex(hex);
        if (!digest)
            bad(key + ".sha256", "must be 64 lowercase hex digits (or give \"token\")");
        token.digest = *digest;
    }
    token.id = v.contains("id") ? as_string(v["id"], key + ".id")
                                : workspaces::to_hex(token.digest).substr(0, 12);
    return token;
}

void set_workspaces(Config& c, const json& v, const std::string& key) {
    if (!v.is_array())
        bad(key, "must be a list of {\"name\", \"sites\", \"tokens\"}");
    c.workspaces.clear();
    std::map<std::string, std::string> owners;
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        if (!v[i].is_object())
            bad(at, "must be an object {\"name\", \"sites\", \"tokens\"}");
        workspaces::Workspace workspace;
        workspace.name = as_string(v[i].value("name", json()), at + ".name");
        if (!workspaces::valid_name(workspace.name))
            bad(at + ".name", "must be 1 to 32 of a-z, 0-9 and -");
        workspace.sites = as_string_list(v[i].value("sites", json::array()), at + ".sites");
        for (const std::string& site : workspace.sites) {
            if (!valid_site(site) || !owners.emplace(site, workspace.name).second)
                bad(at + ".sites", "'" + site + "' is not a site, or another workspace has it");
        }
        const json tokens = v[i].value("tokens", json::array());
        if (!tokens.is_array())
            bad(at + ".tokens", "must be a list");
        for (std::size_t t = 0; t < tokens.size(); ++t)
            workspace.tokens.push_back(
                workspace_token(tokens[t], at + ".tokens[" + std::to_string(t) + "]"));
        c.workspaces.push_back(std::move(workspace));
    }
    c.workspaces_configured = true;
}

std::vector<std::pair<std::string, Setter>> workspace_setters() {
    return {
        {"workspaces", set_workspaces},
        {"audit.retention_days",
         [](Config& c, const json& v, const std::string& k) {
             c.audit_retention_days = static_cast<int>(as_integer(v, k, 1, 36500));
         }},
        {"statsd.workspace",
         [](Config& c, const json& v, const std::string& k) {
             c.statsd_workspace = as_string(v, k);
             if (!workspaces::valid_name(c.statsd_workspace))
                 bad(k, "must be a workspace name (1 to 32 of a-z, 0-9 and -)");
         }},
    };
}

std::vector<std::pair<std::string, Setter>> metric_retention_setters() {
    return {
        {"statsd.listen", set_statsd},
        {"metrics.max_series",
         [](Config& c, const json& v, const std::string& k) {
             c.metrics_max_series = static_cast<std::size_t>(as_integer(v, k, 1, 100'000'000));
         }},
        {"metrics.max_series_per_name",
         [](Config& c, const json& v, const std::string& k) {
             c.metrics_max_series_per_name =
                 static_cast<std::size_t>(as_integer(v, k, 1, 100'000'000));
         }},
        {"metrics.retention_days",
         [](Config& c, const json& v, const std::string& k) {
             c.metrics_retention_days = static_cast<int>(as_integer(v, k, 3, 3650));
         }},
        {"metrics.derive", set_derive},
        {"retention_days",
         [](Config& c, const json& v, const std::string& k) {
             // An event may be 48 h old, so its day may be today - 2: three days at least,
             // or ingest would recreate days that retention just removed.
             c.retention_days = static_cast<int>(as_integer(v, k, 3, 3650));
         }},
        {"rollup_retention_days",
         [](Config& c, const json& v, const std::string& k) {
             c.rollup_retention_days = static_cast<int>(as_integer(v, k, 1, 36500));
         }},
    };
}

// Alert rules: the evaluation interval, the named channels, the URL notifications link to.
void set_alert_channels(Config& c, const json& v, const std::string& key) {
    if (!v.is_object())
        bad(key, "must be an object {\"<name>\": {\"type\": \"webhook\", \"url\": ...}}");
    c.alert_channels.clear();
    for (const auto& [name, value] : v.items()) {
        const bool valid_name =
            !name.empty() && name.size() <= 64 &&
            std::all_of(name.begin(), name.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-';
            });
        if (!valid_name)
            bad(key + "." + name, "a channel's name is 1 to 64 of [A-Za-z0-9_-]");
        auto action = alerts::parse_action(value, key + "." + name);
        if (const auto* invalid = std::get_if<alerts::Invalid>(&action))
            bad(invalid->field, invalid->message);
        alerts::Action channel = std::get<alerts::Action>(action);
        channel.receiver = name;
        c.alert_channels[name] = std::move(channel);
    }
}

std::vector<std::pair<std::string, Setter>> alert_setters() {
    return {
        {"alerts.eval_interval",
         [](Config& c, const json& v, const std::string& k) {
             const auto ms = alerts::parse_duration_ms(v);
             if (!ms || *ms < 50 || *ms > 3'600'000)
                 bad(k, "must be a duration from 50ms to 1h (\"10s\", \"500ms\") or seconds");
             c.alerts_eval_interval = std::chrono::milliseconds(*ms);
         }},
        {"alerts.channels", set_alert_channels},
        {"alerts.external_url",
         [](Config& c, const json& v, const std::string& k) {
             std::string url = as_string(v, k);
             if (!url.empty() && !url.starts_with("http://") && !url.starts_with("https://"))
                 bad(k, "must be an http:// or https:// URL");
             while (url.ends_with('/'))
                 url.pop_back();
             c.alerts_external_url = std::move(url);
         }},
    };
}

const std::map<std::string, Setter>& setters() {
    static const std::map<std::string, Setter> table = [] {
        std::map<std::string, Setter> all;
        for (auto group :
             {core_setters, durability_http_setters, limit_setters, mirror_live_setters,
              metric_retention_setters, workspace_setters, alert_setters}) {
            for (auto& [key, setter] : group())
                all.emplace(key, std::move(setter));
        }
        return all;
    }();
    return table;
}

void apply(Config& config, const std::string& key, const json& value) {
    auto it = setters().find(key);
    if (it == setters().end())
        throw ConfigError("unknown configuration key '" + key + "'");
    it->second(config, value, key);
}

/// Walks a config object; nested objects give dotted keys ("durability": {"fsync": ...}).
void apply_object(Config& config, const json& object, const std::string& prefix) {
    for (const auto& [name, value] : object.items()) {
        std::string key = prefix;
        if (!key.empty())
            key += '.';
        key += name;
        // An object is walked, unless the key takes an object (compat.umami_websites).
        if (value.is_object() && !setters().contains(key)) {
            apply_object(config, value, key);
        } else {
            apply(config, key, value);
        }
    }
}

void load_file(Config& config, const std::string& path) {
    std::ifstream in(path);
    if (!in)
        throw ConfigError("--config: cannot read '" + path + "'");
    json document;
    try {
        document = json::parse(in, nullptr, true, /*ignore_comments=*/true);
    } catch (const json::parse_error& e) {
        throw ConfigError("--config: '" + path + "' is not valid JSON (" + e.what() + ")");
    }
    if (!document.is_object())
        throw ConfigError("--config: '" + path + "' must hold a JSON object");
    apply_object(config, document, "");
}

// Flags and the configuration key each one sets.
const std::map<std::string, std::string>& flag_keys() {
    static const std::map<std::string, std::string> table = {
        {"--listen", "listen"},
        {"--data-dir", "data_dir"},
        {"--redis", "redis.url"},
        {"--web-root", "web_root"},
        {"--token", "token"},
        {"--fsync", "durability.fsync"},
        {"--instance-id", "instance_id"},
        {"--log-level", "log_level"},
        {"--threads", "threads"},
        {"--query-source", "query_source"},
        {"--statsd", "statsd.listen"},
    };
    return table;
}

}  // namespace

CommandLine parse_command_line(int argc, const char* const* argv, const char* env_token) {
    CommandLine result;
    // First pass: --config, --help, --version, so the file is applied before the flags.
    std::vector<std::pair<std::string, std::string>> flags;  // (flag, value)
    std::string config_path;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        std::string value;
        bool has_value = false;
        if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_value = true;
        }
        if (arg == "--help" || arg == "-h") {
            result.action = CommandLine::Action::help;
            return result;
        }
        if (arg == "--version") {
            result.action = CommandLine::Action::version;
            return result;
        }
        if (arg == "--demo") {
            if (has_value)
                throw ConfigError("--demo takes no value");
            flags.emplace_back(arg, "");
            continue;
        }
        if (arg != "--config" && flag_keys().find(arg) == flag_keys().end()) {
            throw ConfigError("unknown flag '" + arg + "' (see --help)");
        }
        if (!has_value) {
            if (i + 1 >= argc)
                throw ConfigError(arg + " needs a value");
            value = argv[++i];
        }
        if (arg == "--config") {
            config_path = value;
        } else {
            flags.emplace_back(arg, value);
        }
    }

    Config& config = result.config;
    if (!config_path.empty())
        load_file(config, config_path);
    if (env_token != nullptr && *env_token != '\0')
        config.token = env_token;
    for (const auto& [flag, value] : flags) {
        try {
            if (flag == "--demo") {
                config.demo = true;
            } else {
                apply(config, flag_keys().at(flag), json(value));
            }
        } catch (const ConfigError& e) {
            // Name the flag the user typed, not the internal key.
            const std::string what = e.what();
            const auto colon = what.find(": ");
            throw ConfigError(flag + ": " +
                              (colon == std::string::npos ? what : what.substr(colon + 2)));
        }
    }
    // Keys that depend on each other, once the file and the flags are all in.
    if (config.query_source == QuerySource::redis && config.redis_url.empty())
        throw ConfigError("query_source: redis needs redis.url (--query-source redis --redis URL)");
    if (config.statsd_workspace != workspaces::kDefault &&
        std::none_of(config.workspaces.begin(), config.workspaces.end(),
                     [&](const auto& w) { return w.name == config.statsd_workspace; }))
        throw ConfigError("statsd.workspace: no workspace '" + config.statsd_workspace +
                          "' in workspaces");
    return result;
}

std::string usage() {
    return R"(Usage: tallyd [options]

Tally: live web analytics in one process. With no options it listens on
127.0.0.1:8080 and keeps its data in ./data.

Options (each also a key of the --config JSON file; flags win):
  --config FILE           JSON configuration (see config/tallyd.json)
  --listen HOST:PORT      address to serve on            [127.0.0.1:8080]
  --data-dir DIR          event log, salts, rejects log  [./data]
  --web-root DIR          dashboard files                [./web]
  --token TOKEN           require this bearer token for reads (or env TALLY_TOKEN)
  --fsync MODE            always | interval | never      [interval]
  --redis URL             mirror to redis://HOST:PORT[/DB] (off when absent)
  --instance-id ID        this daemon's name in a fleet  [host name]
  --query-source SOURCE   /dashboard from local memory, or the fleet's sums
                          in redis (needs --redis)        [local]
  --log-level LEVEL       trace|debug|info|warn|error    [info]
  --threads N             I/O threads, 0 = one per core  [0]
  --statsd HOST:PORT      take DogStatsD over UDP there (usually port 8125;
                          off when absent)
  --demo                  generate realistic synthetic traffic
  --help                  this text
  --version               print the version
)";
}

std::string instance_id_from_host(std::string_view host) {
    std::string id(host.substr(0, 64));
    for (char& c : id) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
        if (!ok)
            c = '-';
    }
    return id.empty() ? "tallyd" : id;
}

std::string default_instance_id() {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) != 0)
        return "tallyd";
    return instance_id_from_host(host);
}

}  // namespace tally::daemon
