#include "tally/api/document_answers.hpp"

#include <string>

#include "tally/api/authorization.hpp"

namespace tally::api {

http::Response store_failure(const documents::DocumentStore::Result& result, std::string_view kind,
                             std::string_view capacity) {
    using Outcome = documents::DocumentStore::Outcome;
    switch (result.outcome) {
        case Outcome::not_found:
            return not_found(kind);
        case Outcome::full:
            return http::error_response(409, "there are already " + std::string(capacity) +
                                                 ": delete some before adding more");
        default:
            return http::error_response(
                500, "the " + std::string(kind) + " could not be stored: " + result.error);
    }
}

http::Response stale_version(std::string_view kind, std::int64_t version,
                             const nlohmann::json& current) {
    const nlohmann::json answer = {
        {"error", "the " + std::string(kind) + " changed since version " + std::to_string(version) +
                      " was read"},
        {"field", "version"},
        {"current", current}};
    return http::json_response(409, answer.dump());
}

}  // namespace tally::api
