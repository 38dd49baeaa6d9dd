// Plausible's and Umami's bodies (compat.hpp): one pass over the JSON with simdjson
// On-Demand, each known field read as it comes (the last one wins when a key is sent twice,
// as in the tracking API), every other value validated and ignored.

#include "tally/ingest/compat.hpp"

#include "json_fields.hpp"
#include "tally/base/names.hpp"

namespace tally::ingest {

using namespace detail;

namespace {

Rejection invalid(std::string field, std::string message) {
    return Rejection{"invalid_field", std::move(field), std::move(message)};
}

Rejection missing_field(std::string field) {
    std::string message = field + " is required";
    return Rejection{"missing_field", std::move(field), std::move(message)};
}

/// What the fields of a body said, as views into the parser's buffers.
struct Fields {
    std::optional<std::string_view> name, url, site, referrer;
    bool hash_mode = false;
    bool props_present = false;
    std::size_t property_keys = 0;
    const char* wrong_type = nullptr;  // the first known field of the wrong JSON type
};

enum class Field : std::uint8_t { name, url, site, referrer, props, props_text, hash_mode, other };

Field plausible_field(std::string_view key) {
    if (key == "n" || key == "name")
        return Field::name;
    if (key == "u" || key == "url")
        return Field::url;
    if (key == "d" || key == "domain")
        return Field::site;
    if (key == "r" || key == "referrer")
        return Field::referrer;
    if (key == "p" || key == "props" || key == "m" || key == "meta")
        return Field::props;
    if (key == "h" || key == "hashMode")
        return Field::hash_mode;
    return Field::other;
}

Field umami_field(std::string_view key) {
    if (key == "name")
        return Field::name;
    if (key == "url")
        return Field::url;
    if (key == "website")
        return Field::site;
    if (key == "referrer")
        return Field::referrer;
    if (key == "data")
        return Field::props;
    return Field::other;
}

const char* long_name(Field field, bool umami) {
    switch (field) {
        case Field::name:
            return "name";
        case Field::url:
            return "url";
        case Field::site:
            return umami ? "website" : "domain";
        case Field::referrer:
            return "referrer";
        default:
            return umami ? "data" : "props";
    }
}

/// A props value given as a JSON string (the older Plausible tracker): that string parsed
/// as a JSON object, with a parser of its own (the body's is still being read).
error_code read_props_text(std::string_view text, std::string& out, std::size_t& keys) {
    od::parser parser;
    const simdjson::padded_string padded(text);
    od::document document;
    SIMDJSON_TRY(parser.iterate(padded).get(document));
    od::value value;
    SIMDJSON_TRY(document.get_value().get(value));
    SIMDJSON_TRY(read_properties_object(value, out, keys));
    const char* trailing = nullptr;
    return document.current_location().get(trailing) ? simdjson::SUCCESS : simdjson::TAPE_ERROR;
}

/// One known field's value into `fields` (and the properties' text into `properties`).
error_code read_field(Field field, od::value& value, bool umami, Fields& fields,
                      std::string& properties) {
    od::json_type type;
    SIMDJSON_TRY(value.type().get(type));
    if (type == od::json_type::null) {
        bool is_null = false;
        return value.is_null().get(is_null);
    }
    if (field == Field::hash_mode) {
        // 1 or true; any other type is ignored, as Plausible does.
        if (type == od::json_type::boolean)
            return value.get_bool().get(fields.hash_mode);
        if (type != od::json_type::number)
            return walk(value, nullptr, 1);
        double number = 0;
        SIMDJSON_TRY(value.get_double().get(number));
        fields.hash_mode = number != 0;
        return simdjson::SUCCESS;
    }
    if (field == Field::props) {
        fields.props_present = true;
        if (type == od::json_type::object)
            return read_properties_object(value, properties, fields.property_keys);
        if (type == od::json_type::string && !umami) {
            std::string_view text;
            SIMDJSON_TRY(value.get_string().get(text));
            if (read_props_text(text, properties, fields.property_keys) != simdjson::SUCCESS)
                fields.wrong_type = long_name(field, umami);
            return simdjson::SUCCESS;
        }
    } else if (type == od::json_type::string) {
        std::string_view text;
        SIMDJSON_TRY(value.get_string().get(text));
        (field == Field::name   ? fields.name
         : field == Field::url  ? fields.url
         : field == Field::site ? fields.site
                                : fields.referrer) = text;
        return simdjson::SUCCESS;
    }
    if (!fields.wrong_type)
        fields.wrong_type = long_name(field, umami);
    return walk(value, nullptr, 1);
}

error_code read_object_fields(od::object& object, bool umami, Fields& fields,
                              std::string& properties) {
    for (auto result : object) {
        od::field member;
        SIMDJSON_TRY(std::move(result).get(member));
        std::string_view key;
        SIMDJSON_TRY(member.unescaped_key().get(key));
        const Field field = umami ? umami_field(key) : plausible_field(key);
        if (field == Field::other) {
            SIMDJSON_TRY(walk(member.value(), nullptr, 1));
            continue;
        }
        SIMDJSON_TRY(read_field(field, member.value(), umami, fields, properties));
    }
    return simdjson::SUCCESS;
}

/// The domains of Plausible's "d" ("a.com,www.b.com"), each without a leading "www.".
std::optional<Rejection> read_sites(std::string_view list, bool split,
                                    std::vector<std::string>& out, const char* field) {
    out.clear();
    while (true) {
        const std::size_t comma = split ? list.find(',') : std::string_view::npos;
        std::string_view site = list.substr(0, comma);
        while (!site.empty() && site.front() == ' ')
            site.remove_prefix(1);
        while (!site.empty() && site.back() == ' ')
            site.remove_suffix(1);
        if (split && site.starts_with("www."))
            site.remove_prefix(4);
        if (!valid_site(site))
            return invalid(field,
                           std::string(field) + " must name sites of 1..64 of A-Z a-z 0-9 . _ -");
        if (out.size() == kMaxCompatSites)
            return invalid(field, std::string(field) + " names at most 10 sites");
        out.emplace_back(site);
        if (comma == std::string_view::npos)
            return std::nullopt;
        list.remove_prefix(comma + 1);
    }
}

/// The page of a URL: its page key, and with Plausible's hash mode the #fragment after it.
std::string page_of(std::string_view url, bool hash_mode) {
    std::string page(page_key_view(url));
    if (const std::size_t hash = url.find('#'); hash_mode && hash != std::string_view::npos)
        page.append(url.substr(hash));
    return page;
}

/// The checks both bodies share, and the hit they describe.
std::optional<Rejection> build_hit(const Fields& fields, const std::string& properties, bool umami,
                                   CompatHit& out) {
    if (fields.wrong_type) {
        return invalid(fields.wrong_type,
                       std::string(fields.wrong_type) +
                           (std::string_view(fields.wrong_type) == (umami ? "data" : "props")
                                ? " must be a JSON object"
                                : " must be a string"));
    }
    if (!umami && !fields.name)
        return missing_field("name");
    if (!fields.url && !(umami && fields.name))
        return missing_field("url");
    if (!fields.site)
        return missing_field(umami ? "website" : "domain");
    if (fields.url && fields.url->size() > kMaxPageUrl)
        return invalid("url", "url must be at most 2048 bytes");
    if (fields.property_keys > kMaxPropertyKeys || properties.size() > kMaxPropertiesBytes) {
        return Rejection{"too_large", umami ? "data" : "props",
                         "props must have at most 64 keys and 8192 bytes as compact JSON"};
    }
    if (auto bad = read_sites(*fields.site, !umami, out.sites, umami ? "website" : "domain"))
        return bad;
    const std::string_view name = fields.name.value_or("");
    out.kind = !fields.name || name == "pageview" ? CompatHit::Kind::pageview
               : !umami && name == "engagement"   ? CompatHit::Kind::engagement
                                                  : CompatHit::Kind::custom;
    if (out.kind == CompatHit::Kind::custom && compat_event_name(name).empty())
        return invalid("name", "name must not be empty");
    out.name = out.kind == CompatHit::Kind::custom ? compat_event_name(name) : std::string();
    out.page = page_of(fields.url.value_or("/"), fields.hash_mode);
    out.referrer = referrer_host(fields.referrer.value_or(""));
    out.properties = fields.props_present && properties.size() > 2 ? properties : std::string();
    return std::nullopt;
}

/// The body as one JSON object, its fields read by read_object_fields (Umami's from its
/// "payload"); nothing else in it.
std::optional<Rejection> parse_compat(std::string_view body, bool umami, CompatHit& out,
                                      ParseBuffers& buffers) {
    ParseBuffers::Impl& impl = buffers.impl();
    const Padded text = impl.pad(strip_bom(body));
    Fields fields;
    std::string properties;
    std::optional<std::string_view> type;  // Umami's "type"
    bool has_payload = false;
    const auto read = [&]() -> error_code {
        od::document document;
        SIMDJSON_TRY(impl.parser.iterate(text.data, text.size, text.capacity).get(document));
        od::object object;
        SIMDJSON_TRY(document.get_object().get(object));
        if (!umami) {
            SIMDJSON_TRY(read_object_fields(object, false, fields, properties));
        } else {
            for (auto result : object) {
                od::field member;
                SIMDJSON_TRY(std::move(result).get(member));
                std::string_view key;
                SIMDJSON_TRY(member.unescaped_key().get(key));
                od::object payload;
                if (key == "payload" && !member.value().get_object().get(payload)) {
                    has_payload = true;
                    SIMDJSON_TRY(read_object_fields(payload, true, fields, properties));
                    continue;
                }
                std::string_view type_text;
                if (key == "type" && !member.value().get_string().get(type_text)) {
                    type = type_text;
                    continue;
                }
                SIMDJSON_TRY(walk(member.value(), nullptr, 1));
            }
        }
        const char* trailing = nullptr;
        return document.current_location().get(trailing) ? simdjson::SUCCESS : simdjson::TAPE_ERROR;
    };
    const error_code error = read();
    impl.release_if_big();
    if (error)
        return bad_json("the body must be one JSON object");
    if (umami && (!type || (*type != "event" && *type != "identify")))
        return invalid("type", "type must be \"event\" or \"identify\"");
    if (umami && !has_payload)
        return missing_field("payload");
    if (umami && *type == "identify") {
        out.kind = CompatHit::Kind::ignored;
        out.sites.clear();
        return std::nullopt;
    }
    return build_hit(fields, properties, umami, out);
}

}  // namespace

std::string compat_event_name(std::string_view name) {
    std::string out(name.substr(0, 64));
    for (char& c : out) {
        if (!(is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-'))
            c = '_';
    }
    return out;
}

std::optional<Rejection> parse_plausible(std::string_view body, CompatHit& out,
                                         ParseBuffers& buffers) {
    return parse_compat(body, false, out, buffers);
}

std::optional<Rejection> parse_umami(std::string_view body, CompatHit& out, ParseBuffers& buffers) {
    return parse_compat(body, true, out, buffers);
}

void compat_event(const CompatHit& hit, std::string_view site, const RequestContext& ctx,
                  std::string_view visitor_id, std::string_view session_id, Event& out) {
    out.kind = hit.kind == CompatHit::Kind::custom ? EventKind::custom : EventKind::pageview;
    out.device = guess_device(ctx.user_agent_header);
    out.timestamp_ms = ctx.now_ms;
    out.site.assign(site);
    // Like the tracking API's: a custom event carries no page or referrer.
    out.page.assign(out.kind == EventKind::pageview ? hit.page : std::string());
    out.referrer.assign(out.kind == EventKind::pageview ? hit.referrer : std::string());
    out.country.clear();
    out.event_name.assign(hit.name);
    out.session_id.assign(session_id);
    out.user_id.clear();
    out.visitor_id.assign(visitor_id);
    out.properties.assign(hit.properties);
}

}  // namespace tally::ingest
