#pragma once
// Request bodies -> normalised Events (SPEC §2). Pure functions: no I/O, no clock (the
// caller passes `now`), no global state. Every rule is here, so the HTTP layer only moves
// bytes and the store only counts.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/ingest/event.hpp"

namespace tally::ingest {

class VisitorHasher;

/// Why an input was refused. `reason` is a short stable code used as the Prometheus
/// label and in the rejects log ("bad_json", "missing_field", "invalid_field",
/// "out_of_window", "too_large", ...); `field` names the offending field ("" for the body).
struct Rejection {
    std::string reason;
    std::string field;
    std::string message;  // one human sentence, sent as {"error": message, "field": field}
};

/// What the HTTP layer knows about the request beyond its body.
struct RequestContext {
    std::string_view client_ip;          // already resolved (socket, or trusted X-Forwarded-For)
    std::string_view user_agent_header;  // "" when absent
    std::int64_t now_ms = 0;             // receive time, Unix epoch ms
};

/// Parses and validates a POST /track/pageview body. On success fills `out`.
std::optional<Rejection> parse_pageview(std::string_view body, const RequestContext& ctx,
                                        const VisitorHasher& hasher, Event& out);

/// Parses and validates a POST /track/event body.
std::optional<Rejection> parse_custom_event(std::string_view body, const RequestContext& ctx,
                                            const VisitorHasher& hasher, Event& out);

/// Optional scratch space for the parse functions: the JSON parser's buffers, kept from one
/// call to the next. A thread that parses many bodies (an HTTP worker) can pass the same
/// ParseBuffers every time and skip the parser's allocations (about 150 ns, a fifth of a
/// page view's parse). One per thread: not thread-safe. Buffers grown past 64 KiB by a big
/// batch are released after that call, so an idle worker never holds megabytes. The
/// overloads without a ParseBuffers use fresh buffers per call; answers are identical.
class ParseBuffers {
  public:
    ParseBuffers();
    ~ParseBuffers();
    ParseBuffers(ParseBuffers&&) noexcept;
    ParseBuffers& operator=(ParseBuffers&&) noexcept;

    struct Impl;  // defined in parse.cpp (simdjson stays out of this header)
    Impl& impl() { return *impl_; }

  private:
    std::unique_ptr<Impl> impl_;
};

std::optional<Rejection> parse_pageview(std::string_view body, const RequestContext& ctx,
                                        const VisitorHasher& hasher, Event& out,
                                        ParseBuffers& buffers);
std::optional<Rejection> parse_custom_event(std::string_view body, const RequestContext& ctx,
                                            const VisitorHasher& hasher, Event& out,
                                            ParseBuffers& buffers);

struct BatchItemRejection {
    std::size_t index = 0;
    Rejection rejection;
};

struct BatchResult {
    std::vector<Event> accepted;
    std::vector<BatchItemRejection> rejected;
};

inline constexpr std::size_t kMaxBatchItems = 1000;

/// Parses a POST /track/batch body: a JSON array, or NDJSON (one object per line), of at
/// most kMaxBatchItems objects each with "type": "pageview"|"event". A body-level problem
/// (not JSON, too many items) is returned as a Rejection and nothing is accepted; item-level
/// problems land in `out.rejected` with the item's index.
std::optional<Rejection> parse_batch(std::string_view body, const RequestContext& ctx,
                                     const VisitorHasher& hasher, BatchResult& out);
std::optional<Rejection> parse_batch(std::string_view body, const RequestContext& ctx,
                                     const VisitorHasher& hasher, BatchResult& out,
                                     ParseBuffers& buffers);

// The normalisation rules, exposed for tests and for the tracker's server side.

/// The page key of a page_url: the path of an absolute http(s) URL ("/" if none), cut at
/// the first '?' or '#'; "/" when nothing is left.
std::string page_key(std::string_view page_url);
/// The lower-case host of a referrer URL, or "direct" when absent, empty or hostless.
std::string referrer_host(std::string_view referrer);
/// desktop/mobile/tablet guessed from a User-Agent string.
Device guess_device(std::string_view user_agent);
/// Parses RFC 3339 ("2024-01-15T10:30:00Z", fractions, "+02:00" offsets) to epoch ms.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);
/// Formats epoch ms as RFC 3339 UTC with a "Z" suffix and no fraction when it is zero.
std::string format_rfc3339_ms(std::int64_t ms);
bool valid_site(std::string_view site);
bool valid_event_name(std::string_view name);

}  // namespace tally::ingest
