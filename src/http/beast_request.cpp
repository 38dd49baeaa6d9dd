#include "beast_request.hpp"

#include <boost/beast/http/field.hpp>

namespace tally::http {

namespace bh = beast::http;

Method to_method(bh::verb verb) {
    switch (verb) {
        case bh::verb::get:
            return Method::get;
        case bh::verb::head:
            return Method::head;
        case bh::verb::post:
            return Method::post;
        case bh::verb::put:
            return Method::put;
        case bh::verb::delete_:
            return Method::delete_;
        case bh::verb::options:
            return Method::options;
        default:
            return Method::other;
    }
}

void to_request(const request_message& req, Request& out) {
    out.method = to_method(req.method());
    out.method_text = req.method_string();
    out.target = req.target();
    const auto question = out.target.find('?');
    out.path = out.target.substr(0, question);
    out.query =
        question == std::string_view::npos ? std::string_view{} : out.target.substr(question + 1);
    out.body = req.body();
    out.authorization = req[bh::field::authorization];
    out.user_agent = req[bh::field::user_agent];
    out.x_forwarded_for = req["X-Forwarded-For"];
    out.origin = req[bh::field::origin];
    out.content_type = req[bh::field::content_type];
    out.content_encoding = req[bh::field::content_encoding];
    out.access_control_request_headers = req[bh::field::access_control_request_headers];
    out.if_none_match = req[bh::field::if_none_match];
    out.keep_alive = req.keep_alive();
}

}  // namespace tally::http
