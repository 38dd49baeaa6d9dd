#pragma once
// POST /track/pageview, /track/event and /track/batch: the tracking API browsers and
// servers send to; and POST /api/event and /api/send, the same for sites tagged for
// Plausible or Umami. A request's path: parse and validate into a reused Event (ingest),
// then the write path (admit, log, apply, count), then the answer - at once, or after the
// group fsync that covers the record with durability.fsync=always (a failed fsync is a
// 503). Refusals are answered 400 (the body), 429 (a cap) or 503 (the log), each naming
// the field, counted, and kept in the rejects log. CORS: every answer, and OPTIONS
// preflights, carry the allowed origin.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tally/bots/crawler_list.hpp"
#include "tally/bots/user_agent_cache.hpp"
#include "tally/durability/rejects_log.hpp"
#include "tally/http/router.hpp"
#include "tally/ingest/compat.hpp"
#include "tally/ingest/compat_sessions.hpp"
#include "tally/ingest/parse.hpp"
#include "tally/ingest/visitor_hash.hpp"
#include "tally/telemetry/metrics.hpp"
#include "tally/write/write_path.hpp"

namespace tally::api {

struct TrackApiOptions {
    std::vector<std::string> trusted_proxies;           // peers whose X-Forwarded-For is believed
    std::vector<std::string> cors_origins;              // "*" or exact origins
    std::size_t workers = 1;                            // I/O threads (one scratch space each)
    std::map<std::string, std::string> umami_websites;  // Umami website id -> site
    /// The crawler list (null: no bot filtering). Requests whose User-Agent it matches are
    /// answered as usual and counted as dropped: always on /api/event and /api/send (their
    /// callers are browsers), on /track/* only with `filter_track_api` (its callers include
    /// servers and scripts, curl among them, which the list names).
    const bots::CrawlerList* crawlers = nullptr;
    bool filter_track_api = false;
};

class TrackApi {
  public:
    TrackApi(TrackApiOptions options, const ingest::VisitorHasher& hasher,
             ingest::InactivitySessions& sessions, write::WritePath& write_path,
             durability::RejectsLog& rejects, telemetry::Metrics& metrics);

    void add_routes(http::Router& router);

    // Asynchronous: with durability.fsync=always the answer comes after the group fsync.
    void pageview(const http::Request& request, http::Responder respond);
    void event(const http::Request& request, http::Responder respond);
    void batch(const http::Request& request, http::Responder respond);
    // The incumbents' trackers (track_compat.cpp): Plausible's POST /api/event, Umami's
    // POST /api/send.
    void plausible(const http::Request& request, http::Responder respond);
    void umami(const http::Request& request, http::Responder respond);

    /// The client's address: the socket peer, or the last X-Forwarded-For hop that is not a
    /// trusted proxy when the peer is one.
    std::string client_ip(const http::Request& request) const;

  private:
    using Parser = std::optional<Rejection> (*)(std::string_view, const ingest::RequestContext&,
                                                const ingest::VisitorHasher&, Event&,
                                                ingest::ParseBuffers&);
    // Per I/O worker: what parsing reuses from one request to the next (the parser's
    // buffers, the Events' string capacity, the batch vectors), so the hot path allocates
    // little. Only that worker's thread touches its Scratch.
    struct Scratch {
        ingest::ParseBuffers buffers;
        Event event;
        ingest::BatchResult batch;
        std::vector<std::size_t> item_index;
        bots::UserAgentCache user_agents;
        ingest::CompatHit hit;
        std::vector<Event> compat_events;  // one per site the hit names
        std::string session;
    };
    enum class Tracker : std::uint8_t { plausible, umami };

    /// Whether the request's User-Agent is a crawler's (the caller counts the drop).
    bool from_bot(const http::Request& request, Scratch& scratch);
    void single(const http::Request& request, http::Responder respond, std::string_view route,
                Parser parse);
    /// Admits the parsed batch in place (the admitted events move to the front, in order)
    /// and returns how many were admitted; the refused join `parsed.rejected`.
    std::size_t admit_batch(std::size_t writer, Scratch& scratch);
    void compat(const http::Request& request, http::Responder respond, Tracker tracker);
    /// The Events of scratch.hit, one per site, with their visitors and sessions.
    void compat_events(const http::Request& request, const ingest::RequestContext& context,
                       Scratch& scratch);
    /// What the tracker expects back: Plausible's 202 "ok", Umami's ids.
    http::Response compat_answer(Tracker tracker, const Scratch& scratch, bool counted) const;
    std::string batch_answer(const http::Request& request, std::size_t admitted,
                             std::vector<BatchItemRejection>& rejected, std::int64_t now);
    /// Answers `response` at once (with CORS) for input that is not counted: `events`
    /// counted as dropped for `reason` (a crawler, an engagement report, ...).
    void answer_dropped(const http::Request& request, http::Responder& respond,
                        std::string_view reason, std::uint64_t events, http::Response&& response);
    /// Gives `response` (a 200) once the request's events are in the log per the mode.
    void answer_when_logged(const http::Request& request, http::Responder respond,
                            http::Response&& response);
    /// The commit thread's answer: `response` when the fsync succeeded, else a 503.
    void answer_synced(http::Responder respond, http::Response&& response, bool durable);
    http::Response reject(const http::Request& request, std::string_view route, unsigned status,
                          const Rejection& rejection);
    http::Response preflight(const http::Request& request) const;
    void add_cors(const http::Request& request, http::Response& response) const;

    TrackApiOptions options_;
    const ingest::VisitorHasher& hasher_;
    ingest::InactivitySessions& sessions_;
    write::WritePath& write_path_;
    durability::RejectsLog& rejects_;
    telemetry::Metrics& metrics_;
    std::vector<Scratch> scratch_;
};

}  // namespace tally::api
