#include "tally/http/router.hpp"

#include <nlohmann/json.hpp>

namespace tally::http {

namespace {

const char* method_name(Method m) {
    switch (m) {
        case Method::get:
            return "GET";
        case Method::head:
            return "HEAD";
        case Method::post:
            return "POST";
        case Method::put:
            return "PUT";
        case Method::delete_:
            return "DELETE";
        case Method::options:
            return "OPTIONS";
        case Method::other:
            return "";
    }
    return "";
}

bool allows(const std::vector<Method>& methods, Method m) {
    for (Method allowed : methods) {
        if (allowed == m || (m == Method::head && allowed == Method::get))
            return true;
    }
    return false;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size())
                return std::nullopt;
            const int hi = hex(text[i + 1]);
            const int lo = hex(text[i + 2]);
            if (hi < 0 || lo < 0)
                return std::nullopt;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        const std::string_view key = pair.substr(0, eq);
        if (key == name) {
            const std::string_view value =
                eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
            return percent_decode(value, true);
        }
        if (amp == std::string_view::npos)
            break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

Response json_response(unsigned status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

Response error_response(unsigned status, std::string_view message, std::string_view field) {
    nlohmann::ordered_json j;
    j["error"] = message;
    if (!field.empty())
        j["field"] = field;
    return json_response(status, j.dump());
}

void Router::add(std::string name, std::vector<Method> methods, std::string path, Fn fn) {
    routes_.push_back(
        {std::move(name), std::move(methods), std::move(path), false, std::move(fn), nullptr});
}

void Router::add_async(std::string name, std::vector<Method> methods, std::string path,
                       AsyncFn fn) {
    routes_.push_back(
        {std::move(name), std::move(methods), std::move(path), false, nullptr, std::move(fn)});
}

void Router::add_prefix(std::string name, std::vector<Method> methods, std::string prefix, Fn fn) {
    routes_.push_back(
        {std::move(name), std::move(methods), std::move(prefix), true, std::move(fn), nullptr});
}

void Router::add_prefix_async(std::string name, std::vector<Method> methods, std::string prefix,
                              AsyncFn fn) {
    routes_.push_back(
        {std::move(name), std::move(methods), std::move(prefix), true, nullptr, std::move(fn)});
}

void Router::set_fallback(std::string name, std::vector<Method> methods, Fn fn) {
    fallback_ = {std::move(name), std::move(methods), "", true, std::move(fn), nullptr};
    has_fallback_ = true;
}

std::vector<std::string> Router::route_names() const {
    std::vector<std::string> names;
    for (const auto& r : routes_)
        names.push_back(r.name);
    names.push_back(has_fallback_ ? fallback_.name : "fallback");
    names.push_back("not_found");
    return names;
}

const Router::Route* Router::match(std::string_view path) const {
    const Route* best = nullptr;
    for (const auto& r : routes_) {
        if (!r.prefix) {
            if (r.path == path)
                return &r;
        } else if (path.starts_with(r.path) &&
                   (best == nullptr || r.path.size() > best->path.size())) {
            best = &r;
        }
    }
    return best;
}

void Router::handle(const Request& request, const Reply& reply) const {
    const auto started = std::chrono::steady_clock::now();
    const Route* route = match(request.path);
    std::size_t index = routes_.size() + 1;  // "not_found"
    Response response;
    // The fallback (static files) stands for no particular path: a method it does not take
    // finds no endpoint (404), where a named route's path answers 405 with Allow.
    if (route == nullptr && has_fallback_ && allows(fallback_.methods, request.method))
        route = &fallback_;
    if (route == nullptr) {
        response = error_response(404, "no such endpoint");
    } else {
        index =
            route == &fallback_ ? routes_.size() : static_cast<std::size_t>(route - routes_.data());
        if (!allows(route->methods, request.method)) {
            std::string allow;
            for (Method m : route->methods) {
                if (!allow.empty())
                    allow += ", ";
                allow += method_name(m);
            }
            response = error_response(405, "method not allowed; use " + allow);
            response.headers.emplace_back("Allow", allow);
        } else if (route->async_fn) {
            // The route answers through the Responder, which finishes the request as below.
            route->async_fn(request, Responder(*this, request, index, started, reply));
            return;
        } else {
            response = route->fn(request);
        }
    }
    finish(request, index, started, reply, std::move(response));
}

void Router::finish(const Request& request, std::size_t route,
                    std::chrono::steady_clock::time_point started, const Reply& reply,
                    Response&& response) const {
    if (observer_) {
        observer_(request, route, response.status, std::chrono::steady_clock::now() - started);
    }
    reply(std::move(response));
}

void Responder::operator()(Response&& response) const {
    router_->finish(*request_, route_, started_, reply_, std::move(response));
}

}  // namespace tally::http
