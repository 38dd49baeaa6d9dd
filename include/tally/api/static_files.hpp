#pragma once
// GET / and the dashboard's files under web_root, and /dashboards[/<id>] (the builder's
// page, dashboards.html) (the router's fallback for GET): the
// path is percent-decoded and confined to web_root - "..", NUL, backslashes and symlinks
// that lead outside are refused - and every file is sent with its MIME type, no-cache and
// nosniff.

#include <string>

#include "tally/http/router.hpp"

namespace tally::api {

class StaticFiles {
  public:
    explicit StaticFiles(const std::string& web_root);

    /// Registers the fallback: every GET no other route takes.
    void add_routes(http::Router& router);

    http::Response serve(const http::Request& request) const;
    /// The file at `relative` (already checked: no "..") under web_root.
    http::Response serve_file(const std::string& relative) const;

  private:
    std::string web_root_;  // canonical
};

}  // namespace tally::api
