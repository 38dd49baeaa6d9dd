// The validation rules of the tracking API: a RawItem (what the JSON layer read) becomes a
// page view or custom Event, or the Rejection of its first broken rule. Each field's rule
// is written once, here, and never sees JSON.

#include "tally/base/names.hpp"
#include "tally/ingest/visitor_hash.hpp"

#include "parse_internal.hpp"

namespace tally::ingest::detail {

namespace {

// ---------------------------------------------------------------------------------------
// Rejections

constexpr const char* kKeyNames[] = {
    "type",        "page_url", "session_id", "user_id", "referrer",   "user_agent",
    "device_type", "country",  "timestamp",  "site",    "event_name", "properties",
};
static_assert(std::size(kKeyNames) == kKeyCount, "one name per Key");

const char* name_of(Key key) {
    return kKeyNames[static_cast<std::size_t>(key)];
}

Rejection reject(const char* reason, Key key, std::string message) {
    return Rejection{reason, name_of(key), std::move(message)};
}
Rejection missing(Key key) {
    return reject("missing_field", key, std::string(name_of(key)) + " is required");
}
Rejection not_a_string(Key key) {
    return reject("invalid_field", key, std::string(name_of(key)) + " must be a string");
}
Rejection bad_length(Key key, std::size_t max) {
    return reject("invalid_field", key,
                  std::string(name_of(key)) + " must be 1.." + std::to_string(max) + " bytes");
}

// ---------------------------------------------------------------------------------------
// Field rules. Each returns the Rejection when its rule fails, nothing when it holds.

// A required string of 1..max bytes.
Check required_string(const RawItem& raw, Key key, std::size_t max, std::string_view& value) {
    const RawField& field = raw[key];
    if (field.kind == Kind::absent) {
        return missing(key);
    }
    if (field.kind != Kind::string) {
        return not_a_string(key);
    }
    if (field.text.empty() || field.text.size() > max) {
        return bad_length(key, max);
    }
    value = field.text;
    return std::nullopt;
}

// An optional string: absent (or null) leaves `value` without a value.
Check optional_string(const RawItem& raw, Key key, std::optional<std::string_view>& value) {
    const RawField& field = raw[key];
    if (field.kind == Kind::absent) {
        value.reset();
        return std::nullopt;
    }
    if (field.kind != Kind::string) {
        return not_a_string(key);
    }
    value = field.text;
    return std::nullopt;
}

// What page views and custom events share: who, when, where.
struct Identity {
    std::string_view session_id;
    std::string_view user_id;  // empty when absent
    std::string_view site;
    std::int64_t timestamp_ms = 0;
};

Check read_identity(const RawItem& raw, std::int64_t now_ms, Identity& id) {
    if (auto error = required_string(raw, Key::session_id, kMaxSessionId, id.session_id)) {
        return error;
    }

    // user_id: an empty string means "no user", like null, since trackers often send "".
    std::optional<std::string_view> user_id;
    if (auto error = optional_string(raw, Key::user_id, user_id)) {
        return error;
    }
    if (user_id && user_id->size() > kMaxUserId) {
        return reject("invalid_field", Key::user_id, "user_id must be at most 128 bytes");
    }
    id.user_id = user_id.value_or(std::string_view());

    std::optional<std::string_view> timestamp;
    if (auto error = optional_string(raw, Key::timestamp, timestamp)) {
        return error;
    }
    id.timestamp_ms = now_ms;
    if (timestamp) {
        const std::optional<std::int64_t> ms = parse_rfc3339_ms(*timestamp);
        if (!ms) {
            return reject("invalid_field", Key::timestamp,
                          "timestamp must be an RFC 3339 date-time such as 2024-01-15T10:30:00Z");
        }
        if (*ms < now_ms - kMaxPastMs || *ms > now_ms + kMaxFutureMs) {
            return reject("out_of_window", Key::timestamp,
                          "timestamp must lie within the last 48 hours and at most 5 minutes "
                          "ahead of the server clock");
        }
        id.timestamp_ms = *ms;
    }

    std::optional<std::string_view> site;
    if (auto error = optional_string(raw, Key::site, site)) {
        return error;
    }
    id.site = site.value_or(std::string_view("default"));
    if (!valid_site(id.site)) {
        return reject("invalid_field", Key::site, "site must be 1..64 of A-Z a-z 0-9 . _ -");
    }
    return std::nullopt;
}

void fill_identity(const Identity& id, std::string_view user_agent, const RequestContext& ctx,
                   const VisitorHasher& hasher, Event& out) {
    out.timestamp_ms = id.timestamp_ms;
    out.site.assign(id.site);
    out.session_id.assign(id.session_id);
    out.user_id.assign(id.user_id);
    if (id.user_id.empty()) {
        out.visitor_id =
            hasher.visitor_id(day_of(id.timestamp_ms), id.site, ctx.client_ip, user_agent);
    } else {
        out.visitor_id.assign(id.user_id);
    }
}

}  // namespace

Rejection bad_json(std::string message) {
    return Rejection{"bad_json", "", std::move(message)};
}

Check build_pageview(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                     Event& out) {
    std::string_view page_url;
    if (auto error = required_string(raw, Key::page_url, kMaxPageUrl, page_url)) {
        return error;
    }
    Identity id;
    if (auto error = read_identity(raw, ctx.now_ms, id)) {
        return error;
    }

    std::optional<std::string_view> referrer;
    if (auto error = optional_string(raw, Key::referrer, referrer)) {
        return error;
    }

    // An empty user_agent says nothing, so it falls back to the header like an absent one.
    std::optional<std::string_view> body_user_agent;
    if (auto error = optional_string(raw, Key::user_agent, body_user_agent)) {
        return error;
    }
    const std::string_view user_agent =
        body_user_agent && !body_user_agent->empty() ? *body_user_agent : ctx.user_agent_header;

    std::optional<std::string_view> device_type;
    if (auto error = optional_string(raw, Key::device_type, device_type)) {
        return error;
    }
    Device device = Device::desktop;
    if (!device_type) {
        device = guess_device(user_agent);
    } else if (*device_type == "desktop") {
        device = Device::desktop;
    } else if (*device_type == "mobile") {
        device = Device::mobile;
    } else if (*device_type == "tablet") {
        device = Device::tablet;
    } else {
        return reject("invalid_field", Key::device_type,
                      "device_type must be desktop, mobile or tablet");
    }

    std::optional<std::string_view> country;
    if (auto error = optional_string(raw, Key::country, country)) {
        return error;
    }
    if (country && (country->size() != 2 || !is_alpha((*country)[0]) || !is_alpha((*country)[1]))) {
        return reject("invalid_field", Key::country, "country must be two letters (ISO 3166-1)");
    }

    out.kind = EventKind::pageview;
    out.device = device;
    out.page.assign(page_key_view(page_url));
    const std::string_view host = referrer_host_view(referrer.value_or(std::string_view()));
    if (host.empty()) {
        out.referrer.assign("direct");
    } else {
        out.referrer.resize(host.size());
        for (std::size_t i = 0; i < host.size(); ++i) {
            out.referrer[i] = to_lower(host[i]);
        }
    }
    out.country.clear();
    if (country) {
        out.country.push_back(to_upper((*country)[0]));
        out.country.push_back(to_upper((*country)[1]));
    }
    out.event_name.clear();
    out.properties.clear();
    fill_identity(id, user_agent, ctx, hasher, out);
    return std::nullopt;
}

Check build_custom_event(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                         Event& out) {
    const RawField& name = raw[Key::event_name];
    if (name.kind == Kind::absent) {
        return missing(Key::event_name);
    }
    if (name.kind != Kind::string) {
        return not_a_string(Key::event_name);
    }
    if (!valid_event_name(name.text)) {
        return reject("invalid_field", Key::event_name,
                      "event_name must be 1..64 of A-Z a-z 0-9 _ . : -");
    }
    Identity id;
    if (auto error = read_identity(raw, ctx.now_ms, id)) {
        return error;
    }

    const RawField& properties = raw[Key::properties];
    if (properties.kind != Kind::absent && properties.kind != Kind::object) {
        return reject("invalid_field", Key::properties, "properties must be a JSON object");
    }
    if (properties.kind == Kind::object) {
        if (raw.property_count > kMaxPropertyKeys) {
            return reject("too_large", Key::properties, "properties must have at most 64 keys");
        }
        if (raw.properties.size() > kMaxPropertiesBytes) {
            return reject("too_large", Key::properties,
                          "properties must be at most 8192 bytes as compact JSON");
        }
    }

    // Custom events carry no page, referrer or country (the tracking API takes none for
    // them); the device still comes from the User-Agent header so device counts cover
    // every event.
    out.kind = EventKind::custom;
    out.device = guess_device(ctx.user_agent_header);
    out.page.clear();
    out.referrer.clear();
    out.country.clear();
    out.event_name.assign(name.text);
    if (properties.kind == Kind::object) {
        out.properties.assign(raw.properties);
    } else {
        out.properties.clear();
    }
    fill_identity(id, ctx.user_agent_header, ctx, hasher, out);
    return std::nullopt;
}

Check build_batch_item(const RawItem& raw, const RequestContext& ctx, const VisitorHasher& hasher,
                       Event& out) {
    const RawField& type = raw[Key::type];
    if (type.kind == Kind::absent) {
        return missing(Key::type);
    }
    if (type.kind == Kind::string && type.text == "pageview") {
        return build_pageview(raw, ctx, hasher, out);
    }
    if (type.kind == Kind::string && type.text == "event") {
        return build_custom_event(raw, ctx, hasher, out);
    }
    return reject("invalid_field", Key::type, "type must be \"pageview\" or \"event\"");
}

}  // namespace tally::ingest::detail
