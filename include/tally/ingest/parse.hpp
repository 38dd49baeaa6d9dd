#pragma once
// Request bodies -> normalised Events (the tracking API's rules, README "Tracking"). Pure
// functions: no I/O, no clock (the caller passes `now`), no global state. Every rule is here, so
// the HTTP layer only moves bytes and the store only counts.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/rejection.hpp"

namespace tally::ingest {

class VisitorHasher;

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

}  // namespace tally::ingest
