#include "tally/workspaces/workspaces.hpp"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

#include "tally/durability/files.hpp"

using nlohmann::json;

namespace tally::workspaces {

namespace fs = std::filesystem;

namespace {

constexpr int kFileFormat = 1;

std::string random_hex(std::size_t bytes) {
    std::random_device device;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    for (std::size_t i = 0; i < bytes; ++i) {
        const auto byte = static_cast<unsigned>(device() & 0xff);
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
    }
    return out;
}

json token_json(const TokenRecord& token) {
    return {{"id", token.id},
            {"role", role_name(token.role)},
            {"sha256", to_hex(token.digest)},
            {"created_ms", token.created_ms}};
}

TokenRecord token_from_json(const json& value) {
    TokenRecord token;
    token.id = value.at("id").get<std::string>();
    const auto role = parse_role(value.at("role").get<std::string>());
    const auto digest = digest_from_hex(value.at("sha256").get<std::string>());
    if (!role || !digest)
        throw std::runtime_error("a token of workspaces.json is damaged");
    token.role = *role;
    token.digest = *digest;
    token.created_ms = value.value("created_ms", std::int64_t{0});
    return token;
}

}  // namespace

std::string_view role_name(Role role) {
    switch (role) {
        case Role::admin:
            return "admin";
        case Role::editor:
            return "editor";
        case Role::viewer:
            return "viewer";
        case Role::ingest:
            return "ingest";
    }
    return "viewer";
}

std::optional<Role> parse_role(std::string_view name) {
    for (Role role : {Role::admin, Role::editor, Role::viewer, Role::ingest}) {
        if (role_name(role) == name)
            return role;
    }
    return std::nullopt;
}

bool valid_name(std::string_view name) {
    return !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

Digest sha256(std::string_view text) {
    Digest out{};
    unsigned int size = 0;
    if (EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
        size != out.size())
        throw std::runtime_error("SHA-256 failed");
    return out;
}

std::string to_hex(const Digest& digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(digest.size() * 2);
    for (std::uint8_t byte : digest) {
        out += kHex[byte >> 4];
        out += kHex[byte & 0xf];
    }
    return out;
}

std::optional<Digest> digest_from_hex(std::string_view hex) {
    if (hex.size() != 64)
        return std::nullopt;
    Digest out{};
    for (std::size_t i = 0; i < 32; ++i) {
        unsigned value = 0;
        for (char c : hex.substr(i * 2, 2)) {
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                value |= static_cast<unsigned>(c - 'a' + 10);
            else
                return std::nullopt;
        }
        out[i] = static_cast<std::uint8_t>(value);
    }
    return out;
}

Workspaces::Workspaces(WorkspacesOptions options) : options_(std::move(options)) {
    Workspace fallback;
    fallback.name = std::string(kDefault);
    fallback.from_config = true;
    workspaces_.emplace(fallback.name, fallback);
    for (const Workspace& configured : options_.configured) {
        Workspace& into = workspaces_[configured.name];
        into = configured;
        into.from_config = true;
        for (TokenRecord& token : into.tokens)
            token.from_config = true;
        for (const std::string& site : configured.sites)
            site_owner_[site] = configured.name;
        for (const TokenRecord& token : configured.tokens)
            by_digest_[to_hex(token.digest)] = {configured.name, token.role, token.id, false};
    }
    if (!options_.server_token.empty()) {
        by_digest_[to_hex(sha256(options_.server_token))] = {std::string(kDefault), Role::admin,
                                                             "server", true};
    }
}

void Workspaces::load() {
    std::string bytes;
    std::string error;
    if (!fs::exists(options_.file))
        return;
    if (!durability::read_file(options_.file, bytes, error))
        throw std::runtime_error(options_.file.string() + ": " + error);
    const json file = json::parse(bytes, nullptr, false);
    if (!file.is_object() || file.value("format", 0) != kFileFormat ||
        !file.contains("workspaces") || !file["workspaces"].is_array())
        throw std::runtime_error(options_.file.string() + " is not a workspaces file");
    std::unique_lock lock(mutex_);
    try {
        for (const json& stored : file["workspaces"]) {
            const std::string name = stored.at("name").get<std::string>();
            Workspace& into = workspaces_[name];
            into.name = name;
            for (const json& site : stored.value("sites", json::array())) {
                const std::string text = site.get<std::string>();
                if (std::find(into.sites.begin(), into.sites.end(), text) == into.sites.end())
                    into.sites.push_back(text);
                site_owner_.try_emplace(text, name);
            }
            for (const json& value : stored.value("tokens", json::array())) {
                TokenRecord token = token_from_json(value);
                by_digest_[to_hex(token.digest)] = {name, token.role, token.id, false};
                into.tokens.push_back(std::move(token));
            }
            any_stored_ = true;
        }
    } catch (const json::exception& e) {
        throw std::runtime_error(options_.file.string() + " is damaged: " + e.what());
    }
}

bool Workspaces::stored_empty() const {
    std::shared_lock lock(mutex_);
    return !any_stored_;
}

bool Workspaces::tokens_required() const {
    return !options_.server_token.empty() || enabled();
}

std::optional<Holder> Workspaces::authenticate(std::string_view secret) const {
    if (secret.empty())
        return std::nullopt;
    const std::string key = to_hex(sha256(secret));
    std::shared_lock lock(mutex_);
    // The map is keyed by the digest, not the secret: how long a probe takes tells an
    // attacker about the digest of what they sent, which they know, and nothing about a
    // secret.
    const auto it = by_digest_.find(key);
    if (it == by_digest_.end())
        return std::nullopt;
    return it->second;
}

std::string Workspaces::site_workspace(std::string_view site) const {
    std::shared_lock lock(mutex_);
    const auto it = site_owner_.find(std::string(site));
    return it == site_owner_.end() ? std::string(kDefault) : it->second;
}

bool Workspaces::exists(std::string_view workspace) const {
    std::shared_lock lock(mutex_);
    return workspaces_.find(workspace) != workspaces_.end();
}

std::vector<std::string> Workspaces::names() const {
    std::shared_lock lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, workspace] : workspaces_)
        out.push_back(name);
    return out;
}

std::optional<Workspace> Workspaces::get(std::string_view workspace) const {
    std::shared_lock lock(mutex_);
    const auto it = workspaces_.find(workspace);
    if (it == workspaces_.end())
        return std::nullopt;
    return it->second;
}

bool Workspaces::save_locked(std::string& error) const {
    json list = json::array();
    for (const auto& [name, workspace] : workspaces_) {
        json tokens = json::array();
        for (const TokenRecord& token : workspace.tokens) {
            if (!token.from_config)
                tokens.push_back(token_json(token));
        }
        if (workspace.from_config && tokens.empty())
            continue;
        json entry = {{"name", name}, {"tokens", std::move(tokens)}};
        entry["sites"] = workspace.from_config ? json::array() : json(workspace.sites);
        list.push_back(std::move(entry));
    }
    fs::path tmp = options_.file;
    tmp += ".tmp";
    try {
        const json file = {{"format", kFileFormat}, {"workspaces", std::move(list)}};
        durability::write_file_synced(tmp, file.dump(2));
        fs::rename(tmp, options_.file);
        durability::sync_directory(options_.file.parent_path());
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        std::error_code ec;
        fs::remove(tmp, ec);
        spdlog::error("writing {} failed: {}", options_.file.string(), error);
        return false;
    }
}

Workspaces::Result Workspaces::create(const std::string& name,
                                      const std::vector<std::string>& sites, std::int64_t now_ms) {
    (void)now_ms;
    if (!valid_name(name))
        return {Outcome::invalid, "name must be 1 to 32 of a-z, 0-9 and -"};
    std::unique_lock lock(mutex_);
    if (workspaces_.contains(name))
        return {Outcome::exists, "workspace '" + name + "' exists"};
    for (const std::string& site : sites) {
        const auto owner = site_owner_.find(site);
        if (owner != site_owner_.end())
            return {Outcome::invalid, "site '" + site + "' belongs to another workspace"};
    }
    Workspace workspace;
    workspace.name = name;
    workspace.sites = sites;
    workspaces_.emplace(name, workspace);
    for (const std::string& site : sites)
        site_owner_[site] = name;
    any_stored_ = true;
    std::string error;
    if (!save_locked(error)) {
        for (const std::string& site : sites)
            site_owner_.erase(site);
        workspaces_.erase(name);
        return {Outcome::io_error, error};
    }
    return {};
}

Workspaces::Result Workspaces::set_sites(const std::string& name,
                                         const std::vector<std::string>& sites) {
    std::unique_lock lock(mutex_);
    const auto it = workspaces_.find(name);
    if (it == workspaces_.end())
        return {Outcome::not_found, "no such workspace"};
    if (it->second.from_config)
        return {Outcome::invalid, "the sites of a workspace from the config are set there"};
    for (const std::string& site : sites) {
        const auto owner = site_owner_.find(site);
        if (owner != site_owner_.end() && owner->second != name)
            return {Outcome::invalid, "site '" + site + "' belongs to another workspace"};
    }
    const std::vector<std::string> before = it->second.sites;
    for (const std::string& site : before)
        site_owner_.erase(site);
    it->second.sites = sites;
    for (const std::string& site : sites)
        site_owner_[site] = name;
    std::string error;
    if (!save_locked(error)) {
        for (const std::string& site : sites)
            site_owner_.erase(site);
        it->second.sites = before;
        for (const std::string& site : before)
            site_owner_[site] = name;
        return {Outcome::io_error, error};
    }
    return {};
}

Workspaces::Result Workspaces::create_token(const std::string& workspace, Role role,
                                            std::int64_t now_ms, std::string& secret_out,
                                            TokenRecord& record_out) {
    std::unique_lock lock(mutex_);
    const auto it = workspaces_.find(workspace);
    if (it == workspaces_.end())
        return {Outcome::not_found, "no such workspace"};
    // 32 random bytes: a secret nobody guesses; the prefix tells a reader what it is.
    const std::string secret = "tally_" + random_hex(32);
    TokenRecord token;
    token.id = "tok-" + random_hex(6);
    token.role = role;
    token.digest = sha256(secret);
    token.created_ms = now_ms;
    it->second.tokens.push_back(token);
    const std::string key = to_hex(token.digest);
    by_digest_[key] = {workspace, role, token.id, false};
    any_stored_ = true;
    std::string error;
    if (!save_locked(error)) {
        it->second.tokens.pop_back();
        by_digest_.erase(key);
        return {Outcome::io_error, error};
    }
    secret_out = secret;
    record_out = token;
    return {};
}

Workspaces::Result Workspaces::delete_token(const std::string& workspace,
                                            const std::string& token_id) {
    std::unique_lock lock(mutex_);
    const auto it = workspaces_.find(workspace);
    if (it == workspaces_.end())
        return {Outcome::not_found, "no such workspace"};
    auto& tokens = it->second.tokens;
    const auto token = std::find_if(tokens.begin(), tokens.end(),
                                    [&](const TokenRecord& t) { return t.id == token_id; });
    if (token == tokens.end())
        return {Outcome::not_found, "no such token"};
    if (token->from_config)
        return {Outcome::invalid, "a token from the config is removed there"};
    const TokenRecord removed = *token;
    tokens.erase(token);
    by_digest_.erase(to_hex(removed.digest));
    std::string error;
    if (!save_locked(error)) {
        tokens.push_back(removed);
        by_digest_[to_hex(removed.digest)] = {workspace, removed.role, removed.id, false};
        return {Outcome::io_error, error};
    }
    return {};
}

}  // namespace tally::workspaces
