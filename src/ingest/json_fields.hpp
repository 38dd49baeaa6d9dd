#pragma once
// The JSON layer of parsing (json_fields.cpp), for the files that read JSON: simdjson
// On-Demand reads one object into a RawItem (parse_internal.hpp), validating every value.

#include <simdjson.h>

#include <cstddef>
#include <string>
#include <string_view>

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

/// Reads the fields of one object into `raw`. The views in `raw` point into the parser's
/// buffers: they live until the parser parses again.
error_code read_fields(od::object& object, RawItem& raw);

/// Parses `text` (which has `capacity` readable bytes) as one JSON object into `raw`.
/// `what` names it in messages: "body" or "item".
Check read_object(od::parser& parser, const char* text, std::size_t size, std::size_t capacity,
                  RawItem& raw, const char* what);

}  // namespace tally::ingest::detail
