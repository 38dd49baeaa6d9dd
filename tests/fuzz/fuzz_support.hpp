#pragma once
// What the ingest fuzzers share: a VisitorHasher on a private temporary directory (removed
// at exit), a fixed request context, and a check that aborts loudly so libFuzzer keeps the
// input that broke an invariant.

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "tally/base/names.hpp"
#include "tally/base/time.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/ingest/visitor_hash.hpp"

namespace tally::ingest::fuzz {

inline constexpr std::int64_t kNow = 1705314600000;  // 2024-01-15T10:30:00Z

class SaltDir {
  public:
    SaltDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "tally-fuzz-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::abort();
        }
        path_ = pattern;
    }
    ~SaltDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// One per process: the fuzzers reuse it for every input, like the daemon does.
inline const VisitorHasher& hasher() {
    static SaltDir dir;
    static VisitorHasher instance(dir.path() / "salts");
    return instance;
}

// Kept across inputs, like an HTTP worker's: reused buffers must never change an answer.
inline ParseBuffers& buffers() {
    static ParseBuffers instance;
    return instance;
}

inline RequestContext context() {
    return RequestContext{"192.0.2.1", "Mozilla/5.0 (Linux; Android 14) Mobile", kNow};
}

inline bool is_lower_hex(std::string_view text) {
    for (const char c : text) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

// What every accepted Event must satisfy, whichever rules produced it.
inline void check_event(const Event& event) {
    TALLY_FUZZ_CHECK(valid_site(event.site));
    TALLY_FUZZ_CHECK(!event.session_id.empty() && event.session_id.size() <= 128);
    TALLY_FUZZ_CHECK(event.user_id.size() <= 128);
    TALLY_FUZZ_CHECK(event.user_id.empty()
                         ? event.visitor_id.size() == 16 && is_lower_hex(event.visitor_id)
                         : event.visitor_id == event.user_id);
    TALLY_FUZZ_CHECK(event.timestamp_ms >= kNow - 48 * 3'600'000 &&
                     event.timestamp_ms <= kNow + 5 * 60'000);
    TALLY_FUZZ_CHECK(static_cast<int>(event.device) < kDeviceCount);
    if (event.kind == EventKind::pageview) {
        TALLY_FUZZ_CHECK(!event.page.empty() && event.page.size() <= 2048);
        TALLY_FUZZ_CHECK(event.page.find_first_of("?#") == std::string::npos);
        TALLY_FUZZ_CHECK(!event.referrer.empty());
        for (const char c : event.referrer) {
            TALLY_FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
        }
        TALLY_FUZZ_CHECK(event.country.empty() ||
                         (event.country.size() == 2 && event.country[0] >= 'A' &&
                          event.country[0] <= 'Z' && event.country[1] >= 'A' &&
                          event.country[1] <= 'Z'));
        TALLY_FUZZ_CHECK(event.event_name.empty() && event.properties.empty());
    } else {
        TALLY_FUZZ_CHECK(event.kind == EventKind::custom);
        TALLY_FUZZ_CHECK(valid_event_name(event.event_name));
        TALLY_FUZZ_CHECK(event.page.empty() && event.referrer.empty() && event.country.empty());
        TALLY_FUZZ_CHECK(event.properties.empty() ||
                         (event.properties.size() <= 8192 && event.properties.front() == '{' &&
                          event.properties.back() == '}'));
    }
}

inline void check_rejection(const Rejection& rejection) {
    TALLY_FUZZ_CHECK(!rejection.reason.empty());
    TALLY_FUZZ_CHECK(!rejection.message.empty());
}

inline bool same_rejection(const std::optional<Rejection>& a, const std::optional<Rejection>& b) {
    return a.has_value() == b.has_value() &&
           (!a || (a->reason == b->reason && a->field == b->field && a->message == b->message));
}

inline bool same_event(const Event& a, const Event& b) {
    return a.kind == b.kind && a.device == b.device && a.timestamp_ms == b.timestamp_ms &&
           a.site == b.site && a.page == b.page && a.referrer == b.referrer &&
           a.country == b.country && a.event_name == b.event_name && a.session_id == b.session_id &&
           a.user_id == b.user_id && a.visitor_id == b.visitor_id && a.properties == b.properties;
}

}  // namespace tally::ingest::fuzz
