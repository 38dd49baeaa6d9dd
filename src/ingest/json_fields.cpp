// The JSON layer of parsing: reads one JSON object (simdjson On-Demand) into a RawItem, the
// fields Tally knows by kind and text, and checks that everything else is valid JSON.
//
// On-Demand parses lazily: a value nobody reads is skipped, not validated. But a body is
// either valid JSON or refused as bad_json, wherever the flaw hides (an unknown field, deep
// inside properties), so every value is read: known fields through their getters, all else
// through walk(), which reads each scalar and descends into each container.

#include <algorithm>
#include <array>

#include "json_fields.hpp"

namespace tally::ingest::detail {

namespace {

// Deeper nesting is refused (as bad_json) so walk()'s recursion has a fixed bound. Kept
// below simdjson's own max_depth (1024, which its debug builds assert on and its release
// builds do not check at all), counting the levels above the values walk() starts from.
constexpr int kMaxDepth = 1000;

// The known field a JSON key names, or Key::count. Dispatch on the length first: most
// keys are rejected or found after one comparison.
Key key_of(std::string_view name) {
    switch (name.size()) {
        case 4:
            return name == "type" ? Key::type : name == "site" ? Key::site : Key::count;
        case 7:
            return name == "user_id" ? Key::user_id : name == "country" ? Key::country : Key::count;
        case 8:
            return name == "page_url"   ? Key::page_url
                   : name == "referrer" ? Key::referrer
                                        : Key::count;
        case 9:
            return name == "timestamp" ? Key::timestamp : Key::count;
        case 10:
            return name == "session_id"   ? Key::session_id
                   : name == "user_agent" ? Key::user_agent
                   : name == "event_name" ? Key::event_name
                   : name == "properties" ? Key::properties
                                          : Key::count;
        case 11:
            return name == "device_type" ? Key::device_type : Key::count;
        default:
            return Key::count;
    }
}

// A JSON string token as sent, quotes included, from the byte after its opening quote.
// The string was already validated, so its closing quote is the first unescaped '"'.
std::string_view string_token(const char* after_quote) {
    std::size_t i = 0;
    while (after_quote[i] != '"') {
        i += after_quote[i] == '\\' ? 2 : 1;
    }
    return std::string_view(after_quote - 1, i + 2);
}

// raw_json_token() includes the spaces after the token.
std::string_view trim_token(std::string_view token) {
    while (!token.empty() && is_json_space(token.back())) {
        token.remove_suffix(1);
    }
    return token;
}

error_code read_null(od::value& value) {
    bool is_null = false;
    SIMDJSON_TRY(value.is_null().get(is_null));
    return is_null ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
}

// walk() of an object: each key (its escapes validated) and value, in the order sent.
error_code walk_object(od::value& value, std::string* out, int depth) {
    od::object object;
    SIMDJSON_TRY(value.get_object().get(object));
    if (out) {
        out->push_back('{');
    }
    bool first = true;
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        const char* raw_key = field.key().raw();
        std::string_view key;
        SIMDJSON_TRY(field.unescaped_key().get(key));  // validates the escapes
        if (out) {
            if (!first) {
                out->push_back(',');
            }
            out->append(string_token(raw_key));
            out->push_back(':');
        }
        first = false;
        SIMDJSON_TRY(walk(field.value(), out, depth + 1));
    }
    if (out) {
        out->push_back('}');
    }
    return simdjson::SUCCESS;
}

// walk() of an array: each element in order.
error_code walk_array(od::value& value, std::string* out, int depth) {
    od::array array;
    SIMDJSON_TRY(value.get_array().get(array));
    if (out) {
        out->push_back('[');
    }
    bool first = true;
    for (auto result : array) {
        od::value element;
        SIMDJSON_TRY(result.get(element));
        if (out && !first) {
            out->push_back(',');
        }
        first = false;
        SIMDJSON_TRY(walk(element, out, depth + 1));
    }
    if (out) {
        out->push_back(']');
    }
    return simdjson::SUCCESS;
}

// walk() of a string, number, boolean or null: read (so validated), then appended as sent.
error_code walk_scalar(od::value& value, od::json_type type, std::string* out) {
    switch (type) {
        case od::json_type::string: {
            const std::string_view token = value.raw_json_token();
            std::string_view text;
            SIMDJSON_TRY(value.get_string().get(text));
            if (out) {
                out->append(trim_token(token));
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::number: {
            const std::string_view token = value.raw_json_token();
            double number = 0;
            // get_double accepts every JSON number, big integers included, and refuses
            // those that overflow a double (1e400), as nlohmann::json does.
            SIMDJSON_TRY(value.get_double().get(number));
            if (out) {
                out->append(trim_token(token));
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::boolean: {
            bool flag = false;
            SIMDJSON_TRY(value.get_bool().get(flag));
            if (out) {
                out->append(flag ? "true" : "false");
            }
            return simdjson::SUCCESS;
        }
        case od::json_type::null:
            SIMDJSON_TRY(read_null(value));
            if (out) {
                out->append("null");
            }
            return simdjson::SUCCESS;
        default:
            return simdjson::INCORRECT_TYPE;
    }
}

// "properties": read into the RawItem.
error_code read_properties(od::value& value, RawItem& raw) {
    return read_properties_object(value, raw.properties, raw.property_count);
}

}  // namespace

// A key sent twice is one key (the last value winning when read back); counting stops past
// the limit.
error_code read_properties_object(od::value& value, std::string& out, std::size_t& keys_count) {
    od::object object;
    SIMDJSON_TRY(value.get_object().get(object));
    std::array<std::string_view, kMaxPropertyKeys + 1> keys;
    keys_count = 0;
    // clear() then '{', not assign("{"): that trips GCC 12's -Wrestrict (a false alarm).
    out.clear();
    out.push_back('{');
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        const char* raw_key = field.key().raw();
        std::string_view key;
        SIMDJSON_TRY(field.unescaped_key().get(key));
        if (keys_count < keys.size() &&
            std::find(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(keys_count), key) ==
                keys.begin() + static_cast<std::ptrdiff_t>(keys_count)) {
            keys[keys_count++] = key;
        }
        if (out.size() > 1) {
            out.push_back(',');
        }
        out.append(string_token(raw_key));
        out.push_back(':');
        SIMDJSON_TRY(walk(field.value(), &out, 2));
    }
    out.push_back('}');
    return simdjson::SUCCESS;
}

error_code walk(od::value& value, std::string* out, int depth) {
    if (depth > kMaxDepth) {
        return simdjson::DEPTH_ERROR;
    }
    od::json_type type;
    SIMDJSON_TRY(value.type().get(type));
    switch (type) {
        case od::json_type::object:
            return walk_object(value, out, depth);
        case od::json_type::array:
            return walk_array(value, out, depth);
        default:
            return walk_scalar(value, type, out);
    }
}

error_code read_fields(od::object& object, RawItem& raw) {
    for (auto result : object) {
        od::field field;
        SIMDJSON_TRY(std::move(result).get(field));
        std::string_view name;
        SIMDJSON_TRY(field.unescaped_key().get(name));
        od::value& value = field.value();
        const Key key = key_of(name);
        if (key == Key::count) {
            SIMDJSON_TRY(walk(value, nullptr, 1));  // unknown fields are ignored, once validated
            continue;
        }
        // A key sent twice: the last one wins, as in most JSON readers.
        RawField& slot = raw[key];
        od::json_type type;
        SIMDJSON_TRY(value.type().get(type));
        switch (type) {
            case od::json_type::string:
                slot.kind = Kind::string;
                SIMDJSON_TRY(value.get_string().get(slot.text));
                break;
            case od::json_type::null:
                slot.kind = Kind::absent;
                SIMDJSON_TRY(read_null(value));
                break;
            case od::json_type::object:
                slot.kind = Kind::object;
                SIMDJSON_TRY(key == Key::properties ? read_properties(value, raw)
                                                    : walk(value, nullptr, 1));
                break;
            default:
                slot.kind = Kind::other;
                SIMDJSON_TRY(walk(value, nullptr, 1));
                break;
        }
    }
    return simdjson::SUCCESS;
}

Check read_object(od::parser& parser, const char* text, std::size_t size, std::size_t capacity,
                  RawItem& raw, const char* what) {
    const std::string_view view = strip_bom(std::string_view(text, size));
    capacity -= size - view.size();
    const auto invalid = [what] {
        return bad_json(std::string("the ") + what + " is not valid JSON");
    };

    od::document document;
    od::json_type type;
    if (parser.iterate(view.data(), view.size(), capacity).get(document) ||
        document.type().get(type)) {
        return invalid();
    }
    if (type != od::json_type::object) {
        return bad_json(std::string("the ") + what + " must be a JSON object");
    }
    od::object object;
    const char* trailing = nullptr;
    if (document.get_object().get(object) || read_fields(object, raw) ||
        !document.current_location().get(trailing)) {  // a location left means trailing bytes
        return invalid();
    }
    return std::nullopt;
}

}  // namespace tally::ingest::detail
