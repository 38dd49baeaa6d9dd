#pragma once
// GET / and the dashboard's files under web_root, and /dashboards[/<id>] (the builder's
// page, dashboards.html) (the router's fallback for GET): the
// path is percent-decoded and confined to web_root - "..", NUL, backslashes and symlinks
// that lead outside are refused - and every file is sent with its MIME type, no-cache and
// nosniff, and an ETag (its size and modification time): a browser that sends it back in
// If-None-Match gets 304 and keeps its copy, and the script caches compiled with it.

#include <string>

#include "tally/http/router.hpp"

namespace tally::api {

class StaticFiles {
  public:
    explicit StaticFiles(const std::string& web_root);

    /// Registers the fallback: every GET no other route takes.
    void add_routes(http::Router& router);

    http::Response serve(const http::Request& request) const;
    /// The file at `relative` (already checked: no "..") under web_root; 304 when
    /// `if_none_match` names its current ETag.
    http::Response serve_file(const std::string& relative, std::string_view if_none_match) const;

  private:
    std::string web_root_;  // canonical
};

}  // namespace tally::api
