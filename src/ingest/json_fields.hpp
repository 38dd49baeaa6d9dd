#pragma once
// The JSON layer of parsing (json_fields.cpp), for the files that read JSON: simdjson
// On-Demand reads one object into a RawItem (parse_internal.hpp), validating every value.

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tally/ingest/parse.hpp"

#include "parse_internal.hpp"

namespace tally::ingest::detail {

namespace od = simdjson::ondemand;
using simdjson::error_code;

/// A UTF-8 byte order mark before the JSON text is tolerated, as most JSON parsers do.
inline std::string_view strip_bom(std::string_view text) {
    return text.substr(0, 3) == "\xEF\xBB\xBF" ? text.substr(3) : text;
}

/// Reads `value` completely, which validates it. With `out`, also appends its compact form:
/// the text as sent without insignificant whitespace (strings keep their escapes, numbers
/// their digits, objects their key order). `depth`: the levels above `value`.
error_code walk(od::value& value, std::string* out, int depth);

/// A "properties" object: validated, serialised compactly into `out` (as walk() does), and
/// its distinct keys counted into `keys` (counting stops one past kMaxPropertyKeys).
error_code read_properties_object(od::value& value, std::string& out, std::size_t& keys);

/// Reads the fields of one object into `raw`. The views in `raw` point into the parser's
/// buffers: they live until the parser parses again.
error_code read_fields(od::object& object, RawItem& raw);

/// Parses `text` (which has `capacity` readable bytes) as one JSON object into `raw`.
/// `what` names it in messages: "body" or "item".
Check read_object(od::parser& parser, const char* text, std::size_t size, std::size_t capacity,
                  RawItem& raw, const char* what);

// A body laid out for simdjson: it reads up to SIMDJSON_PADDING bytes past the end of its
// input, which a request buffer does not promise, so the body is copied with padding.
struct Padded {
    const char* data;
    std::size_t size;
    std::size_t capacity;  // readable bytes from data: size + padding

    std::string_view view() const { return std::string_view(data, size); }
};

}  // namespace tally::ingest::detail

namespace tally::ingest {

// ParseBuffers: a simdjson parser and the padded copy of the body, both grown on demand and
// kept for the next call.
struct ParseBuffers::Impl {
    // Buffers grown past this by a big body are released after the call: an idle worker
    // keeps no megabytes from one large batch.
    static constexpr std::size_t kMaxKeptBytes = 65536;

    detail::od::parser parser;
    std::vector<char> text;

    detail::Padded pad(std::string_view body) {
        text.resize(body.size() + simdjson::SIMDJSON_PADDING);
        std::copy(body.begin(), body.end(), text.begin());
        std::fill(text.begin() + static_cast<std::ptrdiff_t>(body.size()), text.end(), '\0');
        return detail::Padded{text.data(), body.size(), text.size()};
    }

    void release_if_big() {
        if (parser.capacity() > kMaxKeptBytes) {
            parser = detail::od::parser();
        }
        if (text.capacity() > kMaxKeptBytes + simdjson::SIMDJSON_PADDING) {
            text = std::vector<char>();
        }
    }
};

}  // namespace tally::ingest
