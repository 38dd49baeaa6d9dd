#pragma once
// Shared set-up for the body-parsing tests: a hasher on a temporary salt directory, a
// request context with a fixed clock, and helpers that say why a body was refused.

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "support/process.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/ingest/visitor_hash.hpp"

namespace tally::ingest::testing_support {

using Json = nlohmann::json;

inline constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z
inline constexpr const char* kChromeUa =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36";
inline constexpr const char* kIphoneUa =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1";

// "reason/field" of a rejection, or "accepted", so failures print what happened.
inline std::string outcome(const std::optional<Rejection>& rejection) {
    return rejection ? rejection->reason + "/" + rejection->field : "accepted";
}

class ParseTest : public ::testing::Test {
  protected:
    test::TempDir dir_;
    VisitorHasher hasher_{std::filesystem::path(dir_.path()) / "salts"};
    RequestContext ctx_{"203.0.113.7", kChromeUa, kNow};

    static Json minimal_pageview() {
        return {{"page_url", "https://example.com/pricing?plan=pro"}, {"session_id", "s-1"}};
    }
    static Json minimal_event() { return {{"event_name", "signup"}, {"session_id", "s-1"}}; }

    std::optional<Rejection> pageview(const Json& body, Event& out) {
        return parse_pageview(body.dump(), ctx_, hasher_, out);
    }
    std::optional<Rejection> custom(const Json& body, Event& out) {
        return parse_custom_event(body.dump(), ctx_, hasher_, out);
    }
    std::string pageview_outcome(const Json& body) {
        Event event;
        return outcome(pageview(body, event));
    }
    std::string custom_outcome(const Json& body) {
        Event event;
        return outcome(custom(body, event));
    }
    Event accepted_pageview(const Json& body) {
        Event event;
        const auto rejection = pageview(body, event);
        EXPECT_FALSE(rejection) << body.dump() << " -> " << outcome(rejection) << ": "
                                << rejection->message;
        return event;
    }
    Event accepted_custom(const Json& body) {
        Event event;
        const auto rejection = custom(body, event);
        EXPECT_FALSE(rejection) << body.dump() << " -> " << outcome(rejection) << ": "
                                << rejection->message;
        return event;
    }
    // `body` with one field replaced (or added).
    static Json with(Json body, const char* field, Json value) {
        body[field] = std::move(value);
        return body;
    }
};

}  // namespace tally::ingest::testing_support
