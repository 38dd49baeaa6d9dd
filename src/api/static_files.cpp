// GET / and the dashboard's files (Beast's path_cat + mime_type idea, with the path
// confined to web_root: "..", NUL and symlinks that lead outside are refused).

#include "tally/api/static_files.hpp"

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

}  // namespace

StaticFiles::StaticFiles(const std::string& web_root) {
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(fs::absolute(web_root), ec);
    web_root_ = ec ? web_root : canonical.string();
}

void StaticFiles::add_routes(http::Router& router) {
    // The dashboards pages are one page that reads its path (/dashboards, /dashboards/<id>).
    const auto page = [this](const http::Request&) { return serve_file("dashboards.html"); };
    router.add("dashboards_page", {http::Method::get, http::Method::head}, "/dashboards", page);
    router.add_prefix("dashboard_page", {http::Method::get, http::Method::head}, "/dashboards/",
                      page);
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
    return serve_file(relative);
}

http::Response StaticFiles::serve_file(const std::string& relative) const {
    std::error_code ec;
    const fs::path path = fs::weakly_canonical(fs::path(web_root_) / relative, ec);
    const std::string text = path.string();
    if (ec || !text.starts_with(web_root_ + "/") || !fs::is_regular_file(path, ec)) {
        return http::error_response(404, "no such file");
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
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    return response;
}

}  // namespace tally::api
