#pragma once
// The HTTP layer's view of a request and a response, free of Beast types, so that routing,
// handlers and queries compile without Beast's templates (only src/http/*.cpp include Beast).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tally::http {

enum class Method : std::uint8_t { get, head, post, put, delete_, options, other };

/// One request. Every view points into the session's buffers and is valid until the reply
/// is given (the session keeps the request alive until then).
struct Request {
    Method method = Method::other;
    std::string_view method_text;  // as sent, for 405 messages and logs
    std::string_view target;       // "/dashboard/today?site=x"
    std::string_view path;         // "/dashboard/today" (not percent-decoded)
    std::string_view query;        // "site=x" (no '?'), "" when absent
    std::string_view body;
    std::string_view client_ip;  // the socket peer's address, textual
    std::size_t worker = 0;      // index of the I/O thread running this session (0..threads-1)

    // The headers the handlers use; "" when absent.
    std::string_view authorization;
    std::string_view user_agent;
    std::string_view x_forwarded_for;
    std::string_view origin;
    std::string_view content_type;
    std::string_view content_encoding;  // "gzip" from the InfluxDB clients
    std::string_view access_control_request_headers;
    std::string_view if_none_match;  // the validator of a copy the browser holds
    bool keep_alive = true;
};

struct Response {
    unsigned status = 200;
    // "" means application/json, the answer of almost every route; keeping the default
    // empty saves an allocation per answer (the literal is one byte over std::string's
    // inline capacity).
    std::string content_type;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra: Allow, CORS, ...
};

/// Gives the answer to one request. Must be called exactly once, from any thread, either
/// before `Handler` returns or later (e.g. once the event log has synced). Cheap to copy.
class Reply {
  public:
    using Fn = void (*)(void* session, Response&& response);
    Reply(Fn fn, void* session) : fn_(fn), session_(session) {}
    void operator()(Response&& response) const { fn_(session_, std::move(response)); }

  private:
    Fn fn_;
    void* session_;
};

/// What the server calls for every complete request. Must not throw (a throwing handler
/// is caught by the server and answered 500, but that is a bug).
using Handler = std::function<void(const Request& request, Reply reply)>;

}  // namespace tally::http
