#pragma once
// Maps a request to its route: exact paths first, then path prefixes ("/dashboard/"), as
// drogon's router does. A path that matches with another method answers 405 with Allow;
// no match answers 404. Each route has a name, the `route` label of tally's HTTP metrics.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/http/message.hpp"

namespace tally::http {

/// Builds the JSON error body every error answer uses: {"error": message[, "field": field]}.
Response error_response(unsigned status, std::string_view message, std::string_view field = {});
Response json_response(unsigned status, std::string body);

/// The percent-decoded value of `name` in a query string ("a=1&b=x%20y"); nullopt when
/// absent. '+' decodes to a space, as browsers encode forms.
std::optional<std::string> query_param(std::string_view query, std::string_view name);
/// Percent-decodes `text`; nullopt on a malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

class Router;

/// The answer of an asynchronous route: call it exactly once, now or later, from any
/// thread (the event log answers after its group fsync). It records the request's metrics
/// (route, status, latency up to the answer) and gives the Reply. A few words, copied by
/// value, never allocated; the Request it points to lives until it is called.
class Responder {
  public:
    void operator()(Response&& response) const;
    const Request& request() const { return *request_; }

  private:
    friend class Router;
    Responder(const Router& router, const Request& request, std::size_t route,
              std::chrono::steady_clock::time_point started, const Reply& reply)
        : router_(&router), request_(&request), route_(route), started_(started), reply_(reply) {}

    const Router* router_;
    const Request* request_;
    std::size_t route_;
    std::chrono::steady_clock::time_point started_;
    Reply reply_;
};

class Router {
  public:
    /// A synchronous route: returns the answer.
    using Fn = std::function<Response(const Request&)>;
    /// An asynchronous route: answers through the Responder, maybe after returning.
    using AsyncFn = std::function<void(const Request&, Responder)>;
    /// Called once per answered request with its route index, status and latency.
    using Observer = std::function<void(const Request&, std::size_t route, unsigned status,
                                        std::chrono::nanoseconds latency)>;

    /// Exact path match, e.g. "/track/pageview".
    void add(std::string name, std::vector<Method> methods, std::string path, Fn fn);
    /// Exact path match answered asynchronously (405 and 404 are still answered here).
    void add_async(std::string name, std::vector<Method> methods, std::string path, AsyncFn fn);
    /// Prefix match, e.g. "/dashboard/"; the longest prefix wins.
    void add_prefix(std::string name, std::vector<Method> methods, std::string prefix, Fn fn);
    /// Prefix match answered asynchronously.
    void add_prefix_async(std::string name, std::vector<Method> methods, std::string prefix,
                          AsyncFn fn);
    /// What answers when nothing matches (static files); 404 when unset.
    void set_fallback(std::string name, std::vector<Method> methods, Fn fn);
    void set_observer(Observer observer) { observer_ = std::move(observer); }

    /// Route names in index order (the metrics labels), including "not_found".
    std::vector<std::string> route_names() const;

    /// Routes and answers one request (synchronously).
    void handle(const Request& request, const Reply& reply) const;

  private:
    friend class Responder;
    struct Route {
        std::string name;
        std::vector<Method> methods;
        std::string path;
        bool prefix = false;
        Fn fn;             // set for synchronous routes
        AsyncFn async_fn;  // set for asynchronous ones
    };
    void finish(const Request& request, std::size_t route,
                std::chrono::steady_clock::time_point started, const Reply& reply,
                Response&& response) const;
    const Route* match(std::string_view path) const;

    std::vector<Route> routes_;
    Route fallback_;
    bool has_fallback_ = false;
    Observer observer_;
};

}  // namespace tally::http
