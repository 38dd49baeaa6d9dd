// POST /api/event (Plausible) and POST /api/send (Umami): the tracking API's path for the
// incumbents' trackers. The body is read by ingest::parse_plausible / parse_umami; each
// site it names gets one Event, whose visitor is the cookieless hash and whose session is
// the visitor's last 30 minutes (ingest::InactivitySessions); then the same write path and
// answer-after-log as /track/*. Engagement reports and identify calls are answered and
// counted as dropped, not as events.

#include <cstdio>

#include "tally/api/track_api.hpp"
#include "tally/base/time.hpp"

namespace tally::api {

namespace {

/// A UUID-shaped id from a hex string and a salt (Umami's clients expect UUIDs); each salt
/// gives an unrelated-looking id.
std::string uuid_of(std::string_view hex, std::uint64_t salt) {
    char buf[40];
    const std::uint64_t a = std::hash<std::string_view>{}(hex) ^ (salt * 0x9E3779B97F4A7C15ULL);
    const std::uint64_t b = (a ^ (a >> 29)) * 0xBF58476D1CE4E5B9ULL;
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-4%03llx-8%03llx-%012llx",
                  static_cast<unsigned long long>(a >> 32),
                  static_cast<unsigned long long>((a >> 16) & 0xFFFF),
                  static_cast<unsigned long long>(a & 0xFFF),
                  static_cast<unsigned long long>((b >> 48) & 0xFFF),
                  static_cast<unsigned long long>(b & 0xFFFFFFFFFFFFULL));
    return buf;
}

}  // namespace

void TrackApi::plausible(const http::Request& request, http::Responder respond) {
    compat(request, respond, Tracker::plausible);
}

void TrackApi::umami(const http::Request& request, http::Responder respond) {
    compat(request, respond, Tracker::umami);
}

void TrackApi::compat_events(const http::Request& request, const ingest::RequestContext& context,
                             Scratch& scratch) {
    const ingest::CompatHit& hit = scratch.hit;
    std::vector<Event>& events = scratch.compat_events;
    events.resize(hit.sites.size());
    for (std::size_t i = 0; i < hit.sites.size(); ++i) {
        const std::string visitor = hasher_.visitor_id(day_of(context.now_ms), hit.sites[i],
                                                       context.client_ip, request.user_agent);
        sessions_.session_for(visitor, context.now_ms, scratch.session);
        ingest::compat_event(hit, hit.sites[i], context, visitor, scratch.session, events[i]);
    }
}

http::Response TrackApi::compat_answer(Tracker tracker, const Scratch& scratch,
                                       bool counted) const {
    http::Response response;
    if (tracker == Tracker::plausible) {
        response.status = 202;
        response.content_type = "text/plain; charset=utf-8";
        response.body = "ok";
        if (!counted)
            response.headers.emplace_back("X-Plausible-Dropped", "1");
        return response;
    }
    if (!counted || scratch.compat_events.empty()) {
        response.body = R"({"beep":"boop"})";  // what Umami answers what it does not count
        return response;
    }
    const Event& event = scratch.compat_events.front();
    const std::string session = uuid_of(event.session_id, 1);
    response.body = R"({"cache":")" + event.session_id + R"(","sessionId":")" + session +
                    R"(","visitId":")" + uuid_of(event.session_id, 2) + R"("})";
    response.content_type = "application/json";
    return response;
}

void TrackApi::compat(const http::Request& request, http::Responder respond, Tracker tracker) {
    if (request.method == http::Method::options)
        return respond(preflight(request));
    const std::string_view route = tracker == Tracker::plausible ? "/api/event" : "/api/send";
    const std::int64_t now = now_ms();
    const std::string ip = client_ip(request);
    const ingest::RequestContext context{ip, request.user_agent, now};
    Scratch& scratch = scratch_[request.worker % scratch_.size()];
    ingest::CompatHit& hit = scratch.hit;
    scratch.compat_events.clear();
    const auto parsed = tracker == Tracker::plausible
                            ? ingest::parse_plausible(request.body, hit, scratch.buffers)
                            : ingest::parse_umami(request.body, hit, scratch.buffers);
    if (parsed)
        return respond(reject(request, route, 400, *parsed));
    if (from_bot(request, scratch)) {
        return answer_dropped(request, respond, "bot", 1, compat_answer(tracker, scratch, false));
    }
    const char* dropped = hit.kind == ingest::CompatHit::Kind::engagement ? "engagement"
                          : hit.kind == ingest::CompatHit::Kind::ignored  ? "identify"
                                                                          : nullptr;
    if (dropped) {
        return answer_dropped(request, respond, dropped, 1, compat_answer(tracker, scratch, true));
    }
    if (tracker == Tracker::umami) {
        if (auto it = options_.umami_websites.find(hit.sites.front());
            it != options_.umami_websites.end()) {
            hit.sites.front() = it->second;
        }
    }
    compat_events(request, context, scratch);
    for (const Event& event : scratch.compat_events) {
        if (auto refused = write_path_.admit(request.worker, event))
            return respond(reject(request, route, 429, *refused));
    }
    if (!write_path_.write(request.worker, scratch.compat_events.data(),
                           scratch.compat_events.size(), now)) {
        return respond(reject(request, route, 503, write::WritePath::log_unavailable()));
    }
    answer_when_logged(request, respond, compat_answer(tracker, scratch, true));
}

}  // namespace tally::api
