#pragma once
// Durable, versioned JSON documents: what users build (dashboards; alerts and reports take
// the same path). One file a document, `<dir>/<id>.json`, holding
//
//   {"format": 1, "document": {...}}
//
// so the layout can evolve: a later format reads older ones, and a file of a format this
// build does not know is left alone and reported, never overwritten.
//
// Invariants: a document's "id" is its file's name and is assigned here; "version" starts
// at 1 and grows by one with every replace; "created_at" and "updated_at" are set here. A
// call that returns success has its file written, fsynced and renamed into place, and the
// directory fsynced: it survives a kill -9 or a power cut. A replace names the version it
// edited; a stale one changes nothing and gets the current document back.
//
// Cost: everything is held in memory (documents are capped in size and number by their
// owner); a write is one small file write, two fsyncs and a rename, under the store's lock,
// so writes are serialised (they are rare: people editing) and never on an ingest path.

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace tally::documents {

inline constexpr int kFormat = 1;

/// The workspace a document belongs to: its "workspace" field, else "default" (documents
/// made before workspaces, or in the default one, carry none).
inline std::string workspace_of(const nlohmann::json& document) {
    const auto it = document.find("workspace");
    return it != document.end() && it->is_string() ? it->get<std::string>() : "default";
}

class DocumentStore {
  public:
    /// `dir` is created if absent; `kind` names the documents in messages ("dashboard").
    /// `max_documents` bounds how many the store keeps.
    DocumentStore(std::filesystem::path dir, std::string kind, std::size_t max_documents);

    /// Reads every document in the directory. A file that is not a valid document is moved
    /// aside as `<name>.damaged` and logged; the others load. Returns how many loaded.
    std::size_t load();

    enum class Outcome { ok, not_found, conflict, full, io_error };
    struct Result {
        Outcome outcome = Outcome::ok;
        nlohmann::json document;  // the stored one (ok), or the current one (conflict)
        std::string error;        // io_error: what failed
    };

    /// Stores `document` (its "id", "version" and times are assigned) as a new one.
    Result create(nlohmann::json document, std::int64_t now_ms);
    /// Replaces document `id` when `expected_version` is its current version.
    Result replace(const std::string& id, nlohmann::json document, std::int64_t expected_version,
                   std::int64_t now_ms);
    Result remove(const std::string& id);
    std::optional<nlohmann::json> get(const std::string& id) const;
    /// Every document, oldest first (by creation time, then id).
    std::vector<nlohmann::json> list() const;
    std::size_t size() const;

    /// Whether `id` could be one of this store's ids (a file name, no path).
    static bool valid_id(const std::string& id);

  private:
    bool write_locked(const nlohmann::json& document, std::string& error);
    std::string new_id_locked();

    std::filesystem::path dir_;
    std::string kind_;
    std::size_t max_documents_;
    mutable std::mutex mutex_;
    std::map<std::string, nlohmann::json> documents_;  // by id
    std::mt19937_64 random_;
};

}  // namespace tally::documents
