#pragma once
// From Beast's parsed request to the Beast-free Request the router and the handlers see:
// what a session does with every request it reads (session.cpp), and what the HTTP fuzz
// target does with its bytes, so that both hand the router exactly the same thing.

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "field_arena.hpp"
#include "net.hpp"
#include "tally/http/message.hpp"

namespace tally::http {

/// A request as a session reads it: its header fields live in the session's arena.
using request_fields = beast::http::basic_fields<arena_allocator<char>>;
using request_message = beast::http::request<beast::http::string_body, request_fields>;
using request_parser = beast::http::request_parser<beast::http::string_body, arena_allocator<char>>;

Method to_method(beast::http::verb verb);

/// Fills `out` from `req`: the method, the target split at its first '?' into path and
/// query, the body, the headers the handlers use ("" when absent) and keep-alive. The
/// views point into `req`. The client's address and the worker index are the caller's.
void to_request(const request_message& req, Request& out);

}  // namespace tally::http
