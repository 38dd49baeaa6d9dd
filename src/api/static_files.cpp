// GET / and the dashboard's files (Beast's path_cat + mime_type idea, with the path
// confined to web_root: "..", NUL and symlinks that lead outside are refused).

#include "tally/api/static_files.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace tally::api {

namespace fs = std::filesystem;

namespace {

std::string_view mime_type(std::string_view path) {
    const auto dot = path.rfind('.');
    const std::string_view ext =
        dot == std::string_view::npos ? std::string_view{} : path.substr(dot);
    if (ext == ".html" || ext == ".htm")
        return "text/html; charset=utf-8";
    if (ext == ".js" || ext == ".mjs")
        return "text/javascript; charset=utf-8";
    if (ext == ".css")
        return "text/css; charset=utf-8";
    if (ext == ".json" || ext == ".map")
        return "application/json";
    if (ext == ".svg")
        return "image/svg+xml";
    if (ext == ".png")
        return "image/png";
    if (ext == ".ico")
        return "image/x-icon";
    if (ext == ".txt")
        return "text/plain; charset=utf-8";
    if (ext == ".woff2")
        return "font/woff2";
    return "application/octet-stream";
}

/// A strong validator from the file's size and modification time ("" when unreadable):
/// what a deploy changes, cheap to compute on every request.
std::string etag(const fs::path& path) {
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        return {};
    const auto modified = fs::last_write_time(path, ec);
    if (ec)
        return {};
    char text[64];
    std::snprintf(text, sizeof text, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                  static_cast<unsigned long long>(modified.time_since_epoch().count()));
    return text;
}

}  // namespace

StaticFiles::StaticFiles(const std::string& web_root) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(fs::absolute(web_root), ec);
    web_root_ = ec ? web_root : canonical.string();
}

void StaticFiles::add_routes(http::Router& router) {
    // The dashboards pages are one page that reads its path (/dashboards, /dashboards/<id>).
    const auto page = [this](const http::Request& r) {
        return serve_file("dashboards.html", r.if_none_match);
    };
    router.add("dashboards_page", {http::Method::get, http::Method::head}, "/dashboards", page);
    router.add_prefix("dashboard_page", {http::Method::get, http::Method::head}, "/dashboards/",
                      page);
    // So is the alerts page (/alerts, /alerts/<id>: an alert's generatorURL).
    const auto alerts_page = [this](const http::Request& r) {
        return serve_file("alerts.html", r.if_none_match);
    };
    router.add("alerts_page", {http::Method::get, http::Method::head}, "/alerts", alerts_page);
    router.add_prefix("alert_page", {http::Method::get, http::Method::head}, "/alerts/",
                      alerts_page);
    router.set_fallback("static", {http::Method::get}, [this](const auto& r) { return serve(r); });
}

http::Response StaticFiles::serve(const http::Request& request) const {
    auto decoded = http::percent_decode(request.path, false);
    if (!decoded || decoded->empty() || decoded->front() != '/' ||
        decoded->find('\0') != std::string::npos || decoded->find('\\') != std::string::npos) {
        return http::error_response(400, "malformed path");
    }
    std::string relative = decoded->substr(1);
    if (relative.empty() || relative.back() == '/')
        relative += "index.html";
    for (std::string_view rest = relative; !rest.empty();) {
        const auto slash = rest.find('/');
        if (rest.substr(0, slash) == "..")
            return http::error_response(404, "no such file");
        if (slash == std::string_view::npos)
            break;
        rest.remove_prefix(slash + 1);
    }
    return serve_file(relative, request.if_none_match);
}

http::Response StaticFiles::serve_file(const std::string& relative,
                                       std::string_view if_none_match) const {
    std::error_code ec;
    const fs::path path = fs::weakly_canonical(fs::path(web_root_) / relative, ec);
    const std::string text = path.string();
    if (ec || !text.starts_with(web_root_ + "/") || !fs::is_regular_file(path, ec)) {
        return http::error_response(404, "no such file");
    }
    const std::string tag = etag(path);
    if (!tag.empty() && if_none_match.find(tag) != std::string_view::npos) {
        http::Response unchanged;
        unchanged.status = 304;
        unchanged.headers.emplace_back("ETag", tag);
        unchanged.headers.emplace_back("Cache-Control", "no-cache");
        return unchanged;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return http::error_response(404, "no such file");
    std::ostringstream content;
    content << in.rdbuf();

    http::Response response;
    response.content_type = std::string(mime_type(text));
    response.body = std::move(content).str();
    response.headers.emplace_back("Cache-Control", "no-cache");
    if (!tag.empty())
        response.headers.emplace_back("ETag", tag);
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return response;
}

}  // namespace tally::api
