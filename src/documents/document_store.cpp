#include "tally/documents/document_store.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "tally/base/time.hpp"
#include "tally/durability/files.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace tally::documents {

namespace {

constexpr std::string_view kSuffix = ".json";

void move_aside(const fs::path& path, const std::string& why) {
    fs::path aside = path;
    aside += ".damaged";
    std::error_code ec;
    fs::rename(path, aside, ec);
    spdlog::error("{} is not a valid document ({}); moved to {}", path.string(), why,
                  aside.filename().string());
}

/// The document a file holds, or why it holds none. A format newer than this build's is
/// reported as such and the file kept.
std::optional<json> read_document(const fs::path& path, std::string& error, bool& newer) {
    std::string bytes;
    if (!durability::read_file(path, bytes, error))
        return std::nullopt;
    json file = json::parse(bytes, nullptr, false);
    if (!file.is_object() || !file.contains("format") || !file["format"].is_number_integer()) {
        error = "not a document file";
        return std::nullopt;
    }
    if (file["format"].get<int>() > kFormat) {
        newer = true;
        error = "format " + file["format"].dump() + " is newer than this build's";
        return std::nullopt;
    }
    json document = file.value("document", json());
    const std::string stem = path.stem().string();
    if (!document.is_object() || document.value("id", "") != stem ||
        !document.value("version", json()).is_number_integer()) {
        error = "no document, or its id is not the file's name";
        return std::nullopt;
    }
    return document;
}

}  // namespace

DocumentStore::DocumentStore(fs::path dir, std::string kind, std::size_t max_documents)
    : dir_(std::move(dir)),
      kind_(std::move(kind)),
      max_documents_(max_documents),
      random_(std::random_device{}()) {
    fs::create_directories(dir_);
}

std::size_t DocumentStore::load() {
    std::lock_guard lock(mutex_);
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& path = it->path();
        const std::string name = path.filename().string();
        if (!name.ends_with(kSuffix) || !valid_id(path.stem().string()))
            continue;  // our .tmp and .damaged files, and anything else
        std::string error;
        bool newer = false;
        auto document = read_document(path, error, newer);
        if (document) {
            documents_[path.stem().string()] = std::move(*document);
        } else if (newer) {
            spdlog::error("{} {} not loaded: {}", kind_, path.string(), error);
        } else {
            move_aside(path, error);
        }
    }
    return documents_.size();
}

bool DocumentStore::valid_id(const std::string& id) {
    return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
}

std::string DocumentStore::new_id_locked() {
    static constexpr char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    while (true) {
        std::string id;
        std::uint64_t bits = random_();
        for (int i = 0; i < 12; ++i, bits /= 36)
            id += kDigits[bits % 36];
        if (!documents_.contains(id))
            return id;
    }
}

bool DocumentStore::write_locked(const json& document, std::string& error) {
    const fs::path path = dir_ / (document["id"].get<std::string>() + std::string(kSuffix));
    fs::path tmp = path;
    tmp += ".tmp";
    try {
        const json file = {{"format", kFormat}, {"document", document}};
        durability::write_file_synced(tmp, file.dump(2));
        fs::rename(tmp, path);
        durability::sync_directory(dir_);
        return true;
    } catch (const std::exception& e) {
        error = e.what();
        std::error_code ec;
        fs::remove(tmp, ec);
        spdlog::error("writing {} {} failed: {}", kind_, path.string(), error);
        return false;
    }
}

DocumentStore::Result DocumentStore::create(json document, std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    if (documents_.size() >= max_documents_)
        return {Outcome::full, {}, ""};
    const std::string id = new_id_locked();
    const std::string now = format_rfc3339_ms(now_ms);
    document["id"] = id;
    document["version"] = 1;
    document["created_at"] = now;
    document["updated_at"] = now;
    std::string error;
    if (!write_locked(document, error))
        return {Outcome::io_error, {}, error};
    documents_[id] = document;
    return {Outcome::ok, std::move(document), ""};
}

DocumentStore::Result DocumentStore::replace(const std::string& id, json document,
                                             std::int64_t expected_version, std::int64_t now_ms) {
    std::lock_guard lock(mutex_);
    const auto it = documents_.find(id);
    if (it == documents_.end())
        return {Outcome::not_found, {}, ""};
    const std::int64_t current = it->second["version"].get<std::int64_t>();
    if (expected_version != current)
        return {Outcome::conflict, it->second, ""};
    document["id"] = id;
    document["version"] = current + 1;
    document["created_at"] = it->second.value("created_at", format_rfc3339_ms(now_ms));
    document["updated_at"] = format_rfc3339_ms(now_ms);
    std::string error;
    if (!write_locked(document, error))
        return {Outcome::io_error, {}, error};
    it->second = document;
    return {Outcome::ok, std::move(document), ""};
}

DocumentStore::Result DocumentStore::remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    const auto it = documents_.find(id);
    if (it == documents_.end())
        return {Outcome::not_found, {}, ""};
    try {
        fs::remove(dir_ / (id + std::string(kSuffix)));
        durability::sync_directory(dir_);
    } catch (const std::exception& e) {
        return {Outcome::io_error, {}, e.what()};
    }
    json removed = std::move(it->second);
    documents_.erase(it);
    return {Outcome::ok, std::move(removed), ""};
}

std::optional<json> DocumentStore::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    const auto it = documents_.find(id);
    if (it == documents_.end())
        return std::nullopt;
    return it->second;
}

std::vector<json> DocumentStore::list() const {
    std::vector<json> out;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, document] : documents_)
            out.push_back(document);
    }
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
        const std::string ca = a.value("created_at", ""), cb = b.value("created_at", "");
        return ca != cb ? ca < cb : a.value("id", "") < b.value("id", "");
    });
    return out;
}

std::size_t DocumentStore::size() const {
    std::lock_guard lock(mutex_);
    return documents_.size();
}

}  // namespace tally::documents
