#pragma once
// The answers the APIs of stored documents (dashboards, alert rules, reports) share when
// the document store refuses a change, so the three say it alike.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "tally/documents/document_store.hpp"
#include "tally/http/router.hpp"

namespace tally::api {

/// A refusal other than a stale version: 404 "no such <kind>"; 409 when the store is full
/// ("there are already <capacity>: delete some before adding more"); 500 when the file
/// could not be written.
http::Response store_failure(const documents::DocumentStore::Result& result, std::string_view kind,
                             std::string_view capacity);

/// The 409 of a change made to an older version: {"error", "field": "version", "current"}.
http::Response stale_version(std::string_view kind, std::int64_t version,
                             const nlohmann::json& current);

}  // namespace tally::api
