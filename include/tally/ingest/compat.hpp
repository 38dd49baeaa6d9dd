#pragma once
// The bodies the incumbents' trackers send, read as Tally reads its own: Plausible's Events
// API (POST /api/event) and Umami's (POST /api/send). A body becomes a CompatHit (what it
// says, checked and normalised), then one Event per site it names (compat_event), once the
// caller knows the visitor and the session: these trackers send neither a session id nor a
// user id.
//
// Plausible: JSON (sent as text/plain by the trackers, to avoid a CORS pre-flight) with
// short or long keys: n/name (required; "pageview" is a page view, "engagement" is the
// tracker's scroll-depth and time report, any other name a custom event), u/url (required),
// d/domain (required: a site, or a comma list, each counted; a leading "www." is dropped),
// r/referrer, p/props (an object, or the older tracker's JSON string of one), m/meta (the
// oldest tracker's props), and $/revenue, i/interactive, h/hashMode, v, sd, e, w, which are
// read (h keeps the URL's #fragment in the page, as Plausible's hash-based routing does)
// and otherwise ignored, as are unknown keys.
//
// Umami: {"type":"event","payload":{"website","url","referrer","name","data","hostname",
// "language","screen","title",...}}; a payload without "name" is a page view, "data" its
// properties; "type":"identify" is read and ignored (it sets session data Tally does not
// keep).
//
// Event names: Plausible's and Umami's may hold any text ("Outbound Link: Click"); a Tally
// name is [A-Za-z0-9_.:-]{1,64}, so every other byte becomes '_' and the name is cut at 64
// bytes ("Outbound_Link:_Click"). The mapping is fixed, so the same name always lands on
// the same Tally name.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tally/base/event.hpp"
#include "tally/base/rejection.hpp"
#include "tally/ingest/parse.hpp"

namespace tally::ingest {

inline constexpr std::size_t kMaxCompatSites = 10;

struct CompatHit {
    enum class Kind : std::uint8_t {
        pageview,
        custom,
        engagement,  // Plausible's engagement report: answered, not counted
        ignored      // Umami's identify: answered, not counted
    };
    Kind kind = Kind::pageview;
    std::string name;                // custom: the Tally event name
    std::string page;                // the page key of the URL
    std::string referrer;            // lower-case host, or "direct"
    std::vector<std::string> sites;  // Plausible: the domains; Umami: the website id
    std::string properties;          // compact JSON object, or ""
};

/// A Plausible body into `out`; a Rejection names the field (Plausible's long name).
std::optional<Rejection> parse_plausible(std::string_view body, CompatHit& out,
                                         ParseBuffers& buffers);
/// An Umami body into `out`. The site is payload.website as sent; the caller may map it.
std::optional<Rejection> parse_umami(std::string_view body, CompatHit& out, ParseBuffers& buffers);

/// Any event name as a Tally event name (see above); "" stays "".
std::string compat_event_name(std::string_view name);

/// The Event `hit` makes in `site` (one of hit.sites) for the visitor and session the
/// caller resolved, at `ctx.now_ms`.
void compat_event(const CompatHit& hit, std::string_view site, const RequestContext& ctx,
                  std::string_view visitor_id, std::string_view session_id, Event& out);

}  // namespace tally::ingest
